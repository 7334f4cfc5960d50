//! ML-DSA and SLH-DSA keys: creation per profile, the SubjectPublicKeyInfo, signing (synchronous,
//! asynchronous with a `context`, approval-gated) and `/v1/verify`. Every signature is checked
//! with RustCrypto's `ml-dsa` / `slh-dsa`, not the `fips204` / `fips205` crates that made it.

mod common;
// Verify with RustCrypto (`ml-dsa`, `slh-dsa`), independently of the emulator's crates: the
// check the module's tests use too.
#[path = "../../tests/common/pqc_check.rs"]
mod pqc_check;
use pqc_check::rustcrypto_verifies;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use tsb_emulator::{EmulatorConfig, TsbVersion};
use tsb_models::PqcParameterSet;

fn pqc_key(env: &Env, label: &str, algorithm: &str, policy: Value) -> Value {
    env.create_key(json!({
        "label": label, "algorithm": algorithm,
        "attributes": {"sign": true, "decrypt": false, "unwrap": false}, "policy": policy
    }))
}

/// The raw public key inside a SubjectPublicKeyInfo with exactly this OID and no parameters.
fn raw_public_key(spki_b64: &str, set: PqcParameterSet) -> Vec<u8> {
    use spki::der::Decode;
    let der = B64.decode(spki_b64).unwrap();
    let spki = spki::SubjectPublicKeyInfoRef::from_der(&der).unwrap();
    assert_eq!(spki.algorithm.oid.to_string(), set.oid(), "{}", set.name());
    assert!(spki.algorithm.parameters.is_none(), "{}", set.name());
    let raw = spki.subject_public_key.raw_bytes().to_vec();
    assert_eq!(raw.len(), set.public_key_len(), "{}", set.name());
    raw
}

fn sign_sync(env: &Env, key: &str, alg: &str, msg: &[u8]) -> (u16, Value) {
    env.post(
        "/v1/synchronousSign",
        &json!({"signRequest": {"payload": B64.encode(msg), "signKeyName": key,
                "signatureAlgorithm": alg}}),
    )
}

fn verify(env: &Env, key: &str, alg: &str, msg: &[u8], sig: &str) -> bool {
    let (s, v) = env.post(
        "/v1/verify",
        &json!({"verifySignatureRequest": {"signKeyName": key, "signatureAlgorithm": alg,
                "payload": B64.encode(msg), "signature": sig}}),
    );
    assert_eq!(s, 200, "{v}");
    v["signatureValid"].as_bool().unwrap()
}

/// Every parameter set the sources name is created on TSB 2.2.0 with its name, its OID and a
/// SubjectPublicKeyInfo of the documented shape; TSB 2.1.x refuses the names (607).
#[test]
fn every_parameter_set_is_created_with_its_oid_and_spki() {
    let env = start();
    for set in PqcParameterSet::ALL {
        let label = format!("pqc-{}", set.name());
        let v = pqc_key(&env, &label, set.name(), Value::Null);
        let j = &v["json"];
        assert_eq!(j["algorithm"], set.name());
        assert_eq!(j["algorithmOid"], set.oid());
        assert_eq!(j["keySize"], Value::Null);
        assert_eq!(j["curveOid"], Value::Null);
        raw_public_key(j["publicKey"].as_str().unwrap(), *set);
    }
    let old = start_with(EmulatorConfig {
        tsb_version: TsbVersion::V2_1_1,
        ..EmulatorConfig::default()
    });
    let (s, v) = old.post(
        "/v1/key",
        &json!({"label": "k", "algorithm": "ML-DSA-44",
                "attributes": {"sign": true, "decrypt": false, "unwrap": false}}),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(607)), "{v}");
    // The signature name is unknown there too (bean validation of the enum).
    let (s, v) = sign_sync(&old, "k", "ML_DSA", b"m");
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(600)), "{v}");
}

/// `ML_DSA` / `SLH_DSA` on `/v1/synchronousSign` (S1 `sign_test.go`): the signatures verify with
/// RustCrypto and on `/v1/verify`; a changed message does not.
#[test]
fn synchronous_signatures_verify_with_rustcrypto() {
    let env = start();
    for (set, alg) in [
        (PqcParameterSet::MlDsa44, "ML_DSA"),
        (PqcParameterSet::MlDsa65, "ML_DSA"),
        (PqcParameterSet::MlDsa87, "ML_DSA"),
        (PqcParameterSet::SlhDsaSha2_128f, "SLH_DSA"),
        (PqcParameterSet::SlhDsaShake128f, "SLH_DSA"),
        (PqcParameterSet::SlhDsaSha2_128s, "SLH_DSA"),
    ] {
        let label = format!("k-{}", set.name());
        let v = pqc_key(&env, &label, set.name(), Value::Null);
        let pk = raw_public_key(v["json"]["publicKey"].as_str().unwrap(), set);
        let (s, r) = sign_sync(&env, &label, alg, b"go-client-test-payload");
        assert_eq!(s, 200, "{r}");
        let sig_b64 = r["signature"].as_str().unwrap();
        let sig = B64.decode(sig_b64).unwrap();
        assert_eq!(sig.len(), set.signature_len(), "{}", set.name());
        assert!(
            rustcrypto_verifies(set, &pk, b"go-client-test-payload", b"", &sig),
            "{}",
            set.name()
        );
        assert!(!rustcrypto_verifies(set, &pk, b"other", b"", &sig));
        assert!(verify(
            &env,
            &label,
            alg,
            b"go-client-test-payload",
            sig_b64
        ));
        assert!(!verify(&env, &label, alg, b"other", sig_b64));
    }
    // A family's name on the other family's key, or a classical name, is 607.
    let (s, v) = sign_sync(&env, "k-ML-DSA-44", "SLH_DSA", b"m");
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(607)), "{v}");
    let (s, v) = sign_sync(&env, "k-ML-DSA-44", "SHA256_WITH_ECDSA", b"m");
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(607)), "{v}");
    // The synchronous DTO has no `context` (S3 `SynchronousSignRequestDto.java`).
    let (s, v) = env.post(
        "/v1/synchronousSign",
        &json!({"signRequest": {"payload": "bQ==", "signKeyName": "k-ML-DSA-44",
                "signatureAlgorithm": "ML_DSA", "context": "Y3R4"}}),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(600)), "{v}");
}

/// `context` (S3 `SignRequestDto.java`, TSB 2.2.0) is part of what is signed; a plain key's
/// asynchronous request executes at once.
#[test]
fn asynchronous_signature_with_context_verifies_with_rustcrypto() {
    let env = start();
    for (set, alg) in [
        (PqcParameterSet::MlDsa65, "ML_DSA"),
        (PqcParameterSet::SlhDsaSha2_192f, "SLH_DSA"),
    ] {
        let v = pqc_key(&env, set.name(), set.name(), Value::Null);
        let pk = raw_public_key(v["json"]["publicKey"].as_str().unwrap(), set);
        let (s, r) = env.post(
            "/v1/sign",
            &json!({"signRequest": {"payload": B64.encode(b"msg"), "signKeyName": set.name(),
                    "signatureAlgorithm": alg, "context": B64.encode(b"tsb-ctx")}}),
        );
        assert_eq!(s, 201, "{r}");
        let st = env.wait_state(r["signRequestId"].as_str().unwrap(), "EXECUTED");
        let sig = B64.decode(st["result"].as_str().unwrap()).unwrap();
        assert!(rustcrypto_verifies(set, &pk, b"msg", b"tsb-ctx", &sig));
        assert!(!rustcrypto_verifies(set, &pk, b"msg", b"", &sig));
    }
}

/// PQC keys carry SKA policies (S2 `pqc.md`: "PQC algorithms do support Securosys Smart Key
/// Attributes"): the synchronous endpoint refuses a gated key, `/v1/sign` waits for the approver.
#[test]
fn approval_gated_ml_dsa_signature() {
    let env = start();
    let approver = Approver::ec();
    let policy = use_policy(vec![token(0, 0, vec![(1, vec![&approver])])]);
    let v = pqc_key(&env, "gated", "ML-DSA-44", policy);
    let pk = raw_public_key(
        v["json"]["publicKey"].as_str().unwrap(),
        PqcParameterSet::MlDsa44,
    );
    let (s, r) = sign_sync(&env, "gated", "ML_DSA", b"m");
    assert_eq!((s, r["errorCode"].as_i64()), (400, Some(401)), "{r}");
    let (s, r) = env.post(
        "/v1/sign",
        &json!({"signRequest": {"payload": B64.encode(b"release"), "signKeyName": "gated",
                "signatureAlgorithm": "ML_DSA"}}),
    );
    assert_eq!(s, 201, "{r}");
    let id = r["signRequestId"].as_str().unwrap();
    assert_eq!(env.state(id), "PENDING");
    env.approve(&approver, id);
    let st = env.wait_state(id, "EXECUTED");
    let sig = B64.decode(st["result"].as_str().unwrap()).unwrap();
    assert!(rustcrypto_verifies(
        PqcParameterSet::MlDsa44,
        &pk,
        b"release",
        b"",
        &sig
    ));
}

/// HashML-DSA (`SHA2_256_WITH_ML_DSA`, FIPS 204 §5.4): checked with RustCrypto's
/// `verify_internal` over M' = 1 ‖ |ctx| ‖ ctx ‖ OID(SHA-256) ‖ SHA-256(M).
#[test]
fn pre_hash_ml_dsa_verifies_with_rustcrypto() {
    use sha2::Digest as _;
    let env = start();
    let v = pqc_key(&env, "h", "ML-DSA-44", Value::Null);
    let pk = raw_public_key(
        v["json"]["publicKey"].as_str().unwrap(),
        PqcParameterSet::MlDsa44,
    );
    let (s, r) = sign_sync(&env, "h", "SHA2_256_WITH_ML_DSA", b"data");
    assert_eq!(s, 200, "{r}");
    let sig = B64.decode(r["signature"].as_str().unwrap()).unwrap();
    let oid = [
        0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    ];
    let mut m = vec![1u8, 0];
    m.extend_from_slice(&oid);
    m.extend_from_slice(&sha2::Sha256::digest(b"data"));
    let enc = ml_dsa::EncodedVerifyingKey::<ml_dsa::MlDsa44>::try_from(pk.as_slice()).unwrap();
    let vk = ml_dsa::VerifyingKey::<ml_dsa::MlDsa44>::decode(&enc);
    let s = ml_dsa::Signature::<ml_dsa::MlDsa44>::try_from(sig.as_slice()).unwrap();
    assert!(vk.verify_internal(&m, &s));
    assert!(
        !vk.verify_with_context(b"data", b"", &s),
        "pre-hash, not pure"
    );
    assert!(verify(
        &env,
        "h",
        "SHA2_256_WITH_ML_DSA",
        b"data",
        r["signature"].as_str().unwrap()
    ));
}

/// Secret and post-quantum keys survive a restart with a state file: the same AES bytes, the
/// same ML-DSA public key, and the key still signs.
#[test]
fn new_key_kinds_persist_across_restart() {
    let dir = std::env::temp_dir().join(format!("tsb-emu-pqc-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("state.json");
    let _ = std::fs::remove_file(&file);
    let cfg = || EmulatorConfig {
        state_file: Some(file.clone()),
        ..EmulatorConfig::default()
    };
    let (aes, spki) = {
        let env = start_with(cfg());
        env.create_key(json!({"label": "aes", "algorithm": "AES", "keySize": 128,
            "attributes": {"sign": false, "decrypt": true, "unwrap": false}}));
        let v = pqc_key(&env, "ml", "ML-DSA-44", Value::Null);
        (
            env.emu.secret_key_bytes("aes").unwrap(),
            v["json"]["publicKey"].clone(),
        )
    };
    let env = start_with(cfg());
    assert_eq!(env.emu.secret_key_bytes("aes"), Some(aes));
    let (s, a) = env.post("/v1/key/attributes", &json!({"label": "ml"}));
    assert_eq!((s, &a["json"]["publicKey"]), (200, &spki), "{a}");
    let pk = raw_public_key(spki.as_str().unwrap(), PqcParameterSet::MlDsa44);
    let (s, r) = sign_sync(&env, "ml", "ML_DSA", b"after restart");
    assert_eq!(s, 200, "{r}");
    let sig = B64.decode(r["signature"].as_str().unwrap()).unwrap();
    assert!(rustcrypto_verifies(
        PqcParameterSet::MlDsa44,
        &pk,
        b"after restart",
        b"",
        &sig
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
