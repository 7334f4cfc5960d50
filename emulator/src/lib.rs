//! tsb-emulator: a local Securosys Transaction Security Broker (TSB).
//!
//! It serves the real `/v1` REST surface (keys, signing, decryption, certificates, requests and the
//! Smart Key Attributes approval workflow) with real keys and signatures, plus test controls
//! (fault injection, a controllable clock, request counters). Tests start it in-process:
//!
//! ```no_run
//! use tsb_emulator::{Emulator, EmulatorConfig};
//! let emu = Emulator::start(EmulatorConfig::default()).unwrap();
//! let url = emu.base_url(); // e.g. http://127.0.0.1:41234
//! # drop(url);
//! emu.shutdown();
//! ```
//!
//! The clock that drives SKA timelocks, timeouts and `createTime` is real time plus an offset that
//! [`Emulator::advance_clock`] moves. The approver's timestamp freshness check deliberately uses
//! the REAL wall clock: external approvers sign real time, and advancing the emulated clock must
//! not make their proofs stale.

#![warn(missing_docs)]

pub mod crypto;
pub mod pqc;
pub mod secret;
pub mod ska;
pub mod x509;

mod api;
mod http;
mod material;
mod store;

use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// PEM files of the HTTPS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// API-key roles of the TSB; each guards a set of paths ([`tsb_models::role_for_path`]).
pub use tsb_models::Role;
/// TSB versions: the emulator's profiles (`EmulatorConfig::tsb_version`).
pub use tsb_models::TsbVersion;

/// Configuration of an [`Emulator`].
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to bind; port 0 picks a free one. Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// Serve HTTPS (TLS 1.2+) with these files instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// When set, `/v1` paths (except the approver ones) need `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// API keys per role; a role with keys requires `X-API-KEY` on its paths.
    pub api_keys: Vec<(Role, String)>,
    /// Persist keys, certificates, requests and tasks in this JSON file (loaded at start).
    pub state_file: Option<PathBuf>,
    /// Serve the `/_emulator/*` test-control endpoints (404 otherwise).
    pub test_controls: bool,
    /// Log one line per request on stderr (`METHOD /path STATUS 12ms [request id]`).
    pub log_requests: bool,
    /// How far in the future an approver's timestamp may be. Default 0, the TSB's default of
    /// `maxFutureTimestampDiffApprovalClient` (S2 `tsb/Download/release_notes.md`, 1.18.0).
    pub max_timestamp_future: Duration,
    /// How old an approver's timestamp may be. Default 600 s, the TSB's configuration template
    /// value of `maxTimestampDiffApprovalClient` (same source).
    pub max_timestamp_age: Duration,
    /// The TSB version to behave as (see emulator/README.md for what each version changes).
    /// Default: [`TsbVersion::LATEST_RELEASE`] (2.2.0, the newest real release; 2.3.0 is the
    /// unconfirmed S6 DTO shapes). `GET /v1/versionInfo` answers it.
    pub tsb_version: TsbVersion,
    /// The TSB's `hsmRequestsTimerServiceInterval`: APPROVED requests execute, and requests past
    /// their timeout turn EXPIRED, only when the scheduler runs, every this often (real time).
    /// Zero (the default, fast for tests) re-evaluates on every read and every 200 ms; the TSB's
    /// configuration template says 60 s (S2 `tsb/Download/release_notes.md`, 1.18.0).
    pub scheduler_interval: Duration,
    /// The TSB 2.1.0 server parameter that lets a request's `result` be fetched only once: after
    /// the first status read that carried it, `result` is null.
    pub fetch_result_once: bool,
    /// The TSB 2.2.0 `allowedRequestCertificates` (DER certificates): when not empty, every body
    /// with a `requestSignature` field must carry a valid one by a key of these certificates.
    pub allowed_request_certificates: Vec<Vec<u8>>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            bearer_token: None,
            api_keys: Vec::new(),
            state_file: None,
            test_controls: false,
            log_requests: false,
            max_timestamp_future: Duration::ZERO,
            max_timestamp_age: Duration::from_secs(600),
            tsb_version: TsbVersion::LATEST_RELEASE,
            scheduler_interval: Duration::ZERO,
            fetch_result_once: false,
            allowed_request_certificates: Vec::new(),
        }
    }
}

/// What an injected fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FaultAction {
    /// Wait `ms` milliseconds, then handle the request normally.
    Delay {
        /// Milliseconds.
        ms: u64,
    },
    /// Answer with this HTTP status and a TSB error body with `error_code` (default 701).
    Status {
        /// HTTP status.
        status: u16,
        /// TSB `errorCode` of the body.
        #[serde(rename = "errorCode", default)]
        error_code: Option<i64>,
    },
    /// Close the connection without any response.
    Drop,
    /// Answer 200 with a truncated, invalid JSON body.
    Malformed,
    /// Answer with this HTTP status and exactly this body, without handling the request: a TSB
    /// that returns a well-formed answer with a wrong value in it (a bad signature, a bogus
    /// request result), or any other canned response.
    Respond {
        /// HTTP status.
        status: u16,
        /// The body, sent as given (`Content-Type: application/json` when not empty).
        body: String,
    },
    /// Answer with a redirect (`status`, default 307) to `location`, without handling the request.
    Redirect {
        /// HTTP status (a 3xx).
        #[serde(default = "redirect_status")]
        status: u16,
        /// The `Location` header.
        location: String,
    },
    /// Answer 200 and stream `bytes` bytes of body (a JSON string that never ends), announced by
    /// `Content-Length` or, with `chunked`, sent as chunks; stops when the client goes away.
    Flood {
        /// Body size in bytes.
        bytes: u64,
        /// `Transfer-Encoding: chunked` instead of `Content-Length`.
        #[serde(default)]
        chunked: bool,
    },
    /// Read the request and never answer; the connection stays open until the client closes it
    /// (or the emulator shuts down).
    Blackhole,
    /// Handle the request normally (a request it creates exists), then close the connection
    /// without sending the answer: an answer lost on the way back.
    #[serde(rename = "handle_then_drop")]
    HandleThenDrop,
}

fn redirect_status() -> u16 {
    307
}

/// A fault: the next `count` requests whose path starts with `path` (and whose method equals
/// `method`, when given) get `action`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Fault {
    /// Path prefix, e.g. `/v1/sign`.
    pub path: String,
    /// HTTP method to match (any when `None`).
    #[serde(default)]
    pub method: Option<String>,
    /// How many requests get the fault.
    #[serde(default = "one")]
    pub count: u32,
    /// What happens.
    pub action: FaultAction,
}

fn one() -> u32 {
    1
}

/// The emulated clock: real time plus an offset that only moves forward.
pub(crate) struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    fn real_ms() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
    /// Emulated now, milliseconds since the epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        Self::real_ms().saturating_add(self.offset_ms.load(Ordering::SeqCst))
    }
    fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms.max(0), Ordering::SeqCst);
    }
}

/// Everything the server threads share.
pub(crate) struct Shared {
    pub(crate) cfg: EmulatorConfig,
    pub(crate) store: Mutex<store::Store>,
    pub(crate) clock: Clock,
    pub(crate) faults: Mutex<Vec<Fault>>,
    pub(crate) counts: Mutex<BTreeMap<String, u64>>,
    pub(crate) shutdown: AtomicBool,
    pub(crate) tls: Option<openssl::ssl::SslAcceptor>,
    /// Serialises state-file writes; holds the generation last written so an older snapshot never
    /// overwrites a newer one.
    pub(crate) persist_gen: Mutex<u64>,
    /// API keys revoked at runtime ([`Emulator::revoke_api_key`]).
    pub(crate) revoked_api_keys: Mutex<std::collections::BTreeSet<String>>,
    /// Latency added to every `/v1` request before it is handled, in milliseconds
    /// ([`Emulator::set_latency`]).
    pub(crate) latency_ms: AtomicU64,
    /// `/v1` requests being handled now (read, not yet answered), and the most seen at once
    /// since the last [`Emulator::reset_counts`].
    pub(crate) in_flight: AtomicU64,
    pub(crate) max_in_flight: AtomicU64,
}

impl Shared {
    /// Take the first fault matching the request, decrementing its count.
    pub(crate) fn take_fault(&self, method: &str, path: &str) -> Option<FaultAction> {
        let mut faults = self.faults.lock();
        let idx = faults.iter().position(|f| {
            f.count > 0
                && path.starts_with(&f.path)
                && f.method.iter().all(|m| m.eq_ignore_ascii_case(method))
        })?;
        let f = &mut faults[idx];
        f.count -= 1;
        let action = f.action.clone();
        if f.count == 0 {
            faults.remove(idx);
        }
        Some(action)
    }

    pub(crate) fn count(&self, method: &str, path: &str) {
        *self
            .counts
            .lock()
            .entry(format!("{method} {path}"))
            .or_insert(0) += 1;
    }

    pub(crate) fn advance_clock(&self, d: Duration) {
        self.clock
            .advance(d.as_millis().min(i64::MAX as u128) as i64);
    }
}

/// A running emulator. Dropping it (or [`Emulator::shutdown`]) stops the listener and the
/// scheduler; idle keep-alive connections close within about half a second.
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

impl Emulator {
    /// Bind, load the state file if configured, and start serving in background threads.
    pub fn start(cfg: EmulatorConfig) -> io::Result<Emulator> {
        api::check_config(&cfg)?;
        let tls = match &cfg.tls {
            Some(files) => Some(http::tls_acceptor(files)?),
            None => None,
        };
        let store = match &cfg.state_file {
            Some(path) => store::Store::load(path)?,
            None => store::Store::default(),
        };
        let listener = TcpListener::bind(cfg.listen)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            cfg,
            store: Mutex::new(store),
            clock: Clock {
                offset_ms: AtomicI64::new(0),
            },
            faults: Mutex::new(Vec::new()),
            counts: Mutex::new(BTreeMap::new()),
            shutdown: AtomicBool::new(false),
            tls,
            persist_gen: Mutex::new(0),
            revoked_api_keys: Mutex::new(Default::default()),
            latency_ms: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
        });
        let accept = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("tsb-emu-accept".into())
                .spawn(move || http::accept_loop(shared, listener))?
        };
        let scheduler = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("tsb-emu-scheduler".into())
                .spawn(move || api::scheduler_loop(shared))?
        };
        Ok(Emulator {
            shared,
            addr,
            threads: vec![accept, scheduler],
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:41234` (`https` with TLS).
    pub fn base_url(&self) -> String {
        let scheme = if self.shared.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// Move the emulated clock forward (drives SKA timelock/timeout and `createTime`).
    pub fn advance_clock(&self, d: Duration) {
        self.shared.advance_clock(d);
    }

    /// Current emulated time in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        self.shared.clock.now_ms()
    }

    /// Queue a fault for the next matching requests.
    pub fn inject_fault(&self, fault: Fault) {
        self.shared.faults.lock().push(fault);
    }

    /// Remove every queued fault.
    pub fn clear_faults(&self) {
        self.shared.faults.lock().clear();
    }

    /// How many requests arrived with exactly this method and path (query string excluded),
    /// e.g. `("POST", "/v1/sign")`. Faulted requests count; `/_emulator` requests do not.
    pub fn request_count(&self, method: &str, path: &str) -> u64 {
        self.shared
            .counts
            .lock()
            .get(&format!("{method} {path}"))
            .copied()
            .unwrap_or(0)
    }

    /// Every counter, keyed `"METHOD /path"`.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.shared.counts.lock().clone()
    }

    /// Zero every counter, and the high-water mark of [`Emulator::max_in_flight`].
    pub fn reset_counts(&self) {
        self.shared.counts.lock().clear();
        self.shared.max_in_flight.store(
            self.shared.in_flight.load(Ordering::SeqCst),
            Ordering::SeqCst,
        );
    }

    /// The most `/v1` requests handled at the same time (read and not yet answered, from any
    /// number of connections) since the start or the last [`Emulator::reset_counts`]: what a
    /// client's bound on its requests in flight is checked against.
    pub fn max_in_flight(&self) -> u64 {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// Add `latency` to every `/v1` request from now on (zero: none), as a TSB across a network
    /// would: each connection waits on its own thread, so concurrent requests overlap. Unlike a
    /// `Delay` fault it needs no queue entry per request and leaves the fault queue to tests.
    pub fn set_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.shared.latency_ms.store(ms, Ordering::SeqCst);
    }

    /// Revoke one of the configured API keys: from now on it is refused with errorCode 631, as a
    /// TSB whose configuration dropped it (for clients' rollover to the next key).
    pub fn revoke_api_key(&self, key: &str) {
        self.shared.revoked_api_keys.lock().insert(key.to_string());
    }

    /// The bytes of a secret (AES, HMAC) key, for tests that check the emulator's results with an
    /// independent implementation; `None` for an unknown label or another kind of key. The TSB
    /// has no such call (a real key never leaves the HSM unwrapped); the `--state` file holds the
    /// same bytes.
    pub fn secret_key_bytes(&self, label: &str) -> Option<Vec<u8>> {
        match &self.shared.store.lock().resolve(label)?.material {
            material::Material::Secret(k) => Some(k.bytes.clone()),
            _ => None,
        }
    }

    /// Run the request scheduler now and wait for it (as if `scheduler_interval` had elapsed).
    pub fn run_scheduler(&self) {
        api::run_scheduler_now(&self.shared);
    }

    /// Stop the listener and the scheduler and wait for them.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if self.shared.shutdown.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the blocking accept() with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() {
                [127, 0, 0, 1].into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}
