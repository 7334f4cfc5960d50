//! Session management: C_OpenSession, C_CloseSession, C_CloseAllSessions, C_GetSessionInfo,
//! C_Login, C_LoginUser, C_Logout, C_SessionCancel.

use super::args::{bad, put, slice};
use super::session_call;
use cryptoki_sys::*;
use std::os::raw::c_void;

cryptoki_fn! {
    fn C_OpenSession(slotID: CK_SLOT_ID, flags: CK_FLAGS, pApplication: *mut c_void, Notify: CK_NOTIFY, phSession: *mut CK_SESSION_HANDLE) {
        let _ = (pApplication, Notify); // no callbacks: the module never surrenders
        let m = crate::module()?;
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

cryptoki_fn! {
    fn C_Login(hSession: CK_SESSION_HANDLE, userType: CK_USER_TYPE, pPin: *mut CK_UTF8CHAR, ulPinLen: CK_ULONG) {
        let m = crate::module()?;
        // SAFETY: a non-NULL pPin holds ulPinLen bytes (C_Login's contract).
        let pin = if pPin.is_null() { None } else { Some(unsafe { slice(pPin, ulPinLen) }?) };
        m.login(hSession, userType, pin)
    }
}

cryptoki_fn! {
    fn C_LoginUser(hSession: CK_SESSION_HANDLE, userType: CK_USER_TYPE, pPin: *mut CK_UTF8CHAR, ulPinLen: CK_ULONG, pUsername: *mut CK_UTF8CHAR, ulUsernameLen: CK_ULONG) {
        let m = crate::module()?;
        // SAFETY: pUsername holds ulUsernameLen bytes and a non-NULL pPin ulPinLen bytes
        // (C_LoginUser's contract). A TSB token has one user; the name is checked, not used.
        let pin = unsafe {
            slice(pUsername, ulUsernameLen)?;
            if pPin.is_null() { None } else { Some(slice(pPin, ulPinLen)?) }
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
