//! In-process tests of the TSB facade (`Tsb`) against an in-process `tsb-emulator` on a free
//! loopback port, one emulator and one facade per test, side by side in one process: how the
//! client speaks to each TSB version, and what it does about credentials, several URLs, request
//! signatures, key passwords and the ends of a wait. The PKCS#11 rules above the facade are
//! tested in `src/token/tests`.

mod credentials;
mod failover;
mod passwords;
mod request_signatures;
mod results;
mod versions;

// The same file as `token::tests`' (the helpers the `.so` tests share): one copy per test
// tree, each compiled into the test binary once.
#[path = "../../../tests/common/direct.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod direct;

use super::cancel::CancelToken;
use super::key::KeyInfo;
use super::requests::{Caller, Requests};
use super::Tsb;
use crate::config::Config;
use crate::error::Result;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tsb_approve::{Approver, ApproverKey, KeyKind};
use tsb_emulator::{Emulator, EmulatorConfig, Fault, FaultAction};
use tsb_models::TsbVersion;

/// A fresh directory for one test.
pub(super) fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "tsb-facade-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// An emulator, a facade configured for it, and an approver.
pub(super) struct Bed {
    pub(super) emu: Emulator,
    pub(super) tsb: Tsb,
    pub(super) approver: Approver,
    pub(super) dir: PathBuf,
}

/// The emulator of a profile, with test controls.
pub(super) fn emulator(v: TsbVersion) -> EmulatorConfig {
    EmulatorConfig {
        test_controls: true,
        tsb_version: v,
        ..Default::default()
    }
}

impl Bed {
    /// An emulator started with `cfg` (test controls on), and a facade whose slot is the
    /// defaults merged with `slot` (a JSON object).
    pub(super) fn new(cfg: EmulatorConfig, slot: serde_json::Value) -> Bed {
        let emu = Emulator::start(EmulatorConfig {
            test_controls: true,
            ..cfg
        })
        .expect("start emulator");
        let dir = temp_dir("bed");
        let tsb = facade(&dir, &emu.base_url(), slot);
        let approver = Approver::new(&emu.base_url(), ApproverKey::generate(KeyKind::EcP256));
        Bed {
            emu,
            tsb,
            approver,
            dir,
        }
    }

    /// A policy with one token, one group, quorum 1 of this bed's approver.
    pub(super) fn policy(&self, timeout: u64) -> serde_json::Value {
        direct::policy_for(&[self.approver.key().public_key_b64()], 1, timeout)
    }

    /// A key made on the emulator behind the facade's back (no credentials needed).
    pub(super) fn key(
        &self,
        label: &str,
        kind: &str,
        policy: Option<&serde_json::Value>,
    ) -> Arc<KeyInfo> {
        direct::create_key(&self.emu, label, kind, policy);
        self.tsb
            .key(label)
            .expect("read the key")
            .expect("the key exists")
    }

    /// Approve the next `n` requests as they appear (background thread).
    pub(super) fn auto_approve(
        &self,
        n: usize,
    ) -> std::thread::JoinHandle<
        std::result::Result<tsb_approve::WatchOutcome, tsb_approve::ApproveError>,
    > {
        self.approver
            .spawn_auto_approve(Default::default(), Some(n), Some(Duration::from_secs(60)))
    }

    pub(super) fn count(&self, method: &str, path: &str) -> u64 {
        self.emu.request_count(method, path)
    }

    /// The next `count` requests to `path` (and `method`) get `action`.
    pub(super) fn fault(&self, path: &str, method: &str, count: u32, action: FaultAction) {
        self.emu.inject_fault(Fault {
            path: path.into(),
            method: Some(method.into()),
            count,
            action,
        });
    }
}

/// A facade for a slot with `url` (http, loopback), the test defaults and `extra`.
pub(super) fn facade(dir: &Path, url: &str, extra: serde_json::Value) -> Tsb {
    let mut slot = serde_json::json!({
        "url": url,
        "allow_http": true,
        "progress": false,
        "poll_interval_ms": 20,
        "poll_max_interval_ms": 100,
    });
    if let serde_json::Value::Object(extra) = extra {
        for (k, v) in extra {
            if k == "urls" {
                slot.as_object_mut().map(|o| o.remove("url"));
            }
            slot[k] = v;
        }
    }
    let path = dir.join("config.json");
    let text = serde_json::json!({ "slots": [slot] }).to_string();
    std::fs::write(&path, &text).expect("config file");
    let config = Config::parse(&text, &path, &|_| None).expect("config");
    let slot = &config.slots[0];
    Tsb::new(
        0,
        slot,
        Arc::new(Requests::new(slot.journal.clone(), false)),
    )
}

/// Run `f` as a caller whose wait nothing cancels; returns its result and the request ids it
/// was told.
pub(super) fn as_caller<T>(f: impl FnOnce(&Caller) -> Result<T>) -> (Result<T>, Vec<String>) {
    let cancel = Arc::new(CancelToken::default());
    let ids = parking_lot::Mutex::new(Vec::new());
    let on_request = |id: &str| ids.lock().push(id.to_string());
    let caller = Caller {
        cancel: &cancel,
        on_request: &on_request,
    };
    let r = f(&caller);
    (r, ids.into_inner())
}

/// A CSR request for the key `label` (subject CN `label`).
pub(super) fn csr_request(label: &str, algorithm: &str) -> tsb_models::CsrRequest {
    tsb_models::CsrRequest {
        sign_key_name: label.into(),
        signature_algorithm: algorithm.into(),
        validity: Some(365),
        standard_certificate_attributes: tsb_models::StandardCertificateAttributes {
            common_name: label.into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A signature of `data` with NONESHA256_WITH_RSA / NONE_WITH_ECDSA (a digest), as C_Sign sends
/// it, by key kind.
pub(super) fn sign(tsb: &Tsb, key: &KeyInfo) -> Result<Vec<u8>> {
    use crate::mechanism::Hash;
    let digest = Hash::Sha256.digest(b"artifact");
    let alg = match key.public.family() {
        Some(crate::tsb::key::KeyFamily::Rsa) => "NONESHA256_WITH_RSA",
        Some(crate::tsb::key::KeyFamily::Ec) => "NONE_WITH_ECDSA",
        Some(crate::tsb::key::KeyFamily::Ed) => "EDDSA",
        Some(crate::tsb::key::KeyFamily::Pqc(f)) => crate::mechanism::pqc::tsb_name(f),
        None => panic!("a secret key does not sign here"),
    };
    as_caller(|c| tsb.sign(key, alg, &digest, c)).0
}
