//! `tsb-pkcs11-doctor`: the first-contact check for the person configuring the module against a
//! TSB. It reads the configuration with the module's own loader (same files, same search order,
//! same environment overrides, same validation and messages) and reports, one line per check
//! with a verdict (OK, WARN, FAIL; SKIP for what was not checked) and, under each WARN and FAIL,
//! one line of what to do:
//!
//! 1. the configuration: which file (or the environment), valid, how many slots;
//! 2. per slot, per URL: the address (DNS), a TCP connection, and the plain-http loopback rule
//!    or TLS (trust with the slot's `ca_file` and the webpki roots, host name, validity dates;
//!    subject and issuer shown) ([`network`], [`tls`]);
//! 3. the credentials: a harmless call per API-key role, each key on its own, and the bearer
//!    token ([`credentials`]);
//! 4. the TSB's version as the module will know it, and what the module does because of it
//!    ([`version`]);
//! 5. the keys the module shows: type, size or curve, uses, approvals and policy ([`keys`]);
//! 6. the requests the journal remembers, with their age and what to do ([`journal`]).
//!
//! Exit code: 0 when every check is OK, 1 with warnings only, 2 with a failure (a config error
//! included), 64 for a wrong command line. Each network step has its own time limit and the whole
//! run a total one (`--timeout`, 60 s by default). No secret is ever written: every line is
//! redacted against the slot's token, API keys and key passwords ([`report`]).

mod credentials;
mod journal;
mod keys;
mod network;
mod report;
mod tls;
mod version;
mod x509;

use crate::config::Config;
use crate::log::Level;
use report::{Report, Verdict};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The longest a TCP connect or a TLS handshake may take (the slot's `connect_timeout_ms` when
/// shorter).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest one HTTP call may take (the slot's `request_timeout_ms` when shorter).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The default of `--timeout`.
const DEFAULT_TOTAL: Duration = Duration::from_secs(60);
/// The default of `--keys`.
const DEFAULT_KEYS: usize = 20;

const USAGE: &str = "\
usage: tsb-pkcs11-doctor [--config FILE] [--keys N] [--timeout SECONDS] [--debug]

Checks the configuration tsb-pkcs11 (libtsb_pkcs11.so) reads, against the TSB it names: the
config file, DNS, TCP and TLS to each URL, the credentials (a harmless call per role), the TSB's
version, the keys the module shows, and the requests its journal remembers. One line per check:
OK, WARN or FAIL (with what to do), SKIP for what was not checked.

The configuration is found as the module finds it: TSB_PKCS11_CONFIG, then
$XDG_CONFIG_HOME/tsb-pkcs11/config.json (~/.config/...), then /etc/tsb-pkcs11/config.json, or
with no file TSB_PKCS11_URL and the other TSB_PKCS11_* variables, which also override the first
slot of a file. Run it as the user (and with the environment) that runs the signing tools.

  --config FILE      check FILE (the same as TSB_PKCS11_CONFIG=FILE)
  --keys N           list at most N keys per slot in detail (default 20)
  --timeout SECONDS  give up on what is left after this long (default 60)
  --debug            the module's debug log on stderr (each call: method, path, status)

Exit code: 0 every check OK, 1 warnings only, 2 a failure, 64 a wrong command line.
No token, API key, PIN or key password is ever printed.
";

/// The time the whole run may take.
pub(crate) struct Budget {
    deadline: Instant,
}

impl Budget {
    fn new(total: Duration) -> Budget {
        Budget {
            deadline: crate::util::instant_after(Instant::now(), total),
        }
    }

    /// When the run gives up.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// `d`, or what is left of the run when that is less; None when nothing is left.
    pub(crate) fn cap(&self, d: Duration) -> Option<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        (!left.is_zero()).then(|| d.min(left))
    }

    /// Whether the run's time is up.
    pub(crate) fn out_of_time(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

struct Options {
    config: Option<OsString>,
    keys: usize,
    total: Duration,
    debug: bool,
}

/// Parse the command line. Err: the message for a wrong one; Ok(None): help or version printed.
fn options(args: &[OsString], out: &mut dyn Write) -> Result<Option<Options>, String> {
    let mut o = Options {
        config: None,
        keys: DEFAULT_KEYS,
        total: DEFAULT_TOTAL,
        debug: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(OsString::from(v))),
            _ => (a.to_string(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let number = |name: &str, v: OsString| {
            v.to_string_lossy()
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{name}: expected a whole number, got {:?}", v))
        };
        match flag.as_str() {
            "--config" => o.config = Some(value("--config")?),
            "--keys" => {
                let v = value("--keys")?;
                o.keys = usize::try_from(number("--keys", v)?).unwrap_or(usize::MAX);
            }
            "--timeout" => {
                let v = value("--timeout")?;
                let s = number("--timeout", v)?;
                if s == 0 {
                    return Err("--timeout: at least 1 second".into());
                }
                o.total = Duration::from_secs(s);
            }
            "--debug" => o.debug = true,
            "-h" | "--help" => {
                let _ = out.write_all(USAGE.as_bytes());
                return Ok(None);
            }
            "-V" | "--version" => {
                let _ = writeln!(out, "tsb-pkcs11-doctor {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(o))
}

/// Run `tsb-pkcs11-doctor` with its command-line arguments (without the program name), writing
/// the report to `out`, and return the process's exit code: 0 when every check is OK, 1 with
/// warnings only, 2 with a failure, 64 for a wrong command line. Reads the module's
/// configuration from the files and the environment exactly as the module does.
pub fn run(args: &[OsString], out: &mut dyn Write) -> i32 {
    let opts = match options(args, out) {
        Ok(Some(o)) => o,
        Ok(None) => return report::EXIT_OK,
        Err(e) => {
            let _ = writeln!(out, "tsb-pkcs11-doctor: {e}\n\n{USAGE}");
            return report::EXIT_USAGE;
        }
    };
    // The module's own log lines would mix with the report: off, unless asked for (never a
    // secret in them either: the module logs no header or body).
    crate::log::set_level(opts.debug.then_some(Level::Debug));
    if let Some(c) = &opts.config {
        // The one way to name a file that the module's loader knows; nothing else runs yet.
        std::env::set_var("TSB_PKCS11_CONFIG", c);
    }
    let budget = Budget::new(opts.total);
    let mut r = Report::new(out);
    r.title(&format!(
        "tsb-pkcs11-doctor {}: the configuration of tsb-pkcs11 and the TSB it names",
        env!("CARGO_PKG_VERSION")
    ));
    let Some(config) = config_step(&mut r, opts.config.is_some()) else {
        return r.finish();
    };
    let mut journals: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for (n, slot) in config.slots.iter().enumerate() {
        slot_steps(&mut r, n, slot, &opts, &budget, &mut journals);
    }
    r.finish()
}

/// The configuration, loaded by the module's loader; None after a FAIL line. `flag`: the file
/// was named with `--config` (which set TSB_PKCS11_CONFIG).
fn config_step(r: &mut Report, flag: bool) -> Option<Config> {
    // Names only: the values may be secrets (TSB_PKCS11_TOKEN).
    let set: Vec<String> = std::env::vars_os()
        .filter(|(_, v)| !v.is_empty())
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with("TSB_PKCS11_") && !(flag && k == "TSB_PKCS11_CONFIG"))
        .collect();
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            let text = e.to_string();
            let fix = if text.starts_with("no configuration") {
                "copy /usr/share/doc/tsb-pkcs11/examples/config.json (or packaging/config.example.json) \
                 to /etc/tsb-pkcs11/config.json and edit it, or set TSB_PKCS11_CONFIG"
            } else {
                "correct what the line names (README, \"Configuration\"): the module's \
                 C_Initialize fails with this same line"
            };
            r.check(Verdict::Fail, &format!("config: {text}"), Some(fix));
            return None;
        }
    };
    for s in &config.slots {
        for secret in s
            .token
            .iter()
            .chain(s.api_keys.values().flatten())
            .chain(s.key_password.iter())
            .chain(s.key_passwords.values())
        {
            r.never_show(secret.expose());
        }
    }
    let how = if flag {
        "named by --config"
    } else if std::env::var_os("TSB_PKCS11_CONFIG").is_some_and(|v| !v.is_empty()) {
        "named by TSB_PKCS11_CONFIG"
    } else if config.source == "environment" {
        "no file: the slot comes from TSB_PKCS11_URL and the other TSB_PKCS11_* variables"
    } else {
        "the first that exists of $XDG_CONFIG_HOME/tsb-pkcs11/config.json (or \
         ~/.config/tsb-pkcs11/config.json) and /etc/tsb-pkcs11/config.json"
    };
    r.check(
        Verdict::Ok,
        &format!(
            "config: {} ({how}): valid, {} slot{}",
            config.source,
            config.slots.len(),
            if config.slots.len() == 1 { "" } else { "s" }
        ),
        None,
    );
    if !set.is_empty() {
        r.detail(&format!(
            "set in the environment (values not shown): {}",
            set.join(", ")
        ));
    }
    if config.forget_unknown {
        r.check(
            Verdict::Warn,
            "TSB_PKCS11_FORGET_UNKNOWN is set: every C_Initialize forgets the outcome-unknown \
             markers, so an operation whose request may exist is asked of the approvers again",
            Some("set it for the one run after the approvers' list was checked, then unset it"),
        );
    }
    Some(config)
}

/// The checks of slot `n`.
fn slot_steps(
    r: &mut Report,
    n: usize,
    slot: &crate::config::SlotConfig,
    opts: &Options,
    budget: &Budget,
    journals: &mut BTreeMap<PathBuf, usize>,
) {
    r.heading(&format!(
        "slot {n} \"{}\": {} URL{}",
        x509::printable(&slot.label),
        slot.urls.len(),
        if slot.urls.len() == 1 {
            ""
        } else {
            "s (failover in this order)"
        }
    ));
    let mut usable = Vec::new();
    for url in &slot.urls {
        if budget.out_of_time() {
            r.check(
                Verdict::Skip,
                &format!("url {url}: not checked: out of time"),
                None,
            );
            continue;
        }
        if network::check(r, slot, url, budget) {
            usable.push(url.clone());
        }
    }
    if usable.is_empty() {
        r.check(
            Verdict::Skip,
            "credentials, TSB version and keys: not checked: no URL of the slot can be used",
            None,
        );
    } else if slot.pin_is_token && slot.token.is_none() {
        r.check(
            Verdict::Warn,
            "credentials, TSB version and keys: not checked: the bearer token is the PIN given \
             to C_Login (pin_is_token), and the TSB answers nothing without it",
            Some(
                "to check them, run with the token for once: TSB_PKCS11_TOKEN_FILE=/path/to/jwt \
                 tsb-pkcs11-doctor",
            ),
        );
    } else {
        let learned = credentials::check(r, slot, &usable, budget);
        version::check(r, slot, learned.version.as_ref());
        match learned.labels {
            Some(labels) => {
                let client = credentials::client(slot, &usable, slot.api_keys.clone(), budget);
                keys::check(r, slot, &client, &labels, opts.keys, budget);
            }
            None => r.check(
                Verdict::Skip,
                "keys: not read (GET /v1/key was not answered: see above)",
                None,
            ),
        }
    }
    match &slot.journal {
        None => r.check(
            Verdict::Ok,
            "journal: none configured (a request still pending after approval_timeout_s is \
             remembered by its process only)",
            None,
        ),
        Some(p) => match journals.get(p) {
            Some(first) => r.check(
                Verdict::Ok,
                &format!(
                    "journal {}: shared with slot {first}, see there",
                    p.display()
                ),
                None,
            ),
            None => {
                journals.insert(p.clone(), n);
                journal::check(r, p);
            }
        },
    }
}
