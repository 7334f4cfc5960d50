//! C_DeriveKey with CKM_AES_ECB_ENCRYPT_DATA and CKM_AES_CBC_ENCRYPT_DATA (token/derive.rs) and
//! C_DigestKey (token/digest.rs), end to end against the emulator: the derived keys' values
//! checked with OpenSSL's AES-ECB/CBC of the data under the base key's known value, the digest
//! of a key with SHA-256 of its value computed here.

use super::*;
use crate::mechanism::aes::Iv;
use crate::mechanism::DeriveData;
use crate::token::AttrValue;
use openssl::symm::{self, Cipher, Crypter, Mode};

fn ul(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Attr {
    Attr::new(ty, v.to_ne_bytes().to_vec())
}
fn a(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Attr {
    Attr::new(ty, v.to_vec())
}

/// C_CreateObject of an AES key with a known value, `more` added to the template.
fn import(w: &World, s: CK_SESSION_HANDLE, key: &[u8], more: &[Attr]) -> CK_OBJECT_HANDLE {
    let mut t = vec![
        ul(CKA_CLASS, CKO_SECRET_KEY),
        ul(CKA_KEY_TYPE, CKK_AES),
        a(CKA_VALUE, key),
    ];
    t.extend_from_slice(more);
    w.m.with_session(s, |sess| w.m.create_object(sess, &Template::new(t)))
        .expect("C_CreateObject of an AES key")
}

fn derive(
    w: &World,
    s: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    params: &MechParams,
    base: CK_OBJECT_HANDLE,
    template: &[Attr],
) -> Result<CK_OBJECT_HANDLE> {
    w.m.with_session(s, |sess| {
        w.m.derive_key(sess, mech, params, base, &Template::new(template.to_vec()))
    })
}

fn ecb(data: &[u8]) -> MechParams {
    MechParams::Derive(DeriveData {
        iv: None,
        data: data.to_vec().into(),
    })
}

fn cbc(iv: [u8; 16], data: &[u8]) -> MechParams {
    MechParams::Derive(DeriveData {
        iv: Some(iv),
        data: data.to_vec().into(),
    })
}

fn attr(w: &World, s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> AttrValue {
    w.m.with_session(s, |sess| w.m.attribute_values(sess, h, &[ty], &[Some(64)]))
        .expect("attributes")
        .remove(0)
}

/// AES-ECB (`iv` None) or AES-CBC of whole blocks, no padding, by OpenSSL.
fn openssl_aes(key: &[u8], iv: Option<&[u8]>, data: &[u8]) -> Vec<u8> {
    let cipher = match (key.len(), iv.is_some()) {
        (16, false) => Cipher::aes_128_ecb(),
        (24, false) => Cipher::aes_192_ecb(),
        (32, false) => Cipher::aes_256_ecb(),
        (16, true) => Cipher::aes_128_cbc(),
        (24, true) => Cipher::aes_192_cbc(),
        _ => Cipher::aes_256_cbc(),
    };
    let mut c = Crypter::new(cipher, Mode::Encrypt, key, iv).unwrap();
    c.pad(false);
    let mut out = vec![0; data.len() + 16];
    let n = c.update(data, &mut out).unwrap();
    let m = c.finalize(&mut out[n..]).unwrap();
    out.truncate(n + m);
    out
}

/// A derived key's template: AES of `len` bytes, extractable and not sensitive (its value can be
/// read back and compared), `more` added.
fn derived(len: CK_ULONG, more: &[Attr]) -> Vec<Attr> {
    let mut t = vec![
        ul(CKA_CLASS, CKO_SECRET_KEY),
        ul(CKA_KEY_TYPE, CKK_AES),
        ul(CKA_VALUE_LEN, len),
        a(CKA_SENSITIVE, &[0]),
        a(CKA_EXTRACTABLE, &[1]),
    ];
    t.extend_from_slice(more);
    t
}

/// Known-answer tests: the derived key's value is the first CKA_VALUE_LEN bytes of OpenSSL's
/// AES-ECB or AES-CBC encryption of the data under the base key's value; the encryption runs on
/// the TSB (one request for ECB, one per needed block for CBC), the bytes are imported as a new
/// key, which says it was not generated there.
#[test]
fn ecb_and_cbc_derivation_match_openssl() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    for base_len in [16usize, 32] {
        let key: Vec<u8> = (0..base_len as u8)
            .map(|b| b.wrapping_mul(11) ^ 0x5a)
            .collect();
        let base = import(
            &w,
            s,
            &key,
            &[
                a(CKA_DERIVE, &[1]),
                a(CKA_LABEL, format!("base{base_len}").as_bytes()),
            ],
        );
        assert_eq!(
            attr(&w, s, base, CKA_DERIVE),
            AttrValue::Value(vec![CK_TRUE])
        );
        let data: Vec<u8> = (0..64u8).map(|b| b.wrapping_mul(3)).collect();
        let iv = [0x42u8; 16];
        for (len, data_len, token) in [(16usize, 16usize, false), (24, 32, true), (32, 64, false)] {
            let data = &data[..data_len];
            // ECB: one request, however long the key.
            let before = w.count("POST", "/v1/encrypt");
            let label = format!("ecb{base_len}-{len}");
            let h = derive(
                &w,
                s,
                CKM_AES_ECB_ENCRYPT_DATA,
                &ecb(data),
                base,
                &derived(
                    len as CK_ULONG,
                    &[a(CKA_TOKEN, &[token as u8]), a(CKA_LABEL, label.as_bytes())],
                ),
            )
            .expect("derive with ECB");
            assert_eq!(w.count("POST", "/v1/encrypt"), before + 1, "{label}");
            let want = openssl_aes(&key, None, data)[..len].to_vec();
            assert_eq!(
                attr(&w, s, h, CKA_VALUE),
                AttrValue::Value(want.clone()),
                "{label}"
            );
            if token {
                assert_eq!(w.emu.secret_key_bytes(&label), Some(want));
            }
            // CBC under the caller's IV: one request per block the key needs.
            let before = w.count("POST", "/v1/encrypt");
            let label = format!("cbc{base_len}-{len}");
            let h = derive(
                &w,
                s,
                CKM_AES_CBC_ENCRYPT_DATA,
                &cbc(iv, data),
                base,
                &derived(
                    len as CK_ULONG,
                    &[a(CKA_TOKEN, &[token as u8]), a(CKA_LABEL, label.as_bytes())],
                ),
            )
            .expect("derive with CBC");
            assert_eq!(
                w.count("POST", "/v1/encrypt"),
                before + len.div_ceil(16) as u64,
                "{label}"
            );
            let want = openssl_aes(&key, Some(&iv), data)[..len].to_vec();
            assert_eq!(attr(&w, s, h, CKA_VALUE), AttrValue::Value(want), "{label}");
            assert_eq!(
                attr(&w, s, h, CKA_TOKEN),
                AttrValue::Value(vec![token as u8])
            );
            assert_eq!(
                attr(&w, s, h, CKA_LABEL),
                AttrValue::Value(label.into_bytes())
            );
            for (t, v) in [
                (CKA_LOCAL, CK_FALSE),
                (CKA_ALWAYS_SENSITIVE, CK_FALSE),
                (CKA_NEVER_EXTRACTABLE, CK_FALSE),
                (CKA_SENSITIVE, CK_FALSE),
                (CKA_EXTRACTABLE, CK_TRUE),
            ] {
                assert_eq!(attr(&w, s, h, t), AttrValue::Value(vec![v]), "0x{t:x}");
            }
            assert_eq!(
                attr(&w, s, h, CKA_KEY_GEN_MECHANISM),
                AttrValue::Value(CK_UNAVAILABLE_INFORMATION.to_ne_bytes().to_vec())
            );
        }
    }
    // A sensitive derived key (its value never read): it decrypts what OpenSSL encrypted under
    // the value the derivation must have given it; without CKA_VALUE_LEN, the 32 bytes of the
    // encryption make a 256-bit key.
    let key = [7u8; 16];
    let base = import(&w, s, &key, &[a(CKA_DERIVE, &[1])]);
    let input = [0x33u8; 32];
    let h = derive(
        &w,
        s,
        CKM_AES_ECB_ENCRYPT_DATA,
        &ecb(&input),
        base,
        &[ul(CKA_CLASS, CKO_SECRET_KEY), ul(CKA_KEY_TYPE, CKK_AES)],
    )
    .expect("derive a sensitive key");
    assert_eq!(attr(&w, s, h, CKA_VALUE), AttrValue::Sensitive);
    assert_eq!(
        attr(&w, s, h, CKA_VALUE_LEN),
        AttrValue::Value((32 as CK_ULONG).to_ne_bytes().to_vec())
    );
    let value = openssl_aes(&key, None, &input);
    let civ = [9u8; 16];
    let plain = b"decrypted with the derived key".to_vec();
    let ct = symm::encrypt(Cipher::aes_256_cbc(), &value, Some(&civ), &plain).unwrap();
    let p = MechParams::Iv(Iv {
        bytes: civ.to_vec(),
        sink: None,
    });
    w.m.with_session(s, |sess| w.m.decrypt_init(sess, CKM_AES_CBC_PAD, &p, h))
        .expect("decrypt init");
    let got =
        w.m.with_operation(s, OpKind::Decrypt, |sess| {
            w.m.decrypt(sess, &ct, Some(1024))
        })
        .map(data)
        .expect("decrypt with the derived key");
    assert_eq!(got, plain);
    // Session objects are deleted with their session: only the token keys are left.
    w.m.close_session(s).expect("close");
    let mut left = w.tsb_labels();
    left.sort();
    assert_eq!(left, ["cbc16-24", "cbc32-24", "ecb16-24", "ecb32-24"]);
}

/// What C_DeriveKey refuses, each before anything is sent to the TSB (no encryption, no import).
#[test]
fn derivations_that_are_refused() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let base = import(&w, s, &[1; 32], &[a(CKA_DERIVE, &[1])]);
    let t16 = derived(16, &[]);
    let t32 = derived(32, &[]);
    let rv_of = |mech, p: &MechParams, base, t: &[Attr]| rv(derive(&w, s, mech, p, base, t));
    // The data: a non-zero multiple of 16 bytes, and as long as the key at least.
    for bad in [0usize, 1, 15, 17, 31] {
        let d = vec![1u8; bad];
        assert_eq!(
            rv_of(CKM_AES_ECB_ENCRYPT_DATA, &ecb(&d), base, &t16),
            CKR_MECHANISM_PARAM_INVALID,
            "ECB {bad}"
        );
        assert_eq!(
            rv_of(CKM_AES_CBC_ENCRYPT_DATA, &cbc([0; 16], &d), base, &t16),
            CKR_MECHANISM_PARAM_INVALID,
            "CBC {bad}"
        );
    }
    assert_eq!(
        rv_of(CKM_AES_ECB_ENCRYPT_DATA, &ecb(&[1; 16]), base, &t32),
        CKR_MECHANISM_PARAM_INVALID,
        "16 bytes of data cannot make a 32-byte key"
    );
    assert_eq!(
        rv_of(
            CKM_AES_CBC_ENCRYPT_DATA,
            &cbc([0; 16], &[1; 16]),
            base,
            &t32
        ),
        CKR_MECHANISM_PARAM_INVALID
    );
    // The wrong parameter for the mechanism, or none.
    assert_eq!(
        rv_of(CKM_AES_CBC_ENCRYPT_DATA, &ecb(&[1; 16]), base, &t16),
        CKR_MECHANISM_PARAM_INVALID
    );
    assert_eq!(
        rv_of(
            CKM_AES_ECB_ENCRYPT_DATA,
            &cbc([0; 16], &[1; 16]),
            base,
            &t16
        ),
        CKR_MECHANISM_PARAM_INVALID
    );
    assert_eq!(
        rv_of(CKM_AES_ECB_ENCRYPT_DATA, &MechParams::None, base, &t16),
        CKR_MECHANISM_PARAM_INVALID
    );
    assert_eq!(
        rv_of(CKM_ECDH1_DERIVE, &ecb(&[1; 16]), base, &t16),
        CKR_MECHANISM_INVALID
    );
    // The base key: CKA_DERIVE true, AES, a key at all.
    let no_derive = import(&w, s, &[2; 16], &[]);
    assert_eq!(
        attr(&w, s, no_derive, CKA_DERIVE),
        AttrValue::Value(vec![CK_FALSE])
    );
    assert_eq!(
        rv_of(CKM_AES_ECB_ENCRYPT_DATA, &ecb(&[1; 16]), no_derive, &t16),
        CKR_KEY_FUNCTION_NOT_PERMITTED
    );
    let hmac =
        w.m.with_session(s, |sess| {
            w.m.create_object(
                sess,
                &Template::new(vec![
                    ul(CKA_CLASS, CKO_SECRET_KEY),
                    ul(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
                    a(CKA_VALUE, &[3; 32]),
                    a(CKA_DERIVE, &[1]),
                ]),
            )
        })
        .expect("an HMAC key");
    assert_eq!(
        rv_of(CKM_AES_ECB_ENCRYPT_DATA, &ecb(&[1; 16]), hmac, &t16),
        CKR_KEY_TYPE_INCONSISTENT
    );
    assert_eq!(
        rv_of(CKM_AES_ECB_ENCRYPT_DATA, &ecb(&[1; 16]), 0xdead, &t16),
        CKR_KEY_HANDLE_INVALID
    );
    // The template: no CKA_VALUE, an AES length, an AES key.
    let mut with_value = t16.clone();
    with_value.push(a(CKA_VALUE, &[0; 16]));
    assert_eq!(
        rv_of(CKM_AES_ECB_ENCRYPT_DATA, &ecb(&[1; 16]), base, &with_value),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert_eq!(
        rv_of(
            CKM_AES_ECB_ENCRYPT_DATA,
            &ecb(&[1; 32]),
            base,
            &derived(20, &[])
        ),
        CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_eq!(
        rv_of(
            CKM_AES_ECB_ENCRYPT_DATA,
            &ecb(&[1; 64]),
            base,
            &[ul(CKA_CLASS, CKO_SECRET_KEY), ul(CKA_KEY_TYPE, CKK_AES)]
        ),
        CKR_TEMPLATE_INCOMPLETE,
        "64 bytes of encryption imply no AES key length"
    );
    assert_eq!(
        rv_of(
            CKM_AES_ECB_ENCRYPT_DATA,
            &ecb(&[1; 16]),
            base,
            &[ul(CKA_CLASS, CKO_SECRET_KEY), ul(CKA_KEY_TYPE, CKK_DES3)]
        ),
        CKR_TEMPLATE_INCONSISTENT
    );
    // A token key in a read-only session.
    let ro =
        w.m.open_session(0, CKF_SERIAL_SESSION)
            .expect("read-only session");
    let base_ro = import(&w, ro, &[4; 16], &[a(CKA_DERIVE, &[1])]);
    assert_eq!(
        rv(derive(
            &w,
            ro,
            CKM_AES_ECB_ENCRYPT_DATA,
            &ecb(&[1; 16]),
            base_ro,
            &derived(16, &[a(CKA_TOKEN, &[1])])
        )),
        CKR_SESSION_READ_ONLY
    );
    assert_eq!(w.count("POST", "/v1/encrypt"), 0, "nothing was encrypted");
    assert_eq!(
        w.count("POST", "/v1/key/import/plain"),
        4,
        "only the four base keys were imported"
    );
}

/// Both mechanisms are listed with CKF_DERIVE.
#[test]
fn the_derivation_mechanisms_are_listed() {
    let w = World::new(serde_json::json!({}));
    let list = w.m.mechanism_list(0).unwrap();
    for mech in [CKM_AES_ECB_ENCRYPT_DATA, CKM_AES_CBC_ENCRYPT_DATA] {
        assert!(list.contains(&mech), "0x{mech:x}");
        let info = w.m.mechanism_info(0, mech).unwrap();
        assert_eq!(info.flags, CKF_DERIVE);
        assert_eq!((info.min, info.max), (16, 32));
    }
}

fn digest_init(w: &World, s: CK_SESSION_HANDLE) {
    w.m.with_session(s, |sess| {
        w.m.digest_init(sess, CKM_SHA256, &MechParams::None)
    })
    .expect("C_DigestInit");
}

fn digest_key(w: &World, s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE) -> Result<()> {
    w.m.with_operation(s, OpKind::Digest, |sess| w.m.digest_key(sess, h))
}

/// C_DigestKey digests the value of an extractable, non-sensitive key between the other parts;
/// the digest equals SHA-256 of the same bytes computed here.
#[test]
fn digest_key_digests_the_value_of_an_extractable_key() {
    use sha2::Digest;
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let key: Vec<u8> = (50..82).collect();
    for token in [true, false] {
        let h = import(
            &w,
            s,
            &key,
            &[
                a(CKA_SENSITIVE, &[0]),
                a(CKA_EXTRACTABLE, &[1]),
                a(CKA_TOKEN, &[token as u8]),
            ],
        );
        digest_init(&w, s);
        w.m.with_operation(s, OpKind::Digest, |sess| w.m.digest_update(sess, b"before"))
            .unwrap();
        digest_key(&w, s, h).expect("C_DigestKey");
        w.m.with_operation(s, OpKind::Digest, |sess| w.m.digest_update(sess, b"after"))
            .unwrap();
        let got =
            w.m.with_operation(s, OpKind::Digest, |sess| w.m.digest(sess, None, Some(64)))
                .map(data)
                .unwrap();
        let want = sha2::Sha256::digest([&b"before"[..], &key, b"after"].concat());
        assert_eq!(got, want.to_vec(), "token {token}");
    }
}

/// C_DigestKey's errors: no digest operation, an unknown handle, a key whose value may not leave
/// the TSB (sensitive, or not extractable), an object that is no key.
#[test]
fn digest_key_refusals() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let open = import(
        &w,
        s,
        &[5; 16],
        &[a(CKA_SENSITIVE, &[0]), a(CKA_EXTRACTABLE, &[1])],
    );
    assert_eq!(rv(digest_key(&w, s, open)), CKR_OPERATION_NOT_INITIALIZED);
    digest_init(&w, s);
    assert_eq!(rv(digest_key(&w, s, 0xdead)), CKR_KEY_HANDLE_INVALID);
    let exports = w.count("POST", "/v1/key/export/plain");
    for more in [
        vec![],
        vec![a(CKA_EXTRACTABLE, &[1])],
        vec![a(CKA_SENSITIVE, &[0])],
    ] {
        let h = import(&w, s, &[6; 16], &more);
        digest_init(&w, s);
        assert_eq!(rv(digest_key(&w, s, h)), CKR_KEY_INDIGESTIBLE, "{more:?}");
    }
    assert_eq!(
        w.count("POST", "/v1/key/export/plain"),
        exports,
        "nothing asked of the TSB for a key it would not give"
    );
    // A data object is no key.
    let obj =
        w.m.with_session(s, |sess| {
            w.m.create_object(
                sess,
                &Template::new(vec![ul(CKA_CLASS, CKO_DATA), a(CKA_VALUE, b"data")]),
            )
        })
        .unwrap();
    digest_init(&w, s);
    assert_eq!(rv(digest_key(&w, s, obj)), CKR_KEY_HANDLE_INVALID);
    // An error ends the digest (as every error of a multi-part call does here).
    assert_eq!(rv(digest_key(&w, s, open)), CKR_OPERATION_NOT_INITIALIZED);
}
