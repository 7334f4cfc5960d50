//! The approver's side: timestamp-authenticated task lists, approvals, rejections.

use super::requests::{refresh, refresh_all, run_job, run_jobs, transitions_on_read};
use super::validate::{Dto, Field, Ty};
use super::{
    b64, empty_ok, from_value, json_response, parse_checked, persist, ApiError, ApiResult,
};
use crate::crypto;
use crate::store::{RequestKind, RequestRecord, TaskRecord};
use crate::{EmulatorConfig, Shared};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use tsb_models::*;
use tsb_models::{codes, PAYLOAD_TYPE_UNSPECIFIED};

// ---------------------------------------------------------------------------------------------
// DTOs (S3 `dto/tsb/request/AuthenticatableRequestDto.java`, `FilteredTasksRequestDto.java`,
// `DeleteTaskRequestDto.java`, `SendApprovalDto.java`, `PagingDto.java`)

fn sort_order_known(name: &str, _: TsbVersion) -> bool {
    SortOrder::NAMES.contains(&name)
}

/// `PagingDto`: `@Min(0) int pageNumber`, `@Min(1) int pageSize`, `@NotNull SortOrder sortOrder`.
static PAGING: Dto = Dto {
    name: "PagingDto",
    fields: &[
        Field::new("pageNumber", Ty::Int).min(0),
        Field::new("pageSize", Ty::Int).min(1),
        Field::new("sortOrder", Ty::Enum("SortOrder", sort_order_known)).not_null(),
    ],
};

/// The fields of `AuthenticatableRequestDto`, then those of the subclass.
macro_rules! authenticatable {
    ($name:ident = $dto:literal, [$($extra:expr,)*]) => {
        static $name: Dto = Dto {
            name: $dto,
            fields: &[
                Field::new("timestamp", Ty::Timestamp).not_empty(),
                Field::new("timestampSignature", Ty::Base64).not_empty(),
                Field::new("timestampSigningCertificate", Ty::Base64),
                Field::new("approverPublicKey", Ty::Base64),
                Field::new("approverCertificate", Ty::Base64),
                Field::new("timestampDigestAlgorithm", Ty::Str).not_empty(),
                $($extra,)*
            ],
        };
    };
}
authenticatable!(
    FILTERED_TASKS = "FilteredTasksRequestDto",
    [
        Field::new("id", Ty::Str),
        Field::new("requestId", Ty::Str),
        Field::new("detailLevel", Ty::Str),
        Field::new("paging", Ty::Dto(&PAGING, true)),
    ]
);
authenticatable!(
    DELETE_TASK = "DeleteTaskRequestDto",
    [Field::new("id", Ty::Str).not_empty(),]
);

/// `SendApprovalDto` (`POST /v1/approval`).
static SEND_APPROVAL: Dto = Dto {
    name: "SendApprovalDto",
    fields: &[
        Field::new("id", Ty::Str).not_empty(),
        Field::new("approvalToBeSigned", Ty::Base64).not_empty(),
        Field::new("signature", Ty::Base64).not_empty(),
        Field::new("approvalDigestAlgorithm", Ty::Str).not_empty(),
        Field::new("approverPublicKey", Ty::Base64),
        Field::new("approverCertificate", Ty::Base64),
    ],
};

/// The caller's key: DER and whether it is a certificate.
fn approver_key(
    public_key: Option<&String>,
    certificate: Option<&String>,
) -> Result<(Vec<u8>, bool), ApiError> {
    match (public_key, certificate) {
        (Some(pk), _) => Ok((
            b64("approverPublicKey", pk, codes::UNSUPPORTED_APPROVER_KEY)?,
            false,
        )),
        (None, Some(c)) => Ok((
            b64("approverCertificate", c, codes::UNSUPPORTED_APPROVER_KEY)?,
            true,
        )),
        (None, None) => Err(ApiError::new(
            codes::VALIDATION_FAILED,
            "approverPublicKey or approverCertificate is required",
        )),
    }
}

/// Canonical approver id (base64 SPKI) of a caller key.
fn canonical_approver(der: &[u8], is_certificate: bool) -> Result<String, ApiError> {
    Ok(if is_certificate {
        B64.encode(crypto::certificate_spki_der(der)?)
    } else {
        B64.encode(der)
    })
}

/// Check the timestamp proof of a `FilteredTasksRequest`; returns the canonical approver id.
/// Freshness uses REAL time: approvers sign the wall clock, not the emulated one. The window is
/// `cfg.max_timestamp_future` ahead of the server's time (the TSB's default: 0) to
/// `cfg.max_timestamp_age` behind it (600 s), as `maxFutureTimestampDiffApprovalClient` and
/// `maxTimestampDiffApprovalClient` (S2 `tsb/Download/release_notes.md`, 1.18.0).
fn authenticate_approver(
    cfg: &EmulatorConfig,
    f: &FilteredTasksRequest,
) -> Result<String, ApiError> {
    let ts = chrono::DateTime::parse_from_rfc3339(f.timestamp.trim()).map_err(|e| {
        ApiError::new(
            codes::TIMESTAMP_OFF,
            format!("timestamp is not RFC 3339: {e}"),
        )
    })?;
    let age_ms = chrono::Utc::now()
        .signed_duration_since(ts)
        .num_milliseconds();
    let limit = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    if age_ms < -limit(cfg.max_timestamp_future) || age_ms > limit(cfg.max_timestamp_age) {
        return Err(ApiError::new(
            codes::TIMESTAMP_OFF,
            format!(
                "timestamp is {} s {} the server time (allowed: {} s ahead, {} s behind)",
                age_ms.unsigned_abs().div_ceil(1000),
                if age_ms < 0 { "ahead of" } else { "behind" },
                cfg.max_timestamp_future.as_secs(),
                cfg.max_timestamp_age.as_secs()
            ),
        ));
    }
    let (der, is_cert) = approver_key(
        f.approver_public_key.as_ref(),
        f.approver_certificate.as_ref(),
    )?;
    let sig = b64(
        "timestampSignature",
        &f.timestamp_signature,
        codes::INVALID_SIGNATURE,
    )?;
    if !crypto::verify_approver_signature(
        &der,
        is_cert,
        &f.timestamp_digest_algorithm,
        f.timestamp.as_bytes(),
        &sig,
    )? {
        return Err(ApiError::new(
            codes::INVALID_SIGNATURE,
            "timestamp signature does not verify",
        ));
    }
    canonical_approver(&der, is_cert)
}

fn detail_level(s: Option<&str>) -> u8 {
    s.and_then(|s| s.strip_prefix("level"))
        .and_then(|n| n.parse::<u8>().ok())
        .unwrap_or(1)
        .clamp(1, 5)
}

fn task_view(t: &TaskRecord, rec: &RequestRecord, level: u8) -> Task {
    let mut task = Task {
        id: t.id.clone(),
        approval_to_be_signed: t.approval_to_be_signed.clone(),
        approver_public_key: Some(
            rec.display
                .get(&t.approver)
                .cloned()
                .unwrap_or_else(|| t.approver.clone()),
        ),
        detail_level: Some(format!("level{level}")),
        ..Task::default()
    };
    if level >= 2 {
        let inner = rec
            .request
            .get(rec.kind.request_type().envelope_field())
            .cloned()
            .unwrap_or(Value::Null);
        let text = |k: &str| inner.get(k).and_then(Value::as_str).map(str::to_string);
        task.meta_data = text("metaData");
        task.meta_data_signature = text("metaDataSignature");
        task.payload = match rec.kind {
            RequestKind::Sign => text("payload"),
            RequestKind::Decrypt => text("encryptedPayload"),
            _ => Some(B64.encode(serde_json::to_vec(&inner).unwrap_or_default())),
        };
        task.payload_type =
            Some(text("payloadType").unwrap_or_else(|| PAYLOAD_TYPE_UNSPECIFIED.into()));
    }
    if level >= 3 {
        task.request_base64 =
            Some(B64.encode(serde_json::to_vec(&rec.request).unwrap_or_default()));
        task.set_signed_request(rec.kind.request_type(), rec.request.clone());
    }
    task
}

pub(super) fn filtered_tasks(shared: &Shared, body: &[u8], list: TaskList) -> ApiResult {
    // Bean validation of the DTO runs before anything else on the TSB.
    let f: FilteredTasksRequest = from_value(parse_checked(shared, body, &FILTERED_TASKS)?)?;
    let approver = authenticate_approver(&shared.cfg, &f)?;
    // Expire / execute what is due first, so no stale task is offered.
    let jobs = refresh_all(shared, transitions_on_read(shared));
    run_jobs(shared, jobs);
    let level = detail_level(f.detail_level.as_deref());
    let st = shared.store.lock();
    let mut tasks: Vec<(&TaskRecord, &RequestRecord)> = st
        .tasks
        .values()
        .filter(|t| t.approver == approver)
        // `id` wins over `requestId` when both are given.
        .filter(|t| match (&f.id, &f.request_id) {
            (Some(id), _) => *id == t.id,
            (None, Some(rid)) => *rid == t.request_id,
            (None, None) => true,
        })
        .filter_map(|t| st.requests.get(&t.request_id).map(|r| (t, r)))
        .filter(|(_, r)| r.status == RequestState::Pending && list.shows(r.kind.request_type()))
        .collect();
    tasks.sort_by_key(|(t, _)| t.seq);
    // The emulator does not track when a task was last fetched: LAST_FETCHED_DATE orders by
    // creation, as it does on the TSB for tasks never fetched before.
    let views: Vec<Task> = match &f.paging {
        Some(paging) => {
            if paging.sort_order.is_descending() {
                tasks.reverse();
            }
            let size = paging.page_size as usize;
            tasks
                .iter()
                .skip((paging.page_number as usize).saturating_mul(size))
                .take(size)
                .map(|(t, r)| task_view(t, r, level))
                .collect()
        }
        None => tasks.iter().map(|(t, r)| task_view(t, r, level)).collect(),
    };
    drop(st);
    json_response(200, &TasksResponse { tasks: views })
}

fn task_not_found(id: &str) -> ApiError {
    ApiError::new(
        codes::TASK_NOT_EXISTENT,
        format!("task {id} does not exist"),
    )
}

/// Re-evaluate the request of a task and return the task if it is still open.
fn open_task(shared: &Shared, task_id: &str) -> Result<TaskRecord, ApiError> {
    let job = {
        let mut st = shared.store.lock();
        let rid = st
            .tasks
            .get(task_id)
            .ok_or_else(|| task_not_found(task_id))?
            .request_id
            .clone();
        refresh(
            &mut st,
            &rid,
            shared.clock.now_ms(),
            transitions_on_read(shared),
        )
    };
    if let Some(job) = job {
        run_job(shared, job);
    }
    shared
        .store
        .lock()
        .tasks
        .get(task_id)
        .cloned()
        .ok_or_else(|| task_not_found(task_id))
}

/// Record an approval or rejection of `task` and re-evaluate its request.
fn decide(shared: &Shared, task: &TaskRecord, approve: bool) -> Result<(), ApiError> {
    let now = shared.clock.now_ms();
    let job = {
        let mut st = shared.store.lock();
        if st.tasks.remove(&task.id).is_none() {
            return Err(task_not_found(&task.id));
        }
        let rec = st
            .requests
            .get_mut(&task.request_id)
            .ok_or_else(|| task_not_found(&task.id))?;
        if approve {
            rec.approvals.insert(task.approver.clone(), now);
        } else {
            rec.rejections.insert(task.approver.clone());
        }
        st.touch();
        refresh(&mut st, &task.request_id, now, transitions_on_read(shared))
    };
    persist(shared);
    if let Some(job) = job {
        run_job(shared, job);
    }
    Ok(())
}

pub(super) fn approve(shared: &Shared, body: &[u8]) -> ApiResult {
    let a: ApprovalSubmission = from_value(parse_checked(shared, body, &SEND_APPROVAL)?)?;
    let task = open_task(shared, &a.id)?;
    if a.approval_to_be_signed != task.approval_to_be_signed {
        return Err(ApiError::new(
            codes::VALIDATION_FAILED,
            "approvalToBeSigned does not match the task",
        ));
    }
    let (der, is_cert) = approver_key(
        a.approver_public_key.as_ref(),
        a.approver_certificate.as_ref(),
    )?;
    if canonical_approver(&der, is_cert)? != task.approver {
        return Err(ApiError::new(
            codes::INVALID_SIGNATURE,
            "the approver key is not the approver of this task",
        ));
    }
    let tbs = b64(
        "approvalToBeSigned",
        &a.approval_to_be_signed,
        codes::VALIDATION_FAILED,
    )?;
    let sig = b64("signature", &a.signature, codes::INVALID_SIGNATURE)?;
    if !crypto::verify_approver_signature(&der, is_cert, &a.approval_digest_algorithm, &tbs, &sig)?
    {
        return Err(ApiError::new(
            codes::INVALID_SIGNATURE,
            "approval signature does not verify",
        ));
    }
    decide(shared, &task, true)?;
    let mut resp = empty_ok()?;
    resp.request_id = Some(task.request_id);
    Ok(resp)
}

/// `DELETE /v1/task` with a timestamp-authenticated body whose `id` is the task: the approver
/// rejects; the task is deleted and the approver listed in `rejectedBy`.
pub(super) fn reject_task(shared: &Shared, body: &[u8]) -> ApiResult {
    let f: FilteredTasksRequest = from_value(parse_checked(shared, body, &DELETE_TASK)?)?;
    let approver = authenticate_approver(&shared.cfg, &f)?;
    let id = f
        .id
        .as_deref()
        .ok_or_else(|| ApiError::new(codes::VALIDATION_FAILED, "id (the task id) is required"))?;
    let task = open_task(shared, id)?;
    if task.approver != approver {
        return Err(task_not_found(id));
    }
    decide(shared, &task, false)?;
    let mut resp = empty_ok()?;
    resp.request_id = Some(task.request_id);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_freshness() {
        let mk = |ts: String| FilteredTasksRequest {
            timestamp: ts,
            timestamp_signature: "AA==".into(),
            timestamp_digest_algorithm: "SHA-256".into(),
            ..Default::default()
        };
        let at = |s: i64| (chrono::Utc::now() + chrono::Duration::seconds(s)).to_rfc3339();
        let code = |cfg: &EmulatorConfig, ts: String| {
            authenticate_approver(cfg, &mk(ts)).unwrap_err().code
        };
        let default = EmulatorConfig::default();
        assert_eq!(code(&default, at(-700)), codes::TIMESTAMP_OFF);
        assert_eq!(code(&default, at(2)), codes::TIMESTAMP_OFF);
        assert_eq!(code(&default, "yesterday".into()), codes::TIMESTAMP_OFF);
        // In the window but without an approver key: validation error, not a timestamp error.
        assert_eq!(code(&default, at(0)), codes::VALIDATION_FAILED);
        assert_eq!(code(&default, at(-590)), codes::VALIDATION_FAILED);
        let skewed = EmulatorConfig {
            max_timestamp_future: std::time::Duration::from_secs(60),
            max_timestamp_age: std::time::Duration::from_secs(60),
            ..EmulatorConfig::default()
        };
        assert_eq!(code(&skewed, at(30)), codes::VALIDATION_FAILED);
        assert_eq!(code(&skewed, at(-120)), codes::TIMESTAMP_OFF);
    }
}
