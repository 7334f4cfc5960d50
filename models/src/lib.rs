//! Serde models of the Securosys Transaction Security Broker (TSB) REST API.
//!
//! One source of truth for the JSON that crosses the wire: the PKCS#11 module (client), the
//! `tsb-emulator` (server) and `tsb-approve` (approver client) all use these types, and the tests feed
//! the real bodies from the seed (`shared/fixtures/`) through them so a field name that both sides got
//! wrong is caught. Field names follow the public TSB DTOs (camelCase). Optional fields are skipped
//! when absent so that requests look like the ones Securosys' own clients send.

#![warn(missing_docs)]

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Error body of the TSB (`ReasonBasedExceptionDto`): `{errorCode, reason, message}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Numeric business error code, e.g. 650 for an unknown key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    /// Symbolic reason, e.g. `res.error.key.not.existent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A key or approval password. The TSB DTOs declare it as `char[]`, which Jackson writes as an
/// array of one-character strings (`["a","b"]`) and also reads from a plain string; both are
/// accepted here, and it is always written as the array form the official clients use.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    // Never print a secret, not even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Serialize for Password {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let chars: Vec<String> = self.0.chars().map(|c| c.to_string()).collect();
        chars.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Chars(Vec<String>),
        }
        Ok(match Repr::deserialize(d)? {
            Repr::Text(s) => Password(s),
            Repr::Chars(v) => Password(v.concat()),
        })
    }
}

/// Boolean key attributes (`AttributesDto` in requests, and the `attributes` of `KeyAttributes`).
/// Every flag is optional because requests send only some of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct KeyFlags {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decrypt: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unwrap: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bip32: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slip10: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extractable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modifiable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroyable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copyable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_sensitive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub never_extractable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eka_sign: Option<bool>,
}

/// Smart Key Attributes policy (`PolicyDto`). `policy: null` on a key means a plain key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Rule that gates every use of the key (sign, decrypt, CSR, certificates).
    #[serde(default)]
    pub rule_use: Option<Rule>,
    /// Rule that gates blocking the key.
    #[serde(default)]
    pub rule_block: Option<Rule>,
    /// Rule that gates unblocking the key.
    #[serde(default)]
    pub rule_unblock: Option<Rule>,
    /// Rule that gates modifying the policy.
    #[serde(default)]
    pub rule_modify: Option<Rule>,
    /// Whether the key is blocked (required by the TSB on create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_status: Option<KeyStatus>,
}

/// `keyStatus` of a policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyStatus {
    /// A blocked key refuses every use.
    #[serde(default)]
    pub blocked: bool,
}

/// A rule: its tokens are OR-ed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Alternatives; any one satisfied token satisfies the rule.
    #[serde(default)]
    pub tokens: Vec<Token>,
}

/// A token: its groups are AND-ed; `timelock` and `timeout` are seconds from request creation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Seconds after creation before approvals take effect (multiple of 60, 0 = none).
    #[serde(default)]
    pub timelock: u64,
    /// Seconds after creation when the request expires (multiple of 60, 0 = never).
    #[serde(default)]
    pub timeout: u64,
    /// Groups, all of which must reach their quorum.
    #[serde(default)]
    pub groups: Option<Vec<Group>>,
}

/// A group of approvers with a quorum.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Approvals needed from this group.
    #[serde(default)]
    pub quorum: u32,
    /// The approvers.
    #[serde(default)]
    pub approvals: Vec<Approval>,
}

/// One approver in a group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// `public_key`, `certificate` or `onboarded_approver_certificate`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Display name of the approver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Base64 DER SubjectPublicKeyInfo (`public_key`) or X.509 certificate (`certificate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `POST /v1/key` body (`CreateKeyDto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateKeyRequest {
    /// Unique key name.
    pub label: String,
    /// Optional key id (kept for PKCS#11 CKA_ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Optional key password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Password>,
    /// `RSA`, `EC`, `ED`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// Alternative to `algorithm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm_oid: Option<String>,
    /// Curve OID for EC and ED keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curve_oid: Option<String>,
    /// RSA modulus bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_size: Option<u32>,
    /// Key attributes.
    #[serde(default)]
    pub attributes: KeyFlags,
    /// SKA policy, or absent/null for a plain key.
    #[serde(default)]
    pub policy: Option<Policy>,
}

/// `json` part of SignedKeyAttributes (`KeyAttributesDto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct KeyAttributes {
    pub label: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub algorithm: Option<String>,
    #[serde(default)]
    pub algorithm_oid: Option<String>,
    #[serde(default)]
    pub curve_oid: Option<String>,
    #[serde(default)]
    pub key_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_usage_count: Option<u64>,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attest_time: Option<String>,
    /// Base64 DER SubjectPublicKeyInfo.
    #[serde(default)]
    pub public_key: Option<String>,
    #[serde(default)]
    pub attributes: KeyFlags,
    #[serde(default)]
    pub policy: Option<Policy>,
}

/// Response of `POST /v1/key` and `POST /v1/key/attributes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedKeyAttributes {
    /// XML form signed by the HSM (an emulator may emit a reduced form).
    #[serde(default)]
    pub xml: Option<String>,
    /// The attributes.
    pub json: KeyAttributes,
    /// Signature over `xml`.
    #[serde(default)]
    pub xml_signature: Option<String>,
    /// Name of the attestation key.
    #[serde(default)]
    pub attestation_key_name: Option<String>,
}

/// `{label, password}` body of `POST /v1/key/attributes` and `POST /v1/key/deleteKey`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyLabelRequest {
    /// Key name.
    pub label: String,
    /// Key password, if the key has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Password>,
}

/// Inner object of `POST /v1/synchronousSign` and `POST /v1/sign`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct SignRequest {
    /// Base64 data (or digest for NONE* algorithms).
    pub payload: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_type: Option<String>,
    pub sign_key_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_password: Option<Password>,
    pub signature_algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data_signature: Option<String>,
}

/// Body of the sign endpoints: `{"signRequest": {...}, "requestSignature": ...}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignEnvelope {
    /// The request.
    pub sign_request: SignRequest,
    /// Optional application signature over the request (relayed, not verified by the emulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_signature: Option<Value>,
}

/// `{"signature": b64}` from `synchronousSign`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignResponse {
    /// Base64 signature (DER for ECDSA, raw 64 bytes for EdDSA).
    pub signature: String,
}

/// `{"signRequestId": ...}` from `/v1/sign` and the asynchronous certificate endpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignRequestId {
    /// Request id to poll at `/v1/request/{id}`.
    pub sign_request_id: String,
}

/// Inner object of `POST /v1/verify`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct VerifyRequest {
    pub sign_key_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_key_password: Option<Password>,
    pub signature_algorithm: String,
    pub payload: String,
    pub signature: String,
}

/// Body of `POST /v1/verify`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyEnvelope {
    /// The request.
    pub verify_signature_request: VerifyRequest,
}

/// `{"signatureValid": bool}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    /// Whether the signature verified.
    pub signature_valid: bool,
}

/// Inner object of `POST /v1/synchronousDecrypt` and `POST /v1/decrypt`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct DecryptRequest {
    pub encrypted_payload: String,
    pub decrypt_key_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_password: Option<Password>,
    pub cipher_algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialization_vector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_authentication_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data_signature: Option<String>,
}

/// Body of the decrypt endpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecryptEnvelope {
    /// The request.
    pub decrypt_request: DecryptRequest,
    /// Optional application signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_signature: Option<Value>,
}

/// `{"payload": b64}` from `synchronousDecrypt`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecryptResponse {
    /// Base64 plaintext.
    pub payload: String,
}

/// `{"decryptRequestId": ...}` from `/v1/decrypt`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecryptRequestId {
    /// Request id.
    pub decrypt_request_id: String,
}

/// `{"random": b64}` from `GET /v1/generateRandom/{length}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RandomResponse {
    /// Base64 random bytes.
    pub random: String,
}

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

/// Status of an SKA request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum RequestState {
    Pending,
    Approved,
    Executed,
    Failed,
    Expired,
    Rejected,
    Cancelled,
}

impl RequestState {
    /// Whether no further change will happen.
    pub fn is_terminal(self) -> bool {
        !matches!(self, RequestState::Pending | RequestState::Approved)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "PENDING",
            RequestState::Approved => "APPROVED",
            RequestState::Executed => "EXECUTED",
            RequestState::Failed => "FAILED",
            RequestState::Expired => "EXPIRED",
            RequestState::Rejected => "REJECTED",
            RequestState::Cancelled => "CANCELLED",
        }
    }
}

/// `GET /v1/request/{id}` response (`RequestStatusDto`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestStatus {
    /// Request id.
    pub id: String,
    /// Current state.
    pub status: RequestState,
    /// When the request was sent to the HSM.
    #[serde(default)]
    pub execution_time: Option<String>,
    /// Approvers (base64 SPKI) that approved.
    #[serde(default)]
    pub approved_by: Vec<String>,
    /// Approvers that could still approve.
    #[serde(default)]
    pub not_yet_approved_by: Vec<String>,
    /// Approvers that rejected.
    #[serde(default)]
    pub rejected_by: Vec<String>,
    /// The result: signature or plaintext (base64), PEM CSR or certificate, `"true"` for self-sign.
    #[serde(default)]
    pub result: Option<String>,
}

/// `POST /v1/filteredRequests` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilteredRequestsRequest {
    /// States to list; empty lists all.
    #[serde(default)]
    pub request_status_list: Vec<RequestState>,
}

/// One entry of `filteredRequests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestSummary {
    /// Request id.
    pub id: String,
    /// State.
    pub status: RequestState,
}

/// `POST /v1/filteredRequests` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FilteredRequestsResponse {
    /// Matching requests.
    #[serde(default)]
    pub requests: Vec<RequestSummary>,
}

/// Paging of task lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Paging {
    #[serde(default)]
    pub page_number: u32,
    #[serde(default)]
    pub page_size: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<String>,
}

/// Timestamp-authenticated body of `POST /v1/filtered*ApprovalTask` and of the task rejection.
/// The approver proves possession of its key by signing the UTF-8 `timestamp` string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct FilteredTasksRequest {
    /// ISO-8601 time, signed exactly as sent.
    pub timestamp: String,
    /// Base64 signature over the timestamp string.
    pub timestamp_signature: String,
    /// `SHA-256` etc., or `EdDSA` for Ed25519.
    pub timestamp_digest_algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver_public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver_certificate: Option<String>,
    /// Task id filter (or the task to delete, for a rejection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Request id filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `level1` .. `level5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<Paging>,
}

/// One approval task. Fields beyond `level1` appear with higher `detailLevel`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct Task {
    /// Task id (used in `/v1/approval`).
    pub id: String,
    /// Base64 bytes that the approver signs (after decoding).
    pub approval_to_be_signed: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver_public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data_signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_type: Option<String>,
    /// Base64 of the original request JSON (level3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_sign_request: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_decrypt_request: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_modify_key_request: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_block_key_request: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_unblock_key_request: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_unwrap_key_request: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_certificate_request_request: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_sign_certificate_request: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_self_sign_certificate_request_dto: Option<Value>,
}

impl Task {
    /// The operation and key label of this task, read from whichever parsed request (level3+) is
    /// present: e.g. `("Sign", "my-key")`.
    pub fn operation_and_key(&self) -> Option<(&'static str, String)> {
        let pick = |v: &Option<Value>, inner: &str, field: &str| -> Option<String> {
            let v = v.as_ref()?;
            let obj = v.get(inner).unwrap_or(v);
            obj.get(field)?.as_str().map(str::to_owned)
        };
        if let Some(k) = pick(&self.signed_sign_request, "signRequest", "signKeyName") {
            return Some(("Sign", k));
        }
        if let Some(k) = pick(
            &self.signed_decrypt_request,
            "decryptRequest",
            "decryptKeyName",
        ) {
            return Some(("Decrypt", k));
        }
        if let Some(k) = pick(
            &self.signed_certificate_request_request,
            "csrSignRequest",
            "signKeyName",
        ) {
            return Some(("CertificateSigningRequest", k));
        }
        if let Some(k) = pick(
            &self.signed_sign_certificate_request,
            "signCertificateRequest",
            "signKeyName",
        ) {
            return Some(("Certificate", k));
        }
        if let Some(k) = pick(
            &self.signed_self_sign_certificate_request_dto,
            "selfSignCertificateRequest",
            "signKeyName",
        ) {
            return Some(("SelfSignCertificate", k));
        }
        if let Some(k) = pick(
            &self.signed_block_key_request,
            "blockRequest",
            "blockKeyName",
        ) {
            return Some(("Block", k));
        }
        if let Some(k) = pick(
            &self.signed_unblock_key_request,
            "unblockRequest",
            "unblockKeyName",
        ) {
            return Some(("UnBlock", k));
        }
        if let Some(k) = pick(
            &self.signed_modify_key_request,
            "modifyRequest",
            "modifyKeyName",
        ) {
            return Some(("Modify", k));
        }
        None
    }
}

/// Response of `POST /v1/filtered*ApprovalTask`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TasksResponse {
    /// The tasks visible to this approver.
    #[serde(default)]
    pub tasks: Vec<Task>,
}

/// `POST /v1/approval` body (`SendApprovalDto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct ApprovalSubmission {
    /// Task id.
    pub id: String,
    /// Exactly as received in the task.
    pub approval_to_be_signed: String,
    /// Base64 signature over the base64-decoded `approvalToBeSigned`.
    pub signature: String,
    /// `SHA-256` etc., or `EdDSA`.
    pub approval_digest_algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver_public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver_certificate: Option<String>,
}

/// `GET /v1/versionInfo` response (note the capital `V`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Server version.
    #[serde(rename = "Version")]
    pub version: String,
}

/// `GET /v1/licenseInfo` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseInfo {
    /// Licensed features, e.g. `TSB_ENGINE`.
    #[serde(default)]
    pub client_flags: Vec<String>,
}

/// The TSB error codes this project produces or interprets (`BusinessReason`).
#[allow(missing_docs)]
pub mod codes {
    pub const GENERAL: i64 = 103;
    pub const MISSING_APPROVAL: i64 = 401;
    pub const INVALID_SIGNATURE: i64 = 403;
    pub const TIMESTAMP_OFF: i64 = 404;
    pub const MISSING_ACCESS_TOKEN: i64 = 406;
    pub const PARSING_KEY: i64 = 407;
    pub const DECRYPT_FAILED: i64 = 410;
    pub const INVALID_CERTIFICATE_REQUEST: i64 = 411;
    pub const INVALID_ENUM: i64 = 501;
    pub const VALIDATION_FAILED: i64 = 600;
    pub const UNSUPPORTED_APPROVER_KEY: i64 = 601;
    pub const KEYSIZE: i64 = 603;
    pub const KEY_ATTRIBUTES_INVALID: i64 = 606;
    pub const ALGORITHM_NOT_SUPPORTED_BY_KEY: i64 = 607;
    pub const KEY_ALREADY_EXISTING: i64 = 608;
    pub const INVALID_KEY_NAME: i64 = 610;
    pub const UNSUPPORTED_OPERATION: i64 = 611;
    pub const INVALID_PAYLOAD: i64 = 612;
    pub const INVALID_KEY_TYPE: i64 = 613;
    pub const OPERATION_FORBIDDEN_FOR_KEY: i64 = 614;
    pub const INVALID_ACCESS_TOKEN: i64 = 617;
    pub const KEY_PASSWORD_MISMATCH: i64 = 620;
    pub const INVALID_JSON: i64 = 621;
    pub const CSR_INVALID_FORMAT: i64 = 628;
    pub const UNSUPPORTED_CIPHER: i64 = 629;
    pub const INVALID_API_KEY: i64 = 631;
    pub const KEY_NOT_EXISTENT: i64 = 650;
    pub const REQUEST_NOT_EXISTENT: i64 = 651;
    pub const TASK_NOT_EXISTENT: i64 = 652;
    pub const APPROVER_NOT_EXISTENT: i64 = 654;
    pub const IN_HSM: i64 = 701;

    /// The `reason` string of a code.
    pub fn reason(code: i64) -> &'static str {
        match code {
            GENERAL => "res.error.general",
            MISSING_APPROVAL => "res.error.missing.approval",
            INVALID_SIGNATURE => "res.error.input.invalid.signature",
            TIMESTAMP_OFF => "res.error.input.timestamp.off",
            MISSING_ACCESS_TOKEN => "res.error.missing.access.token",
            PARSING_KEY => "res.error.parsing.key",
            DECRYPT_FAILED => "res.error.decrypt.failed",
            INVALID_CERTIFICATE_REQUEST => "res.error.invalid.certificate.request",
            INVALID_ENUM => "res.error.invalid.value.for.enum",
            VALIDATION_FAILED => "res.error.input.validation.failed",
            UNSUPPORTED_APPROVER_KEY => "res.error.unsupported.approver.key.type",
            KEYSIZE => "res.error.input.keysize",
            KEY_ATTRIBUTES_INVALID => "res.error.key.attributes.invalid",
            ALGORITHM_NOT_SUPPORTED_BY_KEY => "res.error.algorithm.not.supported.by.key",
            KEY_ALREADY_EXISTING => "res.error.key.already.existing",
            INVALID_KEY_NAME => "res.error.invalid.key.name",
            UNSUPPORTED_OPERATION => "res.error.unsupported.operation",
            INVALID_PAYLOAD => "res.error.invalid.payload",
            INVALID_KEY_TYPE => "res.error.invalid.key.type",
            OPERATION_FORBIDDEN_FOR_KEY => "res.error.operation.forbidden.for.key",
            INVALID_ACCESS_TOKEN => "res.error.invalid.access.token",
            KEY_PASSWORD_MISMATCH => "res.error.key.password.mismatch",
            INVALID_JSON => "res.error.invalid.json",
            CSR_INVALID_FORMAT => "res.error.csr.invalid.format",
            UNSUPPORTED_CIPHER => "res.error.unsupported.cipher",
            INVALID_API_KEY => "res.error.invalid.api.key",
            KEY_NOT_EXISTENT => "res.error.key.not.existent",
            REQUEST_NOT_EXISTENT => "res.error.request.not.existent",
            TASK_NOT_EXISTENT => "res.error.task.not.existent",
            APPROVER_NOT_EXISTENT => "res.error.approver.not.existent",
            IN_HSM => "res.error.in.hsm",
            _ => "res.error.general",
        }
    }

    /// HTTP status for a code: the mapping of Securosys' `ErrorHandler` (45x -> 403, 65x -> 404,
    /// other 4xx/6xx -> 400, 2xx/3xx/5xx/7xx -> 500, 1xx -> 501), with 631 -> 401 and the
    /// timestamp/signature proof failures (403, 404 codes) -> 401 because they are authentication.
    pub fn http_status(code: i64) -> u16 {
        match code {
            INVALID_API_KEY | MISSING_ACCESS_TOKEN | INVALID_ACCESS_TOKEN => 401,
            450..=459 => 403,
            650..=659 => 404,
            400..=499 | 600..=699 => 400,
            100..=199 => 501,
            _ => 500,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_accepts_both_forms_and_writes_array() {
        let a: Password = serde_json::from_str(r#"["a","b","c"]"#).unwrap();
        let b: Password = serde_json::from_str(r#""abc""#).unwrap();
        assert_eq!(a, b);
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"["a","b","c"]"#);
        assert_eq!(format!("{a:?}"), "Password(***)");
    }

    #[test]
    fn request_state_round_trip() {
        let s: RequestState = serde_json::from_str("\"CANCELLED\"").unwrap();
        assert_eq!(s, RequestState::Cancelled);
        assert!(s.is_terminal());
        assert!(!RequestState::Approved.is_terminal());
        assert_eq!(
            serde_json::to_string(&RequestState::Pending).unwrap(),
            "\"PENDING\""
        );
    }
}
