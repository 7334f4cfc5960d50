//! Shared harness of the module's integration tests: the built `.so` loaded through the `cryptoki`
//! crate against an in-process `tsb-emulator` on a free loopback port.
//!
//! PKCS#11 state is per process (the configuration is read at C_Initialize), so every test runs in
//! a child process of its own: the `isolated!` macro re-runs the test binary for just that test
//! with a marker in the environment, and the parent asserts that the child passed.

#![allow(dead_code)]

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use std::path::{Path, PathBuf};
use std::process::Command;
use tsb_approve::{Approver, ApproverKey, KeyKind};
use tsb_emulator::{Emulator, EmulatorConfig};

/// The module as built by cargo for this test run.
pub fn module_path() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps dir");
    for cand in [
        deps.join("libtsb_pkcs11.so"),
        deps.parent().expect("target dir").join("libtsb_pkcs11.so"),
    ] {
        if cand.exists() {
            return cand;
        }
    }
    panic!("libtsb_pkcs11.so not found next to {}", exe.display());
}

const CHILD_VAR: &str = "TSB_PKCS11_TEST_CHILD";

/// Run `body` in a child process (see the module docs). In the child, runs it directly.
pub fn run_isolated(name: &str, body: fn()) {
    if std::env::var(CHILD_VAR).ok().as_deref() == Some(name) {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, name)
        .env_remove("TSB_PKCS11_CONFIG")
        .env_remove("TSB_PKCS11_URL")
        .output()
        .expect("spawn child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "isolated test {name} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}

/// `isolated!(fn name() { ... })`: a #[test] that runs in its own process.
#[macro_export]
macro_rules! isolated {
    ($(#[$m:meta])* fn $name:ident() $body:block) => {
        $(#[$m])*
        #[test]
        fn $name() {
            fn body() $body
            common::run_isolated(stringify!($name), body);
        }
    };
}

/// A running emulator and the module configured for it (inside an isolated child).
pub struct Env {
    pub emu: Emulator,
    pub pkcs11: Pkcs11,
    pub slot: Slot,
    pub dir: PathBuf,
    pub approver: Approver,
}

/// How to configure the module.
#[derive(Default)]
pub struct Opts {
    /// Extra JSON fields for the slot (merged into the config file).
    pub slot_json: Option<serde_json::Value>,
    /// Extra environment variables set before C_Initialize.
    pub env: Vec<(String, String)>,
    /// Use the environment-only configuration instead of a file.
    pub env_only: bool,
    /// Emulator config tweaks.
    pub emulator: Option<EmulatorConfig>,
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tsb-pkcs11-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

impl Env {
    pub fn new(opts: Opts) -> Env {
        let mut cfg = opts.emulator.unwrap_or_default();
        cfg.test_controls = true;
        let emu = Emulator::start(cfg).expect("start emulator");
        let dir = temp_dir("env");
        // Only this test's thread and the emulator's threads exist in this child process, and the
        // emulator never reads the environment, so setting variables here races with nothing.
        if opts.env_only {
            std::env::set_var("TSB_PKCS11_URL", emu.base_url());
            std::env::set_var("TSB_PKCS11_ALLOW_HTTP", "1");
        } else {
            let mut slot = serde_json::json!({
                "label": "test-tsb",
                "url": emu.base_url(),
                "allow_http": true,
                "progress": false,
                "poll_interval_ms": 20,
                "poll_max_interval_ms": 100,
            });
            if let Some(serde_json::Value::Object(extra)) = opts.slot_json {
                for (k, v) in extra {
                    slot[k] = v;
                }
            }
            let path = dir.join("config.json");
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&serde_json::json!({"slots": [slot]})).unwrap(),
            )
            .unwrap();
            std::env::set_var("TSB_PKCS11_CONFIG", &path);
        }
        for (k, v) in &opts.env {
            std::env::set_var(k, v);
        }
        let pkcs11 = Pkcs11::new(module_path()).expect("load module");
        pkcs11
            .initialize(CInitializeArgs::OsThreads)
            .expect("C_Initialize");
        let slot = pkcs11.get_slots_with_token().expect("slots")[0];
        let approver = Approver::new(&emu.base_url(), ApproverKey::generate(KeyKind::EcP256));
        Env {
            emu,
            pkcs11,
            slot,
            dir,
            approver,
        }
    }

    pub fn session(&self) -> Session {
        self.pkcs11
            .open_rw_session(self.slot)
            .expect("open session")
    }

    /// A policy with one token, one group, quorum 1 of this env's approver; timeout in seconds.
    pub fn policy(&self, timeout: u64) -> serde_json::Value {
        policy_for(&[self.approver.key().public_key_b64()], 1, timeout)
    }

    /// Approve every task of the next `n` requests as they appear (background thread).
    pub fn auto_approve(
        &self,
        n: usize,
    ) -> std::thread::JoinHandle<Result<tsb_approve::WatchOutcome, tsb_approve::ApproveError>> {
        self.approver.spawn_auto_approve(
            Default::default(),
            Some(n),
            Some(std::time::Duration::from_secs(60)),
        )
    }

    pub fn count(&self, method: &str, path: &str) -> u64 {
        self.emu.request_count(method, path)
    }
}

/// A policy: one token with one group of these approvers.
pub fn policy_for(approvers: &[String], quorum: u32, timeout: u64) -> serde_json::Value {
    let approvals: Vec<_> = approvers
        .iter()
        .enumerate()
        .map(|(i, v)| serde_json::json!({"type": "public_key", "name": format!("approver{i}"), "value": v}))
        .collect();
    serde_json::json!({
        "ruleUse": {"tokens": [{"name": "t", "timelock": 0, "timeout": timeout,
            "groups": [{"name": "g", "quorum": quorum, "approvals": approvals}]}]},
        "keyStatus": {"blocked": false}
    })
}

/// Write bytes to a file in `dir` and return its path.
pub fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// Run the openssl CLI; panics with its output on failure.
pub fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {:?} failed: {}{}",
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}
