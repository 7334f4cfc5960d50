//! The mechanism list of a slot follows the TSB version the configuration states: a mechanism
//! whose every use that version refuses is not offered (C_GetMechanismList, C_GetMechanismInfo),
//! while with the version unknown everything is listed and C_SignInit refuses later.

use super::*;

fn listed(w: &World, mech: CK_MECHANISM_TYPE) -> bool {
    w.m.mechanism_list(0).unwrap().contains(&mech)
}

#[test]
fn raw_pss_is_not_offered_by_a_tsb_before_2_2() {
    for v in ["1.18.0", "2.0.1", "2.1.1"] {
        let w = World::new(serde_json::json!({ "tsb_version": v }));
        assert!(!listed(&w, CKM_RSA_PKCS_PSS), "{v} lists CKM_RSA_PKCS_PSS");
        assert_eq!(
            rv(w.m.mechanism_info(0, CKM_RSA_PKCS_PSS).map(|_| ())),
            CKR_MECHANISM_INVALID,
            "{v}"
        );
        // The hashing PSS mechanisms send the data there, so they stay.
        assert!(listed(&w, CKM_SHA256_RSA_PKCS_PSS), "{v}");
        assert!(w.m.mechanism_info(0, CKM_SHA256_RSA_PKCS_PSS).is_ok());
    }
}

#[test]
fn raw_pss_is_offered_from_2_2_and_when_the_version_is_unknown() {
    for slot in [
        serde_json::json!({ "tsb_version": "2.2.0" }),
        serde_json::json!({}),
    ] {
        let w = World::new(slot.clone());
        assert!(listed(&w, CKM_RSA_PKCS_PSS), "{slot}");
        assert!(w.m.mechanism_info(0, CKM_RSA_PKCS_PSS).is_ok(), "{slot}");
    }
    // Listing never asks the TSB its version (no network I/O in slot functions).
    let w = World::new(serde_json::json!({}));
    w.m.mechanism_list(0).unwrap();
    assert_eq!(w.count("GET", "/v1/versionInfo"), 0);
}

/// CKF_HW ("performed by the device"): every mechanism whose key the HSM holds and uses (key
/// generation, signatures, decryption, AES, MACs, derivation, wrapping) says so; the digests,
/// which the module computes itself, do not. OpenSC's `pkcs11-tool --test` picks its signature
/// mechanisms by CKF_SIGN | CKF_HW and skipped every signature test without it.
#[test]
fn mechanisms_the_hsm_performs_say_ckf_hw_and_digests_do_not() {
    let w = World::new(serde_json::json!({}));
    for mech in w.m.mechanism_list(0).unwrap() {
        let flags = w.m.mechanism_info(0, mech).unwrap().reported_flags();
        let digest = matches!(
            mech,
            CKM_SHA_1 | CKM_SHA224 | CKM_SHA256 | CKM_SHA384 | CKM_SHA512
        );
        assert_eq!(
            flags & CKF_HW != 0,
            !digest,
            "mechanism 0x{mech:x}: flags 0x{flags:x}"
        );
    }
    for mech in [
        CKM_SHA256_RSA_PKCS,
        CKM_ECDSA,
        CKM_AES_CBC_PAD,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
    ] {
        let flags = w.m.mechanism_info(0, mech).unwrap().reported_flags();
        assert_ne!(flags & CKF_HW, 0, "mechanism 0x{mech:x}");
    }
}
