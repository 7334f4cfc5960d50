//! The approver's side: task lists, tasks, approvals (`tsb-api.md` §5.4, §5.5).

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
