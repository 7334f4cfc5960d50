//! Request signatures (TSB 2.2.0 `allowedRequestCertificates`: "Whitelisted certificates are
//! required to sign requests if enabled", S2 release notes): with `request_signing_key` and
//! `request_signing_cert`, every body that has a `requestSignature` carries one, made as S1
//! `tsb_client.go` `GenerateRequestSignature` makes it. The emulator checks them the same way.

use super::*;
use crate::error::Error;
use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509NameBuilder, X509};

/// A self-signed certificate for `key`.
fn certificate(key: &PKey<Private>) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "signing application")
        .unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(key, MessageDigest::sha256()).unwrap();
    b.build()
}

/// A signing key (PKCS#8 PEM file), its certificate (PEM file) and the certificate's DER.
fn signer(dir: &Path, key: PKey<Private>) -> (PathBuf, PathBuf, Vec<u8>) {
    let cert = certificate(&key);
    let k = dir.join("app.key");
    std::fs::write(&k, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let c = dir.join("app.pem");
    std::fs::write(&c, cert.to_pem().unwrap()).unwrap();
    (k, c, cert.to_der().unwrap())
}

fn rsa() -> PKey<Private> {
    PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap()
}

fn p256() -> PKey<Private> {
    let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap()
}

/// Sign (plain and approval-gated), decrypt and ask for a CSR against a TSB that whitelists
/// the certificate of `key`.
fn every_signed_request(key: PKey<Private>) {
    let dir = temp_dir("request-signature");
    let (k, c, der) = signer(&dir, key);
    let cfg = EmulatorConfig {
        allowed_request_certificates: vec![der],
        ..emulator(TsbVersion::V2_2_0)
    };
    let bed = Bed::new(
        cfg,
        serde_json::json!({"request_signing_key": k, "request_signing_cert": c}),
    );
    let plain = bed.key("plain", "rsa", None);
    sign(&bed.tsb, &plain).expect("synchronous sign, signed");
    let gated = bed.key("gated", "p256", Some(&bed.policy(600)));
    let bg = bed.auto_approve(2);
    sign(&bed.tsb, &gated).expect("asynchronous sign, signed");
    // A CSR through the asynchronous endpoint (approval-gated key).
    let req = csr_request("gated", "SHA256_WITH_ECDSA");
    let (csr, _) = as_caller(|caller| bed.tsb.csr(&gated, &req, caller));
    assert!(csr.expect("CSR, signed").contains("CERTIFICATE REQUEST"));
    bg.join().unwrap().unwrap();
    // Decryption (synchronous; its envelope has a requestSignature too).
    let pub_key = openssl::rsa::Rsa::public_key_from_der(&plain.spki)
        .or_else(|_| openssl::pkey::PKey::public_key_from_der(&plain.spki).and_then(|p| p.rsa()))
        .unwrap();
    let mut ct = vec![0u8; pub_key.size() as usize];
    let n = pub_key
        .public_encrypt(b"secret", &mut ct, openssl::rsa::Padding::PKCS1)
        .unwrap();
    ct.truncate(n);
    let (plain_text, _) = as_caller(|caller| bed.tsb.decrypt(&plain, "RSA", &ct, caller));
    assert_eq!(plain_text.expect("decrypted"), b"secret");
}

#[test]
fn every_request_is_signed_with_an_rsa_key() {
    every_signed_request(rsa());
}

#[test]
fn every_request_is_signed_with_an_ec_key() {
    every_signed_request(p256());
}

/// Without a signing key, a TSB that whitelists refuses (errorCode 415); the error says what to
/// configure.
#[test]
fn an_unsigned_request_is_refused_with_a_remedy() {
    let dir = temp_dir("request-signature-missing");
    let (_, _, der) = signer(&dir, rsa());
    let cfg = EmulatorConfig {
        allowed_request_certificates: vec![der],
        ..emulator(TsbVersion::V2_2_0)
    };
    let bed = Bed::new(cfg, serde_json::json!({}));
    let plain = bed.key("plain", "p256", None);
    let e = sign(&bed.tsb, &plain).expect_err("refused");
    assert!(
        matches!(
            e,
            Error::Tsb {
                code: Some(415),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.credentials_refused());
    assert!(
        e.remedy()
            .unwrap_or_default()
            .contains("request_signing_key"),
        "{:?}",
        e.remedy()
    );
}

/// A certificate that is not the signing key's is a config error naming the field.
#[test]
fn a_certificate_of_another_key_is_a_config_error() {
    let dir = temp_dir("request-signature-config");
    let (k, _, _) = signer(&dir, rsa());
    let other = dir.join("other.pem");
    std::fs::write(&other, certificate(&rsa()).to_pem().unwrap()).unwrap();
    let text = serde_json::json!({"slots": [{
        "url": "https://tsb.example",
        "request_signing_key": k,
        "request_signing_cert": other,
    }]})
    .to_string();
    let e = Config::parse(&text, &dir.join("c.json"), &|_| None)
        .expect_err("refused")
        .to_string();
    assert!(
        e.contains("slots[0].request_signing_cert") && e.contains("not the certificate"),
        "{e}"
    );
    let junk = dir.join("junk.key");
    std::fs::write(&junk, "not a key").unwrap();
    let text = serde_json::json!({"slots": [{
        "url": "https://tsb.example",
        "request_signing_key": junk,
    }]})
    .to_string();
    let e = Config::parse(&text, &dir.join("c.json"), &|_| None)
        .expect_err("refused")
        .to_string();
    assert!(
        e.contains("slots[0].request_signing_key") && e.contains("not a PEM private key"),
        "{e}"
    );
}
