//! HTTP transport to one TSB: reqwest blocking with rustls (the module is loaded into OpenSSL
//! processes and must not bring OpenSSL symbols of its own), bearer token, `X-API-KEY` per role,
//! mTLS, a custom CA, timeouts, retries with backoff for idempotent calls only, and logging of
//! method, path, status, time and request id (never headers or bodies).

use super::cancel::{CancelToken, Wake};
use super::limits;
use crate::config::{Secret, SlotConfig};
use crate::error::{Error, Result};
use crate::log::Level;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Everything needed to build the HTTP client of a slot (copied out of the config).
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    /// Base URL without trailing slash.
    pub(crate) url: String,
    pub(crate) token: Option<Secret>,
    /// API keys by role name.
    pub(crate) api_keys: std::collections::BTreeMap<String, Secret>,
    /// mTLS identity (PEM cert, PEM key).
    pub(crate) client_identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// A CA to trust besides the system's.
    pub(crate) ca_file: Option<std::path::PathBuf>,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    /// Largest key-list answer read, in bytes.
    pub(crate) max_list_bytes: u64,
}

impl From<&SlotConfig> for ClientSettings {
    fn from(c: &SlotConfig) -> Self {
        ClientSettings {
            url: c.url.clone(),
            token: c.token.clone(),
            api_keys: c.api_keys.clone(),
            client_identity: c.client_identity.clone(),
            ca_file: c.ca_file.clone(),
            connect_timeout: c.connect_timeout,
            request_timeout: c.request_timeout,
            max_list_bytes: c.max_list_bytes,
        }
    }
}

/// Environment variables through which reqwest finds a proxy for https URLs.
const PROXY_VARS: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];

/// Whether a call may be repeated after a transport failure or a 5xx answer. Calls that create a
/// request for approvers (or a key) are never retried: repeating them would ask twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Safe to retry.
    Retry,
    /// Send once.
    Once,
}

struct Built {
    http: std::mem::ManuallyDrop<reqwest::blocking::Client>,
    pid: u32,
}

impl Drop for Built {
    fn drop(&mut self) {
        // Dropping reqwest's blocking client joins its runtime thread. In a forked child that
        // thread does not exist and the join would hang, so there the client is leaked instead.
        if self.pid == std::process::id() {
            // SAFETY: dropped exactly once, here.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.http) };
        }
    }
}

/// A TSB client. Cheap to clone; the HTTP connection pool is shared, created on first use (never
/// in C_Initialize), and rebuilt in a forked child (reqwest's blocking client runs a thread that
/// does not survive fork).
#[derive(Clone)]
pub(crate) struct Client {
    settings: Arc<ClientSettings>,
    built: Arc<Mutex<Option<Arc<Built>>>>,
    /// Bearer token given at C_Login when the slot says the PIN is the token.
    login_token: Arc<Mutex<Option<Secret>>>,
    /// When set, calls are abandoned on cancel or at the deadline (see [`Client::interruptible`]).
    interrupt: Option<Interrupt>,
}

/// What ends a call early: a cancel token and a deadline.
#[derive(Clone)]
struct Interrupt {
    cancel: Arc<CancelToken>,
    deadline: Instant,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.settings.url)
            .finish()
    }
}

impl Client {
    /// A client for these settings; nothing is built or connected yet.
    pub(crate) fn new(settings: ClientSettings) -> Client {
        Client {
            settings: Arc::new(settings),
            built: Arc::new(Mutex::new(None)),
            login_token: Arc::new(Mutex::new(None)),
            interrupt: None,
        }
    }

    /// This client (same connections, same credentials) with calls that give up as soon as
    /// `cancel` is cancelled or `deadline` passes: each HTTP exchange runs on a helper thread
    /// that is abandoned then (it ends by itself at its own timeout), and retries stop. Used
    /// where a caller waits for a person: the approval wait, so that C_SessionCancel,
    /// C_CloseSession, C_Finalize and the approval timeout take effect at once even while the
    /// TSB does not answer.
    pub(crate) fn interruptible(&self, cancel: Arc<CancelToken>, deadline: Instant) -> Client {
        Client {
            interrupt: Some(Interrupt { cancel, deadline }),
            ..self.clone()
        }
    }

    /// Set or clear the bearer token given through C_Login. Clearing it (C_Logout, the last
    /// session closed, C_Finalize) wipes it and also drops the connection pool: the connections'
    /// write buffers hold the last requests' headers, token included.
    pub(crate) fn set_login_token(&self, token: Option<Secret>) {
        let clearing = token.is_none();
        let old = std::mem::replace(&mut *self.login_token.lock(), token);
        if clearing && old.is_some() {
            // Dropping the client closes its idle connections (calls in flight keep theirs).
            let built = self.built.lock().take();
            drop(built);
        }
    }

    fn http(&self) -> Result<reqwest::blocking::Client> {
        let pid = std::process::id();
        let mut guard = self.built.lock();
        if let Some(b) = guard.as_ref() {
            if b.pid == pid {
                return Ok((*b.http).clone());
            }
            // Forked child: the parent's client thread does not exist here; `Built`'s Drop leaks
            // the old client instead of joining that thread.
            guard.take();
        }
        // Building is local work (TLS config, a runtime thread), not network I/O, so holding this
        // small lock here only makes concurrent first users wait for one build instead of racing.
        let http = self.build()?;
        *guard = Some(Arc::new(Built {
            http: std::mem::ManuallyDrop::new(http.clone()),
            pid,
        }));
        Ok(http)
    }

    fn build(&self) -> Result<reqwest::blocking::Client> {
        let s = &self.settings;
        // The config checked this URL already; check again what this client will connect to,
        // with the same parser, so no other path into ClientSettings can bypass the rule.
        let url = reqwest::Url::parse(&s.url)
            .map_err(|e| Error::Config(format!("url: not a URL: {e}")))?;
        let host = url.host_str().unwrap_or_default().to_string();
        let plain = url.scheme() == "http";
        if plain && !crate::config::is_loopback_host(&host) {
            return Err(Error::Config(
                "url: plain http:// is only allowed to a loopback address".into(),
            ));
        }
        let mut b = reqwest::blocking::Client::builder()
            .connect_timeout(s.connect_timeout)
            .timeout(s.request_timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .user_agent(concat!("tsb-pkcs11/", env!("CARGO_PKG_VERSION")))
            // Never follow a redirect: reqwest would replay the request, body and X-API-KEY
            // included, to wherever the Location points. A 3xx is an error (see call_raw).
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!s.url.to_ascii_lowercase().starts_with("http://"));
        if host == "localhost" {
            // `localhost` passed the loopback rule by name: make sure it is loopback, whatever
            // /etc/hosts or DNS say (port 0: the URL's port is used).
            b = b.resolve_to_addrs(
                "localhost",
                &[
                    std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                    std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
                ],
            );
        }
        if plain {
            // A proxy would receive plain-http requests in the clear, bearer token included, and
            // the loopback rule would no longer hold for the host connected to: never.
            b = b.no_proxy();
        } else if let Some(var) = PROXY_VARS.iter().find(|v| std::env::var_os(v).is_some()) {
            // https: reqwest uses the system proxy only as a CONNECT tunnel, with TLS (and its
            // certificate check) end to end to the TSB, so the proxy sees the host name only.
            // The variable's value may hold proxy credentials: name the variable, not the value.
            crate::log!(
                Level::Debug,
                "{}: reaching the TSB through the proxy from {var} (CONNECT tunnel, TLS to the TSB)",
                s.url
            );
        }
        if let Some(ca) = &s.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| Error::Config(format!("ca_file {}: {e}", ca.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::Config(format!(
                    "ca_file {}: not a PEM certificate bundle: {e}",
                    ca.display()
                ))
            })?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if let Some((cert, key)) = &s.client_identity {
            let mut pem = std::fs::read(cert)
                .map_err(|e| Error::Config(format!("client_cert {}: {e}", cert.display())))?;
            pem.push(b'\n');
            pem.extend(
                std::fs::read(key)
                    .map_err(|e| Error::Config(format!("client_key {}: {e}", key.display())))?,
            );
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                Error::Config(format!(
                    "client_cert/client_key: not a usable PEM certificate and key: {e}"
                ))
            })?;
            b = b.identity(id);
        }
        b.build()
            .map_err(|e| Error::Transport(format!("cannot create HTTP client: {e}")))
    }

    /// Send one call and decode the JSON answer. `body` None sends no body.
    pub(crate) fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
        idem: Idempotency,
    ) -> Result<T> {
        let text = self.call_raw(method.clone(), path, body, idem)?;
        serde_json::from_str(&text).map_err(|e| {
            let msg = format!("{method} {path}: unreadable answer from the TSB: {e}");
            if idem == Idempotency::Once {
                // A success status with garbage: the TSB did it, whatever it was.
                let level = if limits::creates_request(&method, path) {
                    Level::Info // the caller explains what this means for the approvers
                } else {
                    Level::Warn
                };
                crate::log!(level, "{msg}");
                Error::OutcomeUnknown(msg)
            } else {
                crate::log!(Level::Warn, "{msg}");
                Error::Transport(msg)
            }
        })
    }

    /// Send one call and return the body text of a 2xx answer. Idempotent calls are tried up
    /// to three times (transport failures, 502-504); a failure is logged once, after the last
    /// attempt.
    pub(crate) fn call_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
        idem: Idempotency,
    ) -> Result<String> {
        let http = self.http()?;
        let url = format!("{}{}", self.settings.url, path);
        let body_bytes = match body {
            Some(b) => Some(
                serde_json::to_vec(b)
                    .map_err(|e| Error::Internal(format!("{method} {path}: {e}")))?,
            ),
            None => None,
        };
        let call = format!("{method} {path}");
        let limit = limits::body_limit(&method, path, self.settings.max_list_bytes);
        let creates = limits::creates_request(&method, path);
        let once = idem == Idempotency::Once;
        let attempts = if idem == Idempotency::Retry { 3 } else { 1 };
        let mut delay = Duration::from_millis(100);
        let first_started = Instant::now();
        let mut last_err = None;
        for attempt in 1..=attempts {
            let started = Instant::now();
            let mut rb = http
                .request(method.clone(), &url)
                .header("Accept", "application/json");
            if let Some(t) = self
                .login_token
                .lock()
                .clone()
                .or_else(|| self.settings.token.clone())
            {
                rb = rb.header(
                    reqwest::header::AUTHORIZATION,
                    secret_header("Bearer ", &t, "the bearer token")?,
                );
            }
            if let Some(k) = tsb_models::role_for_path(path)
                .and_then(|role| self.settings.api_keys.get(role.name()))
            {
                rb = rb.header(
                    tsb_models::API_KEY_HEADER,
                    secret_header("", k, "the API key")?,
                );
            }
            if let Some(b) = &body_bytes {
                rb = rb
                    .header("Content-Type", "application/json")
                    .body(b.clone());
            }
            if creates {
                rb = rb.timeout(limits::create_timeout(self.settings.request_timeout));
            }
            let ms = || started.elapsed().as_millis();
            let outcome = match &self.interrupt {
                None => exchange(rb, &call, &url, limit, once),
                Some(i) => {
                    // Never wait past the deadline, even in reqwest.
                    let left = i.deadline.saturating_duration_since(Instant::now());
                    let rb = rb.timeout(left.min(self.settings.request_timeout));
                    match exchange_interruptible(rb, &call, &url, limit, once, i) {
                        Some(o) => o,
                        None => return Err(abandoned(&call, i)),
                    }
                }
            };
            match outcome {
                Exchange::Answer { status, text } if (200..300).contains(&status) => {
                    crate::log!(
                        Level::Debug,
                        "{call} -> {status} in {} ms{}",
                        ms(),
                        request_id_note(&text)
                    );
                    return Ok(text);
                }
                Exchange::Answer { status, text } => {
                    let err = tsb_error(status, &text, &call);
                    crate::log!(Level::Info, "{call} -> {status} in {} ms: {err}", ms());
                    last_err = Some(err);
                    if !matches!(status, 502..=504) {
                        break;
                    }
                }
                Exchange::Refused(err) => {
                    // A redirect or an oversized answer: the server will do it again.
                    crate::log!(Level::Warn, "{err}");
                    return Err(err);
                }
                Exchange::Failed { detail, sent } => {
                    crate::log!(Level::Debug, "{call} failed after {} ms: {detail}", ms());
                    last_err = Some(if sent && once {
                        // Not repeated, and not known to have failed: the TSB may have done it.
                        Error::OutcomeUnknown(format!(
                            "{call}: sent, but no answer came back: {detail}"
                        ))
                    } else {
                        Error::Transport(format!("{call}: {detail}"))
                    });
                }
            }
            if attempt < attempts {
                match &self.interrupt {
                    None => std::thread::sleep(delay),
                    Some(i) => {
                        let until =
                            crate::util::instant_after(Instant::now(), delay).min(i.deadline);
                        if i.cancel.wait_until(until, || false) == Wake::Cancelled
                            || Instant::now() >= i.deadline
                        {
                            return Err(abandoned(&call, i));
                        }
                    }
                }
                delay *= 3;
            }
        }
        let err = last_err.unwrap_or_else(|| Error::Transport(format!("{call}: no answer")));
        if matches!(err, Error::Transport(_) | Error::OutcomeUnknown(_)) {
            // One line per failed call, not one per attempt.
            let tries = if attempts > 1 {
                format!(
                    " after {attempts} attempts in {} ms",
                    first_started.elapsed().as_millis()
                )
            } else {
                String::new()
            };
            // A creating call's lost answer is explained by its caller, which knows what it
            // means for the approvers (tsb::requests): one line, not two.
            let level = if creates && matches!(err, Error::OutcomeUnknown(_)) {
                Level::Info
            } else {
                Level::Warn
            };
            crate::log!(level, "{err}{tries}");
        }
        Err(err)
    }
}

/// A header value made of `prefix` and a secret, marked sensitive, whose storage is wiped when the
/// last copy of it goes (reqwest and hyper share it by reference count). The copy hyper writes
/// into a connection's buffer is not ours: those buffers go with the connection pool (see
/// [`Client::set_login_token`]) and are wiped by the module's allocator (`crate::alloc`).
fn secret_header(
    prefix: &str,
    secret: &Secret,
    what: &str,
) -> Result<reqwest::header::HeaderValue> {
    let mut v = Zeroizing::new(Vec::with_capacity(prefix.len() + secret.expose().len()));
    v.extend_from_slice(prefix.as_bytes());
    v.extend_from_slice(secret.expose().as_bytes());
    let mut h = reqwest::header::HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(v))
        .map_err(|_| {
            Error::Credential(format!(
                "{what} has characters that an HTTP header cannot carry"
            ))
        })?;
    h.set_sensitive(true);
    Ok(h)
}

/// The error of a call given up on cancel or at the deadline (not logged: the caller knows).
fn abandoned(call: &str, i: &Interrupt) -> Error {
    let why = if i.cancel.is_cancelled() {
        "cancelled"
    } else {
        "out of time"
    };
    crate::log!(Level::Debug, "{call}: abandoned ({why})");
    Error::Transport(format!("{call}: abandoned ({why})"))
}

/// [`exchange`] on a helper thread, waited for together with the cancel token and the
/// deadline. `None`: abandoned (the thread finishes on its own, bounded by the request's
/// timeout, and its result is dropped). Nothing is joined, so this is safe during C_Finalize.
fn exchange_interruptible(
    rb: reqwest::blocking::RequestBuilder,
    call: &str,
    url: &str,
    limit: u64,
    once: bool,
    i: &Interrupt,
) -> Option<Exchange> {
    let slot: Arc<Mutex<Option<Exchange>>> = Arc::new(Mutex::new(None));
    let (out, cancel) = (slot.clone(), i.cancel.clone());
    let (call_owned, url_owned) = (call.to_string(), url.to_string());
    let work = move || {
        let r = exchange(rb, &call_owned, &url_owned, limit, once);
        *out.lock() = Some(r);
        cancel.notify();
    };
    if let Err(e) = std::thread::Builder::new()
        .name("tsb-pkcs11-call".into())
        .spawn(work)
    {
        // Spawning consumed the request; nothing was sent.
        return Some(Exchange::Failed {
            detail: format!("no thread for the call: {e}"),
            sent: false,
        });
    }
    match i.cancel.wait_until(i.deadline, || slot.lock().is_some()) {
        Wake::Done => slot.lock().take(),
        Wake::Cancelled | Wake::Deadline => None,
    }
}

/// What one HTTP exchange produced.
enum Exchange {
    /// A non-redirect answer whose body was read in full, within the limit.
    Answer { status: u16, text: String },
    /// An answer the module refuses to use (a redirect, a body over the limit); not retried.
    Refused(Error),
    /// No (complete) answer: connect, TLS, timeout, a connection closed mid-answer. `sent`:
    /// the request may have reached the server (false only when no connection was made).
    Failed { detail: String, sent: bool },
}

/// Send `rb` and read the answer, at most `limit` bytes of body. `once`: the call is not
/// repeated, so an oversized success answer means the TSB did it. Owns everything it uses, so it
/// can run on another thread.
fn exchange(
    rb: reqwest::blocking::RequestBuilder,
    call: &str,
    url: &str,
    limit: u64,
    once: bool,
) -> Exchange {
    let mut resp = match rb.send() {
        Ok(r) => r,
        // reqwest errors can contain the URL but never headers; the URL holds no secret. A
        // connect error (refused, DNS, TLS handshake, connect timeout) proves that nothing was
        // sent; anything later may have reached the server.
        Err(e) => {
            return Exchange::Failed {
                detail: error_chain(&e),
                sent: !e.is_connect(),
            }
        }
    };
    let status = resp.status();
    if status.is_redirection() {
        return Exchange::Refused(redirect_error(call, url, &resp));
    }
    let too_large = |what: String| {
        let msg = format!(
            "{call} -> {}: the answer is larger than the {limit} bytes read for this call \
             ({what}); not used",
            status.as_u16()
        );
        Exchange::Refused(if once && status.is_success() {
            Error::OutcomeUnknown(msg)
        } else {
            Error::Transport(msg)
        })
    };
    if let Some(n) = resp.content_length().filter(|n| *n > limit) {
        // Refused before reading a byte of it.
        return too_large(format!("Content-Length {n}"));
    }
    // One byte past the limit tells "too large" from "exactly at the limit". The buffer grows
    // by doubling but never past that, so reading up to the limit costs about the limit in
    // memory, not twice it.
    let most = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
    let hint = resp.content_length().unwrap_or(8 * 1024).min(limit);
    let mut buf = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    let mut reader = std::io::Read::take(&mut resp, limit.saturating_add(1));
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match std::io::Read::read(&mut reader, &mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Exchange::Failed {
                    detail: format!(
                        "{} and then the answer broke off: {}",
                        status.as_u16(),
                        error_chain(&e)
                    ),
                    sent: true,
                }
            }
        };
        let need = buf.len() + n;
        if need > buf.capacity() {
            let target = buf.capacity().saturating_mul(2).min(most).max(need);
            buf.reserve_exact(target - buf.len());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    if buf.len() as u64 > limit {
        // Dropping the response closes the connection; the rest is never read.
        return too_large("cut off there".into());
    }
    match String::from_utf8(buf) {
        Ok(text) => Exchange::Answer {
            status: status.as_u16(),
            text,
        },
        Err(_) => Exchange::Failed {
            detail: format!("{} with an answer that is not UTF-8", status.as_u16()),
            sent: true,
        },
    }
}

/// The error for a 3xx answer: names the status and the origin the Location points to (never
/// its path or query, which could carry anything, and never userinfo).
fn redirect_error(call: &str, url: &str, resp: &reqwest::blocking::Response) -> Error {
    let target = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|loc| reqwest::Url::parse(url).ok()?.join(loc).ok())
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|| "an unreadable Location".into());
    Error::Transport(format!(
        "{call}: the TSB answered {} redirecting to {target}; redirects are never \
         followed, so no request or credential goes anywhere but the configured URL (fix the \
         slot's url if the TSB has moved)",
        resp.status().as_u16()
    ))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Mention a request id found in an answer (async endpoints) in the log line.
fn request_id_note(text: &str) -> String {
    if text.len() > 512 {
        return String::new();
    }
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return String::new(),
    };
    tsb_models::request_id_in(&v)
        .map(|id| format!(", request {id}"))
        .unwrap_or_default()
}

/// Build the error for a non-2xx answer from its TSB error body (or its absence).
pub(crate) fn tsb_error(status: u16, text: &str, call: &str) -> Error {
    let body: tsb_models::ErrorBody = serde_json::from_str(text).unwrap_or_default();
    Error::Tsb {
        status,
        code: body.error_code,
        reason: body.reason.unwrap_or_default(),
        message: body
            .message
            .unwrap_or_else(|| text.chars().take(200).collect()),
        call: call.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_parsed() {
        let e = tsb_error(
            404,
            r#"{"errorCode":650,"reason":"res.error.key.not.existent","message":"no key"}"#,
            "POST /v1/key/attributes",
        );
        match e {
            Error::Tsb { code, reason, .. } => {
                assert_eq!(code, Some(650));
                assert_eq!(reason, "res.error.key.not.existent");
            }
            other => panic!("{other:?}"),
        }
        let e = tsb_error(500, "oops", "GET /x");
        assert!(matches!(
            e,
            Error::Tsb {
                code: None,
                status: 500,
                ..
            }
        ));
    }
}
