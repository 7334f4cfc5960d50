//! Certificates: CSRs, self-signed certificates, issuing from a CSR, import. Sources: S3
//! `dto/tsb/request/{CsrSignRequestDto,SelfSignCertificateRequestDto,
//! SignCertificateRequestDto,CertificateImportDto}.java` and their `Synchronous*`/`Signed*`
//! envelopes; S1 `certs.go`; S2 `tsb/Tutorials/Certificate/**` and the seed's bodies
//! (`tests/fixtures/csr-*.json`).

use crate::keys::Password;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `KeyUsage` enum of certificate requests (S3 `enums/tsb/KeyUsage.java`, S1
/// `helpers/consts.go` `SUPPORTED_KEY_USAGE`).
pub const KEY_USAGES: [&str; 9] = [
    "DIGITAL_SIGNATURE",
    "CONTENT_COMMITMENT",
    "KEY_ENCIPHERMENT",
    "DATA_ENCIPHERMENT",
    "KEY_AGREEMENT",
    "KEY_CERT_SIGN",
    "CRL_SIGN",
    "ENCIPHER_ONLY",
    "DECIPHER_ONLY",
];

/// The `ExtendedKeyUsage` enum of certificate requests (S3 `enums/tsb/ExtendedKeyUsage.java`,
/// S1 `SUPPORTED_EXTENDED_KEY_USAGE`).
pub const EXTENDED_KEY_USAGES: [&str; 7] = [
    "ANY_EXTENDED_KEY_USAGE",
    "SERVER_AUTH",
    "CLIENT_AUTH",
    "CODE_SIGNING",
    "EMAIL_PROTECTION",
    "TIME_STAMPING",
    "OCSP_SIGNING",
];

/// Subject fields of a CSR (`standardCertificateAttributes`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct StandardCertificateAttributes {
    pub common_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_or_province_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_unit_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initials: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonym: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_qualifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_identifier: Option<String>,
}

/// CSR request: the body of `POST /v1/certificate/synchronous/request`, and the `csrSignRequest`
/// of `POST /v1/certificate/request`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct CsrRequest {
    pub sign_key_name: String,
    #[serde(default)]
    pub key_password: Option<Password>,
    pub signature_algorithm: String,
    /// Days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<u32>,
    pub standard_certificate_attributes: StandardCertificateAttributes,
    #[serde(default)]
    pub key_usage: Vec<String>,
    #[serde(default)]
    pub extended_key_usage: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data_signature: Option<String>,
}

/// Body of `POST /v1/certificate/request`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CsrEnvelope {
    /// The request.
    pub csr_sign_request: CsrRequest,
    /// Optional application signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_signature: Option<Value>,
}

/// `{label, certificateSigningRequest}` from the synchronous CSR endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CsrResponse {
    /// Key name.
    pub label: String,
    /// PEM `NEW CERTIFICATE REQUEST`.
    pub certificate_signing_request: String,
}

/// Self-signed certificate request (`/v1/certificate/synchronous/selfsign`, and the
/// `selfSignCertificateRequest` of `/v1/certificate/selfsign`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct SelfSignRequest {
    pub sign_key_name: String,
    #[serde(default)]
    pub key_password: Option<Password>,
    /// Days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<u32>,
    pub signature_algorithm: String,
    pub common_name: String,
    #[serde(default)]
    pub certificate_authority: bool,
    #[serde(default)]
    pub key_usage: Vec<String>,
    #[serde(default)]
    pub extended_key_usage: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data_signature: Option<String>,
}

/// Body of `POST /v1/certificate/selfsign`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelfSignEnvelope {
    /// The request.
    pub self_sign_certificate_request: SelfSignRequest,
    /// Optional application signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_signature: Option<Value>,
}

/// Issue a certificate from a CSR with a CA key (`/v1/certificate/synchronous/sign`, and the
/// `signCertificateRequest` of `/v1/certificate/sign`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct SignCertificateRequest {
    /// The CA key.
    pub sign_key_name: String,
    #[serde(default)]
    pub key_password: Option<Password>,
    pub signature_algorithm: String,
    /// Subject CN of the issued certificate; the CSR's subject is used when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    #[serde(default)]
    pub certificate_authority: bool,
    /// PEM CSR.
    pub certificate_signing_request: String,
    #[serde(default)]
    pub key_usage: Vec<String>,
    #[serde(default)]
    pub extended_key_usage: Vec<String>,
    /// Days. Not a field of the public DTO; an extension the emulator and module use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data_signature: Option<String>,
}

/// Body of `POST /v1/certificate/sign`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignCertificateEnvelope {
    /// The request.
    pub sign_certificate_request: SignCertificateRequest,
    /// Optional application signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_signature: Option<Value>,
}

/// `{label, certificate}`: certificate responses, and the body of `POST /v1/certificate/import/plain`
/// (where `certificate` is base64 DER without PEM armour; responses carry PEM).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CertificateBody {
    /// Key name.
    pub label: String,
    /// The certificate.
    pub certificate: String,
}
