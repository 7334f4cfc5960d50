//! Session management: C_OpenSession, C_CloseSession, C_CloseAllSessions, C_GetSessionInfo,
//! C_Login, C_LoginUser, C_Logout, C_SessionCancel, C_InitPIN, C_SetPIN.

use super::args::{bad, put, slice};
use super::session_call;
use cryptoki_sys::*;
use std::os::raw::c_void;

cryptoki_fn! {
    fn C_OpenSession(slotID: CK_SLOT_ID, flags: CK_FLAGS, pApplication: *mut c_void, Notify: CK_NOTIFY, phSession: *mut CK_SESSION_HANDLE) {
        let _ = (pApplication, Notify); // no callbacks: the module never surrenders
        let m = crate::module()?;
        m.slot(slotID)?;
        if phSession.is_null() {
            return Err(bad("NULL phSession"));
        }
        let h = m.open_session(slotID, flags)?;
        // SAFETY: phSession points at a writable handle (C_OpenSession's contract).
        unsafe { put(phSession, h) }
    }
}

cryptoki_fn! {
    fn C_CloseSession(hSession: CK_SESSION_HANDLE) {
        crate::module()?.close_session(hSession)
    }
}

cryptoki_fn! {
    fn C_CloseAllSessions(slotID: CK_SLOT_ID) {
        crate::module()?.close_all_sessions(slotID)
    }
}

cryptoki_fn! {
    fn C_GetSessionInfo(hSession: CK_SESSION_HANDLE, pInfo: *mut CK_SESSION_INFO) {
        let i = crate::module()?.session_info(hSession)?;
        let info = CK_SESSION_INFO { slotID: i.slot, state: i.state, flags: i.flags, ulDeviceError: i.device_error };
        // SAFETY: pInfo points at a writable CK_SESSION_INFO (C_GetSessionInfo's contract).
        unsafe { put(pInfo, info) }
    }
}

/// A PIN argument: NULL with a zero length is "no PIN" (a protected authentication path, which
/// this module does not have: it is checked like an empty PIN); NULL with a length is bad.
///
/// # Safety
/// `p`, when not NULL, holds `len` readable bytes.
unsafe fn pin_arg<'a>(
    p: *mut CK_UTF8CHAR,
    len: CK_ULONG,
) -> crate::error::Result<Option<&'a [u8]>> {
    if p.is_null() && len == 0 {
        return Ok(None);
    }
    // SAFETY: by this function's requirement.
    unsafe { slice(p, len) }.map(Some)
}

cryptoki_fn! {
    fn C_Login(hSession: CK_SESSION_HANDLE, userType: CK_USER_TYPE, pPin: *mut CK_UTF8CHAR, ulPinLen: CK_ULONG) {
        let m = crate::module()?;
        m.session(hSession)?;
        // SAFETY: a non-NULL pPin holds ulPinLen bytes (C_Login's contract).
        let pin = unsafe { pin_arg(pPin, ulPinLen) }?;
        m.login(hSession, userType, pin)
    }
}

cryptoki_fn! {
    fn C_InitPIN(hSession: CK_SESSION_HANDLE, pPin: *mut CK_UTF8CHAR, ulPinLen: CK_ULONG) {
        session_call(hSession, |m, s| {
            // SAFETY: a non-NULL pPin holds ulPinLen bytes (C_InitPIN's contract).
            let pin = unsafe { pin_arg(pPin, ulPinLen) }?;
            m.init_pin(s, pin)
        })
    }
}

cryptoki_fn! {
    fn C_SetPIN(hSession: CK_SESSION_HANDLE, pOldPin: *mut CK_UTF8CHAR, ulOldLen: CK_ULONG, pNewPin: *mut CK_UTF8CHAR, ulNewLen: CK_ULONG) {
        session_call(hSession, |m, s| {
            // SAFETY: non-NULL PINs hold their lengths in bytes (C_SetPIN's contract).
            let (old, new) = unsafe { (pin_arg(pOldPin, ulOldLen)?, pin_arg(pNewPin, ulNewLen)?) };
            m.set_pin(s, old, new)
        })
    }
}

cryptoki_fn! {
    fn C_LoginUser(hSession: CK_SESSION_HANDLE, userType: CK_USER_TYPE, pPin: *mut CK_UTF8CHAR, ulPinLen: CK_ULONG, pUsername: *mut CK_UTF8CHAR, ulUsernameLen: CK_ULONG) {
        let m = crate::module()?;
        m.session(hSession)?;
        // SAFETY: pUsername holds ulUsernameLen bytes and a non-NULL pPin ulPinLen bytes
        // (C_LoginUser's contract). A TSB token has one user; the name is checked, not used.
        let pin = unsafe {
            slice(pUsername, ulUsernameLen)?;
            pin_arg(pPin, ulPinLen)?
        };
        m.login(hSession, userType, pin)
    }
}

cryptoki_fn! {
    fn C_Logout(hSession: CK_SESSION_HANDLE) {
        crate::module()?.logout(hSession)
    }
}

cryptoki_fn! {
    fn C_SessionCancel(hSession: CK_SESSION_HANDLE, flags: CK_FLAGS) {
        session_call(hSession, |m, s| m.session_cancel(s, flags))
    }
}
