//! Key operations: sign, verify, decrypt, random. Sources: S3
//! `dto/tsb/request/{SignRequestDto,SynchronousSignRequestDto,
//! VerifySignatureRequestDto,DecryptRequestDto}.java` and `.../response/*`; S1 `sign.go`,
//! `encrypt.go`, `random.go`.

use crate::keys::Password;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `payloadType` enum (S3 `enums/tsb/PayloadType.java`; S1 `helpers/consts.go`
/// `SUPPORTED_PAYLOAD_TYPE` lacks `HEX`). Default `UNSPECIFIED`.
pub const PAYLOAD_TYPES: [&str; 6] = [
    PAYLOAD_TYPE_UNSPECIFIED,
    "ISO_20022",
    "PDF",
    "BTC",
    "ETH",
    "HEX",
];

/// `payloadType` of a payload that means nothing in particular to the approvers (the first value
/// of [`PAYLOAD_TYPES`]).
pub const PAYLOAD_TYPE_UNSPECIFIED: &str = "UNSPECIFIED";

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
    /// Base64 context string of ML-DSA and SLH-DSA (at most 255 bytes, FIPS 204 §5.2 / FIPS 205
    /// §10.2): "context bytes for ML-DSA & SLH-DSA" in S3 `dto/tsb/request/SignRequestDto.java`
    /// @08bfdf25 (TSB 2.2.0). Only the asynchronous `/v1/sign` takes it: S3's
    /// `SynchronousSignRequestDto.java` has no such field, so it is never sent there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
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

/// The `requestSignature` of a request envelope (S3 `dto/tsb/request/SignatureDto.java`): an
/// application's signature over the inner request (S1 `tsb_client.go`
/// `GenerateRequestSignature`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestSignature {
    /// Base64 signature, as the JDK's `Signature.sign()` returns it.
    pub signature: String,
    /// `SHA-256` etc.
    pub digest_algorithm: String,
    /// Base64 public key of the signing key.
    pub public_key: String,
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
