//! `tsb_approve`: the approver's side of the Securosys TSB Smart Key Attributes (SKA) workflow.
//!
//! An SKA key's policy names approvers by public key. When an application asks the TSB to use the
//! key (`POST /v1/sign`, ...), the TSB creates one *task* per approver. An approver
//!
//! 1. proves possession of its private key by signing the current time (the *timestamp proof*) and
//!    fetches its tasks with `POST /v1/filteredAllApprovalTask` ([`Approver::tasks`]);
//! 2. signs the base64-decoded `approvalToBeSigned` of a task and submits it with
//!    `POST /v1/approval` ([`Approver::approve`]), or deletes the task to reject the request
//!    ([`Approver::reject`]).
//!
//! This crate implements exactly that protocol (its Securosys sources are cited in `tsb_models`),
//! so it works against a real TSB as well as against `tsb-emulator`. The `tsb-approve` binary is a
//! thin command line around it.
//!
//! ```no_run
//! use tsb_approve::{Approver, ApproverKey, KeyKind, TaskFilter};
//!
//! # fn main() -> Result<(), tsb_approve::ApproveError> {
//! let key = ApproverKey::generate(KeyKind::EcP256);
//! // This string goes into the `value` of a `public_key` approval of the key's policy.
//! println!("{}", key.public_key_b64());
//! let approver = Approver::new("http://127.0.0.1:8080", key);
//! for task in approver.tasks(&TaskFilter::default())? {
//!     approver.approve(&task)?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Secrets: neither the private key nor the API key is ever part of a `Debug` or `Display` output
//! of this crate.

#![warn(missing_docs)]

mod client;
mod key;
mod task;

pub use client::{Approver, Event, WatchOutcome, DEFAULT_POLL, DEFAULT_TIMEOUT};
pub use key::{now_timestamp, ApproverKey, KeyKind, TIMESTAMP_BACKDATE};
pub use task::{canonical_operation, PendingTask, TaskFilter, OPERATIONS};

use std::fmt;
use std::path::PathBuf;

// Re-exported so that users need no direct dependency on tsb-models.
pub use tsb_models::{
    ApprovalSubmission, ErrorBody, FilteredTasksRequest, RequestState, RequestStatus, Task,
};

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Everything that can go wrong. `Display` names the file or the method and URL, and for an HTTP
/// error the status plus the TSB's `errorCode`, `reason` and `message`. It never contains key
/// material or the API key.
#[derive(Debug, Clone)]
pub enum ApproveError {
    /// A local file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// The private key could not be parsed, or is of an unsupported type.
    Key(String),
    /// Signing with the approver key failed.
    Crypto(String),
    /// Bad configuration: malformed base URL, unusable CA file.
    Config(String),
    /// The request was not answered: connection refused, DNS, TLS, timeout.
    Transport {
        /// HTTP method.
        method: &'static str,
        /// Full URL.
        url: String,
        /// The error and its causes.
        message: String,
        /// Whether the timeout elapsed.
        timeout: bool,
    },
    /// The TSB answered with a non-success status.
    Http {
        /// HTTP method.
        method: &'static str,
        /// Full URL.
        url: String,
        /// HTTP status code.
        status: u16,
        /// The TSB error body, when the response had one (boxed to keep the error small).
        error: Option<Box<ErrorBody>>,
        /// Start of the response body when it was not a TSB error body (for diagnosis).
        body: String,
    },
    /// The TSB answered with success, but the body is not what the API documents.
    Decode {
        /// HTTP method.
        method: &'static str,
        /// Full URL.
        url: String,
        /// What did not parse.
        message: String,
    },
    /// No pending task of this approver has the given task or request id.
    NotFound(String),
    /// The request cannot be made safely (e.g. the server ignores a filter we rely on).
    Refused(String),
}

impl ApproveError {
    /// HTTP status, for [`ApproveError::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            ApproveError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The TSB `errorCode` (e.g. 631 invalid API key, 404 timestamp off, 652 task not existent).
    pub fn tsb_error_code(&self) -> Option<i64> {
        match self {
            ApproveError::Http { error: Some(e), .. } => e.error_code,
            _ => None,
        }
    }

    /// Whether trying again later may succeed: transport errors, 5xx answers and garbled
    /// bodies (a truncated response). A 4xx answer (authentication, stale timestamp, unknown
    /// task) will not change by retrying.
    pub fn is_transient(&self) -> bool {
        match self {
            ApproveError::Transport { .. } | ApproveError::Decode { .. } => true,
            ApproveError::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

impl fmt::Display for ApproveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApproveError::Io { path, message } => write!(f, "{}: {message}", path.display()),
            ApproveError::Key(m) => write!(f, "approver key: {m}"),
            ApproveError::Crypto(m) => write!(f, "signing with the approver key failed: {m}"),
            ApproveError::Config(m) => f.write_str(m),
            ApproveError::Transport {
                method,
                url,
                message,
                timeout,
            } => {
                if *timeout {
                    write!(f, "{method} {url}: timed out: {message}")
                } else {
                    write!(f, "{method} {url}: {message}")
                }
            }
            ApproveError::Http {
                method,
                url,
                status,
                error,
                body,
            } => {
                let reason = reqwest::StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                write!(f, "{method} {url}: HTTP {status} {reason}")?;
                match error {
                    Some(e) => {
                        if let Some(code) = e.error_code {
                            write!(f, ": TSB errorCode {code}")?;
                        }
                        if let Some(r) = &e.reason {
                            write!(f, " ({r})")?;
                        }
                        if let Some(m) = &e.message {
                            write!(f, ": {m}")?;
                        }
                        if e.error_code == Some(tsb_models::codes::TIMESTAMP_OFF) {
                            // The usual cause is the approver's clock, not the request.
                            f.write_str(
                                " (the approver's clock must agree with the TSB's: use NTP)",
                            )?;
                        }
                        Ok(())
                    }
                    None if !body.is_empty() => write!(f, ": {body}"),
                    None => Ok(()),
                }
            }
            ApproveError::Decode {
                method,
                url,
                message,
            } => write!(f, "{method} {url}: unexpected response: {message}"),
            ApproveError::NotFound(m) | ApproveError::Refused(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ApproveError {}

/// Make server- or requester-controlled text safe for one terminal line: control characters
/// (newlines, escape sequences) are shown escaped.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_display_names_url_and_tsb_error() {
        let e = ApproveError::Http {
            method: "POST",
            url: "http://h/v1/approval".into(),
            status: 401,
            error: Some(Box::new(ErrorBody {
                error_code: Some(631),
                reason: Some("res.error.invalid.api.key".into()),
                message: Some("bad key".into()),
            })),
            body: String::new(),
        };
        let s = e.to_string();
        assert_eq!(
            s,
            "POST http://h/v1/approval: HTTP 401 Unauthorized: TSB errorCode 631 (res.error.invalid.api.key): bad key"
        );
        assert_eq!(e.tsb_error_code(), Some(631));
        assert!(!e.is_transient());
    }

    #[test]
    fn approver_is_shareable_across_threads() {
        fn check<T: Clone + Send + Sync + 'static>() {}
        check::<Approver>();
        check::<ApproverKey>();
        check::<ApproveError>();
    }

    #[test]
    fn sanitize_escapes_controls() {
        assert_eq!(sanitize("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
    }
}
