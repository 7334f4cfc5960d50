//! HTTP transport to one TSB (at one or several URLs): reqwest blocking with rustls (the module
//! is loaded into OpenSSL processes and must not bring OpenSSL symbols of its own), bearer token,
//! `X-API-KEY` per role with rollover, mTLS, a custom CA, timeouts, retries with backoff for
//! idempotent calls only, failover between the slot's URLs, and logging of method, path, status,
//! time, URL and request id (never headers or bodies).
//!
//! Failures are returned, not logged: the one line a person sees about a failed call is written
//! where the call returns to the application (`crate::log::report`). What is logged here at the
//! default level is what the client recovered from, once: a failover to another URL, and the
//! rollover to the next API key of a role.

use super::cancel::{CancelToken, Wake};
use super::limits;
use crate::config::{RequestSigner, Secret, SlotConfig};
use crate::error::{Error, Result, Unreachable};
use crate::log::Level;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Everything needed to build the HTTP clients of a slot (copied out of the config).
#[derive(Debug, Clone)]
pub(crate) struct ClientSettings {
    /// Base URLs without trailing slash, in the order of failover (at least one).
    pub(crate) urls: Vec<String>,
    pub(crate) token: Option<Secret>,
    /// API keys by role name, in the order of rollover.
    pub(crate) api_keys: BTreeMap<String, Vec<Secret>>,
    /// mTLS identity (PEM cert, PEM key).
    pub(crate) client_identity: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// A CA to trust besides the system's.
    pub(crate) ca_file: Option<std::path::PathBuf>,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    /// Largest key-list answer read, in bytes.
    pub(crate) max_list_bytes: u64,
    /// Signs every request that has a `requestSignature` (TSB 2.2.0).
    pub(crate) request_signer: Option<Arc<RequestSigner>>,
    /// The slot's key passwords: by TSB label, and the default.
    pub(crate) key_passwords: BTreeMap<String, Secret>,
    pub(crate) key_password: Option<Secret>,
}

impl From<&SlotConfig> for ClientSettings {
    fn from(c: &SlotConfig) -> Self {
        ClientSettings {
            urls: c.urls.clone(),
            token: c.token.clone(),
            api_keys: c.api_keys.clone(),
            client_identity: c.client_identity.clone(),
            ca_file: c.ca_file.clone(),
            connect_timeout: c.connect_timeout,
            request_timeout: c.request_timeout,
            max_list_bytes: c.max_list_bytes,
            request_signer: c.request_signer.clone(),
            key_passwords: c.key_passwords.clone(),
            key_password: c.key_password.clone(),
        }
    }
}

/// Environment variables through which reqwest finds a proxy for https URLs.
pub(crate) const PROXY_VARS: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];

/// Whether a call may be repeated after a transport failure or a 5xx answer. Calls that create a
/// request for approvers (or a key) are never retried: repeating them would ask twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Safe to retry, and to send to another of the slot's URLs after a connect failure or a
    /// 5xx answer.
    Retry,
    /// Send once; another URL is tried only when the call provably did not reach the first one
    /// (no connection, TLS handshake failed).
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

/// How many request ids remember the URL that created them (see [`State::origins`]).
const REMEMBERED_ORIGINS: usize = 4096;

/// What the clones of a [`Client`] share.
struct State {
    /// One HTTP client per URL, built on first use: each URL gets exactly the rules one URL had
    /// (its own https-only, proxy and `localhost` pinning), and its own connection pool.
    built: Vec<Mutex<Option<Arc<Built>>>>,
    /// The URL calls go to first: the last one that answered.
    current: AtomicUsize,
    /// The API key in use per role (an index into the role's keys).
    key_index: Mutex<BTreeMap<String, usize>>,
    /// The URL that created each request (by id), so its status is read where it was made.
    origins: Mutex<HashMap<String, usize>>,
    /// Bearer token given at C_Login when the slot says the PIN is the token.
    login_token: Mutex<Option<Secret>>,
    /// Per URL, the parsed URLs of the [`HOT_PATHS`], made on first use.
    hot: Vec<once_cell::sync::OnceCell<Vec<(&'static str, reqwest::Url)>>>,
}

/// The paths called once per signature, decryption or listed key, whose full URLs are parsed
/// once per URL instead of on every call (parsing one was about 1 µs, a fifth of the module's
/// own CPU time per C_Sign: issue 15). Every other path is parsed per call.
const HOT_PATHS: [&str; 3] = [
    tsb_models::paths::SYNCHRONOUS_SIGN,
    tsb_models::paths::SYNCHRONOUS_DECRYPT,
    tsb_models::paths::KEY_ATTRIBUTES,
];

/// A TSB client. Cheap to clone; the HTTP connection pools are shared, created on first use
/// (never in C_Initialize), and rebuilt in a forked child (reqwest's blocking client runs a
/// thread that does not survive fork).
#[derive(Clone)]
pub(crate) struct Client {
    settings: Arc<ClientSettings>,
    state: Arc<State>,
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
            .field("urls", &self.settings.urls)
            .finish()
    }
}

/// The API key a request carried: role, index, and how many the role has.
#[derive(Debug, Clone)]
struct KeyUsed {
    role: &'static str,
    index: usize,
    count: usize,
}

impl Client {
    /// A client for these settings; nothing is built or connected yet.
    pub(crate) fn new(settings: ClientSettings) -> Client {
        let n = settings.urls.len().max(1);
        Client {
            state: Arc::new(State {
                built: (0..n).map(|_| Mutex::new(None)).collect(),
                current: AtomicUsize::new(0),
                key_index: Mutex::new(BTreeMap::new()),
                origins: Mutex::new(HashMap::new()),
                login_token: Mutex::new(None),
                hot: (0..n).map(|_| once_cell::sync::OnceCell::new()).collect(),
            }),
            settings: Arc::new(settings),
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
    /// session closed, C_Finalize) wipes it and also drops the connection pools: the connections'
    /// write buffers hold the last requests' headers, token included.
    pub(crate) fn set_login_token(&self, token: Option<Secret>) {
        let clearing = token.is_none();
        let old = std::mem::replace(&mut *self.state.login_token.lock(), token);
        if clearing && old.is_some() {
            // Dropping a client closes its idle connections (calls in flight keep theirs).
            for b in &self.state.built {
                let built = b.lock().take();
                drop(built);
            }
        }
    }

    /// Whether an API key is configured for `role`.
    pub(crate) fn has_api_key(&self, role: tsb_models::Role) -> bool {
        self.settings.api_keys.contains_key(role.name())
    }

    /// Whether any API key is configured (the TSB then wants one on every guarded path).
    pub(crate) fn uses_api_keys(&self) -> bool {
        !self.settings.api_keys.is_empty()
    }

    /// The password of the key with this TSB label, as the TSB's `char[]` fields take it.
    pub(crate) fn key_password(&self, tsb_label: &str) -> Option<tsb_models::Password> {
        self.settings
            .key_passwords
            .get(tsb_label)
            .or(self.settings.key_password.as_ref())
            .map(|s| tsb_models::Password(s.expose().to_string()))
    }

    /// Whether the key with this TSB label has a configured password.
    pub(crate) fn has_key_password(&self, tsb_label: &str) -> bool {
        self.settings.key_passwords.contains_key(tsb_label) || self.settings.key_password.is_some()
    }

    /// The `requestSignature` of an envelope whose inner request is `inner`, when the slot has
    /// a request-signing key: the compact JSON of `inner` (exactly the text the envelope
    /// carries: serde writes no whitespace) signed as securosys-com/tsb-client-go
    /// `tsb_client.go` `GenerateRequestSignature` signs it (S1).
    pub(crate) fn request_signature(
        &self,
        inner: &impl Serialize,
    ) -> Result<Option<serde_json::Value>> {
        let Some(signer) = &self.settings.request_signer else {
            return Ok(None);
        };
        let text = serde_json::to_vec(inner).map_err(|e| Error::Internal(e.to_string()))?;
        let s = signer.sign(&text);
        serde_json::to_value(tsb_models::RequestSignature {
            signature: s.signature,
            digest_algorithm: s.digest_algorithm.to_string(),
            public_key: s.public_key,
        })
        .map(Some)
        .map_err(|e| Error::Internal(e.to_string()))
    }

    /// The `metaDataSignature` of `meta_json` (the JSON before base64), when the slot has a
    /// request-signing key: S1 `tsb_client.go` `PrepareMetaData` signs the metadata with the
    /// application key.
    pub(crate) fn meta_data_signature(&self, meta_json: &[u8]) -> Option<String> {
        self.settings
            .request_signer
            .as_ref()
            .map(|s| s.sign(meta_json).signature)
    }

    /// The parsed URL of `path` on URL `u` when it is one of the [`HOT_PATHS`]: the same text
    /// (`{base}{path}`) parsed by the same parser as any other call's, once.
    fn hot_url(&self, u: usize, path: &str) -> Option<reqwest::Url> {
        let base = self.settings.urls.get(u)?;
        self.state
            .hot
            .get(u)?
            .get_or_init(|| {
                HOT_PATHS
                    .iter()
                    .filter_map(|p| Some((*p, reqwest::Url::parse(&format!("{base}{p}")).ok()?)))
                    .collect()
            })
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, url)| url.clone())
    }

    fn http(&self, u: usize) -> Result<reqwest::blocking::Client> {
        let pid = std::process::id();
        let mut guard = self.state.built[u].lock();
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
        let http = self.build(&self.settings.urls[u])?;
        *guard = Some(Arc::new(Built {
            http: std::mem::ManuallyDrop::new(http.clone()),
            pid,
        }));
        Ok(http)
    }

    fn build(&self, base: &str) -> Result<reqwest::blocking::Client> {
        let s = &self.settings;
        // The config checked this URL already; check again what this client will connect to,
        // with the same parser, so no other path into ClientSettings can bypass the rule.
        let url =
            reqwest::Url::parse(base).map_err(|e| Error::Config(format!("url: not a URL: {e}")))?;
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
            // included, to wherever the Location points. A 3xx is an error (see exchange).
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!plain);
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
                "{base}: reaching the TSB through the proxy from {var} (CONNECT tunnel, TLS to the TSB)"
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
            let mut pem = Zeroizing::new(
                std::fs::read(cert)
                    .map_err(|e| Error::Config(format!("client_cert {}: {e}", cert.display())))?,
            );
            pem.push(b'\n');
            pem.extend(
                Zeroizing::new(
                    std::fs::read(key)
                        .map_err(|e| Error::Config(format!("client_key {}: {e}", key.display())))?,
                )
                .iter(),
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
            crate::log!(Level::Debug, "{msg}");
            if idem == Idempotency::Once {
                // A success status with garbage: the TSB did it, whatever it was.
                Error::OutcomeUnknown(msg)
            } else {
                Error::Transport(msg)
            }
        })
    }

    /// The URL a call to `path` goes to first: the one that created the request for the
    /// status and deletion of a request, else the last one that answered.
    fn first_url(&self, path: &str) -> usize {
        let current = self.state.current.load(Ordering::Relaxed);
        path.strip_prefix(tsb_models::paths::REQUEST)
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|id| self.state.origins.lock().get(id).copied())
            .unwrap_or(current)
    }

    /// Send one call and return the body text of a 2xx answer.
    ///
    /// Idempotent calls are tried up to three rounds (after transport failures and 502-504,
    /// with backoff); within a round, a connect failure or a 5xx moves them to the slot's next
    /// URL. A call sent once moves to the next URL only when it provably did not reach the
    /// server (no connection, TLS handshake failure). A 631 (the API key refused) is sent again
    /// at once with the role's next key, creating calls included: the TSB refused it before
    /// doing anything (S1 `tsb_client.go` `doRequest` rolls over and sends the same request
    /// again for every call).
    pub(crate) fn call_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
        idem: Idempotency,
    ) -> Result<String> {
        let body_bytes = match body {
            Some(b) => {
                Some(Zeroizing::new(serde_json::to_vec(b).map_err(|e| {
                    Error::Internal(format!("{method} {path}: {e}"))
                })?))
            }
            None => None,
        };
        let call = format!("{method} {path}");
        let once = idem == Idempotency::Once;
        let rounds = if once { 1 } else { 3 };
        let n = self.settings.urls.len();
        let start = self.first_url(path) % n.max(1);
        let mut delay = Duration::from_millis(100);
        let first_started = Instant::now();
        let mut attempts = 0u32;
        // The URLs that failed before one answered: named in the failover line.
        let mut failed: Vec<(usize, String)> = Vec::new();
        let mut last_err = None;
        'rounds: for round in 1..=rounds {
            for step in 0..n {
                let u = (start + step) % n;
                attempts += 1;
                let started = Instant::now();
                let (outcome, key) = self.attempt(
                    u,
                    &method,
                    path,
                    &call,
                    body_bytes.as_ref().map(|b| b.as_slice()),
                    once,
                )?;
                let base = &self.settings.urls[u];
                let ms = started.elapsed().as_millis();
                match outcome {
                    Exchange::Answer { status, text } if (200..300).contains(&status) => {
                        crate::log!(
                            Level::Debug,
                            "{call} -> {status} in {ms} ms from {base}{}",
                            request_id_note(&text)
                        );
                        self.answered(u, &failed, &call);
                        if limits::creates_request(&method, path) {
                            self.remember_origin(&text, u);
                        }
                        return Ok(text);
                    }
                    Exchange::Answer { status, text } => {
                        let err = tsb_error(status, &text, &call);
                        crate::log!(
                            Level::Debug,
                            "{call} -> {status} in {ms} ms from {base}: {err}"
                        );
                        let err = self.with_hint(err, key);
                        last_err = Some(err);
                        if once || status < 500 {
                            break 'rounds;
                        }
                        failed.push((u, format!("HTTP {status}")));
                    }
                    Exchange::Refused(err) => {
                        // A redirect or an oversized answer: the server will do it again.
                        crate::log!(Level::Debug, "{err}");
                        return Err(err);
                    }
                    Exchange::Failed { detail, sent, why } => {
                        crate::log!(
                            Level::Debug,
                            "{call} to {base} failed after {ms} ms: {detail}"
                        );
                        if sent && once {
                            // Not repeated, and not known to have failed: the TSB may have done it.
                            last_err = Some(Error::OutcomeUnknown(format!(
                                "{call}: sent to {base}, but no answer came back: {detail}"
                            )));
                            break 'rounds;
                        }
                        last_err = Some(Error::Unreachable {
                            why,
                            detail: format!("{call} to {base}: {detail}"),
                        });
                        failed.push((u, detail));
                    }
                }
            }
            // A certificate the TSB presents will not change in a second: no new round.
            let again = !once
                && round < rounds
                && matches!(
                    last_err,
                    Some(Error::Unreachable {
                        why: Unreachable::Connect | Unreachable::Tls | Unreachable::NoAnswer,
                        ..
                    }) | Some(Error::Tsb {
                        status: 502..=504,
                        ..
                    })
                );
            if !again {
                break;
            }
            match &self.interrupt {
                None => std::thread::sleep(delay),
                Some(i) => {
                    let until = crate::util::instant_after(Instant::now(), delay).min(i.deadline);
                    if i.cancel.wait_until(until, || false) == Wake::Cancelled
                        || Instant::now() >= i.deadline
                    {
                        return Err(abandoned(&call, i));
                    }
                }
            }
            delay *= 3;
        }
        let mut err =
            last_err.unwrap_or_else(|| Error::Transport(format!("{call}: no answer from any URL")));
        if attempts > 1 {
            // One error for the whole call, not one per attempt.
            let note = format!(
                " (after {attempts} attempts in {} ms{})",
                first_started.elapsed().as_millis(),
                if n > 1 {
                    format!(", {n} URLs")
                } else {
                    String::new()
                }
            );
            match &mut err {
                Error::Unreachable { detail, .. } | Error::Transport(detail) => {
                    detail.push_str(&note)
                }
                Error::Tsb { message, .. } => message.push_str(&note),
                _ => {}
            }
        }
        Err(err)
    }

    /// One exchange with URL `u`, sent again with the role's next API key while the TSB answers
    /// errorCode 631 and the role has one. `Err` only when the call is abandoned or nothing can
    /// be built.
    fn attempt(
        &self,
        u: usize,
        method: &reqwest::Method,
        path: &str,
        call: &str,
        body: Option<&[u8]>,
        once: bool,
    ) -> Result<(Exchange, Option<KeyUsed>)> {
        let http = self.http(u)?;
        let hot = self.hot_url(u, path);
        // The text of the URL, for messages: the parsed one's when there is one.
        let url: std::borrow::Cow<str> = match &hot {
            Some(parsed) => parsed.as_str().into(),
            None => format!("{}{}", self.settings.urls[u], path).into(),
        };
        let limit = limits::body_limit(method, path, self.settings.max_list_bytes);
        let creates = limits::creates_request(method, path);
        let role = tsb_models::role_for_path(path);
        loop {
            let rb = match &hot {
                Some(parsed) => http.request(method.clone(), parsed.clone()),
                None => http.request(method.clone(), url.as_ref()),
            };
            let mut rb = rb.header("Accept", "application/json");
            if let Some(t) = self
                .state
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
            let key = role.and_then(|r| {
                let keys = self.settings.api_keys.get(r.name())?;
                let index = *self.state.key_index.lock().get(r.name()).unwrap_or(&0);
                let index = index.min(keys.len().saturating_sub(1));
                Some((
                    keys.get(index)?.clone(),
                    KeyUsed {
                        role: r.name(),
                        index,
                        count: keys.len(),
                    },
                ))
            });
            if let Some((k, _)) = &key {
                rb = rb.header(
                    tsb_models::API_KEY_HEADER,
                    secret_header("", k, "the API key")?,
                );
            }
            let key = key.map(|(_, used)| used);
            if let Some(b) = body {
                rb = rb
                    .header("Content-Type", "application/json")
                    .body(b.to_vec());
            }
            if creates {
                rb = rb.timeout(limits::create_timeout(self.settings.request_timeout));
            }
            let outcome = match &self.interrupt {
                None => exchange(rb, call, &url, limit, once),
                Some(i) => {
                    // Never wait past the deadline, even in reqwest.
                    let left = i.deadline.saturating_duration_since(Instant::now());
                    let rb = rb.timeout(left.min(self.settings.request_timeout));
                    match exchange_interruptible(rb, call, &url, limit, once, i) {
                        Some(o) => o,
                        None => return Err(abandoned(call, i)),
                    }
                }
            };
            if let (Exchange::Answer { text, .. }, Some(used)) = (&outcome, &key) {
                if used.index + 1 < used.count
                    && error_code(text) == Some(tsb_models::codes::INVALID_API_KEY)
                {
                    self.roll_over(used);
                    continue;
                }
            }
            return Ok((outcome, key));
        }
    }

    /// The role's key `used` was refused (631): use the next one from now on (unless another
    /// call moved on already). One line, at the moment of the rollover.
    fn roll_over(&self, used: &KeyUsed) {
        let mut idx = self.state.key_index.lock();
        let current = idx.entry(used.role.to_string()).or_insert(0);
        if *current == used.index {
            *current = used.index + 1;
            drop(idx);
            crate::log!(
                Level::Warn,
                "the TSB refused API key {} of {} of role {} (errorCode 631, rolled over on the \
                 TSB?); using key {} from now on",
                used.index + 1,
                used.count,
                used.role,
                used.index + 2
            );
        }
    }

    /// A failed call's error with what the client knows about the credentials it sent (the
    /// remedy otherwise comes from the error code, `Error::remedy`).
    fn with_hint(&self, mut err: Error, key: Option<KeyUsed>) -> Error {
        use tsb_models::codes as c;
        if let Error::Tsb { code, hint, .. } = &mut err {
            *hint = match (*code, key) {
                (Some(c::INVALID_API_KEY), Some(k)) if k.count > 1 => Some(format!(
                    "the TSB refused all {} API keys of role {} (errorCode 631): update \
                     `api_keys.{}` in the slot's config",
                    k.count, k.role, k.role
                )),
                (Some(c::INVALID_ACCESS_TOKEN), _) if self.state.login_token.lock().is_some() => {
                    Some(
                        "the TSB refused the bearer token given as the PIN: log in with a valid \
                         token"
                            .into(),
                    )
                }
                _ => None,
            };
        }
        err
    }

    /// URL `u` answered: it becomes the current one. When other URLs failed before it in this
    /// call, one line says so (a failover), naming what failed; a retry that the same URL
    /// answered is no failover.
    fn answered(&self, u: usize, failed: &[(usize, String)], call: &str) {
        self.state.current.store(u, Ordering::Relaxed);
        let why: Vec<String> = failed
            .iter()
            .filter(|(f, _)| *f != u)
            .map(|(f, d)| format!("{}: {d}", self.settings.urls[*f]))
            .collect();
        if !why.is_empty() {
            crate::log!(
                Level::Warn,
                "failover: {call} went to {} because {}",
                self.settings.urls[u],
                why.join("; ")
            );
        }
    }

    /// Remember which URL created the request in `answer` (a creating call's answer).
    fn remember_origin(&self, answer: &str, u: usize) {
        if self.settings.urls.len() < 2 {
            return;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(answer) else {
            return;
        };
        if let Some(id) = tsb_models::request_id_in(&v) {
            let mut o = self.state.origins.lock();
            if o.len() >= REMEMBERED_ORIGINS {
                // Best effort: a forgotten origin only means the current URL is asked first.
                o.clear();
            }
            o.insert(id.to_string(), u);
        }
    }
}

/// The `errorCode` of an error body, if it is one.
fn error_code(text: &str) -> Option<i64> {
    serde_json::from_str::<tsb_models::ErrorBody>(text)
        .ok()
        .and_then(|b| b.error_code)
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
            why: Unreachable::Connect,
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
    Failed {
        detail: String,
        sent: bool,
        why: Unreachable,
    },
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
            let detail = error_chain(&e);
            return Exchange::Failed {
                why: unreachable_kind(&e, &detail),
                detail,
                sent: !e.is_connect(),
            };
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
    if resp.content_length().is_some() {
        // A length within the limit (checked above): HTTP/1.1 reads exactly that many bytes of
        // body and no more, so the answer is taken whole, in one wait for the runtime thread
        // instead of one per read (issue 15: a context switch less per call).
        return match resp.bytes() {
            Ok(body) => answer_text(status.as_u16(), body.to_vec()),
            Err(e) => broke_off(status.as_u16(), &e),
        };
    }
    // No length (chunked): one byte past the limit tells "too large" from "exactly at the
    // limit". The answer is read straight into its buffer, 8 KiB at first, grown by doubling but
    // never past that, so reading up to the limit costs about the limit in memory, not twice it.
    let most = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
    let hint = limit.saturating_add(1).min(8 * 1024);
    let mut buf: Vec<u8> = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    let mut reader = std::io::Read::take(&mut resp, limit.saturating_add(1));
    loop {
        if buf.len() == buf.capacity() {
            let target = buf
                .capacity()
                .saturating_mul(2)
                .min(most)
                .max(buf.len() + 1);
            buf.reserve_exact(target - buf.len());
        }
        let start = buf.len();
        buf.resize(buf.capacity(), 0);
        let n = match std::io::Read::read(&mut reader, &mut buf[start..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                buf.truncate(start);
                continue;
            }
            Err(e) => return broke_off(status.as_u16(), &e),
        };
        buf.truncate(start + n);
        if n == 0 {
            // The end: a read into room for at least one byte gave none.
            break;
        }
    }
    if buf.len() as u64 > limit {
        // Dropping the response closes the connection; the rest is never read.
        return too_large("cut off there".into());
    }
    answer_text(status.as_u16(), buf)
}

/// An answer of `status` whose body broke off.
fn broke_off(status: u16, e: &(dyn std::error::Error + 'static)) -> Exchange {
    Exchange::Failed {
        detail: format!("{status} and then the answer broke off: {}", error_chain(e)),
        sent: true,
        why: Unreachable::NoAnswer,
    }
}

/// A whole answer of `status`: its text, which must be UTF-8.
fn answer_text(status: u16, body: Vec<u8>) -> Exchange {
    match String::from_utf8(body) {
        Ok(text) => Exchange::Answer { status, text },
        Err(_) => Exchange::Failed {
            detail: format!("{status} with an answer that is not UTF-8"),
            sent: true,
            why: Unreachable::NoAnswer,
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

/// What a failed send means for the person: rustls' certificate errors ("invalid peer
/// certificate: UnknownIssuer", "certificate not valid for name ...") are told apart by their
/// text, the only way reqwest exposes them.
fn unreachable_kind(e: &reqwest::Error, chain: &str) -> Unreachable {
    if chain.contains("not valid for name") || chain.contains("NotValidForName") {
        Unreachable::WrongHostName
    } else if chain.contains("UnknownIssuer") || chain.contains("invalid peer certificate") {
        Unreachable::UntrustedCertificate
    } else if e.is_connect() {
        let lower = chain.to_ascii_lowercase();
        if lower.contains("tls") || lower.contains("handshake") || lower.contains("certificate") {
            Unreachable::Tls
        } else {
            Unreachable::Connect
        }
    } else {
        Unreachable::NoAnswer
    }
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
        hint: None,
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

    /// The URL parsed once for a hot path is the one every call used to parse: the slot's URL
    /// text followed by the path (a path prefix on the URL kept), per URL of the slot.
    #[test]
    fn hot_paths_are_parsed_once_to_the_same_url() {
        let text = r#"{"slots": [{"urls": ["http://127.0.0.1:1/tsb", "http://127.0.0.1:2"],
            "allow_http": true}]}"#;
        let config = crate::config::Config::parse(text, std::path::Path::new("c.json"), &|_| None)
            .expect("config");
        let c = Client::new(ClientSettings::from(&config.slots[0]));
        for (u, base) in ["http://127.0.0.1:1/tsb", "http://127.0.0.1:2"]
            .iter()
            .enumerate()
        {
            for p in HOT_PATHS {
                let want = reqwest::Url::parse(&format!("{base}{p}")).expect("url");
                assert_eq!(c.hot_url(u, p), Some(want));
                // Asked again: the same, from the cache.
                assert_eq!(
                    c.hot_url(u, p).map(String::from),
                    Some(format!("{base}{p}"))
                );
            }
            assert_eq!(c.hot_url(u, tsb_models::paths::KEY), None);
            assert_eq!(c.hot_url(u, "/v1/request/abc"), None);
        }
        assert_eq!(c.hot_url(2, tsb_models::paths::SYNCHRONOUS_SIGN), None);
    }
}
