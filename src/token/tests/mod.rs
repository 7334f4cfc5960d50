//! In-process tests of the PKCS#11 semantics: a [`Module`] built from a [`Config`] and driven
//! directly (no C ABI, no child process) against an in-process `tsb-emulator` on a free loopback
//! port. Each test has its own emulator and module, so they run side by side. The `.so` tests in
//! `tests/` keep what is about the ABI.

mod derive;
mod kept_outputs;
mod listing;
mod local_verify;
mod logins;
mod lost_answers;
mod mechanisms;
mod messages;
mod pqc;
mod private_import;
mod results;
mod secret_keys;
mod session_objects;
mod verify_reference;
mod waits;

#[path = "../../../tests/common/direct.rs"]
#[allow(dead_code)]
mod direct;

use super::template::{Attr, Template};
use super::{Module, OpKind, Output};
use crate::config::Config;
use crate::error::Result;
use crate::mechanism::MechParams;
use cryptoki_sys::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tsb_approve::{Approver, ApproverKey, KeyKind};
use tsb_emulator::{Emulator, EmulatorConfig, Fault, FaultAction};

/// An emulator, a module configured for it, and an approver.
pub(super) struct World {
    pub(crate) emu: Emulator,
    pub(crate) m: Module,
    pub(crate) approver: Approver,
    pub(crate) dir: PathBuf,
    slot: serde_json::Value,
}

/// A fresh directory for one test.
pub(super) fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "tsb-token-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

impl World {
    /// A world whose slot config is the defaults merged with `slot` (a JSON object).
    pub(crate) fn new(slot: serde_json::Value) -> World {
        World::with_emulator(EmulatorConfig::default(), slot)
    }

    /// [`World::new`] with an emulator configured by `cfg` (test controls always on).
    pub(crate) fn with_emulator(cfg: EmulatorConfig, slot: serde_json::Value) -> World {
        let emu = Emulator::start(EmulatorConfig {
            test_controls: true,
            ..cfg
        })
        .expect("start emulator");
        let dir = temp_dir("world");
        let mut config = serde_json::json!({
            "label": "in-process",
            "url": emu.base_url(),
            "allow_http": true,
            "progress": false,
            "poll_interval_ms": 20,
            "poll_max_interval_ms": 100,
        });
        if let serde_json::Value::Object(extra) = slot {
            for (k, v) in extra {
                config[k] = v;
            }
        }
        let m = module(&dir, &config, false);
        let approver = Approver::new(&emu.base_url(), ApproverKey::generate(KeyKind::EcP256));
        World {
            emu,
            m,
            approver,
            dir,
            slot: config,
        }
    }

    /// Another module with the same configuration: the same command run again (a new process
    /// would see the same journal file). `forget_unknown`: as TSB_PKCS11_FORGET_UNKNOWN=1.
    pub(crate) fn rerun(&self, forget_unknown: bool) -> Module {
        module(&self.dir, &self.slot, forget_unknown)
    }

    /// A read/write session.
    pub(crate) fn session(&self) -> CK_SESSION_HANDLE {
        open_session(&self.m)
    }

    /// A policy with one token, one group, quorum 1 of this world's approver.
    pub(crate) fn policy(&self, timeout: u64) -> serde_json::Value {
        direct::policy_for(&[self.approver.key().public_key_b64()], 1, timeout)
    }

    /// A key made on the emulator (see `direct::create_key`); its private-key handle in `s`.
    pub(crate) fn key(
        &self,
        s: CK_SESSION_HANDLE,
        label: &str,
        kind: &str,
        policy: Option<&serde_json::Value>,
    ) -> CK_OBJECT_HANDLE {
        direct::create_key(&self.emu, label, kind, policy);
        private_key(&self.m, s, label)
    }

    /// Approve the next `n` requests as they appear (background thread).
    pub(crate) fn auto_approve(
        &self,
        n: usize,
    ) -> std::thread::JoinHandle<
        std::result::Result<tsb_approve::WatchOutcome, tsb_approve::ApproveError>,
    > {
        self.approver
            .spawn_auto_approve(Default::default(), Some(n), Some(Duration::from_secs(60)))
    }

    pub(crate) fn count(&self, method: &str, path: &str) -> u64 {
        self.emu.request_count(method, path)
    }

    /// The number of status polls so far.
    pub(crate) fn polls(&self) -> u64 {
        self.emu
            .request_counts()
            .iter()
            .filter(|(k, _)| k.starts_with("GET /v1/request/"))
            .map(|(_, n)| n)
            .sum()
    }

    /// The next `count` requests to `path` (and `method`) get `action`.
    pub(crate) fn fault(&self, path: &str, method: &str, count: u32, action: FaultAction) {
        self.emu.inject_fault(Fault {
            path: path.into(),
            method: Some(method.into()),
            count,
            action,
        });
    }

    /// The id of the first request in `status` on the emulator, once there is one.
    pub(crate) fn wait_for_request(&self, status: &str) -> String {
        let c = reqwest::blocking::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let r: serde_json::Value = c
                .post(format!("{}/v1/filteredRequests", self.emu.base_url()))
                .json(&serde_json::json!({"requestStatusList": [status]}))
                .send()
                .expect("filteredRequests")
                .json()
                .expect("filteredRequests body");
            if let Some(id) = r["requests"]
                .as_array()
                .and_then(|a| a.first())
                .and_then(|x| x["id"].as_str())
            {
                return id.to_string();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {status} request appeared"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// C_SignInit and C_Sign with a buffer of `cap` bytes (None: a length query).
    pub(crate) fn sign(
        &self,
        s: CK_SESSION_HANDLE,
        key: CK_OBJECT_HANDLE,
        data: &[u8],
        cap: Option<usize>,
    ) -> Result<Output> {
        sign_init(&self.m, s, key)?;
        sign_again(&self.m, s, data, cap)
    }

    /// Every key label on the emulator (`GET /v1/key`, behind the module's back).
    pub(crate) fn tsb_labels(&self) -> Vec<String> {
        let mut v: Vec<String> = reqwest::blocking::Client::new()
            .get(format!("{}/v1/key", self.emu.base_url()))
            .send()
            .expect("list keys")
            .json()
            .expect("key list");
        v.sort();
        v
    }

    /// ulDeviceError of a session.
    pub(crate) fn device_error(&self, s: CK_SESSION_HANDLE) -> CK_ULONG {
        self.m.session_info(s).expect("session info").device_error
    }
}

fn module(dir: &Path, slot: &serde_json::Value, forget_unknown: bool) -> Module {
    let path = dir.join("config.json");
    let text = serde_json::json!({ "slots": [slot] }).to_string();
    std::fs::write(&path, &text).expect("config file");
    let env = move |name: &str| {
        (forget_unknown && name == "TSB_PKCS11_FORGET_UNKNOWN").then(|| "1".to_string())
    };
    let config = Config::parse(&text, &path, &env).expect("config");
    Module::new(config).expect("module")
}

pub(super) fn open_session(m: &Module) -> CK_SESSION_HANDLE {
    m.open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION)
        .expect("open session")
}

/// The private key labelled `label`.
pub(super) fn private_key(m: &Module, s: CK_SESSION_HANDLE, label: &str) -> CK_OBJECT_HANDLE {
    let t = Template::new(vec![
        Attr::new(CKA_LABEL, label.as_bytes().to_vec()),
        Attr::new(CKA_CLASS, CKO_PRIVATE_KEY.to_ne_bytes().to_vec()),
    ]);
    let found = m
        .with_session(s, |sess| m.find(sess, &t))
        .expect("find the key");
    assert_eq!(found.len(), 1, "key {label}");
    found[0]
}

/// C_SignInit with CKM_ECDSA_SHA256 (or the RSA or EdDSA counterpart, by the key's type).
pub(super) fn sign_init(m: &Module, s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> Result<()> {
    let mech = m.with_session(s, |sess| {
        let (_, view) = m.object(sess, key)?;
        Ok(match view.attribute(CKA_KEY_TYPE, false) {
            super::AttrValue::Value(v) if v == CKK_RSA.to_ne_bytes() => CKM_SHA256_RSA_PKCS,
            super::AttrValue::Value(v) if v == CKK_EC_EDWARDS.to_ne_bytes() => CKM_EDDSA,
            _ => CKM_ECDSA_SHA256,
        })
    })?;
    at_boundary(
        "C_SignInit",
        m.with_session(s, |sess| m.sign_init(sess, mech, &MechParams::None, key)),
    )
}

/// What the C boundary (`ffi::guard`) does with a call's result: a failure the person must fix
/// gets its one line (`log::report`).
pub(super) fn at_boundary<T>(function: &str, r: Result<T>) -> Result<T> {
    if let Err(e) = &r {
        crate::log::report(function, e);
    }
    r
}

/// C_Sign on an initialized operation (an `Output::TooSmall` keeps the operation, as
/// CKR_BUFFER_TOO_SMALL does at the C ABI).
pub(super) fn sign_again(
    m: &Module,
    s: CK_SESSION_HANDLE,
    data: &[u8],
    cap: Option<usize>,
) -> Result<Output> {
    at_boundary(
        "C_Sign",
        m.with_operation(s, OpKind::Sign, |sess| m.sign(sess, Some(data), cap)),
    )
}

/// The signature of a finished [`World::sign`].
pub(super) fn data(o: Output) -> Vec<u8> {
    match o {
        Output::Data(d) => d,
        other => panic!("not a result: {other:?}"),
    }
}

/// The CK_RV of a failed call.
pub(super) fn rv<T: std::fmt::Debug>(r: Result<T>) -> CK_RV {
    r.expect_err("an error").rv()
}

/// A key made on the emulator with these attributes (`POST /v1/key`, behind the module's back).
pub(crate) fn tsb_key(w: &World, label: &str, mut body: serde_json::Value) {
    body["label"] = label.into();
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/key", w.emu.base_url()))
        .json(&body)
        .send()
        .expect("POST /v1/key");
    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text());
}
