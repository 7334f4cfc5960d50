//! The vendor extension from Rust through its C ABI (the C examples exercise it from C):
//! certificate objects, import and delete, CA certificates from the configuration. The CSR length
//! query and short buffer without a second request, the request status and the last request id
//! are tested in-process (`src/token/tests/kept_outputs.rs`).

mod common;

use common::{raw, Env, Opts};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, CertificateType, ObjectClass};
use cryptoki_sys::*;
use std::ffi::CString;
use tsb_pkcs11::ffi::vendor::TSB_CERT_PARAMS;

type SelfSign = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    CK_OBJECT_HANDLE,
    *const TSB_CERT_PARAMS,
    *mut CK_OBJECT_HANDLE,
) -> CK_RV;
fn vendor<T: Copy>(name: &str) -> T {
    let p = common::module_symbol(name);
    assert_eq!(std::mem::size_of::<T>(), std::mem::size_of::<usize>());
    unsafe { std::mem::transmute_copy(&p) }
}

const CKA_TSB_POLICY: u64 = 0xD453_0001;

fn gen_rsa(
    s: &cryptoki::session::Session,
    label: &str,
    id: &[u8],
    policy: Option<serde_json::Value>,
) {
    let mut private = vec![
        Attribute::Token(true),
        Attribute::Label(label.into()),
        Attribute::Sign(true),
        Attribute::Id(id.to_vec()),
    ];
    if let Some(p) = policy {
        private.push(Attribute::VendorDefined((
            AttributeType::VendorDefined(CKA_TSB_POLICY),
            p.to_string().into_bytes(),
        )));
    }
    s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[
            Attribute::Token(true),
            Attribute::ModulusBits(2048.into()),
            Attribute::Label(label.into()),
        ],
        &private,
    )
    .unwrap();
}

isolated!(
    fn certificates_as_objects_import_and_delete() {
        let dir = common::temp_dir("ca");
        // A CA certificate from the configuration, shown as an object.
        let ca_key = openssl::pkey::PKey::from_ec_key(
            openssl::ec::EcKey::generate(
                &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "Root CA").unwrap();
        let name = name.build();
        let mut b = openssl::x509::X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&ca_key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        b.sign(&ca_key, openssl::hash::MessageDigest::sha256())
            .unwrap();
        let ca_pem = b.build().to_pem().unwrap();
        let ca_path = common::write(&dir, "root-ca.pem", &ca_pem);
        let env = Env::new(Opts {
            slot_json: Some(serde_json::json!({"ca_certificates": [ca_path]})),
            ..Default::default()
        });
        let s = env.session();
        gen_rsa(&s, "leaf", &[0x42], None);
        let rs = raw::open_session(0);
        let key = raw::find_one(rs, "leaf", CKO_PRIVATE_KEY);
        let cn = CString::new("leaf.example").unwrap();
        let eku = CString::new("CODE_SIGNING").unwrap();
        let p = TSB_CERT_PARAMS {
            signatureAlgorithm: std::ptr::null(),
            validityDays: 30,
            commonName: cn.as_ptr(),
            certificateAuthority: 0,
            keyUsage: std::ptr::null(),
            extendedKeyUsage: eku.as_ptr(),
            outputFormat: 0,
        };
        let mut cert_h: CK_OBJECT_HANDLE = 0;
        unsafe {
            assert_eq!(
                vendor::<SelfSign>("TSB_SelfSignCertificate")(rs, key, &p, &mut cert_h),
                CKR_OK
            );
        }
        let certs = s
            .find_objects(&[
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::Id(vec![0x42]),
            ])
            .unwrap();
        assert_eq!(certs.len(), 1);
        let attrs = s
            .get_attributes(
                certs[0],
                &[
                    AttributeType::Label,
                    AttributeType::CertificateType,
                    AttributeType::Value,
                ],
            )
            .unwrap();
        assert_eq!(attrs[0], Attribute::Label(b"leaf".to_vec()));
        assert_eq!(attrs[1], Attribute::CertificateType(CertificateType::X_509));
        let Attribute::Value(der) = &attrs[2] else {
            panic!()
        };
        let x = openssl::x509::X509::from_der(der).unwrap();
        assert!(format!("{:?}", x.subject_name()).contains("leaf.example"));
        // CA certificate from the config is listed too.
        let all = s
            .find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE)])
            .unwrap();
        assert_eq!(all.len(), 2);
        // Delete the key's certificate, then import it again with C_CreateObject by CKA_ID.
        s.destroy_object(certs[0]).unwrap();
        assert!(s
            .find_objects(&[
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::Id(vec![0x42])
            ])
            .unwrap()
            .is_empty());
        let h = s
            .create_object(&[
                Attribute::Token(true),
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::CertificateType(CertificateType::X_509),
                Attribute::Id(vec![0x42]),
                Attribute::Value(der.clone()),
            ])
            .unwrap();
        let again = s
            .find_objects(&[
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::Label(b"leaf".to_vec()),
            ])
            .unwrap();
        assert_eq!(again, vec![h]);
        // A certificate of another key is refused.
        let e = s
            .create_object(&[
                Attribute::Token(true),
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::Label(b"leaf".to_vec()),
                Attribute::Value(
                    openssl::x509::X509::from_pem(&ca_pem)
                        .unwrap()
                        .to_der()
                        .unwrap(),
                ),
            ])
            .unwrap_err();
        assert!(
            matches!(
                e,
                cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::AttributeValueInvalid, _)
            ),
            "{e:?}"
        );
        assert_eq!(env.count("POST", "/v1/certificate/import/plain"), 1);
    }
);
