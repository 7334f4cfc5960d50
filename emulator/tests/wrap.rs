//! Key wrapping: `/v1/wrap` checked with RustCrypto `aes-kw` (RFC 3394 / 5649), unwrapping of
//! keys wrapped locally (AES key wrap, RSA-OAEP with the `rsa` crate), and the approval-gated
//! `/v1/unwrap` on an SKA unwrap key.

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};

fn wrap(env: &Env, wrap_key: &str, target: &str, method: &str) -> (u16, Value) {
    env.post(
        "/v1/wrap",
        &json!({"wrapKeyRequest": {"keyToBeWrapped": target, "wrapKeyName": wrap_key,
                "wrapMethod": method}}),
    )
}

fn aes(env: &Env, label: &str, bits: u32, extractable: bool) {
    env.create_key(json!({"label": label, "algorithm": "AES", "keySize": bits,
        "attributes": {"encrypt": true, "decrypt": true, "sign": false, "wrap": true,
                       "unwrap": true, "extractable": extractable, "sensitive": true}}));
}

fn unwrap_body(wrapped: &[u8], label: &str, unwrap_key: &str, method: &str) -> Value {
    json!({"unwrapKeyRequest": {"wrappedKey": B64.encode(wrapped), "label": label,
           "attributes": {"encrypt": true, "decrypt": true, "sign": true, "unwrap": false},
           "unwrapKeyName": unwrap_key, "wrapMethod": method}})
}

/// `AES_WRAP` and `AES_WRAP_PAD` of an AES key (S1 `wrap_test.go`, 200): the wrapped key
/// unwraps with `aes-kw` to the key's bytes.
#[test]
fn aes_wrap_matches_aes_kw() {
    let env = start();
    aes(&env, "kek", 256, false);
    aes(&env, "target", 192, true);
    let kek = env.emu.secret_key_bytes("kek").unwrap();
    let target = env.emu.secret_key_bytes("target").unwrap();
    let kw = aes_kw::KekAes256::try_from(kek.as_slice()).unwrap();
    let (s, v) = wrap(&env, "kek", "target", "AES_WRAP");
    assert_eq!(s, 200, "{v}");
    let w = B64.decode(v["wrappedKey"].as_str().unwrap()).unwrap();
    assert_eq!(kw.unwrap_vec(&w).unwrap(), target);
    let (s, v) = wrap(&env, "kek", "target", "AES_WRAP_PAD");
    assert_eq!(s, 200, "{v}");
    let w = B64.decode(v["wrappedKey"].as_str().unwrap()).unwrap();
    assert_eq!(kw.unwrap_with_padding_vec(&w).unwrap(), target);
    // Refusals: a key that is not extractable (614), a method for another key type (607), an
    // unknown method name (bean validation, 600).
    let (s, v) = wrap(&env, "target", "kek", "AES_WRAP");
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(614)), "{v}");
    let (s, v) = wrap(&env, "kek", "target", "AES_WRAP_EC");
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(607)), "{v}");
    let (s, v) = wrap(&env, "kek", "target", "ML-KEM-768");
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(600)), "{v}");
}

/// A key wrapped locally with `aes-kw` unwraps on the emulator (synchronous, 201 as S1
/// `wrap_test.go` expects) into a new AES key with exactly those bytes.
#[test]
fn unwrap_of_an_aes_kw_wrapped_key() {
    let env = start();
    aes(&env, "kek", 128, false);
    let kw =
        aes_kw::KekAes128::try_from(env.emu.secret_key_bytes("kek").unwrap().as_slice()).unwrap();
    let secret = [0x42u8; 32];
    for (method, wrapped) in [
        ("AES_WRAP", kw.wrap_vec(&secret).unwrap()),
        ("AES_WRAP_PAD", kw.wrap_with_padding_vec(&secret).unwrap()),
    ] {
        let label = format!("new-{method}");
        let (s, v) = env.post(
            "/v1/synchronousUnwrap",
            &unwrap_body(&wrapped, &label, "kek", method),
        );
        assert_eq!(s, 201, "{v}");
        assert_eq!(env.emu.secret_key_bytes(&label).unwrap(), secret);
        let (s, a) = env.post("/v1/key/attributes", &json!({"label": label}));
        assert_eq!((s, &a["json"]["algorithm"]), (200, &json!("AES")), "{a}");
        assert_eq!(a["json"]["policy"], Value::Null);
    }
    // A changed byte fails the integrity check (410) and creates nothing.
    let mut bad = kw.wrap_vec(&secret).unwrap();
    bad[5] ^= 1;
    let (s, v) = env.post(
        "/v1/synchronousUnwrap",
        &unwrap_body(&bad, "bad", "kek", "AES_WRAP"),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(410)), "{v}");
    let (s, _) = env.post("/v1/key/attributes", &json!({"label": "bad"}));
    assert_eq!(s, 404);
    // The label must be new (608).
    let (s, v) = env.post(
        "/v1/synchronousUnwrap",
        &unwrap_body(
            &kw.wrap_vec(&secret).unwrap(),
            "new-AES_WRAP",
            "kek",
            "AES_WRAP",
        ),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(608)), "{v}");
}

/// `AES_WRAP_PAD_EC` round trip (S2 `wrap-unwrap.md`): the unwrapped EC key has the same public
/// key and signs.
#[test]
fn ec_key_wrapped_and_unwrapped() {
    let env = start();
    aes(&env, "kek", 256, false);
    let ec = env.create_key(
        json!({"label": "ec", "algorithm": "EC", "curveOid": "1.3.132.0.10",
        "attributes": {"sign": true, "decrypt": false, "unwrap": false, "extractable": true,
                       "sensitive": false}}),
    );
    for method in ["AES_WRAP_PAD_EC", "AES_WRAP_EC"] {
        let (s, v) = wrap(&env, "kek", "ec", method);
        assert_eq!(s, 200, "{v}");
        let w = B64.decode(v["wrappedKey"].as_str().unwrap()).unwrap();
        let label = format!("ec-{method}");
        let (s, r) = env.post(
            "/v1/synchronousUnwrap",
            &unwrap_body(&w, &label, "kek", method),
        );
        assert_eq!(s, 201, "{r}");
        let (_, a) = env.post("/v1/key/attributes", &json!({"label": label}));
        assert_eq!(a["json"]["publicKey"], ec["json"]["publicKey"]);
        let (s, v) = env.post(
            "/v1/synchronousSign",
            &sign_body(&label, "SHA256_WITH_ECDSA"),
        );
        assert_eq!(s, 200, "{v}");
    }
}

/// `RSA_WRAP_OAEP`: an AES key encrypted locally with the RSA key's public key (RustCrypto
/// `rsa`, OAEP SHA-1) unwraps into that AES key, which then encrypts as expected.
#[test]
fn rsa_oaep_unwrap_of_a_locally_wrapped_key() {
    use rsa::pkcs8::DecodePublicKey;
    let env = start();
    let v = env.create_key(json!({"label": "rsa", "algorithm": "RSA", "keySize": 2048,
        "attributes": {"sign": false, "decrypt": false, "unwrap": true, "wrap": true}}));
    let pk = rsa::RsaPublicKey::from_public_key_der(
        &B64.decode(v["json"]["publicKey"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let secret = [0x17u8; 16];
    let wrapped = pk
        .encrypt(
            &mut rand_core::OsRng,
            rsa::Oaep::new::<sha1::Sha1>(),
            &secret,
        )
        .unwrap();
    let (s, r) = env.post(
        "/v1/synchronousUnwrap",
        &unwrap_body(&wrapped, "aes", "rsa", "RSA_WRAP_OAEP"),
    );
    assert_eq!(s, 201, "{r}");
    assert_eq!(env.emu.secret_key_bytes("aes").unwrap(), secret);
    // And the other direction: the emulator's RSA_WRAP_PAD of an AES key decrypts ... only with
    // the private key, which stays inside: unwrap it again and compare the bytes.
    aes(&env, "t", 256, true);
    let (s, v) = wrap(&env, "rsa", "t", "RSA_WRAP_PAD");
    assert_eq!(s, 200, "{v}");
    let w = B64.decode(v["wrappedKey"].as_str().unwrap()).unwrap();
    let (s, r) = env.post(
        "/v1/synchronousUnwrap",
        &unwrap_body(&w, "t2", "rsa", "RSA_WRAP_PAD"),
    );
    assert_eq!(s, 201, "{r}");
    assert_eq!(
        env.emu.secret_key_bytes("t2"),
        env.emu.secret_key_bytes("t")
    );
}

/// An SKA unwrap key (RSA with a use rule): the synchronous unwrap is refused (401), `/v1/unwrap`
/// (201, `unwrapRequestId`) waits for the approver, its task is listed by
/// `filteredUnwrapKeyApprovalTask` with `signedUnwrapKeyRequest` at level 3, and once approved
/// the key exists.
#[test]
fn approval_gated_unwrap() {
    use rsa::pkcs8::DecodePublicKey;
    let env = start();
    let approver = Approver::ec();
    let policy = use_policy(vec![token(0, 0, vec![(1, vec![&approver])])]);
    let v = env.create_key(json!({"label": "ska", "algorithm": "RSA", "keySize": 2048,
        "attributes": {"sign": false, "decrypt": false, "unwrap": true}, "policy": policy}));
    let pk = rsa::RsaPublicKey::from_public_key_der(
        &B64.decode(v["json"]["publicKey"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let wrapped = pk
        .encrypt(&mut rand_core::OsRng, rsa::Pkcs1v15Encrypt, &[5u8; 32])
        .unwrap();
    let body = unwrap_body(&wrapped, "released", "ska", "RSA_WRAP_PAD");
    let (s, r) = env.post("/v1/synchronousUnwrap", &body);
    assert_eq!((s, r["errorCode"].as_i64()), (400, Some(401)), "{r}");
    // The asynchronous DTO has no `policy` (S1 `wrap.go` drops it).
    let mut with_policy = body.clone();
    with_policy["unwrapKeyRequest"]["policy"] = json!({"keyStatus": {"blocked": false}});
    let (s, r) = env.post("/v1/unwrap", &with_policy);
    assert_eq!((s, r["errorCode"].as_i64()), (400, Some(600)), "{r}");
    let (s, r) = env.post("/v1/unwrap", &body);
    assert_eq!(s, 201, "{r}");
    let id = r["unwrapRequestId"].as_str().unwrap();
    assert_eq!(env.state(id), "PENDING");
    let (s, t) = env.tasks(
        &approver,
        "filteredUnwrapKeyApprovalTask",
        json!({"detailLevel": "level3"}),
    );
    assert_eq!(s, 200, "{t}");
    let tasks = t["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1, "{t}");
    assert_eq!(
        tasks[0]["signedUnwrapKeyRequest"]["unwrapKeyRequest"]["label"],
        "released"
    );
    let (_, t) = env.tasks(&approver, "filteredSignApprovalTask", json!({}));
    assert_eq!(t["tasks"], json!([]), "an unwrap is no sign task");
    assert_eq!(env.emu.secret_key_bytes("released"), None);
    env.approve(&approver, id);
    let st = env.wait_state(id, "EXECUTED");
    assert_eq!(st["result"], Value::Null);
    assert_eq!(env.emu.secret_key_bytes("released"), Some(vec![5u8; 32]));
}
