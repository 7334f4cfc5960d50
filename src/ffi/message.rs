//! The PKCS#11 3.0 message-based encryption and decryption functions (§5.13, §5.14), with
//! CKM_AES_GCM (token::message). Each shim reads its CK_GCM_MESSAGE_PARAMS (`args`), calls the
//! layer below and writes back the output, the tag and a generated IV. The message calls run
//! through `operation_call`: an error (but CKR_BUFFER_TOO_SMALL) ends the message in progress,
//! not the operation, which C_MessageEncryptFinal / C_MessageDecryptFinal end.

use super::args::{
    bad, out_cap, read_gcm_message, read_message_mechanism, slice, write_message_iv,
    write_message_output,
};
use super::{operation_call, session_call};
use crate::token::OpKind;
use cryptoki_sys::*;
use std::os::raw::c_void;

/// The flags of C_EncryptMessageNext / C_DecryptMessageNext: 0 or CKF_END_OF_MESSAGE.
fn end_of_message(flags: CK_FLAGS) -> crate::error::Result<bool> {
    match flags {
        0 => Ok(false),
        CKF_END_OF_MESSAGE => Ok(true),
        _ => Err(bad("flags other than CKF_END_OF_MESSAGE")),
    }
}

/// C_MessageXInit, C_XMessage, C_XMessageBegin, C_XMessageNext and C_MessageXFinal of one
/// direction (`$d`: token::symmetric's Encrypt or Decrypt; `$read_tag`: the tag is an input).
macro_rules! message_fns {
    ($d:ty, $kind:expr, $read_tag:expr, $init:ident, $single:ident, $begin:ident, $next:ident, $final:ident) => {
        cryptoki_fn! {
            fn $init(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM, hKey: CK_OBJECT_HANDLE) {
                session_call(hSession, |m, s| {
                    // SAFETY: pMechanism is readable (the Init contract).
                    let mech = unsafe { read_message_mechanism(pMechanism) }?;
                    m.message_init::<$d>(s, mech, hKey)
                })
            }
        }

        cryptoki_fn! {
            fn $single(hSession: CK_SESSION_HANDLE, pParameter: *mut c_void, ulParameterLen: CK_ULONG, pAssociatedData: *mut CK_BYTE, ulAssociatedDataLen: CK_ULONG, pIn: *mut CK_BYTE, ulInLen: CK_ULONG, pOut: *mut CK_BYTE, pulOutLen: *mut CK_ULONG) {
                operation_call(hSession, $kind, |m, s| {
                    // SAFETY: pParameter holds ulParameterLen bytes, the AAD and the input their
                    // lengths; pulOutLen is readable (the call's contract).
                    let ((p, out), aad, data, cap) = unsafe {
                        (
                            read_gcm_message(pParameter, ulParameterLen, $read_tag)?,
                            slice(pAssociatedData, ulAssociatedDataLen)?,
                            slice(pIn, ulInLen)?,
                            out_cap(pOut, pulOutLen)?,
                        )
                    };
                    let o = m.message_single::<$d>(s, &p, aad, data, cap)?;
                    // SAFETY: pulOutLen is writable and pOut holds the capacity read above;
                    // `out` was read in this call.
                    unsafe { write_message_output(o, Some(&out), pOut, pulOutLen) }
                })
            }
        }

        cryptoki_fn! {
            fn $begin(hSession: CK_SESSION_HANDLE, pParameter: *mut c_void, ulParameterLen: CK_ULONG, pAssociatedData: *mut CK_BYTE, ulAssociatedDataLen: CK_ULONG) {
                operation_call(hSession, $kind, |m, s| {
                    // SAFETY: pParameter holds ulParameterLen bytes and the AAD its length.
                    let ((p, out), aad) = unsafe {
                        (
                            read_gcm_message(pParameter, ulParameterLen, $read_tag)?,
                            slice(pAssociatedData, ulAssociatedDataLen)?,
                        )
                    };
                    match m.message_begin::<$d>(s, &p, aad)? {
                        // SAFETY: `out` was read in this call.
                        Some(iv) => unsafe { write_message_iv(&out, &iv) },
                        None => Ok(()),
                    }
                })
            }
        }

        cryptoki_fn! {
            fn $next(hSession: CK_SESSION_HANDLE, pParameter: *mut c_void, ulParameterLen: CK_ULONG, pIn: *mut CK_BYTE, ulInLen: CK_ULONG, pOut: *mut CK_BYTE, pulOutLen: *mut CK_ULONG, flags: CK_FLAGS) {
                operation_call(hSession, $kind, |m, s| {
                    let end = end_of_message(flags)?;
                    // The parameter is optional on a part (it says nothing new), and carries the
                    // tag of the last one.
                    let param = if pParameter.is_null() && ulParameterLen == 0 {
                        None
                    } else {
                        // SAFETY: pParameter holds ulParameterLen bytes (the call's contract).
                        Some(unsafe { read_gcm_message(pParameter, ulParameterLen, $read_tag && end) }?)
                    };
                    // SAFETY: pIn holds ulInLen bytes; pulOutLen is readable.
                    let (data, cap) = unsafe { (slice(pIn, ulInLen)?, out_cap(pOut, pulOutLen)?) };
                    let o = m.message_next::<$d>(s, param.as_ref().map(|(p, _)| p), data, cap, end)?;
                    // SAFETY: pulOutLen is writable and pOut holds the capacity read above;
                    // `out` was read in this call.
                    unsafe { write_message_output(o, param.as_ref().map(|(_, o)| o), pOut, pulOutLen) }
                })
            }
        }

        cryptoki_fn! {
            fn $final(hSession: CK_SESSION_HANDLE) {
                session_call(hSession, |m, s| m.message_final::<$d>(s))
            }
        }
    };
}

message_fns!(
    crate::token::Encrypt,
    OpKind::MessageEncrypt,
    false,
    C_MessageEncryptInit,
    C_EncryptMessage,
    C_EncryptMessageBegin,
    C_EncryptMessageNext,
    C_MessageEncryptFinal
);

message_fns!(
    crate::token::Decrypt,
    OpKind::MessageDecrypt,
    true,
    C_MessageDecryptInit,
    C_DecryptMessage,
    C_DecryptMessageBegin,
    C_DecryptMessageNext,
    C_MessageDecryptFinal
);
