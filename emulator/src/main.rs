//! `tsb-emulator`: run a local TSB until SIGTERM/SIGINT. See `--help` and emulator/README.md.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tsb_emulator::{Emulator, EmulatorConfig, Role, TlsFiles, TsbVersion};

const HELP: &str = "\
tsb-emulator: a local Securosys TSB (REST API + Smart Key Attributes approvals)

USAGE: tsb-emulator [OPTIONS]

OPTIONS:
  --listen ADDR          address to bind (default 127.0.0.1:8080; port 0 picks a free port)
  --tls-cert FILE        serve HTTPS with this PEM certificate chain (needs --tls-key)
  --tls-key FILE         PEM private key of --tls-cert
  --bearer-token TOKEN   require 'Authorization: Bearer TOKEN' on /v1 (except approver paths);
                         also read from TSB_EMULATOR_BEARER_TOKEN
  --api-key ROLE=KEY     require X-API-KEY on the paths of ROLE (repeatable; roles:
                         keyManagementToken, keyOperationToken, approverToken, serviceToken,
                         approverKeyManagementToken)
  --state FILE           persist keys, certificates, requests and tasks in FILE (JSON)
  --max-timestamp-future SECS
                         accept approver timestamps up to SECS ahead of this host's clock
                         (default 0, the TSB's maxFutureTimestampDiffApprovalClient default)
  --max-timestamp-age SECS
                         accept approver timestamps up to SECS old (default 600, the TSB's
                         maxTimestampDiffApprovalClient)
  --tsb-version VERSION  behave as this TSB version: 1.18, 2.0, 2.0.1, 2.1, 2.1.1, 2.2, 2.3
                         (default 2.2, the newest release; 2.3 = the S6 DTO shapes,
                         unconfirmed; see emulator/README.md)
  --scheduler-interval-ms MS
                         run the request scheduler every MS milliseconds: approved requests
                         execute and timed-out ones expire only then (the TSB's
                         hsmRequestsTimerServiceInterval, 60000 in its template); default 0:
                         at once on every read
  --fetch-result-once    a request's result can be read only once (TSB >= 2.1.0 option)
  --allowed-request-certificate FILE
                         require requests signed by this certificate's key (PEM or DER;
                         repeatable; TSB >= 2.2.0 allowedRequestCertificates)
  --test-controls        serve the /_emulator/* test-control endpoints
  --quiet                do not log requests on stderr
  --help                 print this help

The first line on stdout is 'listening on http://HOST:PORT' (https with TLS).
";

/// A whole number of seconds given to `flag`.
fn seconds(flag: &str, v: &str) -> Result<Duration, String> {
    v.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("{flag} {v}: not a whole number of seconds"))
}

/// A certificate file (PEM or DER) as DER.
fn certificate_der(path: &str) -> Result<Vec<u8>, String> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let cert = openssl::x509::X509::from_pem(&data)
        .or_else(|_| openssl::x509::X509::from_der(&data))
        .map_err(|_| "not a PEM or DER certificate".to_string())?;
    cert.to_der().map_err(|e| e.to_string())
}

fn parse_args(args: &[String]) -> Result<EmulatorConfig, String> {
    let mut cfg = EmulatorConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        log_requests: true,
        bearer_token: std::env::var("TSB_EMULATOR_BEARER_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        ..EmulatorConfig::default()
    };
    let (mut cert, mut key) = (None, None);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        // Accept both "--flag value" and "--flag=value".
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--help" | "-h" => return Err(String::new()),
            "--listen" => {
                let v = value()?;
                cfg.listen = v.parse().map_err(|e| format!("--listen {v}: {e}"))?;
            }
            "--tls-cert" => cert = Some(PathBuf::from(value()?)),
            "--tls-key" => key = Some(PathBuf::from(value()?)),
            "--bearer-token" => cfg.bearer_token = Some(value()?),
            "--api-key" => {
                let v = value()?;
                let (role, k) = v.split_once('=').ok_or("--api-key needs ROLE=KEY")?;
                let role = Role::from_name(role)
                    .ok_or_else(|| format!("--api-key: unknown role {role}"))?;
                if k.is_empty() {
                    return Err("--api-key: empty key".into());
                }
                cfg.api_keys.push((role, k.to_string()));
            }
            "--state" => cfg.state_file = Some(PathBuf::from(value()?)),
            "--max-timestamp-future" => cfg.max_timestamp_future = seconds(flag, &value()?)?,
            "--max-timestamp-age" => cfg.max_timestamp_age = seconds(flag, &value()?)?,
            "--tsb-version" => {
                let v = value()?;
                cfg.tsb_version = TsbVersion::parse(&v)
                    .ok_or_else(|| format!("--tsb-version {v}: not a version like 2.1 or 2.1.1"))?;
            }
            "--scheduler-interval-ms" => {
                let v = value()?;
                cfg.scheduler_interval = v
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| format!("--scheduler-interval-ms {v}: not a whole number"))?;
            }
            "--fetch-result-once" => cfg.fetch_result_once = true,
            "--allowed-request-certificate" => {
                let path = value()?;
                cfg.allowed_request_certificates.push(
                    certificate_der(&path)
                        .map_err(|e| format!("--allowed-request-certificate {path}: {e}"))?,
                );
            }
            "--test-controls" => cfg.test_controls = true,
            "--quiet" => cfg.log_requests = false,
            other => return Err(format!("unknown argument {other} (see --help)")),
        }
    }
    cfg.tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok(cfg)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match parse_args(&args) {
        Ok(cfg) => cfg,
        Err(e) if e.is_empty() => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("tsb-emulator: {e}");
            return ExitCode::from(2);
        }
    };
    let emu = match Emulator::start(cfg) {
        Ok(emu) => emu,
        Err(e) => {
            eprintln!("tsb-emulator: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "listening on {}", emu.base_url());
    let _ = out.flush();
    // Serve until a signal ends the process: the default SIGTERM/SIGINT action terminates it,
    // and the state file is written atomically after every mutation, so nothing is lost.
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_every_flag() {
        let cfg = parse_args(&args(&[
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            "serviceToken=abc",
            "--bearer-token=t",
            "--state",
            "/tmp/x.json",
            "--test-controls",
            "--quiet",
            "--max-timestamp-future",
            "30",
            "--max-timestamp-age=120",
            "--tsb-version",
            "2.1",
            "--scheduler-interval-ms=60000",
            "--fetch-result-once",
        ]))
        .unwrap();
        assert_eq!(cfg.tsb_version, TsbVersion::V2_1_0);
        assert_eq!(cfg.scheduler_interval, Duration::from_secs(60));
        assert!(cfg.fetch_result_once);
        assert!(parse_args(&args(&["--tsb-version", "two"])).is_err());
        assert!(parse_args(&args(&["--allowed-request-certificate", "/nonexistent"])).is_err());
        assert_eq!(cfg.max_timestamp_future, Duration::from_secs(30));
        assert_eq!(cfg.max_timestamp_age, Duration::from_secs(120));
        let default = parse_args(&[]).unwrap();
        assert_eq!(default.tsb_version, TsbVersion::LATEST_RELEASE);
        assert_eq!(default.scheduler_interval, Duration::ZERO);
        assert_eq!(default.max_timestamp_future, Duration::ZERO);
        assert_eq!(default.max_timestamp_age, Duration::from_secs(600));
        assert!(parse_args(&args(&["--max-timestamp-age", "-1"])).is_err());
        assert_eq!(cfg.listen.port(), 0);
        assert_eq!(cfg.api_keys, vec![(Role::Service, "abc".to_string())]);
        assert_eq!(cfg.bearer_token.as_deref(), Some("t"));
        assert!(cfg.test_controls && !cfg.log_requests);
        assert!(parse_args(&args(&["--tls-cert", "a"])).is_err());
        assert!(parse_args(&args(&["--api-key", "nope=1"])).is_err());
        assert!(parse_args(&args(&["--listen"])).is_err());
        assert!(parse_args(&args(&["--bogus"])).is_err());
        assert_eq!(parse_args(&args(&["--help"])).unwrap_err(), "");
    }
}
