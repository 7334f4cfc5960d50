//! AES and HMAC keys: creation and attributes, `/v1/encrypt`, AES on the decrypt endpoints
//! (synchronous and asynchronous), `/v1/synchronousHmac` and HMAC verification. The emulator
//! computes with OpenSSL; every result here is checked with RustCrypto (`aes`, `aes-gcm`, `cbc`,
//! `ecb`, `ctr`, `hmac`) using the key's bytes from `Emulator::secret_key_bytes`.

mod common;

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, StreamCipher};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use tsb_emulator::{EmulatorConfig, TsbVersion};

fn aes_key(env: &Env, label: &str, bits: u32) -> Value {
    env.create_key(json!({
        "label": label, "algorithm": "AES", "keySize": bits,
        "attributes": {"sign": false, "decrypt": true, "unwrap": false}
    }))
}

fn hmac_key(env: &Env, label: &str) -> Value {
    // The body of S2 `tsb/Tutorials/Mac/hmac.md`.
    env.create_key(json!({
        "label": label, "password": null, "algorithm": "HMACSHA256",
        "attributes": {"sign": true, "extractable": false, "modifiable": false,
                       "destroyable": false, "sensitive": true, "decrypt": false, "unwrap": false}
    }))
}

fn encrypt(env: &Env, key: &str, cipher: &str, pt: &[u8], extra: Value) -> (u16, Value) {
    let mut r =
        json!({"payload": B64.encode(pt), "encryptKeyName": key, "cipherAlgorithm": cipher});
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    env.post("/v1/encrypt", &json!({ "encryptRequest": r }))
}

fn decrypt(env: &Env, key: &str, cipher: &str, ct: &[u8], extra: Value) -> (u16, Value) {
    let mut r = json!({"encryptedPayload": B64.encode(ct), "decryptKeyName": key, "cipherAlgorithm": cipher});
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    env.post("/v1/synchronousDecrypt", &json!({ "decryptRequest": r }))
}

fn gcm_nonce(iv: &[u8]) -> aes_gcm::Nonce<aes_gcm::aead::consts::U12> {
    <[u8; 12]>::try_from(iv).expect("a 12-byte IV").into()
}

fn field(v: &Value, name: &str) -> Vec<u8> {
    B64.decode(v[name].as_str().unwrap_or_else(|| panic!("{name} in {v}")))
        .unwrap()
}

/// AES-128/192/256 and HMACSHA256 keys: attributes as the TSB reports them, without a public
/// key; sizes, policies and versions refused as documented.
#[test]
fn secret_keys_and_their_attributes() {
    let env = start();
    for bits in [128, 192, 256] {
        let v = aes_key(&env, &format!("aes-{bits}"), bits);
        let j = &v["json"];
        assert_eq!(j["algorithm"], "AES");
        assert_eq!(j["keySize"], bits);
        assert_eq!(j["publicKey"], Value::Null);
        assert!(
            j["algorithmOid"].is_string(),
            "S1 GetKey reads it as a string"
        );
        assert_eq!(
            env.emu
                .secret_key_bytes(&format!("aes-{bits}"))
                .map(|k| k.len()),
            Some(bits as usize / 8)
        );
    }
    let v = hmac_key(&env, "mac");
    assert_eq!(v["json"]["algorithm"], "HMACSHA256");
    assert_eq!(v["json"]["publicKey"], Value::Null);
    assert_eq!(env.emu.secret_key_bytes("mac").map(|k| k.len()), Some(32));
    let refused = |body: Value, code: i64| {
        let (s, v) = env.post("/v1/key", &body);
        assert_eq!(v["errorCode"], code, "{s} {v}");
    };
    let attrs = json!({"sign": false, "decrypt": true, "unwrap": false});
    refused(
        json!({"label": "x", "algorithm": "AES", "keySize": 512, "attributes": attrs}),
        603,
    );
    refused(
        json!({"label": "x", "algorithm": "AES", "attributes": attrs}),
        603,
    );
    // "Only Asymmetric keys can have a policy" (S3 `PolicyDto.java`).
    let a = Approver::ec();
    let policy = use_policy(vec![token(0, 0, vec![(1, vec![&a])])]);
    refused(
        json!({"label": "x", "algorithm": "AES", "keySize": 256, "attributes": attrs, "policy": policy}),
        600,
    );
    // HMAC keys and the endpoint came with TSB 2.0.1.
    let old = start_with(EmulatorConfig {
        tsb_version: TsbVersion::V2_0_0,
        ..EmulatorConfig::default()
    });
    let (s, v) = old.post(
        "/v1/key",
        &json!({"label": "m", "algorithm": "HMACSHA256", "attributes": {"sign": true, "decrypt": false, "unwrap": false}}),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(607)), "{v}");
    let (s, _) = old.post(
        "/v1/synchronousHmac",
        &json!({"hmacRequest": {"keyName": "m", "payload": "YXNk"}}),
    );
    assert_eq!(s, 404);
    // AES is there in every profile.
    aes_key(&old, "aes", 256);
}

/// Every AES cipher name, in both directions against RustCrypto: the emulator's ciphertext
/// decrypts locally, and a local ciphertext decrypts on the emulator.
#[test]
fn aes_ciphers_match_rustcrypto() {
    type Cbc256E = cbc::Encryptor<aes::Aes256>;
    type Cbc256D = cbc::Decryptor<aes::Aes256>;
    type Ecb256E = ecb::Encryptor<aes::Aes256>;
    type Ecb256D = ecb::Decryptor<aes::Aes256>;
    type Ctr256 = ctr::Ctr128BE<aes::Aes256>;
    use aes::cipher::block_padding::{NoPadding, Pkcs7};
    let env = start();
    aes_key(&env, "k", 256);
    let key = env.emu.secret_key_bytes("k").unwrap();
    let pt = b"0123456789abcdef-and-some-more!!".to_vec(); // 32 bytes
    for cipher in ["AES", "AES_CBC_NO_PADDING", "AES_ECB", "AES_CTR"] {
        let (s, v) = encrypt(&env, "k", cipher, &pt, json!({}));
        assert_eq!(s, 200, "{cipher}: {v}");
        let ct = field(&v, "encryptedPayload");
        assert_eq!(
            field(&v, "encryptedPayloadWithoutMessageAuthenticationCode"),
            ct
        );
        assert_eq!(v["messageAuthenticationCode"], Value::Null);
        let iv = v["initializationVector"]
            .as_str()
            .map(|s| B64.decode(s).unwrap());
        let local = match cipher {
            "AES" => Cbc256D::new_from_slices(&key, iv.as_ref().unwrap())
                .unwrap()
                .decrypt_padded_vec_mut::<Pkcs7>(&ct)
                .unwrap(),
            "AES_CBC_NO_PADDING" => Cbc256D::new_from_slices(&key, iv.as_ref().unwrap())
                .unwrap()
                .decrypt_padded_vec_mut::<NoPadding>(&ct)
                .unwrap(),
            "AES_ECB" => {
                assert_eq!(iv, None, "ECB has no IV");
                Ecb256D::new_from_slice(&key)
                    .unwrap()
                    .decrypt_padded_vec_mut::<Pkcs7>(&ct)
                    .unwrap()
            }
            _ => {
                let mut buf = ct.clone();
                Ctr256::new_from_slices(&key, iv.as_ref().unwrap())
                    .unwrap()
                    .apply_keystream(&mut buf);
                buf
            }
        };
        assert_eq!(local, pt, "{cipher}");
        // The other direction: a local ciphertext with a local IV.
        let my_iv = [9u8; 16];
        let local_ct = match cipher {
            "AES" => Cbc256E::new_from_slices(&key, &my_iv)
                .unwrap()
                .encrypt_padded_vec_mut::<Pkcs7>(&pt),
            "AES_CBC_NO_PADDING" => Cbc256E::new_from_slices(&key, &my_iv)
                .unwrap()
                .encrypt_padded_vec_mut::<NoPadding>(&pt),
            "AES_ECB" => Ecb256E::new_from_slice(&key)
                .unwrap()
                .encrypt_padded_vec_mut::<Pkcs7>(&pt),
            _ => {
                let mut buf = pt.clone();
                Ctr256::new_from_slices(&key, &my_iv)
                    .unwrap()
                    .apply_keystream(&mut buf);
                buf
            }
        };
        let extra = if cipher == "AES_ECB" {
            json!({})
        } else {
            json!({"initializationVector": B64.encode(my_iv)})
        };
        let (s, v) = decrypt(&env, "k", cipher, &local_ct, extra);
        assert_eq!(s, 200, "{cipher}: {v}");
        assert_eq!(field(&v, "payload"), pt, "{cipher}");
    }
    // Unpadded modes need whole blocks (612); a wrong IV length does not decrypt (410).
    let (s, v) = encrypt(&env, "k", "AES_CBC_NO_PADDING", &[1; 15], json!({}));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(612)), "{v}");
    let (s, v) = decrypt(
        &env,
        "k",
        "AES",
        &[0; 16],
        json!({"initializationVector": B64.encode([0u8; 8])}),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(410)), "{v}");
    // An RSA name on an AES key, and a name the emulator has no key for.
    let (s, v) = encrypt(&env, "k", "RSA_PADDING_OAEP_WITH_SHA256", &pt, json!({}));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(607)), "{v}");
    let (s, v) = encrypt(&env, "k", "CHACHA20", &pt, json!({}));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(607)), "{v}");
}

/// AES-GCM as S2 `EncryptDecrypt.md` shows it: a 12-byte IV from the TSB, `encryptedPayload` =
/// ciphertext ‖ tag, the tag also alone; tag lengths and AAD as the request says; checked with
/// `aes-gcm`.
#[test]
fn aes_gcm_matches_rustcrypto() {
    let env = start();
    aes_key(&env, "g", 128);
    let key = env.emu.secret_key_bytes("g").unwrap();
    let gcm = aes_gcm::Aes128Gcm::new_from_slice(&key).unwrap();
    let pt = b"EncryptDecryptDemo";
    // The docs' body: tagLength 128, no AAD.
    let (s, v) = encrypt(&env, "g", "AES_GCM", pt, json!({"tagLength": 128}));
    assert_eq!(s, 200, "{v}");
    let ct = field(&v, "encryptedPayload");
    let iv = field(&v, "initializationVector");
    let tag = field(&v, "messageAuthenticationCode");
    let without = field(&v, "encryptedPayloadWithoutMessageAuthenticationCode");
    assert_eq!((iv.len(), tag.len(), ct.len()), (12, 16, pt.len() + 16));
    assert_eq!([without.as_slice(), tag.as_slice()].concat(), ct);
    let nonce = gcm_nonce(&iv);
    assert_eq!(gcm.decrypt(&nonce, ct.as_slice()).unwrap(), pt);
    // With AAD; the decrypt body of the docs (IV from the answer).
    let aad = b"header";
    let (s, v) = encrypt(
        &env,
        "g",
        "AES_GCM",
        pt,
        json!({"tagLength": 128, "additionalAuthenticationData": B64.encode(aad)}),
    );
    assert_eq!(s, 200, "{v}");
    let ct = field(&v, "encryptedPayload");
    let iv = field(&v, "initializationVector");
    let nonce = gcm_nonce(&iv);
    assert_eq!(gcm.decrypt(&nonce, Payload { msg: &ct, aad }).unwrap(), pt);
    assert!(
        gcm.decrypt(&nonce, ct.as_slice()).is_err(),
        "the AAD is authenticated"
    );
    // A local ciphertext decrypts on the emulator; a changed byte does not (410).
    let my_iv = [3u8; 12];
    let local = gcm
        .encrypt(&gcm_nonce(&my_iv), Payload { msg: pt, aad })
        .unwrap();
    let body = json!({"initializationVector": B64.encode(my_iv), "tagLength": 128,
                      "additionalAuthenticationData": B64.encode(aad)});
    let (s, v) = decrypt(&env, "g", "AES_GCM", &local, body.clone());
    assert_eq!((s, field(&v, "payload")), (200, pt.to_vec()), "{v}");
    let mut bad = local.clone();
    bad[0] ^= 1;
    let (s, v) = decrypt(&env, "g", "AES_GCM", &bad, body);
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(410)), "{v}");
    // A shorter tag (96 bits) is honoured; an unsupported one is 624.
    let (s, v) = encrypt(&env, "g", "AES_GCM", pt, json!({"tagLength": 96}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(field(&v, "messageAuthenticationCode").len(), 12);
    let (s, v) = decrypt(
        &env,
        "g",
        "AES_GCM",
        &field(&v, "encryptedPayload"),
        json!({"initializationVector": v["initializationVector"], "tagLength": 96}),
    );
    assert_eq!((s, field(&v, "payload")), (200, pt.to_vec()), "{v}");
    let (s, v) = encrypt(&env, "g", "AES_GCM", pt, json!({"tagLength": 100}));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(624)), "{v}");
}

/// `/v1/decrypt` with an AES key (S1 `encrypt.go` `AsyncDecrypt` sends the IV, AAD and tag
/// length): a plain key's request executes at once and its result is the plaintext.
#[test]
fn asynchronous_aes_decrypt() {
    let env = start();
    aes_key(&env, "a", 256);
    let (s, v) = encrypt(&env, "a", "AES_GCM", b"secret", json!({"tagLength": 128}));
    assert_eq!(s, 200, "{v}");
    let (s, r) = env.post(
        "/v1/decrypt",
        &json!({"decryptRequest": {"encryptedPayload": v["encryptedPayload"], "decryptKeyName": "a",
                "cipherAlgorithm": "AES_GCM", "initializationVector": v["initializationVector"],
                "tagLength": 128, "metaData": B64.encode(b"{}")}}),
    );
    assert_eq!(s, 201, "{r}");
    let st = env.wait_state(r["decryptRequestId"].as_str().unwrap(), "EXECUTED");
    assert_eq!(
        B64.decode(st["result"].as_str().unwrap()).unwrap(),
        b"secret"
    );
    // Without `encrypt` explicitly false the key encrypts (S2 `EncryptDecrypt.md` sets none);
    // `encrypt: false` is refused (614).
    env.create_key(json!({"label": "noenc", "algorithm": "AES", "keySize": 128,
        "attributes": {"encrypt": false, "sign": false, "decrypt": true, "unwrap": false}}));
    let (s, v) = encrypt(&env, "noenc", "AES", b"x", json!({}));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(614)), "{v}");
}

/// `/v1/encrypt` with an RSA key (S1 `encrypt_test.go` encrypts with every RSA cipher name):
/// the emulator's own decryption recovers the plaintext; `RSA_NO_PADDING` returns the whole
/// left-zero-padded block (S1 `README.md`).
#[test]
fn rsa_encrypt_round_trip() {
    let env = start();
    // With `encrypt` set, as S1 `encrypt_test.go` creates it (public-key flags on asymmetric
    // keys since TSB 1.15.1).
    env.create_key(json!({"label": "r", "algorithm": "RSA", "keySize": 2048,
        "attributes": {"encrypt": true, "sign": false, "decrypt": true, "unwrap": false}}));
    let pt = b"0123456789abcdef";
    for cipher in [
        "RSA",
        "RSA_PADDING_OAEP",
        "RSA_PADDING_OAEP_WITH_SHA256",
        "RSA_NO_PADDING",
    ] {
        let (s, v) = encrypt(&env, "r", cipher, pt, json!({}));
        assert_eq!(s, 200, "{cipher}: {v}");
        assert_eq!(v["initializationVector"], Value::Null);
        let (s, d) = decrypt(&env, "r", cipher, &field(&v, "encryptedPayload"), json!({}));
        assert_eq!(s, 200, "{cipher}: {d}");
        let out = field(&d, "payload");
        if cipher == "RSA_NO_PADDING" {
            assert_eq!(out.len(), 256);
            assert_eq!(&out[240..], pt);
            assert!(out[..240].iter().all(|b| *b == 0));
        } else {
            assert_eq!(out, pt, "{cipher}");
        }
    }
}

/// HMAC-SHA-256 as S2 `tsb/Tutorials/Mac/hmac.md`: `keyedHash` checked with RustCrypto `hmac`,
/// verification through `verifyHmacRequest` on `/v1/verify`.
#[test]
fn hmac_matches_rustcrypto() {
    use hmac::Mac;
    let env = start();
    hmac_key(&env, "mac");
    let key = env.emu.secret_key_bytes("mac").unwrap();
    let (s, v) = env.post(
        "/v1/synchronousHmac",
        &json!({"hmacRequest": {"keyName": "mac", "payload": "YXNk"}}),
    );
    assert_eq!(s, 200, "{v}");
    let mac = field(&v, "keyedHash");
    let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&key).unwrap();
    m.update(b"asd");
    assert_eq!(mac, m.finalize().into_bytes().to_vec());
    let verify = |payload: &str, sig: &str| {
        let (s, v) = env.post(
            "/v1/verify",
            &json!({"verifyHmacRequest": {"keyName": "mac", "payload": payload, "signature": sig}}),
        );
        assert_eq!(s, 200, "{v}");
        v["signatureValid"].as_bool().unwrap()
    };
    assert!(verify("YXNk", v["keyedHash"].as_str().unwrap()));
    assert!(!verify("YXNl", v["keyedHash"].as_str().unwrap()));
    // An AES key does not compute HMACs (607); unknown fields are refused (600).
    env.create_key(json!({"label": "aes", "algorithm": "AES", "keySize": 256,
        "attributes": {"sign": true, "decrypt": true, "unwrap": false}}));
    let (s, v) = env.post(
        "/v1/synchronousHmac",
        &json!({"hmacRequest": {"keyName": "aes", "payload": "YXNk"}}),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(607)), "{v}");
    let (s, v) = env.post(
        "/v1/synchronousHmac",
        &json!({"hmacRequest": {"keyName": "mac", "payload": "YXNk", "algorithm": "SHA256"}}),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(600)), "{v}");
}
