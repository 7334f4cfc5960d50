//! The C_ entry points. Each is a thin shim: check and convert arguments, call `token`, write
//! results back.

use super::*;
use crate::cryptoki_fn;
use crate::not_supported;
use crate::token::lifecycle::{ending_on_error, OpKind};
use crate::token::object::AttrValue;
use crate::{module, LIBRARY_DESCRIPTION, MANUFACTURER};
use std::os::raw::c_void;

// ---- general purpose ----------------------------------------------------------------------------

cryptoki_fn! {
    fn C_Initialize(pInitArgs: *mut c_void) {
        if !pInitArgs.is_null() {
            let args = (pInitArgs as *const CK_C_INITIALIZE_ARGS).read_unaligned();
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
    fn C_GetInfo(pInfo: *mut CK_INFO) {
        module()?;
        if pInfo.is_null() {
            return Err(bad("NULL pInfo"));
        }
        let mut info = CK_INFO {
            cryptokiVersion: CK_VERSION { major: 2, minor: 40 },
            manufacturerID: [b' '; 32],
            flags: 0,
            libraryDescription: [b' '; 32],
            libraryVersion: crate::library_version(),
        };
        pad_field(MANUFACTURER, &mut info.manufacturerID);
        pad_field(LIBRARY_DESCRIPTION, &mut info.libraryDescription);
        put(pInfo, info)
    }
}

#[no_mangle]
/// C_GetFunctionList: the 2.40 function table. Callable before C_Initialize.
pub unsafe extern "C" fn C_GetFunctionList(ppFunctionList: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    guard("C_GetFunctionList", || {
        put(ppFunctionList, super::lists::function_list_240())
    })
}

// ---- slots and tokens ---------------------------------------------------------------------------

cryptoki_fn! {
    fn C_GetSlotList(tokenPresent: CK_BBOOL, pSlotList: *mut CK_SLOT_ID, pulCount: *mut CK_ULONG) {
        let m = module()?;
        let _ = tokenPresent; // every slot always has its token
        if pulCount.is_null() {
            return Err(bad("NULL pulCount"));
        }
        let n = m.slots.len();
        if pSlotList.is_null() {
            return put(pulCount, n as CK_ULONG);
        }
        if (*pulCount as usize) < n {
            *pulCount = n as CK_ULONG;
            return Err(Error::ck(CKR_BUFFER_TOO_SMALL, "slot list buffer too small"));
        }
        for i in 0..n {
            *pSlotList.add(i) = i as CK_SLOT_ID;
        }
        put(pulCount, n as CK_ULONG)
    }
}

cryptoki_fn! {
    fn C_GetSlotInfo(slotID: CK_SLOT_ID, pInfo: *mut CK_SLOT_INFO) {
        let m = module()?;
        let slot = m.slot(slotID)?;
        if pInfo.is_null() {
            return Err(bad("NULL pInfo"));
        }
        let mut info = CK_SLOT_INFO {
            slotDescription: [b' '; 64],
            manufacturerID: [b' '; 32],
            flags: CKF_TOKEN_PRESENT | CKF_HW_SLOT,
            hardwareVersion: CK_VERSION { major: 1, minor: 0 },
            firmwareVersion: CK_VERSION { major: 1, minor: 0 },
        };
        pad_field(&crate::config::url_description(&slot.config.url), &mut info.slotDescription);
        pad_field(MANUFACTURER, &mut info.manufacturerID);
        put(pInfo, info)
    }
}

cryptoki_fn! {
    fn C_GetTokenInfo(slotID: CK_SLOT_ID, pInfo: *mut CK_TOKEN_INFO) {
        let m = module()?;
        let slot = m.slot(slotID)?;
        if pInfo.is_null() {
            return Err(bad("NULL pInfo"));
        }
        let (sessions, rw) = m.session_counts(slot.id);
        let mut flags = CKF_RNG | CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED;
        if slot.login_required() {
            flags |= CKF_LOGIN_REQUIRED;
        }
        let mut info = CK_TOKEN_INFO {
            label: [b' '; 32],
            manufacturerID: [b' '; 32],
            model: [b' '; 16],
            serialNumber: [b' '; 16],
            flags,
            ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
            ulSessionCount: sessions as CK_ULONG,
            ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
            ulRwSessionCount: rw as CK_ULONG,
            ulMaxPinLen: 8192,
            ulMinPinLen: 0,
            ulTotalPublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulTotalPrivateMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePrivateMemory: CK_UNAVAILABLE_INFORMATION,
            hardwareVersion: CK_VERSION { major: 1, minor: 0 },
            firmwareVersion: CK_VERSION { major: 1, minor: 0 },
            utcTime: [b' '; 16],
        };
        pad_field(&slot.config.label, &mut info.label);
        pad_field(MANUFACTURER, &mut info.manufacturerID);
        pad_field("TSB REST", &mut info.model);
        // A stable serial from the URL, so tools can tell two TSBs apart.
        let digest = crate::mechanism::Hash::Sha256.digest(slot.config.url.as_bytes());
        let serial: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        pad_field(&serial, &mut info.serialNumber);
        put(pInfo, info)
    }
}

cryptoki_fn! {
    fn C_GetMechanismList(slotID: CK_SLOT_ID, pMechanismList: *mut CK_MECHANISM_TYPE, pulCount: *mut CK_ULONG) {
        let m = module()?;
        m.slot(slotID)?;
        if pulCount.is_null() {
            return Err(bad("NULL pulCount"));
        }
        let list = crate::mechanism::MECHANISMS;
        if pMechanismList.is_null() {
            return put(pulCount, list.len() as CK_ULONG);
        }
        if (*pulCount as usize) < list.len() {
            *pulCount = list.len() as CK_ULONG;
            return Err(Error::ck(CKR_BUFFER_TOO_SMALL, "mechanism list buffer too small"));
        }
        for (i, r) in list.iter().enumerate() {
            *pMechanismList.add(i) = r.mech;
        }
        put(pulCount, list.len() as CK_ULONG)
    }
}

cryptoki_fn! {
    fn C_GetMechanismInfo(slotID: CK_SLOT_ID, type_: CK_MECHANISM_TYPE, pInfo: *mut CK_MECHANISM_INFO) {
        let m = module()?;
        m.slot(slotID)?;
        let r = crate::mechanism::info(type_).ok_or_else(|| Error::ck(CKR_MECHANISM_INVALID, format!("mechanism 0x{type_:x} is not supported")))?;
        put(pInfo, CK_MECHANISM_INFO { ulMinKeySize: r.min, ulMaxKeySize: r.max, flags: r.flags })
    }
}

// ---- sessions -----------------------------------------------------------------------------------

cryptoki_fn! {
    fn C_OpenSession(slotID: CK_SLOT_ID, flags: CK_FLAGS, pApplication: *mut c_void, Notify: CK_NOTIFY, phSession: *mut CK_SESSION_HANDLE) {
        let _ = (pApplication, Notify); // no callbacks: the module never surrenders
        let m = module()?;
        if phSession.is_null() {
            return Err(bad("NULL phSession"));
        }
        let h = m.open_session(slotID, flags)?;
        put(phSession, h)
    }
}

cryptoki_fn! {
    fn C_CloseSession(hSession: CK_SESSION_HANDLE) {
        module()?.close_session(hSession)
    }
}

cryptoki_fn! {
    fn C_CloseAllSessions(slotID: CK_SLOT_ID) {
        module()?.close_all_sessions(slotID)
    }
}

cryptoki_fn! {
    fn C_GetSessionInfo(hSession: CK_SESSION_HANDLE, pInfo: *mut CK_SESSION_INFO) {
        let m = module()?;
        let (slot, state, flags, dev) = m.session_info(hSession)?;
        put(pInfo, CK_SESSION_INFO { slotID: slot, state, flags, ulDeviceError: dev })
    }
}

cryptoki_fn! {
    fn C_Login(hSession: CK_SESSION_HANDLE, userType: CK_USER_TYPE, pPin: *mut CK_UTF8CHAR, ulPinLen: CK_ULONG) {
        let m = module()?;
        let pin = if pPin.is_null() { None } else { Some(slice(pPin, ulPinLen)?) };
        m.login(hSession, userType, pin)
    }
}

cryptoki_fn! {
    fn C_LoginUser(hSession: CK_SESSION_HANDLE, userType: CK_USER_TYPE, pPin: *mut CK_UTF8CHAR, ulPinLen: CK_ULONG, pUsername: *mut CK_UTF8CHAR, ulUsernameLen: CK_ULONG) {
        let m = module()?;
        slice(pUsername, ulUsernameLen)?; // a TSB token has one user; the name is not used
        let pin = if pPin.is_null() { None } else { Some(slice(pPin, ulPinLen)?) };
        m.login(hSession, userType, pin)
    }
}

cryptoki_fn! {
    fn C_Logout(hSession: CK_SESSION_HANDLE) {
        module()?.logout(hSession)
    }
}

cryptoki_fn! {
    fn C_SessionCancel(hSession: CK_SESSION_HANDLE, flags: CK_FLAGS) {
        let m = module()?;
        let s = m.session(hSession)?;
        m.session_cancel(&s, flags)
    }
}

// ---- objects ------------------------------------------------------------------------------------

cryptoki_fn! {
    fn C_CreateObject(hSession: CK_SESSION_HANDLE, pTemplate: *mut CK_ATTRIBUTE, ulCount: CK_ULONG, phObject: *mut CK_OBJECT_HANDLE) {
        let m = module()?;
        let s = m.session(hSession)?;
        if phObject.is_null() {
            return Err(bad("NULL phObject"));
        }
        let t = read_template(pTemplate, ulCount)?;
        let r = m.create_object(&s, &t);
        m.note_result(&s, &r);
        put(phObject, r?)
    }
}

cryptoki_fn! {
    fn C_DestroyObject(hSession: CK_SESSION_HANDLE, hObject: CK_OBJECT_HANDLE) {
        let m = module()?;
        let s = m.session(hSession)?;
        let r = m.destroy_object(&s, hObject);
        m.note_result(&s, &r);
        r
    }
}

cryptoki_fn! {
    fn C_GetAttributeValue(hSession: CK_SESSION_HANDLE, hObject: CK_OBJECT_HANDLE, pTemplate: *mut CK_ATTRIBUTE, ulCount: CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        if pTemplate.is_null() && ulCount > 0 {
            return Err(bad("NULL template"));
        }
        if ulCount > 4096 {
            return Err(bad("template too long"));
        }
        let attrs: &mut [CK_ATTRIBUTE] = if ulCount == 0 { &mut [] } else { std::slice::from_raw_parts_mut(pTemplate, ulCount as usize) };
        let types: Vec<CK_ATTRIBUTE_TYPE> = attrs.iter().map(|a| a.type_).collect();
        let values = m.attributes(&s, hObject, &types)?;
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
                AttrValue::Value(bytes) => {
                    if a.pValue.is_null() {
                        a.ulValueLen = bytes.len() as CK_ULONG;
                    } else if (a.ulValueLen as usize) < bytes.len() {
                        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                        rv = CKR_BUFFER_TOO_SMALL;
                    } else {
                        std::ptr::copy_nonoverlapping(bytes.as_ptr(), a.pValue as *mut u8, bytes.len());
                        a.ulValueLen = bytes.len() as CK_ULONG;
                    }
                }
            }
        }
        if rv == CKR_OK { Ok(()) } else { Err(Error::ck(rv, "some attributes were not returned")) }
    }
}

cryptoki_fn! {
    fn C_SetAttributeValue(hSession: CK_SESSION_HANDLE, hObject: CK_OBJECT_HANDLE, pTemplate: *mut CK_ATTRIBUTE, ulCount: CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        read_template(pTemplate, ulCount)?;
        m.object(&s, hObject)?;
        // Objects mirror the TSB, whose attributes this module does not modify (CKA_MODIFIABLE false).
        Err(Error::ck(CKR_ACTION_PROHIBITED, "objects are not modifiable through this module"))
    }
}

cryptoki_fn! {
    fn C_FindObjectsInit(hSession: CK_SESSION_HANDLE, pTemplate: *mut CK_ATTRIBUTE, ulCount: CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        let t = read_template(pTemplate, ulCount)?;
        if s.state.lock().find.is_some() {
            return Err(Error::ck(CKR_OPERATION_ACTIVE, "a find is already active"));
        }
        let r = m.find(&s, &t);
        m.note_result(&s, &r);
        let results = r?;
        s.state.lock().find = Some(crate::token::ops::FindState { results, pos: 0 });
        Ok(())
    }
}

cryptoki_fn! {
    fn C_FindObjects(hSession: CK_SESSION_HANDLE, phObject: *mut CK_OBJECT_HANDLE, ulMaxObjectCount: CK_ULONG, pulObjectCount: *mut CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        if pulObjectCount.is_null() || (phObject.is_null() && ulMaxObjectCount > 0) {
            return Err(bad("NULL output pointer"));
        }
        let mut st = s.state.lock();
        let f = st.find.as_mut().ok_or_else(|| Error::ck(CKR_OPERATION_NOT_INITIALIZED, "C_FindObjectsInit first"))?;
        let n = (f.results.len() - f.pos).min(ulMaxObjectCount as usize);
        for i in 0..n {
            *phObject.add(i) = f.results[f.pos + i];
        }
        f.pos += n;
        put(pulObjectCount, n as CK_ULONG)
    }
}

cryptoki_fn! {
    fn C_FindObjectsFinal(hSession: CK_SESSION_HANDLE) {
        let m = module()?;
        let s = m.session(hSession)?;
        let mut st = s.state.lock();
        st.find.take().ok_or_else(|| Error::ck(CKR_OPERATION_NOT_INITIALIZED, "no find active"))?;
        Ok(())
    }
}

// ---- key management -----------------------------------------------------------------------------

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
        let m = module()?;
        let s = m.session(hSession)?;
        if phPublicKey.is_null() || phPrivateKey.is_null() {
            return Err(bad("NULL key handle pointer"));
        }
        let (mech, params) = read_mechanism(pMechanism)?;
        if params != MechParams::None {
            return Err(Error::ck(CKR_MECHANISM_PARAM_INVALID, "key generation takes no parameter"));
        }
        let public = read_template(pPublicKeyTemplate, ulPublicKeyAttributeCount)?;
        let private = read_template(pPrivateKeyTemplate, ulPrivateKeyAttributeCount)?;
        let r = m.generate_key_pair(&s, mech, &public, &private);
        m.note_result(&s, &r);
        let (pubh, privh) = r?;
        put(phPublicKey, pubh)?;
        put(phPrivateKey, privh)
    }
}

cryptoki_fn! {
    fn C_GenerateRandom(hSession: CK_SESSION_HANDLE, RandomData: *mut CK_BYTE, ulRandomLen: CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        if ulRandomLen == 0 {
            return Ok(());
        }
        if RandomData.is_null() {
            return Err(bad("NULL buffer"));
        }
        if ulRandomLen > 1024 * 1024 {
            return Err(Error::ck(CKR_DATA_LEN_RANGE, "at most 1 MiB of random data per call"));
        }
        let r = m.generate_random(&s, ulRandomLen as usize);
        m.note_result(&s, &r);
        let bytes = r?;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), RandomData, bytes.len());
        Ok(())
    }
}

cryptoki_fn! {
    fn C_SeedRandom(hSession: CK_SESSION_HANDLE, pSeed: *mut CK_BYTE, ulSeedLen: CK_ULONG) {
        let m = module()?;
        m.session(hSession)?;
        slice(pSeed, ulSeedLen)?;
        Err(Error::ck(CKR_RANDOM_SEED_NOT_SUPPORTED, "the HSM's generator takes no seed"))
    }
}

// ---- signing ------------------------------------------------------------------------------------

// C_X, C_XUpdate and C_XFinal of every family run inside `ending_on_error`: any error but
// CKR_BUFFER_TOO_SMALL, argument errors and panics included, ends the operation (token::lifecycle).

cryptoki_fn! {
    fn C_SignInit(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM, hKey: CK_OBJECT_HANDLE) {
        let m = module()?;
        let s = m.session(hSession)?;
        let (mech, params) = read_mechanism(pMechanism)?;
        m.sign_init(&s, mech, &params, hKey)
    }
}

cryptoki_fn! {
    fn C_Sign(hSession: CK_SESSION_HANDLE, pData: *mut CK_BYTE, ulDataLen: CK_ULONG, pSignature: *mut CK_BYTE, pulSignatureLen: *mut CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        ending_on_error(&s, OpKind::Sign, || {
            let data = slice(pData, ulDataLen)?;
            let cap = out_cap(pSignature, pulSignatureLen)?;
            let o = m.sign_finish(&s, Some(data), cap)?;
            write_output(o, pSignature, pulSignatureLen)
        })
    }
}

cryptoki_fn! {
    fn C_SignUpdate(hSession: CK_SESSION_HANDLE, pPart: *mut CK_BYTE, ulPartLen: CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        ending_on_error(&s, OpKind::Sign, || {
            m.sign_update(&s, slice(pPart, ulPartLen)?)
        })
    }
}

cryptoki_fn! {
    fn C_SignFinal(hSession: CK_SESSION_HANDLE, pSignature: *mut CK_BYTE, pulSignatureLen: *mut CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        ending_on_error(&s, OpKind::Sign, || {
            let cap = out_cap(pSignature, pulSignatureLen)?;
            let o = m.sign_finish(&s, None, cap)?;
            write_output(o, pSignature, pulSignatureLen)
        })
    }
}

cryptoki_fn! {
    fn C_VerifyInit(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM, hKey: CK_OBJECT_HANDLE) {
        let m = module()?;
        let s = m.session(hSession)?;
        let (mech, params) = read_mechanism(pMechanism)?;
        m.verify_init(&s, mech, &params, hKey)
    }
}

cryptoki_fn! {
    fn C_Verify(hSession: CK_SESSION_HANDLE, pData: *mut CK_BYTE, ulDataLen: CK_ULONG, pSignature: *mut CK_BYTE, ulSignatureLen: CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        ending_on_error(&s, OpKind::Verify, || {
            m.verify_finish(&s, Some(slice(pData, ulDataLen)?), slice(pSignature, ulSignatureLen)?)
        })
    }
}

cryptoki_fn! {
    fn C_VerifyUpdate(hSession: CK_SESSION_HANDLE, pPart: *mut CK_BYTE, ulPartLen: CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        ending_on_error(&s, OpKind::Verify, || {
            m.verify_update(&s, slice(pPart, ulPartLen)?)
        })
    }
}

cryptoki_fn! {
    fn C_VerifyFinal(hSession: CK_SESSION_HANDLE, pSignature: *mut CK_BYTE, ulSignatureLen: CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        ending_on_error(&s, OpKind::Verify, || {
            m.verify_finish(&s, None, slice(pSignature, ulSignatureLen)?)
        })
    }
}

// ---- encryption and decryption ------------------------------------------------------------------

cryptoki_fn! {
    fn C_EncryptInit(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM, hKey: CK_OBJECT_HANDLE) {
        let m = module()?;
        let s = m.session(hSession)?;
        let (mech, params) = read_mechanism(pMechanism)?;
        m.encrypt_init(&s, mech, &params, hKey)
    }
}

cryptoki_fn! {
    fn C_Encrypt(hSession: CK_SESSION_HANDLE, pData: *mut CK_BYTE, ulDataLen: CK_ULONG, pEncryptedData: *mut CK_BYTE, pulEncryptedDataLen: *mut CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        ending_on_error(&s, OpKind::Encrypt, || {
            let data = slice(pData, ulDataLen)?;
            let cap = out_cap(pEncryptedData, pulEncryptedDataLen)?;
            let o = m.encrypt(&s, data, cap)?;
            write_output(o, pEncryptedData, pulEncryptedDataLen)
        })
    }
}

cryptoki_fn! {
    fn C_EncryptUpdate(hSession: CK_SESSION_HANDLE, pPart: *mut CK_BYTE, ulPartLen: CK_ULONG, pEncryptedPart: *mut CK_BYTE, pulEncryptedPartLen: *mut CK_ULONG) {
        let _ = (pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen);
        let m = module()?;
        let s = m.session(hSession)?;
        ending_on_error(&s, OpKind::Encrypt, || {
            m.encrypt_update(&s)
        })
    }
}

cryptoki_fn! {
    fn C_EncryptFinal(hSession: CK_SESSION_HANDLE, pLastEncryptedPart: *mut CK_BYTE, pulLastEncryptedPartLen: *mut CK_ULONG) {
        let _ = (pLastEncryptedPart, pulLastEncryptedPartLen);
        let m = module()?;
        let s = m.session(hSession)?;
        ending_on_error(&s, OpKind::Encrypt, || {
            m.encrypt_update(&s)
        })
    }
}

cryptoki_fn! {
    fn C_DecryptInit(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM, hKey: CK_OBJECT_HANDLE) {
        let m = module()?;
        let s = m.session(hSession)?;
        let (mech, params) = read_mechanism(pMechanism)?;
        m.decrypt_init(&s, mech, &params, hKey)
    }
}

cryptoki_fn! {
    fn C_Decrypt(hSession: CK_SESSION_HANDLE, pEncryptedData: *mut CK_BYTE, ulEncryptedDataLen: CK_ULONG, pData: *mut CK_BYTE, pulDataLen: *mut CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        ending_on_error(&s, OpKind::Decrypt, || {
            let data = slice(pEncryptedData, ulEncryptedDataLen)?;
            let cap = out_cap(pData, pulDataLen)?;
            let o = m.decrypt(&s, data, cap)?;
            write_output(o, pData, pulDataLen)
        })
    }
}

cryptoki_fn! {
    fn C_DecryptUpdate(hSession: CK_SESSION_HANDLE, pEncryptedPart: *mut CK_BYTE, ulEncryptedPartLen: CK_ULONG, pPart: *mut CK_BYTE, pulPartLen: *mut CK_ULONG) {
        let _ = (pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen);
        let m = module()?;
        let s = m.session(hSession)?;
        ending_on_error(&s, OpKind::Decrypt, || {
            m.decrypt_update(&s)
        })
    }
}

cryptoki_fn! {
    fn C_DecryptFinal(hSession: CK_SESSION_HANDLE, pLastPart: *mut CK_BYTE, pulLastPartLen: *mut CK_ULONG) {
        let _ = (pLastPart, pulLastPartLen);
        let m = module()?;
        let s = m.session(hSession)?;
        ending_on_error(&s, OpKind::Decrypt, || {
            m.decrypt_update(&s)
        })
    }
}

// ---- digest -------------------------------------------------------------------------------------

cryptoki_fn! {
    fn C_DigestInit(hSession: CK_SESSION_HANDLE, pMechanism: *mut CK_MECHANISM) {
        let m = module()?;
        let s = m.session(hSession)?;
        let (mech, params) = read_mechanism(pMechanism)?;
        m.digest_init(&s, mech, &params)
    }
}

cryptoki_fn! {
    fn C_Digest(hSession: CK_SESSION_HANDLE, pData: *mut CK_BYTE, ulDataLen: CK_ULONG, pDigest: *mut CK_BYTE, pulDigestLen: *mut CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        ending_on_error(&s, OpKind::Digest, || {
            let data = slice(pData, ulDataLen)?;
            let cap = out_cap(pDigest, pulDigestLen)?;
            let o = m.digest_finish(&s, Some(data), cap)?;
            write_output(o, pDigest, pulDigestLen)
        })
    }
}

cryptoki_fn! {
    fn C_DigestUpdate(hSession: CK_SESSION_HANDLE, pPart: *mut CK_BYTE, ulPartLen: CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        ending_on_error(&s, OpKind::Digest, || {
            m.digest_update(&s, slice(pPart, ulPartLen)?)
        })
    }
}

cryptoki_fn! {
    fn C_DigestFinal(hSession: CK_SESSION_HANDLE, pDigest: *mut CK_BYTE, pulDigestLen: *mut CK_ULONG) {
        let m = module()?;
        let s = m.session(hSession)?;
        ending_on_error(&s, OpKind::Digest, || {
            let cap = out_cap(pDigest, pulDigestLen)?;
            let o = m.digest_finish(&s, None, cap)?;
            write_output(o, pDigest, pulDigestLen)
        })
    }
}

// ---- not offered ----------------------------------------------------------------------------------

not_supported! {
    C_InitToken(CK_SLOT_ID, *mut CK_UTF8CHAR, CK_ULONG, *mut CK_UTF8CHAR);
    C_InitPIN(CK_SESSION_HANDLE, *mut CK_UTF8CHAR, CK_ULONG);
    C_SetPIN(CK_SESSION_HANDLE, *mut CK_UTF8CHAR, CK_ULONG, *mut CK_UTF8CHAR, CK_ULONG);
    C_GetOperationState(CK_SESSION_HANDLE, *mut CK_BYTE, *mut CK_ULONG);
    C_SetOperationState(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE);
    C_CopyObject(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
    C_GetObjectSize(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, *mut CK_ULONG);
    C_DigestKey(CK_SESSION_HANDLE, CK_OBJECT_HANDLE);
    C_SignRecoverInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_SignRecover(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_VerifyRecoverInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_VerifyRecover(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DigestEncryptUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DecryptDigestUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_SignEncryptUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DecryptVerifyUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_GenerateKey(CK_SESSION_HANDLE, *mut CK_MECHANISM, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
    C_WrapKey(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE, *mut CK_BYTE, *mut CK_ULONG);
    C_UnwrapKey(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
    C_DeriveKey(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
    C_WaitForSlotEvent(CK_FLAGS, *mut CK_SLOT_ID, *mut c_void);
    C_MessageEncryptInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_EncryptMessage(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_EncryptMessageBegin(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    C_EncryptMessageNext(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG, CK_FLAGS);
    C_MessageEncryptFinal(CK_SESSION_HANDLE);
    C_MessageDecryptInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_DecryptMessage(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DecryptMessageBegin(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    C_DecryptMessageNext(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG, CK_FLAGS);
    C_MessageDecryptFinal(CK_SESSION_HANDLE);
    C_MessageSignInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_SignMessage(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_SignMessageBegin(CK_SESSION_HANDLE, *mut c_void, CK_ULONG);
    C_SignMessageNext(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_MessageSignFinal(CK_SESSION_HANDLE);
    C_MessageVerifyInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_VerifyMessage(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    C_VerifyMessageBegin(CK_SESSION_HANDLE, *mut c_void, CK_ULONG);
    C_VerifyMessageNext(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    C_MessageVerifyFinal(CK_SESSION_HANDLE);
    C_EncapsulateKey(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG, *mut CK_OBJECT_HANDLE);
    C_DecapsulateKey(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
    C_VerifySignatureInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE, *mut CK_BYTE, CK_ULONG);
    C_VerifySignature(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG);
    C_VerifySignatureUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG);
    C_VerifySignatureFinal(CK_SESSION_HANDLE);
    C_GetSessionValidationFlags(CK_SESSION_HANDLE, CK_ULONG, *mut CK_FLAGS);
    C_AsyncComplete(CK_SESSION_HANDLE, *mut CK_UTF8CHAR, *mut c_void);
    C_AsyncGetID(CK_SESSION_HANDLE, *mut CK_UTF8CHAR, *mut CK_ULONG);
    C_AsyncJoin(CK_SESSION_HANDLE, *mut CK_UTF8CHAR, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    C_WrapKeyAuthenticated(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_UnwrapKeyAuthenticated(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
}

#[no_mangle]
/// C_GetFunctionStatus: legacy parallel function, always CKR_FUNCTION_NOT_PARALLEL.
pub unsafe extern "C" fn C_GetFunctionStatus(_h: CK_SESSION_HANDLE) -> CK_RV {
    CKR_FUNCTION_NOT_PARALLEL
}

#[no_mangle]
/// C_CancelFunction: legacy parallel function, always CKR_FUNCTION_NOT_PARALLEL.
pub unsafe extern "C" fn C_CancelFunction(_h: CK_SESSION_HANDLE) -> CK_RV {
    CKR_FUNCTION_NOT_PARALLEL
}
