//! Secret keys (issue 16): C_GenerateKey for AES and HMAC keys in the TSB, their CKO_SECRET_KEY
//! objects, AES-GCM/CBC/CBC-PAD encryption and decryption, HMAC-SHA-256 signatures, each result
//! checked with OpenSSL against the key's bytes (which the emulator reveals to tests only:
//! `Emulator::secret_key_bytes`; a real TSB never does).

use super::*;
use crate::mechanism::aes::{self, GcmParams, Iv, IvSink};
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

/// The caller's IV, with nowhere to write another (decryption, and encryption on a slot that
/// honours every IV).
fn given(bytes: &[u8]) -> Iv {
    Iv {
        bytes: bytes.to_vec(),
        sink: None,
    }
}

/// OpenSSL's `cipher` over `data` (`pad`: PKCS#7), `iv` if the mode has one.
fn openssl_crypt(
    cipher: Cipher,
    mode: symm::Mode,
    key: &[u8],
    iv: Option<&[u8]>,
    pad: bool,
    data: &[u8],
) -> Vec<u8> {
    let mut c = symm::Crypter::new(cipher, mode, key, iv).unwrap();
    c.pad(pad);
    let mut out = vec![0; data.len() + 32];
    let mut n = c.update(data, &mut out).unwrap();
    n += c.finalize(&mut out[n..]).unwrap();
    out.truncate(n);
    out
}

/// Requests of the block cipher: `/v1/encrypt` and `/v1/synchronousDecrypt`.
fn tsb_requests(w: &World) -> (u64, u64) {
    (
        w.count("POST", "/v1/encrypt"),
        w.count("POST", "/v1/synchronousDecrypt"),
    )
}

#[test]
fn aes_gcm_under_the_callers_nonce_round_trips_and_openssl_agrees() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let plain = b"the master key of a secrets manager".to_vec();
    let aad = b"header".to_vec();
    // A zero nonce (python-pkcs11's vectors 1 and 2 use one), others of 12 bytes, and nonces of
    // 8 and 60 bytes (J0 from GHASH: one request more).
    for (len, tag_bits, nonce) in [
        (16, 128, vec![0u8; 12]),
        (24, 96, vec![7; 12]),
        (32, 64, vec![8; 8]),
        (32, 120, (0..60).collect::<Vec<u8>>()),
    ] {
        let label = format!("gcm{len}-{}", nonce.len());
        let h = aes_key(&w, s, &label, len);
        let key = w.emu.secret_key_bytes(&label).expect("key bytes");
        let tag_len = tag_bits as usize / 8;
        let before = tsb_requests(&w);
        // The caller's buffer is left as it is: nothing is written back.
        let (iv, written) = iv_buffer(nonce.len());
        let iv = Iv {
            bytes: nonce.clone(),
            ..iv
        };
        let ct = encrypt(&w, s, CKM_AES_GCM, &gcm(iv, &aad, tag_bits), h, &plain).expect("encrypt");
        assert_eq!(*written.lock().unwrap(), vec![0; nonce.len()]);
        let requests = if nonce.len() == 12 { 1 } else { 2 };
        assert_eq!(tsb_requests(&w), (before.0 + requests, before.1));
        assert_eq!(ct.len(), plain.len() + tag_len);
        // OpenSSL decrypts it with the caller's nonce.
        let (body, tag) = ct.split_at(plain.len());
        let c = openssl_cipher(CKM_AES_GCM, len as usize);
        let mine = symm::decrypt_aead(c, &key, Some(&nonce), &aad, body, tag).expect("OpenSSL");
        assert_eq!(mine, plain);
        // The module decrypts what OpenSSL encrypted under another nonce of the same length.
        let my_iv: Vec<u8> = nonce.iter().map(|b| b ^ 0x5a).collect();
        let mut my_tag = vec![0; tag_len];
        let my_ct = symm::encrypt_aead(c, &key, Some(&my_iv), &aad, &plain, &mut my_tag).unwrap();
        let input = [my_ct.clone(), my_tag.clone()].concat();
        let p = gcm(given(&my_iv), &aad, tag_bits);
        let back = decrypt(&w, s, CKM_AES_GCM, &p, h, &input).expect("decrypt");
        assert_eq!(back, plain);
        // A wrong AAD or a changed tag fails the tag: no plaintext.
        let e = decrypt(
            &w,
            s,
            CKM_AES_GCM,
            &gcm(given(&my_iv), b"other", tag_bits),
            h,
            &input,
        );
        assert_eq!(e.unwrap_err().rv(), CKR_ENCRYPTED_DATA_INVALID);
        let mut bad = input.clone();
        *bad.last_mut().unwrap() ^= 1;
        let e = decrypt(&w, s, CKM_AES_GCM, &p, h, &bad);
        assert_eq!(e.unwrap_err().rv(), CKR_ENCRYPTED_DATA_INVALID);
    }
}

#[test]
fn the_tsb_chooses_the_iv_only_on_a_slot_that_opts_in() {
    // Default slot: an all-zero IV is the caller's IV.
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let h = aes_key(&w, s, "k", 32);
    let key = w.emu.secret_key_bytes("k").expect("key bytes");
    let plain = b"an all-zero IV is an IV".to_vec();
    let (iv, written) = iv_buffer(16);
    let ct = encrypt(&w, s, CKM_AES_CBC_PAD, &MechParams::Iv(iv), h, &plain).unwrap();
    assert_eq!(*written.lock().unwrap(), vec![0; 16]);
    let c = Cipher::aes_256_cbc();
    let back = openssl_crypt(c, symm::Mode::Decrypt, &key, Some(&[0; 16]), true, &ct);
    assert_eq!(back, plain);

    // "aes_iv": "tsb-when-zero": the TSB chooses, the module writes its IV back.
    let w = World::new(serde_json::json!({"aes_iv": "tsb-when-zero"}));
    let s = w.session();
    let h = aes_key(&w, s, "k", 32);
    let key = w.emu.secret_key_bytes("k").expect("key bytes");
    let (iv, written) = iv_buffer(12);
    let ct = encrypt(&w, s, CKM_AES_GCM, &gcm(iv, b"aad", 128), h, &plain).unwrap();
    assert_eq!(w.count("POST", "/v1/encrypt"), 1);
    let chosen = written.lock().unwrap().clone();
    assert_ne!(chosen, vec![0; 12], "the TSB's IV was written back");
    let (body, tag) = ct.split_at(plain.len());
    let mine = symm::decrypt_aead(
        Cipher::aes_256_gcm(),
        &key,
        Some(&chosen),
        b"aad",
        body,
        tag,
    );
    assert_eq!(mine.unwrap(), plain);
    let (iv, written) = iv_buffer(16);
    let ct = encrypt(&w, s, CKM_AES_CBC_PAD, &MechParams::Iv(iv), h, &plain).unwrap();
    let chosen = written.lock().unwrap().clone();
    assert_ne!(chosen, vec![0; 16]);
    let back = openssl_crypt(c, symm::Mode::Decrypt, &key, Some(&chosen), true, &ct);
    assert_eq!(back, plain);
    // Any other IV is still the caller's.
    let ct = encrypt(
        &w,
        s,
        CKM_AES_CBC_PAD,
        &MechParams::Iv(given(&[9; 16])),
        h,
        &plain,
    )
    .unwrap();
    let back = openssl_crypt(c, symm::Mode::Decrypt, &key, Some(&[9; 16]), true, &ct);
    assert_eq!(back, plain);
    // Tags the TSB does not make are refused for its own GCM, before any request.
    let before = w.count("POST", "/v1/encrypt");
    let (iv, _) = iv_buffer(12);
    let e = w.m.with_session(s, |sess| {
        w.m.encrypt_init(sess, CKM_AES_GCM, &gcm(iv, b"", 72), h)
    });
    assert_eq!(e.unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID);
    assert_eq!(w.count("POST", "/v1/encrypt"), before);
}

#[test]
fn aes_cbc_and_cbc_pad_under_the_callers_iv_single_and_multi_part_match_openssl() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let h = aes_key(&w, s, "cbc", 32);
    let key = w.emu.secret_key_bytes("cbc").expect("key bytes");
    let cipher = Cipher::aes_256_cbc();
    for (mech, plain) in [
        (CKM_AES_CBC_PAD, b"seventeen bytes!!".to_vec()),
        (CKM_AES_CBC_PAD, vec![0x42; 32]),
        (CKM_AES_CBC, vec![0x17; 48]),
    ] {
        let padded = mech == CKM_AES_CBC_PAD;
        let my_iv = [3u8; 16];
        // Multi-part encryption: the parts are collected, the Final call returns it all.
        let sent = w.count("POST", "/v1/encrypt");
        let p = MechParams::Iv(given(&my_iv));
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
        assert_eq!(
            w.count("POST", "/v1/encrypt"),
            sent + want as u64 / 16,
            "CBC chains here: one block-cipher request per block"
        );
        let theirs = openssl_crypt(
            cipher,
            symm::Mode::Encrypt,
            &key,
            Some(&my_iv),
            padded,
            &plain,
        );
        assert_eq!(ct, theirs, "OpenSSL's ciphertext under the same IV");
        // Single-part decryption under the caller's IV: the TSB's own CBC, one request.
        let sent = tsb_requests(&w);
        assert_eq!(decrypt(&w, s, mech, &p, h, &ct).unwrap(), plain);
        assert_eq!(tsb_requests(&w), (sent.0, sent.1 + 1));
    }
    // CKM_AES_CBC takes whole blocks: refused before any request.
    let before = w.count("POST", "/v1/encrypt");
    let e = encrypt(
        &w,
        s,
        CKM_AES_CBC,
        &MechParams::Iv(given(&[0; 16])),
        h,
        b"short",
    );
    assert_eq!(e.unwrap_err().rv(), CKR_DATA_LEN_RANGE);
    assert_eq!(w.count("POST", "/v1/encrypt"), before);
}

#[test]
fn aes_ecb_and_ctr_match_openssl_with_one_request_each() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    assert!(w.m.mechanism_list(0).unwrap().contains(&CKM_AES_ECB));
    assert!(w.m.mechanism_list(0).unwrap().contains(&CKM_AES_CTR));
    for len in [16, 24, 32] {
        let label = format!("ecb{len}");
        let h = aes_key(&w, s, &label, len);
        let key = w.emu.secret_key_bytes(&label).expect("key bytes");
        let (ecb, ctr) = match len {
            16 => (Cipher::aes_128_ecb(), Cipher::aes_128_ctr()),
            24 => (Cipher::aes_192_ecb(), Cipher::aes_192_ctr()),
            _ => (Cipher::aes_256_ecb(), Cipher::aes_256_ctr()),
        };
        // ECB: whole blocks, no padding; encryption is one /v1/encrypt, decryption one
        // /v1/synchronousDecrypt.
        let plain: Vec<u8> = (0..48).collect();
        let before = tsb_requests(&w);
        let ct = encrypt(&w, s, CKM_AES_ECB, &MechParams::None, h, &plain).unwrap();
        assert_eq!(
            ct,
            openssl_crypt(ecb, symm::Mode::Encrypt, &key, None, false, &plain)
        );
        assert_eq!(
            decrypt(&w, s, CKM_AES_ECB, &MechParams::None, h, &ct).unwrap(),
            plain
        );
        assert_eq!(tsb_requests(&w), (before.0 + 1, before.1 + 1));
        let e = encrypt(&w, s, CKM_AES_ECB, &MechParams::None, h, &plain[..20]).unwrap_err();
        assert_eq!(e.rv(), CKR_DATA_LEN_RANGE);
        let e = decrypt(&w, s, CKM_AES_ECB, &MechParams::None, h, &ct[..20]).unwrap_err();
        assert_eq!(e.rv(), CKR_ENCRYPTED_DATA_LEN_RANGE);
        assert_eq!(tsb_requests(&w), (before.0 + 1, before.1 + 1));
        // CTR with a 128-bit counter near a byte carry, 37 bytes (a part block at the end).
        let mut cb = [0u8; 16];
        cb[15] = 0xfe;
        cb[0] = 0x99;
        let p = MechParams::Ctr(aes::CtrParams {
            counter_bits: 128,
            cb,
        });
        let plain = b"counter mode over thirty-seven bytes.".to_vec();
        let before = tsb_requests(&w);
        let ct = encrypt(&w, s, CKM_AES_CTR, &p, h, &plain).unwrap();
        assert_eq!(
            ct,
            openssl_crypt(ctr, symm::Mode::Encrypt, &key, Some(&cb), false, &plain)
        );
        assert_eq!(decrypt(&w, s, CKM_AES_CTR, &p, h, &ct).unwrap(), plain);
        assert_eq!(tsb_requests(&w), (before.0 + 2, before.1));
    }
    // A counter that would wrap is refused, before any request.
    let h = aes_key(&w, s, "ctr", 16);
    let mut cb = [0u8; 16];
    cb[15] = 0xff;
    let p = MechParams::Ctr(aes::CtrParams {
        counter_bits: 8,
        cb,
    });
    let before = tsb_requests(&w);
    assert_eq!(
        encrypt(&w, s, CKM_AES_CTR, &p, h, &[0; 16]).unwrap().len(),
        16
    );
    let e = encrypt(&w, s, CKM_AES_CTR, &p, h, &[0; 17]).unwrap_err();
    assert_eq!(e.rv(), CKR_DATA_LEN_RANGE);
    assert_eq!(tsb_requests(&w), (before.0 + 1, before.1));
}

#[test]
fn gcm_and_ctr_decryption_need_a_key_that_encrypts_on_the_tsb() {
    // They decrypt with E_K of counter blocks: a decrypt-only key is refused at C_DecryptInit,
    // with nothing sent; its CBC and ECB decryption (D_K) still work, and so does GCM under a
    // 12-byte nonce and a tag length the TSB takes, which is the TSB's own AES_GCM decryption.
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    tsb_key(
        &w,
        "decrypt-only",
        serde_json::json!({"algorithm": "AES", "keySize": 256,
            "attributes": {"encrypt": false, "decrypt": true, "sign": false, "unwrap": false,
                "destroyable": true}}),
    );
    let h = by_label(&w, s, CKO_SECRET_KEY, "decrypt-only");
    let ctr = MechParams::Ctr(aes::CtrParams {
        counter_bits: 32,
        cb: [0; 16],
    });
    let before = tsb_requests(&w);
    for (mech, p) in [
        (CKM_AES_GCM, gcm(given(&[1; 8]), b"", 128)),
        (CKM_AES_GCM, gcm(given(&[1; 12]), b"", 72)),
        (CKM_AES_CTR, ctr),
    ] {
        let e =
            w.m.with_session(s, |sess| w.m.decrypt_init(sess, mech, &p, h));
        assert_eq!(
            e.unwrap_err().rv(),
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            "{mech:#x}"
        );
    }
    assert_eq!(tsb_requests(&w), before);
    let key = w.emu.secret_key_bytes("decrypt-only").expect("key bytes");
    let ct = openssl_crypt(
        Cipher::aes_256_ecb(),
        symm::Mode::Encrypt,
        &key,
        None,
        false,
        &[7; 32],
    );
    assert_eq!(
        decrypt(&w, s, CKM_AES_ECB, &MechParams::None, h, &ct).unwrap(),
        [7; 32]
    );
    // GCM under a 12-byte nonce: one request, the TSB's AES_GCM, which checks the tag.
    let nonce = [9u8; 12];
    let mut tag = [0u8; 16];
    let ct = symm::encrypt_aead(
        Cipher::aes_256_gcm(),
        &key,
        Some(&nonce),
        b"aad",
        b"gcm plaintext",
        &mut tag,
    )
    .unwrap();
    let sealed = [ct, tag.to_vec()].concat();
    let before = tsb_requests(&w);
    let p = gcm(given(&nonce), b"aad", 128);
    assert_eq!(
        decrypt(&w, s, CKM_AES_GCM, &p, h, &sealed).unwrap(),
        b"gcm plaintext"
    );
    assert_eq!(tsb_requests(&w), (before.0, before.1 + 1));
}

#[test]
fn a_too_small_buffer_keeps_the_ciphertext_and_sends_nothing_again() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let h = aes_key(&w, s, "k", 16);
    let p = gcm(given(&[4; 12]), b"", 128);
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
    // CBC under the caller's IV (a request per block), ECB decryption: the same.
    for (mech, p, input, requests) in [
        (
            CKM_AES_CBC,
            MechParams::Iv(given(&[1; 16])),
            vec![2u8; 48],
            (3, 0),
        ),
        (CKM_AES_ECB, MechParams::None, vec![3u8; 32], (0, 1)),
    ] {
        let before = tsb_requests(&w);
        let decrypting = mech == CKM_AES_ECB;
        if decrypting {
            w.m.with_session(s, |sess| w.m.decrypt_init(sess, mech, &p, h))
        } else {
            w.m.with_session(s, |sess| w.m.encrypt_init(sess, mech, &p, h))
        }
        .unwrap();
        let call = |cap| {
            if decrypting {
                w.m.with_operation(s, OpKind::Decrypt, |sess| w.m.decrypt(sess, &input, cap))
            } else {
                w.m.with_operation(s, OpKind::Encrypt, |sess| w.m.encrypt(sess, &input, cap))
            }
        };
        let n = input.len();
        assert_eq!(call(None).unwrap(), Output::Len(n));
        assert_eq!(call(Some(n - 1)).unwrap(), Output::TooSmall(n));
        assert_eq!(data(call(Some(n)).unwrap()).len(), n);
        let after = tsb_requests(&w);
        assert_eq!((after.0 - before.0, after.1 - before.1), requests);
    }
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

/// C_Verify takes no more data than C_Sign (16 MiB, the one message the TSB takes): more is
/// CKR_DATA_LEN_RANGE with nothing sent, for HMAC (one request that large) and for the AES MACs
/// (one request per 16-byte block: a million requests otherwise). The verification ends.
#[test]
fn a_verification_of_too_much_data_sends_nothing() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let hmac = genkey(
        &w,
        s,
        CKM_GENERIC_SECRET_KEY_GEN,
        &[
            ul(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
            a(CKA_TOKEN, &[1]),
            a(CKA_LABEL, b"big-hmac"),
        ],
    )
    .expect("HMAC keygen");
    let cmac = genkey(
        &w,
        s,
        CKM_AES_KEY_GEN,
        &[
            ul(CKA_VALUE_LEN, 16),
            a(CKA_TOKEN, &[1]),
            a(CKA_VERIFY, &[1]),
            a(CKA_LABEL, b"big-cmac"),
        ],
    )
    .expect("AES keygen");
    let big = vec![0u8; 16 * 1024 * 1024 + 1];
    for (mech, key, path, len) in [
        (CKM_SHA256_HMAC, hmac, "/v1/synchronousHmac", 32),
        (CKM_AES_CMAC, cmac, "/v1/encrypt", 16),
    ] {
        w.m.with_session(s, |sess| {
            w.m.verify_init(sess, mech, &MechParams::None, key)
        })
        .unwrap();
        let before = w.count("POST", path);
        let e =
            w.m.with_operation(s, OpKind::Verify, |sess| {
                w.m.verify(sess, Some(&big), &vec![0; len])
            })
            .unwrap_err();
        assert_eq!(e.rv(), CKR_DATA_LEN_RANGE, "0x{mech:x}");
        assert_eq!(w.count("POST", path), before, "0x{mech:x}: nothing sent");
        let e =
            w.m.with_operation(s, OpKind::Verify, |sess| {
                w.m.verify(sess, Some(b""), &vec![0; len])
            })
            .unwrap_err();
        assert_eq!(e.rv(), CKR_OPERATION_NOT_INITIALIZED, "0x{mech:x}: ended");
    }
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
    // The block cipher answering other than n or n + 1 blocks: refused (AES_ECB under ECB,
    // CTR, GCM and CBC alike).
    for (n, mech, p) in [
        (16, CKM_AES_ECB, MechParams::None),
        (64, CKM_AES_ECB, MechParams::None),
        (0, CKM_AES_CBC, MechParams::Iv(given(&[1; 16]))),
        (
            64,
            CKM_AES_CTR,
            MechParams::Ctr(aes::CtrParams {
                counter_bits: 64,
                cb: [0; 16],
            }),
        ),
        (32, CKM_AES_GCM, gcm(given(&[1; 12]), b"", 128)),
    ] {
        direct::respond(
            &w.emu,
            "POST",
            "/v1/encrypt",
            1,
            200,
            serde_json::json!({"encryptedPayload": b64(&vec![1; n]), "initializationVector": null})
                .to_string(),
        );
        let e = encrypt(&w, s, mech, &p, h, &[0; 32]).unwrap_err();
        assert_eq!(e.rv(), CKR_DEVICE_ERROR, "{n} bytes for {mech:#x}");
    }
    // ... or D_K's CBC decryption answering another length.
    direct::respond(
        &w.emu,
        "POST",
        "/v1/synchronousDecrypt",
        1,
        200,
        serde_json::json!({"payload": b64(&[0; 48])}).to_string(),
    );
    let e = decrypt(&w, s, CKM_AES_ECB, &MechParams::None, h, &[0; 32]).unwrap_err();
    assert_eq!(e.rv(), CKR_DEVICE_ERROR);
    // The TSB's own GCM (opted in): a ciphertext one byte short, or an IV of the wrong
    // length, is refused, and the IV buffer is not written.
    let w2 = World::new(serde_json::json!({"aes_iv": "tsb-when-zero"}));
    let s2 = w2.session();
    let h2 = aes_key(&w2, s2, "k", 32);
    direct::respond(
        &w2.emu,
        "POST",
        "/v1/encrypt",
        1,
        200,
        serde_json::json!({"encryptedPayload": b64(&[1; 20]), "initializationVector": b64(&[2; 12]),
            "messageAuthenticationCode": null, "encryptedPayloadWithoutMessageAuthenticationCode": null})
        .to_string(),
    );
    let (iv, written) = iv_buffer(12);
    let e = encrypt(
        &w2,
        s2,
        CKM_AES_GCM,
        &gcm(iv.clone(), b"", 128),
        h2,
        b"12345",
    )
    .unwrap_err();
    assert_eq!(e.rv(), CKR_DEVICE_ERROR);
    assert_eq!(*written.lock().unwrap(), vec![0; 12]);
    direct::respond(
        &w2.emu,
        "POST",
        "/v1/encrypt",
        1,
        200,
        serde_json::json!({"encryptedPayload": b64(&[1; 21]), "initializationVector": b64(&[2; 16])})
            .to_string(),
    );
    let e = encrypt(&w2, s2, CKM_AES_GCM, &gcm(iv, b"", 128), h2, b"12345").unwrap_err();
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

/// An AES MAC is one request per 16-byte block (up to 16 MiB: a million requests): closing the
/// session stops it at the next block with CKR_SESSION_CLOSED, as it stops an approval wait,
/// instead of the module sending the rest for a session that no longer exists.
#[test]
fn closing_the_session_stops_a_mac_of_many_blocks() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    stop_a_long_mac(&w, s, || w.m.close_session(s).unwrap(), CKR_SESSION_CLOSED);
}

/// C_SessionCancel(CKF_SIGN) from another thread stops a running AES MAC at its next block with
/// CKR_FUNCTION_CANCELED (it answered CKR_OK and the MAC went on sending its blocks); the session
/// stays usable, and a cancel with nothing running does not stop the next operation.
#[test]
fn session_cancel_stops_a_mac_of_many_blocks() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let key = stop_a_long_mac(
        &w,
        s,
        || {
            w.m.with_session(s, |sess| w.m.session_cancel(sess, CKF_SIGN))
                .unwrap()
        },
        CKR_FUNCTION_CANCELED,
    );
    // A cancel with nothing running, then a MAC: computed (RFC 4493's empty message needs one
    // block; the key is not RFC 4493's, so only the length is checked here).
    w.m.with_session(s, |sess| w.m.session_cancel(sess, CKF_SIGN | CKF_DERIVE))
        .unwrap();
    for data in [&b""[..], &[7u8; 100][..]] {
        w.m.with_session(s, |sess| {
            w.m.sign_init(sess, CKM_AES_CMAC, &MechParams::None, key)
        })
        .unwrap();
        let mac =
            w.m.with_operation(s, OpKind::Sign, |sess| w.m.sign(sess, Some(data), Some(16)));
        match mac.map_err(|e| e.rv()) {
            Ok(Output::Data(m)) => assert_eq!(m.len(), 16),
            other => panic!("a MAC after the cancel: {other:?}"),
        }
    }
}

/// Start a CMAC of 1 MiB (65,536 requests) on a token AES key in another thread, `stop` it once
/// it runs, and check that it ends with `expected` and sends at most one more request; the key.
fn stop_a_long_mac(
    w: &World,
    s: CK_SESSION_HANDLE,
    stop: impl FnOnce(),
    expected: CK_RV,
) -> CK_OBJECT_HANDLE {
    let key = long_mac_key(w, s, CKA_SIGN, b"long-cmac");
    w.m.with_session(s, |sess| {
        w.m.sign_init(sess, CKM_AES_CMAC, &MechParams::None, key)
    })
    .unwrap();
    let data = vec![0u8; 1024 * 1024];
    let (r, after) = while_blocks_go_out(
        w,
        || {
            w.m.with_operation(s, OpKind::Sign, |sess| {
                w.m.sign(sess, Some(&data), Some(16))
            })
            .map(drop)
        },
        stop,
    );
    assert_eq!(
        r.expect("the MAC went on after it was stopped"),
        Err(expected)
    );
    assert!(after <= 1, "{after} requests after the MAC was stopped");
    key
}

/// A token AES key for a long MAC (a session key is deleted on the TSB with its session, which
/// would stop the requests too), with `usage` (CKA_SIGN or CKA_VERIFY).
fn long_mac_key(
    w: &World,
    s: CK_SESSION_HANDLE,
    usage: CK_ATTRIBUTE_TYPE,
    label: &[u8],
) -> CK_OBJECT_HANDLE {
    genkey(
        w,
        s,
        CKM_AES_KEY_GEN,
        &[
            ul(CKA_VALUE_LEN, 16),
            a(usage, &[1]),
            a(CKA_TOKEN, &[1]),
            a(CKA_LABEL, label),
        ],
    )
    .expect("AES keygen")
}

/// Run `long` (an operation of many `/v1/encrypt` requests, made 2 ms slow here) on another
/// thread; once its third request is out, run `during` on this one. Then `long`'s outcome (Err
/// when it did not end within 30 s: a fault then ends it, so the test ends) and how many
/// requests it sent after `during` returned.
fn while_blocks_go_out(
    w: &World,
    long: impl FnOnce() -> Result<()> + Send,
    during: impl FnOnce(),
) -> (
    std::result::Result<std::result::Result<(), CK_RV>, std::sync::mpsc::RecvTimeoutError>,
    u64,
) {
    // 65,536 blocks at 2 ms each or more: minutes, unless something stops it.
    w.emu.set_latency(Duration::from_millis(2));
    let sent = || w.count("POST", "/v1/encrypt");
    let out = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        scope.spawn(move || tx.send(long().map_err(|e| e.rv())).unwrap());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while sent() < 3 {
            assert!(
                std::time::Instant::now() < deadline,
                "the operation never started"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        during();
        let at = sent();
        let r = rx.recv_timeout(Duration::from_secs(30));
        if r.is_err() {
            w.fault(
                "/v1/encrypt",
                "POST",
                1,
                FaultAction::Status {
                    status: 500,
                    error_code: None,
                },
            );
        }
        (r, sent() - at)
    });
    w.emu.set_latency(Duration::ZERO);
    out
}

/// While a long AES MAC verification runs on one thread, the session's verification is still
/// active: another thread's C_VerifyInit is CKR_OPERATION_ACTIVE and its C_Verify does not end
/// it (the operation was taken out of the session while it ran, so C_VerifyInit succeeded and
/// the running call's operation was lost to the second one). C_SessionCancel(CKF_VERIFY) then
/// stops it, and the session verifies again.
#[test]
fn a_running_mac_verification_keeps_its_operation_active() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let key = long_mac_key(&w, s, CKA_VERIFY, b"long-verify");
    let init = || {
        w.m.with_session(s, |sess| {
            w.m.verify_init(sess, CKM_AES_CMAC, &MechParams::None, key)
        })
    };
    let verify = |data: &[u8]| {
        w.m.with_operation(s, OpKind::Verify, |sess| {
            w.m.verify(sess, Some(data), &[0; 16])
        })
    };
    init().unwrap();
    let data = vec![0u8; 1024 * 1024];
    let (mut second, mut again) = (Ok(()), Ok(()));
    let (r, _) = while_blocks_go_out(
        &w,
        || verify(&data),
        || {
            second = init();
            again = verify(b"x");
            w.m.with_session(s, |sess| w.m.session_cancel(sess, CKF_VERIFY))
                .unwrap();
        },
    );
    assert_eq!(second.map_err(|e| e.rv()), Err(CKR_OPERATION_ACTIVE));
    assert_eq!(again.map_err(|e| e.rv()), Err(CKR_OPERATION_ACTIVE));
    assert_eq!(
        r.expect("the verification went on"),
        Err(CKR_FUNCTION_CANCELED)
    );
    // Ended by the cancel: the session starts a new verification.
    init().unwrap();
    assert_eq!(verify(b"x").map_err(|e| e.rv()), Err(CKR_SIGNATURE_INVALID));
}
