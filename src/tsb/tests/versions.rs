//! The TSB's version: read lazily (`GET /v1/versionInfo`, never before it is needed) or taken
//! from the config, and the behaviour it chooses: the PKCS#1 v1.5 cipher name, and the
//! certificate endpoints' algorithms.

use super::credentials::secret_file;
use super::*;
use crate::error::Error;
use cryptoki_sys::CKR_MECHANISM_INVALID;
use tsb_emulator::Role;

const VERSION: &str = "/v1/versionInfo";

#[test]
fn the_version_is_read_once_and_only_when_needed() {
    let bed = Bed::new(emulator(TsbVersion::V2_1_1), serde_json::json!({}));
    assert_eq!(bed.count("GET", VERSION), 0, "read before it was needed");
    assert_eq!(bed.tsb.version(), Some(TsbVersion::V2_1_1));
    assert_eq!(bed.tsb.version(), Some(TsbVersion::V2_1_1));
    assert_eq!(bed.count("GET", VERSION), 1);
    // Configured: never asked.
    let configured = facade(
        &bed.dir,
        &bed.emu.base_url(),
        serde_json::json!({"tsb_version": "2.0.1"}),
    );
    assert_eq!(configured.version(), Some(TsbVersion::V2_0_1));
    assert_eq!(bed.count("GET", VERSION), 1);
}

/// With API keys but none for `serviceToken` the TSB would refuse the read: not asked, unknown.
#[test]
fn without_a_service_key_the_version_is_unknown() {
    let dir = temp_dir("version-keys");
    let cfg = EmulatorConfig {
        api_keys: vec![
            (Role::KeyOperation, "k".into()),
            (Role::Service, "s".into()),
        ],
        ..emulator(TsbVersion::V2_2_0)
    };
    let bed = Bed::new(
        cfg,
        serde_json::json!({"api_keys": {"keyOperationToken": secret_file(&dir, "k", "k")}}),
    );
    assert_eq!(bed.tsb.version(), None);
    assert_eq!(bed.count("GET", VERSION), 0);
    let with_service = facade(
        &dir,
        &bed.emu.base_url(),
        serde_json::json!({"api_keys": {
            "keyOperationToken": secret_file(&dir, "k", "k"),
            "serviceToken": secret_file(&dir, "s", "s"),
        }}),
    );
    assert_eq!(with_service.version(), Some(TsbVersion::V2_2_0));
}

fn rsa_ciphertext(key: &KeyInfo, plain: &[u8]) -> Vec<u8> {
    let p = openssl::pkey::PKey::public_key_from_der(&key.spki).unwrap();
    let rsa = p.rsa().unwrap();
    let mut ct = vec![0u8; rsa.size() as usize];
    let n = rsa
        .public_encrypt(plain, &mut ct, openssl::rsa::Padding::PKCS1)
        .unwrap();
    ct.truncate(n);
    ct
}

/// PKCS#1 v1.5 decryption is `RSA_PADDING_PKCS` from 2.2.0 and `RSA` before (the name does not
/// exist there): a facade that believes the TSB is 2.2.0 sends the new name, which a 2.1.1 TSB
/// refuses; the version read from the TSB picks the right one.
#[test]
fn the_pkcs1_cipher_name_follows_the_version() {
    for v in [TsbVersion::V2_1_1, TsbVersion::V2_2_0] {
        let bed = Bed::new(emulator(v), serde_json::json!({}));
        let key = bed.key("rsa", "rsa", None);
        let ct = rsa_ciphertext(&key, b"secret");
        let (r, _) = as_caller(|c| bed.tsb.decrypt(&key, "RSA", &ct, c));
        assert_eq!(r.expect("decrypted"), b"secret", "{v}");
    }
    let bed = Bed::new(emulator(TsbVersion::V2_1_1), serde_json::json!({}));
    let key = bed.key("rsa", "rsa", None);
    let wrong = facade(
        &bed.dir,
        &bed.emu.base_url(),
        serde_json::json!({"tsb_version": "2.2.0"}),
    );
    let ct = rsa_ciphertext(&key, b"secret");
    let (r, _) = as_caller(|c| wrong.decrypt(&key, "RSA", &ct, c));
    let e = r.expect_err("RSA_PADDING_PKCS is unknown to 2.1.1");
    assert!(e.to_string().contains("RSA_PADDING_PKCS"), "{e}");
    // An unknown algorithm name is a mechanism the TSB does not do.
    assert_eq!(e.rv(), CKR_MECHANISM_INVALID);
}

/// `EDDSA` is no certificate algorithm up to 2.2.0 (S3 `KeytoolSignatureAlgorithm`): an Ed25519
/// CSR goes through the asynchronous endpoint, which takes every `SignatureAlgorithm` (and for a
/// key without approvals executes at once); a self-signed certificate is refused before
/// anything is sent. The newer DTOs (2.3.0, unconfirmed) take it synchronously.
#[test]
fn ed25519_certificates_per_version() {
    for v in [TsbVersion::V1_18_0, TsbVersion::V2_2_0, TsbVersion::V2_3_0] {
        let bed = Bed::new(emulator(v), serde_json::json!({}));
        let key = bed.key("ed", "ed", None);
        let (csr, _) = as_caller(|c| bed.tsb.csr(&key, &csr_request("ed", "EDDSA"), c));
        assert!(csr.expect("CSR").contains("CERTIFICATE REQUEST"), "{v}");
        let asynchronous = bed.count("POST", "/v1/certificate/request");
        let synchronous = bed.count("POST", "/v1/certificate/synchronous/request");
        if v.has_newer_certificate_dtos() {
            assert_eq!((synchronous, asynchronous), (1, 0), "{v}");
        } else {
            assert_eq!((synchronous, asynchronous), (0, 1), "{v}");
        }
        let req = tsb_models::SelfSignRequest {
            sign_key_name: "ed".into(),
            signature_algorithm: "EDDSA".into(),
            common_name: "ed".into(),
            validity: Some(30),
            ..Default::default()
        };
        let (r, _) = as_caller(|c| bed.tsb.self_sign(&key, &req, c));
        if v.has_newer_certificate_dtos() {
            r.expect("self-signed");
        } else {
            let e = r.expect_err("refused");
            assert!(matches!(e, Error::Unsupported(_)), "{v}: {e:?}");
            assert_eq!(e.rv(), CKR_MECHANISM_INVALID);
            assert_eq!(
                bed.count("POST", "/v1/certificate/synchronous/selfsign"),
                0,
                "{v}"
            );
        }
    }
}
