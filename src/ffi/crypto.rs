//! Cryptographic functions: C_Sign*, C_Verify*, C_Encrypt*, C_Decrypt*, C_Digest*. Each *_Init
//! starts an operation through the session's registry; C_X, C_XUpdate and C_XFinal run through
//! `operation_call`, so any error but CKR_BUFFER_TOO_SMALL (argument errors and panics included)
//! ends the operation.

use super::args::{out_cap, read_mechanism, slice, write_output};
use super::{operation_call, session_call};
use crate::token::OpKind;
use cryptoki_sys::*;

/// `*_Init(hSession, pMechanism, hKey)`: the mechanism read, then `$init` on the session.
macro_rules! init_fn {
    ($name:ident, $init:ident) => {
        cryptoki_fn! {
            fn $name(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM, hKey: CK_OBJECT_HANDLE) {
                session_call(hSession, |m, s| {
                    // SAFETY: pMechanism is readable (the *_Init contract).
                    let (mech, params) = unsafe { read_mechanism(pMechanism) }?;
                    m.$init(s, mech, &params, hKey)
                })
            }
        }
    };
}

init_fn!(C_SignInit, sign_init);
init_fn!(C_VerifyInit, verify_init);
init_fn!(C_EncryptInit, encrypt_init);
init_fn!(C_DecryptInit, decrypt_init);

cryptoki_fn! {
    fn C_DigestInit(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM) {
        session_call(hSession, |m, s| {
            // SAFETY: pMechanism is readable (C_DigestInit's contract).
            let (mech, params) = unsafe { read_mechanism(pMechanism) }?;
            m.digest_init(s, mech, &params)
        })
    }
}

// ---- signing ----------------------------------------------------------------------------------

cryptoki_fn! {
    fn C_Sign(hSession: CK_SESSION_HANDLE, pData: *mut CK_BYTE, ulDataLen: CK_ULONG, pSignature: *mut CK_BYTE, pulSignatureLen: *mut CK_ULONG) {
        operation_call(hSession, OpKind::Sign, |m, s| {
            // SAFETY: pData holds ulDataLen bytes; pulSignatureLen is readable (C_Sign's contract).
            let (data, cap) = unsafe { (slice(pData, ulDataLen)?, out_cap(pSignature, pulSignatureLen)?) };
            let o = m.sign(s, Some(data), cap)?;
            // SAFETY: pulSignatureLen is writable and pSignature holds the capacity read above.
            unsafe { write_output(o, pSignature, pulSignatureLen) }
        })
    }
}

cryptoki_fn! {
    fn C_SignUpdate(hSession: CK_SESSION_HANDLE, pPart: *mut CK_BYTE, ulPartLen: CK_ULONG) {
        operation_call(hSession, OpKind::Sign, |m, s| {
            // SAFETY: pPart holds ulPartLen bytes (C_SignUpdate's contract).
            m.sign_update(s, unsafe { slice(pPart, ulPartLen) }?)
        })
    }
}

cryptoki_fn! {
    fn C_SignFinal(hSession: CK_SESSION_HANDLE, pSignature: *mut CK_BYTE, pulSignatureLen: *mut CK_ULONG) {
        operation_call(hSession, OpKind::Sign, |m, s| {
            // SAFETY: pulSignatureLen is readable (C_SignFinal's contract).
            let cap = unsafe { out_cap(pSignature, pulSignatureLen) }?;
            let o = m.sign(s, None, cap)?;
            // SAFETY: pulSignatureLen is writable and pSignature holds the capacity read above.
            unsafe { write_output(o, pSignature, pulSignatureLen) }
        })
    }
}

// ---- verification -----------------------------------------------------------------------------

cryptoki_fn! {
    fn C_Verify(hSession: CK_SESSION_HANDLE, pData: *mut CK_BYTE, ulDataLen: CK_ULONG, pSignature: *mut CK_BYTE, ulSignatureLen: CK_ULONG) {
        operation_call(hSession, OpKind::Verify, |m, s| {
            // SAFETY: pData and pSignature hold their lengths (C_Verify's contract).
            let (data, sig) = unsafe { (slice(pData, ulDataLen)?, slice(pSignature, ulSignatureLen)?) };
            m.verify(s, Some(data), sig)
        })
    }
}

cryptoki_fn! {
    fn C_VerifyUpdate(hSession: CK_SESSION_HANDLE, pPart: *mut CK_BYTE, ulPartLen: CK_ULONG) {
        operation_call(hSession, OpKind::Verify, |m, s| {
            // SAFETY: pPart holds ulPartLen bytes (C_VerifyUpdate's contract).
            m.verify_update(s, unsafe { slice(pPart, ulPartLen) }?)
        })
    }
}

cryptoki_fn! {
    fn C_VerifyFinal(hSession: CK_SESSION_HANDLE, pSignature: *mut CK_BYTE, ulSignatureLen: CK_ULONG) {
        operation_call(hSession, OpKind::Verify, |m, s| {
            // SAFETY: pSignature holds ulSignatureLen bytes (C_VerifyFinal's contract).
            m.verify(s, None, unsafe { slice(pSignature, ulSignatureLen) }?)
        })
    }
}

// ---- encryption and decryption ----------------------------------------------------------------

cryptoki_fn! {
    fn C_Encrypt(hSession: CK_SESSION_HANDLE, pData: *mut CK_BYTE, ulDataLen: CK_ULONG, pEncryptedData: *mut CK_BYTE, pulEncryptedDataLen: *mut CK_ULONG) {
        operation_call(hSession, OpKind::Encrypt, |m, s| {
            // SAFETY: pData holds ulDataLen bytes; pulEncryptedDataLen is readable (C_Encrypt's
            // contract).
            let (data, cap) = unsafe { (slice(pData, ulDataLen)?, out_cap(pEncryptedData, pulEncryptedDataLen)?) };
            let o = m.encrypt(s, data, cap)?;
            // SAFETY: pulEncryptedDataLen is writable and pEncryptedData holds the capacity.
            unsafe { write_output(o, pEncryptedData, pulEncryptedDataLen) }
        })
    }
}

cryptoki_fn! {
    fn C_EncryptUpdate(hSession: CK_SESSION_HANDLE, pPart: *mut CK_BYTE, ulPartLen: CK_ULONG, pEncryptedPart: *mut CK_BYTE, pulEncryptedPartLen: *mut CK_ULONG) {
        operation_call(hSession, OpKind::Encrypt, |m, s| {
            // SAFETY: pPart holds ulPartLen bytes; pulEncryptedPartLen is readable
            // (C_EncryptUpdate's contract).
            let (data, cap) = unsafe { (slice(pPart, ulPartLen)?, out_cap(pEncryptedPart, pulEncryptedPartLen)?) };
            let o = m.encrypt_update(s, data, cap)?;
            // SAFETY: pulEncryptedPartLen is writable and pEncryptedPart holds the capacity.
            unsafe { write_output(o, pEncryptedPart, pulEncryptedPartLen) }
        })
    }
}

cryptoki_fn! {
    fn C_EncryptFinal(hSession: CK_SESSION_HANDLE, pLastEncryptedPart: *mut CK_BYTE, pulLastEncryptedPartLen: *mut CK_ULONG) {
        operation_call(hSession, OpKind::Encrypt, |m, s| {
            // SAFETY: pulLastEncryptedPartLen is readable (C_EncryptFinal's contract).
            let cap = unsafe { out_cap(pLastEncryptedPart, pulLastEncryptedPartLen) }?;
            let o = m.encrypt_final(s, cap)?;
            // SAFETY: pulLastEncryptedPartLen is writable and pLastEncryptedPart holds the
            // capacity read above.
            unsafe { write_output(o, pLastEncryptedPart, pulLastEncryptedPartLen) }
        })
    }
}

cryptoki_fn! {
    fn C_Decrypt(hSession: CK_SESSION_HANDLE, pEncryptedData: *mut CK_BYTE, ulEncryptedDataLen: CK_ULONG, pData: *mut CK_BYTE, pulDataLen: *mut CK_ULONG) {
        operation_call(hSession, OpKind::Decrypt, |m, s| {
            // SAFETY: pEncryptedData holds ulEncryptedDataLen bytes; pulDataLen is readable
            // (C_Decrypt's contract).
            let (data, cap) = unsafe { (slice(pEncryptedData, ulEncryptedDataLen)?, out_cap(pData, pulDataLen)?) };
            let o = m.decrypt(s, data, cap)?;
            // SAFETY: pulDataLen is writable and pData holds the capacity read above.
            unsafe { write_output(o, pData, pulDataLen) }
        })
    }
}

cryptoki_fn! {
    fn C_DecryptUpdate(hSession: CK_SESSION_HANDLE, pEncryptedPart: *mut CK_BYTE, ulEncryptedPartLen: CK_ULONG, pPart: *mut CK_BYTE, pulPartLen: *mut CK_ULONG) {
        operation_call(hSession, OpKind::Decrypt, |m, s| {
            // SAFETY: pEncryptedPart holds ulEncryptedPartLen bytes; pulPartLen is readable
            // (C_DecryptUpdate's contract).
            let (data, cap) = unsafe { (slice(pEncryptedPart, ulEncryptedPartLen)?, out_cap(pPart, pulPartLen)?) };
            let o = m.decrypt_update(s, data, cap)?;
            // SAFETY: pulPartLen is writable and pPart holds the capacity read above.
            unsafe { write_output(o, pPart, pulPartLen) }
        })
    }
}

cryptoki_fn! {
    fn C_DecryptFinal(hSession: CK_SESSION_HANDLE, pLastPart: *mut CK_BYTE, pulLastPartLen: *mut CK_ULONG) {
        operation_call(hSession, OpKind::Decrypt, |m, s| {
            // SAFETY: pulLastPartLen is readable (C_DecryptFinal's contract).
            let cap = unsafe { out_cap(pLastPart, pulLastPartLen) }?;
            let o = m.decrypt_final(s, cap)?;
            // SAFETY: pulLastPartLen is writable and pLastPart holds the capacity read above.
            unsafe { write_output(o, pLastPart, pulLastPartLen) }
        })
    }
}

// ---- digest -----------------------------------------------------------------------------------

cryptoki_fn! {
    fn C_Digest(hSession: CK_SESSION_HANDLE, pData: *mut CK_BYTE, ulDataLen: CK_ULONG, pDigest: *mut CK_BYTE, pulDigestLen: *mut CK_ULONG) {
        operation_call(hSession, OpKind::Digest, |m, s| {
            // SAFETY: pData holds ulDataLen bytes; pulDigestLen is readable (C_Digest's contract).
            let (data, cap) = unsafe { (slice(pData, ulDataLen)?, out_cap(pDigest, pulDigestLen)?) };
            let o = m.digest(s, Some(data), cap)?;
            // SAFETY: pulDigestLen is writable and pDigest holds the capacity read above.
            unsafe { write_output(o, pDigest, pulDigestLen) }
        })
    }
}

cryptoki_fn! {
    fn C_DigestUpdate(hSession: CK_SESSION_HANDLE, pPart: *mut CK_BYTE, ulPartLen: CK_ULONG) {
        operation_call(hSession, OpKind::Digest, |m, s| {
            // SAFETY: pPart holds ulPartLen bytes (C_DigestUpdate's contract).
            m.digest_update(s, unsafe { slice(pPart, ulPartLen) }?)
        })
    }
}

cryptoki_fn! {
    fn C_DigestKey(hSession: CK_SESSION_HANDLE, hKey: CK_OBJECT_HANDLE) {
        operation_call(hSession, OpKind::Digest, |m, s| m.digest_key(s, hKey))
    }
}

cryptoki_fn! {
    fn C_DigestFinal(hSession: CK_SESSION_HANDLE, pDigest: *mut CK_BYTE, pulDigestLen: *mut CK_ULONG) {
        operation_call(hSession, OpKind::Digest, |m, s| {
            // SAFETY: pulDigestLen is readable (C_DigestFinal's contract).
            let cap = unsafe { out_cap(pDigest, pulDigestLen) }?;
            let o = m.digest(s, None, cap)?;
            // SAFETY: pulDigestLen is writable and pDigest holds the capacity read above.
            unsafe { write_output(o, pDigest, pulDigestLen) }
        })
    }
}
