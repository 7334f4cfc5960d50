//! Objects, keys and random data: C_CreateObject, C_DestroyObject, C_GetAttributeValue,
//! C_SetAttributeValue, C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal, C_GenerateKeyPair,
//! C_GenerateKey, C_DeriveKey, C_WrapKey, C_UnwrapKey, C_GenerateRandom, C_SeedRandom.

use super::args::{
    bad, copy_to, out_cap, put, read_mechanism, read_template, slice, template_mut, write_output,
};
use super::session_call;
use crate::error::Error;
use crate::mechanism::MechParams;
use crate::token::AttrValue;
use cryptoki_sys::*;

cryptoki_fn! {
    fn C_CreateObject(hSession: CK_SESSION_HANDLE, pTemplate: *mut CK_ATTRIBUTE, ulCount: CK_ULONG, phObject: *mut CK_OBJECT_HANDLE) {
        session_call(hSession, |m, s| {
            if phObject.is_null() {
                return Err(bad("NULL phObject"));
            }
            // SAFETY: pTemplate holds ulCount readable attributes (C_CreateObject's contract).
            let t = unsafe { read_template(pTemplate, ulCount) }?;
            let h = m.create_object(s, &t)?;
            // SAFETY: phObject points at a writable handle (checked not NULL above).
            unsafe { put(phObject, h) }
        })
    }
}

cryptoki_fn! {
    fn C_CopyObject(hSession: CK_SESSION_HANDLE, hObject: CK_OBJECT_HANDLE, pTemplate: *mut CK_ATTRIBUTE, ulCount: CK_ULONG, phNewObject: *mut CK_OBJECT_HANDLE) {
        session_call(hSession, |m, s| {
            if phNewObject.is_null() {
                return Err(bad("NULL phNewObject"));
            }
            // SAFETY: pTemplate holds ulCount readable attributes (C_CopyObject's contract).
            let t = unsafe { read_template(pTemplate, ulCount) }?;
            let h = m.copy_object(s, hObject, &t)?;
            // SAFETY: phNewObject points at a writable handle (checked not NULL above).
            unsafe { put(phNewObject, h) }
        })
    }
}

cryptoki_fn! {
    fn C_GetObjectSize(hSession: CK_SESSION_HANDLE, hObject: CK_OBJECT_HANDLE, pulSize: *mut CK_ULONG) {
        session_call(hSession, |m, s| {
            if pulSize.is_null() {
                return Err(bad("NULL pulSize"));
            }
            let size = m.object_size(s, hObject)?;
            // SAFETY: pulSize points at a writable CK_ULONG (checked not NULL above).
            unsafe { put(pulSize, size) }
        })
    }
}

cryptoki_fn! {
    fn C_DestroyObject(hSession: CK_SESSION_HANDLE, hObject: CK_OBJECT_HANDLE) {
        session_call(hSession, |m, s| m.destroy_object(s, hObject))
    }
}

cryptoki_fn! {
    fn C_GetAttributeValue(hSession: CK_SESSION_HANDLE, hObject: CK_OBJECT_HANDLE, pTemplate: *mut CK_ATTRIBUTE, ulCount: CK_ULONG) {
        session_call(hSession, |m, s| {
            // SAFETY: pTemplate holds ulCount attributes the module may read and write
            // (C_GetAttributeValue's contract).
            let attrs = unsafe { template_mut(pTemplate, ulCount) }?;
            let types: Vec<CK_ATTRIBUTE_TYPE> = attrs.iter().map(|a| a.type_).collect();
            // The room the caller has for each value (None: a length query), so that a value
            // kept in the TSB is fetched only when it can be returned.
            let room: Vec<Option<usize>> = attrs
                .iter()
                .map(|a| (!a.pValue.is_null()).then(|| usize::try_from(a.ulValueLen).unwrap_or(usize::MAX)))
                .collect();
            let values = m.attribute_values(s, hObject, &types, &room)?;
            // Every attribute is processed; the error returned is the last one seen (the standard
            // lets the module pick any of them).
            let mut rv = CKR_OK;
            for (a, v) in attrs.iter_mut().zip(values) {
                match v {
                    AttrValue::Invalid => {
                        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                        rv = CKR_ATTRIBUTE_TYPE_INVALID;
                    }
                    AttrValue::Sensitive => {
                        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                        rv = CKR_ATTRIBUTE_SENSITIVE;
                    }
                    // Not fetched: a length query, or a buffer too small for it.
                    AttrValue::Remote(len) => {
                        if a.pValue.is_null() {
                            a.ulValueLen = len as CK_ULONG;
                        } else {
                            a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                            rv = CKR_BUFFER_TOO_SMALL;
                        }
                    }
                    AttrValue::Value(bytes) => {
                        if a.pValue.is_null() {
                            a.ulValueLen = bytes.len() as CK_ULONG;
                        } else if (a.ulValueLen as usize) < bytes.len() {
                            a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                            rv = CKR_BUFFER_TOO_SMALL;
                        } else {
                            // SAFETY: pValue has room for ulValueLen >= bytes.len() bytes.
                            unsafe { copy_to(&bytes, a.pValue as *mut u8) };
                            a.ulValueLen = bytes.len() as CK_ULONG;
                        }
                    }
                }
            }
            if rv == CKR_OK { Ok(()) } else { Err(Error::ck(rv, "some attributes were not returned")) }
        })
    }
}

cryptoki_fn! {
    fn C_SetAttributeValue(hSession: CK_SESSION_HANDLE, hObject: CK_OBJECT_HANDLE, pTemplate: *mut CK_ATTRIBUTE, ulCount: CK_ULONG) {
        session_call(hSession, |m, s| {
            // SAFETY: pTemplate holds ulCount readable attributes (C_SetAttributeValue's contract).
            let t = unsafe { read_template(pTemplate, ulCount) }?;
            m.set_attributes(s, hObject, &t)
        })
    }
}

cryptoki_fn! {
    fn C_FindObjectsInit(hSession: CK_SESSION_HANDLE, pTemplate: *mut CK_ATTRIBUTE, ulCount: CK_ULONG) {
        session_call(hSession, |m, s| {
            // SAFETY: pTemplate holds ulCount readable attributes (C_FindObjectsInit's contract).
            let t = unsafe { read_template(pTemplate, ulCount) }?;
            m.find_init(s, &t)
        })
    }
}

cryptoki_fn! {
    fn C_FindObjects(hSession: CK_SESSION_HANDLE, phObject: *mut CK_OBJECT_HANDLE, ulMaxObjectCount: CK_ULONG, pulObjectCount: *mut CK_ULONG) {
        session_call(hSession, |m, s| {
            if pulObjectCount.is_null() || (phObject.is_null() && ulMaxObjectCount > 0) {
                return Err(bad("NULL output pointer"));
            }
            let max = usize::try_from(ulMaxObjectCount).unwrap_or(usize::MAX);
            let found = m.find_next(s, max)?;
            // SAFETY: phObject has room for ulMaxObjectCount >= found.len() handles and
            // pulObjectCount is writable (C_FindObjects's contract; both checked not NULL).
            unsafe {
                copy_to(&found, phObject);
                put(pulObjectCount, found.len() as CK_ULONG)
            }
        })
    }
}

cryptoki_fn! {
    fn C_FindObjectsFinal(hSession: CK_SESSION_HANDLE) {
        session_call(hSession, |m, s| m.find_final(s))
    }
}

cryptoki_fn! {
    fn C_GenerateKeyPair(
        hSession: CK_SESSION_HANDLE,
        pMechanism: *mut CK_MECHANISM,
        pPublicKeyTemplate: *mut CK_ATTRIBUTE,
        ulPublicKeyAttributeCount: CK_ULONG,
        pPrivateKeyTemplate: *mut CK_ATTRIBUTE,
        ulPrivateKeyAttributeCount: CK_ULONG,
        phPublicKey: *mut CK_OBJECT_HANDLE,
        phPrivateKey: *mut CK_OBJECT_HANDLE,
    ) {
        session_call(hSession, |m, s| {
            if phPublicKey.is_null() || phPrivateKey.is_null() {
                return Err(bad("NULL key handle pointer"));
            }
            // SAFETY: pMechanism is readable (C_GenerateKeyPair's contract).
            let (mech, params) = unsafe { read_mechanism(pMechanism) }?;
            if params != MechParams::None {
                return Err(Error::ck(CKR_MECHANISM_PARAM_INVALID, "key generation takes no parameter"));
            }
            // SAFETY: both templates hold their counts of readable attributes (C_GenerateKeyPair's
            // contract).
            let (public, private) = unsafe {
                (
                    read_template(pPublicKeyTemplate, ulPublicKeyAttributeCount)?,
                    read_template(pPrivateKeyTemplate, ulPrivateKeyAttributeCount)?,
                )
            };
            let (pubh, privh) = m.generate_key_pair(s, mech, &public, &private)?;
            // SAFETY: both handle pointers are writable (checked not NULL above).
            unsafe {
                put(phPublicKey, pubh)?;
                put(phPrivateKey, privh)
            }
        })
    }
}

cryptoki_fn! {
    fn C_GenerateKey(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM, pTemplate: *mut CK_ATTRIBUTE, ulCount: CK_ULONG, phKey: *mut CK_OBJECT_HANDLE) {
        session_call(hSession, |m, s| {
            if phKey.is_null() {
                return Err(bad("NULL phKey"));
            }
            // SAFETY: pMechanism is readable (C_GenerateKey's contract).
            let (mech, params) = unsafe { read_mechanism(pMechanism) }?;
            if params != MechParams::None {
                return Err(Error::ck(CKR_MECHANISM_PARAM_INVALID, "key generation takes no parameter"));
            }
            // SAFETY: pTemplate holds ulCount readable attributes (C_GenerateKey's contract).
            let t = unsafe { read_template(pTemplate, ulCount) }?;
            let h = m.generate_key(s, mech, &t)?;
            // SAFETY: phKey points at a writable handle (checked not NULL above).
            unsafe { put(phKey, h) }
        })
    }
}

cryptoki_fn! {
    fn C_DeriveKey(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM, hBaseKey: CK_OBJECT_HANDLE, pTemplate: *mut CK_ATTRIBUTE, ulAttributeCount: CK_ULONG, phKey: *mut CK_OBJECT_HANDLE) {
        session_call(hSession, |m, s| {
            if phKey.is_null() {
                return Err(bad("NULL phKey"));
            }
            // SAFETY: pMechanism is readable (C_DeriveKey's contract).
            let (mech, params) = unsafe { read_mechanism(pMechanism) }?;
            // SAFETY: pTemplate holds ulAttributeCount readable attributes (C_DeriveKey's
            // contract).
            let t = unsafe { read_template(pTemplate, ulAttributeCount) }?;
            if crate::mechanism::kbkdf::Mode::of(mech).is_some() {
                let (h, more) = m.kbkdf_derive(s, mech, &params, hBaseKey, &t)?;
                if let MechParams::Kbkdf(p) = &params {
                    for (k, h) in p.additional.iter().zip(more) {
                        // SAFETY: the address is the additional key's phKey, checked not NULL
                        // and writable by CK_DERIVED_KEY's contract (ffi::args).
                        unsafe { put(k.out.0 as *mut CK_OBJECT_HANDLE, h) }?;
                    }
                }
                // SAFETY: phKey points at a writable handle (checked not NULL above).
                return unsafe { put(phKey, h) };
            }
            let h = m.derive_key(s, mech, &params, hBaseKey, &t)?;
            // SAFETY: phKey points at a writable handle (checked not NULL above).
            unsafe { put(phKey, h) }
        })
    }
}

cryptoki_fn! {
    fn C_WrapKey(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM, hWrappingKey: CK_OBJECT_HANDLE, hKey: CK_OBJECT_HANDLE, pWrappedKey: *mut CK_BYTE, pulWrappedKeyLen: *mut CK_ULONG) {
        session_call(hSession, |m, s| {
            // SAFETY: pMechanism is readable; pulWrappedKeyLen is readable (C_WrapKey's contract).
            let (mech, params) = unsafe { read_mechanism(pMechanism) }?;
            // SAFETY: as above.
            let cap = unsafe { out_cap(pWrappedKey, pulWrappedKeyLen) }?;
            let o = m.wrap_key(s, mech, &params, hWrappingKey, hKey, cap)?;
            // SAFETY: pulWrappedKeyLen is writable and pWrappedKey holds the capacity read above.
            unsafe { write_output(o, pWrappedKey, pulWrappedKeyLen) }
        })
    }
}

cryptoki_fn! {
    fn C_UnwrapKey(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM, hUnwrappingKey: CK_OBJECT_HANDLE, pWrappedKey: *mut CK_BYTE, ulWrappedKeyLen: CK_ULONG, pTemplate: *mut CK_ATTRIBUTE, ulAttributeCount: CK_ULONG, phKey: *mut CK_OBJECT_HANDLE) {
        session_call(hSession, |m, s| {
            if phKey.is_null() {
                return Err(bad("NULL phKey"));
            }
            // SAFETY: pMechanism is readable, pWrappedKey holds ulWrappedKeyLen bytes and
            // pTemplate ulAttributeCount attributes (C_UnwrapKey's contract).
            let (mech, params) = unsafe { read_mechanism(pMechanism) }?;
            // SAFETY: as above.
            let (wrapped, t) = unsafe { (slice(pWrappedKey, ulWrappedKeyLen)?, read_template(pTemplate, ulAttributeCount)?) };
            let h = m.unwrap_key(s, mech, &params, hUnwrappingKey, wrapped, &t)?;
            // SAFETY: phKey points at a writable handle (checked not NULL above).
            unsafe { put(phKey, h) }
        })
    }
}

cryptoki_fn! {
    fn C_GenerateRandom(hSession: CK_SESSION_HANDLE, RandomData: *mut CK_BYTE, ulRandomLen: CK_ULONG) {
        session_call(hSession, |m, s| {
            if ulRandomLen == 0 {
                return Ok(());
            }
            if RandomData.is_null() {
                return Err(bad("NULL buffer"));
            }
            let n = usize::try_from(ulRandomLen).unwrap_or(usize::MAX);
            let bytes = m.generate_random(s, n)?;
            // SAFETY: RandomData has room for ulRandomLen bytes (C_GenerateRandom's contract),
            // and exactly that many were produced.
            unsafe { copy_to(&bytes, RandomData) };
            Ok(())
        })
    }
}

cryptoki_fn! {
    fn C_SeedRandom(hSession: CK_SESSION_HANDLE, pSeed: *mut CK_BYTE, ulSeedLen: CK_ULONG) {
        session_call(hSession, |m, s| {
            // SAFETY: pSeed holds ulSeedLen bytes (C_SeedRandom's contract).
            let seed = unsafe { slice(pSeed, ulSeedLen) }?;
            m.seed_random(s, seed)
        })
    }
}
