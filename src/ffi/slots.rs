//! Slot and token management: C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo, C_GetMechanismList,
//! C_GetMechanismInfo (local data only: no network I/O), and C_InitToken.

use super::args::{bad, pad_field, put, slice, write_list};
use crate::MANUFACTURER;
use cryptoki_sys::*;

cryptoki_fn! {
    fn C_GetSlotList(tokenPresent: CK_BBOOL, pSlotList: *mut CK_SLOT_ID, pulCount: *mut CK_ULONG) {
        let _ = tokenPresent; // every slot always has its token
        let ids = crate::module()?.slot_ids();
        // SAFETY: pulCount is writable and pSlotList, when not NULL, has *pulCount entries
        // (C_GetSlotList's contract).
        unsafe { write_list(&ids, pSlotList, pulCount) }
    }
}

cryptoki_fn! {
    fn C_GetSlotInfo(slotID: CK_SLOT_ID, pInfo: *mut CK_SLOT_INFO) {
        let description = crate::module()?.slot_description(slotID)?;
        let mut info = CK_SLOT_INFO {
            slotDescription: [b' '; 64],
            manufacturerID: [b' '; 32],
            // Not CKF_HW_SLOT: the slot is a connection to a network service, not a reader
            // with a device in it (the keys are in hardware; the token flags say nothing of it).
            flags: CKF_TOKEN_PRESENT,
            hardwareVersion: CK_VERSION { major: 1, minor: 0 },
            firmwareVersion: CK_VERSION { major: 1, minor: 0 },
        };
        pad_field(&description, &mut info.slotDescription);
        pad_field(MANUFACTURER, &mut info.manufacturerID);
        // SAFETY: pInfo points at a writable CK_SLOT_INFO (C_GetSlotInfo's contract).
        unsafe { put(pInfo, info) }
    }
}

cryptoki_fn! {
    fn C_GetTokenInfo(slotID: CK_SLOT_ID, pInfo: *mut CK_TOKEN_INFO) {
        let t = crate::module()?.token_info(slotID)?;
        let mut info = CK_TOKEN_INFO {
            label: [b' '; 32],
            manufacturerID: [b' '; 32],
            model: [b' '; 16],
            serialNumber: [b' '; 16],
            flags: t.flags,
            ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
            ulSessionCount: t.sessions as CK_ULONG,
            ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
            ulRwSessionCount: t.rw_sessions as CK_ULONG,
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
        pad_field(&t.label, &mut info.label);
        pad_field(MANUFACTURER, &mut info.manufacturerID);
        pad_field("TSB REST", &mut info.model);
        pad_field(&t.serial, &mut info.serialNumber);
        // SAFETY: pInfo points at a writable CK_TOKEN_INFO (C_GetTokenInfo's contract).
        unsafe { put(pInfo, info) }
    }
}

cryptoki_fn! {
    fn C_InitToken(slotID: CK_SLOT_ID, pPin: *mut CK_UTF8CHAR, ulPinLen: CK_ULONG, pLabel: *mut CK_UTF8CHAR) {
        let m = crate::module()?;
        m.slot(slotID)?;
        if pLabel.is_null() {
            return Err(bad("NULL pLabel (32 blank-padded bytes)"));
        }
        // SAFETY: a non-NULL pPin holds ulPinLen bytes (C_InitToken's contract). The label is
        // not read: the token keeps its configured label.
        let pin = if pPin.is_null() && ulPinLen == 0 { None } else { Some(unsafe { slice(pPin, ulPinLen) }?) };
        m.init_token(slotID, pin)
    }
}

cryptoki_fn! {
    fn C_GetMechanismList(slotID: CK_SLOT_ID, pMechanismList: *mut CK_MECHANISM_TYPE, pulCount: *mut CK_ULONG) {
        let list = crate::module()?.mechanism_list(slotID)?;
        // SAFETY: pulCount is writable and pMechanismList, when not NULL, has *pulCount entries
        // (C_GetMechanismList's contract).
        unsafe { write_list(&list, pMechanismList, pulCount) }
    }
}

cryptoki_fn! {
    fn C_GetMechanismInfo(slotID: CK_SLOT_ID, type_: CK_MECHANISM_TYPE, pInfo: *mut CK_MECHANISM_INFO) {
        let r = crate::module()?.mechanism_info(slotID, type_)?;
        let info = CK_MECHANISM_INFO { ulMinKeySize: r.min, ulMaxKeySize: r.max, flags: r.reported_flags() };
        // SAFETY: pInfo points at a writable CK_MECHANISM_INFO (C_GetMechanismInfo's contract).
        unsafe { put(pInfo, info) }
    }
}
