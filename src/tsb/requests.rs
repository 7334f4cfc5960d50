//! Running an operation on the TSB for a key, and what the module remembers about approval
//! requests so that one is never sent twice:
//! - a key without approvals uses the synchronous endpoint;
//! - an approval-gated key uses the asynchronous one and waits ([`super::wait`]);
//! - a request still pending when our timeout ends is remembered by the operation's fingerprint
//!   (in the journal, [`super::journal`]), so the same operation asked again resumes waiting on it;
//! - a creating call whose answer was lost leaves an outcome-unknown marker, and the same
//!   operation is refused (not asked again) while it stands;
//! - a rejection answers the same operation asked again for [`REJECTION_MEMORY`].

use super::cancel::CancelToken;
use super::journal::{Claim, Entry as JournalEntry, Journal, State as JournalState};
use super::key::KeyInfo;
use super::{wait, Tsb};
use crate::error::{ApprovalEnd, Error, Result};
use crate::log::Level;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long a rejection answers the same operation asked again. Tools retry a failed C_Sign
/// at once (pkcs11-tool 0.23 retries it as C_SignUpdate/C_SignFinal): without this, the
/// approvers who just said no would be asked again by the same command.
pub(crate) const REJECTION_MEMORY: Duration = Duration::from_secs(30);

/// What is known about approval requests by operation fingerprint, in the journal
/// ([`super::journal`]: memory, and the shared file when configured): requests that outlived
/// our approval timeout, creating calls in flight, and lost answers. Also the operations rejected
/// moments ago (see [`REJECTION_MEMORY`]). One per module, shared by its slots.
pub(crate) struct Requests {
    journal: Journal,
    rejected: Mutex<HashMap<String, (String, std::time::Instant)>>,
}

impl Requests {
    /// Use the journal file `journal` (read when needed; created on the first change), or memory.
    /// `forget_unknown` (TSB_PKCS11_FORGET_UNKNOWN at C_Initialize): drop every outcome-unknown
    /// marker first.
    pub(crate) fn new(journal: Option<PathBuf>, forget_unknown: bool) -> Requests {
        let journal = Journal::new(journal);
        if forget_unknown {
            let n = journal.forget_unknown();
            crate::log!(
                Level::Warn,
                "TSB_PKCS11_FORGET_UNKNOWN: forgot {n} outcome-unknown marker(s); those operations \
                 will ask the approvers again"
            );
        }
        Requests {
            journal,
            rejected: Mutex::new(HashMap::new()),
        }
    }

    /// The id of a request for this operation that the approvers rejected within
    /// [`REJECTION_MEMORY`].
    fn recently_rejected(&self, fp: &str) -> Option<String> {
        let mut r = self.rejected.lock();
        r.retain(|_, (_, at)| at.elapsed() < REJECTION_MEMORY);
        r.get(fp).map(|(id, _)| id.clone())
    }

    fn note_rejected(&self, fp: &str, id: &str) {
        self.rejected
            .lock()
            .insert(fp.to_string(), (id.to_string(), std::time::Instant::now()));
    }

    fn remove(&self, fp: &str) {
        self.journal.remove(fp);
    }
}

/// Whether a failed creating call may have created the request anyway: its answer was lost (or
/// unusable), or a gateway in front of the TSB answered 502/504 without a TSB error body.
fn maybe_created(e: &Error) -> bool {
    matches!(e, Error::OutcomeUnknown(_))
        || matches!(
            e,
            Error::Tsb {
                status: 502 | 504,
                code: None,
                ..
            }
        )
}

/// The error (and log line) for an operation whose request may exist unknown to us: what
/// happened and what to do.
fn outcome_unknown(
    marker: &JournalEntry,
    journal: Option<&std::path::Path>,
    cause: Option<&Error>,
) -> Error {
    let what = marker.what.as_deref().unwrap_or("the operation");
    if let (Some(id), None) = (&marker.request_id, cause) {
        // Executed, its result lost (fetch-once results): see `wait::result_gone`.
        let until = marker
            .until
            .map(|u| format!("until {}", crate::util::rfc3339(u)))
            .unwrap_or_else(|| "until the marker is cleared".into());
        return Error::OutcomeUnknown(format!(
            "{what}: request {id} was approved and executed, but its result was lost (the TSB \
             hands a result out once); not asking the approvers again {until} (rerun with \
             TSB_PKCS11_FORGET_UNKNOWN=1{} to ask them again)",
            journal
                .map(|p| format!(
                    " or delete the line with fingerprint {} from {}",
                    marker.fingerprint,
                    p.display()
                ))
                .unwrap_or_default()
        ));
    }
    let since = marker
        .since
        .map(crate::util::rfc3339)
        .unwrap_or_else(|| "an earlier run".into());
    let cause = cause.map(|c| format!(" ({c})")).unwrap_or_default();
    let until = match marker.until {
        Some(u) => format!(
            "this same operation is refused until {} (when such a request has expired on the TSB)",
            crate::util::rfc3339(u)
        ),
        None => "the key's policy never expires, so this same operation is refused until the \
                 marker is cleared"
            .into(),
    };
    let clear = match journal {
        Some(p) => format!(
            "to ask again sooner, rerun with TSB_PKCS11_FORGET_UNKNOWN=1 or delete the line with \
             fingerprint {} from {}",
            marker.fingerprint,
            p.display()
        ),
        None => {
            "to ask again sooner, restart the application (or set TSB_PKCS11_FORGET_UNKNOWN=1): \
                 without a \"journal\" only this process remembers it"
                .into()
        }
    };
    Error::OutcomeUnknown(format!(
        "{what}: the TSB may have created a request for the approvers at {since} but its answer \
         was lost{cause}; not asking them again. Look for it in the approvers' task list; {until}; \
         {clear}"
    ))
}

/// The fingerprint of an operation: same slot, key, kind, algorithm and input = same operation.
pub(crate) fn fingerprint(
    slot: usize,
    tsb_label: &str,
    kind: &str,
    algorithm: &str,
    payload: &[u8],
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        slot.to_string().as_bytes(),
        tsb_label.as_bytes(),
        kind.as_bytes(),
        algorithm.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.update(payload);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What to run on the TSB, with both of its forms.
pub(crate) struct RemoteCall<'a, T> {
    /// "signature", "decryption", "CSR", ... (part of the fingerprint and the messages).
    pub(crate) kind: &'a str,
    /// TSB algorithm name (part of the fingerprint).
    pub(crate) algorithm: &'a str,
    /// Input bytes (part of the fingerprint).
    pub(crate) payload: &'a [u8],
    /// Synchronous endpoint: returns the result directly.
    pub(crate) sync: &'a dyn Fn() -> Result<T>,
    /// Asynchronous endpoint: returns the request id.
    pub(crate) create: &'a dyn Fn() -> Result<String>,
    /// Use the asynchronous endpoint even for a key without approvals (the synchronous one
    /// refuses what is asked, e.g. an `EDDSA` CSR before the newer certificate DTOs).
    pub(crate) force_async: bool,
}

/// How long the same operation is refused after its executed request's result was lost (see
/// [`super::wait::result_gone`]): the approvers approved it once, and asking them again is the
/// person's decision, not a retry's.
pub(crate) const RESULT_LOST_REFUSAL: u64 = 3600;

/// How a [`RemoteCall`] ran.
pub(crate) enum Ran<T> {
    /// The synchronous endpoint answered (a key without approvals).
    Now(T),
    /// The approvers approved and the TSB executed it: the request's `result`.
    Approved(String),
}

/// The caller's side of an operation that may wait for approvers: what ends the wait early
/// (C_SessionCancel, C_CloseSession, C_Finalize), and where the id of a request created or resumed
/// is reported (at once, before the wait).
pub(crate) struct Caller<'a> {
    /// Cancelled from another thread to stop the wait.
    pub(crate) cancel: &'a Arc<CancelToken>,
    /// Told the request id as soon as it is known.
    pub(crate) on_request: &'a dyn Fn(&str),
}

impl Tsb {
    /// Run an operation on the TSB for `key`: the synchronous endpoint for keys without approvals;
    /// otherwise the asynchronous one plus the wait, resuming a remembered request if this exact
    /// operation timed out before.
    pub(crate) fn run<T>(
        &self,
        key: &KeyInfo,
        call: RemoteCall<T>,
        caller: &Caller,
    ) -> Result<Ran<T>> {
        if !key.approval_required && !call.force_async {
            return (call.sync)().map(Ran::Now);
        }
        let fp = fingerprint(
            self.slot,
            &key.tsb_label,
            call.kind,
            call.algorithm,
            call.payload,
        );
        let params = self.wait_params(key, call.kind);
        if let Some(id) = self.requests.recently_rejected(&fp) {
            crate::log!(
                Level::Info,
                "the same {} with key {} was rejected moments ago (request {id}); not asking the approvers again",
                call.kind,
                key.tsb_label
            );
            (caller.on_request)(&id);
            return Err(Error::Approval {
                end: ApprovalEnd::Rejected,
                request_id: id,
            });
        }
        // The creating call gets three times the request timeout; a marker of a sender older
        // than that (plus slack) is stale.
        let create_timeout = super::limits::create_timeout(self.wait.request_timeout);
        let sending_for = create_timeout.as_secs().saturating_add(5);
        let mark = loop {
            let now = super::journal::unix_now();
            let mark = JournalEntry {
                fingerprint: fp.clone(),
                state: JournalState::Sending,
                request_id: None,
                pid: Some(std::process::id()),
                since: Some(now),
                // Any request created by this call has expired on the TSB once the policy's
                // timeout has passed after the call's end (a minute of slack for clocks).
                until: key.policy_timeout.map(|t| {
                    now.saturating_add(create_timeout.as_secs())
                        .saturating_add(t.as_secs())
                        .saturating_add(60)
                }),
                what: Some(format!("{} with key {}", call.kind, key.tsb_label)),
            };
            match self.requests.journal.claim(&mark, now, sending_for) {
                Claim::Send(ran_out) => {
                    if let Some(old) = ran_out {
                        crate::log!(
                            Level::Info,
                            "{}: the outcome-unknown marker of {} has run out; asking the approvers",
                            mark.what.as_deref().unwrap_or_default(),
                            old.since.map(crate::util::rfc3339).unwrap_or_default()
                        );
                    }
                    break mark;
                }
                Claim::Resume(id) => {
                    crate::log!(
                        Level::Info,
                        "resuming the wait on request {id} ({} with key {}) instead of asking the approvers again",
                        call.kind,
                        key.tsb_label
                    );
                    (caller.on_request)(&id);
                    match wait::wait_for(&self.client, &id, &params, caller.cancel) {
                        // The remembered request vanished (e.g. the TSB was reset): ask anew.
                        Err(Error::Approval {
                            end: ApprovalEnd::Cancelled,
                            ..
                        }) => self.requests.remove(&fp),
                        r => return self.settle(&fp, &mark, &id, r).map(Ran::Approved),
                    }
                }
                Claim::Busy(_) => {
                    // Another thread or process is sending this very operation: its request id
                    // (or its failure) is in the journal within moments.
                    if caller.cancel.sleep(Duration::from_millis(50)) {
                        return Err(Error::Cancelled(
                            "cancelled while another caller was sending the same operation".into(),
                        ));
                    }
                }
                Claim::Refuse(marker) => {
                    // Reported once, where the call returns (log::report).
                    return Err(outcome_unknown(&marker, self.requests.journal.path(), None));
                }
            }
        };
        let id = match (call.create)() {
            Ok(id) => id,
            Err(e) if maybe_created(&e) => {
                self.requests.journal.lost(&mark);
                return Err(outcome_unknown(
                    &mark,
                    self.requests.journal.path(),
                    Some(&e),
                ));
            }
            Err(e) => {
                self.requests.journal.not_created(&fp);
                return Err(e);
            }
        };
        crate::log!(
            Level::Info,
            "created request {id} ({} with key {}); waiting for approval",
            call.kind,
            key.tsb_label
        );
        (caller.on_request)(&id);
        // Remember at once (journal), so a killed process resumes too.
        self.requests.journal.created(&mark, &id);
        // Just created: no approver can have approved it yet, so the first poll waits one interval.
        let params = wait::WaitParams {
            first_poll_delay: params.poll_interval,
            ..params
        };
        let r = wait::wait_for(&self.client, &id, &params, caller.cancel);
        self.settle(&fp, &mark, &id, r).map(Ran::Approved)
    }

    /// After a wait: forget the request unless it is still pending after our timeout, remember
    /// a rejection for [`REJECTION_MEMORY`], and an executed request whose result was lost for
    /// [`RESULT_LOST_REFUSAL`].
    fn settle(&self, fp: &str, mark: &JournalEntry, id: &str, r: Result<String>) -> Result<String> {
        match &r {
            Err(Error::OutcomeUnknown(_)) => {
                let now = super::journal::unix_now();
                self.requests.journal.put(JournalEntry {
                    state: JournalState::Unknown,
                    since: Some(now),
                    until: Some(now.saturating_add(RESULT_LOST_REFUSAL)),
                    pid: Some(std::process::id()),
                    request_id: Some(id.to_string()),
                    ..mark.clone()
                });
            }
            Err(Error::Approval {
                end: ApprovalEnd::TimedOut,
                ..
            }) => {}
            Err(Error::Approval {
                end: ApprovalEnd::Rejected,
                request_id,
            }) => {
                self.requests.remove(fp);
                self.requests.note_rejected(fp, request_id);
            }
            _ => self.requests.remove(fp),
        }
        r
    }

    /// Wait parameters for an operation with `key`.
    fn wait_params(&self, key: &KeyInfo, what: &str) -> wait::WaitParams {
        wait::WaitParams {
            approval_timeout: self.wait.approval_timeout,
            poll_interval: self.wait.poll_interval,
            poll_max_interval: self.wait.poll_max_interval,
            fast_phase: Duration::from_secs(30),
            first_poll_delay: Duration::ZERO,
            policy_timeout: key.policy_timeout,
            expiry_grace: self.wait.expiry_grace,
            approvals_needed: key.approvals_needed,
            key_label: key.tsb_label.clone(),
            what: what.to_string(),
            progress: self.wait.progress,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_separates_fields() {
        let a = fingerprint(0, "ab", "c", "d", b"x");
        let b = fingerprint(0, "a", "bc", "d", b"x");
        assert_ne!(a, b);
        assert_eq!(a, fingerprint(0, "ab", "c", "d", b"x"));
        assert_ne!(a, fingerprint(1, "ab", "c", "d", b"x"));
    }

    #[test]
    fn journal_round_trip() {
        let dir = std::env::temp_dir().join(format!("tsb-journal-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join("j.jsonl");
        let _ = std::fs::remove_file(&p);
        let j = Requests::new(Some(p.clone()), false);
        j.journal
            .created(&JournalEntry::pending("fp1", "req-0"), "req-1");
        let j2 = Requests::new(Some(p.clone()), false);
        assert_eq!(
            j2.journal.get("fp1").and_then(|e| e.request_id).as_deref(),
            Some("req-1")
        );
        j2.remove("fp1");
        assert_eq!(Requests::new(Some(p), false).journal.get("fp1"), None);
    }
}
