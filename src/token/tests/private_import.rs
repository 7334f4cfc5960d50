//! C_CreateObject of EC and RSA private keys (token/plain_keys.rs): the key, made by OpenSSL
//! here, is imported into the TSB as PKCS#8 with its SubjectPublicKeyInfo, signs through the
//! module, and OpenSSL verifies the signature with the public key it kept.

use super::*;
use crate::token::AttrValue;
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey, PointConversionForm};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};

fn ul(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Attr {
    Attr::new(ty, v.to_ne_bytes().to_vec())
}
fn a(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Attr {
    Attr::new(ty, v.to_vec())
}

fn create(w: &World, s: CK_SESSION_HANDLE, attrs: Vec<Attr>) -> Result<CK_OBJECT_HANDLE> {
    w.m.with_session(s, |sess| w.m.create_object(sess, &Template::new(attrs)))
}

fn attr(w: &World, s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> AttrValue {
    w.m.with_session(s, |sess| w.m.attributes(sess, h, &[ty]))
        .expect("attributes")
        .remove(0)
}

/// The template python-pkcs11's `decode_ec_private_key` makes (plus `more`).
fn ec_template(key: &EcKey<Private>, more: &[Attr]) -> Vec<Attr> {
    let params = crate::der::oid(tsb_models::Curve::P256.oid()).unwrap();
    let mut v = vec![
        ul(CKA_CLASS, CKO_PRIVATE_KEY),
        ul(CKA_KEY_TYPE, CKK_EC),
        a(CKA_EC_PARAMS, &params),
        a(CKA_VALUE, &key.private_key().to_vec()),
    ];
    v.extend_from_slice(more);
    v
}

fn rsa_template(key: &openssl::rsa::Rsa<Private>, more: &[Attr]) -> Vec<Attr> {
    let mut v = vec![
        ul(CKA_CLASS, CKO_PRIVATE_KEY),
        ul(CKA_KEY_TYPE, CKK_RSA),
        a(CKA_MODULUS, &key.n().to_vec()),
        a(CKA_PUBLIC_EXPONENT, &key.e().to_vec()),
        a(CKA_PRIVATE_EXPONENT, &key.d().to_vec()),
        a(CKA_PRIME_1, &key.p().unwrap().to_vec()),
        a(CKA_PRIME_2, &key.q().unwrap().to_vec()),
        a(CKA_EXPONENT_1, &key.dmp1().unwrap().to_vec()),
        a(CKA_EXPONENT_2, &key.dmq1().unwrap().to_vec()),
        a(CKA_COEFFICIENT, &key.iqmp().unwrap().to_vec()),
        a(CKA_SIGN, &[1]),
    ];
    v.extend_from_slice(more);
    v
}

/// OpenSSL verifies `sig` (PKCS#11 format) of `data` with SHA-256.
fn verifies(pkey: &PKey<Private>, data: &[u8], sig: &[u8]) -> bool {
    let der = match pkey.ec_key() {
        Ok(_) => {
            let (r, s) = sig.split_at(sig.len() / 2);
            openssl::ecdsa::EcdsaSig::from_private_components(
                openssl::bn::BigNum::from_slice(r).unwrap(),
                openssl::bn::BigNum::from_slice(s).unwrap(),
            )
            .unwrap()
            .to_der()
            .unwrap()
        }
        Err(_) => sig.to_vec(),
    };
    let mut v = openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), pkey).unwrap();
    v.update(data).unwrap();
    v.verify(&der).unwrap()
}

/// python-pkcs11's test_ecc.test_import_key_pair, through the module: an EC P-256 private key
/// imported (token and session objects), C_Sign, verified by OpenSSL with the public key; the
/// key's public point is the one imported.
#[test]
fn an_imported_ec_private_key_signs_and_openssl_verifies() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    for token in [true, false] {
        let ec = EcKey::generate(&group).unwrap();
        let pkey = PKey::from_ec_key(ec.clone()).unwrap();
        let label = format!("ec-{token}");
        let h = create(
            &w,
            s,
            ec_template(
                &ec,
                &[a(CKA_TOKEN, &[token as u8]), a(CKA_LABEL, label.as_bytes())],
            ),
        )
        .expect("import the EC key");
        assert_eq!(
            attr(&w, s, h, CKA_CLASS),
            AttrValue::Value(CKO_PRIVATE_KEY.to_ne_bytes().to_vec())
        );
        assert_eq!(
            attr(&w, s, h, CKA_TOKEN),
            AttrValue::Value(vec![token as u8])
        );
        assert_eq!(attr(&w, s, h, CKA_LOCAL), AttrValue::Value(vec![CK_FALSE]));
        assert_eq!(attr(&w, s, h, CKA_VALUE), AttrValue::Sensitive);
        let mut ctx = BigNumContext::new().unwrap();
        let point = ec
            .public_key()
            .to_bytes(&group, PointConversionForm::UNCOMPRESSED, &mut ctx)
            .unwrap();
        assert_eq!(
            attr(&w, s, h, CKA_EC_POINT),
            AttrValue::Value(crate::der::octet_string(&point))
        );
        let sig = data(w.sign(s, h, b"Example", Some(64)).expect("C_Sign"));
        assert!(verifies(&pkey, b"Example", &sig), "{label}");
        assert!(!verifies(&pkey, b"Other", &sig));
    }
    // The session object's key went with its session; the token key stays.
    w.m.close_session(s).expect("close");
    assert_eq!(w.tsb_labels(), vec!["ec-true".to_string()]);
}

/// An RSA private key from its parts (python-pkcs11's `decode_rsa_private_key`), then C_Sign
/// verified by OpenSSL.
#[test]
fn an_imported_rsa_private_key_signs_and_openssl_verifies() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
    let pkey = PKey::from_rsa(rsa.clone()).unwrap();
    let h = create(
        &w,
        s,
        rsa_template(&rsa, &[a(CKA_TOKEN, &[1]), a(CKA_LABEL, b"rsa")]),
    )
    .expect("import the RSA key");
    assert_eq!(
        attr(&w, s, h, CKA_MODULUS),
        AttrValue::Value(rsa.n().to_vec())
    );
    assert_eq!(
        attr(&w, s, h, CKA_NEVER_EXTRACTABLE),
        AttrValue::Value(vec![CK_FALSE])
    );
    assert_eq!(attr(&w, s, h, CKA_PRIVATE_EXPONENT), AttrValue::Sensitive);
    let sig = data(w.sign(s, h, b"data", Some(256)).expect("C_Sign"));
    assert!(verifies(&pkey, b"data", &sig));
}

/// Templates refused before anything is sent.
#[test]
fn private_key_imports_that_are_refused() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let ec = EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap();
    let rv = |attrs: Vec<Attr>| create(&w, s, attrs).unwrap_err().rv();
    let without = |t: Vec<Attr>, ty| t.into_iter().filter(|x| x.ty != ty).collect::<Vec<_>>();
    assert_eq!(
        rv(without(ec_template(&ec, &[]), CKA_VALUE)),
        CKR_TEMPLATE_INCOMPLETE
    );
    assert_eq!(
        rv(without(ec_template(&ec, &[]), CKA_EC_PARAMS)),
        CKR_TEMPLATE_INCOMPLETE
    );
    assert_eq!(
        rv(without(ec_template(&ec, &[]), CKA_KEY_TYPE)),
        CKR_TEMPLATE_INCOMPLETE
    );
    // A scalar of zeros, or longer than the curve's.
    let mut t = without(ec_template(&ec, &[]), CKA_VALUE);
    t.push(a(CKA_VALUE, &[0; 32]));
    assert_eq!(rv(t.clone()), CKR_ATTRIBUTE_VALUE_INVALID);
    t.pop();
    t.push(a(CKA_VALUE, &[1; 33]));
    assert_eq!(rv(t), CKR_ATTRIBUTE_VALUE_INVALID);
    // An RSA key whose parts do not agree.
    let rsa = openssl::rsa::Rsa::generate(1024).unwrap();
    let mut t = without(rsa_template(&rsa, &[]), CKA_PRIVATE_EXPONENT);
    t.push(a(CKA_PRIVATE_EXPONENT, &[3]));
    assert_eq!(rv(t), CKR_ATTRIBUTE_VALUE_INVALID);
    // A DSA key.
    assert_eq!(
        rv(vec![
            ul(CKA_CLASS, CKO_PRIVATE_KEY),
            ul(CKA_KEY_TYPE, CKK_DSA)
        ]),
        CKR_ATTRIBUTE_VALUE_INVALID
    );
    assert_eq!(w.count("POST", "/v1/key/import/plain"), 0, "nothing sent");
}
