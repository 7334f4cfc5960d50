//! Message-based AES-GCM (token/message.rs) in-process: a decryption by the TSB's own AES_GCM is
//! sent once, its result kept through CKR_BUFFER_TOO_SMALL, and a message in progress is ended by
//! an error, not the operation. (AES keys carry no SKA policy on the TSB: "only asymmetric keys
//! can", the emulator's PolicyDto check; so no message decryption waits for approvers.)

use super::*;
use crate::mechanism::gcm_message::GcmMessage;
use crate::token::{Decrypt, Encrypt};
use openssl::symm::{encrypt_aead, Cipher};

/// An AES-128 key made on the emulator; its handle in `s`.
fn aes_key(w: &World, s: CK_SESSION_HANDLE, label: &str) -> CK_OBJECT_HANDLE {
    tsb_key(
        w,
        label,
        serde_json::json!({"algorithm": "AES", "keySize": 128,
            "attributes": {"decrypt": true, "encrypt": true, "sign": false, "unwrap": false,
                "destroyable": true}}),
    );
    let t = Template::new(vec![
        Attr::new(CKA_CLASS, CKO_SECRET_KEY.to_ne_bytes().to_vec()),
        Attr::new(CKA_LABEL, label.as_bytes().to_vec()),
    ]);
    let found =
        w.m.with_session(s, |sess| w.m.find(sess, &t))
            .expect("find");
    assert_eq!(found.len(), 1);
    found[0]
}

fn params(iv: &[u8], tag: &[u8]) -> GcmMessage {
    GcmMessage {
        iv: iv.to_vec(),
        fixed_bits: 0,
        generator: CKG_NO_GENERATE,
        tag_bits: 128,
        tag: tag.to_vec(),
    }
}

#[test]
fn a_message_decryption_is_sent_once_and_keeps_its_result() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let key = aes_key(&w, s, "gcm-dec");
    let bytes = w.emu.secret_key_bytes("gcm-dec").expect("key bytes");
    let (iv, aad, plain) = ([7u8; 12], b"header", b"a message for approvers");
    let mut tag = [0u8; 16];
    let ct = encrypt_aead(
        Cipher::aes_128_gcm(),
        &bytes,
        Some(&iv),
        aad,
        plain,
        &mut tag,
    )
    .unwrap();

    w.m.with_session(s, |sess| {
        w.m.message_init::<Decrypt>(sess, CKM_AES_GCM, key)
    })
    .unwrap();
    let p = params(&iv, &tag);
    let call = |cap: Option<usize>| {
        w.m.with_operation(s, OpKind::MessageDecrypt, |sess| {
            w.m.message_single::<Decrypt>(sess, &p, aad, &ct, cap)
        })
    };
    // A length query sends nothing.
    assert_eq!(call(None).unwrap().out, Output::Len(plain.len()));
    let sent = || w.count("POST", "/v1/synchronousDecrypt");
    assert_eq!(sent(), 0);
    // Too small: the result (the TSB's AES_GCM checked the tag) is kept.
    assert_eq!(call(Some(3)).unwrap().out, Output::TooSmall(plain.len()));
    assert_eq!(sent(), 1);
    assert_eq!(call(None).unwrap().out, Output::Len(plain.len()));
    let o = call(Some(64)).unwrap();
    assert_eq!(o.out, Output::Data(plain.to_vec()));
    assert_eq!((o.iv, o.tag), (None, None));
    assert_eq!(sent(), 1, "sent once");
    assert_eq!(
        w.count("POST", "/v1/encrypt"),
        0,
        "the TSB decrypted, not E_K here"
    );
    w.m.with_session(s, |sess| w.m.message_final::<Decrypt>(sess))
        .unwrap();
}

#[test]
fn an_error_ends_the_message_not_the_operation() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let key = aes_key(&w, s, "gcm-msg");
    w.m.with_session(s, |sess| {
        w.m.message_init::<Encrypt>(sess, CKM_AES_GCM, key)
    })
    .unwrap();
    let p = params(&[1; 12], &[]);
    let next = |p: Option<&GcmMessage>, data: &[u8], end: bool| {
        w.m.with_operation(s, OpKind::MessageEncrypt, |sess| {
            w.m.message_next::<Encrypt>(sess, p, data, Some(64), end)
        })
    };
    w.m.with_operation(s, OpKind::MessageEncrypt, |sess| {
        w.m.message_begin::<Encrypt>(sess, &p, b"")
    })
    .unwrap();
    assert_eq!(
        next(None, b"part", false).unwrap().out,
        Output::Data(vec![])
    );
    // The last part without its parameters (where the tag goes): an argument error, which ends
    // the message.
    assert_eq!(rv(next(None, b"end", true)), CKR_ARGUMENTS_BAD);
    assert_eq!(
        rv(next(Some(&p), b"end", true)),
        CKR_OPERATION_NOT_INITIALIZED
    );
    // The operation is still there: a new message runs.
    w.m.with_operation(s, OpKind::MessageEncrypt, |sess| {
        w.m.message_begin::<Encrypt>(sess, &p, b"")
    })
    .unwrap();
    let o = next(Some(&p), b"whole", true).unwrap();
    assert!(matches!(o.out, Output::Data(ref c) if c.len() == 5));
    assert_eq!(o.tag.map(|t| t.len()), Some(16));
    // A tag length other than Begin's is refused.
    w.m.with_operation(s, OpKind::MessageEncrypt, |sess| {
        w.m.message_begin::<Encrypt>(sess, &p, b"")
    })
    .unwrap();
    let mut short = p.clone();
    short.tag_bits = 96;
    assert_eq!(
        rv(next(Some(&short), b"x", true)),
        CKR_MECHANISM_PARAM_INVALID
    );
    w.m.with_session(s, |sess| w.m.message_final::<Encrypt>(sess))
        .unwrap();
    assert_eq!(
        rv(w.m.with_session(s, |sess| w.m.message_final::<Encrypt>(sess))),
        CKR_OPERATION_NOT_INITIALIZED
    );
}

/// A result kept through CKR_BUFFER_TOO_SMALL answers only a retry of the call that made it,
/// with parameters that can take its IV and tag: a C_EncryptMessageNext (no Begin) after a
/// C_EncryptMessage, or a C_EncryptMessage while a multi-part message waits for its retry, got
/// the other message's ciphertext and tag with CKR_OK; a retry of the last C_EncryptMessageNext
/// without its CK_GCM_MESSAGE_PARAMS (or with another tag length) got the ciphertext, and the C
/// boundary wrote it into the caller's buffer before failing on the tag. Nothing is sent again.
#[test]
fn a_kept_result_answers_only_a_retry_of_the_call_that_made_it() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let key = aes_key(&w, s, "gcm-kept");
    w.m.with_session(s, |sess| {
        w.m.message_init::<Encrypt>(sess, CKM_AES_GCM, key)
    })
    .unwrap();
    let p = params(&[1; 12], &[]);
    let single = |data: &[u8], cap: Option<usize>| {
        w.m.with_operation(s, OpKind::MessageEncrypt, |sess| {
            w.m.message_single::<Encrypt>(sess, &p, b"", data, cap)
        })
    };
    let begin = || {
        w.m.with_operation(s, OpKind::MessageEncrypt, |sess| {
            w.m.message_begin::<Encrypt>(sess, &p, b"")
        })
        .unwrap()
    };
    let next = |p: Option<&GcmMessage>, data: &[u8], cap: Option<usize>| {
        w.m.with_operation(s, OpKind::MessageEncrypt, |sess| {
            w.m.message_next::<Encrypt>(sess, p, data, cap, true)
        })
    };
    let sent = || w.count("POST", "/v1/encrypt");

    // C_EncryptMessage's result, then a C_EncryptMessageNext that no Begin started.
    assert_eq!(single(b"first", Some(1)).unwrap().out, Output::TooSmall(5));
    assert_eq!(sent(), 1);
    assert_eq!(
        rv(next(Some(&p), b"other", Some(64))),
        CKR_OPERATION_NOT_INITIALIZED
    );
    // The last part of a multi-part message, then a C_EncryptMessage of another message while
    // that one is still open (CKR_BUFFER_TOO_SMALL does not end it).
    begin();
    assert_eq!(
        next(Some(&p), b"second", Some(1)).unwrap().out,
        Output::TooSmall(6)
    );
    assert_eq!(sent(), 2);
    assert_eq!(
        rv(single(b"a third message", Some(64))),
        CKR_OPERATION_ACTIVE
    );
    // The retry of the last part without the parameters its tag goes into, or with a tag
    // buffer of another length: refused, the output not handed out.
    begin();
    assert_eq!(
        next(Some(&p), b"fourth", Some(1)).unwrap().out,
        Output::TooSmall(6)
    );
    assert_eq!(rv(next(None, b"", Some(64))), CKR_ARGUMENTS_BAD);
    begin();
    assert_eq!(
        next(Some(&p), b"fifth", Some(1)).unwrap().out,
        Output::TooSmall(5)
    );
    let mut short = p.clone();
    short.tag_bits = 96;
    assert_eq!(
        rv(next(Some(&short), b"", Some(64))),
        CKR_MECHANISM_PARAM_INVALID
    );
    // The right retry gets its own message, once.
    begin();
    assert_eq!(
        next(Some(&p), b"sixth!", Some(1)).unwrap().out,
        Output::TooSmall(6)
    );
    let o = next(Some(&p), b"", Some(64)).unwrap();
    assert!(matches!(o.out, Output::Data(ref c) if c.len() == 6));
    assert_eq!(o.tag.map(|t| t.len()), Some(16));
    assert_eq!(sent(), 5, "no message was sent twice");
}
