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
            assert_eq!(f.C_Initialize.unwrap()(&mut args as *mut _ as *mut _), CKR_OK);
            assert_eq!(f.C_Finalize.unwrap()(null_mut()), CKR_OK);
            // Without CKF_OS_LOCKING_OK too (p11-kit's own flags for a module it loads).
            args.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS;
            assert_eq!(f.C_Initialize.unwrap()(&mut args as *mut _ as *mut _), CKR_OK);
        }
        let s = raw::open_session(0);
        let key = raw::find_one(s, "threads", CKO_PRIVATE_KEY);
        let (rv, sig, _) = raw::sign(s, key, CKM_ECDSA, &[7u8; 32], Some(64));
        assert_eq!(rv, CKR_OK);
        assert_eq!(sig.len(), 64);
        std::mem::forget(env.pkcs11);
    }
);
