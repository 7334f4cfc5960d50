//! Function lists and interfaces: the 2.40 table (C_GetFunctionList), the "PKCS 11" 3.0 and 3.2
//! interfaces and the vendor interface (C_GetInterfaceList / C_GetInterface). Every slot of every
//! table points at a function; those the module does not offer return CKR_FUNCTION_NOT_SUPPORTED.

use super::args::{bad, put, write_list};
use super::crypto::*;
use super::general::*;
use super::message::*;
use super::objects::*;
use super::sessions::*;
use super::slots::*;
use super::vendor::TSB_FUNCTIONS;
use crate::error::Error;
use cryptoki_sys::*;
use std::os::raw::c_void;

/// The 12 entries PKCS#11 3.2 appends to the 3.0 table (pkcs11f.h order).
#[repr(C)]
pub(crate) struct Ck32Extension {
    pub(crate) C_EncapsulateKey: unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        *mut CK_MECHANISM,
        CK_OBJECT_HANDLE,
        *mut CK_ATTRIBUTE,
        CK_ULONG,
        *mut CK_BYTE,
        *mut CK_ULONG,
        *mut CK_OBJECT_HANDLE,
    ) -> CK_RV,
    pub(crate) C_DecapsulateKey: unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        *mut CK_MECHANISM,
        CK_OBJECT_HANDLE,
        *mut CK_ATTRIBUTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_OBJECT_HANDLE,
    ) -> CK_RV,
    pub(crate) C_VerifySignatureInit: unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        *mut CK_MECHANISM,
        CK_OBJECT_HANDLE,
        *mut CK_BYTE,
        CK_ULONG,
    ) -> CK_RV,
    pub(crate) C_VerifySignature:
        unsafe extern "C" fn(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG) -> CK_RV,
    pub(crate) C_VerifySignatureUpdate:
        unsafe extern "C" fn(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG) -> CK_RV,
    pub(crate) C_VerifySignatureFinal: unsafe extern "C" fn(CK_SESSION_HANDLE) -> CK_RV,
    pub(crate) C_GetSessionValidationFlags:
        unsafe extern "C" fn(CK_SESSION_HANDLE, CK_ULONG, *mut CK_FLAGS) -> CK_RV,
    pub(crate) C_AsyncComplete:
        unsafe extern "C" fn(CK_SESSION_HANDLE, *mut CK_UTF8CHAR, *mut c_void) -> CK_RV,
    pub(crate) C_AsyncGetID:
        unsafe extern "C" fn(CK_SESSION_HANDLE, *mut CK_UTF8CHAR, *mut CK_ULONG) -> CK_RV,
    pub(crate) C_AsyncJoin: unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        *mut CK_UTF8CHAR,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
    ) -> CK_RV,
    pub(crate) C_WrapKeyAuthenticated: unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        *mut CK_MECHANISM,
        CK_OBJECT_HANDLE,
        CK_OBJECT_HANDLE,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_BYTE,
        *mut CK_ULONG,
    ) -> CK_RV,
    pub(crate) C_UnwrapKeyAuthenticated: unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        *mut CK_MECHANISM,
        CK_OBJECT_HANDLE,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_ATTRIBUTE,
        CK_ULONG,
        *mut CK_BYTE,
        CK_ULONG,
        *mut CK_OBJECT_HANDLE,
    ) -> CK_RV,
}

/// CK_FUNCTION_LIST_3_2: the 3.0 table followed by the 3.2 entries (same layout as pkcs11.h's).
#[repr(C)]
pub(crate) struct CkFunctionList32 {
    /// Version 3.2 and the 3.0 entries.
    base: CK_FUNCTION_LIST_3_0,
    /// The 3.2 entries.
    ext: Ck32Extension,
}

macro_rules! list_240 {
    ($version:expr) => {
        CK_FUNCTION_LIST {
            version: $version,
            C_Initialize: Some(C_Initialize),
            C_Finalize: Some(C_Finalize),
            C_GetInfo: Some(C_GetInfo),
            C_GetFunctionList: Some(C_GetFunctionList),
            C_GetSlotList: Some(C_GetSlotList),
            C_GetSlotInfo: Some(C_GetSlotInfo),
            C_GetTokenInfo: Some(C_GetTokenInfo),
            C_GetMechanismList: Some(C_GetMechanismList),
            C_GetMechanismInfo: Some(C_GetMechanismInfo),
            C_InitToken: Some(C_InitToken),
            C_InitPIN: Some(C_InitPIN),
            C_SetPIN: Some(C_SetPIN),
            C_OpenSession: Some(C_OpenSession),
            C_CloseSession: Some(C_CloseSession),
            C_CloseAllSessions: Some(C_CloseAllSessions),
            C_GetSessionInfo: Some(C_GetSessionInfo),
            C_GetOperationState: Some(C_GetOperationState),
            C_SetOperationState: Some(C_SetOperationState),
            C_Login: Some(C_Login),
            C_Logout: Some(C_Logout),
            C_CreateObject: Some(C_CreateObject),
            C_CopyObject: Some(C_CopyObject),
            C_DestroyObject: Some(C_DestroyObject),
            C_GetObjectSize: Some(C_GetObjectSize),
            C_GetAttributeValue: Some(C_GetAttributeValue),
            C_SetAttributeValue: Some(C_SetAttributeValue),
            C_FindObjectsInit: Some(C_FindObjectsInit),
            C_FindObjects: Some(C_FindObjects),
            C_FindObjectsFinal: Some(C_FindObjectsFinal),
            C_EncryptInit: Some(C_EncryptInit),
            C_Encrypt: Some(C_Encrypt),
            C_EncryptUpdate: Some(C_EncryptUpdate),
            C_EncryptFinal: Some(C_EncryptFinal),
            C_DecryptInit: Some(C_DecryptInit),
            C_Decrypt: Some(C_Decrypt),
            C_DecryptUpdate: Some(C_DecryptUpdate),
            C_DecryptFinal: Some(C_DecryptFinal),
            C_DigestInit: Some(C_DigestInit),
            C_Digest: Some(C_Digest),
            C_DigestUpdate: Some(C_DigestUpdate),
            C_DigestKey: Some(C_DigestKey),
            C_DigestFinal: Some(C_DigestFinal),
            C_SignInit: Some(C_SignInit),
            C_Sign: Some(C_Sign),
            C_SignUpdate: Some(C_SignUpdate),
            C_SignFinal: Some(C_SignFinal),
            C_SignRecoverInit: Some(C_SignRecoverInit),
            C_SignRecover: Some(C_SignRecover),
            C_VerifyInit: Some(C_VerifyInit),
            C_Verify: Some(C_Verify),
            C_VerifyUpdate: Some(C_VerifyUpdate),
            C_VerifyFinal: Some(C_VerifyFinal),
            C_VerifyRecoverInit: Some(C_VerifyRecoverInit),
            C_VerifyRecover: Some(C_VerifyRecover),
            C_DigestEncryptUpdate: Some(C_DigestEncryptUpdate),
            C_DecryptDigestUpdate: Some(C_DecryptDigestUpdate),
            C_SignEncryptUpdate: Some(C_SignEncryptUpdate),
            C_DecryptVerifyUpdate: Some(C_DecryptVerifyUpdate),
            C_GenerateKey: Some(C_GenerateKey),
            C_GenerateKeyPair: Some(C_GenerateKeyPair),
            C_WrapKey: Some(C_WrapKey),
            C_UnwrapKey: Some(C_UnwrapKey),
            C_DeriveKey: Some(C_DeriveKey),
            C_SeedRandom: Some(C_SeedRandom),
            C_GenerateRandom: Some(C_GenerateRandom),
            C_GetFunctionStatus: Some(C_GetFunctionStatus),
            C_CancelFunction: Some(C_CancelFunction),
            C_WaitForSlotEvent: Some(C_WaitForSlotEvent),
        }
    };
}

macro_rules! list_30 {
    ($version:expr, $get_info:expr) => {{
        let b = list_240!($version);
        CK_FUNCTION_LIST_3_0 {
            version: $version,
            C_Initialize: b.C_Initialize,
            C_Finalize: b.C_Finalize,
            // Each table's C_GetInfo reports that table's version (general.rs says why).
            C_GetInfo: Some($get_info),
            C_GetFunctionList: b.C_GetFunctionList,
            C_GetSlotList: b.C_GetSlotList,
            C_GetSlotInfo: b.C_GetSlotInfo,
            C_GetTokenInfo: b.C_GetTokenInfo,
            C_GetMechanismList: b.C_GetMechanismList,
            C_GetMechanismInfo: b.C_GetMechanismInfo,
            C_InitToken: b.C_InitToken,
            C_InitPIN: b.C_InitPIN,
            C_SetPIN: b.C_SetPIN,
            C_OpenSession: b.C_OpenSession,
            C_CloseSession: b.C_CloseSession,
            C_CloseAllSessions: b.C_CloseAllSessions,
            C_GetSessionInfo: b.C_GetSessionInfo,
            C_GetOperationState: b.C_GetOperationState,
            C_SetOperationState: b.C_SetOperationState,
            C_Login: b.C_Login,
            C_Logout: b.C_Logout,
            C_CreateObject: b.C_CreateObject,
            C_CopyObject: b.C_CopyObject,
            C_DestroyObject: b.C_DestroyObject,
            C_GetObjectSize: b.C_GetObjectSize,
            C_GetAttributeValue: b.C_GetAttributeValue,
            C_SetAttributeValue: b.C_SetAttributeValue,
            C_FindObjectsInit: b.C_FindObjectsInit,
            C_FindObjects: b.C_FindObjects,
            C_FindObjectsFinal: b.C_FindObjectsFinal,
            C_EncryptInit: b.C_EncryptInit,
            C_Encrypt: b.C_Encrypt,
            C_EncryptUpdate: b.C_EncryptUpdate,
            C_EncryptFinal: b.C_EncryptFinal,
            C_DecryptInit: b.C_DecryptInit,
            C_Decrypt: b.C_Decrypt,
            C_DecryptUpdate: b.C_DecryptUpdate,
            C_DecryptFinal: b.C_DecryptFinal,
            C_DigestInit: b.C_DigestInit,
            C_Digest: b.C_Digest,
            C_DigestUpdate: b.C_DigestUpdate,
            C_DigestKey: b.C_DigestKey,
            C_DigestFinal: b.C_DigestFinal,
            C_SignInit: b.C_SignInit,
            C_Sign: b.C_Sign,
            C_SignUpdate: b.C_SignUpdate,
            C_SignFinal: b.C_SignFinal,
            C_SignRecoverInit: b.C_SignRecoverInit,
            C_SignRecover: b.C_SignRecover,
            C_VerifyInit: b.C_VerifyInit,
            C_Verify: b.C_Verify,
            C_VerifyUpdate: b.C_VerifyUpdate,
            C_VerifyFinal: b.C_VerifyFinal,
            C_VerifyRecoverInit: b.C_VerifyRecoverInit,
            C_VerifyRecover: b.C_VerifyRecover,
            C_DigestEncryptUpdate: b.C_DigestEncryptUpdate,
            C_DecryptDigestUpdate: b.C_DecryptDigestUpdate,
            C_SignEncryptUpdate: b.C_SignEncryptUpdate,
            C_DecryptVerifyUpdate: b.C_DecryptVerifyUpdate,
            C_GenerateKey: b.C_GenerateKey,
            C_GenerateKeyPair: b.C_GenerateKeyPair,
            C_WrapKey: b.C_WrapKey,
            C_UnwrapKey: b.C_UnwrapKey,
            C_DeriveKey: b.C_DeriveKey,
            C_SeedRandom: b.C_SeedRandom,
            C_GenerateRandom: b.C_GenerateRandom,
            C_GetFunctionStatus: b.C_GetFunctionStatus,
            C_CancelFunction: b.C_CancelFunction,
            C_WaitForSlotEvent: b.C_WaitForSlotEvent,
            C_GetInterfaceList: Some(C_GetInterfaceList),
            C_GetInterface: Some(C_GetInterface),
            C_LoginUser: Some(C_LoginUser),
            C_SessionCancel: Some(C_SessionCancel),
            C_MessageEncryptInit: Some(C_MessageEncryptInit),
            C_EncryptMessage: Some(C_EncryptMessage),
            C_EncryptMessageBegin: Some(C_EncryptMessageBegin),
            C_EncryptMessageNext: Some(C_EncryptMessageNext),
            C_MessageEncryptFinal: Some(C_MessageEncryptFinal),
            C_MessageDecryptInit: Some(C_MessageDecryptInit),
            C_DecryptMessage: Some(C_DecryptMessage),
            C_DecryptMessageBegin: Some(C_DecryptMessageBegin),
            C_DecryptMessageNext: Some(C_DecryptMessageNext),
            C_MessageDecryptFinal: Some(C_MessageDecryptFinal),
            C_MessageSignInit: Some(C_MessageSignInit),
            C_SignMessage: Some(C_SignMessage),
            C_SignMessageBegin: Some(C_SignMessageBegin),
            C_SignMessageNext: Some(C_SignMessageNext),
            C_MessageSignFinal: Some(C_MessageSignFinal),
            C_MessageVerifyInit: Some(C_MessageVerifyInit),
            C_VerifyMessage: Some(C_VerifyMessage),
            C_VerifyMessageBegin: Some(C_VerifyMessageBegin),
            C_VerifyMessageNext: Some(C_VerifyMessageNext),
            C_MessageVerifyFinal: Some(C_MessageVerifyFinal),
        }
    }};
}

static LIST_240: CK_FUNCTION_LIST = list_240!(CK_VERSION {
    major: 2,
    minor: 40
});
static LIST_30: CK_FUNCTION_LIST_3_0 = list_30!(CK_VERSION { major: 3, minor: 0 }, C_GetInfo_3_0);
static LIST_32: CkFunctionList32 = CkFunctionList32 {
    base: list_30!(CK_VERSION { major: 3, minor: 2 }, C_GetInfo_3_2),
    ext: Ck32Extension {
        C_EncapsulateKey,
        C_DecapsulateKey,
        C_VerifySignatureInit,
        C_VerifySignature,
        C_VerifySignatureUpdate,
        C_VerifySignatureFinal,
        C_GetSessionValidationFlags,
        C_AsyncComplete,
        C_AsyncGetID,
        C_AsyncJoin,
        C_WrapKeyAuthenticated,
        C_UnwrapKeyAuthenticated,
    },
};

/// The 2.40 table, for C_GetFunctionList. The tables are immutable statics; the C signature wants
/// a mutable pointer, which callers never write through.
pub(crate) fn function_list_240() -> *mut CK_FUNCTION_LIST {
    &LIST_240 as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST
}

/// Interface name of the standard tables.
const PKCS11_NAME: &[u8] = b"PKCS 11\0";
/// Interface name of the vendor table (PKCS#11 3.0 recommends "Vendor `<name>`").
const VENDOR_NAME: &[u8] = b"Vendor tsb-pkcs11\0";

struct Interfaces([CK_INTERFACE; 4]);
// SAFETY: the interface records only point at immutable statics.
unsafe impl Sync for Interfaces {}

static INTERFACES: Interfaces = Interfaces([
    CK_INTERFACE {
        pInterfaceName: PKCS11_NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: &LIST_32 as *const CkFunctionList32 as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: PKCS11_NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: &LIST_30 as *const CK_FUNCTION_LIST_3_0 as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: PKCS11_NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: &LIST_240 as *const CK_FUNCTION_LIST as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: VENDOR_NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: &TSB_FUNCTIONS as *const _ as *mut c_void,
        flags: 0,
    },
]);

fn version_of(i: &CK_INTERFACE) -> CK_VERSION {
    // SAFETY: pFunctionList points at one of the statics above, and every function list starts
    // with its CK_VERSION.
    unsafe { *(i.pFunctionList as *const CK_VERSION) }
}

fn name_of(i: &CK_INTERFACE) -> &'static [u8] {
    if std::ptr::eq(i.pInterfaceName as *const u8, VENDOR_NAME.as_ptr()) {
        VENDOR_NAME
    } else {
        PKCS11_NAME
    }
}

cryptoki_fn! {
    /// C_GetInterfaceList: the 3.2, 3.0 and 2.40 "PKCS 11" interfaces and the vendor interface.
    fn C_GetInterfaceList(pInterfacesList: *mut CK_INTERFACE, pulCount: *mut CK_ULONG) {
        // SAFETY: pulCount is writable and pInterfacesList, when not NULL, has *pulCount entries
        // (C_GetInterfaceList's contract).
        unsafe { write_list(&INTERFACES.0, pInterfacesList, pulCount) }
    }
}

cryptoki_fn! {
    /// C_GetInterface: by name (NULL = "PKCS 11") and version (NULL = the newest).
    fn C_GetInterface(pInterfaceName: *mut CK_UTF8CHAR, pVersion: *mut CK_VERSION, ppInterface: *mut *mut CK_INTERFACE, flags: CK_FLAGS) {
        if ppInterface.is_null() {
            return Err(bad("NULL ppInterface"));
        }
        let wanted: &[u8] = if pInterfaceName.is_null() {
            PKCS11_NAME
        } else {
            // SAFETY: a non-NULL pInterfaceName is a NUL-terminated string (C_GetInterface's
            // contract).
            unsafe { std::ffi::CStr::from_ptr(pInterfaceName as *const std::os::raw::c_char) }.to_bytes_with_nul()
        };
        // SAFETY: a non-NULL pVersion points at a readable CK_VERSION.
        let version = if pVersion.is_null() { None } else { Some(unsafe { pVersion.read() }) };
        let found = INTERFACES.0.iter().find(|iface| {
            let version_ok = match version {
                None => true,
                Some(v) => {
                    let have = version_of(iface);
                    have.major == v.major && have.minor == v.minor
                }
            };
            name_of(iface) == wanted && version_ok && iface.flags & flags == flags
        });
        match found {
            // SAFETY: ppInterface is writable (checked not NULL above).
            Some(iface) => unsafe { put(ppInterface, iface as *const CK_INTERFACE as *mut CK_INTERFACE) },
            None => {
                // SAFETY: as above.
                unsafe { put(ppInterface, std::ptr::null_mut()) }?;
                Err(Error::ck(CKR_FUNCTION_FAILED, "no such interface"))
            }
        }
    }
}
