//! The standard's error order, walked over every entry point of the 3.2 interface: first
//! initialisation (CKR_CRYPTOKI_NOT_INITIALIZED, also for functions the module does not offer),
//! then the session or slot (CKR_SESSION_HANDLE_INVALID, CKR_SLOT_ID_INVALID), then the
//! arguments (CKR_ARGUMENTS_BAD), and only then what the module can do
//! (CKR_FUNCTION_NOT_SUPPORTED). Every call passes NULL pointers and zero lengths, so a function
//! that looked at its arguments or its capability first would answer something else.

mod common;

use common::{module_symbol, raw, Env, Opts};
use cryptoki_sys::*;
use std::ptr::null_mut as n;

/// What an entry point's handle argument is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Takes {
    /// A session handle.
    Session,
    /// A slot id.
    Slot,
    /// Neither (C_Finalize, C_GetInfo, C_GetSlotList, C_WaitForSlotEvent).
    Nothing,
}

/// Whether the module offers the function (else CKR_FUNCTION_NOT_SUPPORTED after the checks).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Offered {
    Yes,
    No,
    /// The legacy parallel functions: CKR_FUNCTION_NOT_PARALLEL.
    Parallel,
}

type Call = Box<dyn Fn(CK_ULONG) -> CK_RV>;

/// A 3.2 function the cryptoki_sys lists lack, from the loaded module.
macro_rules! sym {
    ($name:literal: fn($($t:ty),*)) => {{
        // SAFETY: the module exports this symbol with this C signature (PKCS#11 3.2).
        let f: unsafe extern "C" fn($($t),*) -> CK_RV =
            unsafe { std::mem::transmute(module_symbol($name)) };
        f
    }};
}

/// Every entry point but C_Initialize, C_GetFunctionList, C_GetInterfaceList and
/// C_GetInterface (which work before C_Initialize), with NULL/zero arguments and `h` as its
/// session handle or slot id.
fn entry_points() -> Vec<(&'static str, Takes, Offered, Call)> {
    use Offered::*;
    use Takes::*;
    let f = raw::fns();
    let mut list: CK_INTERFACE_PTR = n();
    // SAFETY: C_GetInterface with a writable out-pointer; the default interface is the 3.2
    // "PKCS 11" table, whose first part is a CK_FUNCTION_LIST_3_0.
    let f3: &'static CK_FUNCTION_LIST_3_0 = unsafe {
        let get: unsafe extern "C" fn(
            *mut CK_UTF8CHAR,
            *mut CK_VERSION,
            *mut CK_INTERFACE_PTR,
            CK_FLAGS,
        ) -> CK_RV = std::mem::transmute(module_symbol("C_GetInterface"));
        assert_eq!(get(n(), n(), &mut list, 0), CKR_OK);
        &*((*list).pFunctionList as *const CK_FUNCTION_LIST_3_0)
    };
    let encapsulate = sym!("C_EncapsulateKey": fn(CK_ULONG, *mut CK_MECHANISM, CK_ULONG, *mut CK_ATTRIBUTE, CK_ULONG, *mut u8, *mut CK_ULONG, *mut CK_ULONG));
    let decapsulate = sym!("C_DecapsulateKey": fn(CK_ULONG, *mut CK_MECHANISM, CK_ULONG, *mut CK_ATTRIBUTE, CK_ULONG, *mut u8, CK_ULONG, *mut CK_ULONG));
    let verify_sig_init =
        sym!("C_VerifySignatureInit": fn(CK_ULONG, *mut CK_MECHANISM, CK_ULONG, *mut u8, CK_ULONG));
    let verify_sig = sym!("C_VerifySignature": fn(CK_ULONG, *mut u8, CK_ULONG));
    let verify_sig_update = sym!("C_VerifySignatureUpdate": fn(CK_ULONG, *mut u8, CK_ULONG));
    let verify_sig_final = sym!("C_VerifySignatureFinal": fn(CK_ULONG));
    let validation_flags =
        sym!("C_GetSessionValidationFlags": fn(CK_ULONG, CK_ULONG, *mut CK_FLAGS));
    let async_complete = sym!("C_AsyncComplete": fn(CK_ULONG, *mut u8, *mut std::ffi::c_void));
    let async_get_id = sym!("C_AsyncGetID": fn(CK_ULONG, *mut u8, *mut CK_ULONG));
    let async_join = sym!("C_AsyncJoin": fn(CK_ULONG, *mut u8, CK_ULONG, *mut u8, CK_ULONG));
    let wrap_auth = sym!("C_WrapKeyAuthenticated": fn(CK_ULONG, *mut CK_MECHANISM, CK_ULONG, CK_ULONG, *mut u8, CK_ULONG, *mut u8, *mut CK_ULONG));
    let unwrap_auth = sym!("C_UnwrapKeyAuthenticated": fn(CK_ULONG, *mut CK_MECHANISM, CK_ULONG, *mut u8, CK_ULONG, *mut CK_ATTRIBUTE, CK_ULONG, *mut u8, CK_ULONG, *mut CK_ULONG));

    macro_rules! e {
        ($takes:expr, $offered:expr, $name:ident, |$h:ident| ($($arg:expr),*)) => {
            (
                stringify!($name),
                $takes,
                $offered,
                // SAFETY: every pointer argument is NULL (or a function pointer the module
                // exports); the module must check them before it reads or writes anything.
                Box::new(move |$h: CK_ULONG| unsafe { f3.$name.unwrap()($($arg),*) }) as Call,
            )
        };
        (sym $takes:expr, $offered:expr, $name:literal, $fun:ident, |$h:ident| ($($arg:expr),*)) => {
            (
                $name,
                $takes,
                $offered,
                // SAFETY: as above.
                Box::new(move |$h: CK_ULONG| unsafe { $fun($($arg),*) }) as Call,
            )
        };
    }
    let _ = f;
    vec![
        e!(Nothing, Yes, C_Finalize, |_h| (n())),
        e!(Nothing, Yes, C_GetInfo, |_h| (n())),
        e!(Nothing, Yes, C_GetSlotList, |_h| (0, n(), n())),
        e!(Slot, Yes, C_GetSlotInfo, |h| (h, n())),
        e!(Slot, Yes, C_GetTokenInfo, |h| (h, n())),
        e!(Slot, Yes, C_GetMechanismList, |h| (h, n(), n())),
        e!(Slot, Yes, C_GetMechanismInfo, |h| (h, CKM_ECDSA, n())),
        e!(Slot, Yes, C_InitToken, |h| (h, n(), 0, n())),
        e!(Session, Yes, C_InitPIN, |h| (h, n(), 1)),
        e!(Session, Yes, C_SetPIN, |h| (h, n(), 1, n(), 1)),
        e!(Slot, Yes, C_OpenSession, |h| (
            h,
            CKF_SERIAL_SESSION,
            n(),
            None,
            n()
        )),
        e!(Session, Yes, C_CloseSession, |h| (h)),
        e!(Slot, Yes, C_CloseAllSessions, |h| (h)),
        e!(Session, Yes, C_GetSessionInfo, |h| (h, n())),
        e!(Session, No, C_GetOperationState, |h| (h, n(), n())),
        e!(Session, No, C_SetOperationState, |h| (h, n(), 0, 0, 0)),
        e!(Session, Yes, C_Login, |h| (h, CKU_USER, n(), 1)),
        e!(Session, Yes, C_Logout, |h| (h)),
        e!(Session, Yes, C_CreateObject, |h| (h, n(), 1, n())),
        e!(Session, Yes, C_CopyObject, |h| (h, 1, n(), 1, n())),
        e!(Session, Yes, C_DestroyObject, |h| (h, 1)),
        e!(Session, Yes, C_GetObjectSize, |h| (h, 1, n())),
        e!(Session, Yes, C_GetAttributeValue, |h| (h, 1, n(), 1)),
        e!(Session, Yes, C_SetAttributeValue, |h| (h, 1, n(), 1)),
        e!(Session, Yes, C_FindObjectsInit, |h| (h, n(), 1)),
        e!(Session, Yes, C_FindObjects, |h| (h, n(), 1, n())),
        e!(Session, Yes, C_FindObjectsFinal, |h| (h)),
        e!(Session, Yes, C_EncryptInit, |h| (h, n(), 1)),
        e!(Session, Yes, C_Encrypt, |h| (h, n(), 1, n(), n())),
        e!(Session, Yes, C_EncryptUpdate, |h| (h, n(), 1, n(), n())),
        e!(Session, Yes, C_EncryptFinal, |h| (h, n(), n())),
        e!(Session, Yes, C_DecryptInit, |h| (h, n(), 1)),
        e!(Session, Yes, C_Decrypt, |h| (h, n(), 1, n(), n())),
        e!(Session, Yes, C_DecryptUpdate, |h| (h, n(), 1, n(), n())),
        e!(Session, Yes, C_DecryptFinal, |h| (h, n(), n())),
        e!(Session, Yes, C_DigestInit, |h| (h, n())),
        e!(Session, Yes, C_Digest, |h| (h, n(), 1, n(), n())),
        e!(Session, Yes, C_DigestUpdate, |h| (h, n(), 1)),
        e!(Session, Yes, C_DigestKey, |h| (h, 1)),
        e!(Session, Yes, C_DigestFinal, |h| (h, n(), n())),
        e!(Session, Yes, C_SignInit, |h| (h, n(), 1)),
        e!(Session, Yes, C_Sign, |h| (h, n(), 1, n(), n())),
        e!(Session, Yes, C_SignUpdate, |h| (h, n(), 1)),
        e!(Session, Yes, C_SignFinal, |h| (h, n(), n())),
        e!(Session, No, C_SignRecoverInit, |h| (h, n(), 1)),
        e!(Session, No, C_SignRecover, |h| (h, n(), 1, n(), n())),
        e!(Session, Yes, C_VerifyInit, |h| (h, n(), 1)),
        e!(Session, Yes, C_Verify, |h| (h, n(), 1, n(), 1)),
        e!(Session, Yes, C_VerifyUpdate, |h| (h, n(), 1)),
        e!(Session, Yes, C_VerifyFinal, |h| (h, n(), 1)),
        e!(Session, No, C_VerifyRecoverInit, |h| (h, n(), 1)),
        e!(Session, No, C_VerifyRecover, |h| (h, n(), 1, n(), n())),
        e!(Session, No, C_DigestEncryptUpdate, |h| (
            h,
            n(),
            1,
            n(),
            n()
        )),
        e!(Session, No, C_DecryptDigestUpdate, |h| (
            h,
            n(),
            1,
            n(),
            n()
        )),
        e!(Session, No, C_SignEncryptUpdate, |h| (h, n(), 1, n(), n())),
        e!(Session, No, C_DecryptVerifyUpdate, |h| (
            h,
            n(),
            1,
            n(),
            n()
        )),
        e!(Session, Yes, C_GenerateKey, |h| (h, n(), n(), 1, n())),
        e!(Session, Yes, C_GenerateKeyPair, |h| (
            h,
            n(),
            n(),
            1,
            n(),
            1,
            n(),
            n()
        )),
        e!(Session, Yes, C_WrapKey, |h| (h, n(), 1, 1, n(), n())),
        e!(Session, Yes, C_UnwrapKey, |h| (
            h,
            n(),
            1,
            n(),
            1,
            n(),
            1,
            n()
        )),
        e!(Session, Yes, C_DeriveKey, |h| (h, n(), 1, n(), 1, n())),
        e!(Session, Yes, C_SeedRandom, |h| (h, n(), 1)),
        e!(Session, Yes, C_GenerateRandom, |h| (h, n(), 1)),
        e!(Session, Parallel, C_GetFunctionStatus, |h| (h)),
        e!(Session, Parallel, C_CancelFunction, |h| (h)),
        e!(Nothing, No, C_WaitForSlotEvent, |_h| (0, n(), n())),
        e!(Session, Yes, C_LoginUser, |h| (h, CKU_USER, n(), 1, n(), 1)),
        e!(Session, Yes, C_SessionCancel, |h| (h, CKF_SIGN)),
        e!(Session, Yes, C_MessageEncryptInit, |h| (h, n(), 1)),
        e!(Session, Yes, C_EncryptMessage, |h| (
            h,
            n(),
            0,
            n(),
            0,
            n(),
            1,
            n(),
            n()
        )),
        e!(Session, Yes, C_EncryptMessageBegin, |h| (h, n(), 0, n(), 0)),
        e!(Session, Yes, C_EncryptMessageNext, |h| (
            h,
            n(),
            0,
            n(),
            1,
            n(),
            n(),
            0
        )),
        e!(Session, Yes, C_MessageEncryptFinal, |h| (h)),
        e!(Session, Yes, C_MessageDecryptInit, |h| (h, n(), 1)),
        e!(Session, Yes, C_DecryptMessage, |h| (
            h,
            n(),
            0,
            n(),
            0,
            n(),
            1,
            n(),
            n()
        )),
        e!(Session, Yes, C_DecryptMessageBegin, |h| (h, n(), 0, n(), 0)),
        e!(Session, Yes, C_DecryptMessageNext, |h| (
            h,
            n(),
            0,
            n(),
            1,
            n(),
            n(),
            0
        )),
        e!(Session, Yes, C_MessageDecryptFinal, |h| (h)),
        e!(Session, No, C_MessageSignInit, |h| (h, n(), 1)),
        e!(Session, No, C_SignMessage, |h| (
            h,
            n(),
            0,
            n(),
            1,
            n(),
            n()
        )),
        e!(Session, No, C_SignMessageBegin, |h| (h, n(), 0)),
        e!(Session, No, C_SignMessageNext, |h| (
            h,
            n(),
            0,
            n(),
            1,
            n(),
            n()
        )),
        e!(Session, No, C_MessageSignFinal, |h| (h)),
        e!(Session, No, C_MessageVerifyInit, |h| (h, n(), 1)),
        e!(Session, No, C_VerifyMessage, |h| (
            h,
            n(),
            0,
            n(),
            1,
            n(),
            1
        )),
        e!(Session, No, C_VerifyMessageBegin, |h| (h, n(), 0)),
        e!(Session, No, C_VerifyMessageNext, |h| (
            h,
            n(),
            0,
            n(),
            1,
            n(),
            1
        )),
        e!(Session, No, C_MessageVerifyFinal, |h| (h)),
        e!(sym Session, No, "C_EncapsulateKey", encapsulate, |h| (h, n(), 1, n(), 1, n(), n(), n())),
        e!(sym Session, No, "C_DecapsulateKey", decapsulate, |h| (h, n(), 1, n(), 1, n(), 1, n())),
        e!(sym Session, No, "C_VerifySignatureInit", verify_sig_init, |h| (h, n(), 1, n(), 1)),
        e!(sym Session, No, "C_VerifySignature", verify_sig, |h| (h, n(), 1)),
        e!(sym Session, No, "C_VerifySignatureUpdate", verify_sig_update, |h| (h, n(), 1)),
        e!(sym Session, No, "C_VerifySignatureFinal", verify_sig_final, |h| (h)),
        e!(sym Session, No, "C_GetSessionValidationFlags", validation_flags, |h| (h, 0, n())),
        e!(sym Session, No, "C_AsyncComplete", async_complete, |h| (h, n(), n())),
        e!(sym Session, No, "C_AsyncGetID", async_get_id, |h| (h, n(), n())),
        e!(sym Session, No, "C_AsyncJoin", async_join, |h| (h, n(), 0, n(), 0)),
        e!(sym Session, No, "C_WrapKeyAuthenticated", wrap_auth, |h| (h, n(), 1, 1, n(), 0, n(), n())),
        e!(sym Session, No, "C_UnwrapKeyAuthenticated", unwrap_auth, |h| (h, n(), 1, n(), 1, n(), 1, n(), 0, n())),
    ]
}

isolated!(
    fn every_entry_point_checks_initialisation_then_session_then_arguments_then_capability() {
        let calls = entry_points();
        assert_eq!(
            calls.len(),
            100,
            "every entry point of the 3.2 table but the four that work before C_Initialize"
        );
        // 1. Before C_Initialize: nothing but CKR_CRYPTOKI_NOT_INITIALIZED, whatever the arguments
        // and whether the module offers the function at all.
        for (name, _, _, call) in &calls {
            assert_eq!(
                call(1),
                CKR_CRYPTOKI_NOT_INITIALIZED,
                "{name} before C_Initialize"
            );
        }
        let env = Env::new(Opts::default());
        // 2. An unknown session or slot comes before the arguments and the capability.
        for (name, takes, offered, call) in &calls {
            let want = match (takes, offered) {
                (Takes::Session, _) => CKR_SESSION_HANDLE_INVALID,
                (Takes::Slot, _) => CKR_SLOT_ID_INVALID,
                (Takes::Nothing, Offered::No) => CKR_FUNCTION_NOT_SUPPORTED,
                (Takes::Nothing, _) => CKR_ARGUMENTS_BAD,
            };
            if *name == "C_Finalize" {
                continue; // C_Finalize(NULL) would finalize: its argument check is below
            }
            assert_eq!(call(0xdead), want, "{name} with an unknown session or slot");
        }
        // 3. A real session or slot: NULL pointers are bad arguments before anything the
        // module does not offer (which answers CKR_FUNCTION_NOT_SUPPORTED, or
        // CKR_FUNCTION_NOT_PARALLEL for the legacy parallel functions).
        let s = raw::open_session(0);
        for (name, takes, offered, call) in &calls {
            let h = match takes {
                Takes::Session => s,
                _ => 0,
            };
            let want = match offered {
                Offered::No => CKR_FUNCTION_NOT_SUPPORTED,
                Offered::Parallel => CKR_FUNCTION_NOT_PARALLEL,
                Offered::Yes => CKR_ARGUMENTS_BAD,
            };
            if matches!(
                *name,
                "C_Finalize"
                    | "C_CloseSession"
                    | "C_CloseAllSessions"
                    | "C_Logout"
                    | "C_FindObjectsFinal"
                    | "C_SessionCancel"
                    | "C_DestroyObject"
                    | "C_DigestKey"
                    | "C_MessageEncryptFinal"
                    | "C_MessageDecryptFinal"
            ) {
                continue; // no pointer arguments: nothing to check before they act
            }
            assert_eq!(call(h), want, "{name} with NULL arguments");
        }
        // Nothing above reached the TSB.
        assert!(
            env.emu.request_counts().is_empty(),
            "{:?}",
            env.emu.request_counts()
        );
    }
);
