//! The C ABI itself: exported symbols, function lists and interfaces, and bad input (NULL
//! pointers, invalid handles, wrong states) answered with the right CK_RV and never a crash.

mod common;

use common::{raw, Env, Opts};
use cryptoki_sys::*;
use std::collections::BTreeSet;
use std::ptr::null_mut;

/// Every function of PKCS#11 3.2 (2.40 + 3.0 + 3.2 additions).
const C_FUNCTIONS: &[&str] = &[
    "C_Initialize",
    "C_Finalize",
    "C_GetInfo",
    "C_GetFunctionList",
    "C_GetSlotList",
    "C_GetSlotInfo",
    "C_GetTokenInfo",
    "C_GetMechanismList",
    "C_GetMechanismInfo",
    "C_InitToken",
    "C_InitPIN",
    "C_SetPIN",
    "C_OpenSession",
    "C_CloseSession",
    "C_CloseAllSessions",
    "C_GetSessionInfo",
    "C_GetOperationState",
    "C_SetOperationState",
    "C_Login",
    "C_Logout",
    "C_CreateObject",
    "C_CopyObject",
    "C_DestroyObject",
    "C_GetObjectSize",
    "C_GetAttributeValue",
    "C_SetAttributeValue",
    "C_FindObjectsInit",
    "C_FindObjects",
    "C_FindObjectsFinal",
    "C_EncryptInit",
    "C_Encrypt",
    "C_EncryptUpdate",
    "C_EncryptFinal",
    "C_DecryptInit",
    "C_Decrypt",
    "C_DecryptUpdate",
    "C_DecryptFinal",
    "C_DigestInit",
    "C_Digest",
    "C_DigestUpdate",
    "C_DigestKey",
    "C_DigestFinal",
    "C_SignInit",
    "C_Sign",
    "C_SignUpdate",
    "C_SignFinal",
    "C_SignRecoverInit",
    "C_SignRecover",
    "C_VerifyInit",
    "C_Verify",
    "C_VerifyUpdate",
    "C_VerifyFinal",
    "C_VerifyRecoverInit",
    "C_VerifyRecover",
    "C_DigestEncryptUpdate",
    "C_DecryptDigestUpdate",
    "C_SignEncryptUpdate",
    "C_DecryptVerifyUpdate",
    "C_GenerateKey",
    "C_GenerateKeyPair",
    "C_WrapKey",
    "C_UnwrapKey",
    "C_DeriveKey",
    "C_SeedRandom",
    "C_GenerateRandom",
    "C_GetFunctionStatus",
    "C_CancelFunction",
    "C_WaitForSlotEvent",
    "C_GetInterfaceList",
    "C_GetInterface",
    "C_LoginUser",
    "C_SessionCancel",
    "C_MessageEncryptInit",
    "C_EncryptMessage",
    "C_EncryptMessageBegin",
    "C_EncryptMessageNext",
    "C_MessageEncryptFinal",
    "C_MessageDecryptInit",
    "C_DecryptMessage",
    "C_DecryptMessageBegin",
    "C_DecryptMessageNext",
    "C_MessageDecryptFinal",
    "C_MessageSignInit",
    "C_SignMessage",
    "C_SignMessageBegin",
    "C_SignMessageNext",
    "C_MessageSignFinal",
    "C_MessageVerifyInit",
    "C_VerifyMessage",
    "C_VerifyMessageBegin",
    "C_VerifyMessageNext",
    "C_MessageVerifyFinal",
    "C_EncapsulateKey",
    "C_DecapsulateKey",
    "C_VerifySignatureInit",
    "C_VerifySignature",
    "C_VerifySignatureUpdate",
    "C_VerifySignatureFinal",
    "C_GetSessionValidationFlags",
    "C_AsyncComplete",
    "C_AsyncGetID",
    "C_AsyncJoin",
    "C_WrapKeyAuthenticated",
    "C_UnwrapKeyAuthenticated",
];

const TSB_FUNCTIONS: &[&str] = &[
    "TSB_CreateCSR",
    "TSB_SelfSignCertificate",
    "TSB_IssueCertificate",
    "TSB_GetRequestStatus",
    "TSB_CancelRequest",
    "TSB_GetLastRequestId",
];

#[test]
fn exported_symbols_are_exactly_the_pkcs11_and_vendor_functions() {
    let out = std::process::Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(common::module_path())
        .output()
        .expect("nm (binutils)");
    assert!(out.status.success());
    let got: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .map(|s| s.split('@').next().unwrap_or(s).to_string())
        .collect();
    let want: BTreeSet<String> = C_FUNCTIONS
        .iter()
        .chain(TSB_FUNCTIONS)
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        got,
        want,
        "extra: {:?}, missing: {:?}",
        got.difference(&want).collect::<Vec<_>>(),
        want.difference(&got).collect::<Vec<_>>()
    );
    assert_eq!(C_FUNCTIONS.len(), 104);
}

isolated!(
    fn function_lists_and_interfaces() {
        let f = raw::fns();
        assert_eq!((f.version.major, f.version.minor), (2, 40));
        // Every slot of the 2.40 table is set.
        let slots = unsafe {
            std::slice::from_raw_parts(
                (f as *const CK_FUNCTION_LIST as *const u8).add(8) as *const usize,
                68,
            )
        };
        assert!(slots.iter().all(|p| *p != 0));
        let path = std::ffi::CString::new(common::module_path().to_str().unwrap()).unwrap();
        unsafe {
            let h = libc::dlopen(path.as_ptr(), libc::RTLD_NOW);
            let list: unsafe extern "C" fn(*mut CK_INTERFACE, *mut CK_ULONG) -> CK_RV =
                std::mem::transmute(libc::dlsym(h, c"C_GetInterfaceList".as_ptr()));
            let get: unsafe extern "C" fn(
                *mut CK_UTF8CHAR,
                *mut CK_VERSION,
                *mut *mut CK_INTERFACE,
                CK_FLAGS,
            ) -> CK_RV = std::mem::transmute(libc::dlsym(h, c"C_GetInterface".as_ptr()));
            let mut n = 0;
            assert_eq!(list(null_mut(), &mut n), CKR_OK);
            assert_eq!(n, 4);
            let mut small = 1;
            let mut buf = vec![
                CK_INTERFACE {
                    pInterfaceName: null_mut(),
                    pFunctionList: null_mut(),
                    flags: 0
                };
                4
            ];
            assert_eq!(list(buf.as_mut_ptr(), &mut small), CKR_BUFFER_TOO_SMALL);
            assert_eq!(small, 4);
            assert_eq!(list(buf.as_mut_ptr(), &mut n), CKR_OK);
            let names: Vec<String> = buf
                .iter()
                .map(|i| {
                    std::ffi::CStr::from_ptr(i.pInterfaceName as *const _)
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            assert_eq!(
                names,
                ["PKCS 11", "PKCS 11", "PKCS 11", "Vendor tsb-pkcs11"]
            );
            // Default: the newest "PKCS 11".
            let mut iface = null_mut();
            assert_eq!(get(null_mut(), null_mut(), &mut iface, 0), CKR_OK);
            let v = *((*iface).pFunctionList as *const CK_VERSION);
            assert_eq!((v.major, v.minor), (3, 2));
            // 3.2 table: 104 entries after the version, none NULL; the 3.2 additions say not supported.
            let entries = std::slice::from_raw_parts(
                ((*iface).pFunctionList as *const u8).add(8) as *const usize,
                104,
            );
            assert!(entries.iter().all(|p| *p != 0));
            let encap: unsafe extern "C" fn(
                CK_SESSION_HANDLE,
                *mut CK_MECHANISM,
                CK_OBJECT_HANDLE,
                *mut CK_ATTRIBUTE,
                CK_ULONG,
                *mut CK_BYTE,
                *mut CK_ULONG,
                *mut CK_OBJECT_HANDLE,
            ) -> CK_RV = std::mem::transmute(entries[92]);
            assert_eq!(
                encap(
                    0,
                    null_mut(),
                    0,
                    null_mut(),
                    0,
                    null_mut(),
                    null_mut(),
                    null_mut()
                ),
                // Not initialized comes first, even for a function the module does not offer
                // (tests/error_order.rs walks every entry point).
                CKR_CRYPTOKI_NOT_INITIALIZED
            );
            let mut v30 = CK_VERSION { major: 3, minor: 0 };
            assert_eq!(
                get(c"PKCS 11".as_ptr() as *mut _, &mut v30, &mut iface, 0),
                CKR_OK
            );
            let l30 = &*((*iface).pFunctionList as *const CK_FUNCTION_LIST_3_0);
            assert!(l30.C_SessionCancel.is_some() && l30.C_MessageSignInit.is_some());
            assert_eq!(
                l30.C_MessageSignInit.unwrap()(0, null_mut(), 0),
                CKR_CRYPTOKI_NOT_INITIALIZED
            );
            let mut v9 = CK_VERSION { major: 9, minor: 9 };
            assert_eq!(get(null_mut(), &mut v9, &mut iface, 0), CKR_FUNCTION_FAILED);
            assert_eq!(
                get(
                    c"Vendor tsb-pkcs11".as_ptr() as *mut _,
                    null_mut(),
                    &mut iface,
                    0
                ),
                CKR_OK
            );
            let vendor = (*iface).pFunctionList as *const CK_VERSION;
            assert_eq!(((*vendor).major, (*vendor).minor), (1, 0));
            assert_eq!(
                get(null_mut(), null_mut(), null_mut(), 0),
                CKR_ARGUMENTS_BAD
            );
        }
    }
);

isolated!(
    fn not_initialized_and_initialize_arguments() {
        let f = raw::fns();
        unsafe {
            let mut info = std::mem::zeroed::<CK_INFO>();
            assert_eq!(
                f.C_GetInfo.unwrap()(&mut info),
                CKR_CRYPTOKI_NOT_INITIALIZED
            );
            let mut n = 0;
            assert_eq!(
                f.C_GetSlotList.unwrap()(0, null_mut(), &mut n),
                CKR_CRYPTOKI_NOT_INITIALIZED
            );
            assert_eq!(
                f.C_Finalize.unwrap()(null_mut()),
                CKR_CRYPTOKI_NOT_INITIALIZED
            );
            assert_eq!(f.C_CloseSession.unwrap()(1), CKR_CRYPTOKI_NOT_INITIALIZED);
            // pReserved must be NULL; half the mutex functions is bad; app mutexes without OS locking cannot be honoured.
            let mut args: CK_C_INITIALIZE_ARGS = std::mem::zeroed();
            args.pReserved = std::ptr::dangling_mut();
            assert_eq!(
                f.C_Initialize.unwrap()(&mut args as *mut _ as *mut _),
                CKR_ARGUMENTS_BAD
            );
            unsafe extern "C" fn cm(_: *mut *mut std::ffi::c_void) -> CK_RV {
                CKR_OK
            }
            unsafe extern "C" fn dm(_: *mut std::ffi::c_void) -> CK_RV {
                CKR_OK
            }
            let mut args: CK_C_INITIALIZE_ARGS = std::mem::zeroed();
            args.CreateMutex = Some(cm);
            assert_eq!(
                f.C_Initialize.unwrap()(&mut args as *mut _ as *mut _),
                CKR_ARGUMENTS_BAD
            );
            args.DestroyMutex = Some(dm);
            args.LockMutex = Some(dm);
            args.UnlockMutex = Some(dm);
            assert_eq!(
                f.C_Initialize.unwrap()(&mut args as *mut _ as *mut _),
                CKR_CANT_LOCK
            );
            args.flags = CKF_OS_LOCKING_OK;
            // No configuration at all: a clear failure, not a crash.
            std::env::set_var("HOME", "/nonexistent");
            std::env::remove_var("XDG_CONFIG_HOME");
            assert_eq!(
                f.C_Initialize.unwrap()(&mut args as *mut _ as *mut _),
                CKR_GENERAL_ERROR
            );
        }
    }
);

isolated!(
    fn bad_handles_null_pointers_and_states() {
        let env = Env::new(Opts::default());
        let f = raw::fns();
        unsafe {
            // Already initialized.
            assert_eq!(
                f.C_Initialize.unwrap()(null_mut()),
                CKR_CRYPTOKI_ALREADY_INITIALIZED
            );
            // NULL pointers.
            assert_eq!(f.C_GetInfo.unwrap()(null_mut()), CKR_ARGUMENTS_BAD);
            assert_eq!(
                f.C_GetSlotList.unwrap()(1, null_mut(), null_mut()),
                CKR_ARGUMENTS_BAD
            );
            assert_eq!(f.C_GetTokenInfo.unwrap()(0, null_mut()), CKR_ARGUMENTS_BAD);
            assert_eq!(
                f.C_OpenSession.unwrap()(0, CKF_SERIAL_SESSION, null_mut(), None, null_mut()),
                CKR_ARGUMENTS_BAD
            );
            // Slot ids.
            let mut ti = std::mem::zeroed::<CK_TOKEN_INFO>();
            assert_eq!(f.C_GetTokenInfo.unwrap()(7, &mut ti), CKR_SLOT_ID_INVALID);
            let mut h = 0;
            assert_eq!(
                f.C_OpenSession.unwrap()(7, CKF_SERIAL_SESSION, null_mut(), None, &mut h),
                CKR_SLOT_ID_INVALID
            );
            assert_eq!(
                f.C_OpenSession.unwrap()(0, 0, null_mut(), None, &mut h),
                CKR_SESSION_PARALLEL_NOT_SUPPORTED
            );
            // Slot list: short buffer.
            let mut n = 0;
            let mut slots = [0u64; 1];
            assert_eq!(f.C_GetSlotList.unwrap()(1, null_mut(), &mut n), CKR_OK);
            assert_eq!(n, 1);
            n = 0;
            assert_eq!(
                f.C_GetSlotList.unwrap()(1, slots.as_mut_ptr(), &mut n),
                CKR_BUFFER_TOO_SMALL
            );
            assert_eq!(n, 1);
            // Session handles.
            let mut si = std::mem::zeroed::<CK_SESSION_INFO>();
            assert_eq!(
                f.C_GetSessionInfo.unwrap()(999, &mut si),
                CKR_SESSION_HANDLE_INVALID
            );
            assert_eq!(f.C_CloseSession.unwrap()(999), CKR_SESSION_HANDLE_INVALID);
            let s = raw::open_session(0);
            assert_eq!(
                f.C_GetSessionInfo.unwrap()(s, null_mut()),
                CKR_ARGUMENTS_BAD
            );
            // Operations without init, on bad objects, with NULL mechanism.
            let mut len = 0;
            assert_eq!(
                f.C_Sign.unwrap()(s, b"x".as_ptr() as *mut _, 1, null_mut(), &mut len),
                CKR_OPERATION_NOT_INITIALIZED
            );
            assert_eq!(
                f.C_SignFinal.unwrap()(s, null_mut(), &mut len),
                CKR_OPERATION_NOT_INITIALIZED
            );
            assert_eq!(
                f.C_Decrypt.unwrap()(s, b"x".as_ptr() as *mut _, 1, null_mut(), &mut len),
                CKR_OPERATION_NOT_INITIALIZED
            );
            assert_eq!(
                f.C_DigestFinal.unwrap()(s, null_mut(), &mut len),
                CKR_OPERATION_NOT_INITIALIZED
            );
            assert_eq!(
                f.C_FindObjects.unwrap()(s, null_mut(), 0, &mut len),
                CKR_OPERATION_NOT_INITIALIZED
            );
            assert_eq!(
                f.C_FindObjectsFinal.unwrap()(s),
                CKR_OPERATION_NOT_INITIALIZED
            );
            let mut m = CK_MECHANISM {
                mechanism: CKM_SHA256_RSA_PKCS,
                pParameter: null_mut(),
                ulParameterLen: 0,
            };
            assert_eq!(
                f.C_SignInit.unwrap()(s, &mut m, 12345),
                CKR_KEY_HANDLE_INVALID
            );
            assert_eq!(f.C_SignInit.unwrap()(s, null_mut(), 1), CKR_ARGUMENTS_BAD);
            let mut m = CK_MECHANISM {
                mechanism: CKM_SHA256_RSA_PKCS,
                pParameter: null_mut(),
                ulParameterLen: 8,
            };
            assert_eq!(
                f.C_SignInit.unwrap()(s, &mut m, 1),
                CKR_MECHANISM_PARAM_INVALID
            );
            let mut attr = CK_ATTRIBUTE {
                type_: CKA_LABEL,
                pValue: null_mut(),
                ulValueLen: 0,
            };
            assert_eq!(
                f.C_GetAttributeValue.unwrap()(s, 12345, &mut attr, 1),
                CKR_OBJECT_HANDLE_INVALID
            );
            assert_eq!(
                f.C_GetAttributeValue.unwrap()(s, 1, null_mut(), 1),
                CKR_ARGUMENTS_BAD
            );
            // A template with a NULL value pointer and a length.
            let mut bad = CK_ATTRIBUTE {
                type_: CKA_LABEL,
                pValue: null_mut(),
                ulValueLen: 4,
            };
            assert_eq!(
                f.C_FindObjectsInit.unwrap()(s, &mut bad, 1),
                CKR_ARGUMENTS_BAD
            );
            assert_eq!(
                f.C_FindObjectsInit.unwrap()(s, null_mut(), 1),
                CKR_ARGUMENTS_BAD
            );
            // Mechanism info.
            let mut mi = std::mem::zeroed::<CK_MECHANISM_INFO>();
            assert_eq!(
                f.C_GetMechanismInfo.unwrap()(0, CKM_DES3_CBC, &mut mi),
                CKR_MECHANISM_INVALID
            );
            assert_eq!(f.C_GetMechanismInfo.unwrap()(0, CKM_ECDSA, &mut mi), CKR_OK);
            assert_eq!((mi.ulMinKeySize, mi.ulMaxKeySize), (256, 521));
            assert_ne!(mi.flags & CKF_SIGN, 0);
            // Login types.
            // No SO PIN is configured: the security officer cannot log in.
            assert_eq!(
                f.C_Login.unwrap()(s, CKU_SO, null_mut(), 0),
                CKR_PIN_INCORRECT
            );
            assert_eq!(
                f.C_Login.unwrap()(s, 77, null_mut(), 0),
                CKR_USER_TYPE_INVALID
            );
            assert_eq!(f.C_Logout.unwrap()(s), CKR_USER_NOT_LOGGED_IN);
            // Not offered on a slot without allow_init_token (after the argument checks).
            assert_eq!(
                f.C_InitToken.unwrap()(0, null_mut(), 0, null_mut()),
                CKR_ARGUMENTS_BAD
            );
            let mut label = [b' '; 32];
            assert_eq!(
                f.C_InitToken.unwrap()(0, null_mut(), 0, label.as_mut_ptr()),
                CKR_FUNCTION_NOT_SUPPORTED
            );
            assert_eq!(f.C_GetFunctionStatus.unwrap()(s), CKR_FUNCTION_NOT_PARALLEL);
            // Close all, then the handle is gone.
            assert_eq!(f.C_CloseAllSessions.unwrap()(0), CKR_OK);
            assert_eq!(
                f.C_GetSessionInfo.unwrap()(s, &mut si),
                CKR_SESSION_HANDLE_INVALID
            );
            assert_eq!(f.C_Finalize.unwrap()(null_mut()), CKR_OK);
            assert_eq!(
                f.C_GetInfo.unwrap()(&mut std::mem::zeroed()),
                CKR_CRYPTOKI_NOT_INITIALIZED
            );
        }
        // Nothing above reached the TSB.
        assert!(
            env.emu.request_counts().is_empty(),
            "{:?}",
            env.emu.request_counts()
        );
        std::mem::forget(env.pkcs11);
    }
);

isolated!(
    fn tsb_errors_and_faults_reach_the_caller_cleanly() {
        let env = Env::new(Opts {
            slot_json: Some(serde_json::json!({"request_timeout_ms": 2000})),
            ..Default::default()
        });
        let s = raw::open_session(0);
        let f = raw::fns();
        // A dropped connection and a malformed body on a find: CKR_DEVICE_ERROR, no crash; an
        // idempotent call is retried, so one fault is absorbed.
        env.emu.inject_fault(tsb_emulator::Fault {
            path: "/v1/key/attributes".into(),
            method: None,
            count: 1,
            action: tsb_emulator::FaultAction::Drop,
        });
        let label = "missing";
        let mut t = [CK_ATTRIBUTE {
            type_: CKA_LABEL,
            pValue: label.as_ptr() as *mut _,
            ulValueLen: 7,
        }];
        unsafe {
            assert_eq!(
                f.C_FindObjectsInit.unwrap()(s, t.as_mut_ptr(), 1),
                CKR_OK,
                "retried after the drop"
            );
            assert_eq!(f.C_FindObjectsFinal.unwrap()(s), CKR_OK);
        }
        env.emu.inject_fault(tsb_emulator::Fault {
            path: "/v1/key/attributes".into(),
            method: None,
            count: 5,
            action: tsb_emulator::FaultAction::Malformed,
        });
        // (Another label: the first answer is cached.)
        let label2 = "absent";
        let mut t2 = [CK_ATTRIBUTE {
            type_: CKA_LABEL,
            pValue: label2.as_ptr() as *mut _,
            ulValueLen: 6,
        }];
        unsafe {
            assert_eq!(
                f.C_FindObjectsInit.unwrap()(s, t2.as_mut_ptr(), 1),
                CKR_DEVICE_ERROR
            );
        }
        let _ = &mut t;
        env.emu.clear_faults();
        env.emu.inject_fault(tsb_emulator::Fault {
            path: "/v1/generateRandom".into(),
            method: None,
            count: 5,
            action: tsb_emulator::FaultAction::Status {
                status: 500,
                error_code: Some(701),
            },
        });
        let mut buf = [0u8; 8];
        unsafe {
            assert_eq!(
                f.C_GenerateRandom.unwrap()(s, buf.as_mut_ptr(), 8),
                CKR_DEVICE_ERROR
            );
        }
        assert_eq!(
            raw::device_error(s),
            701,
            "ulDeviceError carries the TSB errorCode"
        );
    }
);

isolated!(
    /// C_GetInfo answers the version of the table it was reached through: 2.40 through
    /// C_GetFunctionList, 3.0 and 3.2 through C_GetInterface. A caller holding a 3.x table reads
    /// 3.x (the cryptoki crate's `get_info_test` checks this), and a caller of
    /// C_GetFunctionList, which gets the 2.40 table, is never told 3.x and read past its end.
    fn get_info_reports_the_version_of_the_table_used() {
        let _env = Env::new(Opts::default());
        let f = raw::fns();
        unsafe {
            let version = |gi: CK_C_GetInfo| {
                let mut info = std::mem::zeroed::<CK_INFO>();
                assert_eq!(gi.unwrap()(&mut info), CKR_OK);
                (info.cryptokiVersion.major, info.cryptokiVersion.minor)
            };
            assert_eq!(version(f.C_GetInfo), (2, 40));
            let get: unsafe extern "C" fn(
                *mut CK_UTF8CHAR,
                *mut CK_VERSION,
                *mut *mut CK_INTERFACE,
                CK_FLAGS,
            ) -> CK_RV = std::mem::transmute(common::module_symbol("C_GetInterface"));
            for (major, minor) in [(3, 0), (3, 2), (2, 40)] {
                let mut v = CK_VERSION { major, minor };
                let mut iface = null_mut();
                assert_eq!(
                    get(c"PKCS 11".as_ptr() as *mut _, &mut v, &mut iface, 0),
                    CKR_OK
                );
                // The 2.40 and 3.x tables start alike: version, C_Initialize, C_Finalize, C_GetInfo.
                let l = &*((*iface).pFunctionList as *const CK_FUNCTION_LIST);
                assert_eq!(version(l.C_GetInfo), (major, minor));
            }
        }
    }
);
