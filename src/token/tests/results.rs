//! CSRs and certificates from the TSB are verified before they are returned, like signatures and
//! plaintexts (issue 10): a CSR must carry the key's public key and its self-signature must
//! verify; a self-signed or issued certificate must carry the expected public key and verify
//! with the key that signed it. A bad one costs CKR_DEVICE_ERROR (ulDeviceError
//! TSB_DEVERR_BAD_RESULT) and one log line, and is neither returned nor kept.

use super::*;
use crate::token::{CertSpec, CsrSpec};
use crate::vendor;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509NameBuilder, X509Req, X509};

/// A P-256 key of the test's own, which the TSB does not hold.
fn stranger() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn name(cn: &str) -> openssl::x509::X509Name {
    let mut n = X509NameBuilder::new().unwrap();
    n.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    n.build()
}

/// A CSR of `key`, signed by `key`.
fn csr_of(key: &PKey<Private>, cn: &str) -> X509Req {
    let mut b = X509Req::builder().unwrap();
    b.set_subject_name(&name(cn)).unwrap();
    b.set_pubkey(key).unwrap();
    b.sign(key, MessageDigest::sha256()).unwrap();
    b.build()
}

/// A self-signed certificate of `key`.
fn cert_of(key: &PKey<Private>, cn: &str) -> X509 {
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name(cn)).unwrap();
    b.set_issuer_name(&name(cn)).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(key, MessageDigest::sha256()).unwrap();
    b.build()
}

/// The PEM of `der` with its last byte (inside the signature) changed.
fn tampered(der: &[u8], label: &str) -> String {
    let mut d = der.to_vec();
    let last = d.len() - 1;
    d[last] ^= 0x01;
    crate::der::pem_encode(label, &d)
}

fn csr_spec(cn: &str) -> CsrSpec {
    CsrSpec {
        subject: vec![("commonName", cn.into())],
        ..Default::default()
    }
}

fn cert_spec(cn: &str) -> CertSpec {
    CertSpec {
        common_name: Some(cn.into()),
        ..Default::default()
    }
}

/// The next POST to `path` is answered 200 with `body`, without the TSB doing anything.
fn answer_once(w: &World, path: &str, body: serde_json::Value) {
    direct::respond(&w.emu, "POST", path, 1, 200, body.to_string());
}

/// A refused result: CKR_DEVICE_ERROR, TSB_DEVERR_BAD_RESULT, nothing logged below the C
/// boundary and exactly one line there naming the key and what was refused.
fn assert_refused<T: std::fmt::Debug>(
    w: &World,
    s: CK_SESSION_HANDLE,
    (r, below): (Result<T>, Vec<String>),
    what: &str,
) {
    assert!(below.is_empty(), "{what}: {below:?}");
    let (r, lines) = crate::log::capture(|| at_boundary("TSB_X", r));
    assert_eq!(rv(r), CKR_DEVICE_ERROR, "{what}");
    assert_eq!(w.device_error(s), vendor::TSB_DEVERR_BAD_RESULT, "{what}");
    assert_eq!(lines.len(), 1, "{what}: {lines:?}");
    assert!(
        lines[0].contains(what) && lines[0].contains("not returned"),
        "{}",
        lines[0]
    );
}

#[test]
fn a_csr_with_another_public_key_is_refused() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let k = w.key(s, "csr-key", "p256", None);
    let other = csr_of(&stranger(), "csr-key");
    let body = serde_json::json!({"label": "csr-key",
        "certificateSigningRequest": String::from_utf8(other.to_pem().unwrap()).unwrap()});
    answer_once(&w, "/v1/certificate/synchronous/request", body);
    let spec = csr_spec("csr-key");
    let r = crate::log::capture(|| {
        w.m.with_session(s, |sess| w.m.create_csr(sess, k, &spec, Some(16384)))
    });
    assert_refused(&w, s, r, "CSR");
}

#[test]
fn a_csr_whose_self_signature_does_not_verify_is_refused() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let k = w.key(s, "csr-key", "rsa", None);
    let spec = csr_spec("csr-key");
    let csr = |w: &World| {
        w.m.with_session(s, |sess| w.m.create_csr(sess, k, &spec, Some(16384)))
    };
    // The genuine CSR passes; the same with one bit of its signature changed does not.
    let good = data(csr(&w).unwrap());
    let der = X509Req::from_pem(&good).unwrap().to_der().unwrap();
    let body = serde_json::json!({"label": "csr-key",
        "certificateSigningRequest": tampered(&der, "CERTIFICATE REQUEST")});
    answer_once(&w, "/v1/certificate/synchronous/request", body);
    let r = crate::log::capture(|| csr(&w));
    assert_refused(&w, s, r, "CSR");
}

#[test]
fn an_approved_csr_of_another_key_is_refused() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let k = w.key(s, "gated", "p256", Some(&w.policy(600)));
    let other = String::from_utf8(csr_of(&stranger(), "gated").to_pem().unwrap()).unwrap();
    // Every poll answers EXECUTED with another key's CSR as the result.
    direct::respond(
        &w.emu,
        "GET",
        "/v1/request/",
        1000,
        200,
        serde_json::json!({"id": "whatever", "status": "EXECUTED", "approvedBy": [],
            "notYetApprovedBy": [], "rejectedBy": [], "result": other})
        .to_string(),
    );
    let spec = csr_spec("gated");
    let r = crate::log::capture(|| {
        w.m.with_session(s, |sess| w.m.create_csr(sess, k, &spec, Some(16384)))
    });
    assert_refused(&w, s, r, "CSR");
    assert_eq!(w.count("POST", "/v1/certificate/request"), 1);
}

#[test]
fn a_self_signed_certificate_of_another_key_is_refused_and_not_shown() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let k = w.key(s, "self", "p256", None);
    let other = cert_of(&stranger(), "self");
    let body = serde_json::json!({"label": "self",
        "certificate": String::from_utf8(other.to_pem().unwrap()).unwrap()});
    answer_once(&w, "/v1/certificate/synchronous/selfsign", body);
    let spec = cert_spec("self");
    let r = crate::log::capture(|| w.m.with_session(s, |sess| w.m.self_sign(sess, k, &spec)));
    assert_refused(&w, s, r, "self-signed certificate");
    // No certificate object for it.
    let t = Template::new(vec![Attr::new(
        CKA_CLASS,
        CKO_CERTIFICATE.to_ne_bytes().to_vec(),
    )]);
    assert!(w
        .m
        .with_session(s, |sess| w.m.find(sess, &t))
        .unwrap()
        .is_empty());
}

#[test]
fn issued_certificates_must_carry_the_csr_key_and_verify_with_the_ca_key() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let ca = w.key(s, "ca", "p256", None);
    let subject = stranger();
    let csr = csr_of(&subject, "leaf").to_pem().unwrap();
    let spec = cert_spec("leaf");
    let issue = |w: &World| {
        w.m.with_session(s, |sess| {
            w.m.issue_certificate(sess, ca, &csr, &spec, Some(16384))
        })
    };
    // The genuine certificate passes.
    let good = X509::from_pem(&data(issue(&w).unwrap())).unwrap();
    assert!(good.public_key().unwrap().public_eq(&subject));
    // A certificate of another key, or one whose signature does not verify with the CA key, not.
    for (bad, why) in [
        (
            String::from_utf8(cert_of(&stranger(), "leaf").to_pem().unwrap()).unwrap(),
            "another key",
        ),
        (
            tampered(&good.to_der().unwrap(), "CERTIFICATE"),
            "a bad signature",
        ),
    ] {
        let body = serde_json::json!({"label": "ca", "certificate": bad});
        answer_once(&w, "/v1/certificate/synchronous/sign", body);
        let r = crate::log::capture(|| issue(&w));
        eprintln!("issued certificate with {why}");
        assert_refused(&w, s, r, "certificate");
    }
}

#[test]
fn good_csrs_and_certificates_of_every_key_type_pass() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    for kind in ["rsa", "p256", "p384", "p521", "k256", "ed"] {
        let k = w.key(s, kind, kind, None);
        let pem = data(
            w.m.with_session(s, |sess| {
                w.m.create_csr(sess, k, &csr_spec(kind), Some(16384))
            })
            .unwrap_or_else(|e| panic!("CSR of {kind}: {e}")),
        );
        let req = X509Req::from_pem(&pem).unwrap();
        assert!(req.verify(&req.public_key().unwrap()).unwrap(), "{kind}");
        if kind == "ed" {
            // The emulator's default, TSB 2.2.0, makes no Ed25519 certificates (no EDDSA in its
            // KeytoolSignatureAlgorithm); its CSR came from the asynchronous endpoint.
            let r =
                w.m.with_session(s, |sess| w.m.self_sign(sess, k, &cert_spec(kind)));
            assert_eq!(rv(r), CKR_MECHANISM_INVALID);
            continue;
        }
        w.m.with_session(s, |sess| w.m.self_sign(sess, k, &cert_spec(kind)))
            .unwrap_or_else(|e| panic!("self-signed certificate of {kind}: {e}"));
        // The key issues a certificate for a CSR of another key.
        let other = csr_of(&stranger(), "leaf").to_pem().unwrap();
        let issued =
            w.m.with_session(s, |sess| {
                w.m.issue_certificate(sess, k, &other, &cert_spec("leaf"), Some(16384))
            })
            .unwrap_or_else(|e| panic!("certificate issued by {kind}: {e}"));
        assert!(X509::from_pem(&data(issued)).is_ok(), "{kind}");
    }
    assert_eq!(w.device_error(s), 0);
}
