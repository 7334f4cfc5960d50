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
//! This crate implements exactly that protocol (see `shared/tsb-api.md` §5.4 and §5.5), so it works
//! against a real TSB as well as against `tsb-emulator`. The `tsb-approve` binary is a thin command
//! line around it.
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

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use serde::Serialize;
use serde_json::Value;
use tsb_models::algorithms::{ApproverDigest, Digest};
use tsb_models::tlv::{self, ApprovalToBeSigned};
use tsb_models::{Paging, RequestType, TaskList, TasksResponse};

// Re-exported so that users need no direct dependency on tsb-models.
pub use tsb_models::{
    ApprovalSubmission, ErrorBody, FilteredTasksRequest, RequestState, RequestStatus, Task,
};

/// Default HTTP timeout of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default poll interval of [`Approver::watch`].
pub const DEFAULT_POLL: Duration = Duration::from_millis(250);

/// Page size asked for when listing tasks. 25 is the value of the TSB's documented example, so it
/// is known to be accepted; more pages are fetched while a page comes back full.
const PAGE_SIZE: u32 = 25;

/// Upper bound on pages per listing, so a server that ignores paging cannot make us loop forever.
const MAX_PAGES: u32 = 200;

/// The operations that a task can be about, as returned by [`Task::operation_and_key`].
pub const OPERATIONS: [&str; 8] = RequestType::OPERATIONS;

/// Canonical spelling of an operation name given in any case (`sign` -> `Sign`), or `None` if it
/// is not one of [`OPERATIONS`].
pub fn canonical_operation(name: &str) -> Option<&'static str> {
    RequestType::from_operation(name).map(RequestType::operation)
}

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

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// Key type to generate with [`ApproverKey::generate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA 2048, signatures RSASSA-PKCS1-v1_5 with SHA-256.
    Rsa2048,
    /// ECDSA on P-256 (prime256v1), DER signatures with SHA-256.
    EcP256,
    /// Ed25519, raw 64-byte signatures (`EdDSA`).
    Ed25519,
}

impl KeyKind {
    /// Parse the command line spelling: `rsa`, `ec` or `ed25519` (any case; `rsa2048`, `p256`,
    /// `ec-p256` and `ed` are accepted too).
    pub fn parse(s: &str) -> Option<KeyKind> {
        match s.to_ascii_lowercase().as_str() {
            "rsa" | "rsa2048" | "rsa-2048" => Some(KeyKind::Rsa2048),
            "ec" | "ecdsa" | "p256" | "p-256" | "ec-p256" | "prime256v1" => Some(KeyKind::EcP256),
            "ed25519" | "ed" | "eddsa" => Some(KeyKind::Ed25519),
            _ => None,
        }
    }
}

/// The signature scheme of a loaded key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Rsa,
    Ec,
    Ed25519,
}

/// An approver's private key: RSA, EC (P-256; P-384 and P-521 are accepted too) or Ed25519.
///
/// `Debug` shows only the key type and the public key, never the private key.
#[derive(Clone)]
pub struct ApproverKey {
    pkey: PKey<Private>,
    scheme: Scheme,
    /// Cached: it is sent with every request and must be byte-identical each time.
    public_b64: String,
}

impl fmt::Debug for ApproverKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApproverKey")
            .field("type", &self.key_type())
            .field("public_key", &self.public_b64)
            .finish_non_exhaustive()
    }
}

impl ApproverKey {
    /// Load a PEM private key file: PKCS#8 (`BEGIN PRIVATE KEY`) or traditional
    /// (`BEGIN RSA PRIVATE KEY`, `BEGIN EC PRIVATE KEY`). Encrypted keys are refused (a headless
    /// approver has no one to type a passphrase).
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<ApproverKey, ApproveError> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|e| ApproveError::Io {
            path: path.to_path_buf(),
            message: format!("cannot read approver key: {e}"),
        })?;
        ApproverKey::from_pem(&pem).map_err(|e| match e {
            ApproveError::Key(m) => ApproveError::Key(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parse a PEM private key (see [`ApproverKey::from_pem_file`]).
    pub fn from_pem(pem: &[u8]) -> Result<ApproverKey, ApproveError> {
        let text = String::from_utf8_lossy(pem);
        if text.contains("ENCRYPTED") {
            return Err(ApproveError::Key(
                "the PEM key is encrypted; give an unencrypted key (e.g. `openssl pkey -in k.pem -out plain.pem`)"
                    .into(),
            ));
        }
        if !text.contains("-----BEGIN") {
            return Err(ApproveError::Key(
                "not a PEM private key (no -----BEGIN line)".into(),
            ));
        }
        // The callback answers any passphrase prompt with an empty passphrase: without it OpenSSL
        // would ask on the terminal, which would hang a CI job.
        let pkey = PKey::private_key_from_pem_callback(pem, |_buf| Ok(0)).map_err(|e| {
            ApproveError::Key(format!(
                "cannot parse the PEM private key: {}",
                first_error(&e)
            ))
        })?;
        ApproverKey::from_pkey(pkey)
    }

    /// Wrap an OpenSSL private key, checking that its type can sign approvals.
    pub fn from_pkey(pkey: PKey<Private>) -> Result<ApproverKey, ApproveError> {
        let scheme = match pkey.id() {
            Id::RSA => {
                if pkey.bits() < 2048 {
                    return Err(ApproveError::Key(format!(
                        "RSA key of {} bits is too small (2048 or more)",
                        pkey.bits()
                    )));
                }
                Scheme::Rsa
            }
            Id::EC => {
                let ec = pkey
                    .ec_key()
                    .map_err(|e| ApproveError::Key(format!("bad EC key: {}", first_error(&e))))?;
                match ec.group().curve_name() {
                    Some(Nid::X9_62_PRIME256V1) | Some(Nid::SECP384R1) | Some(Nid::SECP521R1) => {
                        Scheme::Ec
                    }
                    other => {
                        return Err(ApproveError::Key(format!(
                            "unsupported EC curve {}: use P-256",
                            other
                                .and_then(|n| n.short_name().ok())
                                .unwrap_or("(unnamed)")
                        )))
                    }
                }
            }
            Id::ED25519 => Scheme::Ed25519,
            _ => {
                return Err(ApproveError::Key(
                    "unsupported key type: use RSA, EC P-256 or Ed25519".into(),
                ))
            }
        };
        let der = pkey.public_key_to_der().map_err(|e| {
            ApproveError::Key(format!("cannot encode the public key: {}", first_error(&e)))
        })?;
        Ok(ApproverKey {
            pkey,
            scheme,
            public_b64: B64.encode(der),
        })
    }

    /// Generate a fresh key. Panics only if OpenSSL itself cannot generate a key (out of memory,
    /// broken library), which no input can cause; see [`ApproverKey::try_generate`].
    pub fn generate(kind: KeyKind) -> ApproverKey {
        match ApproverKey::try_generate(kind) {
            Ok(k) => k,
            Err(e) => panic!("OpenSSL key generation failed: {e}"),
        }
    }

    /// Generate a fresh key, reporting an OpenSSL failure as an error.
    pub fn try_generate(kind: KeyKind) -> Result<ApproverKey, ApproveError> {
        let ossl = |e: openssl::error::ErrorStack| ApproveError::Crypto(first_error(&e));
        let pkey = match kind {
            KeyKind::Rsa2048 => PKey::from_rsa(Rsa::generate(2048).map_err(ossl)?).map_err(ossl)?,
            KeyKind::EcP256 => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(ossl)?;
                PKey::from_ec_key(EcKey::generate(&group).map_err(ossl)?).map_err(ossl)?
            }
            KeyKind::Ed25519 => PKey::generate_ed25519().map_err(ossl)?,
        };
        ApproverKey::from_pkey(pkey)
    }

    /// The private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). Handle with care.
    pub fn to_pem(&self) -> String {
        // Serialising a key OpenSSL already holds cannot fail short of memory exhaustion; an empty
        // string is returned then rather than panicking.
        self.pkey
            .private_key_to_pem_pkcs8()
            .ok()
            .and_then(|v| String::from_utf8(v).ok())
            .unwrap_or_default()
    }

    /// Base64 (standard alphabet, padded, no newlines) DER SubjectPublicKeyInfo: exactly the
    /// string that goes into the `value` of a `public_key` approval in an SKA policy, and into
    /// `approverPublicKey`.
    pub fn public_key_b64(&self) -> String {
        self.public_b64.clone()
    }

    /// A policy approval entry (`{"type":"public_key","name":..,"value":..}`) naming this key.
    pub fn policy_approval(&self, name: &str) -> tsb_models::Approval {
        tsb_models::Approval {
            kind: tsb_models::approval_type::PUBLIC_KEY.into(),
            name: Some(name.into()),
            value: Some(self.public_key_b64()),
        }
    }

    /// `timestampDigestAlgorithm` / `approvalDigestAlgorithm`: `SHA-256` for RSA and EC, `EdDSA`
    /// for Ed25519.
    pub fn digest_algorithm(&self) -> &'static str {
        match self.scheme {
            Scheme::Rsa | Scheme::Ec => ApproverDigest::Digest(Digest::Sha256).name(),
            Scheme::Ed25519 => ApproverDigest::EdDsa.name(),
        }
    }

    /// `RSA`, `EC` or `Ed25519`.
    pub fn key_type(&self) -> &'static str {
        match self.scheme {
            Scheme::Rsa => "RSA",
            Scheme::Ec => "EC",
            Scheme::Ed25519 => "Ed25519",
        }
    }

    /// Sign `data`: RSA PKCS#1 v1.5 with SHA-256, DER ECDSA with SHA-256 (what the JCA's
    /// `SHA256withECDSA` produces and verifies), or a raw 64-byte Ed25519 signature.
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, ApproveError> {
        let ossl = |e: openssl::error::ErrorStack| ApproveError::Crypto(first_error(&e));
        match self.scheme {
            Scheme::Rsa | Scheme::Ec => {
                // For RSA keys the Signer's default padding is PKCS#1 v1.5.
                let mut s = Signer::new(MessageDigest::sha256(), &self.pkey).map_err(ossl)?;
                s.update(data).map_err(ossl)?;
                s.sign_to_vec().map_err(ossl)
            }
            Scheme::Ed25519 => {
                let mut s = Signer::new_without_digest(&self.pkey).map_err(ossl)?;
                s.sign_oneshot_to_vec(data).map_err(ossl)
            }
        }
    }

    /// A fresh timestamp proof: the current UTC time in RFC 3339 with seconds and `Z`
    /// (`2026-11-29T06:30:00Z`), its signature, the digest algorithm and our public key.
    pub fn timestamp_proof(&self) -> Result<FilteredTasksRequest, ApproveError> {
        self.timestamp_proof_at(&now_timestamp())
    }

    /// A timestamp proof for a given timestamp string (signed exactly as given). Useful to test
    /// that a server refuses stale proofs.
    pub fn timestamp_proof_at(
        &self,
        timestamp: &str,
    ) -> Result<FilteredTasksRequest, ApproveError> {
        let sig = self.sign(timestamp.as_bytes())?;
        Ok(FilteredTasksRequest {
            timestamp: timestamp.to_owned(),
            timestamp_signature: B64.encode(sig),
            timestamp_digest_algorithm: self.digest_algorithm().to_owned(),
            approver_public_key: Some(self.public_key_b64()),
            ..FilteredTasksRequest::default()
        })
    }

    /// The `POST /v1/approval` body for a task: `approvalToBeSigned` exactly as received and the
    /// signature over its base64-decoded bytes.
    pub fn approval_for(&self, task: &Task) -> Result<ApprovalSubmission, ApproveError> {
        let data = decode_b64(&task.approval_to_be_signed).ok_or_else(|| {
            ApproveError::Refused(format!(
                "task {}: approvalToBeSigned is not valid base64",
                task.id
            ))
        })?;
        let sig = self.sign(&data)?;
        Ok(ApprovalSubmission {
            id: task.id.clone(),
            approval_to_be_signed: task.approval_to_be_signed.clone(),
            signature: B64.encode(sig),
            approval_digest_algorithm: self.digest_algorithm().to_owned(),
            approver_public_key: Some(self.public_key_b64()),
            approver_certificate: None,
        })
    }
}

/// The current UTC time as the TSB expects it in a timestamp proof: `2026-11-29T06:30:00Z`.
pub fn now_timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Decode base64, tolerating whitespace/newlines (some servers wrap long values) and a missing
/// padding.
fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    B64.decode(&compact).ok().or_else(|| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(compact.trim_end_matches('='))
            .ok()
    })
}

fn first_error(e: &openssl::error::ErrorStack) -> String {
    match e.errors().first() {
        Some(err) => err.reason().unwrap_or("OpenSSL error").to_owned(),
        None => "OpenSSL error".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Tasks and filters
// ---------------------------------------------------------------------------------------------

/// Which tasks to look at. All set fields must match. Applied on the client with
/// [`Task::operation_and_key`] (so the tasks are fetched with `detailLevel` `level3`); `request_id`
/// is also sent to the server as the `requestId` filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Key label; an exact match, or else a case-insensitive one (the TSB itself looks labels up
    /// case-insensitively, see the seed).
    pub key_label: Option<String>,
    /// Operation, case-insensitive: one of [`OPERATIONS`].
    pub operation: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
}

impl TaskFilter {
    /// Whether a pending task passes this filter. A task whose operation or key cannot be
    /// determined fails a label or operation filter: approving blind is never what a filter means.
    pub fn matches(&self, task: &PendingTask) -> bool {
        let same_label = |a: &str, b: &str| a == b || a.to_lowercase() == b.to_lowercase();
        if let Some(want) = &self.key_label {
            match &task.key_label {
                Some(l) if same_label(l, want) => {}
                _ => return false,
            }
            // What the approver actually signs names the key too; the server's JSON view must
            // not be able to steer an approval to another key.
            if let Some(signed) = &task.signed_key_label {
                if !same_label(signed, want) {
                    return false;
                }
            }
        }
        if let Some(want) = &self.operation {
            match task.operation {
                Some(op) if op.eq_ignore_ascii_case(want) => {}
                _ => return false,
            }
            if let Some(code) = task.signed_operation_code {
                if !operation_fits_code(want, code) {
                    return false;
                }
            }
        }
        if let (Some(want), Some(have)) = (&self.request_id, &task.request_id) {
            // When the task carries no request id the server-side filter is relied upon.
            if want != have {
                return false;
            }
        }
        true
    }
}

/// Whether an operation name fits the EkaOperation code signed in `approvalToBeSigned`. Only the
/// documented codes are relied on (1 a use of the key, 4 a modification): an operation with a
/// documented code needs exactly that code; any other operation (block, unblock, whose codes are
/// only inferred) needs a code that is neither.
fn operation_fits_code(operation: &str, code: u32) -> bool {
    match RequestType::from_operation(operation) {
        Some(t) if t.eka_operation_documented() => code == t.eka_operation(),
        _ => !matches!(code, tlv::operation::USE | tlv::operation::MODIFY),
    }
}

/// The EkaOperation code and key label inside an `approvalToBeSigned` ([`tsb_models::tlv`]);
/// `None` fields when the bytes do not follow the layout.
fn parse_approval_tlv(bytes: &[u8]) -> (Option<u32>, Option<String>) {
    match ApprovalToBeSigned::decode(bytes) {
        Ok(a) => (a.operation, a.key_label),
        Err(_) => (None, None),
    }
}

/// A task together with what could be read from it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingTask {
    /// The task as received.
    pub task: Task,
    /// The request id, when the task JSON carries one (`requestId`; not part of the documented
    /// TSB task, but emitted by some servers).
    pub request_id: Option<String>,
    /// Operation (`Sign`, `Decrypt`, ...), from the level-3 parsed request.
    pub operation: Option<&'static str>,
    /// Key label, from the level-3 parsed request.
    pub key_label: Option<String>,
    /// Key label inside `approvalToBeSigned` (the bytes the approver signs), when they follow the
    /// documented TLV layout. A label filter must match this too.
    pub signed_key_label: Option<String>,
    /// EkaOperation code inside `approvalToBeSigned` (1 use, 4 modify), when parseable.
    pub signed_operation_code: Option<u32>,
}

impl PendingTask {
    fn from_json(v: Value) -> Result<PendingTask, String> {
        let request_id = v
            .get("requestId")
            .or_else(|| v.get("signRequestId"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let task: Task = serde_json::from_value(v).map_err(|e| e.to_string())?;
        let (operation, key_label) = match task.operation_and_key() {
            Some((op, k)) => (Some(op), Some(k)),
            None => (None, None),
        };
        let (signed_operation_code, signed_key_label) = decode_b64(&task.approval_to_be_signed)
            .map(|b| parse_approval_tlv(&b))
            .unwrap_or((None, None));
        Ok(PendingTask {
            task,
            request_id,
            operation,
            key_label,
            signed_key_label,
            signed_operation_code,
        })
    }

    /// The metadata as text: base64-decoded when it decodes to UTF-8, else as received.
    pub fn metadata_text(&self) -> Option<String> {
        let m = self.task.meta_data.as_deref()?;
        if m.is_empty() {
            return None;
        }
        Some(
            decode_b64(m)
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_else(|| m.to_owned()),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// A client of the TSB's approver endpoints, holding one approver key.
///
/// Options are set builder-style; the HTTP client is built on first use, so a bad CA file is
/// reported by the first request. TLS certificates are always verified; plain `http://` is
/// allowed (the emulator). `Approver` is `Clone + Send + Sync`; clones share the connection pool.
#[derive(Clone)]
pub struct Approver {
    base: String,
    key: ApproverKey,
    api_key: Option<String>,
    ca_file: Option<PathBuf>,
    timeout: Duration,
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
}

impl fmt::Debug for Approver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Approver")
            .field("base_url", &self.base)
            .field("key", &self.key)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("ca_file", &self.ca_file)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// One thing that happened during [`Approver::watch`].
#[derive(Debug)]
pub enum Event<'a> {
    /// A matching task appeared (reported once per task).
    Seen(&'a PendingTask),
    /// A task was approved.
    Approved(&'a PendingTask),
    /// Approving a task failed. A 4xx answer is final for that task; a transient error is retried
    /// at the next poll.
    ApproveFailed(&'a PendingTask, &'a ApproveError),
    /// Listing the tasks failed transiently (network, 5xx, garbled body); polling continues.
    PollFailed(&'a ApproveError),
}

/// How [`Approver::watch`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOutcome {
    /// Tasks approved (with `auto_approve`) or seen (without).
    pub handled: usize,
    /// Whether `count` was reached (false: the deadline passed first).
    pub count_reached: bool,
}

impl Approver {
    /// A client for the TSB at `base_url` (`https://host` or `http://127.0.0.1:port`; a trailing
    /// `/` or `/v1` is dropped, the client appends `/v1/...`).
    pub fn new(base_url: &str, key: ApproverKey) -> Approver {
        let mut base = base_url.trim().trim_end_matches('/').to_owned();
        if base.ends_with("/v1") {
            base.truncate(base.len() - 3);
        }
        Approver {
            base,
            key,
            api_key: None,
            ca_file: None,
            timeout: DEFAULT_TIMEOUT,
            client: OnceLock::new(),
        }
    }

    /// Send this API key as `X-API-KEY` (the TSB `approverToken` role).
    pub fn api_key(mut self, key: impl Into<String>) -> Approver {
        self.api_key = Some(key.into());
        self
    }

    /// Trust the CA certificate(s) in this PEM file in addition to the built-in roots.
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Approver {
        self.ca_file = Some(path.as_ref().to_path_buf());
        self.client = OnceLock::new();
        self
    }

    /// Timeout of each HTTP request (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Approver {
        self.timeout = timeout;
        self.client = OnceLock::new();
        self
    }

    /// The base URL in use (without `/v1`).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The approver key.
    pub fn key(&self) -> &ApproverKey {
        &self.key
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, ApproveError> {
        self.client
            .get_or_init(|| self.build_client())
            .as_ref()
            .map_err(|m| ApproveError::Config(m.clone()))
    }

    fn build_client(&self) -> Result<reqwest::blocking::Client, String> {
        let url = reqwest::Url::parse(&self.base)
            .map_err(|e| format!("invalid TSB URL '{}': {e}", self.base))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!(
                "invalid TSB URL '{}': must start with https:// (or http:// for an emulator)",
                self.base
            ));
        }
        let mut b = reqwest::blocking::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("tsb-approve/", env!("CARGO_PKG_VERSION")));
        // A proxy from the environment must not capture loopback traffic (the emulator, tests).
        let loopback = match url.host_str() {
            Some(h) => {
                h.eq_ignore_ascii_case("localhost")
                    || h.trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|a| a.is_loopback())
            }
            None => false,
        };
        if loopback {
            b = b.no_proxy();
        }
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| format!("{}: cannot read CA file: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{}: not a PEM CA certificate: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("{}: no certificate in CA file", path.display()));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        b.build()
            .map_err(|e| format!("cannot build the HTTP client: {}", error_chain(&e)))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Send a request and return the body of a 2xx answer.
    fn send(
        &self,
        method: &'static str,
        url: String,
        body: Option<&impl Serialize>,
    ) -> Result<Vec<u8>, ApproveError> {
        let client = self.client()?;
        let mut req = match method {
            "GET" => client.get(&url),
            "DELETE" => client.delete(&url),
            _ => client.post(&url),
        };
        req = req.header(reqwest::header::ACCEPT, "application/json");
        if let Some(k) = &self.api_key {
            req = req.header("X-API-KEY", k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        // The URL is in our message already; reqwest's own copy of it would repeat it.
        let transport = |e: reqwest::Error, what: &str| ApproveError::Transport {
            method,
            url: url.clone(),
            timeout: e.is_timeout(),
            message: format!("{what}{}", error_chain(&e.without_url())),
        };
        let resp = req.send().map_err(|e| transport(e, ""))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .map_err(|e| transport(e, "reading the response: "))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let error = serde_json::from_slice::<ErrorBody>(&bytes)
            .ok()
            .filter(|e| e.error_code.is_some() || e.reason.is_some() || e.message.is_some())
            .map(Box::new);
        let body = if error.is_some() {
            String::new()
        } else {
            let text = String::from_utf8_lossy(&bytes);
            sanitize(&text.chars().take(300).collect::<String>())
        };
        Err(ApproveError::Http {
            method,
            url,
            status: status.as_u16(),
            error,
            body,
        })
    }

    /// One page of tasks, unfiltered on the client.
    fn fetch_page(
        &self,
        request_id: Option<&str>,
        page: u32,
    ) -> Result<Vec<PendingTask>, ApproveError> {
        let mut body = self.key.timestamp_proof()?;
        body.request_id = request_id.map(str::to_owned);
        // level3: the parsed request, so the key label, operation and metadata are visible.
        body.detail_level = Some("level3".into());
        body.paging = Some(Paging {
            page_number: page,
            page_size: PAGE_SIZE,
            sort_order: None,
        });
        let url = self.url(TaskList::All.path());
        let bytes = self.send("POST", url.clone(), Some(&body))?;
        let decode_err = |message: String| ApproveError::Decode {
            method: "POST",
            url: url.clone(),
            message,
        };
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|e| decode_err(format!("not JSON: {e}")))?;
        // Parse through the shared model first, so a shape mismatch is reported as such.
        let _: TasksResponse =
            serde_json::from_value(v.clone()).map_err(|e| decode_err(e.to_string()))?;
        let tasks = match v.get("tasks") {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        tasks
            .into_iter()
            .map(|t| PendingTask::from_json(t).map_err(decode_err))
            .collect()
    }

    /// All pending tasks of this approver that pass `filter`, with their request id (when
    /// known), operation and key label. Pages through the server's list.
    pub fn pending(&self, filter: &TaskFilter) -> Result<Vec<PendingTask>, ApproveError> {
        let mut out: Vec<PendingTask> = Vec::new();
        let mut ids = HashSet::new();
        for page in 0..MAX_PAGES {
            let batch = self.fetch_page(filter.request_id.as_deref(), page)?;
            let full = batch.len() >= PAGE_SIZE as usize;
            let mut new = 0;
            for t in batch {
                if ids.insert(t.task.id.clone()) {
                    new += 1;
                    out.push(t);
                }
            }
            // Stop on a short page, or when a page brought nothing new (server ignores paging).
            if !full || new == 0 {
                break;
            }
        }
        out.retain(|t| filter.matches(t));
        Ok(out)
    }

    /// This approver's pending tasks that pass `filter` (`POST /v1/filteredAllApprovalTask` with
    /// a fresh timestamp proof and `detailLevel` `level3`).
    pub fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>, ApproveError> {
        Ok(self.pending(filter)?.into_iter().map(|p| p.task).collect())
    }

    /// Approve a task: `POST /v1/approval` with the signature over the base64-decoded
    /// `approvalToBeSigned`. Any 2xx answer, with any or no body, is success.
    pub fn approve(&self, task: &Task) -> Result<(), ApproveError> {
        let body = self.key.approval_for(task)?;
        self.send("POST", self.url("/v1/approval"), Some(&body))
            .map(|_| ())
    }

    /// Reject: delete our task of a request (the TSB then lists us in `rejectedBy`).
    ///
    /// Sends `DELETE /v1/task` with the timestamp proof and `id` as the JSON body
    /// (`DeleteTaskRequestDto`). The body and path are documented; the HTTP method of the real
    /// TSB is not publicly confirmed (DELETE is the likely one, and what `tsb-emulator` serves).
    pub fn reject(&self, task_id: &str) -> Result<(), ApproveError> {
        let mut body = self.key.timestamp_proof()?;
        body.id = Some(task_id.to_owned());
        self.send("DELETE", self.url("/v1/task"), Some(&body))
            .map(|_| ())
    }

    /// `GET /v1/request/{id}`. On a TSB with API keys this path belongs to the
    /// `keyOperationToken` role, so an approver's key may be refused (401).
    pub fn request_status(&self, request_id: &str) -> Result<RequestStatus, ApproveError> {
        let mut url = reqwest::Url::parse(&self.url("/v1/request"))
            .map_err(|e| ApproveError::Config(format!("invalid TSB URL '{}': {e}", self.base)))?;
        url.path_segments_mut()
            .map_err(|_| ApproveError::Config(format!("invalid TSB URL '{}'", self.base)))?
            .push(request_id);
        let url = url.to_string();
        let bytes = self.send("GET", url.clone(), None::<&()>)?;
        serde_json::from_slice(&bytes).map_err(|e| ApproveError::Decode {
            method: "GET",
            url,
            message: e.to_string(),
        })
    }

    /// Find the pending task meant by `id`: a task id, or else a request id. A request id is
    /// matched against the tasks' `requestId` when the server includes it, else resolved with the
    /// server's `requestId` filter, after checking that the server honours that filter (so a
    /// server that ignores it can never make us act on the wrong request).
    pub fn find_task(&self, id: &str) -> Result<PendingTask, ApproveError> {
        let all = self.pending(&TaskFilter::default())?;
        if let Some(t) = all.iter().find(|t| t.task.id == id) {
            return Ok(t.clone());
        }
        let by_req: Vec<&PendingTask> = all
            .iter()
            .filter(|t| t.request_id.as_deref() == Some(id))
            .collect();
        match by_req.len() {
            1 => return Ok(by_req[0].clone()),
            0 => {}
            n => {
                return Err(ApproveError::Refused(format!(
                    "request {id} has {n} tasks for this approver; give the task id"
                )))
            }
        }
        if all.is_empty() || all.iter().any(|t| t.request_id.is_some()) {
            // Either nothing is pending, or the server tells request ids and none matched.
            return Err(not_found(id));
        }
        let filter = TaskFilter {
            request_id: Some(id.to_owned()),
            ..TaskFilter::default()
        };
        let found = self.pending(&filter)?;
        if found.is_empty() {
            return Err(not_found(id));
        }
        // Probe: a request id that cannot exist must give no tasks.
        let probe = TaskFilter {
            request_id: Some("00000000-0000-0000-0000-000000000000".into()),
            ..TaskFilter::default()
        };
        if !self.pending(&probe)?.is_empty() {
            return Err(ApproveError::Refused(format!(
                "{id} is not a task id, and this server ignores the requestId filter, so the \
                 task of request {id} cannot be identified; give the task id (see `list`)"
            )));
        }
        let n = found.len();
        let mut it = found.into_iter();
        match (it.next(), it.next()) {
            (Some(t), None) => Ok(t),
            _ => Err(ApproveError::Refused(format!(
                "request {id} has {n} tasks for this approver; give the task id"
            ))),
        }
    }

    /// Poll for tasks passing `filter` and report each new one once; with `auto_approve`,
    /// approve it. Stops after `count` tasks handled (approved, or seen without
    /// `auto_approve`), or when `deadline` has elapsed; with neither it runs until the process
    /// ends. Sleeps `poll` between polls (fixed interval; a loop never spins).
    ///
    /// Transient errors (network, 5xx, garbled body) are reported through `on_event` and retried; a 4xx answer
    /// to the listing (bad API key, stale clock, unknown approver) ends the watch with that error.
    pub fn watch(
        &self,
        filter: &TaskFilter,
        auto_approve: bool,
        count: Option<usize>,
        poll: Duration,
        deadline: Option<Duration>,
        mut on_event: impl FnMut(&Event),
    ) -> Result<WatchOutcome, ApproveError> {
        let poll = poll.max(Duration::from_millis(10));
        let end = deadline.map(|d| Instant::now() + d);
        let mut done: HashSet<String> = HashSet::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut handled = 0usize;
        let reached = |h: usize| count.is_some_and(|c| h >= c);
        if reached(handled) {
            return Ok(WatchOutcome {
                handled,
                count_reached: true,
            });
        }
        loop {
            match self.pending(filter) {
                Ok(tasks) => {
                    // Forget tasks the server no longer lists (ids are never reused), so a
                    // long-running watch does not grow without bound.
                    let listed: HashSet<&str> = tasks.iter().map(|t| t.task.id.as_str()).collect();
                    done.retain(|id| listed.contains(id.as_str()));
                    seen.retain(|id| listed.contains(id.as_str()));
                    for t in &tasks {
                        if done.contains(&t.task.id) {
                            continue;
                        }
                        if seen.insert(t.task.id.clone()) {
                            on_event(&Event::Seen(t));
                        }
                        if !auto_approve {
                            done.insert(t.task.id.clone());
                            handled += 1;
                        } else {
                            match self.approve(&t.task) {
                                Ok(()) => {
                                    done.insert(t.task.id.clone());
                                    handled += 1;
                                    on_event(&Event::Approved(t));
                                }
                                Err(e) => {
                                    if !e.is_transient() {
                                        done.insert(t.task.id.clone());
                                    }
                                    on_event(&Event::ApproveFailed(t, &e));
                                }
                            }
                        }
                        if reached(handled) {
                            return Ok(WatchOutcome {
                                handled,
                                count_reached: true,
                            });
                        }
                    }
                }
                Err(e) if e.is_transient() => on_event(&Event::PollFailed(&e)),
                Err(e) => return Err(e),
            }
            let sleep = match end {
                Some(end) => {
                    let now = Instant::now();
                    if now >= end {
                        return Ok(WatchOutcome {
                            handled,
                            count_reached: false,
                        });
                    }
                    poll.min(end - now)
                }
                None => poll,
            };
            std::thread::sleep(sleep);
        }
    }
}

impl Approver {
    /// Approve matching tasks in a background thread: [`Approver::watch`] with `auto_approve`
    /// and the default poll interval, on a clone of this approver. Meant for tests of clients
    /// that block while they wait for an approval (a PKCS#11 `C_Sign` on an SKA key):
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use tsb_approve::{Approver, ApproverKey, KeyKind, TaskFilter};
    /// # let approver = Approver::new("http://127.0.0.1:8080", ApproverKey::generate(KeyKind::EcP256));
    /// let bg = approver.spawn_auto_approve(TaskFilter::default(), Some(1), Some(Duration::from_secs(30)));
    /// // ... run the blocking operation that needs one approval ...
    /// let outcome = bg.join().expect("approver thread").expect("approver");
    /// assert!(outcome.count_reached);
    /// ```
    pub fn spawn_auto_approve(
        &self,
        filter: TaskFilter,
        count: Option<usize>,
        deadline: Option<Duration>,
    ) -> std::thread::JoinHandle<Result<WatchOutcome, ApproveError>> {
        let me = self.clone();
        std::thread::spawn(move || me.watch(&filter, true, count, DEFAULT_POLL, deadline, |_| {}))
    }
}

fn not_found(id: &str) -> ApproveError {
    ApproveError::NotFound(format!(
        "no pending task of this approver has task id or request id {id}"
    ))
}

/// An error and its causes, `a: b: c`, without repeating a cause already in the text.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

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
    use openssl::pkey::Public;
    use openssl::sign::Verifier;

    fn spki(key: &ApproverKey) -> PKey<Public> {
        let der = B64.decode(key.public_key_b64()).unwrap();
        PKey::public_key_from_der(&der).unwrap()
    }

    fn verify(key: &ApproverKey, data: &[u8], sig: &[u8]) -> bool {
        let pk = spki(key);
        if pk.id() == Id::ED25519 {
            let mut v = Verifier::new_without_digest(&pk).unwrap();
            v.verify_oneshot(sig, data).unwrap()
        } else {
            let mut v = Verifier::new(MessageDigest::sha256(), &pk).unwrap();
            v.update(data).unwrap();
            v.verify(sig).unwrap()
        }
    }

    const KINDS: [KeyKind; 3] = [KeyKind::Rsa2048, KeyKind::EcP256, KeyKind::Ed25519];

    #[test]
    fn generate_each_type_and_spki_parses() {
        for kind in KINDS {
            let k = ApproverKey::generate(kind);
            let b64 = k.public_key_b64();
            assert!(!b64.contains('\n') && !b64.contains(' '));
            let pk = spki(&k);
            let expect = match kind {
                KeyKind::Rsa2048 => Id::RSA,
                KeyKind::EcP256 => Id::EC,
                KeyKind::Ed25519 => Id::ED25519,
            };
            assert_eq!(pk.id(), expect);
            if kind == KeyKind::EcP256 {
                assert_eq!(
                    pk.ec_key().unwrap().group().curve_name(),
                    Some(Nid::X9_62_PRIME256V1)
                );
            }
            if kind == KeyKind::Rsa2048 {
                assert_eq!(pk.bits(), 2048);
            }
            let expect_alg = if kind == KeyKind::Ed25519 {
                "EdDSA"
            } else {
                "SHA-256"
            };
            assert_eq!(k.digest_algorithm(), expect_alg);
        }
    }

    #[test]
    fn pem_round_trip_each_type() {
        for kind in KINDS {
            let k = ApproverKey::generate(kind);
            let pem = k.to_pem();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
            let back = ApproverKey::from_pem(pem.as_bytes()).unwrap();
            assert_eq!(back.public_key_b64(), k.public_key_b64());
        }
    }

    #[test]
    fn traditional_pem_forms_load() {
        let rsa = Rsa::generate(2048).unwrap();
        let pem = rsa.private_key_to_pem().unwrap();
        assert!(String::from_utf8_lossy(&pem).contains("BEGIN RSA PRIVATE KEY"));
        assert_eq!(ApproverKey::from_pem(&pem).unwrap().key_type(), "RSA");

        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let ec = EcKey::generate(&group).unwrap();
        let pem = ec.private_key_to_pem().unwrap();
        assert!(String::from_utf8_lossy(&pem).contains("BEGIN EC PRIVATE KEY"));
        assert_eq!(ApproverKey::from_pem(&pem).unwrap().key_type(), "EC");
    }

    #[test]
    fn bad_keys_are_errors_not_panics() {
        assert!(matches!(
            ApproverKey::from_pem(b"garbage"),
            Err(ApproveError::Key(_))
        ));
        assert!(matches!(
            ApproverKey::from_pem(
                b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            ),
            Err(ApproveError::Key(_))
        ));
        let small = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        assert!(ApproverKey::from_pkey(small).is_err());
        let k1 = EcGroup::from_curve_name(Nid::SECP256K1).unwrap();
        let pk = PKey::from_ec_key(EcKey::generate(&k1).unwrap()).unwrap();
        assert!(ApproverKey::from_pkey(pk).is_err());
        let enc = Rsa::generate(2048)
            .unwrap()
            .private_key_to_pem_passphrase(openssl::symm::Cipher::aes_128_cbc(), b"pw")
            .unwrap();
        let e = ApproverKey::from_pem(&enc).unwrap_err();
        assert!(e.to_string().contains("encrypted"), "{e}");
        let e = ApproverKey::from_pem_file("/nonexistent/key.pem").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/key.pem"), "{e}");
    }

    #[test]
    fn debug_never_shows_private_key() {
        let k = ApproverKey::generate(KeyKind::EcP256);
        let pem = k.to_pem();
        let body: String = pem.lines().nth(1).unwrap().to_owned();
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(&body));
        let a = Approver::new("http://127.0.0.1:1", k).api_key("sekrit-api-key");
        assert!(!format!("{a:?}").contains("sekrit"));
    }

    #[test]
    fn timestamp_proof_verifies_each_type() {
        for kind in KINDS {
            let k = ApproverKey::generate(kind);
            let proof = k.timestamp_proof().unwrap();
            // 2026-11-29T06:30:00Z
            let ts = &proof.timestamp;
            assert_eq!(ts.len(), 20, "{ts}");
            assert!(ts.ends_with('Z') && &ts[10..11] == "T");
            assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok());
            let sig = B64.decode(&proof.timestamp_signature).unwrap();
            assert!(verify(&k, ts.as_bytes(), &sig), "{kind:?}");
            assert!(!verify(&k, b"2000-01-01T00:00:00Z", &sig));
            assert_eq!(proof.timestamp_digest_algorithm, k.digest_algorithm());
            assert_eq!(
                proof.approver_public_key.as_deref(),
                Some(&*k.public_key_b64())
            );
            if kind == KeyKind::Ed25519 {
                assert_eq!(sig.len(), 64);
            }
            if kind == KeyKind::EcP256 {
                // DER SEQUENCE, as JCA's SHA256withECDSA expects.
                assert_eq!(sig[0], 0x30);
                assert!(openssl::ecdsa::EcdsaSig::from_der(&sig).is_ok());
            }
        }
    }

    #[test]
    fn approval_signs_decoded_bytes_each_type() {
        let raw: Vec<u8> = (0u8..=200).collect();
        for kind in KINDS {
            let k = ApproverKey::generate(kind);
            let task = Task {
                id: "t-1".into(),
                approval_to_be_signed: B64.encode(&raw),
                ..Task::default()
            };
            let sub = k.approval_for(&task).unwrap();
            assert_eq!(sub.id, "t-1");
            assert_eq!(sub.approval_to_be_signed, task.approval_to_be_signed);
            assert_eq!(sub.approval_digest_algorithm, k.digest_algorithm());
            let sig = B64.decode(&sub.signature).unwrap();
            assert!(verify(&k, &raw, &sig), "{kind:?}");
            // Not over the base64 text.
            assert!(!verify(&k, task.approval_to_be_signed.as_bytes(), &sig));
            let json = serde_json::to_value(&sub).unwrap();
            for f in [
                "id",
                "approvalToBeSigned",
                "signature",
                "approvalDigestAlgorithm",
                "approverPublicKey",
            ] {
                assert!(json.get(f).is_some(), "{f}");
            }
        }
        let bad = Task {
            id: "x".into(),
            approval_to_be_signed: "%%%".into(),
            ..Task::default()
        };
        assert!(ApproverKey::generate(KeyKind::EcP256)
            .approval_for(&bad)
            .is_err());
    }

    fn pending(op: &str, label: &str, rid: Option<&str>) -> PendingTask {
        let inner = match op {
            "Sign" => {
                serde_json::json!({"signedSignRequest": {"signRequest": {"signKeyName": label}}})
            }
            _ => {
                serde_json::json!({"signedDecryptRequest": {"decryptRequest": {"decryptKeyName": label}}})
            }
        };
        let mut v = serde_json::json!({"id": "t", "approvalToBeSigned": "AAAA",
            "metaData": B64.encode("build #42")});
        for (k, val) in inner.as_object().unwrap() {
            v[k] = val.clone();
        }
        if let Some(r) = rid {
            v["requestId"] = r.into();
        }
        PendingTask::from_json(v).unwrap()
    }

    #[test]
    fn filter_matching() {
        let t = pending("Sign", "Code-Key", Some("r1"));
        assert_eq!(t.operation, Some("Sign"));
        assert_eq!(t.key_label.as_deref(), Some("Code-Key"));
        assert_eq!(t.metadata_text().as_deref(), Some("build #42"));
        let f = |l: Option<&str>, o: Option<&str>, r: Option<&str>| TaskFilter {
            key_label: l.map(Into::into),
            operation: o.map(Into::into),
            request_id: r.map(Into::into),
        };
        assert!(f(None, None, None).matches(&t));
        assert!(f(Some("code-key"), Some("sign"), Some("r1")).matches(&t));
        assert!(!f(Some("other"), None, None).matches(&t));
        assert!(!f(None, Some("Decrypt"), None).matches(&t));
        assert!(!f(None, None, Some("r2")).matches(&t));
        let blind =
            PendingTask::from_json(serde_json::json!({"id":"t","approvalToBeSigned":"AA=="}))
                .unwrap();
        assert!(f(None, None, None).matches(&blind));
        assert!(!f(Some("code-key"), None, None).matches(&blind));
        assert!(!f(None, Some("sign"), None).matches(&blind));
        assert!(pending("Decrypt", "k", None).operation == Some("Decrypt"));
    }

    /// approvalToBeSigned in the documented layout (what the HSM and the emulator produce).
    fn tlv(op: u32, label: &str) -> String {
        let bytes = ApprovalToBeSigned {
            operation: Some(op),
            key_label: Some(label.into()),
            payload: Some(tlv::ApprovalPayload::Usage(b"payload".to_vec())),
            ..ApprovalToBeSigned::default()
        }
        .encode();
        B64.encode(bytes)
    }

    #[test]
    fn signed_bytes_must_agree_with_filter() {
        let mut t = pending("Sign", "Code-Key", None);
        t.task.approval_to_be_signed = tlv(1, "code-key");
        let t = PendingTask::from_json(serde_json::to_value(&t.task).unwrap()).unwrap();
        assert_eq!(t.signed_key_label.as_deref(), Some("code-key"));
        assert_eq!(t.signed_operation_code, Some(1));
        let by_label = TaskFilter {
            key_label: Some("Code-Key".into()),
            operation: Some("sign".into()),
            ..TaskFilter::default()
        };
        assert!(by_label.matches(&t));

        // The JSON says Code-Key, the signed bytes another key: a label filter refuses it.
        let mut evil = t.clone();
        evil.task.approval_to_be_signed = tlv(1, "prod-root-ca");
        let evil = PendingTask::from_json(serde_json::to_value(&evil.task).unwrap()).unwrap();
        assert!(!by_label.matches(&evil));
        // ...and a modify disguised as a sign does not pass an operation filter.
        let mut modify = t.clone();
        modify.task.approval_to_be_signed = tlv(4, "Code-Key");
        let modify = PendingTask::from_json(serde_json::to_value(&modify.task).unwrap()).unwrap();
        assert!(!by_label.matches(&modify));

        // Bytes in an unknown layout are not held against the task.
        assert_eq!(
            parse_approval_tlv(b"\x10\x00\x00\x00\x02\x10\xff\x00"),
            (None, None)
        );
        assert_eq!(parse_approval_tlv(b""), (None, None));
        assert!(operation_fits_code("UnBlock", 3) && !operation_fits_code("Block", 1));
    }

    #[test]
    fn operations_canonicalise() {
        assert_eq!(canonical_operation("unblock"), Some("UnBlock"));
        assert_eq!(canonical_operation("SIGN"), Some("Sign"));
        assert_eq!(
            canonical_operation("certificatesigningrequest"),
            Some("CertificateSigningRequest")
        );
        assert_eq!(canonical_operation("nope"), None);
        assert_eq!(KeyKind::parse("EC"), Some(KeyKind::EcP256));
        assert_eq!(KeyKind::parse("dsa"), None);
    }

    #[test]
    fn base_url_normalised() {
        let k = ApproverKey::generate(KeyKind::EcP256);
        assert_eq!(
            Approver::new("https://h:8080/v1/", k.clone()).base_url(),
            "https://h:8080"
        );
        assert_eq!(Approver::new("http://h/", k).base_url(), "http://h");
    }

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
    fn unreachable_and_bad_url_are_errors() {
        let k = ApproverKey::generate(KeyKind::EcP256);
        // Port 1 on loopback: connection refused, quickly.
        let a = Approver::new("http://127.0.0.1:1", k.clone()).timeout(Duration::from_secs(5));
        let e = a.tasks(&TaskFilter::default()).unwrap_err();
        assert!(e.is_transient(), "{e}");
        assert!(
            e.to_string()
                .contains("http://127.0.0.1:1/v1/filteredAllApprovalTask"),
            "{e}"
        );
        let e = Approver::new("not a url", k.clone())
            .tasks(&TaskFilter::default())
            .unwrap_err();
        assert!(matches!(e, ApproveError::Config(_)), "{e}");
        let e = Approver::new("http://127.0.0.1:1", k)
            .ca_file("/nonexistent/ca.pem")
            .tasks(&TaskFilter::default())
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
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
