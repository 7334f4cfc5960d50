//! The REST surface: routing, errors and responses; the handlers live in one module per route
//! group (keys, operations, certificates, requests, tasks, controls) and authentication in `auth`.

mod auth;
mod certificates;
mod controls;
mod import;
mod keys;
mod operations;
mod request_signature;
mod requests;
mod symmetric;
mod tasks;
mod validate;
mod wrap;

pub(crate) use requests::{run_scheduler_now, scheduler_loop};

use auth::authenticate;
use certificates::{delete_certificate, get_certificate, import_certificate};
use controls::controls;
use keys::{create_key, delete_key, key_attributes};
use operations::{random, sync_op, verify, Operation};
use requests::{async_op, cancel_request, filtered_requests, request_status};
use tasks::{approve, filtered_tasks, reject_task};

use crate::crypto::CryptoError;
use crate::http::{HttpRequest, HttpResponse};
use crate::store::RequestKind;
use crate::Shared;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};
use tsb_models::codes::{self, http_status};
use tsb_models::*;

/// Refuse a configuration that the configured TSB version could not have (a feature added later),
/// so a test never believes it exercises something the version lacks.
pub(crate) fn check_config(cfg: &crate::EmulatorConfig) -> std::io::Result<()> {
    let v = cfg.tsb_version;
    let refuse = |what: &str, since: TsbVersion| {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what} needs TSB {since} or later (configured: {v})"),
        ))
    };
    if !cfg.api_keys.is_empty() && !v.has_api_keys() {
        return refuse("API keys", TsbVersion::V2_0_0);
    }
    let per_role = |r: Role| cfg.api_keys.iter().filter(|(x, _)| *x == r).count();
    if Role::ALL.into_iter().any(|r| per_role(r) > 1) && !v.has_api_key_rollover() {
        return refuse("several API keys per role", TsbVersion::V2_0_1);
    }
    if cfg.fetch_result_once && !v.has_fetch_result_once() {
        return refuse("fetch_result_once", TsbVersion::V2_1_0);
    }
    if !cfg.allowed_request_certificates.is_empty() && !v.has_request_certificate_whitelist() {
        return refuse("allowed_request_certificates", TsbVersion::V2_2_0);
    }
    for (i, cert) in cfg.allowed_request_certificates.iter().enumerate() {
        if let Err(e) = crate::crypto::certificate_spki_der(cert) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("allowed_request_certificates[{i}]: {e}"),
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Errors and responses

/// A TSB error: `{"errorCode","reason","message"}` with the HTTP status of `codes::http_status`
/// unless overridden.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    code: i64,
    message: String,
    status: Option<u16>,
}

impl ApiError {
    pub(crate) fn new(code: i64, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            status: None,
        }
    }

    pub(crate) fn with_status(mut self, status: u16) -> ApiError {
        self.status = Some(status);
        self
    }

    pub(crate) fn into_response(self) -> HttpResponse {
        let body = ErrorBody {
            error_code: Some(self.code),
            reason: Some(codes::reason(self.code).to_string()),
            message: Some(self.message),
        };
        let status = self.status.unwrap_or_else(|| http_status(self.code));
        HttpResponse {
            status,
            body: serde_json::to_vec(&body).unwrap_or_default(),
            request_id: None,
        }
    }
}

impl From<CryptoError> for ApiError {
    fn from(e: CryptoError) -> ApiError {
        match e {
            CryptoError::UnsupportedKey(m) => ApiError::new(codes::KEYSIZE, m),
            CryptoError::AlgorithmNotSupportedByKey(m) => {
                ApiError::new(codes::ALGORITHM_NOT_SUPPORTED_BY_KEY, m)
            }
            CryptoError::InvalidPayload(m) => ApiError::new(codes::INVALID_PAYLOAD, m),
            CryptoError::DecryptFailed(m) => ApiError::new(codes::DECRYPT_FAILED, m),
            CryptoError::InvalidCsr(m) => ApiError::new(codes::CSR_INVALID_FORMAT, m),
            CryptoError::InvalidApproverKey(m) => ApiError::new(codes::UNSUPPORTED_APPROVER_KEY, m),
            CryptoError::Internal(m) => ApiError::new(codes::IN_HSM, m),
        }
    }
}

type ApiResult = Result<HttpResponse, ApiError>;

fn json_response<T: Serialize>(status: u16, body: &T) -> ApiResult {
    let body = serde_json::to_vec(body).map_err(|e| ApiError::new(codes::IN_HSM, e.to_string()))?;
    Ok(HttpResponse {
        status,
        body,
        request_id: None,
    })
}

fn empty_ok() -> ApiResult {
    Ok(HttpResponse {
        status: 200,
        body: Vec::new(),
        request_id: None,
    })
}

fn not_found_path(path: &str) -> ApiError {
    ApiError::new(codes::GENERAL, format!("no endpoint {path}")).with_status(404)
}

fn method_not_allowed(method: &str, path: &str) -> ApiError {
    ApiError::new(
        codes::GENERAL,
        format!("method {method} not allowed on {path}"),
    )
    .with_status(405)
}

/// Parse a JSON body: invalid JSON -> 621, JSON of the wrong shape -> 600 with serde's message.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    from_value(parse_json(body)?)
}

/// Parse a body as any JSON value (invalid JSON -> 621).
fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            codes::INVALID_JSON,
            format!("request body is not valid JSON: {e}"),
        )
    })
}

/// Parse a body and check it against its DTO as TSB `cfg.tsb_version` does ([`validate`]).
fn parse_checked(shared: &Shared, body: &[u8], dto: &validate::Dto) -> Result<Value, ApiError> {
    let value = parse_json(body)?;
    validate::check(&value, dto, shared.cfg.tsb_version)?;
    request_signature::check(shared, body, dto)?;
    Ok(value)
}

/// A synchronous operation's body, checked against its DTO, as an [`Operation`].
fn sync_body(shared: &Shared, kind: RequestKind, body: &[u8]) -> Result<Operation, ApiError> {
    let dto = operations::body_dto(kind, true, shared.cfg.tsb_version);
    let value = parse_checked(shared, body, dto)?;
    Operation::from_sync_body(kind, value)
}

fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value)
        .map_err(|e| ApiError::new(codes::VALIDATION_FAILED, e.to_string()))
}

fn b64(field: &str, s: &str, code: i64) -> Result<Vec<u8>, ApiError> {
    // Tolerate line breaks and spaces, which some clients leave in base64 text.
    let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    B64.decode(clean.as_bytes())
        .map_err(|e| ApiError::new(code, format!("{field} is not valid base64: {e}")))
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn pct_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            ) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Entry point and routing

/// Handle one request. A panic anywhere below becomes a 500 with a TSB error body.
pub(crate) fn dispatch(shared: &Shared, req: &HttpRequest) -> HttpResponse {
    match catch_unwind(AssertUnwindSafe(|| route(shared, req))) {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError::new(codes::IN_HSM, "internal error in the emulator").into_response(),
    }
}

fn route(shared: &Shared, req: &HttpRequest) -> ApiResult {
    if req.path == "/_emulator" || req.path.starts_with("/_emulator/") {
        if !shared.cfg.test_controls {
            return Err(not_found_path(&req.path));
        }
        return controls(shared, req);
    }
    if req.path == paths::PREFIX
        || req
            .path
            .strip_prefix(paths::PREFIX)
            .is_some_and(|r| r.starts_with('/'))
    {
        authenticate(shared, req)?;
    }
    handle(shared, req)
}

fn handle(shared: &Shared, req: &HttpRequest) -> ApiResult {
    let p = req.path.as_str();
    let m = req.method.as_str();
    let body = req.body.as_slice();
    let v = shared.cfg.tsb_version;
    // Every path is spelled in `tsb_models::paths`, the one statement of the TSB's endpoints.
    match (p, m) {
        (paths::VERSION_INFO, "GET") => json_response(
            200,
            &VersionInfo {
                version: shared.cfg.tsb_version.to_string(),
            },
        ),
        (paths::LICENSE_INFO, "GET") => json_response(
            200,
            &LicenseInfo {
                client_flags: vec!["KEY_AUTH".into(), "REST_API".into(), "TSB_ENGINE".into()],
            },
        ),
        (paths::KEYSTORE_STATISTICS, "GET") => {
            let n = shared.store.lock().keys.len();
            json_response(
                200,
                &json!({ "keyStoreStatistics": format!("{{\"numberOfKeys\":{n}}}") }),
            )
        }
        (paths::KEY, "GET") => {
            let mut labels: Vec<String> = shared.store.lock().keys.keys().cloned().collect();
            labels.sort();
            json_response(200, &labels)
        }
        (paths::KEY, "POST") => create_key(shared, body),
        (paths::KEY_ATTRIBUTES, "POST") => {
            let r: KeyLabelRequest = from_value(parse_checked(shared, body, &keys::KEY_LABEL)?)?;
            key_attributes(shared, &r.label, r.password.as_ref())
        }
        (paths::KEY_DELETE, "POST") => {
            let r: KeyLabelRequest = from_value(parse_checked(shared, body, &keys::KEY_LABEL)?)?;
            delete_key(shared, &r.label, r.password.as_ref())
        }
        (paths::KEY_IMPORT_PLAIN, "POST") => import::import_plain(shared, body),
        (paths::KEY_EXPORT_PLAIN, "POST") => import::export_plain(shared, body),
        (paths::SYNCHRONOUS_SIGN, "POST") => {
            sync_op(shared, sync_body(shared, RequestKind::Sign, body)?)
        }
        (paths::SIGN, "POST") => async_op(shared, RequestKind::Sign, body),
        (paths::VERIFY, "POST") => verify(shared, body),
        (paths::SYNCHRONOUS_DECRYPT, "POST") => {
            sync_op(shared, sync_body(shared, RequestKind::Decrypt, body)?)
        }
        (paths::DECRYPT, "POST") => async_op(shared, RequestKind::Decrypt, body),
        (paths::ENCRYPT, "POST") => symmetric::encrypt(shared, body),
        // `/v1/synchronousHmac` came with TSB 2.0.1 (S2 release notes 2.0.1).
        (paths::SYNCHRONOUS_HMAC, _) if !v.has_hmac() => Err(not_found_path(p)),
        (paths::SYNCHRONOUS_HMAC, "POST") => symmetric::hmac(shared, body),
        (paths::WRAP, "POST") => wrap::wrap(shared, body),
        (paths::SYNCHRONOUS_UNWRAP, "POST") => {
            sync_op(shared, sync_body(shared, RequestKind::Unwrap, body)?)
        }
        (paths::UNWRAP, "POST") => async_op(shared, RequestKind::Unwrap, body),
        (paths::CERTIFICATE_SYNCHRONOUS_REQUEST, "POST") => {
            sync_op(shared, sync_body(shared, RequestKind::Csr, body)?)
        }
        (paths::CERTIFICATE_REQUEST, "POST") => async_op(shared, RequestKind::Csr, body),
        (paths::CERTIFICATE_SYNCHRONOUS_SELFSIGN, "POST") => {
            sync_op(shared, sync_body(shared, RequestKind::SelfSign, body)?)
        }
        (paths::CERTIFICATE_SELFSIGN, "POST") => async_op(shared, RequestKind::SelfSign, body),
        (paths::CERTIFICATE_SYNCHRONOUS_SIGN, "POST") => sync_op(
            shared,
            sync_body(shared, RequestKind::SignCertificate, body)?,
        ),
        (paths::CERTIFICATE_SIGN, "POST") => async_op(shared, RequestKind::SignCertificate, body),
        (paths::CERTIFICATE_IMPORT_PLAIN, "POST") => import_certificate(shared, body),
        (paths::SYNCHRONOUS_BLOCK, "POST") => {
            sync_op(shared, sync_body(shared, RequestKind::Block, body)?)
        }
        (paths::SYNCHRONOUS_UNBLOCK, "POST") => {
            sync_op(shared, sync_body(shared, RequestKind::Unblock, body)?)
        }
        (paths::BLOCK, "POST") => async_op(shared, RequestKind::Block, body),
        (paths::UNBLOCK, "POST") => async_op(shared, RequestKind::Unblock, body),
        // `/v1/filteredRequests` and `/v1/filteredAllApprovalTask` came with TSB 2.0.1 (S2
        // release notes 2.0.1); before, they are unknown paths.
        (paths::FILTERED_REQUESTS, _) if !v.has_filtered_requests() => Err(not_found_path(p)),
        (_, _)
            if TaskList::from_path(p) == Some(TaskList::All)
                && !v.has_filtered_all_approval_task() =>
        {
            Err(not_found_path(p))
        }
        (paths::FILTERED_REQUESTS, "POST") => filtered_requests(shared, body),
        (_, "POST") if TaskList::from_path(p).is_some() => match TaskList::from_path(p) {
            Some(list) => filtered_tasks(shared, body, list),
            None => Err(not_found_path(p)),
        },
        (paths::APPROVAL, "POST") => approve(shared, body),
        (paths::TASK, "DELETE") => reject_task(shared, body),
        _ => handle_valued(shared, p, m),
    }
}

/// The paths that carry a value in their last segments (a key label, a certificate's key, a
/// request id, a length).
fn handle_valued(shared: &Shared, p: &str, m: &str) -> ApiResult {
    if let Some(name) = paths::value_after(p, paths::KEY) {
        if m == "DELETE" {
            return delete_key(shared, &pct_decode(name), None);
        }
    }
    if let Some(name) = p
        .strip_suffix("/attributes")
        .and_then(|k| paths::value_after(k, paths::KEY))
    {
        if m == "GET" {
            return key_attributes(shared, &pct_decode(name), None);
        }
    }
    if let Some(len) = paths::value_after(p, paths::GENERATE_RANDOM) {
        if m == "GET" {
            return random(len);
        }
    }
    if let Some(name) = paths::value_after(p, paths::CERTIFICATE) {
        match m {
            "GET" => return get_certificate(shared, &pct_decode(name)),
            "DELETE" => return delete_certificate(shared, &pct_decode(name)),
            _ => {}
        }
    }
    if let Some(id) = paths::value_after(p, paths::REQUEST) {
        match m {
            "GET" => return request_status(shared, &pct_decode(id)),
            "DELETE" => return cancel_request(shared, &pct_decode(id)),
            _ => {}
        }
    }
    if path_known(p) {
        Err(method_not_allowed(m, p))
    } else {
        Err(not_found_path(p))
    }
}

/// Whether some method is routed for this path (for 405 versus 404).
fn path_known(p: &str) -> bool {
    const FIXED: &[&str] = &[
        paths::VERSION_INFO,
        paths::LICENSE_INFO,
        paths::KEYSTORE_STATISTICS,
        paths::KEY,
        paths::KEY_ATTRIBUTES,
        paths::KEY_DELETE,
        paths::KEY_IMPORT_PLAIN,
        paths::KEY_EXPORT_PLAIN,
        paths::SYNCHRONOUS_SIGN,
        paths::SIGN,
        paths::VERIFY,
        paths::SYNCHRONOUS_DECRYPT,
        paths::DECRYPT,
        paths::ENCRYPT,
        paths::SYNCHRONOUS_HMAC,
        paths::WRAP,
        paths::SYNCHRONOUS_UNWRAP,
        paths::UNWRAP,
        paths::CERTIFICATE_SYNCHRONOUS_REQUEST,
        paths::CERTIFICATE_REQUEST,
        paths::CERTIFICATE_SYNCHRONOUS_SELFSIGN,
        paths::CERTIFICATE_SELFSIGN,
        paths::CERTIFICATE_SYNCHRONOUS_SIGN,
        paths::CERTIFICATE_SIGN,
        paths::CERTIFICATE_IMPORT_PLAIN,
        paths::SYNCHRONOUS_BLOCK,
        paths::SYNCHRONOUS_UNBLOCK,
        paths::BLOCK,
        paths::UNBLOCK,
        paths::FILTERED_REQUESTS,
        paths::APPROVAL,
        paths::TASK,
    ];
    FIXED.contains(&p)
        || TaskList::from_path(p).is_some()
        || [
            paths::KEY,
            paths::GENERATE_RANDOM,
            paths::CERTIFICATE,
            paths::REQUEST,
        ]
        .iter()
        .any(|prefix| paths::value_after(p, prefix).is_some())
        || p.strip_suffix("/attributes")
            .is_some_and(|k| paths::value_after(k, paths::KEY).is_some())
}

// ---------------------------------------------------------------------------------------------
// Persistence

/// Write the state file if configured and the store changed since the last write.
fn persist(shared: &Shared) {
    let Some(path) = &shared.cfg.state_file else {
        return;
    };
    // Lock order: persist_gen, then store (never the other way round).
    let mut last = shared.persist_gen.lock();
    let (gen, data) = {
        let st = shared.store.lock();
        if st.generation <= *last {
            return;
        }
        (st.generation, st.snapshot())
    };
    match data
        .map_err(std::io::Error::other)
        .and_then(|d| crate::store::write_atomic(path, &d))
    {
        Ok(()) => *last = gen,
        Err(e) => eprintln!(
            "tsb-emulator: cannot write state file {}: {e}",
            path.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(pct_decode("a%20b"), "a b");
        assert_eq!(pct_decode("bad%2"), "bad%2");
        assert_eq!(pct_decode("%"), "%");
        assert_eq!(pct_decode("x%zzy"), "x%zzy");
    }
}
