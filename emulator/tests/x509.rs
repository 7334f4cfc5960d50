//! CSRs and certificates, checked with the `openssl` command line tool.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use tsb_emulator::crypto::{CryptoError, Curve, KeyMaterial, KeySpec};
use tsb_emulator::x509::{
    certificate_der_to_pem, certificate_to_der, create_csr, issue_from_csr, self_sign,
};
use tsb_models::StandardCertificateAttributes;

/// The CSR the real TSB returned for the seed's request (fixtures/request-status-executed.json).
const SEED_CSR: &str = "-----BEGIN NEW CERTIFICATE REQUEST-----
MIICwTCCAakCAQAwJDEiMCAGA1UEAxMZQXBwcm92ZXItSW50ZXJtZWRpYXRlLVNV
QjCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBANjDXt9f/RiTP/RTATm7
hTdx2/js6jKvyl7n2vGgAqTnf7CYgcMJxgAhDMxBp3DTxNGuX8xzmC+8Qa0h273w
xhk63lYnX4eZQ71Rj2JJgbMN3mkZBKk+B6u3SOzBrm9t6K6KRsrW9mkc+1VQhbq3
WgPKJj0idq6T7DJd5c2fHnSglCF9dqUoG1WmjZ+QHXDjX6taSONFDP4u62WJmrfg
852P4QY1DN4+ztPJdzi1ntwTFU5bmMsth+xAQwH0RlSfvYzntuaDlomMLw2d+Unf
IdGaOmLGexzRAWR8cvcHE0izabFTN4zM1Swwg+memtqI2JlPpIU9YVSYOsGJwruJ
17ECAwEAAaBYMFYGCSqGSIb3DQEJDjFJMEcwFgYDVR0lAQH/BAwwCgYIKwYBBQUH
AwMwDgYDVR0PAQH/BAQDAgeAMB0GA1UdDgQWBBRVQ31xCrWXfYZuBDzpZNVGn4S7
yTANBgkqhkiG9w0BAQsFAAOCAQEAaeZMIUZfiiMKctVSxAxngTS6DdCHYPPArXsy
uFnpaeBxAk4AegAMf3SVsVFUQX7VFfSwh/sK5Hq6n2ARXiBHqFp7FlDGA8piCq+L
DhJ7gj0ZEmnrJrdpzHgwF9kEzwscXlev41SNDyANbIglZpXhALNmPZBzeG9Lu6Q7
9/XDKHkR6b1Klk/V6VPpoWjEqGdIxGg7t6DW2QolRoFdvu5qSB646mRPcmGqgblU
2kGTS294C9ZhjnZsc6YUP+5/sP9CNCPuZtAgHrP+t52EC7rAk1jRc+XGUp86pXDV
1nMrBAEQldIqCzXtYhSZKHgHEmi7M719tu+dFnSAVuXZxbfL2g==
-----END NEW CERTIFICATE REQUEST-----
";

fn rsa_key() -> &'static KeyMaterial {
    static K: OnceLock<KeyMaterial> = OnceLock::new();
    K.get_or_init(|| KeyMaterial::generate(KeySpec::Rsa(2048)).unwrap())
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// A fresh per-test directory (no tempfile dependency), removed when the guard drops.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("tsb-emulator-x509-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

fn write(d: &Path, name: &str, content: &str) -> String {
    let p = d.join(name);
    std::fs::write(&p, content).unwrap();
    p.to_string_lossy().into_owned()
}

/// Run `openssl args...`; returns (success, stdout + stderr).
fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl CLI");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `openssl asn1parse` with the hex dumps (the SKI, which differs per key) removed: two CSRs
/// of the same shape (same key size, subject and extensions) then compare equal, offsets and
/// lengths included.
fn asn1_shape(path: &str) -> Vec<String> {
    let (ok, text) = openssl(&["asn1parse", "-in", path]);
    assert!(ok, "{text}");
    text.lines()
        .map(|l| {
            l.split("[HEX DUMP]")
                .next()
                .unwrap_or("")
                .trim_end()
                .to_string()
        })
        .collect()
}

#[test]
fn csr_for_the_seed_request_has_the_seed_structure() {
    let d = dir("seed");
    let subject = StandardCertificateAttributes {
        common_name: "Approver-Intermediate-SUB".into(),
        ..Default::default()
    };
    let pem = create_csr(
        rsa_key(),
        "SHA256_WITH_RSA",
        &subject,
        &s(&["DIGITAL_SIGNATURE"]),
        &s(&["CODE_SIGNING"]),
    )
    .unwrap();
    assert!(
        pem.starts_with("-----BEGIN NEW CERTIFICATE REQUEST-----\n"),
        "{pem}"
    );
    assert!(
        pem.trim_end()
            .ends_with("-----END NEW CERTIFICATE REQUEST-----"),
        "{pem}"
    );
    let ours = write(&d, "ours.pem", &pem);
    let seed = write(&d, "seed.pem", SEED_CSR);

    let (ok, text) = openssl(&["req", "-verify", "-in", &ours, "-noout"]);
    assert!(ok, "{text}");
    assert_eq!(asn1_shape(&ours), asn1_shape(&seed));

    let (ok, text) = openssl(&["req", "-in", &ours, "-noout", "-text"]);
    assert!(ok, "{text}");
    for needle in [
        "Version: 1 (0x0)",
        "Subject: CN = Approver-Intermediate-SUB",
        "X509v3 Extended Key Usage: critical",
        "Code Signing",
        "X509v3 Key Usage: critical",
        "Digital Signature",
        "X509v3 Subject Key Identifier",
        "Signature Algorithm: sha256WithRSAEncryption",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn csr_with_every_subject_field_and_usage() {
    let d = dir("full");
    let subject = StandardCertificateAttributes {
        common_name: "Full Name Ünïcode".into(),
        country: Some("CH".into()),
        state_or_province_name: Some("Zurich".into()),
        locality: Some("Zurich".into()),
        organization_name: Some("Securosys SA".into()),
        organization_unit_name: Some("Dev".into()),
        email: Some("dev@example.com".into()),
        title: Some("Engineer".into()),
        surname: Some("Muster".into()),
        given_name: Some("Max".into()),
        initials: Some("MM".into()),
        pseudonym: Some("maxi".into()),
        generation_qualifier: Some("Jr".into()),
        organization_identifier: Some("VATCH-123456789".into()),
    };
    let ku = s(&[
        "DIGITAL_SIGNATURE,CONTENT_COMMITMENT",
        "KEY_ENCIPHERMENT",
        "DATA_ENCIPHERMENT",
        "KEY_AGREEMENT",
        "KEY_CERT_SIGN",
        "CRL_SIGN",
        "ENCIPHER_ONLY",
        "DECIPHER_ONLY",
    ]);
    let eku = s(&[
        "ANY_EXTENDED_KEY_USAGE,SERVER_AUTH",
        "CLIENT_AUTH",
        "CODE_SIGNING",
        "EMAIL_PROTECTION",
        "TIME_STAMPING",
        "OCSP_SIGNING",
    ]);
    let key = KeyMaterial::generate(KeySpec::Ec(Curve::P384)).unwrap();
    let pem = create_csr(&key, "SHA384_WITH_ECDSA", &subject, &ku, &eku).unwrap();
    let path = write(&d, "full.pem", &pem);
    let (ok, text) = openssl(&[
        "req",
        "-verify",
        "-in",
        &path,
        "-noout",
        "-text",
        "-nameopt",
        "RFC2253,-esc_msb",
    ]);
    assert!(ok, "{text}");
    for needle in [
        "C=CH",
        "ST=Zurich",
        "L=Zurich",
        "O=Securosys SA",
        "OU=Dev",
        "emailAddress=dev@example.com",
        "title=Engineer",
        "SN=Muster",
        "GN=Max",
        "initials=MM",
        "pseudonym=maxi",
        "generationQualifier=Jr",
        "organizationIdentifier=VATCH-123456789",
        "CN=Full Name Ünïcode",
        "Digital Signature, Non Repudiation, Key Encipherment, Data Encipherment, Key Agreement, Certificate Sign, CRL Sign, Encipher Only, Decipher Only",
        "Any Extended Key Usage, TLS Web Server Authentication, TLS Web Client Authentication, Code Signing, E-mail Protection, Time Stamping, OCSP Signing",
        "ecdsa-with-SHA384",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    // RDN order: most significant first, CN then emailAddress last.
    let (ok, subj) = openssl(&[
        "req",
        "-in",
        &path,
        "-noout",
        "-subject",
        "-nameopt",
        "sep_comma_plus_space,sname,utf8",
    ]);
    assert!(ok, "{subj}");
    let order: Vec<&str> = subj
        .trim()
        .trim_start_matches("subject=")
        .split(", ")
        .map(|rdn| rdn.split('=').next().unwrap_or(""))
        .collect();
    assert_eq!(
        order,
        [
            "C",
            "ST",
            "L",
            "O",
            "organizationIdentifier",
            "OU",
            "title",
            "SN",
            "GN",
            "initials",
            "generationQualifier",
            "pseudonym",
            "CN",
            "emailAddress"
        ],
        "{subj}"
    );
    // The CN with non-PrintableString characters is a UTF8String, the ASCII ones PrintableString.
    let (_, dump) = openssl(&["asn1parse", "-in", &path]);
    assert!(dump.contains("UTF8STRING        :Full Name"), "{dump}");
    assert!(dump.contains("PRINTABLESTRING   :CH"), "{dump}");
    assert!(
        dump.contains("IA5STRING         :dev@example.com"),
        "{dump}"
    );

    // Without usages there is only the SKI.
    let pem = create_csr(&key, "SHA256_WITH_ECDSA", &subject, &[], &[]).unwrap();
    let path = write(&d, "bare.pem", &pem);
    let (ok, text) = openssl(&["req", "-verify", "-in", &path, "-noout", "-text"]);
    assert!(ok, "{text}");
    assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
    assert!(!text.contains("Key Usage"), "{text}");
}

#[test]
fn csr_errors() {
    let subject = StandardCertificateAttributes {
        common_name: "x".into(),
        ..Default::default()
    };
    let k = rsa_key();
    let ec = KeyMaterial::generate(KeySpec::Ec(Curve::P256)).unwrap();
    assert!(matches!(
        create_csr(
            k,
            "SHA256_WITH_RSA",
            &subject,
            &s(&["SIGN_EVERYTHING"]),
            &[]
        ),
        Err(CryptoError::InvalidPayload(_))
    ));
    assert!(matches!(
        create_csr(
            k,
            "SHA256_WITH_RSA",
            &subject,
            &[],
            &s(&["CODE_SIGNING,BOGUS"])
        ),
        Err(CryptoError::InvalidPayload(_))
    ));
    assert!(matches!(
        create_csr(k, "SHA256_WITH_ECDSA", &subject, &[], &[]),
        Err(CryptoError::AlgorithmNotSupportedByKey(_))
    ));
    assert!(matches!(
        create_csr(&ec, "SHA256_WITH_RSA", &subject, &[], &[]),
        Err(CryptoError::AlgorithmNotSupportedByKey(_))
    ));
    assert!(matches!(
        create_csr(k, "MD5_WITH_RSA", &subject, &[], &[]),
        Err(CryptoError::AlgorithmNotSupportedByKey(_))
    ));
}

#[test]
fn eddsa_and_ecdsa_csrs_verify() {
    let d = dir("algs");
    let subject = StandardCertificateAttributes {
        common_name: "algs".into(),
        ..Default::default()
    };
    let ed = KeyMaterial::generate(KeySpec::Ed25519).unwrap();
    let p256 = KeyMaterial::generate(KeySpec::Ec(Curve::P256)).unwrap();
    let p521 = KeyMaterial::generate(KeySpec::Ec(Curve::P521)).unwrap();
    for (i, (key, alg, shown)) in [
        (&ed, "EDDSA", "ED25519"),
        (&p256, "SHA256_WITH_ECDSA", "ecdsa-with-SHA256"),
        (&p521, "SHA512_WITH_ECDSA", "ecdsa-with-SHA512"),
        (rsa_key(), "SHA224_WITH_RSA", "sha224WithRSAEncryption"),
        (rsa_key(), "SHA384_WITH_RSA", "sha384WithRSAEncryption"),
        (rsa_key(), "SHA512_WITH_RSA", "sha512WithRSAEncryption"),
    ]
    .into_iter()
    .enumerate()
    {
        let pem = create_csr(key, alg, &subject, &s(&["DIGITAL_SIGNATURE"]), &[]).unwrap();
        let path = write(&d, &format!("{i}.pem"), &pem);
        let (ok, text) = openssl(&["req", "-verify", "-in", &path, "-noout", "-text"]);
        assert!(ok, "{alg}: {text}");
        assert!(text.contains(shown), "{alg}: {text}");
    }
}

#[test]
fn self_signed_ca_issues_a_chain_that_openssl_verifies() {
    let d = dir("chain");
    // Root: RSA, self-signed CA.
    let root_key = rsa_key();
    let root = self_sign(
        root_key,
        "SHA256_WITH_RSA",
        "Emulator Root CA",
        3650,
        true,
        &s(&["KEY_CERT_SIGN", "CRL_SIGN"]),
        &[],
    )
    .unwrap();
    assert!(root.starts_with("-----BEGIN CERTIFICATE-----\n"));
    let root_path = write(&d, "root.pem", &root);
    let (ok, text) = openssl(&["verify", "-CAfile", &root_path, &root_path]);
    assert!(ok, "{text}");
    let (ok, text) = openssl(&["x509", "-in", &root_path, "-noout", "-text"]);
    assert!(ok, "{text}");
    for needle in [
        "Version: 3 (0x2)",
        "Subject: CN = Emulator Root CA",
        "Issuer: CN = Emulator Root CA",
        "X509v3 Basic Constraints: critical",
        "CA:TRUE",
        "X509v3 Key Usage: critical",
        "Certificate Sign, CRL Sign",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let (_, serial) = openssl(&["x509", "-in", &root_path, "-noout", "-serial"]);
    let serial = serial.trim().trim_start_matches("serial=");
    assert_eq!(serial.len(), 32, "{serial}");
    assert!(u8::from_str_radix(&serial[..2], 16).unwrap() < 0x80);

    // Intermediate: EC P-256, CA issued from its CSR by the root.
    let inter_key = KeyMaterial::generate(KeySpec::Ec(Curve::P256)).unwrap();
    let inter_subject = StandardCertificateAttributes {
        common_name: "ignored".into(),
        organization_name: Some("Emulator".into()),
        country: Some("CH".into()),
        ..Default::default()
    };
    let inter_csr = create_csr(&inter_key, "SHA256_WITH_ECDSA", &inter_subject, &[], &[]).unwrap();
    let inter = issue_from_csr(
        root_key,
        Some(&root),
        "root",
        &inter_csr,
        "SHA384_WITH_RSA",
        Some("Emulator Intermediate CA"),
        true,
        &s(&["KEY_CERT_SIGN,CRL_SIGN"]),
        &[],
        1825,
    )
    .unwrap();
    let inter_path = write(&d, "inter.pem", &inter);
    let (ok, text) = openssl(&["verify", "-CAfile", &root_path, &inter_path]);
    assert!(ok, "{text}");
    let (_, text) = openssl(&["x509", "-in", &inter_path, "-noout", "-text"]);
    for needle in [
        "Subject: C = CH, O = Emulator, CN = Emulator Intermediate CA",
        "Issuer: CN = Emulator Root CA",
        "CA:TRUE",
        "X509v3 Authority Key Identifier",
        "sha384WithRSAEncryption",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }

    // Leaf: Ed25519, usages requested in the CSR only (copied), issued by the intermediate.
    let leaf_key = KeyMaterial::generate(KeySpec::Ed25519).unwrap();
    let leaf_subject = StandardCertificateAttributes {
        common_name: "Leaf".into(),
        ..Default::default()
    };
    let leaf_csr = create_csr(
        &leaf_key,
        "EDDSA",
        &leaf_subject,
        &s(&["DIGITAL_SIGNATURE"]),
        &s(&["CODE_SIGNING"]),
    )
    .unwrap();
    let leaf = issue_from_csr(
        &inter_key,
        Some(&inter),
        "inter",
        &leaf_csr,
        "SHA256_WITH_ECDSA",
        None,
        false,
        &[],
        &[],
        365,
    )
    .unwrap();
    let leaf_path = write(&d, "leaf.pem", &leaf);
    let (ok, text) = openssl(&[
        "verify",
        "-CAfile",
        &root_path,
        "-untrusted",
        &inter_path,
        &leaf_path,
    ]);
    assert!(ok, "{text}");
    // Without the intermediate the chain is incomplete.
    let (ok, _) = openssl(&["verify", "-CAfile", &root_path, &leaf_path]);
    assert!(!ok);
    let (_, text) = openssl(&["x509", "-in", &leaf_path, "-noout", "-text"]);
    for needle in [
        "Subject: CN = Leaf",
        "Issuer: C = CH, O = Emulator, CN = Emulator Intermediate CA",
        "X509v3 Extended Key Usage: critical",
        "Code Signing",
        "X509v3 Key Usage: critical",
        "Digital Signature",
        "X509v3 Authority Key Identifier",
        "ED25519",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(!text.contains("CA:TRUE"), "{text}");

    // The seed's own CSR is accepted as well (either armour).
    let seed_cert = issue_from_csr(
        root_key,
        Some(&root),
        "root",
        SEED_CSR,
        "SHA256_WITH_RSA",
        None,
        false,
        &[],
        &s(&["TIME_STAMPING"]),
        30,
    )
    .unwrap();
    let seed_path = write(&d, "seed.pem", &seed_cert);
    let (ok, text) = openssl(&["verify", "-CAfile", &root_path, &seed_path]);
    assert!(ok, "{text}");
    let (_, text) = openssl(&["x509", "-in", &seed_path, "-noout", "-text"]);
    assert!(
        text.contains("Subject: CN = Approver-Intermediate-SUB"),
        "{text}"
    );
    assert!(
        text.contains("Time Stamping") && !text.contains("Code Signing"),
        "{text}"
    );
    assert!(text.contains("Digital Signature"), "{text}");
    let plain = SEED_CSR.replace("NEW CERTIFICATE REQUEST", "CERTIFICATE REQUEST");
    assert!(issue_from_csr(
        root_key,
        Some(&root),
        "root",
        &plain,
        "SHA256_WITH_RSA",
        None,
        false,
        &[],
        &[],
        30
    )
    .is_ok());
}

#[test]
fn issue_without_ca_certificate_and_bad_csrs() {
    let d = dir("nocert");
    let ca = KeyMaterial::generate(KeySpec::Ec(Curve::P256)).unwrap();
    let subject = StandardCertificateAttributes {
        common_name: "client".into(),
        ..Default::default()
    };
    let csr = create_csr(rsa_key(), "SHA256_WITH_RSA", &subject, &[], &[]).unwrap();
    let cert = issue_from_csr(
        &ca,
        None,
        "my-ca-key",
        &csr,
        "SHA256_WITH_ECDSA",
        None,
        false,
        &[],
        &[],
        10,
    )
    .unwrap();
    let path = write(&d, "c.pem", &cert);
    let (ok, text) = openssl(&["x509", "-in", &path, "-noout", "-text"]);
    assert!(ok, "{text}");
    assert!(text.contains("Issuer: CN = my-ca-key"), "{text}");
    // Valid for 10 days from now: still valid in 9, expired in 11.
    let (ok, text) = openssl(&[
        "x509",
        "-in",
        &path,
        "-noout",
        "-checkend",
        &(9 * 86_400).to_string(),
    ]);
    assert!(ok, "{text}");
    let (ok, _) = openssl(&[
        "x509",
        "-in",
        &path,
        "-noout",
        "-checkend",
        &(11 * 86_400).to_string(),
    ]);
    assert!(!ok);

    // A CSR whose signature was tampered with.
    let body: String = csr.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = openssl::base64::decode_block(&body).unwrap();
    let n = der.len();
    der[n - 5] ^= 0x01;
    let bad = format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        openssl::base64::encode_block(&der)
    );
    assert!(matches!(
        issue_from_csr(
            &ca,
            None,
            "ca",
            &bad,
            "SHA256_WITH_ECDSA",
            None,
            false,
            &[],
            &[],
            10
        ),
        Err(CryptoError::InvalidCsr(_))
    ));
    assert!(matches!(
        issue_from_csr(
            &ca,
            None,
            "ca",
            "not a csr",
            "SHA256_WITH_ECDSA",
            None,
            false,
            &[],
            &[],
            10
        ),
        Err(CryptoError::InvalidCsr(_))
    ));
    // Bare base64 DER is accepted.
    assert!(issue_from_csr(
        &ca,
        None,
        "ca",
        &body,
        "SHA256_WITH_ECDSA",
        None,
        false,
        &[],
        &[],
        10
    )
    .is_ok());
    // A CA certificate of another key.
    let other = self_sign(rsa_key(), "SHA256_WITH_RSA", "other", 1, true, &[], &[]).unwrap();
    assert!(matches!(
        issue_from_csr(
            &ca,
            Some(&other),
            "ca",
            &csr,
            "SHA256_WITH_ECDSA",
            None,
            false,
            &[],
            &[],
            10
        ),
        Err(CryptoError::InvalidPayload(_))
    ));
    assert!(matches!(
        issue_from_csr(
            &ca,
            Some("garbage"),
            "ca",
            &csr,
            "SHA256_WITH_ECDSA",
            None,
            false,
            &[],
            &[],
            10
        ),
        Err(CryptoError::InvalidPayload(_))
    ));
}

#[test]
fn pem_der_conversions() {
    let pem = self_sign(
        rsa_key(),
        "SHA256_WITH_RSA",
        "conv",
        1,
        false,
        &[],
        &s(&["SERVER_AUTH"]),
    )
    .unwrap();
    let der = certificate_to_der(&pem).unwrap();
    assert_eq!(der[0], 0x30);
    assert_eq!(certificate_der_to_pem(&der).unwrap(), pem);
    let b64 = openssl::base64::encode_block(&der);
    assert_eq!(certificate_to_der(&b64).unwrap(), der);
    for line in pem.lines() {
        assert!(line.len() <= 64, "{line}");
    }
    assert!(matches!(
        certificate_to_der("garbage!"),
        Err(CryptoError::InvalidPayload(_))
    ));
    assert!(matches!(
        certificate_der_to_pem(b"\x30\x00"),
        Err(CryptoError::InvalidPayload(_))
    ));
}
