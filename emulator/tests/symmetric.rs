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

// ---- keys in plain: /v1/key/import/plain and /v1/key/export/plain ----------------------------

fn import(env: &Env, body: Value) -> (u16, Value) {
    env.post("/v1/key/import/plain", &body)
}

fn export(env: &Env, label: &str) -> (u16, Value) {
    env.post("/v1/key/export/plain", &json!({ "label": label }))
}

const USES: &str = r#"{"decrypt": true, "sign": false, "unwrap": true}"#;

fn uses(extra: Value) -> Value {
    let mut a: Value = serde_json::from_str(USES).unwrap();
    for (k, v) in extra.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

/// An imported AES key holds the bytes given, computes with them, reports that it was never
/// always sensitive nor never extractable, and comes back out only when extractable and not
/// sensitive.
#[test]
fn secret_keys_are_imported_and_exported_in_plain() {
    let env = start();
    let bytes: Vec<u8> = (0u8..32).collect();
    let (s, v) = import(
        &env,
        json!({"label": "imp", "algorithm": "AES", "secretKey": B64.encode(&bytes),
               "attributes": uses(json!({"extractable": true, "sensitive": false}))}),
    );
    assert_eq!(s, 201, "{v}");
    let a = &v["json"]["attributes"];
    assert_eq!(v["json"]["keySize"], 256);
    assert_eq!(
        (
            &a["extractable"],
            &a["sensitive"],
            &a["alwaysSensitive"],
            &a["neverExtractable"]
        ),
        (&json!(true), &json!(false), &json!(false), &json!(false)),
        "{v}"
    );
    assert_eq!(env.emu.secret_key_bytes("imp"), Some(bytes.clone()));
    let (s, v) = export(&env, "imp");
    assert_eq!(s, 200, "{v}");
    assert_eq!(field(&v, "secretKey"), bytes);
    assert!(v["privateKey"].is_null() && v["publicKey"].is_null(), "{v}");
    // The key computes with the imported bytes: a block encrypted by RustCrypto under them is
    // decrypted by the key.
    {
        use aes::cipher::block_padding::NoPadding;
        let iv = [7u8; 16];
        let pt = *b"0123456789abcdef";
        let ct = cbc::Encryptor::<aes::Aes256>::new_from_slices(&bytes, &iv)
            .unwrap()
            .encrypt_padded_vec_mut::<NoPadding>(&pt);
        let (s, v) = decrypt(
            &env,
            "imp",
            "AES_CBC_NO_PADDING",
            &ct,
            json!({"initializationVector": B64.encode(iv)}),
        );
        assert_eq!(s, 200, "{v}");
        assert_eq!(field(&v, "payload"), pt);
    }
    // The same label again: 608, as for POST /v1/key.
    let (s, v) = import(
        &env,
        json!({"label": "IMP", "algorithm": "AES", "secretKey": B64.encode(&bytes),
               "attributes": uses(json!({}))}),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(608)), "{v}");
    // Sensitive (the default) or not extractable: never exported.
    for (label, attrs) in [
        ("sens", json!({"extractable": true})),
        ("unextr", json!({"sensitive": false})),
    ] {
        let (s, v) = import(
            &env,
            json!({"label": label, "algorithm": "AES", "secretKey": B64.encode(&bytes[..16]),
                   "attributes": uses(attrs)}),
        );
        assert_eq!(s, 201, "{v}");
        let (s, v) = export(&env, label);
        assert_eq!(
            (s, v["errorCode"].as_i64()),
            (400, Some(614)),
            "{label}: {v}"
        );
    }
    // A generated key that asked for it is exported too.
    env.create_key(json!({
        "label": "gen", "algorithm": "AES", "keySize": 128,
        "attributes": uses(json!({"extractable": true, "sensitive": false}))
    }));
    assert_eq!(
        field(&export(&env, "gen").1, "secretKey"),
        env.emu.secret_key_bytes("gen").unwrap()
    );
    assert_eq!(export(&env, "nokey").1["errorCode"], 650);
}

/// What the DTO and the TSB's rules refuse.
#[test]
fn plain_imports_that_are_refused() {
    let env = start();
    let aes = |extra: Value| {
        let mut b = json!({"label": "x", "algorithm": "AES", "secretKey": B64.encode([0u8; 16]),
                           "attributes": uses(json!({}))});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        import(&env, b)
    };
    // A length that is no AES key's.
    let (s, v) = aes(json!({"secretKey": B64.encode([0u8; 15])}));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(603)), "{v}");
    // privateKey next to secretKey (@EmptyIfAnotherFieldHasValue).
    let (_, v) = aes(json!({"privateKey": B64.encode([0x30u8, 0])}));
    assert_eq!(v["errorCode"], 600, "{v}");
    // No label, no algorithm, no attributes.
    assert_eq!(aes(json!({"label": ""})).1["errorCode"], 600);
    assert_eq!(aes(json!({"algorithm": ""})).1["errorCode"], 600);
    assert_eq!(aes(json!({"attributes": null})).1["errorCode"], 600);
    // A secret key cannot have a policy; an SKA key cannot be extractable.
    let policy = json!({"ruleUse": null, "keyStatus": {"blocked": false}});
    assert_eq!(aes(json!({"policy": policy})).1["errorCode"], 600);
    let ec = openssl::ec::EcKey::generate(
        &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap(),
    )
    .unwrap();
    let pkey = openssl::pkey::PKey::from_ec_key(ec).unwrap();
    let pkcs8 = B64.encode(pkey.private_key_to_pkcs8().unwrap());
    let spki = B64.encode(pkey.public_key_to_der().unwrap());
    let (s, v) = import(
        &env,
        json!({"label": "ska", "algorithm": "EC", "privateKey": pkcs8, "publicKey": spki,
               "attributes": {"sign": true, "decrypt": false, "unwrap": false, "extractable": true},
               "policy": policy}),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(606)), "{v}");
    // A public key that is not the private key's; an EC key called RSA.
    let other = openssl::pkey::PKey::from_ec_key(
        openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let sign_only = json!({"sign": true, "decrypt": false, "unwrap": false});
    let (_, v) = import(
        &env,
        json!({"label": "mix", "algorithm": "EC", "privateKey": pkcs8,
               "publicKey": B64.encode(other.public_key_to_der().unwrap()),
               "attributes": sign_only}),
    );
    assert_eq!(v["errorCode"], 407, "{v}");
    let (_, v) = import(
        &env,
        json!({"label": "rsa", "algorithm": "RSA", "privateKey": pkcs8, "attributes": sign_only}),
    );
    assert_eq!(v["errorCode"], 407, "{v}");
    // The pair itself: imported, signs, and its public key is the one given.
    let (s, v) = import(
        &env,
        json!({"label": "pair", "algorithm": "EC", "privateKey": pkcs8, "publicKey": spki,
               "attributes": sign_only}),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["json"]["publicKey"], spki);
    let (s, v) = env.post(
        "/v1/synchronousSign",
        &sign_body("pair", "SHA256_WITH_ECDSA"),
    );
    assert_eq!(s, 200, "{v}");
    let sig = field(&v, "signature");
    let mut verifier =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &pkey).unwrap();
    let payload = B64
        .decode(
            sign_body("pair", "SHA256_WITH_ECDSA")["signRequest"]["payload"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    verifier.update(&payload).unwrap();
    assert!(verifier.verify(&sig).unwrap());
    // Not extractable: not exported.
    assert_eq!(export(&env, "pair").1["errorCode"], 614);
}
