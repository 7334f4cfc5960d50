//! The network checks of one TSB URL: the address (DNS, with a time limit), a TCP connection to
//! each address, and then the plain-http loopback rule or the TLS checks ([`super::tls`]).

use super::report::{Report, Verdict};
use super::Budget;
use crate::config::{is_loopback_host, SlotConfig};
use crate::error::{Error, Unreachable};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The longest a DNS look-up may take.
const DNS_TIMEOUT: Duration = Duration::from_secs(5);
/// The most addresses of one host that are tried.
const MAX_ADDRESSES: usize = 4;

/// The module's remedy for a connection failure.
fn connect_remedy() -> Option<String> {
    Error::Unreachable {
        why: Unreachable::Connect,
        detail: String::new(),
    }
    .remedy()
}

/// The addresses of `host`, as the module's client finds them. Err: the failure line.
fn addresses(host: &str, port: u16, budget: &Budget) -> Result<(Vec<SocketAddr>, String), String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok((
            vec![SocketAddr::new(ip, port)],
            format!("address {ip} (an IP address: no DNS)"),
        ));
    }
    if host == "localhost" {
        // The module's client pins `localhost` to loopback, whatever /etc/hosts or DNS say
        // (`tsb::client`): so does this check.
        return Ok((
            vec![
                SocketAddr::from(([127, 0, 0, 1], port)),
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
            ],
            "localhost: 127.0.0.1 and ::1 (the module asks no DNS for localhost)".into(),
        ));
    }
    let Some(limit) = budget.cap(DNS_TIMEOUT) else {
        return Err("out of time".into());
    };
    // The system resolver has no time limit of its own: it runs on a thread that is left behind
    // when it takes too long (the process ends soon after).
    let (tx, rx) = std::sync::mpsc::channel();
    let name = bare.to_string();
    let started = Instant::now();
    std::thread::Builder::new()
        .name("tsb-doctor-dns".into())
        .spawn(move || {
            let _ = tx.send(
                (name.as_str(), port)
                    .to_socket_addrs()
                    .map(|a| a.collect::<Vec<_>>()),
            );
        })
        .map_err(|e| format!("no thread for the DNS look-up: {e}"))?;
    match rx.recv_timeout(limit) {
        Ok(Ok(a)) if !a.is_empty() => {
            let shown: Vec<String> = a.iter().map(|s| s.ip().to_string()).collect();
            Ok((
                a,
                format!(
                    "DNS: {host} is {} ({} ms)",
                    shown.join(", "),
                    started.elapsed().as_millis()
                ),
            ))
        }
        Ok(Ok(_)) => Err(format!("DNS: {host} has no address")),
        Ok(Err(e)) => Err(format!("DNS: {host}: {e}")),
        Err(_) => Err(format!(
            "DNS: no answer for {host} within {} ms",
            limit.as_millis()
        )),
    }
}

/// Check one URL of `slot`; true when the module could use it (reached, and for https a TLS
/// certificate the module's client accepts).
pub(super) fn check(r: &mut Report, slot: &SlotConfig, url: &str, budget: &Budget) -> bool {
    let at = format!("url {url}");
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(e) => {
            // The config accepted it, so this cannot happen; said rather than assumed.
            r.check(Verdict::Fail, &format!("{at}: not a URL: {e}"), None);
            return false;
        }
    };
    let host = parsed.host_str().unwrap_or_default().to_string();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let https = parsed.scheme() == "https";
    let proxy = https
        .then(|| {
            crate::tsb::client::PROXY_VARS
                .iter()
                .find(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
        })
        .flatten();
    if let Some(var) = proxy {
        // The module's client sends https through that proxy (a CONNECT tunnel with TLS to the
        // TSB inside); this check goes straight to the TSB.
        r.check(
            Verdict::Warn,
            &format!(
                "{at}: {var} is set: the module reaches this URL through that proxy, while the \
                 DNS, TCP and TLS lines below go to the TSB directly"
            ),
            Some(
                "where only the proxy can reach the TSB, trust the credential lines (they go \
                 through the proxy like the module) over the DNS/TCP/TLS lines",
            ),
        );
    }
    let (addrs, found) = match addresses(&host, port, budget) {
        Ok(a) => a,
        Err(e) => {
            r.check(
                Verdict::Fail,
                &format!("{at}: {e}"),
                Some(&format!(
                    "check the host name in the slot's `url` and this machine's DNS \
                     (/etc/resolv.conf){}",
                    if proxy.is_some() {
                        ", or rely on the proxy"
                    } else {
                        ""
                    }
                )),
            );
            return proxy.is_some();
        }
    };
    r.check(Verdict::Ok, &format!("{at}: {found}"), None);
    let mut reached = Vec::new();
    let mut failed = Vec::new();
    for a in addrs.iter().take(MAX_ADDRESSES) {
        let Some(limit) = budget.cap(super::CONNECT_TIMEOUT.min(slot.connect_timeout)) else {
            failed.push(format!("{a}: out of time"));
            break;
        };
        let started = Instant::now();
        match TcpStream::connect_timeout(a, limit) {
            Ok(_) => reached.push((*a, started.elapsed())),
            Err(e) => failed.push(format!("{a}: {e}")),
        }
    }
    let Some((first, _)) = reached.first().copied() else {
        r.check(
            Verdict::Fail,
            &format!("{at}: TCP connect failed: {}", failed.join("; ")),
            connect_remedy().as_deref(),
        );
        return proxy.is_some();
    };
    let took: Vec<String> = reached
        .iter()
        .map(|(a, t)| format!("{a} in {} ms", t.as_millis()))
        .collect();
    if failed.is_empty() || host == "localhost" {
        // `localhost` is both 127.0.0.1 and ::1, and a local emulator or proxy listens on one of
        // them: the module's client tries the other.
        r.check(
            Verdict::Ok,
            &format!("{at}: TCP connect to {}", took.join(", ")),
            None,
        );
    } else {
        r.check(
            Verdict::Warn,
            &format!(
                "{at}: TCP connect to {}, but not to {}",
                took.join(", "),
                failed.join("; ")
            ),
            Some(
                "the module tries the addresses in turn: check the ones that fail (DNS, firewall)",
            ),
        );
    }
    if !https {
        // The config allows http only to a loopback host with allow_http; the client checks the
        // host again, and pins `localhost`. Checked here on what was really connected to.
        let all_loopback = reached.iter().all(|(a, _)| a.ip().is_loopback());
        if all_loopback && is_loopback_host(&host) {
            r.check(
                Verdict::Ok,
                &format!(
                    "{at}: plain http:// to a loopback address, allowed by allow_http (no TLS; \
                     credentials never leave this machine)"
                ),
                None,
            );
            return true;
        }
        r.check(
            Verdict::Fail,
            &format!("{at}: plain http:// to an address that is not loopback"),
            Some("use https:// (plain http is for a local emulator on a loopback address only)"),
        );
        return false;
    }
    let Some(limit) = budget.cap(super::CONNECT_TIMEOUT.min(slot.connect_timeout)) else {
        r.check(
            Verdict::Skip,
            &format!("{at}: TLS not checked: out of time"),
            None,
        );
        return false;
    };
    super::tls::check(r, &at, slot, &host, first, limit) || proxy.is_some()
}
