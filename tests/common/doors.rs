//! What the signing-tool tests (`tests/tools/`) need beyond the interop [`World`]: how each tool
//! finds the module (a p11-kit module file, a SunPKCS11 config, an OpenSSL provider config),
//! which module is under test (the built one, or the installed package's), and the version of
//! every tool that ran, printed for the README's table.
//!
//! `TSB_PKCS11_MODULE` names the module under test (CI sets it to the installed package's);
//! without it the tests use the `.so` cargo built. `TSB_TOOLS_REQUIRE_ALL=1` (set by
//! `scripts/test.sh` and CI) turns a tool that is allowed to be absent on other systems (the
//! OpenSSL pkcs11-provider) into a failure instead of a skip.

use super::interop::World;
use super::tools::{run, tool};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The p11-kit module file the package installs (and that the tests mirror when the package is
/// not installed).
pub const PACKAGED_MODULE_FILE: &str = "/usr/share/p11-kit/modules/tsb-pkcs11.module";

/// Whether the module under test is an installed one (`TSB_PKCS11_MODULE` is set).
pub fn installed() -> bool {
    std::env::var_os("TSB_PKCS11_MODULE").is_some()
}

/// Whether a missing optional tool must fail the test (`TSB_TOOLS_REQUIRE_ALL=1`).
pub fn require_all() -> bool {
    std::env::var("TSB_TOOLS_REQUIRE_ALL").ok().as_deref() == Some("1")
}

/// Print `tool version: NAME: <first line of its version output>` on the test's real stderr
/// (not captured by the test harness, so it lands in the CI log) and return the line.
pub fn report_version(name: &str, cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = all
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_else(|| panic!("{cmd:?} printed no version"))
        .to_string();
    let _ = writeln!(std::io::stderr(), "tool version: {name}: {line}");
    line
}

/// The version of a Debian package as dpkg records it (for tools without a version option).
pub fn package_version(package: &str) -> String {
    report_version(
        package,
        Command::new("dpkg-query").args(["-W", "-f=${Version}\\n", package]),
    )
}

/// How the GnuTLS and p11-kit tools of a test find the module.
pub struct P11Kit {
    /// HOME for the tools: holds `.config/pkcs11/modules/tsb-pkcs11.module` unless the packaged
    /// module file is used.
    home: PathBuf,
    /// Run the tools as `nobody` (p11-kit ignores per-user module files for root).
    as_nobody: bool,
    /// The module file the tools read.
    pub module_file: PathBuf,
}

impl World {
    /// Set up p11-kit for this world. With the installed package, the tools use its module file
    /// as it is. Otherwise a per-user module file made from `packaging/tsb-pkcs11.module` with an
    /// absolute `module:` path; since p11-kit 0.24 reads no per-user files for root, the tools
    /// then run as `nobody` with a world-readable copy of the module. (If the package is installed
    /// as well, p11-kit merges the two files of the same name: a setting missing from the
    /// repository's file would come from the package's.)
    pub fn p11kit(&self) -> P11Kit {
        let home = self.path("home");
        std::fs::create_dir_all(&home).unwrap();
        if installed() {
            assert!(
                Path::new(PACKAGED_MODULE_FILE).is_file(),
                "TSB_PKCS11_MODULE is set but the package's {PACKAGED_MODULE_FILE} is missing"
            );
            return P11Kit {
                home,
                as_nobody: false,
                module_file: PACKAGED_MODULE_FILE.into(),
            };
        }
        let as_nobody = unsafe { libc::geteuid() } == 0;
        let module = if as_nobody {
            // The built module may sit below a directory nobody cannot enter (/root).
            let copy = self.path("p11kit-libtsb_pkcs11.so");
            if std::fs::hard_link(&self.module, &copy).is_err() {
                std::fs::copy(&self.module, &copy).expect("copy the module for nobody");
            }
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
            copy
        } else {
            self.module.clone()
        };
        let packaged = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/tsb-pkcs11.module"),
        )
        .expect("packaging/tsb-pkcs11.module");
        let mut text = String::new();
        for line in packaged.lines() {
            if line.starts_with("module:") {
                text.push_str(&format!("module: {}\n", module.display()));
            } else {
                text.push_str(line);
                text.push('\n');
            }
        }
        let dir = home.join(".config/pkcs11/modules");
        std::fs::create_dir_all(&dir).unwrap();
        let module_file = dir.join("tsb-pkcs11.module");
        std::fs::write(&module_file, text).unwrap();
        P11Kit {
            home,
            as_nobody,
            module_file,
        }
    }
}

impl P11Kit {
    /// `program` (a path or a name in PATH) run with this p11-kit setup and the world's config.
    pub fn cmd(&self, w: &World, program: &Path) -> Command {
        let mut c = if self.as_nobody {
            let mut c = w.cmd(&tool("setpriv", "util-linux"));
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(program);
            c
        } else {
            w.cmd(program)
        };
        c.env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env_remove("P11_KIT_NO_USER_CONFIG");
        c
    }
}

impl World {
    /// A SunPKCS11 configuration for the module (slot 0); Java names keystore entries by
    /// CKA_LABEL and pairs keys with certificates by CKA_ID.
    pub fn sunpkcs11_config(&self) -> PathBuf {
        let cfg = self.path("sunpkcs11.cfg");
        std::fs::write(
            &cfg,
            format!(
                "name = TSB\nlibrary = {}\nslot = 0\n",
                self.module.display()
            ),
        )
        .unwrap();
        cfg
    }

    /// An openssl.cnf that activates the default provider and pkcs11-provider with this module.
    pub fn provider_conf(&self, provider: &Path) -> PathBuf {
        let conf = self.path("openssl-provider.cnf");
        std::fs::write(
            &conf,
            format!(
                "openssl_conf = openssl_init\n\
                 [openssl_init]\nproviders = provider_sect\n\
                 [provider_sect]\ndefault = default_sect\npkcs11 = pkcs11_sect\n\
                 [default_sect]\nactivate = 1\n\
                 [pkcs11_sect]\nmodule = {}\npkcs11-module-path = {}\nactivate = 1\n",
                provider.display(),
                self.module.display()
            ),
        )
        .unwrap();
        conf
    }

    /// The key's OpenSSH public key line (`type base64`), converted by `ssh-keygen` from the
    /// SubjectPublicKeyInfo the TSB reports, so it does not depend on the module.
    pub fn tsb_ssh_pubkey(&self, label: &str) -> String {
        let pem = self.emulator_pubkey_pem(label);
        let mut c = Command::new(tool("ssh-keygen", "openssh-client"));
        c.args(["-i", "-m", "PKCS8", "-f"]).arg(&pem);
        let line = run(&mut c);
        let mut f = line.split_whitespace();
        format!("{} {}", f.next().unwrap(), f.next().unwrap())
    }
}

/// pkcs11-provider's OpenSSL module (`ossl-modules/pkcs11.so`), if installed.
pub fn provider_path() -> Option<PathBuf> {
    let out = Command::new("dpkg")
        .args(["-L", "pkcs11-provider"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.ends_with("/ossl-modules/pkcs11.so") && Path::new(l).exists())
        .map(PathBuf::from)
}

/// Independent checks of what a tool made with a key of the module: the OpenSSL CLI and library,
/// with the public key the TSB reports for the key (never what the module printed).
impl World {
    /// The TSB's public key of `label`.
    pub fn tsb_pkey(&self, label: &str) -> openssl::pkey::PKey<openssl::pkey::Public> {
        let pem = std::fs::read(self.emulator_pubkey_pem(label)).unwrap();
        openssl::pkey::PKey::public_key_from_pem(&pem).unwrap()
    }

    /// The PEM certificate request at `path`: `openssl req -verify` accepts it, and it holds and is
    /// signed by the TSB's key of `label`.
    pub fn assert_csr_of(&self, path: &Path, label: &str) {
        let out = super::openssl(&["req", "-verify", "-noout", "-in", path.to_str().unwrap()]);
        assert!(out.contains("verify OK"), "{}: {out}", path.display());
        let csr = openssl::x509::X509Req::from_pem(&std::fs::read(path).unwrap()).unwrap();
        let tsb = self.tsb_pkey(label);
        assert!(
            csr.public_key().unwrap().public_eq(&tsb),
            "{}: not the TSB's key of {label}",
            path.display()
        );
        assert!(
            csr.verify(&tsb).unwrap(),
            "{}: not signed by the TSB's key of {label}",
            path.display()
        );
    }

    /// The PEM self-signed certificate at `path`: `openssl verify` accepts it as its own anchor,
    /// and it is signed by the TSB's key of `label`.
    pub fn assert_self_signed_by(&self, path: &Path, label: &str) {
        let p = path.to_str().unwrap();
        let out = super::openssl(&["verify", "-CAfile", p, p]);
        assert!(out.contains(": OK"), "{out}");
        let x509 = openssl::x509::X509::from_pem(&std::fs::read(path).unwrap()).unwrap();
        assert!(
            x509.verify(&self.tsb_pkey(label)).unwrap(),
            "{p}: not signed by the TSB's key of {label}"
        );
    }
}
