//! General-purpose functions: C_Initialize, C_Finalize, C_GetInfo, C_GetFunctionList, the legacy
//! parallel functions, and every function the module does not offer.

use super::args::{bad, pad_field, put};
use super::guard;
use crate::error::Error;
use crate::{LIBRARY_DESCRIPTION, MANUFACTURER};
use cryptoki_sys::*;
use std::os::raw::c_void;

cryptoki_fn! {
    fn C_Initialize(pInitArgs: *mut c_void) {
        if !pInitArgs.is_null() {
            // SAFETY: a non-NULL pInitArgs points at a CK_C_INITIALIZE_ARGS (PKCS#11 §5.4); it is
            // read once, unaligned-tolerant.
            let args = unsafe { (pInitArgs as *const CK_C_INITIALIZE_ARGS).read_unaligned() };
            if !args.pReserved.is_null() {
                return Err(bad("pReserved must be NULL"));
            }
            let fns = [args.CreateMutex.is_some(), args.DestroyMutex.is_some(), args.LockMutex.is_some(), args.UnlockMutex.is_some()];
            let given = fns.iter().filter(|b| **b).count();
            if given != 0 && given != 4 {
                return Err(bad("mutex functions must be given all or none"));
            }
            if given == 4 && args.flags & CKF_OS_LOCKING_OK == 0 {
                // The module locks with the OS primitives only.
                return Err(Error::ck(CKR_CANT_LOCK, "application-supplied mutex functions are not supported; set CKF_OS_LOCKING_OK"));
            }
            // CKF_LIBRARY_CANT_CREATE_OS_THREADS is accepted. It asks the library not to create
            // threads, but p11-kit passes it for every module it loads (so every GnuTLS program
            // does), and refusing it with CKR_NEED_TO_CREATE_THREADS locks all of them out. The
            // HTTP client's worker threads (and the short-lived fetchers of a large find) are an
            // implementation detail: they never call back into the application, hold none of its
            // locks, and end when their work ends; p11-kit tolerates them. The flag is therefore
            // honoured in the only way that matters to the caller: no thread of the module ever
            // runs application code.
        }
        crate::initialize()
    }
}

cryptoki_fn! {
    fn C_Finalize(pReserved: *mut c_void) {
        if !pReserved.is_null() {
            return Err(bad("pReserved must be NULL"));
        }
        crate::finalize()
    }
}

cryptoki_fn! {
    /// C_GetInfo of the 2.40 table (C_GetFunctionList): version 2.40.
    fn C_GetInfo(pInfo: *mut CK_INFO) {
        get_info(pInfo, CK_VERSION { major: 2, minor: 40 })
    }
}

/// C_GetInfo of the 3.0 table (C_GetInterface): version 3.0. Not exported by name: the
/// exported `C_GetInfo` is the 2.40 one, as `C_GetFunctionList` is.
pub(crate) unsafe extern "C" fn C_GetInfo_3_0(pInfo: *mut CK_INFO) -> CK_RV {
    guard("C_GetInfo", || {
        get_info(pInfo, CK_VERSION { major: 3, minor: 0 })
    })
}

/// C_GetInfo of the 3.2 table (C_GetInterface): version 3.2. Not exported by name.
pub(crate) unsafe extern "C" fn C_GetInfo_3_2(pInfo: *mut CK_INFO) -> CK_RV {
    guard("C_GetInfo", || {
        get_info(pInfo, CK_VERSION { major: 3, minor: 2 })
    })
}

/// The library's CK_INFO, saying the Cryptoki version of the table the caller reached C_GetInfo
/// through. One answer for every table would be wrong either way: 3.x through C_GetFunctionList
/// tells a caller to read a 3.0 table past the end of the 2.40 one it got, and 2.40 through a
/// 3.x interface tells a 3.x caller (the `cryptoki` crate checks it) that its table is older than
/// it is.
fn get_info(pInfo: *mut CK_INFO, version: CK_VERSION) -> crate::error::Result<()> {
    crate::module()?;
    if pInfo.is_null() {
        return Err(bad("NULL pInfo"));
    }
    let mut info = CK_INFO {
        cryptokiVersion: version,
        manufacturerID: [b' '; 32],
        flags: 0,
        libraryDescription: [b' '; 32],
        libraryVersion: crate::library_version(),
    };
    pad_field(MANUFACTURER, &mut info.manufacturerID);
    pad_field(LIBRARY_DESCRIPTION, &mut info.libraryDescription);
    // SAFETY: pInfo points at a writable CK_INFO (C_GetInfo's contract).
    unsafe { put(pInfo, info) }
}

#[no_mangle]
/// C_GetFunctionList: the 2.40 function table. Callable before C_Initialize.
pub unsafe extern "C" fn C_GetFunctionList(ppFunctionList: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    guard("C_GetFunctionList", || {
        // SAFETY: ppFunctionList points at a writable pointer (C_GetFunctionList's contract).
        unsafe { put(ppFunctionList, super::interfaces::function_list_240()) }
    })
}

cryptoki_fn! {
    /// C_GetFunctionStatus: legacy parallel function, CKR_FUNCTION_NOT_PARALLEL (after the
    /// initialisation and session checks).
    fn C_GetFunctionStatus(hSession: CK_SESSION_HANDLE) {
        crate::module()?.session(hSession)?;
        Err(Error::ck(CKR_FUNCTION_NOT_PARALLEL, "no parallel functions"))
    }
}

cryptoki_fn! {
    /// C_CancelFunction: legacy parallel function, CKR_FUNCTION_NOT_PARALLEL (after the
    /// initialisation and session checks).
    fn C_CancelFunction(hSession: CK_SESSION_HANDLE) {
        crate::module()?.session(hSession)?;
        Err(Error::ck(CKR_FUNCTION_NOT_PARALLEL, "no parallel functions"))
    }
}

cryptoki_fn! {
    /// C_WaitForSlotEvent: slots never change (every slot always has its token), so there is no
    /// event to wait for; not offered.
    fn C_WaitForSlotEvent(flags: CK_FLAGS, pSlot: *mut CK_SLOT_ID, pReserved: *mut c_void) {
        let _ = (flags, pSlot, pReserved);
        crate::module()?;
        Err(Error::ck(CKR_FUNCTION_NOT_SUPPORTED, "slots have no events"))
    }
}

// ---- not offered ----------------------------------------------------------------------------------

not_supported! {
    session C_GetOperationState(*mut CK_BYTE, *mut CK_ULONG);
    session C_SetOperationState(*mut CK_BYTE, CK_ULONG, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE);
    session C_SignRecoverInit(*mut CK_MECHANISM, CK_OBJECT_HANDLE);
    session C_SignRecover(*mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    session C_VerifyRecoverInit(*mut CK_MECHANISM, CK_OBJECT_HANDLE);
    session C_VerifyRecover(*mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    session C_DigestEncryptUpdate(*mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    session C_DecryptDigestUpdate(*mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    session C_SignEncryptUpdate(*mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    session C_DecryptVerifyUpdate(*mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    session C_MessageSignInit(*mut CK_MECHANISM, CK_OBJECT_HANDLE);
    session C_SignMessage(*mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    session C_SignMessageBegin(*mut c_void, CK_ULONG);
    session C_SignMessageNext(*mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    session C_MessageSignFinal();
    session C_MessageVerifyInit(*mut CK_MECHANISM, CK_OBJECT_HANDLE);
    session C_VerifyMessage(*mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    session C_VerifyMessageBegin(*mut c_void, CK_ULONG);
    session C_VerifyMessageNext(*mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    session C_MessageVerifyFinal();
    session C_EncapsulateKey(*mut CK_MECHANISM, CK_OBJECT_HANDLE, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG, *mut CK_OBJECT_HANDLE);
    session C_DecapsulateKey(*mut CK_MECHANISM, CK_OBJECT_HANDLE, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
    session C_VerifySignatureInit(*mut CK_MECHANISM, CK_OBJECT_HANDLE, *mut CK_BYTE, CK_ULONG);
    session C_VerifySignature(*mut CK_BYTE, CK_ULONG);
    session C_VerifySignatureUpdate(*mut CK_BYTE, CK_ULONG);
    session C_VerifySignatureFinal();
    session C_GetSessionValidationFlags(CK_ULONG, *mut CK_FLAGS);
    session C_AsyncComplete(*mut CK_UTF8CHAR, *mut c_void);
    session C_AsyncGetID(*mut CK_UTF8CHAR, *mut CK_ULONG);
    session C_AsyncJoin(*mut CK_UTF8CHAR, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    session C_WrapKeyAuthenticated(*mut CK_MECHANISM, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    session C_UnwrapKeyAuthenticated(*mut CK_MECHANISM, CK_OBJECT_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
}
