//! SKA requests: status, listing (`tsb-api.md` §5.2, §5.3).

use serde::{Deserialize, Serialize};

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
