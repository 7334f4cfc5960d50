//! The `/_emulator/*` test controls: faults, clock, request counters, the request scheduler, API-key
//! revocation.

use super::{json_response, method_not_allowed, not_found_path, parse, rfc3339, ApiResult};
use crate::http::HttpRequest;
use crate::{Fault, Shared};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClockAdvance {
    advance_seconds: u64,
}

#[derive(Deserialize)]
struct RevokeApiKey {
    key: String,
}

fn clock_body(shared: &Shared) -> ApiResult {
    let now = shared.clock.now_ms();
    json_response(200, &json!({ "now": rfc3339(now), "nowMs": now }))
}

pub(super) fn controls(shared: &Shared, req: &HttpRequest) -> ApiResult {
    match (req.path.as_str(), req.method.as_str()) {
        ("/_emulator/faults", "POST") => {
            let fault: Fault = parse(&req.body)?;
            shared.faults.lock().push(fault);
            json_response(200, &json!({}))
        }
        ("/_emulator/faults", "DELETE") => {
            shared.faults.lock().clear();
            json_response(200, &json!({}))
        }
        ("/_emulator/clock", "POST") => {
            let a: ClockAdvance = parse(&req.body)?;
            shared.advance_clock(Duration::from_secs(a.advance_seconds));
            clock_body(shared)
        }
        ("/_emulator/clock", "GET") => clock_body(shared),
        ("/_emulator/counts", "GET") => json_response(200, &*shared.counts.lock()),
        ("/_emulator/counts/reset", "POST") => {
            shared.counts.lock().clear();
            json_response(200, &json!({}))
        }
        ("/_emulator/scheduler/run", "POST") => {
            super::run_scheduler_now(shared);
            json_response(200, &json!({}))
        }
        ("/_emulator/apiKeys/revoke", "POST") => {
            let r: RevokeApiKey = parse(&req.body)?;
            shared.revoked_api_keys.lock().insert(r.key);
            json_response(200, &json!({}))
        }
        (
            "/_emulator/faults"
            | "/_emulator/clock"
            | "/_emulator/counts"
            | "/_emulator/counts/reset"
            | "/_emulator/scheduler/run"
            | "/_emulator/apiKeys/revoke",
            m,
        ) => Err(method_not_allowed(m, &req.path)),
        _ => Err(not_found_path(&req.path)),
    }
}
