//! Issue 5, certificate objects through the `cryptoki` crate: CKO_CERTIFICATE/CKC_X_509 with the
//! key's CKA_ID and CKA_LABEL; C_CreateObject imports a certificate onto the key with the same label
//! or id; C_DestroyObject removes it; `ca_certificates` from the config appear as authority
//! certificates. (CSR, issuing and self-signing through the C ABI: tests/c_examples.rs.)

mod common;

use common::rv;

use common::{Env, Opts};
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, CertificateType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::rsa::Rsa;
use openssl::x509::extension::BasicConstraints;
use openssl::x509::{X509Name, X509};

/// CKA_CERTIFICATE_CATEGORY values (PKCS#11 2.40 §4.6.2).
const CATEGORY_TOKEN_USER: u64 = 1;
const CATEGORY_AUTHORITY: u64 = 2;

fn name(cn: &str) -> X509Name {
    let mut n = X509Name::builder().unwrap();
    n.append_entry_by_text("CN", cn).unwrap();
    n.append_entry_by_text("O", "tsb-pkcs11 tests").unwrap();
    n.build()
}

/// A certificate for `subject_key`, issued by `ca` (a local OpenSSL key) with `serial`.
fn certificate(
    subject_key: &PKey<Public>,
    cn: &str,
    ca: &PKey<Private>,
    ca_cn: &str,
    serial: u32,
    is_ca: bool,
) -> X509 {
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(serial).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name(cn)).unwrap();
    b.set_issuer_name(&name(ca_cn)).unwrap();
    b.set_pubkey(subject_key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    if is_ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
    }
    b.sign(ca, MessageDigest::sha256()).unwrap();
    b.build()
}

fn local_rsa() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
}

fn gen_rsa(s: &Session, label: &str, id: &[u8]) -> (ObjectHandle, ObjectHandle) {
    let public = vec![
        Attribute::Token(true),
        Attribute::ModulusBits(2048.into()),
        Attribute::PublicExponent(vec![1, 0, 1]),
        Attribute::Label(label.into()),
        Attribute::Id(id.to_vec()),
        Attribute::Verify(true),
    ];
    let private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Label(label.into()),
        Attribute::Id(id.to_vec()),
        Attribute::Sign(true),
    ];
    s.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)
        .expect("generate RSA")
}

fn public_key_of(s: &Session, h: ObjectHandle) -> PKey<Public> {
    match s
        .get_attributes(h, &[AttributeType::PublicKeyInfo])
        .unwrap()
        .pop()
    {
        Some(Attribute::PublicKeyInfo(spki)) => PKey::public_key_from_der(&spki).unwrap(),
        other => panic!("CKA_PUBLIC_KEY_INFO {other:?}"),
    }
}

fn cert_template(cert: &X509, label: Option<&str>, id: Option<&[u8]>) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::CERTIFICATE),
        Attribute::CertificateType(CertificateType::X_509),
        Attribute::Token(true),
        Attribute::Value(cert.to_der().unwrap()),
    ];
    if let Some(l) = label {
        t.push(Attribute::Label(l.into()));
    }
    if let Some(i) = id {
        t.push(Attribute::Id(i.to_vec()));
    }
    t
}

fn find_certs(s: &Session, extra: Vec<Attribute>) -> Vec<ObjectHandle> {
    let mut t = vec![Attribute::Class(ObjectClass::CERTIFICATE)];
    t.extend(extra);
    s.find_objects(&t).unwrap()
}

fn bytes(s: &Session, h: ObjectHandle, t: AttributeType) -> Vec<u8> {
    match s.get_attributes(h, &[t]).unwrap().pop() {
        Some(Attribute::Value(v))
        | Some(Attribute::Subject(v))
        | Some(Attribute::Issuer(v))
        | Some(Attribute::SerialNumber(v))
        | Some(Attribute::Id(v))
        | Some(Attribute::Label(v)) => v,
        other => panic!("unexpected {other:?}"),
    }
}

/// CKA_CERTIFICATE_CATEGORY of the certificate labelled `label`: cryptoki has no type for this
/// attribute, so it is read with raw calls (common::raw) in a session of its own.
fn category(label: &str) -> u64 {
    use cryptoki_sys::*;
    let f = common::raw::fns();
    let s = common::raw::open_session(0);
    let cert = common::raw::find_one(s, label, CKO_CERTIFICATE);
    let mut cat: CK_ULONG = 99;
    let mut a = CK_ATTRIBUTE {
        type_: CKA_CERTIFICATE_CATEGORY,
        pValue: &mut cat as *mut CK_ULONG as *mut std::ffi::c_void,
        ulValueLen: std::mem::size_of::<CK_ULONG>() as CK_ULONG,
    };
    // SAFETY: a valid session, object and one-attribute template with a CK_ULONG buffer.
    unsafe {
        assert_eq!(f.C_GetAttributeValue.unwrap()(s, cert, &mut a, 1), CKR_OK);
        assert_eq!(f.C_CloseSession.unwrap()(s), CKR_OK);
    }
    cat as u64
}

/// Every attribute the issue names, against what OpenSSL reads from the same certificate.
fn assert_cert_object(s: &Session, h: ObjectHandle, cert: &X509, label: &str, id: &[u8]) {
    match s
        .get_attributes(h, &[AttributeType::Class, AttributeType::CertificateType])
        .unwrap()[..]
    {
        [Attribute::Class(c), Attribute::CertificateType(t)] => {
            assert_eq!(c, ObjectClass::CERTIFICATE);
            assert_eq!(t, CertificateType::X_509);
        }
        ref other => panic!("{other:?}"),
    }
    assert_eq!(bytes(s, h, AttributeType::Value), cert.to_der().unwrap());
    assert_eq!(
        bytes(s, h, AttributeType::Subject),
        cert.subject_name().to_der().unwrap()
    );
    assert_eq!(
        bytes(s, h, AttributeType::Issuer),
        cert.issuer_name().to_der().unwrap()
    );
    // CKA_SERIAL_NUMBER: the DER INTEGER.
    let serial = cert.serial_number().to_bn().unwrap().to_vec();
    let mut der = vec![0x02, serial.len() as u8];
    if serial[0] & 0x80 != 0 {
        der[1] += 1;
        der.push(0);
    }
    der.extend(&serial);
    assert_eq!(bytes(s, h, AttributeType::SerialNumber), der);
    assert_eq!(bytes(s, h, AttributeType::Label), label.as_bytes());
    assert_eq!(bytes(s, h, AttributeType::Id), id);
}

isolated!(
    fn certificate_import_by_label_or_id_find_and_destroy() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let id = [0xce, 0x71, 0x01];
        let (public, _private) = gen_rsa(&s, "cert-key", &id);
        let key = public_key_of(&s, public);
        let ca = local_rsa();
        let cert = certificate(&key, "cert-key", &ca, "Test CA", 0x8123, false);
        assert!(find_certs(&s, vec![Attribute::Id(id.to_vec())]).is_empty());

        // By label: the certificate takes the key's CKA_ID and CKA_LABEL.
        let h = s
            .create_object(&cert_template(&cert, Some("cert-key"), None))
            .expect("import by label");
        assert_cert_object(&s, h, &cert, "cert-key", &id);
        assert_eq!(category("cert-key"), CATEGORY_TOKEN_USER);
        let found = find_certs(&s, vec![Attribute::Id(id.to_vec())]);
        assert_eq!(found.len(), 1);
        assert_cert_object(&s, found[0], &cert, "cert-key", &id);
        let by_label = find_certs(&s, vec![Attribute::Label("cert-key".into())]);
        assert_eq!(by_label.len(), 1);

        // C_DestroyObject removes it (on the TSB too: a fresh session on a new find sees nothing);
        // the key stays.
        s.destroy_object(found[0]).expect("destroy certificate");
        assert!(find_certs(&s, vec![Attribute::Id(id.to_vec())]).is_empty());
        assert_eq!(env.count("DELETE", "/v1/certificate/cert-key"), 1);
        let keys = s
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Id(id.to_vec()),
            ])
            .unwrap();
        assert_eq!(keys.len(), 1, "destroying the certificate keeps the key");

        // By CKA_ID alone.
        let cert2 = certificate(&key, "cert-key again", &ca, "Test CA", 0x42, false);
        let h2 = s
            .create_object(&cert_template(&cert2, None, Some(&id)))
            .expect("import by id");
        assert_cert_object(&s, h2, &cert2, "cert-key", &id);
        assert_eq!(
            find_certs(&s, vec![Attribute::Label("cert-key".into())]).len(),
            1
        );

        // Importing again replaces the key's certificate: still one.
        s.create_object(&cert_template(&cert, Some("cert-key"), None))
            .expect("replace");
        let found = find_certs(&s, vec![Attribute::Id(id.to_vec())]);
        assert_eq!(found.len(), 1);
        assert_eq!(
            bytes(&s, found[0], AttributeType::Value),
            cert.to_der().unwrap()
        );
    }
);

isolated!(
    fn certificate_import_errors() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let (public, _) = gen_rsa(&s, "err-key", &[0xee]);
        let key = public_key_of(&s, public);
        let ca = local_rsa();
        let cert = certificate(&key, "err-key", &ca, "Test CA", 7, false);

        // Another key's certificate onto this key.
        let other = local_rsa();
        let other_pub = PKey::public_key_from_der(&other.public_key_to_der().unwrap()).unwrap();
        let wrong = certificate(&other_pub, "err-key", &ca, "Test CA", 8, false);
        assert_eq!(
            rv(
                s.create_object(&cert_template(&wrong, Some("err-key"), None))
                    .unwrap_err()
            ),
            RvError::AttributeValueInvalid
        );
        // No key with that label or id.
        assert_eq!(
            rv(
                s.create_object(&cert_template(&cert, Some("no-such-key"), None))
                    .unwrap_err()
            ),
            RvError::AttributeValueInvalid
        );
        assert_eq!(
            rv(
                s.create_object(&cert_template(&cert, None, Some(&[0x00, 0x11])))
                    .unwrap_err()
            ),
            RvError::AttributeValueInvalid
        );
        // Neither label nor id.
        assert_eq!(
            rv(s.create_object(&cert_template(&cert, None, None))
                .unwrap_err()),
            RvError::TemplateIncomplete
        );
        // Not DER of a certificate.
        assert_eq!(
            rv(s.create_object(&[
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::CertificateType(CertificateType::X_509),
                Attribute::Label("err-key".into()),
                Attribute::Value(b"not a certificate".to_vec()),
            ])
            .unwrap_err()),
            RvError::AttributeValueInvalid
        );
        // No CKA_VALUE.
        assert_eq!(
            rv(s.create_object(&[
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::Label("err-key".into()),
            ])
            .unwrap_err()),
            RvError::TemplateIncomplete
        );
        // Not a certificate at all, as a token object (a session data object is kept by the
        // module; the TSB stores no data objects).
        assert_eq!(
            rv(s.create_object(&[
                Attribute::Token(true),
                Attribute::Class(ObjectClass::DATA),
                Attribute::Label("err-key".into()),
                Attribute::Value(b"x".to_vec()),
            ])
            .unwrap_err()),
            RvError::TemplateInconsistent
        );
        // A read-only session.
        let ro = env.pkcs11.open_ro_session(env.slot).unwrap();
        assert_eq!(
            rv(ro
                .create_object(&cert_template(&cert, Some("err-key"), None))
                .unwrap_err()),
            RvError::SessionReadOnly
        );
        assert!(find_certs(&s, vec![Attribute::Id(vec![0xee])]).is_empty());
        assert_eq!(env.count("POST", "/v1/certificate/import/plain"), 0);
    }
);

isolated!(
    fn ca_certificates_from_the_config_are_authority_certificates() {
        let dir = common::temp_dir("ca-certs");
        let root = local_rsa();
        let root_pub = PKey::public_key_from_der(&root.public_key_to_der().unwrap()).unwrap();
        let root_cert = certificate(&root_pub, "Root CA", &root, "Root CA", 1, true);
        let inter = local_rsa();
        let inter_pub = PKey::public_key_from_der(&inter.public_key_to_der().unwrap()).unwrap();
        let inter_cert = certificate(&inter_pub, "Intermediate CA", &root, "Root CA", 2, true);
        let root_path = common::write(&dir, "root-ca.pem", &root_cert.to_pem().unwrap());
        let inter_path = common::write(&dir, "intermediate.der", &inter_cert.to_der().unwrap());
        let env = Env::new(Opts {
            slot_json: Some(serde_json::json!({
                "ca_certificates": [root_path, inter_path],
            })),
            ..Default::default()
        });
        let s = env.session();
        let certs = find_certs(&s, vec![]);
        assert_eq!(certs.len(), 2, "both CA certificates are objects");
        for (label, cert) in [("root-ca", &root_cert), ("intermediate", &inter_cert)] {
            let found = find_certs(&s, vec![Attribute::Label(label.into())]);
            assert_eq!(found.len(), 1, "{label}");
            assert_cert_object(&s, found[0], cert, label, &[]);
            assert_eq!(category(label), CATEGORY_AUTHORITY);
            assert_eq!(
                rv(s.destroy_object(found[0]).unwrap_err()),
                RvError::ActionProhibited,
                "configured CA certificates cannot be destroyed"
            );
        }
        // Found by value too (how a chain builder looks an issuer up).
        let by_subject = find_certs(
            &s,
            vec![Attribute::Subject(
                inter_cert.subject_name().to_der().unwrap(),
            )],
        );
        assert_eq!(by_subject.len(), 1);
    }
);

isolated!(
    fn a_missing_ca_certificate_file_is_a_config_error() {
        let dir = common::temp_dir("ca-missing");
        let cfg = common::write(
            &dir,
            "config.json",
            serde_json::to_string(&serde_json::json!({"slots": [{
                "label": "x", "url": "http://127.0.0.1:9", "allow_http": true,
                "ca_certificates": [dir.join("nope.pem")],
            }]}))
            .unwrap()
            .as_bytes(),
        );
        std::env::set_var("TSB_PKCS11_CONFIG", &cfg);
        let p11 = cryptoki::context::Pkcs11::new(common::module_path()).unwrap();
        let e = p11
            .initialize(cryptoki::context::CInitializeArgs::OsThreads)
            .unwrap_err();
        eprintln!("C_Initialize: {:?}", rv(e));
    }
);
