//! SKA requests: creation, lazy and scheduled re-evaluation, execution, status, cancel, list.

use super::operations::{
    check_prehashed_on_ska, prepare, rule_of, run_operation, Operation, PasswordCheck,
};
use super::{empty_ok, json_response, parse, parse_checked, persist, rfc3339, ApiError, ApiResult};
use crate::ska::{self, Verdict};
use crate::store::{RequestKind, RequestRecord, Store, TaskRecord};
use crate::Shared;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tsb_models::codes;
use tsb_models::*;

/// Scheduler period without `scheduler_interval`: APPROVED requests whose timelock passed execute
/// without a read.
const SCHEDULER_TICK: Duration = Duration::from_millis(200);

/// Whether the transitions of the TSB's request scheduler (APPROVED -> EXECUTED, -> EXPIRED) may
/// happen outside a scheduler run: only when no `scheduler_interval` is configured. With one, a
/// read shows APPROVED (or still PENDING past the timeout) until the scheduler runs, as on a TSB
/// whose `hsmRequestsTimerServiceInterval` is 60 s (S2 `tsb/Download/release_notes.md` 1.18.0).
/// (S2 release notes 1.15.2 mention executions by `GET /v1/request/{id}` in multi-tenant mode;
/// whether a read executes a due request on current TSBs is not documented: here it does not.)
pub(super) fn transitions_on_read(shared: &Shared) -> bool {
    shared.cfg.scheduler_interval.is_zero()
}

/// An approved request to execute (claimed: `executing` is set on its record).
pub(super) struct Job {
    id: String,
    kind: RequestKind,
    request: Value,
}

/// Re-evaluate one request at `now`; returns a job when it must execute now. `scheduled`: the
/// scheduler's transitions (execute, expire) may happen now (see [`transitions_on_read`]).
pub(super) fn refresh(st: &mut Store, id: &str, now: i64, scheduled: bool) -> Option<Job> {
    let rec = st.requests.get_mut(id)?;
    if rec.status.is_terminal() || rec.executing {
        return None;
    }
    let e = ska::evaluate(
        &rec.rule,
        rec.created_ms,
        now,
        &rec.approvals,
        &rec.rejections,
    );
    let before = (rec.status, rec.not_yet_approved.clone());
    match e.verdict {
        Verdict::Pending => {
            rec.status = RequestState::Pending;
            rec.not_yet_approved = e.not_yet_approved;
        }
        Verdict::Approved => {
            rec.status = RequestState::Approved;
            rec.not_yet_approved.clear();
        }
        // Due, but it executes when the scheduler runs.
        Verdict::Ready if !scheduled => {
            rec.status = RequestState::Approved;
            rec.not_yet_approved.clear();
        }
        // Past its timeout, but only the scheduler says so.
        Verdict::Expired if !scheduled => {}
        Verdict::Ready => {
            rec.status = RequestState::Approved;
            rec.not_yet_approved.clear();
            rec.executing = true;
            let job = Job {
                id: rec.id.clone(),
                kind: rec.kind,
                request: rec.request.clone(),
            };
            st.tasks.retain(|_, t| t.request_id != id);
            st.touch();
            return Some(job);
        }
        Verdict::Expired => {
            st.finish(id, RequestState::Expired);
            return None;
        }
        Verdict::Rejected => {
            st.finish(id, RequestState::Rejected);
            return None;
        }
    }
    if before != (rec.status, rec.not_yet_approved.clone()) {
        st.touch();
    }
    None
}

/// Re-evaluate every active request; returns the jobs to run. `scheduled` as in [`refresh`].
pub(super) fn refresh_all(shared: &Shared, scheduled: bool) -> Vec<Job> {
    let now = shared.clock.now_ms();
    let mut st = shared.store.lock();
    let ids: Vec<String> = st.active.iter().cloned().collect();
    ids.iter()
        .filter_map(|id| refresh(&mut st, id, now, scheduled))
        .collect()
}

/// One run of the request scheduler: every due request executes or expires.
fn scheduler_run(shared: &Shared) {
    let jobs = refresh_all(shared, true);
    persist(shared);
    run_jobs(shared, jobs);
}

/// Run the scheduler now, from the caller's thread (`Emulator::run_scheduler`, the test control).
pub(crate) fn run_scheduler_now(shared: &Shared) {
    scheduler_run(shared);
}

/// Execute a claimed request outside the store lock and record EXECUTED (with the result) or
/// FAILED (result null). A panic in the operation counts as a failure.
pub(super) fn run_job(shared: &Shared, job: Job) {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let op = Operation::from_request(job.kind, &job.request)?;
        run_operation(shared, &op, PasswordCheck::Skip)
    }))
    .unwrap_or_else(|_| Err(ApiError::new(codes::IN_HSM, "operation panicked")));
    let now = shared.clock.now_ms();
    {
        let mut st = shared.store.lock();
        let Some(rec) = st.requests.get_mut(&job.id) else {
            return;
        };
        rec.executing = false;
        if rec.status.is_terminal() {
            return; // cancelled while executing
        }
        rec.execution_ms = Some(now);
        let state = match outcome {
            Ok(result) => {
                rec.result = if job.kind == RequestKind::SelfSign {
                    Some("true".into())
                } else {
                    result
                };
                RequestState::Executed
            }
            Err(_) => {
                rec.result = None;
                RequestState::Failed
            }
        };
        st.finish(&job.id, state);
    }
    persist(shared);
}

pub(super) fn run_jobs(shared: &Shared, jobs: Vec<Job>) {
    for job in jobs {
        run_job(shared, job);
    }
}

/// Background re-evaluation, so APPROVED requests execute when their timelock passes without
/// anyone reading them: every 200 ms, or every `scheduler_interval` when one is configured.
pub(crate) fn scheduler_loop(shared: std::sync::Arc<Shared>) {
    let interval = match shared.cfg.scheduler_interval {
        d if d.is_zero() => SCHEDULER_TICK,
        d => d,
    };
    let mut last = std::time::Instant::now();
    while !shared.shutdown.load(Ordering::SeqCst) {
        // Short sleeps, so shutdown is quick whatever the interval.
        std::thread::sleep(
            SCHEDULER_TICK
                .min(interval.saturating_sub(last.elapsed()))
                .max(Duration::from_millis(1)),
        );
        if last.elapsed() >= interval {
            last = std::time::Instant::now();
            scheduler_run(&shared);
        }
    }
}

pub(super) fn async_op(shared: &Shared, kind: RequestKind, body: &[u8]) -> ApiResult {
    let dto = super::operations::body_dto(kind, false, shared.cfg.tsb_version);
    let mut outer = parse_checked(shared, body, dto)?;
    let op = Operation::from_request(kind, &outer)?;
    let now = shared.clock.now_ms();
    let payload = op.approval_payload(&outer);
    let id = uuid::Uuid::new_v4().to_string();
    let job = {
        let mut st = shared.store.lock();
        let p = prepare(
            &st,
            op.key_name(),
            PasswordCheck::Given(op.password()),
            kind,
        )?;
        check_prehashed_on_ska(shared.cfg.tsb_version, &op, &p)?;
        // The password is checked now; the stored request (shown to approvers at level3 and
        // persisted) must not carry it.
        if let Some(inner) = outer
            .get_mut(kind.request_type().envelope_field())
            .and_then(Value::as_object_mut)
        {
            if inner.contains_key("keyPassword") {
                inner.insert("keyPassword".into(), Value::Null);
            }
        }
        let rule = rule_of(&p.rules, kind).clone();
        let seq = st.next_seq();
        let pending = ska::evaluate(&rule, now, now, &BTreeMap::new(), &BTreeSet::new()).verdict
            == Verdict::Pending;
        if pending {
            let op_code = kind.request_type().eka_operation();
            for approver in rule.approvers() {
                let mut nonce = [0u8; 32];
                let _ = openssl::rand::rand_bytes(&mut nonce);
                let tbs = ska::approval_to_be_signed(
                    op_code,
                    &p.label,
                    &payload,
                    (now / 1000).max(0) as u64,
                    &nonce,
                );
                let task_id = uuid::Uuid::new_v4().to_string();
                let task_seq = st.next_seq();
                st.tasks.insert(
                    task_id.clone(),
                    TaskRecord {
                        id: task_id,
                        seq: task_seq,
                        request_id: id.clone(),
                        approver,
                        approval_to_be_signed: B64.encode(tbs),
                    },
                );
            }
        }
        let display = p.rules.display.clone();
        st.requests.insert(
            id.clone(),
            RequestRecord {
                id: id.clone(),
                seq,
                kind,
                key_label: p.label.clone(),
                request: outer,
                created_ms: now,
                status: RequestState::Pending,
                rule,
                display,
                approvals: BTreeMap::new(),
                rejections: BTreeSet::new(),
                not_yet_approved: Vec::new(),
                result: None,
                execution_ms: None,
                executing: false,
            },
        );
        st.active.insert(id.clone());
        st.touch();
        // TSB >= 2.0.1: a request whose rule is empty or always fulfilled executes at once (S2
        // release notes 2.0.1); before, it waited for the scheduler ("the cronjob").
        let at_once = shared.cfg.tsb_version.executes_fulfilled_requests_at_once();
        refresh(&mut st, &id, now, at_once)
    };
    persist(shared);
    if let Some(job) = job {
        run_job(shared, job);
    }
    let field = kind.request_type().request_id_field();
    let mut resp = json_response(201, &json!({ field: id }))?;
    resp.request_id = Some(id);
    Ok(resp)
}

fn status_of(rec: &RequestRecord) -> RequestStatus {
    let show = |id: &String| rec.display.get(id).cloned().unwrap_or_else(|| id.clone());
    let mut approved: Vec<(&String, &i64)> = rec.approvals.iter().collect();
    approved.sort_by_key(|(_, t)| **t);
    RequestStatus {
        id: rec.id.clone(),
        status: rec.status,
        execution_time: rec.execution_ms.map(rfc3339),
        approved_by: approved.into_iter().map(|(a, _)| show(a)).collect(),
        not_yet_approved_by: rec.not_yet_approved.iter().map(show).collect(),
        rejected_by: rec.rejections.iter().map(show).collect(),
        result: rec.result.clone(),
    }
}

fn request_not_found(id: &str) -> ApiError {
    ApiError::new(
        codes::REQUEST_NOT_EXISTENT,
        format!("request {id} does not exist"),
    )
}

pub(super) fn request_status(shared: &Shared, id: &str) -> ApiResult {
    let job = {
        let mut st = shared.store.lock();
        if !st.requests.contains_key(id) {
            return Err(request_not_found(id));
        }
        refresh(
            &mut st,
            id,
            shared.clock.now_ms(),
            transitions_on_read(shared),
        )
    };
    if let Some(job) = job {
        run_job(shared, job);
    } else {
        persist(shared);
    }
    let mut st = shared.store.lock();
    let rec = st
        .requests
        .get_mut(id)
        .ok_or_else(|| request_not_found(id))?;
    let status = status_of(rec);
    // TSB 2.1.0 "SKA-Request Result Fetching: ... the result of an SKA-Request to be fetched only
    // once" (S2 release notes): after the read that carried it, the result is gone (`null`; the
    // notes do not say whether the request itself stays, here it does).
    if shared.cfg.fetch_result_once && rec.status.is_terminal() && rec.result.take().is_some() {
        st.touch();
    }
    drop(st);
    persist(shared);
    let mut resp = json_response(200, &status)?;
    resp.request_id = Some(id.to_string());
    Ok(resp)
}

/// `DELETE /v1/request/{id}`: a pending or approved request becomes CANCELLED and its tasks go
/// away (TSB 1.12.0, S2 release notes). A request that already ended is left as it is and
/// answers 500: Securosys' Go client treats a 404 or a 500 of this call as "already gone" (S1
/// `requests.go` `RemoveRequest`); which of them a TSB gives for an ended request is not
/// documented. An unknown id is 404 errorCode 651.
pub(super) fn cancel_request(shared: &Shared, id: &str) -> ApiResult {
    {
        let mut st = shared.store.lock();
        let rec = st.requests.get(id).ok_or_else(|| request_not_found(id))?;
        if rec.status.is_terminal() {
            return Err(ApiError::new(
                codes::GENERAL,
                format!("request {id} already ended ({})", rec.status.as_str()),
            )
            .with_status(500));
        }
        st.finish(id, RequestState::Cancelled);
    }
    persist(shared);
    let mut resp = empty_ok()?;
    resp.request_id = Some(id.to_string());
    Ok(resp)
}

pub(super) fn filtered_requests(shared: &Shared, body: &[u8]) -> ApiResult {
    let f: FilteredRequestsRequest = if body.iter().all(u8::is_ascii_whitespace) {
        Default::default()
    } else {
        parse(body)?
    };
    let jobs = refresh_all(shared, transitions_on_read(shared));
    run_jobs(shared, jobs);
    let st = shared.store.lock();
    let mut recs: Vec<&RequestRecord> = st
        .requests
        .values()
        .filter(|r| f.request_status_list.is_empty() || f.request_status_list.contains(&r.status))
        .collect();
    recs.sort_by_key(|r| r.seq);
    let out = FilteredRequestsResponse {
        requests: recs
            .into_iter()
            .map(|r| RequestSummary {
                id: r.id.clone(),
                status: r.status,
            })
            .collect(),
    };
    drop(st);
    json_response(200, &out)
}
