//! The REST surface: routing, authentication, the `/v1` handlers, the SKA request life cycle
//! (creation, lazy and scheduled re-evaluation, execution) and the `/_emulator` test controls.

use crate::crypto::{self, CryptoError, KeyMaterial, KeySpec};
use crate::http::{HttpRequest, HttpResponse};
use crate::ska::{self, EngineGroup, EngineRule, EngineToken, Verdict};
use crate::store::{KeyEntry, KeyRules, RequestKind, RequestRecord, Store, TaskRecord};
use crate::{x509, Fault, Shared};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tsb_models::codes::{self, http_status};
use tsb_models::*;
use tsb_models::{algorithms, approval_type, is_approval_task_path, role_for_path};

/// Version reported by `GET /v1/versionInfo`.
const VERSION: &str = "2.2.0-emulator";
/// How far in the past an approver's timestamp may be (real time).
const MAX_TIMESTAMP_AGE_S: i64 = 600;
/// How far in the future an approver's timestamp may be (real time; allows clock skew).
const MAX_TIMESTAMP_FUTURE_S: i64 = 60;
/// Default validity of certificates when the request gives none.
const DEFAULT_VALIDITY_DAYS: u32 = 365;
/// Scheduler period: APPROVED requests whose timelock passed execute without a read.
const SCHEDULER_TICK: Duration = Duration::from_millis(200);

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
// Entry point, authentication, routing

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
    if req.path == "/v1" || req.path.starts_with("/v1/") {
        authenticate(shared, req)?;
    }
    handle(shared, req)
}

fn authenticate(shared: &Shared, req: &HttpRequest) -> Result<(), ApiError> {
    let p = req.path.as_str();
    // The TSB ignores JWTs on the approver endpoints (approvers authenticate by signature).
    let approver_path = is_approval_task_path(p) || p == "/v1/approval" || p == "/v1/task";
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
            let given = req.header("x-api-key").unwrap_or("");
            if !keys.any(|(_, k)| k == given) {
                return Err(ApiError::new(
                    codes::INVALID_API_KEY,
                    format!("invalid API key for role {}", role.name()),
                ));
            }
        }
    }
    Ok(())
}

fn handle(shared: &Shared, req: &HttpRequest) -> ApiResult {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let m = req.method.as_str();
    let body = req.body.as_slice();
    match (segs.as_slice(), m) {
        (["v1", "versionInfo"], "GET") => json_response(
            200,
            &VersionInfo {
                version: VERSION.into(),
            },
        ),
        (["v1", "licenseInfo"], "GET") => json_response(
            200,
            &LicenseInfo {
                client_flags: vec!["KEY_AUTH".into(), "REST_API".into(), "TSB_ENGINE".into()],
            },
        ),
        (["v1", "keystore", "statistics"], "GET") => {
            let n = shared.store.lock().keys.len();
            json_response(
                200,
                &json!({ "keyStoreStatistics": format!("{{\"numberOfKeys\":{n}}}") }),
            )
        }
        (["v1", "key"], "GET") => {
            let mut labels: Vec<String> = shared.store.lock().keys.keys().cloned().collect();
            labels.sort();
            json_response(200, &labels)
        }
        (["v1", "key"], "POST") => create_key(shared, body),
        (["v1", "key", "attributes"], "POST") => {
            let r: KeyLabelRequest = parse(body)?;
            key_attributes(shared, &r.label, r.password.as_ref(), true)
        }
        (["v1", "key", "deleteKey"], "POST") => {
            let r: KeyLabelRequest = parse(body)?;
            delete_key(shared, &r.label, r.password.as_ref(), true)
        }
        (["v1", "key", name, "attributes"], "GET") => {
            key_attributes(shared, &pct_decode(name), None, false)
        }
        (["v1", "key", name], "DELETE") => delete_key(shared, &pct_decode(name), None, false),
        (["v1", "synchronousSign"], "POST") => {
            let env: SignEnvelope = parse(body)?;
            sync_op(shared, Operation::Sign(env.sign_request))
        }
        (["v1", "sign"], "POST") => async_op(shared, RequestKind::Sign, body),
        (["v1", "verify"], "POST") => verify(shared, body),
        (["v1", "synchronousDecrypt"], "POST") => {
            let env: DecryptEnvelope = parse(body)?;
            sync_op(shared, Operation::Decrypt(env.decrypt_request))
        }
        (["v1", "decrypt"], "POST") => async_op(shared, RequestKind::Decrypt, body),
        (["v1", "generateRandom", len], "GET") => random(len),
        (["v1", "certificate", "synchronous", "request"], "POST") => {
            sync_op(shared, Operation::Csr(parse(body)?))
        }
        (["v1", "certificate", "request"], "POST") => async_op(shared, RequestKind::Csr, body),
        (["v1", "certificate", "synchronous", "selfsign"], "POST") => {
            sync_op(shared, Operation::SelfSign(parse(body)?))
        }
        (["v1", "certificate", "selfsign"], "POST") => {
            async_op(shared, RequestKind::SelfSign, body)
        }
        (["v1", "certificate", "synchronous", "sign"], "POST") => {
            sync_op(shared, Operation::SignCertificate(parse(body)?))
        }
        (["v1", "certificate", "sign"], "POST") => {
            async_op(shared, RequestKind::SignCertificate, body)
        }
        (["v1", "certificate", "import", "plain"], "POST") => import_certificate(shared, body),
        (["v1", "certificate", name], "GET") => get_certificate(shared, &pct_decode(name)),
        (["v1", "certificate", name], "DELETE") => delete_certificate(shared, &pct_decode(name)),
        (["v1", "synchronousBlock"], "POST") => {
            let env: BlockEnvelope = parse(body)?;
            sync_op(shared, Operation::Block(env.block_request))
        }
        (["v1", "synchronousUnblock"], "POST") => {
            let env: UnblockEnvelope = parse(body)?;
            sync_op(shared, Operation::Unblock(env.unblock_request))
        }
        (["v1", "block"], "POST") => async_op(shared, RequestKind::Block, body),
        (["v1", "unblock"], "POST") => async_op(shared, RequestKind::Unblock, body),
        (["v1", "request", id], "GET") => request_status(shared, &pct_decode(id)),
        (["v1", "request", id], "DELETE") => cancel_request(shared, &pct_decode(id)),
        (["v1", "filteredRequests"], "POST") => filtered_requests(shared, body),
        (["v1", _], "POST") if is_approval_task_path(&req.path) => {
            match TaskList::from_path(&req.path) {
                Some(list) => filtered_tasks(shared, body, list),
                None => Err(not_found_path(&req.path)),
            }
        }
        (["v1", "approval"], "POST") => approve(shared, body),
        (["v1", "task"], "DELETE") => reject_task(shared, body),
        _ if path_known(&segs, &req.path) => Err(method_not_allowed(m, &req.path)),
        _ => Err(not_found_path(&req.path)),
    }
}

/// Whether some method is routed for this path (for 405 versus 404).
fn path_known(segs: &[&str], path: &str) -> bool {
    matches!(
        segs,
        [
            "v1",
            "versionInfo" | "licenseInfo" | "key" | "synchronousSign" | "sign" | "verify"
        ] | [
            "v1",
            "synchronousDecrypt" | "decrypt" | "synchronousBlock" | "synchronousUnblock"
        ] | [
            "v1",
            "block" | "unblock" | "filteredRequests" | "approval" | "task"
        ] | ["v1", "keystore", "statistics"]
            | ["v1", "key", _]
            | ["v1", "key", _, "attributes"]
            | ["v1", "generateRandom", _]
            | ["v1", "certificate", _]
            | [
                "v1",
                "certificate",
                "synchronous",
                "request" | "selfsign" | "sign"
            ]
            | ["v1", "certificate", "import", "plain"]
            | ["v1", "request", _]
    ) || TaskList::from_path(path).is_some()
}

// ---------------------------------------------------------------------------------------------
// Keys

fn flag(v: Option<bool>, default: bool) -> Option<bool> {
    Some(v.unwrap_or(default))
}

/// The attributes a new key reports: requested flags with the DTO defaults; SKA keys are never
/// extractable; non-extractable keys are always sensitive.
fn effective_flags(req: &KeyFlags, ska: bool) -> KeyFlags {
    let extractable = !ska && req.extractable.unwrap_or(false);
    let sensitive = !(extractable && req.sensitive == Some(false));
    KeyFlags {
        encrypt: flag(req.encrypt, false),
        decrypt: flag(req.decrypt, false),
        verify: flag(req.verify, false),
        sign: flag(req.sign, false),
        wrap: flag(req.wrap, false),
        unwrap: flag(req.unwrap, false),
        derive: flag(req.derive, false),
        bip32: flag(req.bip32, false),
        slip10: flag(req.slip10, false),
        extractable: Some(extractable),
        modifiable: flag(req.modifiable, true),
        destroyable: flag(req.destroyable, false),
        sensitive: Some(sensitive),
        copyable: flag(req.copyable, false),
        always_sensitive: Some(sensitive),
        never_extractable: Some(!extractable),
        eka_sign: None,
    }
}

fn key_spec(ck: &CreateKeyRequest) -> Result<KeySpec, ApiError> {
    let alg = ck
        .algorithm
        .as_deref()
        .or(ck.algorithm_oid.as_deref())
        .ok_or_else(|| {
            ApiError::new(
                codes::VALIDATION_FAILED,
                "algorithm or algorithmOid is required",
            )
        })?;
    match KeyAlgorithm::from_name_or_oid(alg) {
        Some(KeyAlgorithm::Rsa) => match ck.key_size {
            Some(n @ (2048 | 3072 | 4096)) => Ok(KeySpec::Rsa(n)),
            Some(n) => Err(ApiError::new(
                codes::KEYSIZE,
                format!("RSA key size {n} is not supported (2048, 3072, 4096)"),
            )),
            None => Err(ApiError::new(
                codes::KEYSIZE,
                "keySize is required for RSA keys",
            )),
        },
        Some(KeyAlgorithm::Ec) => {
            let oid = ck.curve_oid.as_deref().ok_or_else(|| {
                ApiError::new(codes::VALIDATION_FAILED, "curveOid is required for EC keys")
            })?;
            Curve::from_oid(oid).map(KeySpec::Ec).ok_or_else(|| {
                ApiError::new(codes::KEYSIZE, format!("curve {oid} is not supported"))
            })
        }
        Some(KeyAlgorithm::Ed) => match ck.curve_oid.as_deref() {
            None | Some(ED25519_OID) => Ok(KeySpec::Ed25519),
            Some(oid) => Err(ApiError::new(
                codes::KEYSIZE,
                format!("curve {oid} is not supported for ED keys"),
            )),
        },
        None => Err(ApiError::new(
            codes::ALGORITHM_NOT_SUPPORTED_BY_KEY,
            format!("algorithm {alg} is not supported by the emulator (RSA, EC, ED)"),
        )),
    }
}

/// Canonical id and display string of one policy approver.
fn approver_identity(a: &tsb_models::Approval) -> Result<(String, String), ApiError> {
    let value = || {
        a.value.as_deref().ok_or_else(|| {
            ApiError::new(
                codes::VALIDATION_FAILED,
                format!("approval of type {} needs a value", a.kind),
            )
        })
    };
    match a.kind.as_str() {
        approval_type::PUBLIC_KEY => {
            let v = value()?;
            let der = b64("approval value", v, codes::UNSUPPORTED_APPROVER_KEY)?;
            Ok((B64.encode(der), v.to_string()))
        }
        approval_type::CERTIFICATE => {
            let der = b64("approval value", value()?, codes::UNSUPPORTED_APPROVER_KEY)?;
            let spki = B64.encode(crypto::certificate_spki_der(&der)?);
            Ok((spki.clone(), spki))
        }
        approval_type::ONBOARDED_APPROVER_CERTIFICATE => {
            // Authorization-App approvers are not reachable through the emulator; they can be
            // listed in a policy but never approve.
            let id = format!("onboarded:{}", a.name.clone().unwrap_or_default());
            Ok((id.clone(), id))
        }
        other => Err(ApiError::new(
            codes::VALIDATION_FAILED,
            format!("unknown approval type {other}"),
        )),
    }
}

fn engine_rule(
    rule: Option<&Rule>,
    display: &mut BTreeMap<String, String>,
) -> Result<EngineRule, ApiError> {
    let Some(rule) = rule else {
        return Ok(EngineRule::default());
    };
    let mut tokens = Vec::with_capacity(rule.tokens.len());
    for t in &rule.tokens {
        let mut groups = Vec::new();
        for g in t.groups.iter().flatten() {
            let mut approvers = Vec::with_capacity(g.approvals.len());
            for a in &g.approvals {
                let (id, shown) = approver_identity(a)?;
                display.entry(id.clone()).or_insert(shown);
                approvers.push(id);
            }
            groups.push(EngineGroup {
                quorum: g.quorum,
                approvers,
            });
        }
        let ms = |s: u64| (s.min(i64::MAX as u64 / 1000) as i64) * 1000;
        tokens.push(EngineToken {
            timelock_ms: ms(t.timelock),
            timeout_ms: ms(t.timeout),
            groups,
        });
    }
    Ok(EngineRule { tokens })
}

fn key_rules(policy: Option<&Policy>) -> Result<KeyRules, ApiError> {
    let Some(p) = policy else {
        return Ok(KeyRules::default());
    };
    p.validate()
        .map_err(|e| ApiError::new(codes::VALIDATION_FAILED, e.to_string()))?;
    let mut display = BTreeMap::new();
    let use_rule = engine_rule(p.rule_use.as_ref(), &mut display)?;
    let block = engine_rule(p.rule_block.as_ref(), &mut display)?;
    let unblock = engine_rule(p.rule_unblock.as_ref(), &mut display)?;
    // ruleModify is validated although modify is not emulated.
    engine_rule(p.rule_modify.as_ref(), &mut display)?;
    Ok(KeyRules {
        use_rule,
        block,
        unblock,
        display,
    })
}

/// Releases a label reservation when key creation ends, whichever way.
struct Reservation<'a> {
    shared: &'a Shared,
    lower: String,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.shared.store.lock().reserved.remove(&self.lower);
    }
}

fn create_key(shared: &Shared, body: &[u8]) -> ApiResult {
    let value = parse_json(body)?;
    match value.get("label") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        _ => {
            return Err(ApiError::new(
                codes::INVALID_KEY_NAME,
                "label is required and must not be empty",
            ))
        }
    }
    let ck: CreateKeyRequest = from_value(value)?;
    let spec = key_spec(&ck)?;
    let a = &ck.attributes;
    if ![a.decrypt, a.sign, a.unwrap].contains(&Some(true)) {
        return Err(ApiError::new(
            codes::KEY_ATTRIBUTES_INVALID,
            "at least one of decrypt, sign, unwrap must be true",
        ));
    }
    let rules = key_rules(ck.policy.as_ref())?;
    let lower = ck.label.to_lowercase();
    {
        let mut st = shared.store.lock();
        if st.label_taken(&ck.label) {
            return Err(ApiError::new(
                codes::KEY_ALREADY_EXISTING,
                format!("key {} already exists", ck.label),
            ));
        }
        st.reserved.insert(lower.clone());
    }
    let reservation = Reservation { shared, lower };
    // Generation (seconds for RSA-4096) runs without the store lock.
    let material = KeyMaterial::generate(spec)?;
    let public_key = B64.encode(material.public_key_spki_der());
    let ska = ck.policy.is_some();
    let mut policy = ck.policy.clone();
    if let Some(p) = policy.as_mut() {
        p.key_status.get_or_insert_with(KeyStatus::default);
    }
    let blocked = policy
        .as_ref()
        .and_then(|p| p.key_status.as_ref())
        .is_some_and(|s| s.blocked);
    let entry = KeyEntry {
        label: ck.label.clone(),
        id: ck.id.clone(),
        password: ck.password.as_ref().map(|p| p.0.clone()),
        pkcs8: B64.encode(material.to_pkcs8_der()?),
        material,
        public_key,
        attributes: effective_flags(&ck.attributes, ska),
        policy,
        rules,
        blocked,
        create_time: rfc3339(shared.clock.now_ms()),
        certificate: None,
    };
    let attrs = signed_attributes(&entry);
    shared.store.lock().insert_key(entry);
    drop(reservation);
    persist(shared);
    json_response(201, &attrs)
}

fn key_attributes(
    shared: &Shared,
    name: &str,
    password: Option<&Password>,
    check_password: bool,
) -> ApiResult {
    let st = shared.store.lock();
    let k = st.resolve(name).ok_or_else(|| key_not_found(name))?;
    if check_password {
        check_key_password(k, password)?;
    }
    let attrs = signed_attributes(k);
    drop(st);
    json_response(200, &attrs)
}

fn delete_key(
    shared: &Shared,
    name: &str,
    password: Option<&Password>,
    check_password: bool,
) -> ApiResult {
    {
        let mut st = shared.store.lock();
        let k = st.resolve(name).ok_or_else(|| key_not_found(name))?;
        if check_password {
            check_key_password(k, password)?;
        }
        let label = k.label.clone();
        st.remove_key(&label);
    }
    persist(shared);
    empty_ok()
}

fn key_not_found(name: &str) -> ApiError {
    ApiError::new(
        codes::KEY_NOT_EXISTENT,
        format!("key {name} does not exist"),
    )
}

fn check_key_password(k: &KeyEntry, given: Option<&Password>) -> Result<(), ApiError> {
    match &k.password {
        Some(pw) if given.map(|g| &g.0) != Some(pw) => Err(ApiError::new(
            codes::KEY_PASSWORD_MISMATCH,
            "key password does not match",
        )),
        _ => Ok(()),
    }
}

fn key_json(k: &KeyEntry) -> KeyAttributes {
    let mut policy = k.policy.clone();
    if let Some(p) = policy.as_mut() {
        p.key_status = Some(KeyStatus { blocked: k.blocked });
    }
    KeyAttributes {
        label: k.label.clone(),
        id: k.id.clone(),
        algorithm: Some(k.material.algorithm_name().to_string()),
        algorithm_oid: Some(k.material.algorithm_oid().to_string()),
        curve_oid: k.material.curve_oid().map(str::to_string),
        key_size: k.material.key_size(),
        key_usage_count: None,
        create_time: Some(k.create_time.clone()),
        attest_time: Some(k.create_time.clone()),
        public_key: Some(k.public_key.clone()),
        attributes: k.attributes.clone(),
        policy,
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_rule(out: &mut String, tag: &str, rule: Option<&Rule>) {
    let Some(rule) = rule else { return };
    out.push_str(&format!("<{tag}>"));
    for t in &rule.tokens {
        out.push_str(&format!(
            "<token name=\"{}\"><timelock>{}</timelock><timeout>{}</timeout>",
            xml_escape(&t.name),
            t.timelock,
            t.timeout
        ));
        for g in t.groups.iter().flatten() {
            out.push_str(&format!(
                "<group name=\"{}\"><quorum>{}</quorum>",
                xml_escape(&g.name),
                g.quorum
            ));
            for a in &g.approvals {
                out.push_str(&format!(
                    "<approval type=\"{}\" name=\"{}\">{}</approval>",
                    xml_escape(&a.kind),
                    xml_escape(a.name.as_deref().unwrap_or("")),
                    xml_escape(a.value.as_deref().unwrap_or(""))
                ));
            }
            out.push_str("</group>");
        }
        out.push_str("</token>");
    }
    out.push_str(&format!("</{tag}>"));
}

/// `SignedKeyAttributes`: the JSON attributes and a reduced snake_case XML form "signed" with a
/// SHA-256 digest (the emulator has no attestation key; the field is only a stand-in).
fn signed_attributes(k: &KeyEntry) -> SignedKeyAttributes {
    let json = key_json(k);
    let mut x = String::from("<private_key>");
    let mut el = |tag: &str, v: Option<String>| {
        if let Some(v) = v {
            x.push_str(&format!("<{tag}>{}</{tag}>", xml_escape(&v)));
        }
    };
    el("label", Some(json.label.clone()));
    el("id", json.id.clone());
    el("algorithm", json.algorithm.clone());
    el("algorithm_oid", json.algorithm_oid.clone());
    el("curve_oid", json.curve_oid.clone());
    el("key_size", json.key_size.map(|n| n.to_string()));
    el("create_time", json.create_time.clone());
    el("public_key", json.public_key.clone());
    x.push_str("<attributes>");
    let f = &json.attributes;
    for (tag, v) in [
        ("decrypt", f.decrypt),
        ("sign", f.sign),
        ("unwrap", f.unwrap),
        ("derive", f.derive),
        ("sensitive", f.sensitive),
        ("always_sensitive", f.always_sensitive),
        ("extractable", f.extractable),
        ("never_extractable", f.never_extractable),
        ("modifiable", f.modifiable),
        ("copyable", f.copyable),
        ("destroyable", f.destroyable),
    ] {
        x.push_str(&format!("<{tag}>{}</{tag}>", v.unwrap_or(false)));
    }
    x.push_str("</attributes>");
    if let Some(p) = &json.policy {
        x.push_str(&format!(
            "<policy><key_status><blocked>{}</blocked></key_status>",
            p.key_status.as_ref().is_some_and(|s| s.blocked)
        ));
        xml_rule(&mut x, "rule_use", p.rule_use.as_ref());
        xml_rule(&mut x, "rule_block", p.rule_block.as_ref());
        xml_rule(&mut x, "rule_unblock", p.rule_unblock.as_ref());
        xml_rule(&mut x, "rule_modify", p.rule_modify.as_ref());
        x.push_str("</policy>");
    }
    x.push_str("</private_key>");
    let sig = B64.encode(openssl::sha::sha256(x.as_bytes()));
    SignedKeyAttributes {
        xml: Some(x),
        json,
        xml_signature: Some(sig),
        attestation_key_name: Some("attestation-key".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Operations (shared by the synchronous endpoints and SKA request execution)

/// One key operation, parsed from a request body.
// Short-lived (one per request), so the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Operation {
    Sign(SignRequest),
    Decrypt(DecryptRequest),
    Csr(CsrRequest),
    SelfSign(SelfSignRequest),
    SignCertificate(SignCertificateRequest),
    Block(BlockRequest),
    Unblock(UnblockRequest),
}

impl Operation {
    /// Parse the outer body of an asynchronous request.
    fn from_request(kind: RequestKind, outer: &Value) -> Result<Operation, ApiError> {
        let v = outer.clone();
        Ok(match kind {
            RequestKind::Sign => Operation::Sign(from_value::<SignEnvelope>(v)?.sign_request),
            RequestKind::Decrypt => {
                Operation::Decrypt(from_value::<DecryptEnvelope>(v)?.decrypt_request)
            }
            RequestKind::Csr => Operation::Csr(from_value::<CsrEnvelope>(v)?.csr_sign_request),
            RequestKind::SelfSign => Operation::SelfSign(
                from_value::<SelfSignEnvelope>(v)?.self_sign_certificate_request,
            ),
            RequestKind::SignCertificate => Operation::SignCertificate(
                from_value::<SignCertificateEnvelope>(v)?.sign_certificate_request,
            ),
            RequestKind::Block => Operation::Block(from_value::<BlockEnvelope>(v)?.block_request),
            RequestKind::Unblock => {
                Operation::Unblock(from_value::<UnblockEnvelope>(v)?.unblock_request)
            }
        })
    }

    fn kind(&self) -> RequestKind {
        match self {
            Operation::Sign(_) => RequestKind::Sign,
            Operation::Decrypt(_) => RequestKind::Decrypt,
            Operation::Csr(_) => RequestKind::Csr,
            Operation::SelfSign(_) => RequestKind::SelfSign,
            Operation::SignCertificate(_) => RequestKind::SignCertificate,
            Operation::Block(_) => RequestKind::Block,
            Operation::Unblock(_) => RequestKind::Unblock,
        }
    }

    fn key_name(&self) -> &str {
        match self {
            Operation::Sign(r) => &r.sign_key_name,
            Operation::Decrypt(r) => &r.decrypt_key_name,
            Operation::Csr(r) => &r.sign_key_name,
            Operation::SelfSign(r) => &r.sign_key_name,
            Operation::SignCertificate(r) => &r.sign_key_name,
            Operation::Block(r) => &r.block_key_name,
            Operation::Unblock(r) => &r.unblock_key_name,
        }
    }

    fn password(&self) -> Option<&Password> {
        match self {
            Operation::Sign(r) => r.key_password.as_ref(),
            Operation::Decrypt(r) => r.key_password.as_ref(),
            Operation::Csr(r) => r.key_password.as_ref(),
            Operation::SelfSign(r) => r.key_password.as_ref(),
            Operation::SignCertificate(r) => r.key_password.as_ref(),
            Operation::Block(r) => r.key_password.as_ref(),
            Operation::Unblock(r) => r.key_password.as_ref(),
        }
    }

    /// Input checks that need no key: base64 payloads and algorithm names.
    fn validate(&self) -> Result<(), ApiError> {
        match self {
            Operation::Sign(r) => {
                b64("payload", &r.payload, codes::INVALID_PAYLOAD)?;
                known_signature_algorithm(&r.signature_algorithm)
            }
            Operation::Decrypt(r) => {
                b64(
                    "encryptedPayload",
                    &r.encrypted_payload,
                    codes::INVALID_PAYLOAD,
                )?;
                known_cipher_algorithm(&r.cipher_algorithm)
            }
            Operation::Csr(r) => known_signature_algorithm(&r.signature_algorithm),
            Operation::SelfSign(r) => known_signature_algorithm(&r.signature_algorithm),
            Operation::SignCertificate(r) => known_signature_algorithm(&r.signature_algorithm),
            Operation::Block(_) | Operation::Unblock(_) => Ok(()),
        }
    }

    /// The bytes approvers see as the payload (in `approvalToBeSigned` and level2 `payload`).
    fn approval_payload(&self, outer: &Value) -> Vec<u8> {
        match self {
            Operation::Sign(r) => {
                b64("payload", &r.payload, codes::INVALID_PAYLOAD).unwrap_or_default()
            }
            Operation::Decrypt(r) => b64(
                "encryptedPayload",
                &r.encrypted_payload,
                codes::INVALID_PAYLOAD,
            )
            .unwrap_or_default(),
            Operation::Block(r) => r.block_key_name.as_bytes().to_vec(),
            Operation::Unblock(r) => r.unblock_key_name.as_bytes().to_vec(),
            _ => {
                let inner = outer
                    .get(self.kind().request_type().envelope_field())
                    .unwrap_or(outer);
                serde_json::to_vec(inner).unwrap_or_default()
            }
        }
    }
}

/// Names outside the TSB's `signatureAlgorithm` enum ([`algorithms`]) are refused before any
/// request is created; names the key type cannot do fail at execution. The error is 607, where a
/// real TSB answers an unknown enum value with 501/600 (audit divergence #12, kept for now).
fn known_signature_algorithm(alg: &str) -> Result<(), ApiError> {
    if algorithms::is_known_signature_algorithm(alg) {
        Ok(())
    } else {
        Err(ApiError::new(
            codes::ALGORITHM_NOT_SUPPORTED_BY_KEY,
            format!("unknown signatureAlgorithm {alg}"),
        ))
    }
}

/// Like [`known_signature_algorithm`], for `cipherAlgorithm`.
fn known_cipher_algorithm(alg: &str) -> Result<(), ApiError> {
    if algorithms::cipher_algorithm(alg).is_some() {
        Ok(())
    } else {
        Err(ApiError::new(
            codes::ALGORITHM_NOT_SUPPORTED_BY_KEY,
            format!("unknown cipherAlgorithm {alg}"),
        ))
    }
}

fn is_use(kind: RequestKind) -> bool {
    !matches!(kind, RequestKind::Block | RequestKind::Unblock)
}

/// What a request needs from its key, cloned out so the store lock is not held during crypto.
struct Prepared {
    label: String,
    material: KeyMaterial,
    certificate: Option<String>,
    rules: KeyRules,
}

/// How `prepare` treats the key password.
#[derive(Clone, Copy)]
enum PasswordCheck<'a> {
    /// Check this password (a request as received).
    Given(Option<&'a Password>),
    /// Not checked: verification is a public-key operation, and an SKA request's password was
    /// checked when the request was created (its stored copy has none).
    Skip,
}

/// Look up and check the key of an operation: exists (650), password (620), not blocked for a
/// use (614), has the attribute the operation needs (614).
fn prepare(
    st: &Store,
    name: &str,
    password: PasswordCheck,
    kind: RequestKind,
) -> Result<Prepared, ApiError> {
    let k = st.resolve(name).ok_or_else(|| key_not_found(name))?;
    if let PasswordCheck::Given(given) = password {
        check_key_password(k, given)?;
    }
    if is_use(kind) && k.blocked {
        return Err(ApiError::new(
            codes::OPERATION_FORBIDDEN_FOR_KEY,
            "key is blocked",
        ));
    }
    let (needed, attr) = match kind {
        RequestKind::Decrypt => (k.attributes.decrypt, "decrypt"),
        RequestKind::Block | RequestKind::Unblock => (Some(true), ""),
        _ => (k.attributes.sign, "sign"),
    };
    if needed == Some(false) {
        return Err(ApiError::new(
            codes::OPERATION_FORBIDDEN_FOR_KEY,
            format!("key {} does not have the {attr} attribute", k.label),
        ));
    }
    Ok(Prepared {
        label: k.label.clone(),
        material: k.material.clone(),
        certificate: k.certificate.clone(),
        rules: k.rules.clone(),
    })
}

fn rule_of(rules: &KeyRules, kind: RequestKind) -> &EngineRule {
    match kind {
        RequestKind::Block => &rules.block,
        RequestKind::Unblock => &rules.unblock,
        _ => &rules.use_rule,
    }
}

/// Run an operation now. Returns the operation's result: signature/plaintext (base64), PEM CSR or
/// certificate, nothing for block/unblock. Certificates and block state are stored on the key.
fn run_operation(
    shared: &Shared,
    op: &Operation,
    password: PasswordCheck,
) -> Result<Option<String>, ApiError> {
    let p = prepare(&shared.store.lock(), op.key_name(), password, op.kind())?;
    let key = &p.material;
    let mut store_cert: Option<(String, bool)> = None; // (PEM, replace existing)
    let mut set_blocked = None;
    let result = match op {
        Operation::Sign(r) => {
            let payload = b64("payload", &r.payload, codes::INVALID_PAYLOAD)?;
            Some(B64.encode(key.sign(&r.signature_algorithm, &payload)?))
        }
        Operation::Decrypt(r) => {
            let ct = b64(
                "encryptedPayload",
                &r.encrypted_payload,
                codes::INVALID_PAYLOAD,
            )?;
            Some(B64.encode(key.decrypt(&r.cipher_algorithm, &ct)?))
        }
        Operation::Csr(r) => {
            let csr = x509::create_csr(
                key,
                &r.signature_algorithm,
                &r.standard_certificate_attributes,
                &r.key_usage,
                &r.extended_key_usage,
            )?;
            // Like the TSB since 1.16.1: a key without a certificate gets a self-signed one. Best
            // effort: a failure here does not fail the CSR.
            if p.certificate.is_none() {
                if let Ok(cert) = x509::self_sign(
                    key,
                    &r.signature_algorithm,
                    &r.standard_certificate_attributes.common_name,
                    r.validity.unwrap_or(DEFAULT_VALIDITY_DAYS),
                    false,
                    &r.key_usage,
                    &r.extended_key_usage,
                ) {
                    store_cert = Some((cert, false));
                }
            }
            Some(csr)
        }
        Operation::SelfSign(r) => {
            let cert = x509::self_sign(
                key,
                &r.signature_algorithm,
                &r.common_name,
                r.validity.unwrap_or(DEFAULT_VALIDITY_DAYS),
                r.certificate_authority,
                &r.key_usage,
                &r.extended_key_usage,
            )?;
            store_cert = Some((cert.clone(), true));
            Some(cert)
        }
        Operation::SignCertificate(r) => Some(x509::issue_from_csr(
            key,
            p.certificate.as_deref(),
            &p.label,
            &r.certificate_signing_request,
            &r.signature_algorithm,
            r.common_name.as_deref().filter(|s| !s.is_empty()),
            r.certificate_authority,
            &r.key_usage,
            &r.extended_key_usage,
            r.validity.unwrap_or(DEFAULT_VALIDITY_DAYS),
        )?),
        Operation::Block(_) => {
            set_blocked = Some(true);
            None
        }
        Operation::Unblock(_) => {
            set_blocked = Some(false);
            None
        }
    };
    if store_cert.is_some() || set_blocked.is_some() {
        let mut st = shared.store.lock();
        if let Some(k) = st.keys.get_mut(&p.label) {
            if let Some((cert, replace)) = store_cert {
                if replace || k.certificate.is_none() {
                    k.certificate = Some(cert);
                }
            }
            if let Some(b) = set_blocked {
                k.blocked = b;
            }
        }
        st.touch();
        drop(st);
        persist(shared);
    }
    Ok(result)
}

/// A synchronous endpoint: refused for keys whose rule needs approvals (400 / 401).
fn sync_op(shared: &Shared, op: Operation) -> ApiResult {
    op.validate()?;
    {
        let p = prepare(
            &shared.store.lock(),
            op.key_name(),
            PasswordCheck::Given(op.password()),
            op.kind(),
        )?;
        if rule_of(&p.rules, op.kind()).is_gated() {
            return Err(ApiError::new(
                codes::MISSING_APPROVAL,
                format!(
                    "key {} needs approvals (Smart Key Attributes): use the asynchronous endpoint",
                    p.label
                ),
            ));
        }
    }
    let result = run_operation(shared, &op, PasswordCheck::Given(op.password()))?;
    let label = shared
        .store
        .lock()
        .resolve(op.key_name())
        .map(|k| k.label.clone())
        .unwrap_or_default();
    let text = result.unwrap_or_default();
    match op {
        Operation::Sign(_) => json_response(200, &SignResponse { signature: text }),
        Operation::Decrypt(_) => json_response(200, &DecryptResponse { payload: text }),
        Operation::Csr(_) => json_response(
            200,
            &CsrResponse {
                label,
                certificate_signing_request: text,
            },
        ),
        Operation::SelfSign(_) | Operation::SignCertificate(_) => json_response(
            200,
            &CertificateBody {
                label,
                certificate: text,
            },
        ),
        Operation::Block(_) | Operation::Unblock(_) => empty_ok(),
    }
}

fn verify(shared: &Shared, body: &[u8]) -> ApiResult {
    let env: VerifyEnvelope = parse(body)?;
    let r = env.verify_signature_request;
    known_signature_algorithm(&r.signature_algorithm)?;
    let payload = b64("payload", &r.payload, codes::INVALID_PAYLOAD)?;
    let signature = b64("signature", &r.signature, codes::INVALID_PAYLOAD)?;
    let p = prepare(
        &shared.store.lock(),
        &r.sign_key_name,
        PasswordCheck::Skip,
        RequestKind::Sign,
    )?;
    let valid = p
        .material
        .verify(&r.signature_algorithm, &payload, &signature)?;
    json_response(
        200,
        &VerifyResponse {
            signature_valid: valid,
        },
    )
}

fn random(len: &str) -> ApiResult {
    let n: usize = len
        .parse()
        .ok()
        .filter(|n| (1..=65536).contains(n))
        .ok_or_else(|| {
            ApiError::new(
                codes::VALIDATION_FAILED,
                "length must be an integer from 1 to 65536",
            )
        })?;
    let mut buf = vec![0u8; n];
    openssl::rand::rand_bytes(&mut buf).map_err(|e| ApiError::new(codes::IN_HSM, e.to_string()))?;
    json_response(
        200,
        &RandomResponse {
            random: B64.encode(buf),
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Certificates stored on keys

fn import_certificate(shared: &Shared, body: &[u8]) -> ApiResult {
    let r: CertificateBody = parse(body)?;
    let der = x509::certificate_to_der(&r.certificate)?;
    let pem = x509::certificate_der_to_pem(&der)?;
    let label = {
        let mut st = shared.store.lock();
        let k = st
            .resolve_mut(&r.label)
            .ok_or_else(|| key_not_found(&r.label))?;
        k.certificate = Some(pem.clone());
        let label = k.label.clone();
        st.touch();
        label
    };
    persist(shared);
    json_response(
        200,
        &CertificateBody {
            label,
            certificate: pem,
        },
    )
}

fn get_certificate(shared: &Shared, name: &str) -> ApiResult {
    let st = shared.store.lock();
    let k = st.resolve(name).ok_or_else(|| key_not_found(name))?;
    let cert = k.certificate.clone().ok_or_else(|| {
        ApiError::new(
            codes::KEY_NOT_EXISTENT,
            format!("key {} has no certificate", k.label),
        )
    })?;
    let body = CertificateBody {
        label: k.label.clone(),
        certificate: cert,
    };
    drop(st);
    json_response(200, &body)
}

fn delete_certificate(shared: &Shared, name: &str) -> ApiResult {
    {
        let mut st = shared.store.lock();
        let k = st.resolve_mut(name).ok_or_else(|| key_not_found(name))?;
        if k.certificate.take().is_none() {
            return Err(ApiError::new(
                codes::KEY_NOT_EXISTENT,
                format!("key {} has no certificate", k.label),
            ));
        }
        st.touch();
    }
    persist(shared);
    empty_ok()
}

// ---------------------------------------------------------------------------------------------
// SKA requests

/// An approved request to execute (claimed: `executing` is set on its record).
struct Job {
    id: String,
    kind: RequestKind,
    request: Value,
}

/// Re-evaluate one request at `now`; returns a job when it must execute now.
fn refresh(st: &mut Store, id: &str, now: i64) -> Option<Job> {
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

/// Re-evaluate every active request; returns the jobs to run.
fn refresh_all(shared: &Shared) -> Vec<Job> {
    let now = shared.clock.now_ms();
    let mut st = shared.store.lock();
    let ids: Vec<String> = st.active.iter().cloned().collect();
    ids.iter()
        .filter_map(|id| refresh(&mut st, id, now))
        .collect()
}

/// Execute a claimed request outside the store lock and record EXECUTED (with the result) or
/// FAILED (result null). A panic in the operation counts as a failure.
fn run_job(shared: &Shared, job: Job) {
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

fn run_jobs(shared: &Shared, jobs: Vec<Job>) {
    for job in jobs {
        run_job(shared, job);
    }
}

/// Background re-evaluation, so APPROVED requests execute when their timelock passes without
/// anyone reading them.
pub(crate) fn scheduler_loop(shared: std::sync::Arc<Shared>) {
    while !shared.shutdown.load(Ordering::SeqCst) {
        std::thread::sleep(SCHEDULER_TICK);
        let jobs = refresh_all(&shared);
        persist(&shared);
        run_jobs(&shared, jobs);
    }
}

fn async_op(shared: &Shared, kind: RequestKind, body: &[u8]) -> ApiResult {
    let mut outer = parse_json(body)?;
    let op = Operation::from_request(kind, &outer)?;
    op.validate()?;
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
        refresh(&mut st, &id, now)
    };
    persist(shared);
    // TSB >= 2.0.1: a request whose rule is empty or already satisfied executes at once.
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

fn request_status(shared: &Shared, id: &str) -> ApiResult {
    let job = {
        let mut st = shared.store.lock();
        if !st.requests.contains_key(id) {
            return Err(request_not_found(id));
        }
        refresh(&mut st, id, shared.clock.now_ms())
    };
    if let Some(job) = job {
        run_job(shared, job);
    } else {
        persist(shared);
    }
    let st = shared.store.lock();
    let rec = st.requests.get(id).ok_or_else(|| request_not_found(id))?;
    let status = status_of(rec);
    drop(st);
    let mut resp = json_response(200, &status)?;
    resp.request_id = Some(id.to_string());
    Ok(resp)
}

/// `DELETE /v1/request/{id}`: a pending or approved request becomes CANCELLED and its tasks go
/// away; a request that already ended keeps its state (the call still succeeds).
fn cancel_request(shared: &Shared, id: &str) -> ApiResult {
    {
        let mut st = shared.store.lock();
        let rec = st.requests.get(id).ok_or_else(|| request_not_found(id))?;
        if !rec.status.is_terminal() {
            st.finish(id, RequestState::Cancelled);
        }
    }
    persist(shared);
    let mut resp = empty_ok()?;
    resp.request_id = Some(id.to_string());
    Ok(resp)
}

fn filtered_requests(shared: &Shared, body: &[u8]) -> ApiResult {
    let f: FilteredRequestsRequest = if body.iter().all(u8::is_ascii_whitespace) {
        Default::default()
    } else {
        parse(body)?
    };
    let jobs = refresh_all(shared);
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

// ---------------------------------------------------------------------------------------------
// Approvers

/// The caller's key: DER and whether it is a certificate.
fn approver_key(
    public_key: Option<&String>,
    certificate: Option<&String>,
) -> Result<(Vec<u8>, bool), ApiError> {
    match (public_key, certificate) {
        (Some(pk), _) => Ok((
            b64("approverPublicKey", pk, codes::UNSUPPORTED_APPROVER_KEY)?,
            false,
        )),
        (None, Some(c)) => Ok((
            b64("approverCertificate", c, codes::UNSUPPORTED_APPROVER_KEY)?,
            true,
        )),
        (None, None) => Err(ApiError::new(
            codes::VALIDATION_FAILED,
            "approverPublicKey or approverCertificate is required",
        )),
    }
}

/// Canonical approver id (base64 SPKI) of a caller key.
fn canonical_approver(der: &[u8], is_certificate: bool) -> Result<String, ApiError> {
    Ok(if is_certificate {
        B64.encode(crypto::certificate_spki_der(der)?)
    } else {
        B64.encode(der)
    })
}

/// Check the timestamp proof of a `FilteredTasksRequest`; returns the canonical approver id.
/// Freshness uses REAL time: approvers sign the wall clock, not the emulated one.
fn authenticate_approver(f: &FilteredTasksRequest) -> Result<String, ApiError> {
    let ts = chrono::DateTime::parse_from_rfc3339(f.timestamp.trim()).map_err(|e| {
        ApiError::new(
            codes::TIMESTAMP_OFF,
            format!("timestamp is not RFC 3339: {e}"),
        )
    })?;
    let age = chrono::Utc::now().signed_duration_since(ts).num_seconds();
    if !(-MAX_TIMESTAMP_FUTURE_S..=MAX_TIMESTAMP_AGE_S).contains(&age) {
        return Err(ApiError::new(
            codes::TIMESTAMP_OFF,
            format!("timestamp is {age} s off the server time"),
        ));
    }
    let (der, is_cert) = approver_key(
        f.approver_public_key.as_ref(),
        f.approver_certificate.as_ref(),
    )?;
    let sig = b64(
        "timestampSignature",
        &f.timestamp_signature,
        codes::INVALID_SIGNATURE,
    )?;
    if !crypto::verify_approver_signature(
        &der,
        is_cert,
        &f.timestamp_digest_algorithm,
        f.timestamp.as_bytes(),
        &sig,
    )? {
        return Err(ApiError::new(
            codes::INVALID_SIGNATURE,
            "timestamp signature does not verify",
        ));
    }
    canonical_approver(&der, is_cert)
}

fn detail_level(s: Option<&str>) -> u8 {
    s.and_then(|s| s.strip_prefix("level"))
        .and_then(|n| n.parse::<u8>().ok())
        .unwrap_or(1)
        .clamp(1, 5)
}

fn task_view(t: &TaskRecord, rec: &RequestRecord, level: u8) -> Task {
    let mut task = Task {
        id: t.id.clone(),
        approval_to_be_signed: t.approval_to_be_signed.clone(),
        approver_public_key: Some(
            rec.display
                .get(&t.approver)
                .cloned()
                .unwrap_or_else(|| t.approver.clone()),
        ),
        detail_level: Some(format!("level{level}")),
        ..Task::default()
    };
    if level >= 2 {
        let inner = rec
            .request
            .get(rec.kind.request_type().envelope_field())
            .cloned()
            .unwrap_or(Value::Null);
        let text = |k: &str| inner.get(k).and_then(Value::as_str).map(str::to_string);
        task.meta_data = text("metaData");
        task.meta_data_signature = text("metaDataSignature");
        task.payload = match rec.kind {
            RequestKind::Sign => text("payload"),
            RequestKind::Decrypt => text("encryptedPayload"),
            _ => Some(B64.encode(serde_json::to_vec(&inner).unwrap_or_default())),
        };
        task.payload_type = Some(text("payloadType").unwrap_or_else(|| "UNSPECIFIED".into()));
    }
    if level >= 3 {
        task.request_base64 =
            Some(B64.encode(serde_json::to_vec(&rec.request).unwrap_or_default()));
        task.set_signed_request(rec.kind.request_type(), rec.request.clone());
    }
    task
}

fn filtered_tasks(shared: &Shared, body: &[u8], list: TaskList) -> ApiResult {
    let f: FilteredTasksRequest = parse(body)?;
    let approver = authenticate_approver(&f)?;
    // Expire / execute what is due first, so no stale task is offered.
    let jobs = refresh_all(shared);
    run_jobs(shared, jobs);
    let level = detail_level(f.detail_level.as_deref());
    let st = shared.store.lock();
    let mut tasks: Vec<(&TaskRecord, &RequestRecord)> = st
        .tasks
        .values()
        .filter(|t| t.approver == approver)
        // `id` wins over `requestId` when both are given.
        .filter(|t| match (&f.id, &f.request_id) {
            (Some(id), _) => *id == t.id,
            (None, Some(rid)) => *rid == t.request_id,
            (None, None) => true,
        })
        .filter_map(|t| st.requests.get(&t.request_id).map(|r| (t, r)))
        .filter(|(_, r)| r.status == RequestState::Pending && list.shows(r.kind.request_type()))
        .collect();
    tasks.sort_by_key(|(t, _)| t.seq);
    let paging = f.paging.clone().unwrap_or_default();
    if paging
        .sort_order
        .as_deref()
        .is_some_and(|o| o.ends_with("_DESC"))
    {
        tasks.reverse();
    }
    let views: Vec<Task> = if paging.page_size > 0 {
        let size = paging.page_size as usize;
        tasks
            .iter()
            .skip((paging.page_number as usize).saturating_mul(size))
            .take(size)
            .map(|(t, r)| task_view(t, r, level))
            .collect()
    } else {
        tasks.iter().map(|(t, r)| task_view(t, r, level)).collect()
    };
    drop(st);
    json_response(200, &TasksResponse { tasks: views })
}

fn task_not_found(id: &str) -> ApiError {
    ApiError::new(
        codes::TASK_NOT_EXISTENT,
        format!("task {id} does not exist"),
    )
}

/// Re-evaluate the request of a task and return the task if it is still open.
fn open_task(shared: &Shared, task_id: &str) -> Result<TaskRecord, ApiError> {
    let job = {
        let mut st = shared.store.lock();
        let rid = st
            .tasks
            .get(task_id)
            .ok_or_else(|| task_not_found(task_id))?
            .request_id
            .clone();
        refresh(&mut st, &rid, shared.clock.now_ms())
    };
    if let Some(job) = job {
        run_job(shared, job);
    }
    shared
        .store
        .lock()
        .tasks
        .get(task_id)
        .cloned()
        .ok_or_else(|| task_not_found(task_id))
}

/// Record an approval or rejection of `task` and re-evaluate its request.
fn decide(shared: &Shared, task: &TaskRecord, approve: bool) -> Result<(), ApiError> {
    let now = shared.clock.now_ms();
    let job = {
        let mut st = shared.store.lock();
        if st.tasks.remove(&task.id).is_none() {
            return Err(task_not_found(&task.id));
        }
        let rec = st
            .requests
            .get_mut(&task.request_id)
            .ok_or_else(|| task_not_found(&task.id))?;
        if approve {
            rec.approvals.insert(task.approver.clone(), now);
        } else {
            rec.rejections.insert(task.approver.clone());
        }
        st.touch();
        refresh(&mut st, &task.request_id, now)
    };
    persist(shared);
    if let Some(job) = job {
        run_job(shared, job);
    }
    Ok(())
}

fn approve(shared: &Shared, body: &[u8]) -> ApiResult {
    let a: ApprovalSubmission = parse(body)?;
    let task = open_task(shared, &a.id)?;
    if a.approval_to_be_signed != task.approval_to_be_signed {
        return Err(ApiError::new(
            codes::VALIDATION_FAILED,
            "approvalToBeSigned does not match the task",
        ));
    }
    let (der, is_cert) = approver_key(
        a.approver_public_key.as_ref(),
        a.approver_certificate.as_ref(),
    )?;
    if canonical_approver(&der, is_cert)? != task.approver {
        return Err(ApiError::new(
            codes::INVALID_SIGNATURE,
            "the approver key is not the approver of this task",
        ));
    }
    let tbs = b64(
        "approvalToBeSigned",
        &a.approval_to_be_signed,
        codes::VALIDATION_FAILED,
    )?;
    let sig = b64("signature", &a.signature, codes::INVALID_SIGNATURE)?;
    if !crypto::verify_approver_signature(&der, is_cert, &a.approval_digest_algorithm, &tbs, &sig)?
    {
        return Err(ApiError::new(
            codes::INVALID_SIGNATURE,
            "approval signature does not verify",
        ));
    }
    decide(shared, &task, true)?;
    let mut resp = empty_ok()?;
    resp.request_id = Some(task.request_id);
    Ok(resp)
}

/// `DELETE /v1/task` with a timestamp-authenticated body whose `id` is the task: the approver
/// rejects; the task is deleted and the approver listed in `rejectedBy`.
fn reject_task(shared: &Shared, body: &[u8]) -> ApiResult {
    let f: FilteredTasksRequest = parse(body)?;
    let approver = authenticate_approver(&f)?;
    let id = f
        .id
        .as_deref()
        .ok_or_else(|| ApiError::new(codes::VALIDATION_FAILED, "id (the task id) is required"))?;
    let task = open_task(shared, id)?;
    if task.approver != approver {
        return Err(task_not_found(id));
    }
    decide(shared, &task, false)?;
    let mut resp = empty_ok()?;
    resp.request_id = Some(task.request_id);
    Ok(resp)
}

// ---------------------------------------------------------------------------------------------
// Persistence

/// Write the state file if configured and the store changed since the last write.
pub(crate) fn persist(shared: &Shared) {
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

// ---------------------------------------------------------------------------------------------
// Test controls

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClockAdvance {
    advance_seconds: u64,
}

fn clock_body(shared: &Shared) -> ApiResult {
    let now = shared.clock.now_ms();
    json_response(200, &json!({ "now": rfc3339(now), "nowMs": now }))
}

fn controls(shared: &Shared, req: &HttpRequest) -> ApiResult {
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
        (
            "/_emulator/faults"
            | "/_emulator/clock"
            | "/_emulator/counts"
            | "/_emulator/counts/reset",
            m,
        ) => Err(method_not_allowed(m, &req.path)),
        _ => Err(not_found_path(&req.path)),
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

    #[test]
    fn timestamp_freshness() {
        let mk = |ts: String| FilteredTasksRequest {
            timestamp: ts,
            timestamp_signature: "AA==".into(),
            timestamp_digest_algorithm: "SHA-256".into(),
            ..Default::default()
        };
        let old = (chrono::Utc::now() - chrono::Duration::seconds(700)).to_rfc3339();
        assert_eq!(
            authenticate_approver(&mk(old)).unwrap_err().code,
            codes::TIMESTAMP_OFF
        );
        let future = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc3339();
        assert_eq!(
            authenticate_approver(&mk(future)).unwrap_err().code,
            codes::TIMESTAMP_OFF
        );
        assert_eq!(
            authenticate_approver(&mk("yesterday".into()))
                .unwrap_err()
                .code,
            codes::TIMESTAMP_OFF
        );
        // Fresh but without an approver key: validation error, not a timestamp error.
        let fresh = chrono::Utc::now().to_rfc3339();
        assert_eq!(
            authenticate_approver(&mk(fresh)).unwrap_err().code,
            codes::VALIDATION_FAILED
        );
    }

    #[test]
    fn unknown_algorithms_are_607() {
        assert!(known_signature_algorithm("SHA256_WITH_RSA").is_ok());
        assert_eq!(
            known_signature_algorithm("SHA256_WITH_FOO")
                .unwrap_err()
                .code,
            607
        );
        assert_eq!(known_cipher_algorithm("ROT13").unwrap_err().code, 607);
    }
}
