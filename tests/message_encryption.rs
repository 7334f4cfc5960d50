//! The PKCS#11 3.0 message-based encryption API with CKM_AES_GCM (issue 12): C_MessageEncryptInit,
//! C_EncryptMessage, C_EncryptMessageBegin/Next, C_MessageEncryptFinal and the decryption
//! counterparts, through the `cryptoki` crate and raw C calls: published vectors, multi-part
//! messages, length queries that cost no request, a wrong tag, the session state rules and
//! generated IVs.

mod common;

use common::vectors::{gcm_case4 as case4, Gcm as Vector};
use common::{raw, rv, Env, Opts};
use cryptoki::error::RvError;
use cryptoki::mechanism::aead::{GcmMessageParams, GeneratorFunction};
use cryptoki::mechanism::{Mechanism, MechanismType, MessageParam};
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use std::ptr::null_mut;

/// A session AES key with this value (C_CreateObject, as the `cryptoki` suite makes them).
fn aes_key(session: &Session, value: &[u8]) -> ObjectHandle {
    session
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(cryptoki::object::KeyType::AES),
            Attribute::Value(value.to_vec()),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
        ])
        .expect("create AES key")
}

fn params<'a>(
    iv: &'a mut [u8],
    fixed: u64,
    generator: GeneratorFunction,
    tag: &'a mut [u8],
) -> GcmMessageParams<'a> {
    GcmMessageParams::new(iv, fixed.into(), generator, tag).expect("params")
}

fn encrypt_one(session: &Session, key: ObjectHandle, v: &Vector, tag: &mut [u8]) -> Vec<u8> {
    let mut iv = v.iv.clone();
    let p = params(&mut iv, 0, GeneratorFunction::NoGenerate, tag);
    session
        .message_encrypt_init(&Mechanism::AesGcmMessage(p), key)
        .expect("C_MessageEncryptInit");
    let c = session
        .encrypt_message(&MessageParam::AesGcmMessage(p), &v.aad, &v.plain)
        .expect("C_EncryptMessage");
    session
        .message_encrypt_final()
        .expect("C_MessageEncryptFinal");
    c
}

isolated!(
    /// Published vectors, one message and in parts, both ways; the tag lands in pTag; a length
    /// query costs no request (one E_K request per message, for two C_EncryptMessage calls).
    fn gcm_messages_match_the_published_vectors_single_and_multi_part() {
        let env = Env::new(Opts::default());
        let session = env.session();
        let v = case4();
        let key = aes_key(&session, &v.key);
        let before = env.count("POST", "/v1/encrypt");
        let mut tag = [0u8; 16];
        let c = encrypt_one(&session, key, &v, &mut tag);
        assert_eq!(c, v.cipher);
        assert_eq!(tag.to_vec(), v.tag);
        // `encrypt_message` asks for the length first: that asked the TSB nothing.
        assert_eq!(env.count("POST", "/v1/encrypt") - before, 1);

        // The same message in three parts, with several messages in one operation.
        let mut iv = v.iv.clone();
        let mut tag2 = [0u8; 16];
        let p = params(&mut iv, 0, GeneratorFunction::NoGenerate, &mut tag2);
        session
            .message_encrypt_init(&Mechanism::AesGcmMessage(p), key)
            .unwrap();
        for _ in 0..2 {
            session
                .encrypt_message_begin(MessageParam::AesGcmMessage(p), &v.aad)
                .unwrap();
            let mut out = Vec::new();
            let parts = [&v.plain[..7], &v.plain[7..40], &v.plain[40..]];
            for (i, part) in parts.iter().enumerate() {
                let end = i == parts.len() - 1;
                out.extend(
                    session
                        .encrypt_message_next(MessageParam::AesGcmMessage(p), part, end)
                        .unwrap(),
                );
            }
            assert_eq!(out, v.cipher);
            assert_eq!(p.tag(), &v.tag[..]);
        }
        session.message_encrypt_final().unwrap();

        // Decryption: single, then in parts; the tag is read from the parameters.
        let mut iv = v.iv.clone();
        let mut tag3 = v.tag.clone();
        let p = params(&mut iv, 0, GeneratorFunction::NoGenerate, &mut tag3);
        session
            .message_decrypt_init(&Mechanism::AesGcmMessage(p), key)
            .unwrap();
        let plain = session
            .decrypt_message(&MessageParam::AesGcmMessage(p), &v.aad, &v.cipher)
            .unwrap();
        assert_eq!(plain, v.plain);
        session
            .decrypt_message_begin(MessageParam::AesGcmMessage(p), &v.aad)
            .unwrap();
        let mut out = session
            .decrypt_message_next(MessageParam::AesGcmMessage(p), &v.cipher[..30], false)
            .unwrap();
        // Nothing comes out before the tag is checked.
        assert!(out.is_empty());
        out.extend(
            session
                .decrypt_message_next(MessageParam::AesGcmMessage(p), &v.cipher[30..], true)
                .unwrap(),
        );
        assert_eq!(out, v.plain);
        session.message_decrypt_final().unwrap();

        // A 96-bit tag is the front of the full one.
        let mut tag4 = [0u8; 12];
        let c = encrypt_one(&session, key, &v, &mut tag4);
        assert_eq!(c, v.cipher);
        assert_eq!(tag4.to_vec(), v.tag[..12].to_vec());

        // C_GetMechanismInfo says so.
        let info = env
            .pkcs11
            .get_mechanism_info(env.slot, MechanismType::AES_GCM)
            .unwrap();
        assert!(info.message_encrypt() && info.message_decrypt() && info.encrypt());
    }
);

isolated!(
    /// A wrong tag, AAD or ciphertext: CKR_ENCRYPTED_DATA_INVALID and no plaintext; the
    /// operation stays for the next message.
    fn a_wrong_tag_returns_no_plaintext() {
        let env = Env::new(Opts::default());
        let session = env.session();
        let v = case4();
        let key = aes_key(&session, &v.key);
        let mut iv = v.iv.clone();
        let mut tag = v.tag.clone();
        tag[0] ^= 1;
        let p = params(&mut iv, 0, GeneratorFunction::NoGenerate, &mut tag);
        session
            .message_decrypt_init(&Mechanism::AesGcmMessage(p), key)
            .unwrap();
        let e = session
            .decrypt_message(&MessageParam::AesGcmMessage(p), &v.aad, &v.cipher)
            .unwrap_err();
        assert_eq!(rv(e), RvError::EncryptedDataInvalid);
        let e = session
            .decrypt_message(&MessageParam::AesGcmMessage(p), b"other", &v.cipher)
            .unwrap_err();
        assert_eq!(rv(e), RvError::EncryptedDataInvalid);
        // Multi-part: the error comes at the end, and no part returned plaintext.
        session
            .decrypt_message_begin(MessageParam::AesGcmMessage(p), &v.aad)
            .unwrap();
        assert!(session
            .decrypt_message_next(MessageParam::AesGcmMessage(p), &v.cipher[..20], false)
            .unwrap()
            .is_empty());
        let e = session
            .decrypt_message_next(MessageParam::AesGcmMessage(p), &v.cipher[20..], true)
            .unwrap_err();
        assert_eq!(rv(e), RvError::EncryptedDataInvalid);
        // The operation is still there: the right tag decrypts.
        let mut iv = v.iv.clone();
        let mut good = v.tag.clone();
        let p = params(&mut iv, 0, GeneratorFunction::NoGenerate, &mut good);
        assert_eq!(
            session
                .decrypt_message(&MessageParam::AesGcmMessage(p), &v.aad, &v.cipher)
                .unwrap(),
            v.plain
        );
        session.message_decrypt_final().unwrap();
    }
);

isolated!(
    /// One message-based operation per kind, calls without one, a message left open, and Final.
    fn message_operations_follow_the_session_state_rules() {
        let env = Env::new(Opts::default());
        let session = env.session();
        let v = case4();
        let key = aes_key(&session, &v.key);
        let mut iv = v.iv.clone();
        let mut tag = [0u8; 16];
        let p = params(&mut iv, 0, GeneratorFunction::NoGenerate, &mut tag);
        let m = Mechanism::AesGcmMessage(p);
        let mp = || MessageParam::AesGcmMessage(p);
        let e = session.encrypt_message(&mp(), b"", b"x").unwrap_err();
        assert_eq!(rv(e), RvError::OperationNotInitialized);
        assert_eq!(
            rv(session.message_encrypt_final().unwrap_err()),
            RvError::OperationNotInitialized
        );
        assert_eq!(
            rv(session.encrypt_message_begin(mp(), b"").unwrap_err()),
            RvError::OperationNotInitialized
        );
        session.message_encrypt_init(&m, key).unwrap();
        assert_eq!(
            rv(session.message_encrypt_init(&m, key).unwrap_err()),
            RvError::OperationActive
        );
        // C_EncryptInit is another operation: it may be active too.
        session.encrypt_init(&Mechanism::AesEcb, key).unwrap();
        // A part without a message begun.
        assert_eq!(
            rv(session.encrypt_message_next(mp(), b"x", true).unwrap_err()),
            RvError::OperationNotInitialized
        );
        session.encrypt_message_begin(mp(), b"").unwrap();
        // A single-part message, or a second Begin, while one is open.
        assert_eq!(
            rv(session.encrypt_message(&mp(), b"", b"x").unwrap_err()),
            RvError::OperationActive
        );
        // That error ended the open message; the operation stays.
        session.encrypt_message_begin(mp(), b"").unwrap();
        assert_eq!(
            rv(session.encrypt_message_begin(mp(), b"").unwrap_err()),
            RvError::OperationActive
        );
        assert_eq!(session.encrypt_message(&mp(), b"", b"").unwrap(), b"");
        session.message_encrypt_final().unwrap();
        assert_eq!(
            rv(session.encrypt_message(&mp(), b"", b"x").unwrap_err()),
            RvError::OperationNotInitialized
        );
        // Only CKM_AES_GCM; a key that may not encrypt is refused at Init, as C_EncryptInit does.
        assert_eq!(
            rv(session
                .message_encrypt_init(&Mechanism::AesEcb, key)
                .unwrap_err()),
            RvError::MechanismInvalid
        );
        let no_encrypt = session
            .create_object(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(cryptoki::object::KeyType::AES),
                Attribute::Value(v.key.clone()),
                Attribute::Encrypt(false),
                Attribute::Decrypt(true),
            ])
            .unwrap();
        assert_eq!(
            rv(session.message_encrypt_init(&m, no_encrypt).unwrap_err()),
            RvError::KeyFunctionNotPermitted
        );
    }
);

isolated!(
    /// Generated IVs: the counter keeps the fixed bits and increments per message (written back
    /// into pIv, at C_EncryptMessage and at C_EncryptMessageBegin); random IVs differ; each
    /// decrypts with the IV it was given back.
    fn generated_ivs_are_written_back_and_unique_per_message() {
        let env = Env::new(Opts::default());
        let session = env.session();
        let v = case4();
        let key = aes_key(&session, &v.key);
        let mut iv = [0xa5u8; 12];
        let mut tag = [0u8; 16];
        let mut p = params(&mut iv, 32, GeneratorFunction::GenerateCounter, &mut tag);
        session
            .message_encrypt_init(&Mechanism::AesGcmMessage(p), key)
            .unwrap();
        let mut seen = Vec::new();
        for k in 0u64..3 {
            let c = session
                .encrypt_message(&MessageParam::AesGcmMessage(p), &v.aad, &v.plain)
                .unwrap();
            let got = p.iv().to_vec();
            assert_eq!(&got[..4], &[0xa5; 4], "the fixed bits stay");
            assert_eq!(&got[4..], &k.to_be_bytes(), "message {k}");
            seen.push((got, c, p.tag().to_vec()));
        }
        // Multi-part: the IV comes back at Begin, the counter goes on.
        session
            .encrypt_message_begin(MessageParam::AesGcmMessage(p), &v.aad)
            .unwrap();
        assert_eq!(&p.iv()[4..], &3u64.to_be_bytes());
        let c = session
            .encrypt_message_next(MessageParam::AesGcmMessage(p), &v.plain, true)
            .unwrap();
        seen.push((p.iv().to_vec(), c, p.tag().to_vec()));
        session.message_encrypt_final().unwrap();

        // Random: 96 free bits, a different IV each time.
        let mut iv = [0u8; 12];
        let mut tag = [0u8; 16];
        let mut p = params(&mut iv, 0, GeneratorFunction::GenerateRandom, &mut tag);
        session
            .message_encrypt_init(&Mechanism::AesGcmMessage(p), key)
            .unwrap();
        for _ in 0..2 {
            let c = session
                .encrypt_message(&MessageParam::AesGcmMessage(p), &v.aad, &v.plain)
                .unwrap();
            seen.push((p.iv().to_vec(), c, p.tag().to_vec()));
        }
        // Fewer than 96 random bits are refused.
        let mut iv = [0u8; 12];
        let mut tag = [0u8; 16];
        let p = params(&mut iv, 8, GeneratorFunction::GenerateRandom, &mut tag);
        assert_eq!(
            rv(session
                .encrypt_message(&MessageParam::AesGcmMessage(p), b"", b"x")
                .unwrap_err()),
            RvError::MechanismParamInvalid
        );
        session.message_encrypt_final().unwrap();
        let ivs: std::collections::HashSet<_> = seen.iter().map(|s| s.0.clone()).collect();
        assert_eq!(ivs.len(), seen.len(), "every IV differs");

        // Each message decrypts with the IV it was given (and decryption generates none).
        for (iv, c, tag) in &seen {
            let (mut iv, mut tag) = (iv.clone(), tag.clone());
            let p = params(&mut iv, 0, GeneratorFunction::NoGenerate, &mut tag);
            session
                .message_decrypt_init(&Mechanism::AesGcmMessage(p), key)
                .unwrap();
            assert_eq!(
                session
                    .decrypt_message(&MessageParam::AesGcmMessage(p), &v.aad, c)
                    .unwrap(),
                v.plain
            );
            session.message_decrypt_final().unwrap();
        }
        let (mut iv, mut tag) = (seen[0].0.clone(), seen[0].2.clone());
        let p = params(&mut iv, 32, GeneratorFunction::GenerateCounter, &mut tag);
        session
            .message_decrypt_init(&Mechanism::AesGcmMessage(p), key)
            .unwrap();
        assert_eq!(
            rv(session
                .decrypt_message(&MessageParam::AesGcmMessage(p), &v.aad, &seen[0].1)
                .unwrap_err()),
            RvError::MechanismParamInvalid
        );
    }
);

isolated!(
    /// The counter generator never gives the same IV twice under one key in one process: a
    /// second C_MessageEncryptInit with the same fixed part, and another session's operation on
    /// the same key, go on from where the counter stood (GCM under a repeated IV and key gives
    /// away the authentication key).
    fn counter_ivs_do_not_repeat_across_operations_on_one_key() {
        let env = Env::new(Opts::default());
        let (s1, s2) = (env.session(), env.session());
        let v = case4();
        let key = aes_key(&s1, &v.key);
        let mut seen = std::collections::HashSet::new();
        for round in 0..2 {
            for s in [&s1, &s2] {
                let mut iv = [0x5au8; 12];
                let mut tag = [0u8; 16];
                let mut p = params(&mut iv, 32, GeneratorFunction::GenerateCounter, &mut tag);
                s.message_encrypt_init(&Mechanism::AesGcmMessage(p), key)
                    .unwrap();
                for _ in 0..2 {
                    s.encrypt_message(&MessageParam::AesGcmMessage(p), &v.aad, &v.plain)
                        .unwrap();
                    assert_eq!(&p.iv()[..4], &[0x5a; 4], "the fixed bits stay");
                    assert!(
                        seen.insert(p.iv().to_vec()),
                        "round {round}: IV {:02x?} was generated before",
                        p.iv()
                    );
                }
                s.message_encrypt_final().unwrap();
            }
        }
        assert_eq!(seen.len(), 8);
    }
);

type EncryptMessageFn = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    *mut std::ffi::c_void,
    CK_ULONG,
    *mut u8,
    CK_ULONG,
    *mut u8,
    CK_ULONG,
    *mut u8,
    *mut CK_ULONG,
) -> CK_RV;

fn sym<T>(name: &str) -> T {
    let p = common::module_symbol(name);
    assert!(!p.is_null());
    // SAFETY: the module exports `name` with the C signature T (PKCS#11 3.0).
    unsafe { std::mem::transmute_copy(&p) }
}

isolated!(
    /// Raw C: a length query answers the length without a request and generates no IV;
    /// CKR_BUFFER_TOO_SMALL keeps the result (with its IV and tag) for the retry, which sends
    /// nothing; a failed decryption leaves the output buffer untouched; NULL pointers inside the
    /// parameters are refused before they are followed.
    fn length_queries_and_short_buffers_send_nothing_twice() {
        let env = Env::new(Opts::default());
        let v = case4();
        let s = raw::open_session(0);
        let f = raw::fns();
        let (mut class, mut kt, mut t) = (CKO_SECRET_KEY, CKK_AES, CK_TRUE);
        let ul = std::mem::size_of::<CK_ULONG>() as CK_ULONG;
        let mut key_value = v.key.clone();
        let mut tmpl = [
            CK_ATTRIBUTE {
                type_: CKA_CLASS,
                pValue: &mut class as *mut _ as *mut _,
                ulValueLen: ul,
            },
            CK_ATTRIBUTE {
                type_: CKA_KEY_TYPE,
                pValue: &mut kt as *mut _ as *mut _,
                ulValueLen: ul,
            },
            CK_ATTRIBUTE {
                type_: CKA_VALUE,
                pValue: key_value.as_mut_ptr() as *mut _,
                ulValueLen: 16,
            },
            CK_ATTRIBUTE {
                type_: CKA_ENCRYPT,
                pValue: &mut t as *mut _ as *mut _,
                ulValueLen: 1,
            },
        ];
        let mut key = 0;
        assert_eq!(
            unsafe { f.C_CreateObject.unwrap()(s, tmpl.as_mut_ptr(), 4, &mut key) },
            CKR_OK
        );
        let init: unsafe extern "C" fn(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_ULONG) -> CK_RV =
            sym("C_MessageEncryptInit");
        let enc: EncryptMessageFn = sym("C_EncryptMessage");
        let dec_init: unsafe extern "C" fn(
            CK_SESSION_HANDLE,
            *mut CK_MECHANISM,
            CK_ULONG,
        ) -> CK_RV = sym("C_MessageDecryptInit");
        let dec: EncryptMessageFn = sym("C_DecryptMessage");
        let mut mech = CK_MECHANISM {
            mechanism: CKM_AES_GCM,
            pParameter: null_mut(),
            ulParameterLen: 0,
        };
        assert_eq!(unsafe { init(s, &mut mech, key) }, CKR_OK);
        let mut iv = [0x11u8; 12];
        let mut tag = [0u8; 16];
        let mut gp = CK_GCM_MESSAGE_PARAMS {
            pIv: iv.as_mut_ptr(),
            ulIvLen: 12,
            ulIvFixedBits: 0,
            ivGenerator: CKG_GENERATE_COUNTER,
            pTag: tag.as_mut_ptr(),
            ulTagBits: 128,
        };
        let gpl = std::mem::size_of::<CK_GCM_MESSAGE_PARAMS>() as CK_ULONG;
        let (aad, plain) = (v.aad.clone(), v.plain.clone());
        let call = |gp: &mut CK_GCM_MESSAGE_PARAMS, out: *mut u8, len: &mut CK_ULONG| unsafe {
            enc(
                s,
                gp as *mut _ as *mut _,
                gpl,
                aad.as_ptr() as *mut u8,
                aad.len() as CK_ULONG,
                plain.as_ptr() as *mut u8,
                plain.len() as CK_ULONG,
                out,
                len,
            )
        };
        let before = env.count("POST", "/v1/encrypt");
        let mut len = 0;
        assert_eq!(call(&mut gp, null_mut(), &mut len), CKR_OK);
        assert_eq!(len, 60);
        assert_eq!(iv, [0x11; 12], "a length query generates no IV");
        let mut out = [0u8; 64];
        len = 10;
        assert_eq!(
            call(&mut gp, out.as_mut_ptr(), &mut len),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(len, 60);
        assert_eq!((iv, tag), ([0x11; 12], [0; 16]), "nothing returned yet");
        assert_eq!(env.count("POST", "/v1/encrypt") - before, 1);
        len = 64;
        assert_eq!(call(&mut gp, out.as_mut_ptr(), &mut len), CKR_OK);
        assert_eq!(len, 60);
        assert_eq!(
            env.count("POST", "/v1/encrypt") - before,
            1,
            "the retry sent nothing"
        );
        assert_eq!(iv, [0u8; 12], "the first counter IV, written back");
        let (c, t) = (out[..60].to_vec(), tag);
        // NULL pIv or pTag inside the parameters, a wrong size, an odd tag length.
        let mut bad = gp;
        bad.pTag = null_mut();
        assert_eq!(
            call(&mut bad, out.as_mut_ptr(), &mut len),
            CKR_MECHANISM_PARAM_INVALID
        );
        let mut bad = gp;
        bad.ulIvLen = 0;
        assert_eq!(
            call(&mut bad, out.as_mut_ptr(), &mut len),
            CKR_MECHANISM_PARAM_INVALID
        );
        let mut bad = gp;
        bad.ulTagBits = 100;
        assert_eq!(
            call(&mut bad, out.as_mut_ptr(), &mut len),
            CKR_MECHANISM_PARAM_INVALID
        );
        let mut flen = 0;
        assert_eq!(
            unsafe {
                enc(
                    s,
                    &mut gp as *mut _ as *mut _,
                    gpl - 8,
                    null_mut(),
                    0,
                    null_mut(),
                    0,
                    null_mut(),
                    &mut flen,
                )
            },
            CKR_MECHANISM_PARAM_INVALID
        );

        // Decryption: the wrong tag leaves the buffer as it was.
        let mut t_bad = t;
        t_bad[15] ^= 0x80;
        let div = iv;
        assert_eq!(unsafe { dec_init(s, &mut mech, key) }, CKR_OK);
        let ct = c.clone();
        let decrypt = |tag: &mut [u8; 16], out: &mut [u8; 64], plen: &mut CK_ULONG| {
            let mut dp = CK_GCM_MESSAGE_PARAMS {
                pIv: div.as_ptr() as *mut u8,
                ulIvLen: 12,
                ulIvFixedBits: 0,
                ivGenerator: CKG_NO_GENERATE,
                pTag: tag.as_mut_ptr(),
                ulTagBits: 128,
            };
            *plen = 64;
            unsafe {
                dec(
                    s,
                    &mut dp as *mut _ as *mut _,
                    gpl,
                    aad.as_ptr() as *mut u8,
                    aad.len() as CK_ULONG,
                    ct.as_ptr() as *mut u8,
                    ct.len() as CK_ULONG,
                    out.as_mut_ptr(),
                    plen,
                )
            }
        };
        let mut plain_out = [0x55u8; 64];
        let mut plen: CK_ULONG = 0;
        assert_eq!(
            decrypt(&mut t_bad, &mut plain_out, &mut plen),
            CKR_ENCRYPTED_DATA_INVALID
        );
        assert_eq!(plain_out, [0x55u8; 64], "no plaintext on a wrong tag");
        let mut t_good = t;
        assert_eq!(decrypt(&mut t_good, &mut plain_out, &mut plen), CKR_OK);
        assert_eq!(&plain_out[..plen as usize], &v.plain[..]);
        // The mechanism's parameter at Init: none or a CK_GCM_MESSAGE_PARAMS, never read as
        // CK_GCM_PARAMS (the same size on 64-bit: the generator and pTag would be read as the
        // AAD pointer and length).
        let mut m2 = CK_MECHANISM {
            mechanism: CKM_AES_GCM,
            pParameter: &mut gp as *mut _ as *mut _,
            ulParameterLen: 7,
        };
        let final_: unsafe extern "C" fn(CK_SESSION_HANDLE) -> CK_RV = sym("C_MessageEncryptFinal");
        assert_eq!(unsafe { final_(s) }, CKR_OK);
        assert_eq!(
            unsafe { init(s, &mut m2, key) },
            CKR_MECHANISM_PARAM_INVALID
        );
        gp.ivGenerator = CKG_GENERATE_RANDOM;
        let mut m3 = CK_MECHANISM {
            mechanism: CKM_AES_GCM,
            pParameter: &mut gp as *mut _ as *mut _,
            ulParameterLen: gpl,
        };
        assert_eq!(unsafe { init(s, &mut m3, key) }, CKR_OK);
        assert_eq!(unsafe { final_(s) }, CKR_OK);
    }
);

isolated!(
    /// C_MessageSign* and C_MessageVerify* stay unoffered: CKR_FUNCTION_NOT_SUPPORTED, after
    /// CKR_CRYPTOKI_NOT_INITIALIZED and the session check.
    fn message_sign_and_verify_stay_unoffered() {
        let init: unsafe extern "C" fn(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_ULONG) -> CK_RV =
            sym("C_MessageSignInit");
        assert_eq!(
            unsafe { init(1, null_mut(), 0) },
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        let _env = Env::new(Opts::default());
        assert_eq!(
            unsafe { init(0xdead, null_mut(), 0) },
            CKR_SESSION_HANDLE_INVALID
        );
        let s = raw::open_session(0);
        assert_eq!(
            unsafe { init(s, null_mut(), 0) },
            CKR_FUNCTION_NOT_SUPPORTED
        );
    }
);
