//! One error type for the whole module, and the one place that maps it to a `CK_RV` and to the
//! `ulDeviceError` reported by C_GetSessionInfo.

use crate::vendor;
use cryptoki_sys::*;
use std::fmt;

/// Result alias used everywhere below the C ABI.
pub(crate) type Result<T> = std::result::Result<T, Error>;

/// How an approval-gated request ended when it did not produce a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApprovalEnd {
    /// The approvers rejected it (quorum no longer reachable).
    Rejected,
    /// The policy's own timeout passed on the TSB.
    Expired,
    /// Deleted on the TSB (by someone, or because the key was deleted).
    Cancelled,
    /// Approved, but the HSM failed to execute it.
    Failed,
    /// Our own approval timeout passed; the request is still pending on the TSB and is remembered
    /// so that the same operation asked again resumes waiting on it.
    TimedOut,
    /// C_SessionCancel was called from another thread; the request was deleted on the TSB.
    CancelledByCaller,
}

/// Everything that can go wrong below the C ABI.
#[derive(Debug, Clone)]
pub(crate) enum Error {
    /// A PKCS#11 error decided locally (bad argument, wrong state, ...), with context for the log.
    Ck(CK_RV, String),
    /// The TSB answered with an error status.
    Tsb {
        /// HTTP status.
        status: u16,
        /// TSB `errorCode`, when the body had one.
        code: Option<i64>,
        /// TSB `reason`.
        reason: String,
        /// TSB `message`.
        message: String,
        /// "METHOD /path" of the call.
        call: String,
    },
    /// The TSB could not be reached or its answer could not be read.
    Transport(String),
    /// The call reached the TSB (or may have) but no usable answer came back, so the TSB may have
    /// done it: for a creating call, a request for the approvers may exist.
    OutcomeUnknown(String),
    /// An approval-gated request ended without a result.
    Approval {
        /// How it ended.
        end: ApprovalEnd,
        /// The TSB request id.
        request_id: String,
    },
    /// The configuration is unusable.
    Config(String),
    /// The caller's cancel ended the call before any request for the approvers existed.
    Cancelled(String),
    /// A credential (a bearer token given as the PIN) that cannot be sent.
    Credential(String),
    /// A fault of the module itself (a body that cannot be serialized).
    Internal(String),
    /// The TSB answered a result that fails verification (a signature that does not verify with
    /// the key's public key, a plaintext longer than its padding allows). It is never returned.
    BadResult(String),
}

impl Error {
    /// Shorthand for a local PKCS#11 error.
    pub(crate) fn ck(rv: CK_RV, msg: impl Into<String>) -> Error {
        Error::Ck(rv, msg.into())
    }

    /// The `CK_RV` the C caller sees.
    pub(crate) fn rv(&self) -> CK_RV {
        match self {
            Error::Ck(rv, _) => *rv,
            Error::Tsb { status, code, .. } => tsb_code_to_rv(*status, *code),
            Error::Transport(_) | Error::OutcomeUnknown(_) => CKR_DEVICE_ERROR,
            Error::Approval { end, .. } => match end {
                ApprovalEnd::Rejected => CKR_FUNCTION_REJECTED,
                ApprovalEnd::Expired => vendor::CKR_TSB_APPROVAL_EXPIRED,
                ApprovalEnd::Cancelled => CKR_FUNCTION_CANCELED,
                ApprovalEnd::Failed => CKR_DEVICE_ERROR,
                ApprovalEnd::TimedOut => vendor::CKR_TSB_APPROVAL_TIMEOUT,
                ApprovalEnd::CancelledByCaller => CKR_FUNCTION_CANCELED,
            },
            Error::Config(_) | Error::Internal(_) => CKR_GENERAL_ERROR,
            Error::Cancelled(_) => CKR_FUNCTION_CANCELED,
            Error::Credential(_) => CKR_PIN_INVALID,
            Error::BadResult(_) => CKR_DEVICE_ERROR,
        }
    }

    /// Whether the TSB refused the credentials (which every further request would meet too).
    pub(crate) fn credentials_refused(&self) -> bool {
        self.rv() == CKR_USER_NOT_LOGGED_IN
    }

    /// The value for `CK_SESSION_INFO.ulDeviceError`: the TSB errorCode of a remote failure, or one
    /// of the `TSB_DEVERR_*` values for the ends of an approval wait and transport failures.
    pub(crate) fn device_error(&self) -> Option<CK_ULONG> {
        match self {
            Error::Tsb { code, status, .. } => {
                Some(code.map(|c| c as CK_ULONG).unwrap_or(*status as CK_ULONG))
            }
            Error::Transport(_) => Some(vendor::TSB_DEVERR_TRANSPORT),
            Error::OutcomeUnknown(_) => Some(vendor::TSB_DEVERR_OUTCOME_UNKNOWN),
            Error::Approval { end, .. } => Some(match end {
                ApprovalEnd::Rejected => vendor::TSB_DEVERR_REJECTED,
                ApprovalEnd::Expired => vendor::TSB_DEVERR_EXPIRED,
                ApprovalEnd::Cancelled => vendor::TSB_DEVERR_CANCELLED,
                ApprovalEnd::Failed => vendor::TSB_DEVERR_FAILED,
                ApprovalEnd::TimedOut => vendor::TSB_DEVERR_TIMEOUT,
                ApprovalEnd::CancelledByCaller => vendor::TSB_DEVERR_CANCELLED,
            }),
            Error::BadResult(_) => Some(vendor::TSB_DEVERR_BAD_RESULT),
            Error::Ck(..)
            | Error::Config(_)
            | Error::Cancelled(_)
            | Error::Credential(_)
            | Error::Internal(_) => None,
        }
    }
}

/// Map a TSB error to the closest PKCS#11 return value. The TSB codes are the `BusinessReason`
/// catalogue (securosys-com/vault-code-executable-examples
/// `src/main/java/com/securosys/tee/exceptions/tsb/BusinessReason.java`, in [`tsb_models::codes`]).
fn tsb_code_to_rv(status: u16, code: Option<i64>) -> CK_RV {
    use tsb_models::codes as c;
    match code {
        Some(c::KEY_NOT_EXISTENT) => CKR_KEY_HANDLE_INVALID,
        Some(c::KEY_ALREADY_EXISTING) => CKR_ATTRIBUTE_VALUE_INVALID,
        Some(c::KEYSIZE) => CKR_KEY_SIZE_RANGE,
        Some(c::ALGORITHM_NOT_SUPPORTED_BY_KEY) | Some(c::UNSUPPORTED_CIPHER) => {
            CKR_MECHANISM_INVALID
        }
        Some(c::OPERATION_FORBIDDEN_FOR_KEY) | Some(c::MISSING_APPROVAL) => {
            CKR_KEY_FUNCTION_NOT_PERMITTED
        }
        Some(c::DECRYPT_FAILED) => CKR_ENCRYPTED_DATA_INVALID,
        Some(c::INVALID_PAYLOAD)
        | Some(c::CSR_INVALID_FORMAT)
        | Some(c::INVALID_CERTIFICATE_REQUEST) => CKR_DATA_INVALID,
        Some(c::KEY_ATTRIBUTES_INVALID) | Some(c::INVALID_KEY_NAME) => CKR_TEMPLATE_INCONSISTENT,
        Some(c::REQUEST_NOT_EXISTENT) => CKR_FUNCTION_CANCELED,
        Some(c::KEY_PASSWORD_MISMATCH) => CKR_PIN_INCORRECT,
        Some(c::INVALID_API_KEY)
        | Some(c::INVALID_ACCESS_TOKEN)
        | Some(c::MISSING_ACCESS_TOKEN) => CKR_USER_NOT_LOGGED_IN,
        _ if status == 401 || status == 403 => CKR_USER_NOT_LOGGED_IN,
        _ => CKR_DEVICE_ERROR,
    }
}

/// A CK_RV's name for messages.
pub(crate) fn rv_name(rv: CK_RV) -> String {
    let known: &[(CK_RV, &str)] = &[
        (CKR_OK, "CKR_OK"),
        (CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD"),
        (CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE"),
        (CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID"),
        (CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID"),
        (CKR_BUFFER_TOO_SMALL, "CKR_BUFFER_TOO_SMALL"),
        (CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED"),
        (
            CKR_CRYPTOKI_ALREADY_INITIALIZED,
            "CKR_CRYPTOKI_ALREADY_INITIALIZED",
        ),
        (CKR_DATA_INVALID, "CKR_DATA_INVALID"),
        (CKR_DATA_LEN_RANGE, "CKR_DATA_LEN_RANGE"),
        (CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR"),
        (CKR_FUNCTION_CANCELED, "CKR_FUNCTION_CANCELED"),
        (CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED"),
        (CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED"),
        (CKR_FUNCTION_REJECTED, "CKR_FUNCTION_REJECTED"),
        (CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR"),
        (
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            "CKR_KEY_FUNCTION_NOT_PERMITTED",
        ),
        (CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID"),
        (CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE"),
        (CKR_KEY_TYPE_INCONSISTENT, "CKR_KEY_TYPE_INCONSISTENT"),
        (CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID"),
        (CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID"),
        (CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID"),
        (CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE"),
        (
            CKR_OPERATION_NOT_INITIALIZED,
            "CKR_OPERATION_NOT_INITIALIZED",
        ),
        (CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID"),
        (CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY"),
        (CKR_SIGNATURE_INVALID, "CKR_SIGNATURE_INVALID"),
        (CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID"),
        (CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE"),
        (CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT"),
        (CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN"),
        (
            vendor::CKR_TSB_APPROVAL_EXPIRED as CK_RV,
            "CKR_TSB_APPROVAL_EXPIRED",
        ),
        (
            vendor::CKR_TSB_APPROVAL_TIMEOUT as CK_RV,
            "CKR_TSB_APPROVAL_TIMEOUT",
        ),
    ];
    known
        .iter()
        .find(|(v, _)| *v == rv)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| format!("CKR 0x{rv:x}"))
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Ck(rv, msg) => write!(f, "{} ({})", msg, rv_name(*rv)),
            Error::Tsb {
                status,
                code,
                reason,
                message,
                call,
            } => {
                write!(f, "TSB {call} failed: HTTP {status}")?;
                if let Some(c) = code {
                    write!(f, ", errorCode {c}")?;
                }
                if !reason.is_empty() {
                    write!(f, " {reason}")?;
                }
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            // Not only "unreachable": also redirects refused and answers too large or unreadable.
            Error::Transport(m) => write!(f, "TSB transport error: {m}"),
            Error::OutcomeUnknown(m) => write!(f, "{m}"),
            Error::Approval { end, request_id } => {
                let what = match end {
                    ApprovalEnd::Rejected => "was rejected by the approvers",
                    ApprovalEnd::Expired => "expired on the TSB before the approvers decided",
                    ApprovalEnd::Cancelled => "was cancelled on the TSB",
                    ApprovalEnd::Failed => "was approved but failed to execute on the HSM",
                    ApprovalEnd::TimedOut => {
                        "is still waiting for approval after the configured approval timeout; \
                         it stays pending and the same operation asked again resumes waiting on it"
                    }
                    ApprovalEnd::CancelledByCaller => {
                        "was cancelled by the application (C_SessionCancel)"
                    }
                };
                write!(f, "request {request_id} {what}")
            }
            Error::Config(m) | Error::Cancelled(m) | Error::Credential(m) => write!(f, "{m}"),
            Error::Internal(m) => write!(f, "internal error: {m}"),
            Error::BadResult(m) => write!(f, "the TSB returned a bad result: {m}"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_tsb_codes() {
        let e = |code| Error::Tsb {
            status: 400,
            code: Some(code),
            reason: String::new(),
            message: String::new(),
            call: "POST /v1/key".into(),
        };
        assert_eq!(e(608).rv(), CKR_ATTRIBUTE_VALUE_INVALID);
        assert_eq!(e(650).rv(), CKR_KEY_HANDLE_INVALID);
        assert_eq!(e(614).rv(), CKR_KEY_FUNCTION_NOT_PERMITTED);
        assert_eq!(e(999).rv(), CKR_DEVICE_ERROR);
        assert_eq!(e(608).device_error(), Some(608));
        let a = Error::Approval {
            end: ApprovalEnd::Rejected,
            request_id: "r1".into(),
        };
        assert_eq!(a.rv(), CKR_FUNCTION_REJECTED);
        assert_eq!(a.device_error(), Some(vendor::TSB_DEVERR_REJECTED));
        assert!(a.to_string().contains("r1"));
    }
}
