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

/// Why the TSB could not be reached: what the person at the terminal has to look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unreachable {
    /// No connection (refused, DNS, unreachable network, connect timeout).
    Connect,
    /// The TSB's TLS certificate is not signed by a trusted CA.
    UntrustedCertificate,
    /// The TSB's TLS certificate is not valid for the host name of the URL.
    WrongHostName,
    /// Another TLS failure (protocol, client certificate refused, ...).
    Tls,
    /// Connected and sent, but no (complete) answer in time.
    NoAnswer,
}

/// Everything that can go wrong below the C ABI.
#[derive(Debug, Clone)]
pub(crate) enum Error {
    /// A PKCS#11 error decided locally (bad argument, wrong state, ...), with context for the log.
    /// These are the caller's (the program's) business: logged only at debug level.
    Ck(CK_RV, String),
    /// A local refusal whose cause the person must fix (a template or label the TSB cannot take,
    /// an input past a configured limit): reported at the default level.
    User(CK_RV, String),
    /// The TSB (at its version) cannot do what was asked: CKR_MECHANISM_INVALID, reported.
    Unsupported(String),
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
        /// What to do, when the client knows better than the code (e.g. which API key of which
        /// role was refused).
        hint: Option<String>,
    },
    /// No usable connection to the TSB: nothing (or nothing complete) came back.
    Unreachable {
        /// Why, for the remedy.
        why: Unreachable,
        /// What failed, with the transport's own words (and the attempts).
        detail: String,
    },
    /// The TSB's answer could not be used (a redirect, too large, unreadable).
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

    /// Shorthand for a local refusal the person must fix (see [`Error::User`]).
    pub(crate) fn user(rv: CK_RV, msg: impl Into<String>) -> Error {
        Error::User(rv, msg.into())
    }

    /// The `CK_RV` the C caller sees.
    pub(crate) fn rv(&self) -> CK_RV {
        match self {
            Error::Ck(rv, _) | Error::User(rv, _) => *rv,
            Error::Unsupported(_) => CKR_MECHANISM_INVALID,
            Error::Tsb {
                status,
                code,
                call,
                message,
                ..
            } => tsb_code_to_rv(*status, *code, call, message),
            Error::Unreachable { .. } | Error::Transport(_) | Error::OutcomeUnknown(_) => {
                CKR_DEVICE_ERROR
            }
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
            Error::Unreachable { .. } | Error::Transport(_) => Some(vendor::TSB_DEVERR_TRANSPORT),
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
            | Error::User(..)
            | Error::Unsupported(_)
            | Error::Config(_)
            | Error::Cancelled(_)
            | Error::Credential(_)
            | Error::Internal(_) => None,
        }
    }
}

/// Map a TSB error to the closest PKCS#11 return value, by its `errorCode`. The TSB codes are the
/// `BusinessReason` catalogue (securosys-com/vault-code-executable-examples
/// `src/main/java/com/securosys/tee/exceptions/tsb/BusinessReason.java`, in [`tsb_models::codes`]).
///
/// Two codes say only that the body was refused, not which part: 600
/// `res.error.input.validation.failed` (bean validation, and, as the emulator answers it, a value
/// Jackson cannot read) and 501 `res.error.invalid.value.for.enum`. For them the call and the
/// TSB's message decide (this project's choice; no source documents the messages):
/// - a refused algorithm name (the message names a `...Algorithm` field or enum) is
///   CKR_MECHANISM_INVALID: the TSB (at its version) does not do that mechanism;
/// - on `POST /v1/key` every field comes from the C_GenerateKeyPair templates:
///   CKR_TEMPLATE_INCONSISTENT;
/// - on the certificate endpoints the fields come from the vendor functions' parameters
///   (subject, key usages): CKR_ARGUMENTS_BAD;
/// - anything else is a body the module built and the TSB refuses: CKR_DEVICE_ERROR.
///
/// 415 `res.error.request.signer.not.allowed` and 403 `res.error.input.invalid.signature` answer
/// the request signature (TSB 2.2.0 `allowedRequestCertificates`; the module sends no other
/// signature): the credentials were refused, CKR_USER_NOT_LOGGED_IN like the token and API-key
/// codes.
fn tsb_code_to_rv(status: u16, code: Option<i64>, call: &str, message: &str) -> CK_RV {
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
        | Some(c::MISSING_ACCESS_TOKEN)
        | Some(c::REQUEST_SIGNER_NOT_ALLOWED)
        | Some(c::INVALID_SIGNATURE) => CKR_USER_NOT_LOGGED_IN,
        Some(c::VALIDATION_FAILED) | Some(c::INVALID_ENUM) => {
            let path = call.split_once(' ').map(|(_, p)| p).unwrap_or(call);
            if message.contains("Algorithm") || code == Some(c::INVALID_ENUM) {
                CKR_MECHANISM_INVALID
            } else if call == "POST /v1/key" {
                CKR_TEMPLATE_INCONSISTENT
            } else if path.starts_with(tsb_models::paths::CERTIFICATE) {
                CKR_ARGUMENTS_BAD
            } else {
                CKR_DEVICE_ERROR
            }
        }
        _ if status == 401 || status == 403 => CKR_USER_NOT_LOGGED_IN,
        _ => CKR_DEVICE_ERROR,
    }
}

impl Error {
    /// Whether this failure is the person's to fix, and so worth one line at the default log
    /// level (see [`crate::log::report`]): configuration, credentials, TLS trust, an
    /// unreachable TSB, a TSB error, a refused template or input, an approval that did not end
    /// in a result. Not: the caller's own protocol errors (wrong state, bad handle, buffer too
    /// small, a probe for an attribute) and the caller's own cancel.
    pub(crate) fn is_for_the_user(&self) -> bool {
        match self {
            Error::Ck(..) | Error::Cancelled(_) => false,
            Error::Approval { end, .. } => *end != ApprovalEnd::CancelledByCaller,
            Error::User(..)
            | Error::Unsupported(_)
            | Error::Tsb { .. }
            | Error::Unreachable { .. }
            | Error::Transport(_)
            | Error::OutcomeUnknown(_)
            | Error::Config(_)
            | Error::Credential(_)
            | Error::Internal(_)
            | Error::BadResult(_) => true,
        }
    }

    /// What to do about it, derived from the kind of error (None: the message says it all).
    pub(crate) fn remedy(&self) -> Option<String> {
        use tsb_models::codes as c;
        let r = |s: &str| Some(s.to_string());
        match self {
            Error::Tsb { hint: Some(h), .. } => Some(h.clone()),
            Error::Tsb {
                status, code, call, ..
            } => match *code {
                Some(c::MISSING_ACCESS_TOKEN) => r(
                    "the TSB wants a bearer token: set `token` in the slot's config, or \
                     TSB_PKCS11_TOKEN / TSB_PKCS11_TOKEN_FILE",
                ),
                Some(c::INVALID_ACCESS_TOKEN) => r(
                    "the TSB refused the bearer token (wrong or expired): renew `token` or \
                     TSB_PKCS11_TOKEN",
                ),
                Some(c::INVALID_API_KEY) => {
                    let role = call
                        .split_once(' ')
                        .and_then(|(_, p)| tsb_models::role_for_path(p))
                        .map(|r| r.name())
                        .unwrap_or("?");
                    Some(format!(
                        "the TSB refused the API key of role {role}: set or update \
                         `api_keys.{role}` in the slot's config"
                    ))
                }
                Some(c::REQUEST_SIGNER_NOT_ALLOWED) | Some(c::INVALID_SIGNATURE) => r(
                    "the TSB requires requests signed by a whitelisted certificate \
                     (allowedRequestCertificates): set `request_signing_key` and \
                     `request_signing_cert` to a key whose certificate the TSB whitelists",
                ),
                Some(c::KEY_PASSWORD_MISMATCH) => r(
                    "the key has a password: give it in `key_passwords` (by label) or \
                     `key_password` of the slot's config",
                ),
                Some(c::KEY_ALREADY_EXISTING) | Some(c::INVALID_KEY_NAME)
                    if call == "POST /v1/key" =>
                {
                    r("choose another CKA_LABEL")
                }
                Some(c::UNSUPPORTED_APPROVER_KEY) => {
                    r("fix the approver keys of the policy (CKA_TSB_POLICY or default_policy)")
                }
                Some(c::VALIDATION_FAILED) | Some(c::INVALID_ENUM) => r(
                    "the TSB refused a field of the request (see its message); if the TSB is \
                     older than the module thinks, set `tsb_version` in the slot's config",
                ),
                None if *status == 401 || *status == 403 => r(
                    "the TSB refused the credentials: check `token` (TSB_PKCS11_TOKEN) and \
                     `api_keys` in the slot's config",
                ),
                _ => None,
            },
            Error::Unreachable { why, .. } => match why {
                Unreachable::Connect => r(
                    "check that the TSB is running and reachable at the slot's `url` (host, \
                     port, proxy, firewall)",
                ),
                Unreachable::UntrustedCertificate => r(
                    "the TSB's TLS certificate is not signed by a trusted CA: add the TSB's CA \
                     with `ca_file` (or TSB_PKCS11_CA_FILE)",
                ),
                Unreachable::WrongHostName => r(
                    "the TSB's TLS certificate is not valid for the host name of the slot's \
                     `url`: use the name its certificate was issued for",
                ),
                Unreachable::Tls => r(
                    "the TLS handshake with the TSB failed: check `url`, `ca_file`, \
                     `client_cert` and `client_key`",
                ),
                Unreachable::NoAnswer => r(
                    "the TSB did not answer in time: check its health, or raise \
                     `request_timeout_ms`",
                ),
            },
            Error::Approval { end, .. } => match end {
                ApprovalEnd::Rejected => r(
                    "ask the approvers why; the same operation is not sent to them again for 30 s",
                ),
                ApprovalEnd::Expired => r(
                    "the approvers did not decide within the key's policy timeout: run it again \
                     and have it approved in time",
                ),
                ApprovalEnd::TimedOut => r(
                    "approve it (e.g. tsb-approve) and run the same command again to resume \
                     waiting on it, or raise `approval_timeout_s` (TSB_PKCS11_APPROVAL_TIMEOUT)",
                ),
                ApprovalEnd::Failed => r("see the TSB's log for why the HSM failed"),
                ApprovalEnd::Cancelled | ApprovalEnd::CancelledByCaller => None,
            },
            Error::BadResult(_) => r(
                "something between the module and the TSB, or the TSB itself, is wrong; the \
                 result was not used",
            ),
            _ => None,
        }
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
            Error::Ck(rv, msg) | Error::User(rv, msg) => write!(f, "{} ({})", msg, rv_name(*rv)),
            Error::Unsupported(m) => write!(f, "{m} (CKR_MECHANISM_INVALID)"),
            Error::Tsb {
                status,
                code,
                reason,
                message,
                call,
                ..
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
            Error::Unreachable { detail, .. } => write!(f, "TSB unreachable: {detail}"),
            // Redirects refused and answers too large or unreadable.
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
            hint: None,
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

    fn tsb(status: u16, code: i64, call: &str, message: &str) -> Error {
        Error::Tsb {
            status,
            code: Some(code),
            reason: tsb_models::codes::reason(code).into(),
            message: message.into(),
            call: call.into(),
            hint: None,
        }
    }

    /// 600 and 501 say only that the body was refused: the call and the message decide
    /// (audit divergence #12); 415 and 403 refuse the request signature.
    #[test]
    fn refused_bodies_and_signatures_map_per_error_code() {
        let enum_msg =
            "signRequest.signatureAlgorithm: \"X\" is not a value of the enum SignatureAlgorithm";
        assert_eq!(
            tsb(400, 600, "POST /v1/synchronousSign", enum_msg).rv(),
            CKR_MECHANISM_INVALID
        );
        assert_eq!(
            tsb(400, 501, "POST /v1/sign", "invalid value").rv(),
            CKR_MECHANISM_INVALID
        );
        assert_eq!(
            tsb(400, 600, "POST /v1/key", "keySize: must be at least 1").rv(),
            CKR_TEMPLATE_INCONSISTENT
        );
        assert_eq!(
            tsb(
                400,
                600,
                "POST /v1/certificate/synchronous/sign",
                "commonName: must not be empty"
            )
            .rv(),
            CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            tsb(
                400,
                600,
                "POST /v1/synchronousDecrypt",
                "encryptedPayload: not base64"
            )
            .rv(),
            CKR_DEVICE_ERROR
        );
        for code in [415, 403] {
            let e = tsb(400, code, "POST /v1/sign", "");
            assert_eq!(e.rv(), CKR_USER_NOT_LOGGED_IN, "{code}");
            assert!(e.credentials_refused());
            assert!(
                e.remedy().unwrap().contains("request_signing_key"),
                "{code}"
            );
        }
        let e = tsb(400, 620, "POST /v1/sign", "");
        assert_eq!(e.rv(), CKR_PIN_INCORRECT);
        assert!(e.remedy().unwrap().contains("key_passwords"));
    }

    /// Which failures are the person's (one line at the default level) and which the program's.
    #[test]
    fn failures_for_the_user() {
        assert!(!Error::ck(CKR_BUFFER_TOO_SMALL, "small").is_for_the_user());
        assert!(!Error::ck(CKR_OPERATION_NOT_INITIALIZED, "no").is_for_the_user());
        assert!(!Error::Cancelled("cancel".into()).is_for_the_user());
        let own_cancel = Error::Approval {
            end: ApprovalEnd::CancelledByCaller,
            request_id: "r".into(),
        };
        assert!(!own_cancel.is_for_the_user());
        assert!(Error::user(CKR_ATTRIBUTE_VALUE_INVALID, "label").is_for_the_user());
        assert!(Error::Config("x".into()).is_for_the_user());
        assert!(tsb(500, 701, "POST /v1/sign", "").is_for_the_user());
        let down = Error::Unreachable {
            why: Unreachable::Connect,
            detail: "refused".into(),
        };
        assert!(down.is_for_the_user());
        assert!(down.remedy().unwrap().contains("`url`"));
        for end in [
            ApprovalEnd::Rejected,
            ApprovalEnd::Expired,
            ApprovalEnd::TimedOut,
            ApprovalEnd::Failed,
        ] {
            let e = Error::Approval {
                end,
                request_id: "r".into(),
            };
            assert!(e.is_for_the_user() && e.remedy().is_some(), "{end:?}");
        }
    }
}
