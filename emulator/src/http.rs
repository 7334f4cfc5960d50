//! A small HTTP/1.1 server on std::net (+ OpenSSL for HTTPS): one thread per connection,
//! keep-alive, Content-Length bodies. Owning the socket is what lets fault injection drop a
//! connection or write a malformed body.

use crate::{api, FaultAction, Shared, TlsFiles};
use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod, SslVersion};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest accepted request body.
pub(crate) const MAX_BODY: usize = 1024 * 1024;
/// Largest accepted request head (request line + headers).
const MAX_HEAD: usize = 64 * 1024;
/// How often an idle connection checks for shutdown.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// An idle keep-alive connection is closed after this long.
const IDLE_LIMIT: Duration = Duration::from_secs(120);

/// A parsed request.
pub(crate) struct HttpRequest {
    pub(crate) method: String,
    /// Path without the query string, percent-encoding kept.
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl HttpRequest {
    /// First header with this name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response to write.
pub(crate) struct HttpResponse {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// Request id created by this call, for the log line.
    pub(crate) request_id: Option<String>,
}

/// Build the HTTPS acceptor (TLS 1.2 minimum).
pub(crate) fn tls_acceptor(files: &TlsFiles) -> io::Result<SslAcceptor> {
    let err =
        |e: openssl::error::ErrorStack| io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(err)?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(err)?;
    b.set_certificate_chain_file(&files.cert).map_err(err)?;
    b.set_private_key_file(&files.key, SslFiletype::PEM)
        .map_err(err)?;
    b.check_private_key().map_err(err)?;
    Ok(b.build())
}

trait Conn: Read + Write + Send {
    fn close(&mut self);
}

impl Conn for TcpStream {
    fn close(&mut self) {
        let _ = self.shutdown(Shutdown::Both);
    }
}

impl Conn for openssl::ssl::SslStream<TcpStream> {
    fn close(&mut self) {
        // Dropping the TCP connection without close_notify, like a crashed peer would.
        let _ = self.get_ref().shutdown(Shutdown::Both);
    }
}

pub(crate) fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    for stream in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // E.g. out of file descriptors: back off instead of spinning.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("tsb-emu-conn".into())
            .spawn(move || {
                let _ = stream.set_nodelay(true);
                // A short read timeout lets an idle connection notice shutdown (see `fill`).
                let conn: Box<dyn Conn> = match &shared.tls {
                    None => {
                        let _ = stream.set_read_timeout(Some(IDLE_POLL));
                        Box::new(stream)
                    }
                    Some(acceptor) => {
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                        match acceptor.accept(stream) {
                            Ok(s) => {
                                let _ = s.get_ref().set_read_timeout(Some(IDLE_POLL));
                                Box::new(s)
                            }
                            Err(_) => return,
                        }
                    }
                };
                serve(&shared, conn);
            });
        // Out of threads: the stream was moved into the failed closure and is closed with it.
        drop(spawned);
    }
}

enum ReadOutcome {
    Request(HttpRequest, bool),
    Closed,
    /// Answer this and close.
    Reject(HttpResponse),
}

fn serve(shared: &Shared, mut conn: Box<dyn Conn>) {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let (req, keep_alive) = match read_request(shared, conn.as_mut(), &mut buf) {
            ReadOutcome::Request(r, k) => (r, k),
            ReadOutcome::Closed => return,
            ReadOutcome::Reject(resp) => {
                let _ = write_response(conn.as_mut(), &resp, false);
                drain(conn.as_mut());
                conn.close();
                return;
            }
        };
        let started = Instant::now();
        let controls = req.path.starts_with("/_emulator");
        // Counted in flight from its arrival until its answer is ready, not while the answer is
        // written: a client that reads the answer and sends its next request on another
        // connection must never be seen with one request too many.
        let in_flight = (!controls).then(|| InFlight::enter(shared));
        if !controls {
            shared.count(&req.method, &req.path);
            let latency = shared.latency_ms.load(Ordering::Relaxed);
            if latency > 0 {
                std::thread::sleep(Duration::from_millis(latency));
            }
        }
        let fault = if controls {
            None
        } else {
            shared.take_fault(&req.method, &req.path)
        };
        if let Some(action) = fault.as_ref().filter(|a| is_transport_fault(a)) {
            let outcome = transport_fault(shared, conn.as_mut(), &req, action);
            log(shared, &req, outcome, started, None);
            if outcome != "redirect" || !keep_alive {
                conn.close();
                return;
            }
            continue;
        }
        let resp = match fault {
            Some(FaultAction::Drop) => {
                log(shared, &req, "dropped", started, None);
                conn.close();
                return;
            }
            Some(FaultAction::Malformed) => HttpResponse {
                status: 200,
                body: br#"{"signature":"MEUCIQ"#.to_vec(),
                request_id: None,
            },
            Some(FaultAction::Respond { status, body }) => HttpResponse {
                status,
                body: body.into_bytes(),
                request_id: None,
            },
            Some(FaultAction::Status { status, error_code }) => {
                let code = error_code.unwrap_or(tsb_models::codes::IN_HSM);
                api::ApiError::new(code, "fault injected by the emulator")
                    .with_status(status)
                    .into_response()
            }
            Some(FaultAction::Delay { ms }) => {
                std::thread::sleep(Duration::from_millis(ms));
                api::dispatch(shared, &req)
            }
            _ => api::dispatch(shared, &req),
        };
        drop(in_flight);
        log(
            shared,
            &req,
            &resp.status.to_string(),
            started,
            resp.request_id.as_deref(),
        );
        if write_response(conn.as_mut(), &resp, keep_alive).is_err() || !keep_alive {
            conn.close();
            return;
        }
    }
}

/// One `/v1` request being handled: counted in [`Shared::in_flight`] and in its high-water mark
/// while it lives.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> InFlight<'a> {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The faults that misbehave at the HTTP level (see [`transport_fault`]).
fn is_transport_fault(a: &FaultAction) -> bool {
    matches!(
        a,
        FaultAction::Redirect { .. }
            | FaultAction::Flood { .. }
            | FaultAction::Blackhole
            | FaultAction::HandleThenDrop
    )
}

/// Play a hostile or broken server: redirect, flood, never answer, or handle and then lose the
/// answer. Returns the word for the request log; only after "redirect" may the connection be
/// reused.
fn transport_fault(
    shared: &Shared,
    conn: &mut dyn Conn,
    req: &HttpRequest,
    action: &FaultAction,
) -> &'static str {
    match action {
        FaultAction::Redirect { status, location } => {
            // Header injection through the location would only fool the test that asked for it,
            // but keep the head well-formed anyway.
            let location: String = location.chars().filter(|c| !c.is_control()).collect();
            let head = format!(
                "HTTP/1.1 {status} Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
            );
            let _ = conn.write_all(head.as_bytes()).and_then(|_| conn.flush());
            "redirect"
        }
        FaultAction::Flood { bytes, chunked } => {
            let framing = if *chunked {
                "Transfer-Encoding: chunked".to_string()
            } else {
                format!("Content-Length: {bytes}")
            };
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{framing}\r\n\r\n");
            if conn.write_all(head.as_bytes()).is_err() {
                return "flood";
            }
            // A JSON string that opens and never closes: only a limit ends reading it.
            let prefix: &[u8] = br#"{"signature":""#;
            let block = vec![b'A'; 64 * 1024];
            let mut left = *bytes;
            let mut first = true;
            while left > 0 && !shared.shutdown.load(Ordering::SeqCst) {
                let n = left.min(block.len() as u64) as usize;
                let mut data = std::borrow::Cow::Borrowed(&block[..n]);
                if first {
                    let p = prefix.len().min(n);
                    data.to_mut()[..p].copy_from_slice(&prefix[..p]);
                    first = false;
                }
                let ok = if *chunked {
                    conn.write_all(format!("{n:x}\r\n").as_bytes())
                        .and_then(|_| conn.write_all(&data))
                        .and_then(|_| conn.write_all(b"\r\n"))
                } else {
                    conn.write_all(&data)
                };
                if ok.is_err() {
                    // The client stopped reading and closed: what a bounded reader does.
                    return "flood cut by client";
                }
                left -= n as u64;
            }
            if *chunked {
                let _ = conn.write_all(b"0\r\n\r\n");
            }
            let _ = conn.flush();
            "flood"
        }
        FaultAction::Blackhole => {
            let mut tmp = [0u8; 4096];
            loop {
                match conn.read(&mut tmp) {
                    Ok(0) => return "blackholed",
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                        ) =>
                    {
                        if shared.shutdown.load(Ordering::SeqCst) {
                            return "blackholed";
                        }
                    }
                    Err(_) => return "blackholed",
                }
            }
        }
        FaultAction::HandleThenDrop => {
            let _ = api::dispatch(shared, req);
            "handled, answer dropped"
        }
        _ => "",
    }
}

/// Read and discard what the client is still sending (e.g. an oversized body) for a short while
/// before closing: closing with unread data makes the kernel send a RST, which can destroy the
/// error response before the client reads it.
fn drain(conn: &mut dyn Conn) {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut tmp = [0u8; 16 * 1024];
    let mut total = 0usize;
    while Instant::now() < deadline && total < 16 * MAX_BODY {
        match conn.read(&mut tmp) {
            Ok(0) => return,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Nothing arrived within the poll interval (or the peer is gone): stop.
            Err(_) => return,
        }
    }
}

fn log(
    shared: &Shared,
    req: &HttpRequest,
    status: &str,
    started: Instant,
    request_id: Option<&str>,
) {
    if !shared.cfg.log_requests {
        return;
    }
    let ms = started.elapsed().as_millis();
    // Never bodies, tokens or API keys: only method, path, status, time and the request id.
    match request_id {
        Some(id) => eprintln!("{} {} {} {}ms {}", req.method, req.path, status, ms, id),
        None => eprintln!("{} {} {} {}ms", req.method, req.path, status, ms),
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn write_response(conn: &mut dyn Conn, resp: &HttpResponse, keep_alive: bool) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        resp.status,
        reason_phrase(resp.status)
    );
    if !resp.body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    let mut out = head.into_bytes();
    out.extend_from_slice(&resp.body);
    conn.write_all(&out)?;
    conn.flush()
}

/// Read into `buf`; `Ok(0)` is EOF. Timeouts while idle are retried unless shutting down.
fn fill(
    shared: &Shared,
    conn: &mut dyn Conn,
    buf: &mut Vec<u8>,
    idle_since: &mut Instant,
) -> io::Result<usize> {
    let mut tmp = [0u8; 16 * 1024];
    loop {
        match conn.read(&mut tmp) {
            Ok(n) => {
                buf.extend_from_slice(&tmp[..n]);
                *idle_since = Instant::now();
                return Ok(n);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if shared.shutdown.load(Ordering::SeqCst) || idle_since.elapsed() > IDLE_LIMIT {
                    return Ok(0);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn reject(status: u16, code: i64, msg: &str) -> ReadOutcome {
    ReadOutcome::Reject(
        api::ApiError::new(code, msg)
            .with_status(status)
            .into_response(),
    )
}

fn read_request(shared: &Shared, conn: &mut dyn Conn, buf: &mut Vec<u8>) -> ReadOutcome {
    use tsb_models::codes::VALIDATION_FAILED;
    let mut idle_since = Instant::now();
    let (head_len, method, path, keep_alive, content_length, expect_continue, headers) = loop {
        let mut hdrs = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut hdrs);
        match parsed.parse(buf) {
            Ok(httparse::Status::Complete(n)) => {
                let method = parsed.method.unwrap_or("").to_string();
                let target = parsed.path.unwrap_or("/");
                let path = target.split('?').next().unwrap_or("/").to_string();
                let version = parsed.version.unwrap_or(1);
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).trim().to_string(),
                        )
                    })
                    .collect();
                let get = |name: &str| {
                    headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.clone())
                };
                if get("transfer-encoding")
                    .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
                {
                    return reject(
                        411,
                        VALIDATION_FAILED,
                        "chunked request bodies are not supported; send Content-Length",
                    );
                }
                let content_length = match get("content-length") {
                    None => 0,
                    Some(v) => match v.parse::<usize>() {
                        Ok(n) => n,
                        Err(_) => return reject(400, VALIDATION_FAILED, "invalid Content-Length"),
                    },
                };
                if content_length > MAX_BODY {
                    return reject(413, VALIDATION_FAILED, "request body larger than 1 MiB");
                }
                let conn_hdr = get("connection")
                    .map(|v| v.to_ascii_lowercase())
                    .unwrap_or_default();
                let keep_alive = if version == 0 {
                    conn_hdr.contains("keep-alive")
                } else {
                    !conn_hdr.contains("close")
                };
                let expect = get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
                break (n, method, path, keep_alive, content_length, expect, headers);
            }
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD {
                    return reject(431, VALIDATION_FAILED, "request head too large");
                }
                match fill(shared, conn, buf, &mut idle_since) {
                    Ok(0) | Err(_) => return ReadOutcome::Closed,
                    Ok(_) => {}
                }
            }
            Err(httparse::Error::TooManyHeaders) => {
                return reject(431, VALIDATION_FAILED, "too many headers")
            }
            Err(_) => return reject(400, VALIDATION_FAILED, "malformed HTTP request"),
        }
    };
    buf.drain(..head_len);
    if expect_continue && buf.len() < content_length {
        let _ = conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    while buf.len() < content_length {
        match fill(shared, conn, buf, &mut idle_since) {
            Ok(0) | Err(_) => return ReadOutcome::Closed,
            Ok(_) => {}
        }
    }
    let body: Vec<u8> = buf.drain(..content_length).collect();
    ReadOutcome::Request(
        HttpRequest {
            method,
            path,
            headers,
            body,
        },
        keep_alive,
    )
}
