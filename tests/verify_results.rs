//! Issue 10 item 5: results from the TSB are verified before they reach the caller. A signature
//! that does not verify with the key's public key, or a plaintext longer than the padding allows,
//! is CKR_DEVICE_ERROR with ulDeviceError TSB_DEVERR_BAD_RESULT; the caller's buffer is not
//! written and the operation ends. Good signatures of every mechanism and curve still pass.

mod common;

use base64::Engine;
use common::{direct, raw, Env, Opts};
use cryptoki_sys::*;
use std::ptr::null_mut;

/// ulDeviceError of a result that failed verification (include/tsb_pkcs11.h).
const TSB_DEVERR_BAD_RESULT: CK_ULONG = 10007;

fn b64(d: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(d)
}

/// C_SignInit + C_Sign into a 512-byte buffer filled with 0xAA; the CK_RV, and whether the
/// buffer was left untouched.
fn sign_untouched(
    s: CK_SESSION_HANDLE,
    key: CK_OBJECT_HANDLE,
    mech: CK_MECHANISM_TYPE,
    data: &[u8],
) -> (CK_RV, bool) {
    let f = raw::fns();
    let mut m = CK_MECHANISM {
        mechanism: mech,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    let mut buf = [0xAAu8; 512];
    let mut len = buf.len() as CK_ULONG;
    unsafe {
        assert_eq!(f.C_SignInit.unwrap()(s, &mut m, key), CKR_OK);
        let rv = f.C_Sign.unwrap()(
            s,
            data.as_ptr() as *mut _,
            data.len() as CK_ULONG,
            buf.as_mut_ptr(),
            &mut len,
        );
        (rv, buf.iter().all(|b| *b == 0xAA))
    }
}

/// A bad result: CKR_DEVICE_ERROR, ulDeviceError 10007, nothing written, the operation over.
fn assert_refused(s: CK_SESSION_HANDLE, (rv, untouched): (CK_RV, bool), what: &str) {
    assert_eq!(rv, CKR_DEVICE_ERROR, "{what}");
    assert!(
        untouched,
        "{what}: the bad value reached the caller's buffer"
    );
    assert_eq!(raw::device_error(s), TSB_DEVERR_BAD_RESULT, "{what}");
    assert_eq!(
        raw::sign_again(s, &[1u8; 32], Some(512)).0,
        CKR_OPERATION_NOT_INITIALIZED,
        "{what}: the operation must end"
    );
}

fn log_env(tag: &str) -> (std::path::PathBuf, Vec<(String, String)>) {
    let log = std::env::temp_dir().join(format!("tsb-verify-{tag}-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let env = vec![("TSB_PKCS11_LOG_FILE".into(), log.display().to_string())];
    (log, env)
}

isolated!(
    /// A zero-filled ECDSA signature (raw and as DER), a one-byte RSA signature and a
    /// well-formed but wrong one, each from `POST /v1/synchronousSign`.
    fn bad_signatures_from_the_tsb_are_refused() {
        let (log, vars) = log_env("sync");
        let env = Env::new(Opts {
            env: vars,
            ..Default::default()
        });
        direct::create_key(&env.emu, "ec", "p256", None);
        direct::create_key(&env.emu, "rsa", "rsa", None);
        direct::create_key(&env.emu, "ed", "ed", None);
        let s = raw::open_session(0);
        let ec = raw::find_one(s, "ec", CKO_PRIVATE_KEY);
        let rsa = raw::find_one(s, "rsa", CKO_PRIVATE_KEY);
        let ed = raw::find_one(s, "ed", CKO_PRIVATE_KEY);
        let canned = |sig: &[u8]| {
            direct::respond(
                &env.emu,
                "POST",
                "/v1/synchronousSign",
                1,
                200,
                serde_json::json!({ "signature": b64(sig) }).to_string(),
            )
        };
        canned(&[0u8; 64]);
        assert_refused(
            s,
            sign_untouched(s, ec, CKM_ECDSA, &[1u8; 32]),
            "zero-filled r||s",
        );
        // DER SEQUENCE { INTEGER 0, INTEGER 0 }.
        canned(&[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]);
        assert_refused(
            s,
            sign_untouched(s, ec, CKM_ECDSA_SHA256, b"data"),
            "DER zeros",
        );
        canned(&[0x01]);
        assert_refused(
            s,
            sign_untouched(s, rsa, CKM_SHA256_RSA_PKCS, b"data"),
            "one-byte RSA signature",
        );
        canned(&[0x5Au8; 256]);
        assert_refused(
            s,
            sign_untouched(s, rsa, CKM_SHA256_RSA_PKCS, b"data"),
            "garbage RSA signature",
        );
        canned(&[0x11u8; 64]);
        assert_refused(
            s,
            sign_untouched(s, ed, CKM_EDDSA, b"data"),
            "garbage Ed25519",
        );
        // A real signature over other data is just as wrong.
        let (rv, other, _) = raw::sign(s, ec, CKM_ECDSA, &[2u8; 32], Some(64));
        assert_eq!(rv, CKR_OK);
        canned(&other);
        assert_refused(
            s,
            sign_untouched(s, ec, CKM_ECDSA, &[1u8; 32]),
            "a signature of other data",
        );
        // The next honest answer passes, and clears ulDeviceError.
        let (rv, sig, _) = raw::sign(s, ec, CKM_ECDSA, &[1u8; 32], Some(64));
        assert_eq!((rv, sig.len()), (CKR_OK, 64));
        assert_eq!(raw::device_error(s), 0);
        // One log line per refusal, naming the key.
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("does not verify"))
            .collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert!(
            lines[0].contains("ERROR") && lines[0].contains("key ec"),
            "{text}"
        );
        drop(env);
    }
);

isolated!(
    /// An approval-gated key: the request is EXECUTED with a bogus `result`.
    fn a_bogus_result_of_an_executed_request_is_refused() {
        let env = Env::new(Opts::default());
        let policy = env.policy(600);
        direct::create_key(&env.emu, "gated", "p256", Some(&policy));
        let s = raw::open_session(0);
        let key = raw::find_one(s, "gated", CKO_PRIVATE_KEY);
        // Every poll answers EXECUTED with 64 random-looking bytes as the signature.
        direct::respond(
            &env.emu,
            "GET",
            "/v1/request/",
            1000,
            200,
            serde_json::json!({"id": "whatever", "status": "EXECUTED", "approvedBy": [],
                "notYetApprovedBy": [], "rejectedBy": [], "result": b64(&[0x42u8; 64])})
            .to_string(),
        );
        assert_refused(
            s,
            sign_untouched(s, key, CKM_ECDSA, &[1u8; 32]),
            "bogus EXECUTED result",
        );
        assert_eq!(env.count("POST", "/v1/sign"), 1);
        env.emu.clear_faults();
        drop(env);
    }
);

isolated!(
    /// Plaintexts longer than the padding allows (PKCS#1 v1.5: k-11; OAEP: k-2hLen-2).
    fn decryption_results_of_impossible_length_are_refused() {
        let env = Env::new(Opts::default());
        direct::create_key(&env.emu, "rsa", "rsa", None);
        let f = raw::fns();
        let s = raw::open_session(0);
        let key = raw::find_one(s, "rsa", CKO_PRIVATE_KEY);
        let mut oaep = CK_RSA_PKCS_OAEP_PARAMS {
            hashAlg: CKM_SHA256,
            mgf: CKG_MGF1_SHA256,
            source: 0,
            pSourceData: null_mut(),
            ulSourceDataLen: 0,
        };
        let cases: [(CK_MECHANISM, usize, bool); 4] = [
            (
                CK_MECHANISM {
                    mechanism: CKM_RSA_PKCS,
                    pParameter: null_mut(),
                    ulParameterLen: 0,
                },
                246,
                false,
            ),
            (
                CK_MECHANISM {
                    mechanism: CKM_RSA_PKCS,
                    pParameter: null_mut(),
                    ulParameterLen: 0,
                },
                245,
                true,
            ),
            (
                CK_MECHANISM {
                    mechanism: CKM_RSA_PKCS_OAEP,
                    pParameter: &mut oaep as *mut _ as *mut _,
                    ulParameterLen: std::mem::size_of::<CK_RSA_PKCS_OAEP_PARAMS>() as CK_ULONG,
                },
                191,
                false,
            ),
            (
                CK_MECHANISM {
                    mechanism: CKM_RSA_PKCS_OAEP,
                    pParameter: &mut oaep as *mut _ as *mut _,
                    ulParameterLen: std::mem::size_of::<CK_RSA_PKCS_OAEP_PARAMS>() as CK_ULONG,
                },
                190,
                true,
            ),
        ];
        for (mut m, n, ok) in cases {
            direct::respond(
                &env.emu,
                "POST",
                "/v1/synchronousDecrypt",
                1,
                200,
                serde_json::json!({ "payload": b64(&vec![7u8; n]) }).to_string(),
            );
            let mut out = [0xAAu8; 256];
            let mut len = out.len() as CK_ULONG;
            let rv = unsafe {
                assert_eq!(f.C_DecryptInit.unwrap()(s, &mut m, key), CKR_OK);
                f.C_Decrypt.unwrap()(
                    s,
                    [1u8; 256].as_ptr() as *mut _,
                    256,
                    out.as_mut_ptr(),
                    &mut len,
                )
            };
            if ok {
                assert_eq!((rv, len), (CKR_OK, n as CK_ULONG), "{n} bytes");
            } else {
                assert_eq!(rv, CKR_DEVICE_ERROR, "{n} bytes");
                assert!(
                    out.iter().all(|b| *b == 0xAA),
                    "{n} bytes reached the caller"
                );
                assert_eq!(raw::device_error(s), TSB_DEVERR_BAD_RESULT);
            }
        }
        drop(env);
    }
);

isolated!(
    /// `"verify_signatures": false` turns the check off (the zero-filled signature comes back).
    fn verification_can_be_turned_off_per_slot() {
        let env = Env::new(Opts {
            slot_json: Some(serde_json::json!({"verify_signatures": false})),
            ..Default::default()
        });
        direct::create_key(&env.emu, "ec", "p256", None);
        let s = raw::open_session(0);
        let ec = raw::find_one(s, "ec", CKO_PRIVATE_KEY);
        direct::respond(
            &env.emu,
            "POST",
            "/v1/synchronousSign",
            1,
            200,
            serde_json::json!({ "signature": b64(&[0u8; 64]) }).to_string(),
        );
        let (rv, sig, _) = raw::sign(s, ec, CKM_ECDSA, &[1u8; 32], Some(64));
        assert_eq!(rv, CKR_OK);
        assert_eq!(sig, vec![0u8; 64]);
        drop(env);
    }
);

fn pss(
    hash: CK_MECHANISM_TYPE,
    mgf: CK_RSA_PKCS_MGF_TYPE,
    len: CK_ULONG,
) -> CK_RSA_PKCS_PSS_PARAMS {
    CK_RSA_PKCS_PSS_PARAMS {
        hashAlg: hash,
        mgf,
        sLen: len,
    }
}

isolated!(
    /// Verification never refuses a good signature: every mechanism, every curve and hash, raw
    /// CKM_RSA_PKCS with a DigestInfo and without, PSS, EdDSA; secp256k1 many times (OpenSSL
    /// returns high-S signatures half of the time, which some verifiers wrongly refuse).
    fn good_signatures_of_every_mechanism_pass_verification() {
        let env = Env::new(Opts::default());
        for (label, kind) in [
            ("rsa", "rsa"),
            ("p256", "p256"),
            ("p384", "p384"),
            ("p521", "p521"),
            ("k256", "k256"),
            ("ed", "ed"),
        ] {
            direct::create_key(&env.emu, label, kind, None);
        }
        let f = raw::fns();
        let s = raw::open_session(0);
        let sign = |label: &str,
                    m: CK_MECHANISM_TYPE,
                    param: Option<&mut CK_RSA_PKCS_PSS_PARAMS>,
                    data: &[u8]| {
            let key = raw::find_one(s, label, CKO_PRIVATE_KEY);
            let (p, plen) = match param {
                Some(p) => (
                    p as *mut _ as *mut std::ffi::c_void,
                    std::mem::size_of::<CK_RSA_PKCS_PSS_PARAMS>() as CK_ULONG,
                ),
                None => (null_mut(), 0),
            };
            let mut mech = CK_MECHANISM {
                mechanism: m,
                pParameter: p,
                ulParameterLen: plen,
            };
            let mut out = [0u8; 512];
            let mut len = out.len() as CK_ULONG;
            unsafe {
                assert_eq!(
                    f.C_SignInit.unwrap()(s, &mut mech, key),
                    CKR_OK,
                    "{label} 0x{m:x}"
                );
                let rv = f.C_Sign.unwrap()(
                    s,
                    data.as_ptr() as *mut _,
                    data.len() as CK_ULONG,
                    out.as_mut_ptr(),
                    &mut len,
                );
                assert_eq!(
                    rv, CKR_OK,
                    "{label} mechanism 0x{m:x}: a good signature was refused"
                );
                // And C_Verify accepts it (the same check, on the public key object).
                let pubk = raw::find_one(s, label, CKO_PUBLIC_KEY);
                assert_eq!(f.C_VerifyInit.unwrap()(s, &mut mech, pubk), CKR_OK);
                let rv = f.C_Verify.unwrap()(
                    s,
                    data.as_ptr() as *mut _,
                    data.len() as CK_ULONG,
                    out.as_mut_ptr(),
                    len,
                );
                assert_eq!(
                    rv, CKR_OK,
                    "{label} mechanism 0x{m:x}: C_Verify refused a good signature"
                );
            }
        };
        for m in [
            CKM_SHA1_RSA_PKCS,
            CKM_SHA224_RSA_PKCS,
            CKM_SHA256_RSA_PKCS,
            CKM_SHA384_RSA_PKCS,
            CKM_SHA512_RSA_PKCS,
        ] {
            sign("rsa", m, None, b"message");
        }
        // Raw CKM_RSA_PKCS: a SHA-256 DigestInfo (sent as NONESHA256_WITH_RSA), and bytes that are
        // no DigestInfo (NONE_WITH_RSA).
        let mut di = vec![
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ];
        di.extend([9u8; 32]);
        sign("rsa", CKM_RSA_PKCS, None, &di);
        sign("rsa", CKM_RSA_PKCS, None, b"not a digest info");
        for (m, h, g, n) in [
            (CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32),
            (CKM_SHA384_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA384, 48),
            (CKM_SHA512_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA512, 64),
        ] {
            sign("rsa", m, Some(&mut pss(h, g, n)), b"message");
        }
        sign(
            "rsa",
            CKM_RSA_PKCS_PSS,
            Some(&mut pss(CKM_SHA256, CKG_MGF1_SHA256, 32)),
            &[3u8; 32],
        );
        for curve in ["p256", "p384", "p521", "k256"] {
            for m in [
                CKM_ECDSA_SHA1,
                CKM_ECDSA_SHA224,
                CKM_ECDSA_SHA256,
                CKM_ECDSA_SHA384,
                CKM_ECDSA_SHA512,
            ] {
                sign(curve, m, None, b"message");
            }
            for n in [20usize, 32, 48, 64] {
                sign(curve, CKM_ECDSA, None, &vec![5u8; n]);
            }
        }
        for i in 0..24u8 {
            sign("k256", CKM_ECDSA, None, &[i; 32]);
        }
        sign("ed", CKM_EDDSA, None, b"message");
        // (An empty message is refused before the TSB, whose payload is @NotEmpty: tests/profiles.rs.)
        drop(env);
    }
);
