//! The client of the TSB's approver endpoints.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::key::ApproverKey;
use crate::task::{PendingTask, TaskFilter};
use crate::{sanitize, ApproveError, ErrorBody, FilteredTasksRequest, RequestStatus, Task};
use serde::Serialize;
use serde_json::Value;
use tsb_models::{paths, Paging, SortOrder, TaskList, TasksResponse};

/// Default HTTP timeout of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default poll interval of [`Approver::watch`].
pub const DEFAULT_POLL: Duration = Duration::from_millis(250);

/// Page size asked for when listing tasks. 25 is the value of the TSB's documented example, so it
/// is known to be accepted; more pages are fetched while a page comes back full.
const PAGE_SIZE: u32 = 25;

/// Upper bound on pages per listing, so a server that ignores paging cannot make us loop forever.
const MAX_PAGES: u32 = 200;

/// The per-type task lists ([`TaskList::PER_TYPE`]), for TSBs before 2.0.1, which have no
/// `filteredAllApprovalTask` (S2 `tsb/Download/release_notes.md` 2.0.1: "Fetch All Tasks ... with
/// the new endpoint"). Together they cover every kind of request (certificate requests are listed
/// as uses of the key; which list a TSB shows them in is not documented).
const PER_TYPE_LISTS: [TaskList; 6] = TaskList::PER_TYPE;

/// What this approver learned about the server's task lists.
const LISTS_UNKNOWN: u8 = 0;
const LISTS_ALL: u8 = 1;
const LISTS_PER_TYPE: u8 = 2;

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
    /// Whether the server has `filteredAllApprovalTask` (learned from its first answer, shared
    /// by clones).
    lists: Arc<AtomicU8>,
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
        if base.ends_with(paths::PREFIX) {
            base.truncate(base.len() - paths::PREFIX.len());
        }
        Approver {
            base,
            key,
            api_key: None,
            ca_file: None,
            timeout: DEFAULT_TIMEOUT,
            client: OnceLock::new(),
            lists: Arc::new(AtomicU8::new(LISTS_UNKNOWN)),
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
            req = req.header(tsb_models::API_KEY_HEADER, k);
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
    /// The body that asks for one page of tasks, with a fresh timestamp proof.
    fn page_request(
        &self,
        request_id: Option<&str>,
        page: u32,
    ) -> Result<FilteredTasksRequest, ApproveError> {
        let mut body = self.key.timestamp_proof()?;
        body.request_id = request_id.map(str::to_owned);
        // level3: the parsed request, so the key label, operation and metadata are visible.
        body.detail_level = Some("level3".into());
        // `sortOrder` is required (S3 `PagingDto`: `@NotNull`); oldest first, the value Securosys'
        // own approver clients send (S4 `testHelpers/test_client_tsb.go`, S2 Python sample).
        body.paging = Some(Paging {
            page_number: page,
            page_size: PAGE_SIZE,
            sort_order: SortOrder::CreationDateAsc,
        });
        Ok(body)
    }

    fn fetch_page(
        &self,
        list: TaskList,
        request_id: Option<&str>,
        page: u32,
    ) -> Result<Vec<PendingTask>, ApproveError> {
        let body = self.page_request(request_id, page)?;
        let url = self.url(list.path());
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
    /// known), operation and key label. Pages through the server's list:
    /// `filteredAllApprovalTask`, or, on a TSB before 2.0.1 that answers it with 404, each of the
    /// per-type lists (`filteredSignApprovalTask`, ...); what the server has is remembered.
    pub fn pending(&self, filter: &TaskFilter) -> Result<Vec<PendingTask>, ApproveError> {
        let mut out: Vec<PendingTask> = Vec::new();
        let mut ids = HashSet::new();
        let request_id = filter.request_id.as_deref();
        let lists: &[TaskList] = match self.lists.load(Ordering::Relaxed) {
            LISTS_PER_TYPE => &PER_TYPE_LISTS,
            LISTS_ALL => &[TaskList::All],
            _ => match self.fetch_page(TaskList::All, request_id, 0) {
                Ok(first) => {
                    self.lists.store(LISTS_ALL, Ordering::Relaxed);
                    self.collect(TaskList::All, request_id, Some(first), &mut ids, &mut out)?;
                    &[]
                }
                Err(ApproveError::Http { status: 404, .. }) => {
                    self.lists.store(LISTS_PER_TYPE, Ordering::Relaxed);
                    &PER_TYPE_LISTS
                }
                Err(e) => return Err(e),
            },
        };
        for list in lists {
            self.collect(*list, request_id, None, &mut ids, &mut out)?;
        }
        out.retain(|t| filter.matches(t));
        Ok(out)
    }

    /// Page through one list (starting with `first`, page 0, when it was fetched already),
    /// adding the tasks not seen yet.
    fn collect(
        &self,
        list: TaskList,
        request_id: Option<&str>,
        mut first: Option<Vec<PendingTask>>,
        ids: &mut HashSet<String>,
        out: &mut Vec<PendingTask>,
    ) -> Result<(), ApproveError> {
        for page in 0..MAX_PAGES {
            let batch = match first.take() {
                Some(b) => b,
                None => self.fetch_page(list, request_id, page)?,
            };
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
        Ok(())
    }

    /// This approver's pending tasks that pass `filter` (`POST /v1/filteredAllApprovalTask`, or
    /// the per-type lists before TSB 2.0.1, with a fresh timestamp proof and `detailLevel`
    /// `level3`).
    pub fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>, ApproveError> {
        Ok(self.pending(filter)?.into_iter().map(|p| p.task).collect())
    }

    /// Approve a task: `POST /v1/approval` with the signature over the base64-decoded
    /// `approvalToBeSigned`. Any 2xx answer, with any or no body, is success.
    pub fn approve(&self, task: &Task) -> Result<(), ApproveError> {
        let body = self.key.approval_for(task)?;
        self.send("POST", self.url(paths::APPROVAL), Some(&body))
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
        self.send("DELETE", self.url(paths::TASK), Some(&body))
            .map(|_| ())
    }

    /// `GET /v1/request/{id}`. On a TSB with API keys this path belongs to the
    /// `keyOperationToken` role, so an approver's key may be refused (401).
    pub fn request_status(&self, request_id: &str) -> Result<RequestStatus, ApproveError> {
        let mut url = reqwest::Url::parse(&self.url(paths::REQUEST))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyKind;

    /// The TSB's `PagingDto` requires `sortOrder` (S3 `.../dto/tsb/request/PagingDto.java`:
    /// `@NotNull SortOrder sortOrder`, `@Min(1) pageSize`): the value S4 and S2's Python sample
    /// send (audit divergence #1).
    #[test]
    fn task_pages_are_asked_with_a_sort_order() {
        let a = Approver::new("http://127.0.0.1:1", ApproverKey::generate(KeyKind::EcP256));
        let body = serde_json::to_value(a.page_request(Some("r-1"), 3).unwrap()).unwrap();
        assert_eq!(
            body["paging"],
            serde_json::json!({"pageNumber": 3, "pageSize": 25, "sortOrder": "CREATION_DATE_ASC"})
        );
        assert_eq!(body["requestId"], "r-1");
        assert_eq!(body["detailLevel"], "level3");
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
}
