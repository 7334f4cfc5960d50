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
