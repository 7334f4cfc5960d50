//! Secret keys (issue 16): C_GenerateKey for AES and HMAC keys in the TSB, their CKO_SECRET_KEY
//! objects, AES-GCM/CBC/CBC-PAD encryption and decryption, HMAC-SHA-256 signatures, each result
//! checked with OpenSSL against the key's bytes (which the emulator reveals to tests only:
//! `Emulator::secret_key_bytes`; a real TSB never does).

use super::*;
use crate::mechanism::aes::{GcmParams, Iv, IvSink};
use crate::token::AttrValue;
use openssl::symm::{self, Cipher};
use std::sync::{Arc, Mutex};

fn ul(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Attr {
    Attr::new(ty, v.to_ne_bytes().to_vec())
}
fn a(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Attr {
    Attr::new(ty, v.to_vec())
}

fn genkey(
    w: &World,
    s: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    attrs: &[Attr],
) -> Result<CK_OBJECT_HANDLE> {
    w.m.with_session(s, |sess| {
        w.m.generate_key(sess, mech, &Template::new(attrs.to_vec()))
    })
}

/// A token AES key of `len` bytes labelled `label`.
fn aes_key(w: &World, s: CK_SESSION_HANDLE, label: &str, len: CK_ULONG) -> CK_OBJECT_HANDLE {
    genkey(
        w,
        s,
        CKM_AES_KEY_GEN,
        &[
            ul(CKA_VALUE_LEN, len),
            a(CKA_TOKEN, &[1]),
            a(CKA_LABEL, label.as_bytes()),
        ],
    )
    .expect("AES keygen")
}

fn attr(w: &World, s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> AttrValue {
    w.m.with_session(s, |sess| w.m.attributes(sess, h, &[ty]))
        .expect("attributes")
        .remove(0)
}

fn find(w: &World, s: CK_SESSION_HANDLE, attrs: &[Attr]) -> Vec<CK_OBJECT_HANDLE> {
    w.m.with_session(s, |sess| w.m.find(sess, &Template::new(attrs.to_vec())))
        .expect("find")
}

/// An IV buffer of zeros, and what the module writes into it.
fn iv_buffer(len: usize) -> (Iv, Arc<Mutex<Vec<u8>>>) {
    let cell = Arc::new(Mutex::new(vec![0u8; len]));
    let c = cell.clone();
    let iv = Iv {
        bytes: vec![0; len],
        sink: Some(IvSink::new(move |v| *c.lock().unwrap() = v.to_vec())),
    };
    (iv, cell)
}

fn gcm(iv: Iv, aad: &[u8], tag_bits: CK_ULONG) -> MechParams {
    MechParams::Gcm(GcmParams {
        iv,
        aad: aad.to_vec(),
        tag_bits,
    })
}

fn encrypt(
    w: &World,
    s: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    p: &MechParams,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
) -> Result<Vec<u8>> {
    w.m.with_session(s, |sess| w.m.encrypt_init(sess, mech, p, key))?;
    w.m.with_operation(s, OpKind::Encrypt, |sess| {
        w.m.encrypt(sess, data, Some(1 << 20))
    })
    .map(data_of)
}

fn decrypt(
    w: &World,
    s: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    p: &MechParams,
    key: CK_OBJECT_HANDLE,
    data: &[u8],
) -> Result<Vec<u8>> {
    w.m.with_session(s, |sess| w.m.decrypt_init(sess, mech, p, key))?;
    w.m.with_operation(s, OpKind::Decrypt, |sess| {
        w.m.decrypt(sess, data, Some(1 << 20))
    })
    .map(data_of)
}

fn data_of(o: Output) -> Vec<u8> {
    data(o)
}

fn openssl_cipher(mech: CK_MECHANISM_TYPE, len: usize) -> Cipher {
    match (mech, len) {
        (CKM_AES_GCM, 16) => Cipher::aes_128_gcm(),
        (CKM_AES_GCM, 24) => Cipher::aes_192_gcm(),
        (CKM_AES_GCM, 32) => Cipher::aes_256_gcm(),
        (_, 16) => Cipher::aes_128_cbc(),
        (_, 24) => Cipher::aes_192_cbc(),
        _ => Cipher::aes_256_cbc(),
    }
}

#[test]
fn aes_keys_are_generated_in_the_tsb_and_shown_as_secret_keys() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    for len in [16, 24, 32] {
        let label = format!("aes{len}");
        let h = aes_key(&w, s, &label, len);
        // The TSB holds a key of that size (checked behind the module's back).
        assert_eq!(
            w.emu.secret_key_bytes(&label).map(|k| k.len()),
            Some(len as usize)
        );
        let found = find(
            &w,
            s,
            &[
                ul(CKA_CLASS, CKO_SECRET_KEY),
                a(CKA_LABEL, label.as_bytes()),
            ],
        );
        assert_eq!(found, vec![h]);
        let v = |ty| attr(&w, s, h, ty);
        assert_eq!(
            v(CKA_CLASS),
            AttrValue::Value(CKO_SECRET_KEY.to_ne_bytes().to_vec())
        );
        assert_eq!(
            v(CKA_KEY_TYPE),
            AttrValue::Value(CKK_AES.to_ne_bytes().to_vec())
        );
        assert_eq!(
            v(CKA_VALUE_LEN),
            AttrValue::Value(len.to_ne_bytes().to_vec())
        );
        assert_eq!(v(CKA_VALUE), AttrValue::Sensitive);
        assert_eq!(v(CKA_SENSITIVE), AttrValue::Value(vec![CK_TRUE]));
        assert_eq!(v(CKA_EXTRACTABLE), AttrValue::Value(vec![CK_FALSE]));
        assert_eq!(v(CKA_TOKEN), AttrValue::Value(vec![CK_TRUE]));
        for (ty, want) in [
            (CKA_ENCRYPT, CK_TRUE),
            (CKA_DECRYPT, CK_TRUE),
            (CKA_WRAP, CK_TRUE),
            (CKA_UNWRAP, CK_TRUE),
            (CKA_SIGN, CK_FALSE),
            (CKA_VERIFY, CK_FALSE),
        ] {
            assert_eq!(v(ty), AttrValue::Value(vec![want]), "0x{ty:x}");
        }
        assert_eq!(v(CKA_MODULUS), AttrValue::Invalid);
    }
    // Listed once, as a secret key: no public key, private key or certificate of it.
    let all = find(&w, s, &[]);
    assert_eq!(all.len(), 3);
    assert!(find(&w, s, &[ul(CKA_CLASS, CKO_PRIVATE_KEY)]).is_empty());
    assert!(find(&w, s, &[ul(CKA_CLASS, CKO_PUBLIC_KEY)]).is_empty());
    assert_eq!(find(&w, s, &[ul(CKA_CLASS, CKO_SECRET_KEY)]).len(), 3);
    // A size the TSB does not make is refused before any request.
    let before = w.count("POST", "/v1/key");
    let e = genkey(&w, s, CKM_AES_KEY_GEN, &[ul(CKA_VALUE_LEN, 20)]).unwrap_err();
    assert_eq!(e.rv(), CKR_KEY_SIZE_RANGE);
    let e = genkey(&w, s, CKM_AES_KEY_GEN, &[]).unwrap_err();
    assert_eq!(e.rv(), CKR_TEMPLATE_INCOMPLETE);
    assert_eq!(w.count("POST", "/v1/key"), before);
}

#[test]
fn a_session_secret_key_lives_in_the_tsb_until_its_session_closes() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let h = genkey(
        &w,
        s,
        CKM_AES_KEY_GEN,
        &[ul(CKA_VALUE_LEN, 32), a(CKA_LABEL, b"temp")],
    )
    .expect("session AES key");
    assert_eq!(attr(&w, s, h, CKA_TOKEN), AttrValue::Value(vec![CK_FALSE]));
    assert_eq!(
        attr(&w, s, h, CKA_LABEL),
        AttrValue::Value(b"temp".to_vec())
    );
    assert_eq!(attr(&w, s, h, CKA_VALUE), AttrValue::Sensitive);
    assert_eq!(
        attr(&w, s, h, CKA_CLASS),
        AttrValue::Value(CKO_SECRET_KEY.to_ne_bytes().to_vec())
    );
    let labels = w.tsb_labels();
    assert_eq!(labels.len(), 1, "generated in the TSB: {labels:?}");
    // It encrypts (a session key is a TSB key like any other).
    let (iv, _) = iv_buffer(12);
    encrypt(&w, s, CKM_AES_GCM, &gcm(iv, b"", 128), h, b"x").expect("encrypt");
    w.m.close_session(s).expect("close");
    assert!(w.tsb_labels().is_empty(), "deleted with its session");
}

#[test]
fn hmac_keys_need_tsb_2_0_1_and_the_mechanism_list_says_so() {
    let old = World::with_emulator(
        tsb_emulator::EmulatorConfig {
            tsb_version: tsb_models::TsbVersion::V1_18_0,
            ..Default::default()
        },
        serde_json::json!({"tsb_version": "1.18.0"}),
    );
    let s = old.session();
    let e = genkey(&old, s, CKM_GENERIC_SECRET_KEY_GEN, &[a(CKA_TOKEN, &[1])]).unwrap_err();
    assert_eq!(e.rv(), CKR_MECHANISM_INVALID);
    assert_eq!(
        old.count("POST", "/v1/key"),
        0,
        "refused before any request"
    );
    let list = old.m.mechanism_list(0).unwrap();
    assert!(list.contains(&CKM_AES_KEY_GEN) && list.contains(&CKM_AES_GCM));
    assert!(!list.contains(&CKM_SHA256_HMAC) && !list.contains(&CKM_GENERIC_SECRET_KEY_GEN));
    assert_eq!(
        old.m.mechanism_info(0, CKM_SHA256_HMAC).unwrap_err().rv(),
        CKR_MECHANISM_INVALID
    );
    let new = World::new(serde_json::json!({"tsb_version": "2.2.0"}));
    let list = new.m.mechanism_list(0).unwrap();
    assert!(list.contains(&CKM_SHA256_HMAC) && list.contains(&CKM_GENERIC_SECRET_KEY_GEN));
}

#[test]
fn aes_gcm_round_trips_and_openssl_agrees() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let plain = b"the master key of a secrets manager".to_vec();
    let aad = b"header".to_vec();
    for (len, tag_bits) in [(16, 128), (24, 96), (32, 64)] {
        let label = format!("gcm{len}");
        let h = aes_key(&w, s, &label, len);
        let key = w.emu.secret_key_bytes(&label).expect("key bytes");
        let (iv, written) = iv_buffer(12);
        let ct = encrypt(&w, s, CKM_AES_GCM, &gcm(iv, &aad, tag_bits), h, &plain).expect("encrypt");
        let tag_len = tag_bits as usize / 8;
        assert_eq!(ct.len(), plain.len() + tag_len);
        let iv = written.lock().unwrap().clone();
        assert_ne!(iv, vec![0; 12], "the TSB's IV was written back");
        // OpenSSL decrypts it with the IV the module wrote back.
        let (body, tag) = ct.split_at(plain.len());
        let c = openssl_cipher(CKM_AES_GCM, len as usize);
        let mine = symm::decrypt_aead(c, &key, Some(&iv), &aad, body, tag).expect("OpenSSL");
        assert_eq!(mine, plain);
        // The module decrypts what OpenSSL encrypted under an IV of the caller's choice.
        let my_iv = [7u8; 12];
        let mut my_tag = vec![0; tag_len];
        let my_ct = symm::encrypt_aead(c, &key, Some(&my_iv), &aad, &plain, &mut my_tag).unwrap();
        let given = Iv {
            bytes: my_iv.to_vec(),
            sink: None,
        };
        let input = [my_ct.clone(), my_tag.clone()].concat();
        let back = decrypt(
            &w,
            s,
            CKM_AES_GCM,
            &gcm(given.clone(), &aad, tag_bits),
            h,
            &input,
        )
        .expect("decrypt");
        assert_eq!(back, plain);
        // A wrong AAD fails the tag: no plaintext.
        let e = decrypt(
            &w,
            s,
            CKM_AES_GCM,
            &gcm(given, b"other", tag_bits),
            h,
            &input,
        );
        assert!(e.is_err());
    }
}

#[test]
fn an_iv_of_the_callers_choice_is_refused_for_encryption() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let h = aes_key(&w, s, "k", 32);
    let chosen = Iv {
        bytes: vec![1; 12],
        sink: Some(IvSink::new(|_| {})),
    };
    let e =
        w.m.with_session(s, |sess| {
            w.m.encrypt_init(sess, CKM_AES_GCM, &gcm(chosen, b"", 128), h)
        })
        .unwrap_err();
    assert_eq!(e.rv(), CKR_MECHANISM_PARAM_INVALID);
    let cbc = MechParams::Iv(Iv {
        bytes: vec![9; 16],
        sink: Some(IvSink::new(|_| {})),
    });
    let e =
        w.m.with_session(s, |sess| w.m.encrypt_init(sess, CKM_AES_CBC_PAD, &cbc, h))
            .unwrap_err();
    assert_eq!(e.rv(), CKR_MECHANISM_PARAM_INVALID);
    assert_eq!(w.count("POST", "/v1/encrypt"), 0);
}

#[test]
fn aes_cbc_and_cbc_pad_single_and_multi_part_match_openssl() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let h = aes_key(&w, s, "cbc", 32);
    let key = w.emu.secret_key_bytes("cbc").expect("key bytes");
    for (mech, plain) in [
        (CKM_AES_CBC_PAD, b"seventeen bytes!!".to_vec()),
        (CKM_AES_CBC_PAD, vec![0x42; 32]),
        (CKM_AES_CBC, vec![0x17; 48]),
    ] {
        let padded = mech == CKM_AES_CBC_PAD;
        // Multi-part encryption: the parts are collected, the Final call returns it all.
        let sent = w.count("POST", "/v1/encrypt");
        let (iv, written) = iv_buffer(16);
        let p = MechParams::Iv(iv);
        w.m.with_session(s, |sess| w.m.encrypt_init(sess, mech, &p, h))
            .unwrap();
        let (a_, b_) = plain.split_at(16);
        for part in [a_, b_] {
            let o =
                w.m.with_operation(s, OpKind::Encrypt, |sess| {
                    w.m.encrypt_update(sess, part, Some(64))
                })
                .unwrap();
            assert_eq!(o, Output::Data(vec![]));
        }
        let want = if padded {
            plain.len() / 16 * 16 + 16
        } else {
            plain.len()
        };
        let q =
            w.m.with_operation(s, OpKind::Encrypt, |sess| w.m.encrypt_final(sess, None))
                .unwrap();
        assert_eq!(q, Output::Len(want), "length query from the input");
        assert_eq!(
            w.count("POST", "/v1/encrypt"),
            sent,
            "a length query sends nothing"
        );
        let ct = data(
            w.m.with_operation(s, OpKind::Encrypt, |sess| {
                w.m.encrypt_final(sess, Some(want))
            })
            .unwrap(),
        );
        assert_eq!(ct.len(), want);
        let iv = written.lock().unwrap().clone();
        let cipher = Cipher::aes_256_cbc();
        let mut dec = symm::Crypter::new(cipher, symm::Mode::Decrypt, &key, Some(&iv)).unwrap();
        dec.pad(padded);
        let mut out = vec![0; ct.len() + 16];
        let mut n = dec.update(&ct, &mut out).unwrap();
        n += dec.finalize(&mut out[n..]).unwrap();
        assert_eq!(
            &out[..n],
            &plain[..],
            "OpenSSL decrypts it with the written-back IV"
        );
        // Single-part decryption of OpenSSL's ciphertext under the caller's IV.
        let my_iv = [3u8; 16];
        let mut enc = symm::Crypter::new(cipher, symm::Mode::Encrypt, &key, Some(&my_iv)).unwrap();
        enc.pad(padded);
        let mut mine = vec![0; plain.len() + 32];
        let mut m = enc.update(&plain, &mut mine).unwrap();
        m += enc.finalize(&mut mine[m..]).unwrap();
        mine.truncate(m);
        let given = MechParams::Iv(Iv {
            bytes: my_iv.to_vec(),
            sink: None,
        });
        assert_eq!(decrypt(&w, s, mech, &given, h, &mine).unwrap(), plain);
    }
    // CKM_AES_CBC takes whole blocks: refused before any request.
    let before = w.count("POST", "/v1/encrypt");
    let (iv, _) = iv_buffer(16);
    let e = encrypt(&w, s, CKM_AES_CBC, &MechParams::Iv(iv), h, b"short").unwrap_err();
    assert_eq!(e.rv(), CKR_DATA_LEN_RANGE);
    assert_eq!(w.count("POST", "/v1/encrypt"), before);
}

#[test]
fn a_too_small_buffer_keeps_the_ciphertext_and_sends_nothing_again() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let h = aes_key(&w, s, "k", 16);
    let (iv, _) = iv_buffer(12);
    let p = gcm(iv, b"", 128);
    w.m.with_session(s, |sess| w.m.encrypt_init(sess, CKM_AES_GCM, &p, h))
        .unwrap();
    let call = |cap| {
        w.m.with_operation(s, OpKind::Encrypt, |sess| w.m.encrypt(sess, b"abc", cap))
    };
    assert_eq!(call(None).unwrap(), Output::Len(19));
    assert_eq!(call(Some(4)).unwrap(), Output::TooSmall(19));
    assert_eq!(call(None).unwrap(), Output::Len(19));
    let ct = data(call(Some(19)).unwrap());
    assert_eq!(ct.len(), 19);
    assert_eq!(
        w.count("POST", "/v1/encrypt"),
        1,
        "one request for all those calls"
    );
    assert_eq!(rv(call(Some(19))), CKR_OPERATION_NOT_INITIALIZED);
}

#[test]
fn hmac_sha256_matches_openssl_and_verifies() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let h = genkey(
        &w,
        s,
        CKM_GENERIC_SECRET_KEY_GEN,
        &[
            ul(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
            a(CKA_TOKEN, &[1]),
            a(CKA_LABEL, b"mac"),
        ],
    )
    .expect("HMAC keygen");
    assert_eq!(
        attr(&w, s, h, CKA_KEY_TYPE),
        AttrValue::Value(CKK_GENERIC_SECRET.to_ne_bytes().to_vec())
    );
    assert_eq!(attr(&w, s, h, CKA_SIGN), AttrValue::Value(vec![CK_TRUE]));
    assert_eq!(
        attr(&w, s, h, CKA_ENCRYPT),
        AttrValue::Value(vec![CK_FALSE])
    );
    let key = w.emu.secret_key_bytes("mac").expect("key bytes");
    assert_eq!(key.len(), 32);
    let pkey = openssl::pkey::PKey::hmac(&key).unwrap();
    let mut signer =
        openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &pkey).unwrap();
    let expected = signer.sign_oneshot_to_vec(b"message").unwrap();
    let sign = |mech, p: &MechParams| {
        w.m.with_session(s, |sess| w.m.sign_init(sess, mech, p, h))
            .unwrap();
        data(
            w.m.with_operation(s, OpKind::Sign, |sess| {
                w.m.sign(sess, Some(b"message"), Some(64))
            })
            .unwrap(),
        )
    };
    assert_eq!(sign(CKM_SHA256_HMAC, &MechParams::None), expected);
    assert_eq!(
        sign(CKM_SHA256_HMAC_GENERAL, &MechParams::MacLen(16)),
        expected[..16].to_vec()
    );
    // Multi-part, and verification.
    w.m.with_session(s, |sess| {
        w.m.sign_init(sess, CKM_SHA256_HMAC, &MechParams::None, h)
    })
    .unwrap();
    for part in [&b"mess"[..], b"age"] {
        w.m.with_operation(s, OpKind::Sign, |sess| w.m.sign_update(sess, part))
            .unwrap();
    }
    let mac = data(
        w.m.with_operation(s, OpKind::Sign, |sess| w.m.sign(sess, None, Some(32)))
            .unwrap(),
    );
    assert_eq!(mac, expected);
    let verify = |p: &MechParams, mech, sig: &[u8]| {
        w.m.with_session(s, |sess| w.m.verify_init(sess, mech, p, h))?;
        w.m.with_operation(s, OpKind::Verify, |sess| {
            w.m.verify(sess, Some(b"message"), sig)
        })
    };
    verify(&MechParams::None, CKM_SHA256_HMAC, &expected).expect("verifies");
    verify(
        &MechParams::MacLen(16),
        CKM_SHA256_HMAC_GENERAL,
        &expected[..16],
    )
    .expect("truncated");
    let mut bad = expected.clone();
    bad[0] ^= 1;
    assert_eq!(
        rv(verify(&MechParams::None, CKM_SHA256_HMAC, &bad)),
        CKR_SIGNATURE_INVALID
    );
    assert_eq!(
        rv(verify(&MechParams::None, CKM_SHA256_HMAC, &expected[..31])),
        CKR_SIGNATURE_LEN_RANGE
    );
    // An AES key does not make MACs, an HMAC key does not encrypt.
    let aes = aes_key(&w, s, "aes", 16);
    let e =
        w.m.with_session(s, |sess| {
            w.m.sign_init(sess, CKM_SHA256_HMAC, &MechParams::None, aes)
        })
        .unwrap_err();
    assert_eq!(e.rv(), CKR_KEY_TYPE_INCONSISTENT);
    let (iv, _) = iv_buffer(12);
    let e =
        w.m.with_session(s, |sess| {
            w.m.encrypt_init(sess, CKM_AES_GCM, &gcm(iv, b"", 128), h)
        })
        .unwrap_err();
    assert_eq!(e.rv(), CKR_KEY_TYPE_INCONSISTENT);
}

/// A key made on the emulator with these attributes (`POST /v1/key`, behind the module's back).
fn tsb_key(w: &World, label: &str, mut body: serde_json::Value) {
    body["label"] = label.into();
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/key", w.emu.base_url()))
        .json(&body)
        .send()
        .expect("POST /v1/key");
    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text());
}

fn by_label(
    w: &World,
    s: CK_SESSION_HANDLE,
    class: CK_OBJECT_CLASS,
    label: &str,
) -> CK_OBJECT_HANDLE {
    let found = find(
        w,
        s,
        &[ul(CKA_CLASS, class), a(CKA_LABEL, label.as_bytes())],
    );
    assert_eq!(found.len(), 1, "{label}");
    found[0]
}

fn wrap(
    w: &World,
    s: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    p: &MechParams,
    wrapping: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
    cap: Option<usize>,
) -> Result<Output> {
    w.m.with_session(s, |sess| w.m.wrap_key(sess, mech, p, wrapping, key, cap))
}

fn unwrap(
    w: &World,
    s: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    p: &MechParams,
    unwrapping: CK_OBJECT_HANDLE,
    wrapped: &[u8],
    attrs: &[Attr],
) -> Result<CK_OBJECT_HANDLE> {
    w.m.with_session(s, |sess| {
        w.m.unwrap_key(
            sess,
            mech,
            p,
            unwrapping,
            wrapped,
            &Template::new(attrs.to_vec()),
        )
    })
}

/// Encrypt with `h` on the TSB (AES-GCM) and decrypt with OpenSSL under `key`: proves that `h`
/// holds exactly `key`.
fn holds(w: &World, s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE, key: &[u8]) {
    let (iv, written) = iv_buffer(12);
    let ct = encrypt(w, s, CKM_AES_GCM, &gcm(iv, b"", 128), h, b"known?").expect("encrypt");
    let iv = written.lock().unwrap().clone();
    let (body, tag) = ct.split_at(ct.len() - 16);
    let plain = symm::decrypt_aead(
        openssl_cipher(CKM_AES_GCM, key.len()),
        key,
        Some(&iv),
        b"",
        body,
        tag,
    )
    .expect("OpenSSL decrypts what the unwrapped key encrypted");
    assert_eq!(plain, b"known?");
}

const KWP_IV: fn(u32) -> [u8; 8] = |n| {
    let l = n.to_be_bytes();
    [0xA6, 0x59, 0x59, 0xA6, l[0], l[1], l[2], l[3]]
};

#[test]
fn aes_key_wrap_and_kwp_match_openssl_and_unwrap_known_keys() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let kek = aes_key(&w, s, "kek", 32);
    let kek_bytes = w.emu.secret_key_bytes("kek").unwrap();
    let kek_aes = |enc: bool| {
        if enc {
            openssl::aes::AesKey::new_encrypt(&kek_bytes).unwrap()
        } else {
            openssl::aes::AesKey::new_decrypt(&kek_bytes).unwrap()
        }
    };
    // An extractable AES key, wrapped by the module and unwrapped by OpenSSL.
    tsb_key(
        &w,
        "payload",
        serde_json::json!({"algorithm": "AES", "keySize": 128,
            "attributes": {"encrypt": true, "decrypt": true, "sign": false, "unwrap": false,
                "extractable": true, "destroyable": true}}),
    );
    let payload = by_label(&w, s, CKO_SECRET_KEY, "payload");
    let payload_bytes = w.emu.secret_key_bytes("payload").unwrap();
    for (mech, iv) in [
        (CKM_AES_KEY_WRAP, None),
        (CKM_AES_KEY_WRAP_KWP, Some(KWP_IV(16))),
    ] {
        let before = w.count("POST", "/v1/wrap");
        let len = wrap(&w, s, mech, &MechParams::None, kek, payload, None).unwrap();
        assert_eq!(len, Output::Len(24));
        assert_eq!(
            wrap(&w, s, mech, &MechParams::None, kek, payload, Some(8)).unwrap(),
            Output::TooSmall(24)
        );
        assert_eq!(
            w.count("POST", "/v1/wrap"),
            before,
            "nothing sent for either"
        );
        let wrapped = data(wrap(&w, s, mech, &MechParams::None, kek, payload, Some(64)).unwrap());
        let mut out = [0u8; 16];
        openssl::aes::unwrap_key(&kek_aes(false), iv, &mut out, &wrapped).expect("OpenSSL unwraps");
        assert_eq!(out.to_vec(), payload_bytes);
        // OpenSSL wraps a known key; the module unwraps it into a session AES key that holds it.
        let known = [0x5au8; 32];
        let mut wrapped = [0u8; 40];
        openssl::aes::wrap_key(&kek_aes(true), iv.map(|_| KWP_IV(32)), &mut wrapped, &known)
            .unwrap();
        let h = unwrap(
            &w,
            s,
            mech,
            &MechParams::None,
            kek,
            &wrapped,
            &[
                ul(CKA_CLASS, CKO_SECRET_KEY),
                ul(CKA_KEY_TYPE, CKK_AES),
                a(CKA_LABEL, b"known"),
            ],
        )
        .expect("unwrap");
        assert_eq!(attr(&w, s, h, CKA_TOKEN), AttrValue::Value(vec![CK_FALSE]));
        assert_eq!(
            attr(&w, s, h, CKA_VALUE_LEN),
            AttrValue::Value(32usize.to_ne_bytes().to_vec())
        );
        holds(&w, s, h, &known);
    }
    // A key that is not extractable is not wrapped, and nothing is asked.
    let before = w.count("POST", "/v1/wrap");
    let e = wrap(
        &w,
        s,
        CKM_AES_KEY_WRAP,
        &MechParams::None,
        kek,
        kek,
        Some(64),
    )
    .unwrap_err();
    assert_eq!(e.rv(), CKR_KEY_UNEXTRACTABLE);
    assert_eq!(w.count("POST", "/v1/wrap"), before);
    // A wrong length is no wrapped AES key.
    let e = unwrap(
        &w,
        s,
        CKM_AES_KEY_WRAP,
        &MechParams::None,
        kek,
        &[0; 23],
        &[],
    )
    .unwrap_err();
    assert_eq!(e.rv(), CKR_WRAPPED_KEY_LEN_RANGE);
}

#[test]
fn rsa_oaep_unwrap_waits_for_the_approvers_of_the_unwrapping_key() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let mut body = serde_json::json!({"algorithm": "RSA", "keySize": 2048,
        "attributes": {"decrypt": true, "sign": false, "unwrap": true, "wrap": true,
            "destroyable": true}});
    body["policy"] = w.policy(600);
    tsb_key(&w, "rsa-kek", body);
    let private = by_label(&w, s, CKO_PRIVATE_KEY, "rsa-kek");
    let spki = match attr(&w, s, private, CKA_PUBLIC_KEY_INFO) {
        AttrValue::Value(v) => v,
        other => panic!("{other:?}"),
    };
    let rsa = openssl::rsa::Rsa::public_key_from_der(&spki).unwrap();
    // A known AES key, wrapped with RSA-OAEP (SHA-1) by OpenSSL.
    let known = [0x3cu8; 32];
    let mut wrapped = vec![0; 256];
    let n = rsa
        .public_encrypt(&known, &mut wrapped, openssl::rsa::Padding::PKCS1_OAEP)
        .unwrap();
    wrapped.truncate(n);
    let oaep = MechParams::Oaep(crate::mechanism::OaepParams {
        hash_alg: CKM_SHA_1,
        mgf: CKG_MGF1_SHA1,
        source_data: vec![],
    });
    let approver = w.auto_approve(1);
    let h = unwrap(
        &w,
        s,
        CKM_RSA_PKCS_OAEP,
        &oaep,
        private,
        &wrapped,
        &[
            a(CKA_TOKEN, &[1]),
            a(CKA_LABEL, b"from-rsa"),
            ul(CKA_VALUE_LEN, 32),
        ],
    )
    .expect("unwrap after approval");
    approver.join().unwrap().expect("approved");
    assert_eq!(w.count("POST", "/v1/unwrap"), 1, "asked the approvers once");
    assert_eq!(w.count("POST", "/v1/synchronousUnwrap"), 0);
    assert_eq!(by_label(&w, s, CKO_SECRET_KEY, "from-rsa"), h);
    holds(&w, s, h, &known);
    // OAEP other than SHA-1 is not what the TSB wraps with.
    let sha256 = MechParams::Oaep(crate::mechanism::OaepParams {
        hash_alg: CKM_SHA256,
        mgf: CKG_MGF1_SHA256,
        source_data: vec![],
    });
    let e = unwrap(&w, s, CKM_RSA_PKCS_OAEP, &sha256, private, &wrapped, &[]).unwrap_err();
    assert_eq!(e.rv(), CKR_MECHANISM_PARAM_INVALID);
    // An AES key does not unwrap with RSA.
    let e = unwrap(&w, s, CKM_RSA_PKCS_OAEP, &oaep, h, &wrapped, &[]).unwrap_err();
    assert_eq!(e.rv(), CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT);
}

#[test]
fn answers_of_the_wrong_length_are_never_returned() {
    use base64::Engine;
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let h = aes_key(&w, s, "k", 32);
    // A GCM ciphertext one byte short: refused, and the IV buffer is not written.
    direct::respond(
        &w.emu,
        "POST",
        "/v1/encrypt",
        1,
        200,
        serde_json::json!({"encryptedPayload": b64(&[1; 20]), "initializationVector": b64(&[2; 12]),
            "messageAuthenticationCode": null, "encryptedPayloadWithoutMessageAuthenticationCode": null})
        .to_string(),
    );
    let (iv, written) = iv_buffer(12);
    let e = encrypt(&w, s, CKM_AES_GCM, &gcm(iv.clone(), b"", 128), h, b"12345").unwrap_err();
    assert_eq!(e.rv(), CKR_DEVICE_ERROR);
    assert_eq!(*written.lock().unwrap(), vec![0; 12]);
    // An IV of the wrong length.
    direct::respond(
        &w.emu,
        "POST",
        "/v1/encrypt",
        1,
        200,
        serde_json::json!({"encryptedPayload": b64(&[1; 21]), "initializationVector": b64(&[2; 16])})
            .to_string(),
    );
    let e = encrypt(&w, s, CKM_AES_GCM, &gcm(iv, b"", 128), h, b"12345").unwrap_err();
    assert_eq!(e.rv(), CKR_DEVICE_ERROR);
    assert_eq!(*written.lock().unwrap(), vec![0; 12]);
    // A plaintext longer than the ciphertext allows.
    direct::respond(
        &w.emu,
        "POST",
        "/v1/synchronousDecrypt",
        1,
        200,
        serde_json::json!({"payload": b64(&[0; 40])}).to_string(),
    );
    let given = MechParams::Iv(Iv {
        bytes: vec![0; 16],
        sink: None,
    });
    let e = decrypt(&w, s, CKM_AES_CBC_PAD, &given, h, &[0; 32]).unwrap_err();
    assert_eq!(e.rv(), CKR_DEVICE_ERROR);
    // A MAC that is not 32 bytes.
    let mac_key = genkey(&w, s, CKM_GENERIC_SECRET_KEY_GEN, &[]).expect("HMAC key");
    direct::respond(
        &w.emu,
        "POST",
        "/v1/synchronousHmac",
        1,
        200,
        serde_json::json!({"keyedHash": b64(&[0; 31])}).to_string(),
    );
    w.m.with_session(s, |sess| {
        w.m.sign_init(sess, CKM_SHA256_HMAC, &MechParams::None, mac_key)
    })
    .unwrap();
    let e =
        w.m.with_operation(s, OpKind::Sign, |sess| w.m.sign(sess, Some(b"x"), Some(32)))
            .unwrap_err();
    assert_eq!(e.rv(), CKR_DEVICE_ERROR);
}

#[test]
fn rsa_wraps_an_aes_key_that_unwraps_to_the_same_bytes() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    tsb_key(
        &w,
        "rsa",
        serde_json::json!({"algorithm": "RSA", "keySize": 2048,
            "attributes": {"decrypt": true, "sign": false, "unwrap": true, "wrap": true,
                "destroyable": true}}),
    );
    tsb_key(
        &w,
        "payload",
        serde_json::json!({"algorithm": "AES", "keySize": 256,
            "attributes": {"encrypt": true, "decrypt": true, "sign": false, "unwrap": false,
                "extractable": true, "destroyable": true}}),
    );
    let public = by_label(&w, s, CKO_PUBLIC_KEY, "rsa");
    let private = by_label(&w, s, CKO_PRIVATE_KEY, "rsa");
    let payload = by_label(&w, s, CKO_SECRET_KEY, "payload");
    let known = w.emu.secret_key_bytes("payload").unwrap();
    let oaep = MechParams::Oaep(crate::mechanism::OaepParams {
        hash_alg: CKM_SHA_1,
        mgf: CKG_MGF1_SHA1,
        source_data: vec![],
    });
    for (mech, p) in [
        (CKM_RSA_PKCS_OAEP, &oaep),
        (CKM_RSA_PKCS, &MechParams::None),
    ] {
        assert_eq!(
            wrap(&w, s, mech, p, public, payload, None).unwrap(),
            Output::Len(256)
        );
        let wrapped = data(wrap(&w, s, mech, p, public, payload, Some(256)).unwrap());
        assert_eq!(wrapped.len(), 256);
        // No private RSA key here to check with OpenSSL (the TSB never reveals it): the TSB
        // unwraps it, and the new key encrypts what OpenSSL decrypts with the original's bytes.
        let h = unwrap(&w, s, mech, p, private, &wrapped, &[ul(CKA_VALUE_LEN, 32)]).unwrap();
        holds(&w, s, h, &known);
    }
}

// ---- keys in plain: C_CreateObject of secret keys, CKA_VALUE read back (plain_keys.rs) -------

fn create(w: &World, s: CK_SESSION_HANDLE, attrs: &[Attr]) -> Result<CK_OBJECT_HANDLE> {
    w.m.with_session(s, |sess| {
        w.m.create_object(sess, &Template::new(attrs.to_vec()))
    })
}

fn aes_template(key: &[u8], more: &[Attr]) -> Vec<Attr> {
    let mut v = vec![
        ul(CKA_CLASS, CKO_SECRET_KEY),
        ul(CKA_KEY_TYPE, CKK_AES),
        a(CKA_VALUE, key),
    ];
    v.extend_from_slice(more);
    v
}

/// C_GetAttributeValue as the C ABI calls it: `room` None is a length query.
fn value_with_room(
    w: &World,
    s: CK_SESSION_HANDLE,
    h: CK_OBJECT_HANDLE,
    room: Option<usize>,
) -> AttrValue {
    w.m.with_session(s, |sess| {
        w.m.attribute_values(sess, h, &[CKA_VALUE], &[room])
    })
    .expect("attributes")
    .remove(0)
}

/// A known-answer test: an AES key imported with a known value decrypts on the TSB what OpenSSL
/// encrypted under that value (CBC-PAD), as a token object and as a session object; the
/// imported key says it was not generated here.
#[test]
fn an_imported_aes_key_decrypts_what_openssl_encrypted_under_its_value() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let iv = [0x24u8; 16];
    let plain = b"the imported key decrypts this".to_vec();
    for (len, token) in [(16usize, true), (24, false), (32, true), (32, false)] {
        let key: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(7)).collect();
        let label = format!("imp{len}{token}");
        let h = create(
            &w,
            s,
            &aes_template(
                &key,
                &[a(CKA_TOKEN, &[token as u8]), a(CKA_LABEL, label.as_bytes())],
            ),
        )
        .expect("C_CreateObject of an AES key");
        let cipher = match len {
            16 => Cipher::aes_128_cbc(),
            24 => Cipher::aes_192_cbc(),
            _ => Cipher::aes_256_cbc(),
        };
        let ct = symm::encrypt(cipher, &key, Some(&iv), &plain).unwrap();
        let got = decrypt(
            &w,
            s,
            CKM_AES_CBC_PAD,
            &MechParams::Iv(Iv {
                bytes: iv.to_vec(),
                sink: None,
            }),
            h,
            &ct,
        )
        .expect("decrypt with the imported key");
        assert_eq!(got, plain, "{label}");
        assert_eq!(
            attr(&w, s, h, CKA_TOKEN),
            AttrValue::Value(vec![token as u8])
        );
        assert_eq!(
            attr(&w, s, h, CKA_LABEL),
            AttrValue::Value(label.into_bytes())
        );
        assert_eq!(
            attr(&w, s, h, CKA_VALUE_LEN),
            AttrValue::Value((len as CK_ULONG).to_ne_bytes().to_vec())
        );
        for (t, v) in [
            (CKA_LOCAL, CK_FALSE),
            (CKA_ALWAYS_SENSITIVE, CK_FALSE),
            (CKA_NEVER_EXTRACTABLE, CK_FALSE),
            (CKA_SENSITIVE, CK_TRUE),
            (CKA_EXTRACTABLE, CK_FALSE),
            (CKA_DECRYPT, CK_TRUE),
        ] {
            assert_eq!(attr(&w, s, h, t), AttrValue::Value(vec![v]), "0x{t:x}");
        }
        assert_eq!(
            attr(&w, s, h, CKA_KEY_GEN_MECHANISM),
            AttrValue::Value(CK_UNAVAILABLE_INFORMATION.to_ne_bytes().to_vec())
        );
        // Sensitive (the default): its value is never read.
        assert_eq!(attr(&w, s, h, CKA_VALUE), AttrValue::Sensitive);
    }
    assert_eq!(w.count("POST", "/v1/key/export/plain"), 0);
    // A generated key is still CKA_LOCAL.
    let g = aes_key(&w, s, "generated", 16);
    assert_eq!(attr(&w, s, g, CKA_LOCAL), AttrValue::Value(vec![CK_TRUE]));
}

/// CKA_TOKEN false: imported into the TSB under a session key label and deleted with the session;
/// nothing is left behind.
#[test]
fn a_session_object_import_is_deleted_when_its_session_closes() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let h = create(&w, s, &aes_template(&[9; 32], &[a(CKA_LABEL, b"temp")])).expect("import");
    let labels = w.tsb_labels();
    assert_eq!(labels.len(), 1, "imported into the TSB: {labels:?}");
    assert!(
        labels[0].contains(".p11s."),
        "a session key label: {labels:?}"
    );
    assert_eq!(w.emu.secret_key_bytes(&labels[0]), Some(vec![9; 32]));
    assert_eq!(attr(&w, s, h, CKA_TOKEN), AttrValue::Value(vec![CK_FALSE]));
    assert_eq!(
        attr(&w, s, h, CKA_LABEL),
        AttrValue::Value(b"temp".to_vec())
    );
    assert_eq!(attr(&w, s, h, CKA_LOCAL), AttrValue::Value(vec![CK_FALSE]));
    // Not a token object: a find for token objects does not show it.
    assert!(find(&w, s, &[ul(CKA_CLASS, CKO_SECRET_KEY), a(CKA_TOKEN, &[1])]).is_empty());
    w.m.close_session(s).expect("close");
    assert!(w.tsb_labels().is_empty(), "deleted with its session");
    assert_eq!(w.count("POST", "/v1/key/deleteKey"), 1);
}

/// CKA_VALUE of a key that is extractable and not sensitive: read from the TSB when the caller
/// has room for it, never for a length query or a buffer too small; a sensitive key's is
/// CKR_ATTRIBUTE_SENSITIVE.
#[test]
fn the_value_of_an_extractable_non_sensitive_key_is_read_back() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let exports = || w.count("POST", "/v1/key/export/plain");
    let open = [a(CKA_SENSITIVE, &[0]), a(CKA_EXTRACTABLE, &[1])];
    let key: Vec<u8> = (100..124).collect();
    for token in [true, false] {
        let mut more = open.to_vec();
        more.push(a(CKA_TOKEN, &[token as u8]));
        let h = create(&w, s, &aes_template(&key, &more)).expect("import");
        assert_eq!(
            attr(&w, s, h, CKA_SENSITIVE),
            AttrValue::Value(vec![CK_FALSE])
        );
        assert_eq!(
            attr(&w, s, h, CKA_EXTRACTABLE),
            AttrValue::Value(vec![CK_TRUE])
        );
        let before = exports();
        assert_eq!(value_with_room(&w, s, h, None), AttrValue::Remote(24));
        assert_eq!(value_with_room(&w, s, h, Some(23)), AttrValue::Remote(24));
        assert_eq!(exports(), before, "no request for a length query");
        assert_eq!(
            value_with_room(&w, s, h, Some(24)),
            AttrValue::Value(key.clone())
        );
        assert_eq!(exports(), before + 1);
    }
    // C_GenerateKey gives CKA_SENSITIVE false and CKA_EXTRACTABLE true to the TSB.
    let g = genkey(
        &w,
        s,
        CKM_AES_KEY_GEN,
        &[
            ul(CKA_VALUE_LEN, 16),
            a(CKA_TOKEN, &[1]),
            a(CKA_LABEL, b"g"),
            open[0].clone(),
            open[1].clone(),
        ],
    )
    .expect("keygen");
    assert_eq!(
        attr(&w, s, g, CKA_VALUE),
        AttrValue::Value(w.emu.secret_key_bytes("g").unwrap())
    );
    assert_eq!(attr(&w, s, g, CKA_LOCAL), AttrValue::Value(vec![CK_TRUE]));
    assert_eq!(
        attr(&w, s, g, CKA_ALWAYS_SENSITIVE),
        AttrValue::Value(vec![CK_FALSE])
    );
    // Sensitive, or not extractable: never read, nothing asked.
    let before = exports();
    for more in [
        vec![a(CKA_EXTRACTABLE, &[1])],
        vec![a(CKA_SENSITIVE, &[0])],
        vec![],
    ] {
        let h = create(&w, s, &aes_template(&[5; 16], &more)).expect("import");
        assert_eq!(attr(&w, s, h, CKA_VALUE), AttrValue::Sensitive, "{more:?}");
        assert_eq!(value_with_room(&w, s, h, None), AttrValue::Sensitive);
    }
    let k = aes_key(&w, s, "sensitive", 32);
    assert_eq!(attr(&w, s, k, CKA_VALUE), AttrValue::Sensitive);
    assert_eq!(exports(), before);
}

/// python-pkcs11's test_aes.test_wrap: a non-sensitive extractable key wrapped, unwrapped into a
/// non-sensitive extractable key, and the two values compared.
#[test]
fn a_wrapped_and_unwrapped_key_reads_back_the_same_value() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let kek = aes_key(&w, s, "kek", 16);
    let open = [a(CKA_SENSITIVE, &[0]), a(CKA_EXTRACTABLE, &[1])];
    let mut t = vec![ul(CKA_VALUE_LEN, 16)];
    t.extend_from_slice(&open);
    let key = genkey(&w, s, CKM_AES_KEY_GEN, &t).expect("session key");
    let wrapped = data(
        wrap(
            &w,
            s,
            CKM_AES_KEY_WRAP,
            &MechParams::None,
            kek,
            key,
            Some(64),
        )
        .unwrap(),
    );
    let mut t = vec![ul(CKA_CLASS, CKO_SECRET_KEY), ul(CKA_KEY_TYPE, CKK_AES)];
    t.extend_from_slice(&open);
    let key2 = unwrap(
        &w,
        s,
        CKM_AES_KEY_WRAP,
        &MechParams::None,
        kek,
        &wrapped,
        &t,
    )
    .unwrap();
    let (v1, v2) = (attr(&w, s, key, CKA_VALUE), attr(&w, s, key2, CKA_VALUE));
    assert!(
        matches!(&v1, AttrValue::Value(v) if v.len() == 16),
        "{v1:?}"
    );
    assert_eq!(v1, v2);
}

/// Templates refused before anything is sent, and a label that is taken.
#[test]
fn secret_key_imports_that_are_refused() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let rv = |attrs: &[Attr]| create(&w, s, attrs).unwrap_err().rv();
    for len in [0usize, 8, 15, 20, 33] {
        assert_eq!(
            rv(&aes_template(&vec![1; len], &[])),
            CKR_ATTRIBUTE_VALUE_INVALID,
            "{len}"
        );
    }
    assert_eq!(
        rv(&[ul(CKA_CLASS, CKO_SECRET_KEY), ul(CKA_KEY_TYPE, CKK_AES)]),
        CKR_TEMPLATE_INCOMPLETE
    );
    assert_eq!(w.count("POST", "/v1/key/import/plain"), 0, "nothing sent");
    // A read-only session cannot make a token key.
    let ro = w.m.open_session(0, CKF_SERIAL_SESSION).expect("ro session");
    let e = create(&w, ro, &aes_template(&[1; 16], &[a(CKA_TOKEN, &[1])])).unwrap_err();
    assert_eq!(e.rv(), CKR_SESSION_READ_ONLY);
    // A label that is taken: the TSB's 608.
    let taken = [a(CKA_TOKEN, &[1]), a(CKA_LABEL, b"dup")];
    create(&w, s, &aes_template(&[1; 16], &taken)).expect("first");
    assert_eq!(
        rv(&aes_template(&[2; 16], &taken)),
        CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_eq!(w.emu.secret_key_bytes("dup"), Some(vec![1; 16]));
}
