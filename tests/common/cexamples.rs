//! The C examples' harness: building `c-examples/` with the system compiler (never into the source
//! tree), and a fixture with an emulator, the module's config for it and an approver.

use super::tools::tool;
use super::{module_path, temp_dir, write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tsb_approve::{Approver, ApproverKey, KeyKind, TaskFilter};
use tsb_emulator::{Emulator, EmulatorConfig};

/// The build tools of the examples, or a failure naming the Debian package.
pub fn require_build_tools() {
    tool("cc", "gcc");
    tool("make", "make");
    tool("pkg-config", "pkg-config");
    let ok = Command::new("pkg-config")
        .args(["--exists", "p11-kit-1"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "pkcs11.h is needed (pkg-config p11-kit-1 not found): apt-get install libp11-kit-dev"
    );
    tool("openssl", "openssl");
}

pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("c-examples")
}

/// Run `make TARGET` in `c-examples/` with its output in `out` (never in the source tree) and the
/// repository's `include/`; fails the test unless make succeeds. Returns make's stdout.
pub fn make(out: &Path, target: &str) -> String {
    require_build_tools();
    let o = Command::new("make")
        .arg("-C")
        .arg(source_dir())
        .arg(format!("O={}", out.display()))
        .arg(format!(
            "TSB_INCLUDE={}",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("include")
                .display()
        ))
        .arg(target)
        .output()
        .expect("run make");
    assert!(
        o.status.success(),
        "make {target} in c-examples failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `make` the examples into `out`; returns `out`.
pub fn build_examples(out: &Path) -> PathBuf {
    let log = make(out, "all");
    assert!(
        log.contains("-Wall -Wextra -Werror"),
        "the examples must be built with -Wall -Wextra -Werror:\n{log}"
    );
    out.to_path_buf()
}

/// An emulator, the module's config file for it, the built examples and an approver.
pub struct Fixture {
    pub emu: Emulator,
    pub dir: PathBuf,
    pub bin: PathBuf,
    pub config: PathBuf,
    pub approver: Approver,
}

impl Fixture {
    pub fn new(tag: &str) -> Fixture {
        let dir = temp_dir(tag);
        let bin = build_examples(&dir.join("build"));
        let emu = Emulator::start(EmulatorConfig::default()).expect("start emulator");
        let config = write(
            &dir,
            "config.json",
            serde_json::to_string_pretty(&serde_json::json!({"slots": [{
                "label": "c-examples",
                "url": emu.base_url(),
                "allow_http": true,
                "progress": true,
                "poll_interval_ms": 50,
                "poll_max_interval_ms": 200,
                "approval_timeout_s": 60,
            }]}))
            .unwrap()
            .as_bytes(),
        );
        let approver = Approver::new(&emu.base_url(), ApproverKey::generate(KeyKind::EcP256))
            .timeout(Duration::from_secs(10));
        Fixture {
            emu,
            dir,
            bin,
            config,
            approver,
        }
    }

    /// An example program, with the module and its config in the child's environment only.
    pub fn example(&self, name: &str, args: &[&str]) -> Command {
        let mut c = Command::new(self.bin.join(name));
        self.env(&mut c);
        c.args(args);
        c
    }

    pub fn env(&self, c: &mut Command) {
        c.current_dir(&self.dir)
            .env("TSB_PKCS11_MODULE", module_path())
            .env("TSB_PKCS11_CONFIG", &self.config)
            .env_remove("TSB_PKCS11_URL")
            .env_remove("TSB_PKCS11_LOG");
    }

    /// The seed's policy (ruleUse, ruleBlock, ruleUnblock, ruleModify; one token, one group,
    /// quorum 1, timeout 600 s) naming this fixture's approver, written to a file.
    pub fn seed_policy_file(&self) -> PathBuf {
        let rule = serde_json::json!({"tokens": [{
            "name": "Token1", "timelock": 0, "timeout": 600,
            "groups": [{"name": "Group1", "quorum": 1, "approvals": [{
                "type": "public_key", "name": "ApproverKey1",
                "value": self.approver.key().public_key_b64(),
            }]}],
        }]});
        let policy = serde_json::json!({
            "ruleUse": rule, "ruleBlock": rule, "ruleUnblock": rule, "ruleModify": rule,
            "keyStatus": {"blocked": false},
        });
        write(
            &self.dir,
            "policy.json",
            serde_json::to_string_pretty(&policy).unwrap().as_bytes(),
        )
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    pub fn count(&self, method: &str, path: &str) -> u64 {
        self.emu.request_count(method, path)
    }
}

/// Approve the first task passing `filter`, one second after it appeared (so the example is seen
/// waiting: it reports the request id while it waits).
pub fn approve_later(approver: &Approver, filter: TaskFilter) -> std::thread::JoinHandle<()> {
    let approver = approver.clone();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            let tasks = approver.pending(&filter).expect("list tasks");
            if let Some(t) = tasks.first() {
                std::thread::sleep(Duration::from_secs(1));
                approver.approve(&t.task).expect("approve");
                return;
            }
            assert!(Instant::now() < end, "no task to approve appeared");
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}
