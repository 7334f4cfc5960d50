//! CSRs and certificates (OpenSSL).
//!
//! INTERFACE CONTRACT (owned by the crypto work; the server code calls only these items).

use crate::crypto::{CryptoError, KeyMaterial};
use tsb_models::StandardCertificateAttributes;

/// Build a PKCS#10 CSR, PEM with the header `-----BEGIN NEW CERTIFICATE REQUEST-----` like the
/// real TSB. Subject from every field of `subject` (CN as PrintableString where possible); an
/// extensionRequest with keyUsage (critical), extendedKeyUsage (critical) — each only when the list
/// is non-empty — and subjectKeyIdentifier. `signature_algorithm`: `SHA224/256/384/512_WITH_RSA`,
/// `SHA256/384/512_WITH_ECDSA`, `EDDSA` (and the `_PSS` RSA variants if easy). Usage names are the
/// TSB enums (`DIGITAL_SIGNATURE`, `CODE_SIGNING`, ...); a comma-joined single string is tolerated.
pub fn create_csr(
    key: &KeyMaterial,
    signature_algorithm: &str,
    subject: &StandardCertificateAttributes,
    key_usage: &[String],
    extended_key_usage: &[String],
) -> Result<String, CryptoError> {
    todo!()
}

/// Self-signed certificate, PEM `-----BEGIN CERTIFICATE-----`; subject CN = `common_name`;
/// basicConstraints CA flag (critical) when `is_ca`; key usages as above (not critical for EKU);
/// subjectKeyIdentifier and authorityKeyIdentifier; random positive 16-byte serial;
/// notBefore = now, notAfter = now + `validity_days`.
pub fn self_sign(
    key: &KeyMaterial,
    signature_algorithm: &str,
    common_name: &str,
    validity_days: u32,
    is_ca: bool,
    key_usage: &[String],
    extended_key_usage: &[String],
) -> Result<String, CryptoError> {
    todo!()
}

/// Issue a certificate for `csr_pem` (either PEM header accepted; the CSR signature is verified)
/// with the CA key. Issuer = subject of `ca_cert_pem` when given, else CN=<ca_label>. Subject = the
/// CSR's subject, with CN replaced by `common_name` when given. Extensions: basicConstraints from
/// `is_ca`, key usages from the request or else copied from the CSR's extensionRequest, SKI, AKI.
/// `openssl verify -CAfile ca.pem cert.pem` must accept it when `ca_cert_pem` is the CA's cert.
#[allow(clippy::too_many_arguments)]
pub fn issue_from_csr(
    ca_key: &KeyMaterial,
    ca_cert_pem: Option<&str>,
    ca_label: &str,
    csr_pem: &str,
    signature_algorithm: &str,
    common_name: Option<&str>,
    is_ca: bool,
    key_usage: &[String],
    extended_key_usage: &[String],
    validity_days: u32,
) -> Result<String, CryptoError> {
    todo!()
}

/// PEM -> DER for a certificate (accepts base64 DER without armour too).
pub fn certificate_to_der(cert: &str) -> Result<Vec<u8>, CryptoError> {
    todo!()
}

/// DER -> PEM `-----BEGIN CERTIFICATE-----` with 64-column lines.
pub fn certificate_der_to_pem(der: &[u8]) -> Result<String, CryptoError> {
    todo!()
}
