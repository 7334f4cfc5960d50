//! Issue 10, PKCS#11 semantics seen while attacking the module: handles never reused within a
//! process, absurd attribute lengths in templates, the threads flag of C_Initialize, single-part
//! calls that fail end their operation, and a panic inside an operation ends it quietly.

mod common;

use common::{direct, raw, Env, Opts};
use cryptoki_sys::*;
use std::ptr::null_mut;

fn session_info(s: CK_SESSION_HANDLE) -> CK_RV {
    let mut si = unsafe { std::mem::zeroed::<CK_SESSION_INFO>() };
    unsafe { raw::fns().C_GetSessionInfo.unwrap()(s, &mut si) }
}

fn label_of(s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> CK_RV {
    let mut buf = [0u8; 64];
    let mut a = CK_ATTRIBUTE {
        type_: CKA_LABEL,
        pValue: buf.as_mut_ptr() as *mut _,
        ulValueLen: buf.len() as CK_ULONG,
    };
    unsafe { raw::fns().C_GetAttributeValue.unwrap()(s, o, &mut a, 1) }
}

isolated!(
    /// Item 14: after C_Finalize and C_Initialize, a session or object handle from before is
    /// invalid and is never handed out again.
    fn handles_are_never_reused_after_finalize_and_initialize() {
        let env = Env::new(Opts::default());
        direct::create_key(&env.emu, "handles", "p256", None);
        let f = raw::fns();
        let s1 = raw::open_session(0);
        let o1 = raw::find_one(s1, "handles", CKO_PRIVATE_KEY);
        assert_eq!(label_of(s1, o1), CKR_OK);
        unsafe {
            assert_eq!(f.C_Finalize.unwrap()(null_mut()), CKR_OK);
            assert_eq!(f.C_Initialize.unwrap()(null_mut()), CKR_OK);
        }
        assert_eq!(session_info(s1), CKR_SESSION_HANDLE_INVALID);
        let s2 = raw::open_session(0);
        assert_ne!(s2, s1, "a session handle was handed out twice");
        assert_eq!(session_info(s1), CKR_SESSION_HANDLE_INVALID);
        // The same key gets a new object handle; the old one names nothing.
        assert_eq!(label_of(s2, o1), CKR_OBJECT_HANDLE_INVALID);
        let o2 = raw::find_one(s2, "handles", CKO_PRIVATE_KEY);
        assert_ne!(o2, o1, "an object handle was handed out twice");
        assert_eq!(label_of(s2, o1), CKR_OBJECT_HANDLE_INVALID);
        assert_eq!(label_of(s2, o2), CKR_OK);
        // And again, with a second cycle.
        unsafe {
            assert_eq!(f.C_Finalize.unwrap()(null_mut()), CKR_OK);
            assert_eq!(f.C_Initialize.unwrap()(null_mut()), CKR_OK);
        }
        let s3 = raw::open_session(0);
        assert!(s3 != s1 && s3 != s2);
        std::mem::forget(env.pkcs11);
    }
);

isolated!(
    /// Item 13: an attribute whose ulValueLen is absurd (2^40) in any template-taking call is an
    /// invalid attribute value (never CKR_DATA_LEN_RANGE), and nothing is read past the buffer.
    fn absurd_attribute_lengths_in_templates_are_invalid_values() {
        let env = Env::new(Opts::default());
        let f = raw::fns();
        let s = raw::open_session(0);
        let mut buf = *b"label";
        let p = buf.as_mut_ptr();
        let huge = |ty| CK_ATTRIBUTE {
            type_: ty,
            pValue: p as *mut _,
            ulValueLen: 1 << 40,
        };
        unsafe {
            let mut t = [huge(CKA_LABEL)];
            assert_eq!(
                f.C_FindObjectsInit.unwrap()(s, t.as_mut_ptr(), 1),
                CKR_ATTRIBUTE_VALUE_INVALID
            );
            let mut m = CK_MECHANISM {
                mechanism: CKM_EC_KEY_PAIR_GEN,
                pParameter: null_mut(),
                ulParameterLen: 0,
            };
            let (mut pubh, mut privh) = (0, 0);
            let mut ok = [CK_ATTRIBUTE {
                type_: CKA_LABEL,
                pValue: p as *mut _,
                ulValueLen: 5,
            }];
            assert_eq!(
                f.C_GenerateKeyPair.unwrap()(
                    s,
                    &mut m,
                    t.as_mut_ptr(),
                    1,
                    ok.as_mut_ptr(),
                    1,
                    &mut pubh,
                    &mut privh
                ),
                CKR_ATTRIBUTE_VALUE_INVALID
            );
            assert_eq!(
                f.C_GenerateKeyPair.unwrap()(
                    s,
                    &mut m,
                    ok.as_mut_ptr(),
                    1,
                    t.as_mut_ptr(),
                    1,
                    &mut pubh,
                    &mut privh
                ),
                CKR_ATTRIBUTE_VALUE_INVALID
            );
            let mut h = 0;
            let mut t = [huge(CKA_VALUE)];
            assert_eq!(
                f.C_CreateObject.unwrap()(s, t.as_mut_ptr(), 1, &mut h),
                CKR_ATTRIBUTE_VALUE_INVALID
            );
            assert_eq!(
                f.C_SetAttributeValue.unwrap()(s, 1, t.as_mut_ptr(), 1),
                CKR_ATTRIBUTE_VALUE_INVALID
            );
            // A find with a sane template still works afterwards.
            assert_eq!(f.C_FindObjectsInit.unwrap()(s, ok.as_mut_ptr(), 1), CKR_OK);
            assert_eq!(f.C_FindObjectsFinal.unwrap()(s), CKR_OK);
        }
        drop(env);
    }
);

isolated!(
    /// C_Initialize with CKF_LIBRARY_CANT_CREATE_OS_THREADS (what p11-kit and GnuTLS pass) is
    /// accepted: the module's HTTP client threads are an implementation detail; signing works.
    fn initialize_accepts_library_cant_create_os_threads() {
        let env = Env::new(Opts::default());
        direct::create_key(&env.emu, "threads", "p256", None);
        let f = raw::fns();
        unsafe {
            assert_eq!(f.C_Finalize.unwrap()(null_mut()), CKR_OK);
            let mut args: CK_C_INITIALIZE_ARGS = std::mem::zeroed();
            args.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS | CKF_OS_LOCKING_OK;
            assert_eq!(
                f.C_Initialize.unwrap()(&mut args as *mut _ as *mut _),
                CKR_OK
            );
            assert_eq!(f.C_Finalize.unwrap()(null_mut()), CKR_OK);
            // Without CKF_OS_LOCKING_OK too (p11-kit's own flags for a module it loads).
            args.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS;
            assert_eq!(
                f.C_Initialize.unwrap()(&mut args as *mut _ as *mut _),
                CKR_OK
            );
        }
        let s = raw::open_session(0);
        let key = raw::find_one(s, "threads", CKO_PRIVATE_KEY);
        let (rv, sig, _) = raw::sign(s, key, CKM_ECDSA, &[7u8; 32], Some(64));
        assert_eq!(rv, CKR_OK);
        assert_eq!(sig.len(), 64);
        std::mem::forget(env.pkcs11);
    }
);

fn mech(m: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: m,
        pParameter: null_mut(),
        ulParameterLen: 0,
    }
}

fn digest_init(s: CK_SESSION_HANDLE) -> CK_RV {
    unsafe { raw::fns().C_DigestInit.unwrap()(s, &mut mech(CKM_SHA256)) }
}

fn digest(s: CK_SESSION_HANDLE, data: &[u8], out: Option<&mut [u8]>) -> (CK_RV, CK_ULONG) {
    let (p, mut len) = match out {
        Some(b) => (b.as_mut_ptr(), b.len() as CK_ULONG),
        None => (null_mut(), 0),
    };
    let rv = unsafe {
        raw::fns().C_Digest.unwrap()(
            s,
            data.as_ptr() as *mut _,
            data.len() as CK_ULONG,
            p,
            &mut len,
        )
    };
    (rv, len)
}

fn digest_final(s: CK_SESSION_HANDLE, out: &mut [u8]) -> CK_RV {
    let mut len = out.len() as CK_ULONG;
    unsafe { raw::fns().C_DigestFinal.unwrap()(s, out.as_mut_ptr(), &mut len) }
}

fn sign_init(s: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE, m: CK_MECHANISM_TYPE) -> CK_RV {
    unsafe { raw::fns().C_SignInit.unwrap()(s, &mut mech(m), key) }
}

isolated!(
    /// Item 12: C_Digest, C_Sign, C_Verify, C_Encrypt and C_Decrypt (and their Update/Final) that
    /// fail with anything but CKR_BUFFER_TOO_SMALL end the operation, argument errors included; a
    /// length query on C_Digest commits the operation to C_Digest, so C_DigestFinal is refused
    /// instead of returning the digest of nothing.
    fn failed_single_part_calls_end_their_operation() {
        let env = Env::new(Opts::default());
        direct::create_key(&env.emu, "ec", "p256", None);
        direct::create_key(&env.emu, "rsa", "rsa", None);
        let f = raw::fns();
        let s = raw::open_session(0);
        let ec = raw::find_one(s, "ec", CKO_PRIVATE_KEY);
        let rsa = raw::find_one(s, "rsa", CKO_PRIVATE_KEY);
        let rsa_pub = raw::find_one(s, "rsa", CKO_PUBLIC_KEY);
        let mut out = [0u8; 512];
        unsafe {
            // --- digest: a length query, then C_DigestFinal: refused and ended.
            assert_eq!(digest_init(s), CKR_OK);
            assert_eq!(digest(s, b"abc", None), (CKR_OK, 32));
            assert_eq!(digest_final(s, &mut out), CKR_OPERATION_ACTIVE);
            assert_eq!(
                digest(s, b"abc", Some(&mut out)).0,
                CKR_OPERATION_NOT_INITIALIZED
            );
            // ... then C_DigestUpdate: refused and ended.
            assert_eq!(digest_init(s), CKR_OK);
            assert_eq!(digest(s, b"abc", None), (CKR_OK, 32));
            assert_eq!(
                f.C_DigestUpdate.unwrap()(s, b"x".as_ptr() as *mut _, 1),
                CKR_OPERATION_ACTIVE
            );
            assert_eq!(
                digest(s, b"abc", Some(&mut out)).0,
                CKR_OPERATION_NOT_INITIALIZED
            );
            // A length query then the real call is the standard's two-step and works.
            assert_eq!(digest_init(s), CKR_OK);
            assert_eq!(digest(s, b"abc", None), (CKR_OK, 32));
            assert_eq!(
                digest(s, b"abc", Some(&mut out[..31])),
                (CKR_BUFFER_TOO_SMALL, 32)
            );
            assert_eq!(digest(s, b"abc", Some(&mut out)), (CKR_OK, 32));
            assert_eq!(
                out[..4],
                [0xba, 0x78, 0x16, 0xbf],
                "SHA-256(abc) starts with ba7816bf"
            );
            // C_Digest with a NULL length pointer: CKR_ARGUMENTS_BAD, and the digest is over.
            assert_eq!(digest_init(s), CKR_OK);
            assert_eq!(
                f.C_Digest.unwrap()(
                    s,
                    b"abc".as_ptr() as *mut _,
                    3,
                    out.as_mut_ptr(),
                    null_mut()
                ),
                CKR_ARGUMENTS_BAD
            );
            assert_eq!(
                digest_init(s),
                CKR_OK,
                "the failed C_Digest left the digest active"
            );
            // C_DigestUpdate with NULL data and a length: over too.
            assert_eq!(
                f.C_DigestUpdate.unwrap()(s, null_mut(), 5),
                CKR_ARGUMENTS_BAD
            );
            assert_eq!(digest_final(s, &mut out), CKR_OPERATION_NOT_INITIALIZED);
            // Multi-part, then C_Digest: refused and ended.
            assert_eq!(digest_init(s), CKR_OK);
            assert_eq!(
                f.C_DigestUpdate.unwrap()(s, b"a".as_ptr() as *mut _, 1),
                CKR_OK
            );
            assert_eq!(digest(s, b"abc", Some(&mut out)).0, CKR_OPERATION_ACTIVE);
            assert_eq!(digest_final(s, &mut out), CKR_OPERATION_NOT_INITIALIZED);

            // --- sign: NULL length pointer ends the operation; so does NULL data with a length.
            assert_eq!(sign_init(s, ec, CKM_ECDSA), CKR_OK);
            assert_eq!(
                f.C_Sign.unwrap()(
                    s,
                    [1u8; 32].as_ptr() as *mut _,
                    32,
                    out.as_mut_ptr(),
                    null_mut()
                ),
                CKR_ARGUMENTS_BAD
            );
            assert_eq!(
                sign_init(s, ec, CKM_ECDSA),
                CKR_OK,
                "C_Sign's failure left it active"
            );
            let mut len = 64;
            assert_eq!(
                f.C_Sign.unwrap()(s, null_mut(), 32, out.as_mut_ptr(), &mut len),
                CKR_ARGUMENTS_BAD
            );
            assert_eq!(
                raw::sign_again(s, &[1u8; 32], Some(64)).0,
                CKR_OPERATION_NOT_INITIALIZED
            );
            // A wrong data length is an error of the call: ended.
            assert_eq!(sign_init(s, ec, CKM_ECDSA), CKR_OK);
            assert_eq!(raw::sign_again(s, &[], Some(64)).0, CKR_DATA_LEN_RANGE);
            assert_eq!(sign_init(s, ec, CKM_ECDSA), CKR_OK);
            // A length query and a too-small buffer keep it; the result then comes once.
            assert_eq!(raw::sign_again(s, &[2u8; 32], None).0, CKR_OK);
            assert_eq!(
                raw::sign_again(s, &[2u8; 32], Some(10)).0,
                CKR_BUFFER_TOO_SMALL
            );
            assert_eq!(raw::sign_again(s, &[2u8; 32], Some(64)).0, CKR_OK);
            // A length query commits to C_Sign: C_SignUpdate/C_SignFinal are refused and end it.
            assert_eq!(sign_init(s, ec, CKM_ECDSA_SHA256), CKR_OK);
            assert_eq!(raw::sign_again(s, b"data", None).0, CKR_OK);
            assert_eq!(
                f.C_SignUpdate.unwrap()(s, b"x".as_ptr() as *mut _, 1),
                CKR_OPERATION_ACTIVE
            );
            assert_eq!(
                raw::sign_again(s, b"data", Some(64)).0,
                CKR_OPERATION_NOT_INITIALIZED
            );
            // C_SignUpdate then C_Sign: refused and ended.
            assert_eq!(sign_init(s, ec, CKM_ECDSA_SHA256), CKR_OK);
            assert_eq!(
                f.C_SignUpdate.unwrap()(s, b"x".as_ptr() as *mut _, 1),
                CKR_OK
            );
            assert_eq!(
                raw::sign_again(s, b"data", Some(64)).0,
                CKR_OPERATION_ACTIVE
            );
            let mut len = 64;
            assert_eq!(
                f.C_SignFinal.unwrap()(s, out.as_mut_ptr(), &mut len),
                CKR_OPERATION_NOT_INITIALIZED
            );
            // C_SignUpdate with NULL data and a length: ended.
            assert_eq!(sign_init(s, ec, CKM_ECDSA_SHA256), CKR_OK);
            assert_eq!(f.C_SignUpdate.unwrap()(s, null_mut(), 3), CKR_ARGUMENTS_BAD);
            assert_eq!(sign_init(s, ec, CKM_ECDSA_SHA256), CKR_OK);
            assert_eq!(
                f.C_SignFinal.unwrap()(s, out.as_mut_ptr(), null_mut()),
                CKR_ARGUMENTS_BAD
            );
            assert_eq!(sign_init(s, ec, CKM_ECDSA_SHA256), CKR_OK);
            assert_eq!(raw::sign_again(s, b"data", Some(64)).0, CKR_OK);

            // --- verify: NULL signature with a length ends it.
            let ec_pub = raw::find_one(s, "ec", CKO_PUBLIC_KEY);
            assert_eq!(
                f.C_VerifyInit.unwrap()(s, &mut mech(CKM_ECDSA), ec_pub),
                CKR_OK
            );
            assert_eq!(
                f.C_Verify.unwrap()(s, [1u8; 32].as_ptr() as *mut _, 32, null_mut(), 64),
                CKR_ARGUMENTS_BAD
            );
            assert_eq!(
                f.C_VerifyInit.unwrap()(s, &mut mech(CKM_ECDSA), ec_pub),
                CKR_OK
            );
            assert_eq!(
                f.C_VerifyUpdate.unwrap()(s, null_mut(), 2),
                CKR_ARGUMENTS_BAD
            );
            assert_eq!(
                f.C_VerifyFinal.unwrap()(s, out.as_mut_ptr(), 64),
                CKR_OPERATION_NOT_INITIALIZED
            );

            // --- encrypt and decrypt: NULL length pointers end them.
            assert_eq!(
                f.C_EncryptInit.unwrap()(s, &mut mech(CKM_RSA_PKCS), rsa_pub),
                CKR_OK
            );
            assert_eq!(
                f.C_Encrypt.unwrap()(s, b"m".as_ptr() as *mut _, 1, out.as_mut_ptr(), null_mut()),
                CKR_ARGUMENTS_BAD
            );
            assert_eq!(
                f.C_EncryptInit.unwrap()(s, &mut mech(CKM_RSA_PKCS), rsa_pub),
                CKR_OK,
                "C_Encrypt's failure left it active"
            );
            let mut len = 256;
            assert_eq!(
                f.C_Encrypt.unwrap()(s, b"m".as_ptr() as *mut _, 1, out.as_mut_ptr(), &mut len),
                CKR_OK
            );
            let ct = out[..256].to_vec();
            assert_eq!(
                f.C_DecryptInit.unwrap()(s, &mut mech(CKM_RSA_PKCS), rsa),
                CKR_OK
            );
            assert_eq!(
                f.C_Decrypt.unwrap()(s, ct.as_ptr() as *mut _, 256, out.as_mut_ptr(), null_mut()),
                CKR_ARGUMENTS_BAD
            );
            assert_eq!(
                f.C_DecryptInit.unwrap()(s, &mut mech(CKM_RSA_PKCS), rsa),
                CKR_OK,
                "C_Decrypt's failure left it active"
            );
            let mut len = 256;
            assert_eq!(
                f.C_Decrypt.unwrap()(s, ct.as_ptr() as *mut _, 256, out.as_mut_ptr(), &mut len),
                CKR_OK
            );
            assert_eq!(&out[..len as usize], b"m");
        }
        drop(env);
    }
);

/// Run `f` with file descriptor 2 (stderr) redirected to a file; returns what was written there.
fn capture_stderr<T>(f: impl FnOnce() -> T) -> (T, String) {
    use std::os::fd::AsRawFd;
    let path = std::env::temp_dir().join(format!("tsb-stderr-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let saved = unsafe { libc::dup(2) };
    assert!(saved >= 0);
    unsafe { assert_eq!(libc::dup2(file.as_raw_fd(), 2), 2) };
    let r = f();
    unsafe {
        libc::dup2(saved, 2);
        libc::close(saved);
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    (r, text)
}

isolated!(
    /// Item 8: a panic inside C_Sign (provoked with the debug-build seam TSB_PKCS11_PANIC_AT, while
    /// the signature is in flight) answers CKR_GENERAL_ERROR, ends the operation (the next
    /// C_SignInit works, with and without C_SessionCancel), and its text goes to the module's log
    /// only, never to the host's stderr. The same for a panic inside C_Digest.
    fn a_panic_inside_an_operation_ends_it_and_reaches_only_the_log() {
        let log = std::env::temp_dir().join(format!("tsb-panic-log-{}", std::process::id()));
        let _ = std::fs::remove_file(&log);
        let env = Env::new(Opts {
            env: vec![("TSB_PKCS11_LOG_FILE".into(), log.display().to_string())],
            ..Default::default()
        });
        direct::create_key(&env.emu, "panicky", "p256", None);
        let f = raw::fns();
        let s = raw::open_session(0);
        let key = raw::find_one(s, "panicky", CKO_PRIVATE_KEY);
        std::env::set_var("TSB_PKCS11_PANIC_AT", "remote-op");
        let ((rv, _, _), stderr) =
            capture_stderr(|| raw::sign(s, key, CKM_ECDSA, &[1u8; 32], Some(64)));
        assert_eq!(rv, CKR_GENERAL_ERROR);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("injected panic"),
            "panic text on the host's stderr: {stderr}"
        );
        // The operation is over: C_Sign has nothing to finish, C_SignInit starts a new one.
        assert_eq!(
            raw::sign_again(s, &[1u8; 32], Some(64)).0,
            CKR_OPERATION_NOT_INITIALIZED
        );
        std::env::remove_var("TSB_PKCS11_PANIC_AT");
        let (rv, sig, _) = raw::sign(s, key, CKM_ECDSA, &[1u8; 32], Some(64));
        assert_eq!(rv, CKR_OK);
        assert_eq!(sig.len(), 64);
        // The same after C_SessionCancel (the way the report first tried to recover).
        std::env::set_var("TSB_PKCS11_PANIC_AT", "remote-op");
        let ((rv, _, _), _) = capture_stderr(|| raw::sign(s, key, CKM_ECDSA, &[1u8; 32], Some(64)));
        assert_eq!(rv, CKR_GENERAL_ERROR);
        std::env::remove_var("TSB_PKCS11_PANIC_AT");
        let cancel: unsafe extern "C" fn(CK_SESSION_HANDLE, CK_FLAGS) -> CK_RV =
            unsafe { std::mem::transmute(common::module_symbol("C_SessionCancel")) };
        assert_eq!(unsafe { cancel(s, CKF_SIGN) }, CKR_OK);
        assert_eq!(raw::sign(s, key, CKM_ECDSA, &[1u8; 32], Some(64)).0, CKR_OK);
        // A panic inside C_Digest, with the session's state locked.
        std::env::set_var("TSB_PKCS11_PANIC_AT", "digest");
        assert_eq!(digest_init(s), CKR_OK);
        let (r, stderr) = capture_stderr(|| digest(s, b"abc", Some(&mut [0u8; 32])));
        assert_eq!(r.0, CKR_GENERAL_ERROR);
        assert!(!stderr.contains("panicked"), "{stderr}");
        std::env::remove_var("TSB_PKCS11_PANIC_AT");
        assert_eq!(
            digest_init(s),
            CKR_OK,
            "the digest stayed active after the panic"
        );
        assert_eq!(digest(s, b"abc", Some(&mut [0u8; 32])), (CKR_OK, 32));
        // Each panic is in the module's log: where it happened, and which call it ended.
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            text.matches("injected panic at remote-op").count(),
            2,
            "{text}"
        );
        assert!(text.contains("injected panic at digest"), "{text}");
        assert!(text.contains("C_Sign: internal error"), "{text}");
        assert!(text.contains("C_Digest: internal error"), "{text}");
        unsafe { assert_eq!(f.C_CloseSession.unwrap()(s), CKR_OK) };
        drop(env);
    }
);

isolated!(
    /// CKA_UNIQUE_ID (PKCS#11 3.0 §4.4): every object has one, no two objects share one (the
    /// halves of a key pair and a copy included), and an application can neither choose it at
    /// creation nor change it.
    fn every_object_has_its_own_read_only_unique_id() {
        use cryptoki::error::{Error, RvError};
        use cryptoki::mechanism::Mechanism;
        use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
        // No key cache: the key made again below is seen at once.
        let env = Env::new(Opts {
            slot_json: Some(serde_json::json!({"cache_ttl_s": 0})),
            ..Opts::default()
        });
        direct::create_key(&env.emu, "uid-pair", "p256", None);
        let s = env.session();
        let unique = |o: ObjectHandle| -> Vec<u8> {
            match s
                .get_attributes(o, &[AttributeType::UniqueId])
                .unwrap()
                .pop()
            {
                Some(Attribute::UniqueId(v)) => v,
                other => panic!("no CKA_UNIQUE_ID: {other:?}"),
            }
        };
        let find = |class: ObjectClass| {
            s.find_objects(&[
                Attribute::Label(b"uid-pair".to_vec()),
                Attribute::Class(class),
            ])
            .unwrap()[0]
        };
        let secret = s
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Token(true),
                    Attribute::Label(b"uid-aes".to_vec()),
                    Attribute::ValueLen(32.into()),
                    Attribute::Decrypt(true),
                ],
            )
            .unwrap();
        let data = s
            .create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Value(b"x".to_vec()),
            ])
            .unwrap();
        let copy = s.copy_object(data, &[]).unwrap();
        let ids = [
            unique(find(ObjectClass::PRIVATE_KEY)),
            unique(find(ObjectClass::PUBLIC_KEY)),
            unique(secret),
            unique(data),
            unique(copy),
        ];
        for (i, a) in ids.iter().enumerate() {
            assert!(!a.is_empty());
            for b in &ids[i + 1..] {
                assert_ne!(a, b, "two objects share a CKA_UNIQUE_ID");
            }
        }
        // Read again: the same value.
        assert_eq!(unique(secret), ids[2]);
        let rv = |r: cryptoki::error::Result<()>| match r {
            Err(Error::Pkcs11(rv, _)) => rv,
            other => panic!("expected an error, got {other:?}"),
        };
        assert_eq!(
            rv(s.create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::UniqueId(vec![1]),
            ])
            .map(|_| ())),
            RvError::AttributeTypeInvalid
        );
        for o in [secret, data] {
            assert_eq!(
                rv(s.update_attributes(o, &[Attribute::UniqueId(vec![1, 2, 3])])),
                RvError::AttributeReadOnly
            );
        }
        // Key generation takes no CKA_UNIQUE_ID either.
        assert_eq!(
            rv(s.generate_key(
                &Mechanism::AesKeyGen,
                &[Attribute::ValueLen(16.into()), Attribute::UniqueId(vec![1])],
            )
            .map(|_| ())),
            RvError::AttributeTypeInvalid
        );
        assert_eq!(
            rv(s.generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[Attribute::EcParams(common::ec_params(
                    "1.2.840.10045.3.1.7"
                ))],
                &[Attribute::UniqueId(vec![1])],
            )
            .map(|_| ())),
            RvError::AttributeTypeInvalid
        );
        s.destroy_object(secret).unwrap();
        // A key deleted and made again under the same label is another object: its
        // CKA_UNIQUE_ID is not the old key's (the TSB's createTime tells them apart).
        s.destroy_object(find(ObjectClass::PRIVATE_KEY)).unwrap();
        env.emu.advance_clock(std::time::Duration::from_secs(2));
        direct::create_key(&env.emu, "uid-pair", "p256", None);
        assert_ne!(unique(find(ObjectClass::PRIVATE_KEY)), ids[0]);
    }
);

/// A CK_ATTRIBUTE over `v`.
fn attribute<T>(ty: CK_ATTRIBUTE_TYPE, v: &mut T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: v as *mut T as *mut _,
        ulValueLen: std::mem::size_of::<T>() as CK_ULONG,
    }
}

/// CKA_VALUE of `h` (up to 64 bytes).
fn value_of(s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let mut a = CK_ATTRIBUTE {
        type_: CKA_VALUE,
        pValue: buf.as_mut_ptr() as *mut _,
        ulValueLen: 64,
    };
    let rv = unsafe { raw::fns().C_GetAttributeValue.unwrap()(s, h, &mut a, 1) };
    assert_eq!(rv, CKR_OK, "CKA_VALUE");
    buf[..a.ulValueLen as usize].to_vec()
}

/// AES-ECB (`iv` None) or AES-CBC of whole blocks under a 16-byte key, by OpenSSL.
fn openssl_aes128(key: &[u8], iv: Option<&[u8]>, data: &[u8]) -> Vec<u8> {
    use openssl::symm::{Cipher, Crypter, Mode};
    let cipher = match iv {
        None => Cipher::aes_128_ecb(),
        Some(_) => Cipher::aes_128_cbc(),
    };
    let mut c = Crypter::new(cipher, Mode::Encrypt, key, iv).unwrap();
    c.pad(false);
    let mut out = vec![0; data.len() + 16];
    let n = c.update(data, &mut out).unwrap();
    out.truncate(n);
    out
}

isolated!(
    /// C_DeriveKey and C_DigestKey through the C ABI: CK_KEY_DERIVATION_STRING_DATA and
    /// CK_AES_CBC_ENCRYPT_DATA_PARAMS are read as PKCS#11 lays them out (the derived values match
    /// OpenSSL's AES under the base key's known value), a parameter of the wrong size is
    /// CKR_MECHANISM_PARAM_INVALID, and C_DigestKey digests the key's value.
    fn derive_and_digest_key_through_the_c_abi() {
        let _env = Env::new(Opts::default());
        let f = raw::fns();
        let s = raw::open_session(0);
        let key: Vec<u8> = (0..16).map(|b| b * 5 + 1).collect();
        let (mut class, mut aes, mut yes, mut no, mut len) =
            (CKO_SECRET_KEY, CKK_AES, CK_TRUE, CK_FALSE, 16 as CK_ULONG);
        let mut base = 0;
        unsafe {
            let mut t = [
                attribute(CKA_CLASS, &mut class),
                attribute(CKA_KEY_TYPE, &mut aes),
                CK_ATTRIBUTE {
                    type_: CKA_VALUE,
                    pValue: key.as_ptr() as *mut _,
                    ulValueLen: 16,
                },
                attribute(CKA_DERIVE, &mut yes),
                attribute(CKA_SENSITIVE, &mut no),
                attribute(CKA_EXTRACTABLE, &mut yes),
            ];
            assert_eq!(
                f.C_CreateObject.unwrap()(s, t.as_mut_ptr(), 6, &mut base),
                CKR_OK
            );
        }
        let mut derived_template = [
            attribute(CKA_CLASS, &mut class),
            attribute(CKA_KEY_TYPE, &mut aes),
            attribute(CKA_VALUE_LEN, &mut len),
            attribute(CKA_SENSITIVE, &mut no),
            attribute(CKA_EXTRACTABLE, &mut yes),
        ];
        let data: Vec<u8> = (0..32).map(|b| b ^ 0xa5).collect();
        let iv = [0x11u8; 16];
        let mut ecb = CK_KEY_DERIVATION_STRING_DATA {
            pData: data.as_ptr() as *mut _,
            ulLen: 32,
        };
        let mut cbc = CK_AES_CBC_ENCRYPT_DATA_PARAMS {
            iv,
            pData: data.as_ptr() as *mut _,
            length: 32,
        };
        let derive = |mech: CK_MECHANISM_TYPE,
                      p: *mut std::ffi::c_void,
                      plen: usize,
                      t: &mut [CK_ATTRIBUTE],
                      out: *mut CK_OBJECT_HANDLE| unsafe {
            let mut m = CK_MECHANISM {
                mechanism: mech,
                pParameter: p,
                ulParameterLen: plen as CK_ULONG,
            };
            f.C_DeriveKey.unwrap()(s, &mut m, base, t.as_mut_ptr(), t.len() as CK_ULONG, out)
        };
        let ecb_p = &mut ecb as *mut _ as *mut std::ffi::c_void;
        let cbc_p = &mut cbc as *mut _ as *mut std::ffi::c_void;
        let ecb_len = std::mem::size_of::<CK_KEY_DERIVATION_STRING_DATA>();
        let cbc_len = std::mem::size_of::<CK_AES_CBC_ENCRYPT_DATA_PARAMS>();
        let mut h = 0;
        assert_eq!(
            derive(
                CKM_AES_ECB_ENCRYPT_DATA,
                ecb_p,
                ecb_len,
                &mut derived_template,
                &mut h
            ),
            CKR_OK
        );
        assert_eq!(value_of(s, h), openssl_aes128(&key, None, &data)[..16]);
        assert_eq!(
            derive(
                CKM_AES_CBC_ENCRYPT_DATA,
                cbc_p,
                cbc_len,
                &mut derived_template,
                &mut h
            ),
            CKR_OK
        );
        assert_eq!(value_of(s, h), openssl_aes128(&key, Some(&iv), &data)[..16]);
        // Parameters of the wrong size, NULL data, a NULL handle pointer.
        for (mech, p, plen) in [
            (CKM_AES_ECB_ENCRYPT_DATA, ecb_p, ecb_len - 1),
            (CKM_AES_ECB_ENCRYPT_DATA, cbc_p, cbc_len),
            (CKM_AES_CBC_ENCRYPT_DATA, ecb_p, ecb_len),
        ] {
            assert_eq!(
                derive(mech, p, plen, &mut derived_template, &mut h),
                CKR_MECHANISM_PARAM_INVALID,
                "0x{mech:x} with {plen} bytes"
            );
        }
        // SAFETY: ecb_p points at `ecb`, alive and not otherwise borrowed here.
        unsafe { (*(ecb_p as *mut CK_KEY_DERIVATION_STRING_DATA)).pData = null_mut() };
        assert_eq!(
            derive(
                CKM_AES_ECB_ENCRYPT_DATA,
                ecb_p,
                ecb_len,
                &mut derived_template,
                &mut h
            ),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            derive(
                CKM_AES_CBC_ENCRYPT_DATA,
                cbc_p,
                cbc_len,
                &mut derived_template,
                null_mut()
            ),
            CKR_ARGUMENTS_BAD
        );
        // C_DigestKey: the key's value between two parts.
        let mut out = [0u8; 32];
        unsafe {
            assert_eq!(
                f.C_DigestKey.unwrap()(s, base),
                CKR_OPERATION_NOT_INITIALIZED
            );
            assert_eq!(digest_init(s), CKR_OK);
            assert_eq!(
                f.C_DigestUpdate.unwrap()(s, b"k=".as_ptr() as *mut _, 2),
                CKR_OK
            );
            assert_eq!(f.C_DigestKey.unwrap()(s, base), CKR_OK);
        }
        assert_eq!(digest_final(s, &mut out), CKR_OK);
        let want = openssl::sha::sha256(&[&b"k="[..], &key].concat());
        assert_eq!(out, want);
    }
);
