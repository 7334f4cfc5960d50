//! Error bodies and the `errorCode` catalogue of the TSB.

use serde::{Deserialize, Serialize};

/// Error body of the TSB (`ReasonBasedExceptionDto`): `{errorCode, reason, message}`.
/// Source: S3 `dto/tsb/response/ReasonBasedExceptionDto.java`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Numeric business error code, e.g. 650 for an unknown key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    /// Symbolic reason, e.g. `res.error.key.not.existent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The TSB error codes this project produces or interprets, with their `reason` strings.
/// Source: S3 `exceptions/tsb/BusinessReason.java` (all pairs
/// confirmed by the fidelity audit).
#[allow(missing_docs)]
pub mod codes {
    pub const GENERAL: i64 = 103;
    pub const MISSING_APPROVAL: i64 = 401;
    pub const INVALID_SIGNATURE: i64 = 403;
    pub const TIMESTAMP_OFF: i64 = 404;
    pub const MISSING_ACCESS_TOKEN: i64 = 406;
    pub const PARSING_KEY: i64 = 407;
    pub const DECRYPT_FAILED: i64 = 410;
    pub const INVALID_CERTIFICATE_REQUEST: i64 = 411;
    pub const REQUEST_SIGNER_NOT_ALLOWED: i64 = 415;
    pub const INVALID_ENUM: i64 = 501;
    pub const VALIDATION_FAILED: i64 = 600;
    pub const UNSUPPORTED_APPROVER_KEY: i64 = 601;
    pub const KEYSIZE: i64 = 603;
    pub const KEY_ATTRIBUTES_INVALID: i64 = 606;
    pub const ALGORITHM_NOT_SUPPORTED_BY_KEY: i64 = 607;
    pub const KEY_ALREADY_EXISTING: i64 = 608;
    pub const INVALID_KEY_NAME: i64 = 610;
    pub const UNSUPPORTED_OPERATION: i64 = 611;
    pub const INVALID_PAYLOAD: i64 = 612;
    pub const INVALID_KEY_TYPE: i64 = 613;
    pub const OPERATION_FORBIDDEN_FOR_KEY: i64 = 614;
    pub const INVALID_ACCESS_TOKEN: i64 = 617;
    pub const KEY_PASSWORD_MISMATCH: i64 = 620;
    pub const INVALID_JSON: i64 = 621;
    pub const INVALID_TAG_LENGTH: i64 = 624;
    pub const CSR_INVALID_FORMAT: i64 = 628;
    pub const UNSUPPORTED_CIPHER: i64 = 629;
    pub const INVALID_API_KEY: i64 = 631;
    pub const KEY_NOT_EXISTENT: i64 = 650;
    pub const REQUEST_NOT_EXISTENT: i64 = 651;
    pub const TASK_NOT_EXISTENT: i64 = 652;
    pub const APPROVER_NOT_EXISTENT: i64 = 654;
    pub const IN_HSM: i64 = 701;

    /// The `reason` string of a code.
    pub fn reason(code: i64) -> &'static str {
        match code {
            GENERAL => "res.error.general",
            MISSING_APPROVAL => "res.error.missing.approval",
            INVALID_SIGNATURE => "res.error.input.invalid.signature",
            TIMESTAMP_OFF => "res.error.input.timestamp.off",
            MISSING_ACCESS_TOKEN => "res.error.missing.access.token",
            PARSING_KEY => "res.error.parsing.key",
            DECRYPT_FAILED => "res.error.decrypt.failed",
            INVALID_CERTIFICATE_REQUEST => "res.error.invalid.certificate.request",
            REQUEST_SIGNER_NOT_ALLOWED => "res.error.request.signer.not.allowed",
            INVALID_ENUM => "res.error.invalid.value.for.enum",
            VALIDATION_FAILED => "res.error.input.validation.failed",
            UNSUPPORTED_APPROVER_KEY => "res.error.unsupported.approver.key.type",
            KEYSIZE => "res.error.input.keysize",
            KEY_ATTRIBUTES_INVALID => "res.error.key.attributes.invalid",
            ALGORITHM_NOT_SUPPORTED_BY_KEY => "res.error.algorithm.not.supported.by.key",
            KEY_ALREADY_EXISTING => "res.error.key.already.existing",
            INVALID_KEY_NAME => "res.error.invalid.key.name",
            UNSUPPORTED_OPERATION => "res.error.unsupported.operation",
            INVALID_PAYLOAD => "res.error.invalid.payload",
            INVALID_KEY_TYPE => "res.error.invalid.key.type",
            OPERATION_FORBIDDEN_FOR_KEY => "res.error.operation.forbidden.for.key",
            INVALID_ACCESS_TOKEN => "res.error.invalid.access.token",
            KEY_PASSWORD_MISMATCH => "res.error.key.password.mismatch",
            INVALID_TAG_LENGTH => "res.error.key.invalid.tagLength",
            INVALID_JSON => "res.error.invalid.json",
            CSR_INVALID_FORMAT => "res.error.csr.invalid.format",
            UNSUPPORTED_CIPHER => "res.error.unsupported.cipher",
            INVALID_API_KEY => "res.error.invalid.api.key",
            KEY_NOT_EXISTENT => "res.error.key.not.existent",
            REQUEST_NOT_EXISTENT => "res.error.request.not.existent",
            TASK_NOT_EXISTENT => "res.error.task.not.existent",
            APPROVER_NOT_EXISTENT => "res.error.approver.not.existent",
            IN_HSM => "res.error.in.hsm",
            _ => "res.error.general",
        }
    }

    /// HTTP status for a code: the mapping of the `ErrorHandler` of Securosys' Fireblocks agent
    /// (S5 `fireblocks-service/.../exceptions/ErrorHandler.java`: 45x -> 403, 65x -> 404, other
    /// 4xx/6xx -> 400, 2xx/3xx/5xx/7xx -> 500, 1xx -> 501), which is the agent's own and not the
    /// TSB's; only 631 -> 401 (S1 `tsb_client.go` `doRequest`) and 701 -> 500 (S2
    /// `hc_sse/Installation/faq.md`) are evidenced for the TSB itself. The missing/invalid
    /// access token codes are mapped to 401 as well: no source confirms that.
    pub fn http_status(code: i64) -> u16 {
        match code {
            INVALID_API_KEY | MISSING_ACCESS_TOKEN | INVALID_ACCESS_TOKEN => 401,
            450..=459 => 403,
            650..=659 => 404,
            400..=499 | 600..=699 => 400,
            100..=199 => 501,
            _ => 500,
        }
    }
}
