//! AES MACs through the C ABI (issue 12): CKM_AES_CMAC and CKM_AES_CMAC_GENERAL against RFC
//! 4493's examples, CKM_AES_MAC/CKM_AES_MAC_GENERAL (CBC-MAC), single and multi-part, C_Verify's
//! answers, the key's CKA_SIGN/CKA_VERIFY and the TSB's `encrypt`, and the requests: a MAC is
//! E_K on the TSB (`POST /v1/encrypt`, one block at a time), a length query and a short buffer
//! send nothing.

mod common;

use common::{hex, raw, rv, Env, Opts};
use cryptoki::error::RvError;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;

const KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const M: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";
/// RFC 4493 §4: (message length, tag, requests: one per block, E_K(0) with the first).
const EXAMPLES: [(usize, &str, u64); 4] = [
    (0, "bb1d6929e95937287fa37d129b756746", 2),
    (16, "070a16b46b4d4144f79bdd9dd04a287c", 2),
    (40, "dfa66747de9ae63030ca32611497c827", 3),
    (64, "51f0bebf7e3b9d92fc49741779363cfe", 4),
];

const ENCRYPT: &str = "/v1/encrypt";

/// The RFC 4493 key imported with `uses` (a token key named `label`).
fn rfc_key(s: &Session, label: &str, uses: &[Attribute]) -> cryptoki::error::Result<ObjectHandle> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(true),
        Attribute::Label(label.into()),
        Attribute::Value(hex(KEY)),
    ];
    t.extend_from_slice(uses);
    s.create_object(&t)
}

isolated!(
    fn cmac_matches_rfc_4493_through_the_c_abi() {
        let env = Env::new(Opts::default());
        let s = env.session();
        // As the cryptoki suite's aes_cmac_sign creates it: CKA_SIGN only.
        let signer = rfc_key(&s, "cmac-sign", &[Attribute::Sign(true)]).unwrap();
        let a = s
            .get_attributes(
                signer,
                &[
                    AttributeType::Sign,
                    AttributeType::Verify,
                    AttributeType::Encrypt,
                ],
            )
            .unwrap();
        // A MAC key encrypts on the TSB (a MAC is E_K there), and reads so.
        assert_eq!(
            a,
            vec![
                Attribute::Sign(true),
                Attribute::Verify(false),
                Attribute::Encrypt(true)
            ]
        );
        let verifier = rfc_key(&s, "cmac-verify", &[Attribute::Verify(true)]).unwrap();
        let m = hex(M);
        for (len, tag, requests) in EXAMPLES {
            let before = env.count("POST", ENCRYPT);
            // cryptoki asks for the length first: that query sends nothing.
            let mac = s.sign(&Mechanism::AesCMac, signer, &m[..len]).unwrap();
            assert_eq!(mac, hex(tag), "{len} bytes");
            assert_eq!(env.count("POST", ENCRYPT) - before, requests, "{len} bytes");
            s.verify(&Mechanism::AesCMac, verifier, &m[..len], &hex(tag))
                .unwrap();
            // Multi-part, in uneven parts.
            s.sign_init(&Mechanism::AesCMac, signer).unwrap();
            for part in m[..len].chunks(7) {
                s.sign_update(part).unwrap();
            }
            assert_eq!(s.sign_final().unwrap(), hex(tag));
            s.verify_init(&Mechanism::AesCMac, verifier).unwrap();
            for part in m[..len].chunks(5) {
                s.verify_update(part).unwrap();
            }
            s.verify_final(&hex(tag)).unwrap();
        }
        // A wrong MAC, a MAC of the wrong length.
        let mut bad = hex(EXAMPLES[3].1);
        bad[0] ^= 1;
        let e = s
            .verify(&Mechanism::AesCMac, verifier, &m, &bad)
            .unwrap_err();
        assert_eq!(rv(e), RvError::SignatureInvalid);
        let e = s
            .verify(&Mechanism::AesCMac, verifier, &m, &bad[..15])
            .unwrap_err();
        assert_eq!(rv(e), RvError::SignatureLenRange);
        // What C_GetMechanismInfo says.
        let info = env
            .pkcs11
            .get_mechanism_info(env.slot, MechanismType::AES_CMAC)
            .unwrap();
        assert!(info.sign() && info.verify() && !info.encrypt());
        assert_eq!((info.min_key_size(), info.max_key_size()), (16, 32));
        // (cryptoki's list leaves out the mechanisms it has no name for: asked in C.)
        let f = raw::fns();
        for mech in [CKM_AES_CMAC_GENERAL, CKM_AES_MAC, CKM_AES_MAC_GENERAL] {
            let mut info = CK_MECHANISM_INFO {
                ulMinKeySize: 0,
                ulMaxKeySize: 0,
                flags: 0,
            };
            let rv = unsafe { f.C_GetMechanismInfo.unwrap()(env.slot.id(), mech, &mut info) };
            assert_eq!(rv, CKR_OK, "0x{mech:x}");
            assert_eq!(
                (info.ulMinKeySize, info.ulMaxKeySize, info.flags),
                // CKF_HW: the MAC is computed around the HSM's block cipher.
                (16, 32, CKF_SIGN | CKF_VERIFY | CKF_HW)
            );
        }
    }
);

isolated!(
    fn a_mac_needs_cka_sign_or_cka_verify_and_the_tsbs_encrypt() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let plain = rfc_key(&s, "no-mac", &[]).unwrap();
        let verifier = rfc_key(&s, "verify-only", &[Attribute::Verify(true)]).unwrap();
        let before = env.count("POST", ENCRYPT);
        for (mech, key) in [(Mechanism::AesCMac, plain), (Mechanism::AesCMac, verifier)] {
            let e = s.sign(&mech, key, b"data").unwrap_err();
            assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
        }
        let e = s
            .verify(&Mechanism::AesCMac, plain, b"data", &[0; 16])
            .unwrap_err();
        assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
        assert_eq!(
            env.count("POST", ENCRYPT),
            before,
            "refused before any request"
        );
        // A MAC key that may not encrypt cannot exist on the TSB.
        let e = rfc_key(
            &s,
            "contradiction",
            &[Attribute::Sign(true), Attribute::Encrypt(false)],
        )
        .unwrap_err();
        assert_eq!(rv(e), RvError::TemplateInconsistent);
        // An HMAC key is no AES key.
        let hmac = s
            .generate_key(
                &Mechanism::GenericSecretKeyGen,
                &[Attribute::Token(false), Attribute::Sign(true)],
            )
            .unwrap();
        let e = s.sign(&Mechanism::AesCMac, hmac, b"data").unwrap_err();
        assert_eq!(rv(e), RvError::KeyTypeInconsistent);
    }
);

/// C_SignInit with `mech` and an optional CK_MAC_GENERAL_PARAMS.
fn sign_init(
    h: CK_SESSION_HANDLE,
    key: CK_OBJECT_HANDLE,
    mech: CK_MECHANISM_TYPE,
    len: Option<CK_ULONG>,
) -> CK_RV {
    let f = raw::fns();
    let mut p: CK_MAC_GENERAL_PARAMS = len.unwrap_or(0);
    let mut m = CK_MECHANISM {
        mechanism: mech,
        pParameter: if len.is_some() {
            &mut p as *mut _ as *mut _
        } else {
            std::ptr::null_mut()
        },
        ulParameterLen: if len.is_some() {
            std::mem::size_of::<CK_MAC_GENERAL_PARAMS>() as CK_ULONG
        } else {
            0
        },
    };
    unsafe { f.C_SignInit.unwrap()(h, &mut m, key) }
}

isolated!(
    fn a_length_query_and_a_short_buffer_send_nothing_and_general_lengths_truncate() {
        let env = Env::new(Opts::default());
        let s = env.session();
        rfc_key(&s, "raw", &[Attribute::Sign(true)]).unwrap();
        let h = raw::open_session(env.slot.id() as CK_SLOT_ID);
        let key = raw::find_one(h, "raw", CKO_SECRET_KEY);
        let m = hex(M);
        let tag = hex(EXAMPLES[3].1);
        assert_eq!(sign_init(h, key, CKM_AES_CMAC, None), CKR_OK);
        let before = env.count("POST", ENCRYPT);
        let (r, _, len) = raw::sign_again(h, &m, None);
        assert_eq!((r, len), (CKR_OK, 16));
        assert_eq!(
            env.count("POST", ENCRYPT),
            before,
            "a length query sends nothing"
        );
        let (r, _, len) = raw::sign_again(h, &m, Some(8));
        assert_eq!((r, len), (CKR_BUFFER_TOO_SMALL, 16));
        let after = env.count("POST", ENCRYPT);
        assert_eq!(after - before, 4, "the MAC, computed once");
        let (r, out, _) = raw::sign_again(h, &m, Some(16));
        assert_eq!((r, out), (CKR_OK, tag.clone()));
        assert_eq!(
            env.count("POST", ENCRYPT),
            after,
            "the kept MAC, not a new one"
        );
        // CKM_AES_CMAC_GENERAL: the front of the tag; a length outside 1..=16 is refused.
        assert_eq!(sign_init(h, key, CKM_AES_CMAC_GENERAL, Some(5)), CKR_OK);
        let (r, out, _) = raw::sign_again(h, &m, Some(16));
        assert_eq!((r, out), (CKR_OK, tag[..5].to_vec()));
        for bad in [0, 17] {
            assert_eq!(
                sign_init(h, key, CKM_AES_CMAC_GENERAL, Some(bad)),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        // CKM_AES_MAC: 8 bytes of the CBC-MAC of the zero-padded data (its general form, the
        // length asked); the same as the last block of AES-CBC under a zero IV, by OpenSSL.
        let data = b"HELLO WORLD";
        let mut padded = data.to_vec();
        padded.resize(16, 0);
        let cbc = openssl::symm::encrypt(
            openssl::symm::Cipher::aes_128_cbc(),
            &hex(KEY),
            Some(&[0; 16]),
            &padded,
        )
        .unwrap();
        assert_eq!(sign_init(h, key, CKM_AES_MAC, None), CKR_OK);
        let (r, out, _) = raw::sign_again(h, data, Some(16));
        assert_eq!((r, out.as_slice()), (CKR_OK, &cbc[..8]));
        assert_eq!(sign_init(h, key, CKM_AES_MAC_GENERAL, Some(16)), CKR_OK);
        let (r, out, _) = raw::sign_again(h, data, Some(16));
        assert_eq!((r, out.as_slice()), (CKR_OK, &cbc[..16]));
    }
);
