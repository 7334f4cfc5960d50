//! The module against every TSB profile of the emulator (`EmulatorConfig::tsb_version`, see
//! emulator/README.md): what works on each, and what the module answers today where a version
//! refuses what it sends. The refusals asserted here are the module's current behaviour, kept
//! visible for the client work of issue 11 (pick the algorithm per TSB version), not a target.

mod common;

use common::{ec_params, raw, rv, Env, Opts};
use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use std::ffi::CString;
use std::os::raw::c_char;
use tsb_emulator::{EmulatorConfig, TsbVersion};
use tsb_pkcs11::ffi::vendor::{TSB_CERT_PARAMS, TSB_CSR_PARAMS};

const CKA_TSB_POLICY: u64 = 0xD453_0001;

type IssueCertificate = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    CK_OBJECT_HANDLE,
    *const CK_BYTE,
    CK_ULONG,
    *const TSB_CERT_PARAMS,
    *mut CK_BYTE,
    *mut CK_ULONG,
) -> CK_RV;
type CreateCsr = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    CK_OBJECT_HANDLE,
    *const TSB_CSR_PARAMS,
    *mut CK_BYTE,
    *mut CK_ULONG,
) -> CK_RV;

fn env_at(v: TsbVersion) -> Env {
    Env::new(Opts {
        emulator: Some(EmulatorConfig {
            tsb_version: v,
            ..EmulatorConfig::default()
        }),
        ..Default::default()
    })
}

/// Generate a key pair (RSA-2048, P-256 or Ed25519); `policy` makes it an SKA key.
fn gen(s: &Session, kind: &str, label: &str, policy: Option<&serde_json::Value>) -> ObjectHandle {
    let mut private = vec![
        Attribute::Token(true),
        Attribute::Label(label.into()),
        Attribute::Sign(true),
        Attribute::Decrypt(kind == "rsa"),
    ];
    if let Some(p) = policy {
        private.push(Attribute::VendorDefined((
            AttributeType::VendorDefined(CKA_TSB_POLICY),
            p.to_string().into_bytes(),
        )));
    }
    let (mech, mut public) = match kind {
        "rsa" => (
            Mechanism::RsaPkcsKeyPairGen,
            vec![Attribute::ModulusBits(2048.into())],
        ),
        "p256" => (
            Mechanism::EccKeyPairGen,
            vec![Attribute::EcParams(ec_params("1.2.840.10045.3.1.7"))],
        ),
        _ => (
            Mechanism::EccEdwardsKeyPairGen,
            vec![Attribute::EcParams(ec_params("1.3.101.112"))],
        ),
    };
    public.push(Attribute::Label(label.into()));
    public.push(Attribute::Token(true));
    s.generate_key_pair(&mech, &public, &private)
        .expect("C_GenerateKeyPair")
        .1
}

/// `TSB_CreateCSR` of the key labelled `label`: the CK_RV and the PEM.
fn csr(label: &str) -> (CK_RV, String) {
    let rs = raw::open_session(0);
    let key = raw::find_one(rs, label, CKO_PRIVATE_KEY);
    let (cn, ku, eku) = (
        CString::new(label).unwrap(),
        CString::new("DIGITAL_SIGNATURE").unwrap(),
        CString::new("CODE_SIGNING").unwrap(),
    );
    let null = std::ptr::null::<c_char>();
    let p = TSB_CSR_PARAMS {
        signatureAlgorithm: null,
        validityDays: 365,
        commonName: cn.as_ptr(),
        country: null,
        stateOrProvinceName: null,
        locality: null,
        organizationName: null,
        organizationUnitName: null,
        email: null,
        title: null,
        surname: null,
        givenName: null,
        initials: null,
        pseudonym: null,
        generationQualifier: null,
        organizationIdentifier: null,
        keyUsage: ku.as_ptr(),
        extendedKeyUsage: eku.as_ptr(),
        outputFormat: 0,
    };
    let f: CreateCsr = unsafe { std::mem::transmute(common::module_symbol("TSB_CreateCSR")) };
    let mut buf = vec![0u8; 16384];
    let mut len = buf.len() as CK_ULONG;
    let rv = unsafe { f(rs, key, &p, buf.as_mut_ptr(), &mut len) };
    buf.truncate(if rv == CKR_OK { len as usize } else { 0 });
    (rv, String::from_utf8_lossy(&buf).into_owned())
}

/// `TSB_IssueCertificate` with the key labelled `ca` for `csr_pem`, subject CN `leaf`.
fn issue(ca: &str, csr_pem: &str) -> CK_RV {
    let rs = raw::open_session(0);
    let key = raw::find_one(rs, ca, CKO_PRIVATE_KEY);
    let cn = CString::new("leaf").unwrap();
    let p = TSB_CERT_PARAMS {
        signatureAlgorithm: std::ptr::null(),
        validityDays: 30,
        commonName: cn.as_ptr(),
        certificateAuthority: CK_FALSE,
        keyUsage: std::ptr::null(),
        extendedKeyUsage: std::ptr::null(),
        outputFormat: 0,
    };
    let f: IssueCertificate =
        unsafe { std::mem::transmute(common::module_symbol("TSB_IssueCertificate")) };
    let mut buf = vec![0u8; 16384];
    let mut len = buf.len() as CK_ULONG;
    unsafe {
        f(
            rs,
            key,
            csr_pem.as_ptr(),
            csr_pem.len() as CK_ULONG,
            &p,
            buf.as_mut_ptr(),
            &mut len,
        )
    }
}

/// One profile: keys, plain and approval-gated signatures, decryption, CSRs, issuing.
fn flow(v: TsbVersion) {
    let env = env_at(v);
    let s = env.session();
    let data = b"release-1.0.tar.gz";

    // Plain keys: hashed locally and sent pre-hashed to the synchronous endpoint, which every
    // version takes for plain keys (pre-hashed RSA since 1.17.1).
    let rsa = gen(&s, "rsa", "rsa", None);
    let ec = gen(&s, "p256", "ec", None);
    let ed = gen(&s, "ed", "ed", None);
    s.sign(&Mechanism::Sha256RsaPkcs, rsa, data)
        .expect("RSA PKCS#1 v1.5 on a plain key");
    s.sign(&Mechanism::Ecdsa, ec, &[1u8; 32]).expect("ECDSA");
    let eddsa = Mechanism::Eddsa(cryptoki::mechanism::eddsa::EddsaParams::new(
        cryptoki::mechanism::eddsa::EddsaSignatureScheme::Pure,
    ));
    s.sign(&eddsa, ed, data).expect("Ed25519");
    // An empty payload never reaches the TSB (its DTOs say @NotEmpty).
    assert_eq!(
        rv(s.sign(&eddsa, ed, b"").unwrap_err()),
        RvError::DataLenRange
    );
    // PKCS#1 v1.5 decryption with cipherAlgorithm "RSA": every version has the name.
    let pubh = s
        .find_objects(&[
            Attribute::Label(b"rsa".to_vec()),
            Attribute::Class(cryptoki::object::ObjectClass::PUBLIC_KEY),
        ])
        .unwrap()[0];
    let ct = s.encrypt(&Mechanism::RsaPkcs, pubh, b"secret").unwrap();
    assert_eq!(s.decrypt(&Mechanism::RsaPkcs, rsa, &ct).unwrap(), b"secret");
    // Pre-hashed PSS names (NONESHA256_WITH_RSA_PSS) exist from 2.2.0; before, the TSB does not
    // know the name and answers 600, which the module reports as CKR_DEVICE_ERROR.
    let pss = Mechanism::Sha256RsaPkcsPss(PkcsPssParams {
        hash_alg: MechanismType::SHA256,
        mgf: PkcsMgfType::MGF1_SHA256,
        s_len: 32.into(),
    });
    match s.sign(&pss, rsa, data) {
        Ok(_) => assert!(v >= TsbVersion::V2_2_0, "{v}"),
        Err(e) => {
            assert!(v < TsbVersion::V2_2_0, "{v}: {e}");
            assert_eq!(rv(e), RvError::DeviceError, "{v}");
        }
    }

    // Approval-gated keys: ECDSA (pre-hashed, NONE_WITH_ECDSA) on every version.
    let policy = env.policy(600);
    let ska_ec = gen(&s, "p256", "ska-ec", Some(&policy));
    let bg = env.auto_approve(1);
    s.sign(&Mechanism::EcdsaSha256, ska_ec, data)
        .expect("approval-gated ECDSA");
    assert_eq!(bg.join().unwrap().unwrap().handled, 1);
    // RSA on an SKA key: the module sends NONESHA256_WITH_RSA, which TSBs before 2.1.1 refuse
    // (release notes 2.1.1); the emulator answers 607, the module CKR_MECHANISM_INVALID.
    let ska_rsa = gen(&s, "rsa", "ska-rsa", Some(&policy));
    if v.prehashed_rsa_on_ska_keys() {
        let bg = env.auto_approve(1);
        s.sign(&Mechanism::Sha256RsaPkcs, ska_rsa, data)
            .expect("approval-gated RSA");
        assert_eq!(bg.join().unwrap().unwrap().handled, 1);
    } else {
        assert_eq!(
            rv(s.sign(&Mechanism::Sha256RsaPkcs, ska_rsa, data)
                .unwrap_err()),
            RvError::MechanismInvalid,
            "{v}"
        );
        // Refused when the request is made: one attempt (after the ECDSA one), nothing pending.
        assert_eq!(env.count("POST", "/v1/sign"), 2, "{v}");
    }

    // CSRs through the vendor extension (synchronous for plain keys: KeytoolSignatureAlgorithm).
    let (r, pem) = csr("rsa");
    assert_eq!(r, CKR_OK, "{v}");
    assert!(pem.starts_with("-----BEGIN NEW CERTIFICATE REQUEST-----"));
    // Ed25519: the module asks for EDDSA, which only the newer certificate DTOs have; before,
    // the TSB refuses the enum name (600) and the module answers CKR_DEVICE_ERROR.
    let (r, _) = csr("ed");
    let newer = v.has_newer_certificate_dtos();
    assert_eq!(r, if newer { CKR_OK } else { CKR_DEVICE_ERROR }, "{v}");
    // Issuing: the module sends `validity`, a field of the newer DTO only; the S3 DTO of every
    // release up to 2.2.0 has none, and the TSB refuses unknown properties (600).
    let r = issue("ec", &pem);
    assert_eq!(r, if newer { CKR_OK } else { CKR_DEVICE_ERROR }, "{v}");
}

isolated!(
    fn profile_1_18() {
        flow(TsbVersion::V1_18_0)
    }
);

isolated!(
    fn profile_2_0() {
        flow(TsbVersion::V2_0_0)
    }
);

isolated!(
    fn profile_2_1() {
        flow(TsbVersion::V2_1_0)
    }
);

isolated!(
    fn profile_2_2() {
        flow(TsbVersion::V2_2_0)
    }
);

isolated!(
    fn profile_newest() {
        flow(TsbVersion::NEWEST)
    }
);
