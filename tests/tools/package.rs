//! What the Debian package ships besides the module: the example configuration must be one the
//! module accepts, and the p11-kit module file must say what README's "Install" promises. (That
//! the installed files are the repository's is checked by `.ci/run` after installing.)

use crate::common;
use common::doors::{installed, PACKAGED_MODULE_FILE};
use common::interop::World;
use common::tools::{run, tool};
use std::path::{Path, PathBuf};

const INSTALLED_EXAMPLE: &str = "/usr/share/doc/tsb-pkcs11/examples/config.json";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn example_config_is_accepted_by_the_module() {
    let example = if installed() {
        PathBuf::from(INSTALLED_EXAMPLE)
    } else {
        repo("packaging/config.example.json")
    };
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&example).unwrap()).unwrap();
    let w = World::new("example-config", false);
    // Two fields point at things this machine does not have: the token file (a dummy JWT here)
    // and the CloudHSM URL, replaced by a loopback port that listens but must see no connection:
    // listing slots and tokens sends nothing.
    let slot = &mut cfg["slots"][0];
    assert!(slot["token"]["file"].is_string(), "{cfg}");
    let jwt = common::write(&w.dir, "jwt", b"eyJhbGciOiJub25lIn0.e30.\n");
    slot["token"]["file"] = jwt.to_str().unwrap().into();
    assert!(
        slot["url"].as_str().unwrap().starts_with("https://"),
        "{cfg}"
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    slot["url"] = format!("https://{}", listener.local_addr().unwrap()).into();
    let config = common::write(&w.dir, "example.json", cfg.to_string().as_bytes());

    let mut c = w.cmd(&tool("pkcs11-tool", "opensc"));
    c.env("TSB_PKCS11_CONFIG", &config)
        .arg("--module")
        .arg(&w.module)
        .arg("-L");
    let out = run(&mut c);
    assert!(out.contains("token label        : cloudhsm"), "{out}");
    assert_eq!(
        listener.accept().err().map(|e| e.kind()),
        Some(std::io::ErrorKind::WouldBlock),
        "pkcs11-tool -L made the module connect to the TSB"
    );
}

#[test]
fn p11kit_module_file_is_not_critical_and_enabled_in_gnutls_tools_only() {
    // The decision README's "Install" explains; tests/tools/gnutls.rs checks its effect.
    let file = if installed() {
        PathBuf::from(PACKAGED_MODULE_FILE)
    } else {
        repo("packaging/tsb-pkcs11.module")
    };
    let text = std::fs::read_to_string(&file).unwrap();
    let settings: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(
        settings,
        [
            "module: libtsb_pkcs11.so",
            "critical: no",
            "enable-in: p11-kit, p11tool, certtool"
        ],
        "{}",
        file.display()
    );
}
