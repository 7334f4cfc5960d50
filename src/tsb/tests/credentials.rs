//! API keys with rollover (TSB 2.0.1, "Enabling API Authentication Key Rollover", S2 release
//! notes): several keys per role; a key the TSB refuses with errorCode 631 is replaced by the
//! role's next one, at once and for good, for reading and creating calls alike (a 631 refuses
//! the request before anything is done: S1 `tsb_client.go` `doRequest` sends the same request
//! again after `RollOverApiKey`).

use super::*;
use crate::error::Error;
use tsb_emulator::Role;
use tsb_models::{CreateKeyRequest, KeyFlags};

/// A P-256 signing key, with `policy` when given.
pub(super) fn p256(label: &str, policy: Option<&serde_json::Value>) -> CreateKeyRequest {
    CreateKeyRequest {
        label: label.into(),
        algorithm: Some("EC".into()),
        curve_oid: Some("1.2.840.10045.3.1.7".into()),
        attributes: KeyFlags {
            sign: Some(true),
            decrypt: Some(false),
            unwrap: Some(false),
            destroyable: Some(true),
            ..Default::default()
        },
        policy: policy.map(|p| serde_json::from_value(p.clone()).expect("policy")),
        ..Default::default()
    }
}

/// Write `secret` to a file in `dir` and return `{"file": path}`.
pub(super) fn secret_file(dir: &Path, name: &str, secret: &str) -> serde_json::Value {
    let p = dir.join(name);
    std::fs::write(&p, secret).expect("secret file");
    serde_json::json!({ "file": p })
}

#[test]
fn a_refused_api_key_rolls_over_to_the_next_for_good() {
    let dir = temp_dir("rollover");
    let keys = serde_json::json!({
        "keyManagementToken": secret_file(&dir, "m", "m1"),
        "keyOperationToken": [
            secret_file(&dir, "k1", "k1"),
            secret_file(&dir, "k2", "k2"),
            secret_file(&dir, "k3", "k3"),
        ],
    });
    let cfg = EmulatorConfig {
        api_keys: vec![
            (Role::KeyManagement, "m1".into()),
            (Role::KeyOperation, "k1".into()),
            (Role::KeyOperation, "k2".into()),
            (Role::KeyOperation, "k3".into()),
        ],
        ..emulator(TsbVersion::V2_2_0)
    };
    let bed = Bed::new(cfg, serde_json::json!({ "api_keys": keys }));
    let plain = bed.tsb.create_key(&p256("plain", None), "").expect("key");
    let gated = bed
        .tsb
        .create_key(&p256("gated", Some(&bed.policy(600))), "")
        .expect("key");
    sign(&bed.tsb, &plain).expect("with the first key");
    assert_eq!(bed.count("POST", "/v1/synchronousSign"), 1);
    // The first key is rolled over on the TSB: one refusal, then the second key, one line.
    bed.emu.revoke_api_key("k1");
    let (r, lines) = crate::log::capture(|| sign(&bed.tsb, &plain));
    r.expect("with the second key");
    assert_eq!(bed.count("POST", "/v1/synchronousSign"), 3);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("API key 1 of 3 of role keyOperationToken")
            && lines[0].contains("using key 2"),
        "{}",
        lines[0]
    );
    // Remembered: the next call starts with the second key.
    let (r, lines) = crate::log::capture(|| sign(&bed.tsb, &plain));
    r.expect("signed");
    assert_eq!(bed.count("POST", "/v1/synchronousSign"), 4);
    assert!(lines.is_empty(), "{lines:?}");
    // A creating call: refused (nothing created), sent again with the third key, one request.
    bed.emu.revoke_api_key("k2");
    let bg = bed.auto_approve(1);
    sign(&bed.tsb, &gated).expect("approved");
    bg.join().unwrap().unwrap();
    assert_eq!(bed.count("POST", "/v1/sign"), 2);
    // Every key refused: the error says so, and what to do.
    bed.emu.revoke_api_key("k3");
    let e = sign(&bed.tsb, &plain).expect_err("no key left");
    assert!(e.credentials_refused(), "{e:?}");
    let remedy = e.remedy().unwrap_or_default();
    assert!(
        remedy.contains("all 3 API keys of role keyOperationToken")
            && remedy.contains("api_keys.keyOperationToken"),
        "{remedy}"
    );
    assert!(matches!(
        e,
        Error::Tsb {
            code: Some(631),
            ..
        }
    ));
}

/// The single form of a role's key is still read, and a role without a key gets a remedy
/// naming the role.
#[test]
fn a_missing_api_key_names_its_role() {
    let dir = temp_dir("api-key-missing");
    let cfg = EmulatorConfig {
        api_keys: vec![
            (Role::KeyManagement, "m1".into()),
            (Role::KeyOperation, "k1".into()),
        ],
        ..emulator(TsbVersion::V2_2_0)
    };
    let bed = Bed::new(
        cfg,
        serde_json::json!({ "api_keys": {"keyManagementToken": secret_file(&dir, "m", "m1")} }),
    );
    let key = bed.tsb.create_key(&p256("k", None), "").expect("key");
    let e = sign(&bed.tsb, &key).expect_err("no key of the role");
    assert!(e.credentials_refused(), "{e:?}");
    let remedy = e.remedy().unwrap_or_default();
    assert!(
        remedy.contains("role keyOperationToken")
            && remedy.contains("`api_keys.keyOperationToken`"),
        "{remedy}"
    );
}
