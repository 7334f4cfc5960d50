//! Waiting for an approval-gated request: poll `GET /v1/request/{id}` with a schedule that notices
//! an approval quickly and then backs off, bounded by the slot's approval timeout and by the
//! policy's own timeout, interruptible from another thread (C_SessionCancel), and telling the
//! person at the terminal what is happening.

use super::api;
use super::client::Client;
use crate::error::{ApprovalEnd, Error, Result};
use crate::log::Level;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tsb_models::{RequestState, RequestStatus};

pub(crate) use super::cancel::CancelToken;

/// How to wait.
#[derive(Debug, Clone)]
pub(crate) struct WaitParams {
    /// Our own limit.
    pub(crate) approval_timeout: Duration,
    /// First poll interval, kept for `fast_phase`.
    pub(crate) poll_interval: Duration,
    /// Interval cap after the fast phase.
    pub(crate) poll_max_interval: Duration,
    /// How long to poll at the first interval before backing off.
    pub(crate) fast_phase: Duration,
    /// Wait this long before the first poll. A request we have just created cannot have been
    /// approved yet, so polling it at once only costs a request (and pushed the poll rate of a
    /// typical sub-second approval above one per interval); a resumed request is polled at once.
    pub(crate) first_poll_delay: Duration,
    /// The longest token timeout of the key's policy (None: never expires); the wait does not
    /// outlast it by more than `expiry_grace`, since the TSB will report EXPIRED by then.
    pub(crate) policy_timeout: Option<Duration>,
    /// How long past `policy_timeout` the wait keeps polling: a TSB turns a request EXPIRED only
    /// when its request scheduler runs (`hsmRequestsTimerServiceInterval`, 60 s by default), and
    /// the TSB's EXPIRED is the answer to report, not a timeout of our own.
    pub(crate) expiry_grace: Duration,
    /// Approvals needed (smallest token), for the progress line.
    pub(crate) approvals_needed: Option<u32>,
    /// Key label for messages.
    pub(crate) key_label: String,
    /// What is being done, for messages ("signature", "CSR", ...).
    pub(crate) what: String,
    /// Print progress on stderr.
    pub(crate) progress: bool,
}

/// Poll interval after `elapsed` of waiting: constant during the fast phase (so an approval given
/// while someone watches is noticed within one interval), then growing by half per poll to the cap.
pub(crate) fn next_interval(p: &WaitParams, elapsed: Duration, previous: Duration) -> Duration {
    if elapsed < p.fast_phase {
        p.poll_interval
    } else {
        // Integer arithmetic: `mul_f64` panics on overflow.
        (previous.saturating_add(previous / 2)).clamp(p.poll_interval, p.poll_max_interval)
    }
}

/// Wait until the request is decided. Returns the `result` of an EXECUTED request.
pub(crate) fn wait_for(
    c: &Client,
    request_id: &str,
    p: &WaitParams,
    cancel: &Arc<CancelToken>,
) -> Result<String> {
    let started = Instant::now();
    let mut limit = p.approval_timeout;
    if let Some(t) = p.policy_timeout {
        // Slack past the policy timeout so the TSB's own EXPIRED is what we report, however late
        // its scheduler says it. The timeout comes from the server: saturate (2^64-1 s
        // overflowed here once).
        limit = limit.min(t.saturating_add(p.expiry_grace));
    }
    let deadline = crate::util::instant_after(started, limit);
    let mut progress = Progress::new(p, request_id);
    let mut interval = p.poll_interval;
    let mut transport_failures = 0u32;
    let mut not_existent = 0u32;
    crate::log!(
        Level::Info,
        "waiting for approval of request {request_id} ({} with key {})",
        p.what,
        p.key_label
    );
    if !p.first_poll_delay.is_zero() && cancel.sleep(p.first_poll_delay.min(limit)) {
        return cancelled(c, request_id, &mut progress);
    }
    loop {
        if cancel.is_cancelled() {
            return cancelled(c, request_id, &mut progress);
        }
        // Each poll is abandoned at once on cancel or at our deadline, whatever the network does.
        let polling = c.interruptible(cancel.clone(), deadline);
        match api::request_status(&polling, request_id) {
            Ok(st) => {
                transport_failures = 0;
                not_existent = 0;
                match st.status {
                    RequestState::Executed => {
                        progress.finish(&format!("request {request_id} approved and executed"));
                        crate::log!(Level::Info, "request {request_id} EXECUTED");
                        // No result on an executed request: a TSB that hands each result out
                        // once (2.1.0, S2 release notes: "a new parameter") already gave it, to
                        // a status read whose answer was lost (or a poll of another process).
                        // The approvers approved; asking them again is not the module's call.
                        return st.result.ok_or_else(|| result_gone(request_id));
                    }
                    RequestState::Pending | RequestState::Approved => {
                        progress.update(&st, deadline)
                    }
                    other => {
                        let end = match other {
                            RequestState::Rejected => ApprovalEnd::Rejected,
                            RequestState::Expired => ApprovalEnd::Expired,
                            RequestState::Cancelled => ApprovalEnd::Cancelled,
                            _ => ApprovalEnd::Failed,
                        };
                        let err = Error::Approval {
                            end,
                            request_id: request_id.to_string(),
                        };
                        progress.finish(&err.to_string());
                        crate::log!(Level::Info, "{err}");
                        return Err(err);
                    }
                }
            }
            // Only the TSB's own "no such request" (errorCode 651), on two polls in a row,
            // confirms that the request is gone (deleted, or the TSB was reset). A bare 404 can
            // come from a proxy or a load balancer in a bad moment, and ending the wait on it
            // would make the application's retry ask the approvers again. No Securosys source
            // says how a deleted request answers GET; their Go client treats 404 or 500 on
            // DELETE as "already gone" (securosys-com/tsb-client-go, requests.go RemoveRequest).
            Err(Error::Tsb {
                code: Some(tsb_models::codes::REQUEST_NOT_EXISTENT),
                ..
            }) if not_existent >= 1 => {
                let err = Error::Approval {
                    end: ApprovalEnd::Cancelled,
                    request_id: request_id.to_string(),
                };
                progress.finish(&err.to_string());
                crate::log!(Level::Info, "{err} (the TSB no longer knows it)");
                return Err(err);
            }
            Err(e) => {
                // A blip in the network, or one unconfirmed 404, must not lose a request the
                // approvers may be approving: keep polling (with the same backoff) until our
                // deadline. One line for a run of failures, not one per poll.
                if matches!(
                    e,
                    Error::Tsb {
                        code: Some(tsb_models::codes::REQUEST_NOT_EXISTENT),
                        ..
                    }
                ) {
                    not_existent += 1;
                } else {
                    not_existent = 0;
                }
                transport_failures += 1;
                // Info, not warn: the wait goes on, and if it ends without an answer its one
                // line (at the C boundary) says so.
                let level = if cancel.is_cancelled() || Instant::now() >= deadline {
                    Level::Debug // abandoned: handled just below
                } else if transport_failures == 1 {
                    Level::Info
                } else {
                    Level::Debug
                };
                crate::log!(
                    level,
                    "polling request {request_id} failed ({transport_failures} in a row; still waiting): {e}"
                );
            }
        }
        if cancel.is_cancelled() {
            return cancelled(c, request_id, &mut progress);
        }
        let now = Instant::now();
        if now >= deadline {
            let err = Error::Approval {
                end: ApprovalEnd::TimedOut,
                request_id: request_id.to_string(),
            };
            progress.finish(&err.to_string());
            crate::log!(Level::Info, "{err}");
            return Err(err);
        }
        interval = next_interval(p, now - started, interval);
        let sleep = interval.min(deadline - now);
        if cancel.sleep(sleep) {
            return cancelled(c, request_id, &mut progress);
        }
    }
}

/// The error of an EXECUTED request without its result (see [`wait_for`]).
pub(crate) fn result_gone(request_id: &str) -> Error {
    Error::OutcomeUnknown(format!(
        "request {request_id} was approved and EXECUTED, but the TSB no longer hands out its \
         result: it gives each result out once (TSB 2.1.0) and the answer that carried it was \
         lost; not asking the approvers again. The same operation is refused for an hour (rerun \
         with TSB_PKCS11_FORGET_UNKNOWN=1 to ask them again sooner)"
    ))
}

/// How long the deletion of a cancelled request may hold up the caller's return: C_SessionCancel,
/// C_CloseSession and C_Finalize must end the call within a second.
const DELETE_WAIT: Duration = Duration::from_millis(500);

fn cancelled(c: &Client, request_id: &str, progress: &mut Progress) -> Result<String> {
    // A token of its own: the session's is cancelled, which would abandon the DELETE at once.
    let deleting = c.interruptible(
        Arc::new(CancelToken::default()),
        Instant::now() + DELETE_WAIT,
    );
    if let Err(e) = api::cancel_request(&deleting, request_id) {
        crate::log!(
            Level::Warn,
            "could not delete request {request_id} on the TSB within {} ms after cancel ({e}); \
             it stays pending until the approvers decide or it expires",
            DELETE_WAIT.as_millis()
        );
    }
    let err = Error::Approval {
        end: ApprovalEnd::CancelledByCaller,
        request_id: request_id.to_string(),
    };
    progress.finish(&err.to_string());
    crate::log!(Level::Info, "{err}");
    Err(err)
}

/// The progress line on stderr: updated in place on a terminal, plain lines otherwise (at the
/// start, when the approvals change, and every 30 s).
struct Progress {
    enabled: bool,
    tty: bool,
    request_id: String,
    key: String,
    what: String,
    needed: Option<u32>,
    last_given: Option<usize>,
    last_plain: Option<Instant>,
    drawn: bool,
}

impl Progress {
    fn new(p: &WaitParams, request_id: &str) -> Progress {
        // SAFETY: isatty only inspects the descriptor.
        let tty = unsafe { libc::isatty(2) } == 1;
        Progress {
            // Log level `off` is for programs that must stay silent: no progress either.
            enabled: p.progress && crate::log::enabled(Level::Error),
            tty,
            request_id: request_id.to_string(),
            key: p.key_label.clone(),
            what: p.what.clone(),
            needed: p.approvals_needed,
            last_given: None,
            last_plain: None,
            drawn: false,
        }
    }

    fn update(&mut self, st: &RequestStatus, deadline: Instant) {
        if !self.enabled {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now()).as_secs();
        let given = st.approved_by.len();
        let needed = self
            .needed
            .map(|n| n.to_string())
            .unwrap_or_else(|| "?".into());
        let state = if st.status == RequestState::Approved {
            ", approved, waiting for execution"
        } else {
            ""
        };
        let line = format!(
            "tsb-pkcs11: waiting for approval of request {} ({} with key {}): {given}/{needed} approvals{state}, {}:{:02} left",
            self.request_id,
            self.what,
            self.key,
            left / 60,
            left % 60
        );
        let mut err = std::io::stderr();
        if self.tty {
            let _ = write!(err, "\r\x1b[K{line}");
            let _ = err.flush();
            self.drawn = true;
        } else {
            let due = self
                .last_plain
                .map(|t| t.elapsed() >= Duration::from_secs(30))
                .unwrap_or(true);
            if due || self.last_given != Some(given) {
                let _ = writeln!(err, "{line}");
                self.last_plain = Some(Instant::now());
            }
        }
        self.last_given = Some(given);
    }

    fn finish(&mut self, msg: &str) {
        if !self.enabled {
            return;
        }
        let mut err = std::io::stderr();
        if self.tty && self.drawn {
            let _ = writeln!(err, "\r\x1b[Ktsb-pkcs11: {msg}");
        } else if self.last_plain.is_some() {
            let _ = writeln!(err, "tsb-pkcs11: {msg}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> WaitParams {
        WaitParams {
            approval_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_millis(200),
            poll_max_interval: Duration::from_secs(2),
            fast_phase: Duration::from_secs(30),
            first_poll_delay: Duration::ZERO,
            policy_timeout: None,
            expiry_grace: Duration::from_secs(60),
            approvals_needed: Some(1),
            key_label: "k".into(),
            what: "signature".into(),
            progress: false,
        }
    }

    #[test]
    fn schedule_is_fast_then_backs_off_to_cap() {
        let p = params();
        let mut i = p.poll_interval;
        i = next_interval(&p, Duration::from_secs(1), i);
        assert_eq!(i, Duration::from_millis(200));
        i = next_interval(&p, Duration::from_secs(31), i);
        assert_eq!(i, Duration::from_millis(300));
        for _ in 0..20 {
            i = next_interval(&p, Duration::from_secs(100), i);
        }
        assert_eq!(i, Duration::from_secs(2));
    }

    #[test]
    fn schedule_saturates_absurd_values() {
        let mut p = params();
        p.poll_max_interval = Duration::MAX;
        assert_eq!(
            next_interval(&p, Duration::from_secs(100), Duration::MAX),
            Duration::MAX
        );
    }
}
