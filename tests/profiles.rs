//! The module against every TSB profile of the emulator (`EmulatorConfig::tsb_version`, see
//! emulator/README.md): 1.18, 2.0, 2.0.1, 2.1, 2.1.1, 2.2 and the unconfirmed 2.3 ("S6 DTO
//! shapes"). The module reads the version (`GET /v1/versionInfo`) and speaks what each one
//! accepts: key generation, signatures with and without approvals (approved with tsb-approve,
//! which also shows what the approvers see: the data or a digest), decryption, and CSRs,
//! self-signed and issued certificates through the vendor extension. Where a version cannot do
//! something at all, the answer is asserted (CKR_MECHANISM_INVALID before anything is sent, or
//! CKR_ARGUMENTS_BAD for a certificate validity the version cannot take).

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
use tsb_approve::TaskFilter;
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

type SelfSign = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    CK_OBJECT_HANDLE,
    *const TSB_CERT_PARAMS,
    *mut CK_OBJECT_HANDLE,
) -> CK_RV;

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

/// `TSB_SelfSignCertificate` of the key labelled `label`.
fn self_sign(label: &str) -> CK_RV {
    let rs = raw::open_session(0);
    let key = raw::find_one(rs, label, CKO_PRIVATE_KEY);
    let cn = CString::new(label).unwrap();
    let p = TSB_CERT_PARAMS {
        signatureAlgorithm: std::ptr::null(),
        validityDays: 30,
        commonName: cn.as_ptr(),
        certificateAuthority: CK_TRUE,
        keyUsage: std::ptr::null(),
        extendedKeyUsage: std::ptr::null(),
        outputFormat: 0,
    };
    let f: SelfSign =
        unsafe { std::mem::transmute(common::module_symbol("TSB_SelfSignCertificate")) };
    let mut h = 0;
    unsafe { f(rs, key, &p, &mut h) }
}

/// `TSB_IssueCertificate` with the key labelled `ca` for `csr_pem`: `validity_days` (0: the
/// TSB's), subject CN `leaf` or, with `cn` false, the CSR's.
fn issue(ca: &str, csr_pem: &str, validity_days: CK_ULONG, cn: bool) -> CK_RV {
    let rs = raw::open_session(0);
    let key = raw::find_one(rs, ca, CKO_PRIVATE_KEY);
    let leaf = CString::new("leaf").unwrap();
    let p = TSB_CERT_PARAMS {
        signatureAlgorithm: std::ptr::null(),
        validityDays: validity_days,
        commonName: if cn { leaf.as_ptr() } else { std::ptr::null() },
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

/// Sign `data` with `key` on another thread while this one waits for the approvers' task,
/// checks what they are shown (the `signatureAlgorithm` and the `payload`) and approves it.
/// Returns the signature and the task's (algorithm, payload).
fn sign_approved(
    env: &Env,
    s: Session,
    mech: fn() -> Mechanism<'static>,
    key: ObjectHandle,
    data: &'static [u8],
) -> (Vec<u8>, String, Vec<u8>) {
    let signing = std::thread::spawn(move || {
        let r = s.sign(&mech(), key, data);
        (s, r)
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let task = loop {
        let mut tasks = env
            .approver
            .pending(&TaskFilter::default())
            .expect("approver lists its tasks");
        if let Some(t) = tasks.pop() {
            break t;
        }
        assert!(std::time::Instant::now() < deadline, "no task appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let request = task.task.signed_sign_request.clone().expect("a sign task");
    let algorithm = request["signRequest"]["signatureAlgorithm"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    use base64::Engine;
    let payload = base64::engine::general_purpose::STANDARD
        .decode(task.task.payload.as_deref().unwrap_or_default())
        .expect("payload is base64");
    env.approver.approve(&task.task).expect("approved");
    let (_s, r) = signing.join().expect("signing thread");
    (r.expect("approved signature"), algorithm, payload)
}

fn sha256(data: &[u8]) -> Vec<u8> {
    openssl::sha::sha256(data).to_vec()
}

/// One profile: keys, plain and approval-gated signatures, decryption, CSRs, self-signed and
/// issued certificates.
fn flow(v: TsbVersion) {
    let env = env_at(v);
    let s = env.session();
    // C_Initialize, the slot and token functions and C_OpenSession ask nothing, not even the
    // version.
    let _ = env.pkcs11.get_slot_info(env.slot).unwrap();
    let _ = env.pkcs11.get_token_info(env.slot).unwrap();
    assert!(
        env.emu.request_counts().is_empty(),
        "{v}: {:?}",
        env.emu.request_counts()
    );
    let data: &'static [u8] = b"release-1.0.tar.gz";

    // Plain keys: a digest to the synchronous endpoint (pre-hashed RSA since 1.17.1).
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
    // PKCS#1 v1.5 decryption: "RSA" before 2.2.0, RSA_PADDING_PKCS from it.
    let pubh = s
        .find_objects(&[
            Attribute::Label(b"rsa".to_vec()),
            Attribute::Class(cryptoki::object::ObjectClass::PUBLIC_KEY),
        ])
        .unwrap()[0];
    let ct = s.encrypt(&Mechanism::RsaPkcs, pubh, b"secret").unwrap();
    assert_eq!(s.decrypt(&Mechanism::RsaPkcs, rsa, &ct).unwrap(), b"secret");
    // PSS: pre-hashed names exist from 2.2.0; before, the module sends the data with
    // SHA256_WITH_RSA_PSS. SHA-1 PSS has only the data form, on every version.
    let pss = |hash, mgf, len: u64| PkcsPssParams {
        hash_alg: hash,
        mgf,
        s_len: len.into(),
    };
    for m in [
        Mechanism::Sha256RsaPkcsPss(pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32)),
        Mechanism::Sha1RsaPkcsPss(pss(MechanismType::SHA1, PkcsMgfType::MGF1_SHA1, 20)),
    ] {
        let sig = s
            .sign(&m, rsa, data)
            .unwrap_or_else(|e| panic!("{v}: {m:?}: {e}"));
        s.verify(&m, pubh, data, &sig).expect("verifies");
    }
    // A caller's digest with CKM_RSA_PKCS_PSS: only where the pre-hashed name exists.
    let raw_pss = Mechanism::RsaPkcsPss(pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32));
    match s.sign(&raw_pss, rsa, &sha256(data)) {
        Ok(_) => assert!(v >= TsbVersion::V2_2_0, "{v}"),
        Err(e) => {
            assert!(v < TsbVersion::V2_2_0, "{v}: {e}");
            assert_eq!(rv(e), RvError::MechanismInvalid, "{v}");
        }
    }
    let sent = env.count("POST", "/v1/synchronousSign");

    // Approval-gated keys, approved through tsb-approve, which shows what approvers see.
    let policy = env.policy(600);
    let ska_ec = gen(&s, "p256", "ska-ec", Some(&policy));
    let ska_rsa = gen(&s, "rsa", "ska-rsa", Some(&policy));
    drop(s);
    let (_, alg, payload) =
        sign_approved(&env, env.session(), || Mechanism::EcdsaSha256, ska_ec, data);
    assert_eq!(
        (alg.as_str(), payload),
        ("NONE_WITH_ECDSA", sha256(data)),
        "{v}"
    );
    // RSA: TSBs before 2.1.1 refuse pre-hashed RSA on SKA keys (release notes 2.1.1): the data
    // itself goes, and the approvers see it.
    let (_, alg, payload) = sign_approved(
        &env,
        env.session(),
        || Mechanism::Sha256RsaPkcs,
        ska_rsa,
        data,
    );
    if v.prehashed_rsa_on_ska_keys() {
        assert_eq!(
            (alg.as_str(), payload),
            ("NONESHA256_WITH_RSA", sha256(data)),
            "{v}"
        );
    } else {
        assert_eq!(
            (alg.as_str(), payload),
            ("SHA256_WITH_RSA", data.to_vec()),
            "{v}"
        );
    }
    // Each signature asked once.
    assert_eq!(env.count("POST", "/v1/sign"), 2, "{v}");
    assert_eq!(env.count("POST", "/v1/synchronousSign"), sent, "{v}");

    // CSRs through the vendor extension: synchronous for RSA; Ed25519 asynchronously where the
    // synchronous endpoint has no EDDSA (up to 2.2.0), executed at once for a plain key.
    let (r, pem) = csr("rsa");
    assert_eq!(r, CKR_OK, "{v}");
    assert!(pem.starts_with("-----BEGIN NEW CERTIFICATE REQUEST-----"));
    let (r, _) = csr("ed");
    assert_eq!(r, CKR_OK, "{v}: Ed25519 CSR");
    let newer = v.has_newer_certificate_dtos();
    assert_eq!(
        env.count("POST", "/v1/certificate/request"),
        if newer { 0 } else { 1 },
        "{v}"
    );
    // Self-signed: RSA everywhere; Ed25519 only with the newer DTOs, refused before sending.
    assert_eq!(self_sign("rsa"), CKR_OK, "{v}");
    let selfsigned = env.count("POST", "/v1/certificate/synchronous/selfsign");
    assert_eq!(
        self_sign("ed"),
        if newer { CKR_OK } else { CKR_MECHANISM_INVALID },
        "{v}"
    );
    assert_eq!(
        env.count("POST", "/v1/certificate/synchronous/selfsign"),
        selfsigned + u64::from(newer),
        "{v}"
    );
    // Issuing: up to 2.2.0 the TSB takes no validity and needs a commonName; the module sends
    // the CSR's CN when none is given.
    assert_eq!(issue("ec", &pem, 0, true), CKR_OK, "{v}");
    assert_eq!(issue("ec", &pem, 0, false), CKR_OK, "{v}: the CSR's CN");
    assert_eq!(
        issue("ec", &pem, 30, true),
        if newer { CKR_OK } else { CKR_ARGUMENTS_BAD },
        "{v}: a validity"
    );
    // The version was read once, lazily.
    assert_eq!(env.count("GET", "/v1/versionInfo"), 1, "{v}");
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
    fn profile_2_0_1() {
        flow(TsbVersion::V2_0_1)
    }
);

isolated!(
    fn profile_2_1() {
        flow(TsbVersion::V2_1_0)
    }
);

isolated!(
    fn profile_2_1_1() {
        flow(TsbVersion::V2_1_1)
    }
);

isolated!(
    fn profile_2_2() {
        flow(TsbVersion::V2_2_0)
    }
);

isolated!(
    fn profile_2_3_unconfirmed() {
        flow(TsbVersion::V2_3_0)
    }
);
