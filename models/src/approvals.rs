//! The approver's side: task lists, tasks, approvals. Sources: S3
//! `dto/tsb/request/{FilteredTasksRequestDto,AuthenticatableRequestDto,
//! SendApprovalDto,PagingDto}.java` and `.../response/GetTasksResponseDto.java`; S4
//! `testHelpers/test_client_tsb.go` (the task lists and a client of them); S2
//! `tsb/Tutorials/Blockchain/slip10.md` (a real level-5 task).

use crate::requests::RequestType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Paging of task lists (`PagingDto`, S3 `dto/tsb/request/
/// PagingDto.java`): `@Min(0) int pageNumber`, `@Min(1) int pageSize`, `@NotNull SortOrder
/// sortOrder`. The numbers are Java `int`s, so an absent one is 0; a missing or unknown
/// `sortOrder` fails to parse here, as it fails bean validation on the TSB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Paging {
    /// Page to return, from 0.
    #[serde(default)]
    pub page_number: u32,
    /// Tasks per page, at least 1 ([`Paging::validate`]).
    #[serde(default)]
    pub page_size: u32,
    /// Order of the tasks.
    pub sort_order: SortOrder,
}

impl Paging {
    /// The checks of the DTO that the types do not already make (`@Min(1) pageSize`).
    pub fn validate(&self) -> Result<(), String> {
        if self.page_size < 1 {
            return Err(format!(
                "paging.pageSize must be at least 1, not {}",
                self.page_size
            ));
        }
        Ok(())
    }
}

/// `PagingDto.SortOrder`. "Initial value for LAST_FETCHED_DATE is the creation date of the task.
/// LAST_FETCHED_DATE is updated every time a task is returned to the client" (S3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum SortOrder {
    CreationDateAsc,
    CreationDateDesc,
    LastFetchedDateAsc,
    LastFetchedDateDesc,
}

impl SortOrder {
    /// The enum's names.
    pub const NAMES: [&'static str; 4] = [
        "CREATION_DATE_ASC",
        "CREATION_DATE_DESC",
        "LAST_FETCHED_DATE_ASC",
        "LAST_FETCHED_DATE_DESC",
    ];

    /// Whether the newest comes first.
    pub fn is_descending(self) -> bool {
        matches!(
            self,
            SortOrder::CreationDateDesc | SortOrder::LastFetchedDateDesc
        )
    }
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
    /// The parsed request of a level-3 task, for each kind of request.
    pub fn signed_request(&self, t: RequestType) -> Option<&Value> {
        match t {
            RequestType::Sign => self.signed_sign_request.as_ref(),
            RequestType::Decrypt => self.signed_decrypt_request.as_ref(),
            RequestType::CertificateSigningRequest => {
                self.signed_certificate_request_request.as_ref()
            }
            RequestType::Certificate => self.signed_sign_certificate_request.as_ref(),
            RequestType::SelfSignCertificate => {
                self.signed_self_sign_certificate_request_dto.as_ref()
            }
            RequestType::Block => self.signed_block_key_request.as_ref(),
            RequestType::Unblock => self.signed_unblock_key_request.as_ref(),
            RequestType::Modify => self.signed_modify_key_request.as_ref(),
            RequestType::Unwrap => self.signed_unwrap_key_request.as_ref(),
        }
    }

    /// Set the parsed request of a level-3 task (the server side of [`Task::signed_request`]).
    pub fn set_signed_request(&mut self, t: RequestType, request: Value) {
        let slot = match t {
            RequestType::Sign => &mut self.signed_sign_request,
            RequestType::Decrypt => &mut self.signed_decrypt_request,
            RequestType::CertificateSigningRequest => &mut self.signed_certificate_request_request,
            RequestType::Certificate => &mut self.signed_sign_certificate_request,
            RequestType::SelfSignCertificate => &mut self.signed_self_sign_certificate_request_dto,
            RequestType::Block => &mut self.signed_block_key_request,
            RequestType::Unblock => &mut self.signed_unblock_key_request,
            RequestType::Modify => &mut self.signed_modify_key_request,
            RequestType::Unwrap => &mut self.signed_unwrap_key_request,
        };
        *slot = Some(request);
    }

    /// The operation and key label of this task, read from whichever parsed request (level3+) is
    /// present: e.g. `("Sign", "my-key")`.
    pub fn operation_and_key(&self) -> Option<(&'static str, String)> {
        RequestType::ALL.into_iter().find_map(|t| {
            let v = self.signed_request(t)?;
            let inner = v.get(t.envelope_field()).unwrap_or(v);
            let key = inner.get(t.key_name_field())?.as_str()?;
            Some((t.operation(), key.to_owned()))
        })
    }
}

/// The task lists `POST /v1/filtered<X>ApprovalTask` (S4 `testHelpers/test_client_tsb.go`, S2;
/// `All` since TSB 2.0.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskList {
    /// `filteredSignApprovalTask`.
    Sign,
    /// `filteredDecryptApprovalTask`.
    Decrypt,
    /// `filteredBlockKeyApprovalTask`.
    BlockKey,
    /// `filteredUnblockKeyApprovalTask`.
    UnblockKey,
    /// `filteredModifyKeyApprovalTask`.
    ModifyKey,
    /// `filteredUnwrapKeyApprovalTask`.
    UnwrapKey,
    /// `filteredAllApprovalTask`.
    All,
}

impl TaskList {
    /// Every list.
    pub const ALL: [TaskList; 7] = [
        TaskList::Sign,
        TaskList::Decrypt,
        TaskList::BlockKey,
        TaskList::UnblockKey,
        TaskList::ModifyKey,
        TaskList::UnwrapKey,
        TaskList::All,
    ];

    /// The per-type lists (every list but `All`): what a TSB before 2.0.1 offers.
    pub const PER_TYPE: [TaskList; 6] = [
        TaskList::Sign,
        TaskList::Decrypt,
        TaskList::BlockKey,
        TaskList::UnblockKey,
        TaskList::ModifyKey,
        TaskList::UnwrapKey,
    ];

    /// The path, e.g. `/v1/filteredAllApprovalTask`.
    pub fn path(self) -> &'static str {
        match self {
            TaskList::Sign => "/v1/filteredSignApprovalTask",
            TaskList::Decrypt => "/v1/filteredDecryptApprovalTask",
            TaskList::BlockKey => "/v1/filteredBlockKeyApprovalTask",
            TaskList::UnblockKey => "/v1/filteredUnblockKeyApprovalTask",
            TaskList::ModifyKey => "/v1/filteredModifyKeyApprovalTask",
            TaskList::UnwrapKey => "/v1/filteredUnwrapKeyApprovalTask",
            TaskList::All => "/v1/filteredAllApprovalTask",
        }
    }

    /// The list served at `path`.
    pub fn from_path(path: &str) -> Option<TaskList> {
        TaskList::ALL.into_iter().find(|l| l.path() == path)
    }

    /// Whether the list shows tasks of this kind of request. No source says which list shows
    /// certificate requests: here they are uses of the key, listed with
    /// `Sign` (and `All`).
    pub fn shows(self, t: RequestType) -> bool {
        match self {
            TaskList::Sign => matches!(
                t,
                RequestType::Sign
                    | RequestType::CertificateSigningRequest
                    | RequestType::Certificate
                    | RequestType::SelfSignCertificate
            ),
            TaskList::Decrypt => t == RequestType::Decrypt,
            TaskList::BlockKey => t == RequestType::Block,
            TaskList::UnblockKey => t == RequestType::Unblock,
            TaskList::ModifyKey => t == RequestType::Modify,
            TaskList::UnwrapKey => t == RequestType::Unwrap,
            TaskList::All => true,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::is_approval_task_path;

    #[test]
    fn paging_follows_the_dto() {
        let p: Paging = serde_json::from_str(
            r#"{"pageNumber":1,"pageSize":25,"sortOrder":"LAST_FETCHED_DATE_DESC"}"#,
        )
        .unwrap();
        assert!(p.sort_order.is_descending() && p.validate().is_ok());
        assert_eq!(
            serde_json::to_value(&p).unwrap()["sortOrder"],
            "LAST_FETCHED_DATE_DESC"
        );
        for bad in [
            r#"{"pageNumber":0,"pageSize":25}"#,
            r#"{"pageNumber":0,"pageSize":25,"sortOrder":null}"#,
            r#"{"pageNumber":0,"pageSize":25,"sortOrder":"creation_date_asc"}"#,
            r#"{"pageNumber":-1,"pageSize":25,"sortOrder":"CREATION_DATE_ASC"}"#,
        ] {
            assert!(serde_json::from_str::<Paging>(bad).is_err(), "{bad}");
        }
        let p: Paging = serde_json::from_str(r#"{"sortOrder":"CREATION_DATE_ASC"}"#).unwrap();
        assert!(p.validate().is_err());
        for n in SortOrder::NAMES {
            assert!(serde_json::from_value::<SortOrder>(serde_json::json!(n)).is_ok());
        }
    }

    #[test]
    fn task_lists_and_paths() {
        for l in TaskList::ALL {
            assert!(is_approval_task_path(l.path()), "{l:?}");
            assert_eq!(TaskList::from_path(l.path()), Some(l));
        }
        assert_eq!(TaskList::from_path("/v1/filteredFooApprovalTask"), None);
        assert!(TaskList::ALL
            .iter()
            .all(|l| (*l == TaskList::All) != TaskList::PER_TYPE.contains(l)));
        assert!(TaskList::Sign.shows(RequestType::CertificateSigningRequest));
        assert!(!TaskList::Sign.shows(RequestType::Decrypt));
        assert!(TaskList::All.shows(RequestType::Block));
    }

    #[test]
    fn operation_and_key_from_each_parsed_request() {
        for t in RequestType::ALL {
            let mut task = Task::default();
            task.set_signed_request(
                t,
                serde_json::json!({ t.envelope_field(): { t.key_name_field(): "k" } }),
            );
            assert_eq!(task.operation_and_key(), Some((t.operation(), "k".into())));
            assert!(task.signed_request(t).is_some());
            let json = serde_json::to_value(&task).unwrap();
            let back: Task = serde_json::from_value(json).unwrap();
            assert_eq!(back, task);
        }
        assert_eq!(Task::default().operation_and_key(), None);
    }
}
