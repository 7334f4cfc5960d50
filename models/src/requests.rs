//! SKA requests: the kinds of approval-gated requests and their names on the wire, block and
//! unblock bodies, status and listing. Sources: S3 `dto/tsb/**` (`RequestStatusDto`) and
//! `enums/tsb/RequestStatus.java`, S1 `requests.go`, `block.go`, `unblock.go`;
//! `filteredRequests` since TSB 2.0.1 (S2 `tsb/Download/release_notes.md`).

use crate::keys::Password;
use crate::tlv::operation;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kinds of asynchronous (approval-gated) requests, and the names each one uses: the inner
/// object of its body, the key-name field in it, the request-id field of the answer, the parsed
/// request in a level-3 task, and the operation name of metadata and tools.
///
/// Sources: S3 `dto/tsb/request/Signed*RequestDto.java` (inner objects),
/// `dto/tsb/response/*ResponseDto.java` (request ids), `dto/tsb/response/GetTasksResponseDto.java`
/// (task fields); S1 `block.go`, `unblock.go`, `modify.go`, `sign.go`, `certs.go`; the operation
/// names of S1 `helpers/functions.go` `PrepareMetaData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestType {
    /// `POST /v1/sign`.
    Sign,
    /// `POST /v1/decrypt`.
    Decrypt,
    /// `POST /v1/certificate/request`.
    CertificateSigningRequest,
    /// `POST /v1/certificate/sign`: issue a certificate from a CSR.
    Certificate,
    /// `POST /v1/certificate/selfsign`.
    SelfSignCertificate,
    /// `POST /v1/block`.
    Block,
    /// `POST /v1/unblock`.
    Unblock,
    /// `POST /v1/modify`.
    Modify,
    /// `POST /v1/unwrap` (S3 `UnwrapKeyRequestDto.java`, `UnwrapKeyRequestResponseDto.java`; S1
    /// `wrap.go` `AsyncUnWrap`, whose metadata names the operation `UnWrap`).
    Unwrap,
}

impl RequestType {
    /// Every kind, in the order tools list them.
    pub const ALL: [RequestType; 9] = [
        RequestType::Sign,
        RequestType::Decrypt,
        RequestType::CertificateSigningRequest,
        RequestType::Certificate,
        RequestType::SelfSignCertificate,
        RequestType::Block,
        RequestType::Unblock,
        RequestType::Modify,
        RequestType::Unwrap,
    ];

    /// The operation names of [`RequestType::ALL`].
    pub const OPERATIONS: [&'static str; 9] = {
        let mut out = [""; 9];
        let mut i = 0;
        while i < 9 {
            out[i] = RequestType::ALL[i].operation();
            i += 1;
        }
        out
    };

    /// The operation name (`Sign`, ..., `UnBlock`, `Modify`), as in request metadata.
    pub const fn operation(self) -> &'static str {
        match self {
            RequestType::Sign => "Sign",
            RequestType::Decrypt => "Decrypt",
            RequestType::CertificateSigningRequest => "CertificateSigningRequest",
            RequestType::Certificate => "Certificate",
            RequestType::SelfSignCertificate => "SelfSignCertificate",
            RequestType::Block => "Block",
            RequestType::Unblock => "UnBlock",
            RequestType::Modify => "Modify",
            RequestType::Unwrap => "UnWrap",
        }
    }

    /// The kind of an operation name, in any case.
    pub fn from_operation(name: &str) -> Option<RequestType> {
        RequestType::ALL
            .into_iter()
            .find(|t| t.operation().eq_ignore_ascii_case(name))
    }

    /// The inner object of the body: `{"signRequest": {...}, "requestSignature": ...}`.
    pub fn envelope_field(self) -> &'static str {
        match self {
            RequestType::Sign => "signRequest",
            RequestType::Decrypt => "decryptRequest",
            RequestType::CertificateSigningRequest => "csrSignRequest",
            RequestType::Certificate => "signCertificateRequest",
            RequestType::SelfSignCertificate => "selfSignCertificateRequest",
            RequestType::Block => "blockRequest",
            RequestType::Unblock => "unblockRequest",
            RequestType::Modify => "modifyRequest",
            RequestType::Unwrap => "unwrapKeyRequest",
        }
    }

    /// The field of the inner object that names the key.
    pub fn key_name_field(self) -> &'static str {
        match self {
            RequestType::Sign
            | RequestType::CertificateSigningRequest
            | RequestType::Certificate
            | RequestType::SelfSignCertificate => "signKeyName",
            RequestType::Decrypt => "decryptKeyName",
            RequestType::Block => "blockKeyName",
            RequestType::Unblock => "unblockKeyName",
            RequestType::Modify => "modifyKeyName",
            RequestType::Unwrap => "unwrapKeyName",
        }
    }

    /// The field of the answer (201) that holds the request id.
    pub fn request_id_field(self) -> &'static str {
        match self {
            RequestType::Sign
            | RequestType::CertificateSigningRequest
            | RequestType::Certificate
            | RequestType::SelfSignCertificate => "signRequestId",
            RequestType::Decrypt => "decryptRequestId",
            RequestType::Block => "blockKeyRequestId",
            RequestType::Unblock => "unblockKeyRequestId",
            RequestType::Modify => "modifyKeyRequestId",
            RequestType::Unwrap => "unwrapRequestId",
        }
    }

    /// The EkaOperation value in the request's `approvalToBeSigned` ([`operation`]; the values
    /// of block and unblock are inferred).
    pub fn eka_operation(self) -> u32 {
        match self {
            RequestType::Block => operation::BLOCK,
            RequestType::Unblock => operation::UNBLOCK,
            RequestType::Modify => operation::MODIFY,
            _ => operation::USE,
        }
    }

    /// Whether a source documents [`RequestType::eka_operation`] (uses and modify: yes; block,
    /// unblock and unwrap, whose code the emulator takes to be a use, no).
    pub fn eka_operation_documented(self) -> bool {
        !matches!(
            self,
            RequestType::Block | RequestType::Unblock | RequestType::Unwrap
        )
    }
}

/// The request id in the answer of any asynchronous endpoint (`signRequestId`,
/// `blockKeyRequestId`, ...).
pub fn request_id_in(answer: &Value) -> Option<&str> {
    RequestType::ALL
        .into_iter()
        .find_map(|t| answer.get(t.request_id_field())?.as_str())
}

/// Inner object of `POST /v1/block` and `/v1/synchronousBlock` (S3 `BlockKeyRequestDto.java`,
/// S1 `block.go`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockRequest {
    /// The key.
    pub block_key_name: String,
    /// Its password, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_password: Option<Password>,
    /// Base64 metadata shown to approvers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<String>,
    /// Signature of the metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data_signature: Option<String>,
}

/// Body of the block endpoints: `{"blockRequest": {...}, "requestSignature": ...}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockEnvelope {
    /// The request.
    pub block_request: BlockRequest,
    /// Optional application signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_signature: Option<Value>,
}

/// Inner object of `POST /v1/unblock` and `/v1/synchronousUnblock` (S3
/// `UnblockKeyRequestDto.java`, S1 `unblock.go`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnblockRequest {
    /// The key.
    pub unblock_key_name: String,
    /// Its password, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_password: Option<Password>,
    /// Base64 metadata shown to approvers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<String>,
    /// Signature of the metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data_signature: Option<String>,
}

/// Body of the unblock endpoints: `{"unblockRequest": {...}, "requestSignature": ...}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnblockEnvelope {
    /// The request.
    pub unblock_request: UnblockRequest,
    /// Optional application signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_signature: Option<Value>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DecryptRequestId, SignRequestId};

    #[test]
    fn request_type_names_agree_with_the_models() {
        // The serde models spell the same names as the table.
        let sign = serde_json::to_value(SignRequestId {
            sign_request_id: "a".into(),
        })
        .unwrap();
        assert_eq!(request_id_in(&sign), Some("a"));
        assert!(sign.get(RequestType::Sign.request_id_field()).is_some());
        let dec = serde_json::to_value(DecryptRequestId {
            decrypt_request_id: "b".into(),
        })
        .unwrap();
        assert!(dec.get(RequestType::Decrypt.request_id_field()).is_some());
        let block = serde_json::to_value(BlockEnvelope {
            block_request: BlockRequest {
                block_key_name: "k".into(),
                ..Default::default()
            },
            request_signature: None,
        })
        .unwrap();
        let inner = &block[RequestType::Block.envelope_field()];
        assert_eq!(inner[RequestType::Block.key_name_field()], "k");
        let unblock: UnblockEnvelope =
            serde_json::from_value(serde_json::json!({"unblockRequest": {"unblockKeyName": "k"}}))
                .unwrap();
        assert_eq!(unblock.unblock_request.unblock_key_name, "k");
        assert_eq!(
            request_id_in(&serde_json::json!({"blockKeyRequestId": "c"})),
            Some("c")
        );
        assert_eq!(request_id_in(&serde_json::json!({"id": "c"})), None);
        assert_eq!(
            RequestType::from_operation("unblock"),
            Some(RequestType::Unblock)
        );
        assert_eq!(RequestType::OPERATIONS[6], "UnBlock");
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
