//! Authentication of `/v1` requests: bearer token and API keys by role.

use super::ApiError;
use crate::http::HttpRequest;
use crate::Shared;
use tsb_models::codes;
use tsb_models::{is_approval_task_path, paths, role_for_path, API_KEY_HEADER};

pub(super) fn authenticate(shared: &Shared, req: &HttpRequest) -> Result<(), ApiError> {
    let p = req.path.as_str();
    // The TSB ignores JWTs on the approver endpoints (approvers authenticate by signature).
    let approver_path = is_approval_task_path(p) || p == paths::APPROVAL || p == paths::TASK;
    if let (Some(expected), false) = (&shared.cfg.bearer_token, approver_path) {
        let given = req.header("authorization").ok_or_else(|| {
            ApiError::new(
                codes::MISSING_ACCESS_TOKEN,
                "missing access token (Authorization: Bearer ...)",
            )
        })?;
        let token = given
            .strip_prefix("Bearer ")
            .or_else(|| given.strip_prefix("bearer "))
            .map(str::trim)
            .unwrap_or("");
        if token != expected {
            return Err(ApiError::new(
                codes::INVALID_ACCESS_TOKEN,
                "invalid access token",
            ));
        }
    }
    if let Some(role) = role_for_path(p) {
        let mut keys = shared
            .cfg
            .api_keys
            .iter()
            .filter(|(r, _)| *r == role)
            .peekable();
        if keys.peek().is_some() {
            // Any of the role's keys works (rollover, TSB 2.0.1); a key revoked at runtime
            // (`Emulator::revoke_api_key`) is refused like an unknown one.
            let given = req.header(API_KEY_HEADER).unwrap_or("");
            let revoked = shared.revoked_api_keys.lock().contains(given);
            if revoked || !keys.any(|(_, k)| k == given) {
                return Err(ApiError::new(
                    codes::INVALID_API_KEY,
                    format!("invalid API key for role {}", role.name()),
                ));
            }
        }
    }
    Ok(())
}
