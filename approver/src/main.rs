//! `tsb-approve`: headless approver for Securosys TSB Smart Key Attributes requests.
//!
//! A thin command line over the `tsb_approve` library. Arguments are parsed by hand (the surface
//! is small) into a [`Cmd`], which is then run. Exit codes: 0 ok, 1 operational failure, 2 usage.

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tsb_approve::{
    canonical_operation, sanitize, ApproveError, Approver, ApproverKey, Event, KeyKind,
    PendingTask, TaskFilter, DEFAULT_POLL,
};

const MAIN_HELP: &str = "\
tsb-approve: headless approver for Securosys TSB Smart Key Attributes (SKA) requests

USAGE:
    tsb-approve <COMMAND> [OPTIONS]

COMMANDS:
    keygen    generate an approver key, print its public key for a policy
    pubkey    print the public key (base64 SubjectPublicKeyInfo) of the approver key
    list      list this approver's pending tasks
    approve   approve a task (by task id or request id)
    reject    reject a task (by task id or request id)
    watch     watch for tasks; with --auto-approve, approve them as they appear
    help      show help of a command: tsb-approve help <COMMAND>

COMMON OPTIONS (list, approve, reject, watch; pubkey takes --key only):
    --url URL          TSB base URL, e.g. https://sbx-rest-api.cloudshsm.com   [env TSB_URL]
    --key FILE         approver private key, PEM (RSA, EC P-256, Ed25519)      [env TSB_APPROVER_KEY,
                       which may also hold the PEM text itself]
    --api-key KEY      X-API-KEY of the approverToken role                     [env TSB_APPROVER_API_KEY]
                       (prefer the environment: arguments are visible to other users)
    --ca-file FILE     extra trusted CA certificate(s), PEM; TLS is always verified
    -h, --help         help

EXIT CODES: 0 ok, 1 operational failure, 2 usage error.
";

const KEYGEN_HELP: &str = "\
tsb-approve keygen: generate an approver key

USAGE:
    tsb-approve keygen --type rsa|ec|ed25519 --out FILE [--force]

Writes the private key (PKCS#8 PEM, file mode 0600) to FILE and prints the public key (base64 DER
SubjectPublicKeyInfo, one line) on stdout: put that string into the `value` of a `public_key`
approval of the key's SKA policy. An existing FILE is not overwritten unless --force is given.

    --type T     rsa (RSA 2048), ec (P-256) or ed25519
    --out FILE   where to write the private key
    --force      overwrite FILE
";

const PUBKEY_HELP: &str = "\
tsb-approve pubkey: print the approver's public key

USAGE:
    tsb-approve pubkey [--key FILE]

Prints the base64 DER SubjectPublicKeyInfo of the key given by --key or TSB_APPROVER_KEY, exactly
the string that names this approver in an SKA policy.
";

const LIST_HELP: &str = "\
tsb-approve list: list this approver's pending tasks

USAGE:
    tsb-approve list [--key-label LABEL] [--operation OP] [COMMON OPTIONS]

Prints a table: task id, request id (- when the server does not tell it), key label, operation,
and metadata (decoded when it is base64 of UTF-8 text).

    --key-label LABEL  only tasks on this key (exact or case-insensitive match)
    --operation OP     only this operation: Sign, Decrypt, CertificateSigningRequest, Certificate,
                       SelfSignCertificate, Block, UnBlock, Modify (any case)
";

const APPROVE_HELP: &str = "\
tsb-approve approve: approve one task

USAGE:
    tsb-approve approve ID [COMMON OPTIONS]

ID is a task id (see `list`), or the id of the request (as returned by /v1/sign) whose task of
this approver is meant. Prints one line saying what was approved.
";

const REJECT_HELP: &str = "\
tsb-approve reject: reject one task

USAGE:
    tsb-approve reject ID [COMMON OPTIONS]

Deletes this approver's task (DELETE /v1/task), which lists the approver in the request's
`rejectedBy`. ID is a task id or a request id, as for `approve`.
";

const WATCH_HELP: &str = "\
tsb-approve watch: watch for tasks, optionally approving them

USAGE:
    tsb-approve watch [--auto-approve] [--key-label LABEL] [--operation OP] [--count N]
                      [--timeout SECS] [--poll-ms MS] [COMMON OPTIONS]

With --auto-approve, approves each matching task once as it appears and prints
`approved task <id> (<operation> on <label>)`. Without it, prints each new matching task.

    --auto-approve     approve matching tasks
    --key-label LABEL  only tasks on this key (exact or case-insensitive match)
    --operation OP     only this operation (see `tsb-approve help list`)
    --count N          exit 0 after N tasks approved (or seen, without --auto-approve)
    --timeout SECS     give up after SECS seconds: exit 1 if --count was not reached, else 0
    --poll-ms MS       poll interval in milliseconds (default 250)

Without --count and --timeout it runs until killed.
";

/// A usage error: printed with a hint, exit code 2.
#[derive(Debug, PartialEq, Eq)]
struct Usage(String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the approver key comes from.
#[derive(Clone, PartialEq, Eq)]
enum KeySource {
    File(PathBuf),
    /// PEM text from `TSB_APPROVER_KEY` (CI secrets are often variables, not files).
    Pem(String),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(p) => write!(f, "File({})", p.display()),
            KeySource::Pem(_) => f.write_str("Pem(***)"),
        }
    }
}

impl KeySource {
    fn load(&self) -> Result<ApproverKey, ApproveError> {
        match self {
            KeySource::File(p) => {
                let key = ApproverKey::from_pem_file(p)?;
                warn_if_shared(p);
                Ok(key)
            }
            KeySource::Pem(pem) => ApproverKey::from_pem(pem.as_bytes()).map_err(|e| match e {
                ApproveError::Key(m) => ApproveError::Key(format!("TSB_APPROVER_KEY: {m}")),
                other => other,
            }),
        }
    }
}

/// Warn (like ssh does, but without refusing) when others may read the private key file.
fn warn_if_shared(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            if m.permissions().mode() & 0o077 != 0 {
                eprintln!(
                    "tsb-approve: warning: {} is accessible by other users; `chmod 600` it",
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Connection settings shared by the commands that talk to the TSB.
#[derive(Clone, PartialEq, Eq)]
struct Conn {
    url: String,
    key: KeySource,
    api_key: Option<String>,
    ca_file: Option<PathBuf>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("url", &self.url)
            .field("key", &self.key)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
enum Cmd {
    Help(&'static str),
    Version,
    Keygen {
        kind: KeyKind,
        out: PathBuf,
        force: bool,
    },
    Pubkey {
        key: KeySource,
    },
    List {
        conn: Conn,
        filter: TaskFilter,
    },
    Approve {
        conn: Conn,
        id: String,
    },
    Reject {
        conn: Conn,
        id: String,
    },
    Watch {
        conn: Conn,
        filter: TaskFilter,
        auto_approve: bool,
        count: Option<usize>,
        timeout: Option<Duration>,
        poll: Duration,
    },
}

/// Options that take a value.
const VALUE_FLAGS: [&str; 11] = [
    "--url",
    "--key",
    "--api-key",
    "--ca-file",
    "--type",
    "--out",
    "--key-label",
    "--operation",
    "--count",
    "--timeout",
    "--poll-ms",
];
/// Options without a value.
const BOOL_FLAGS: [&str; 5] = ["--force", "--auto-approve", "--help", "-h", "--version"];

struct Raw {
    flags: Vec<(String, Option<String>)>,
    positional: Vec<String>,
}

impl Raw {
    fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, _)| n == name)
    }

    /// Last value of a flag (a later one overrides an earlier one).
    fn value(&self, name: &str) -> Option<String> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    }
}

fn split(args: &[String]) -> Result<Raw, Usage> {
    let mut flags = Vec::new();
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            positional.extend(it.by_ref().cloned());
            break;
        }
        if a.starts_with('-') && a.len() > 1 {
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
                _ => (a.clone(), None),
            };
            if VALUE_FLAGS.contains(&name.as_str()) {
                let v = match inline {
                    Some(v) => v,
                    None => it
                        .next()
                        .cloned()
                        .ok_or_else(|| Usage(format!("{name} needs a value")))?,
                };
                flags.push((name, Some(v)));
            } else if BOOL_FLAGS.contains(&name.as_str()) {
                if inline.is_some() {
                    return Err(Usage(format!("{name} takes no value")));
                }
                flags.push((name, None));
            } else {
                return Err(Usage(format!("unknown option {name}")));
            }
        } else {
            positional.push(a.clone());
        }
    }
    Ok(Raw { flags, positional })
}

fn help_for(cmd: &str) -> Option<&'static str> {
    Some(match cmd {
        "keygen" => KEYGEN_HELP,
        "pubkey" => PUBKEY_HELP,
        "list" => LIST_HELP,
        "approve" => APPROVE_HELP,
        "reject" => REJECT_HELP,
        "watch" => WATCH_HELP,
        _ => return None,
    })
}

/// Parse the arguments (without the program name); `env` looks up environment variables.
fn parse(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Cmd, Usage> {
    // An empty variable counts as unset, as shells make it easy to export one by accident.
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    let raw = split(args)?;
    let Some(cmd) = raw.positional.first().map(String::as_str) else {
        if raw.has("--version") {
            return Ok(Cmd::Version);
        }
        if raw.has("--help") || raw.has("-h") {
            return Ok(Cmd::Help(MAIN_HELP));
        }
        return Err(Usage("no command given".into()));
    };
    if cmd == "help" {
        return match raw.positional.get(1) {
            None => Ok(Cmd::Help(MAIN_HELP)),
            Some(c) => help_for(c)
                .map(Cmd::Help)
                .ok_or_else(|| Usage(format!("unknown command '{c}'"))),
        };
    }
    let help = help_for(cmd).ok_or_else(|| Usage(format!("unknown command '{cmd}'")))?;
    if raw.has("--help") || raw.has("-h") {
        return Ok(Cmd::Help(help));
    }

    let allowed: &[&str] = match cmd {
        "keygen" => &["--type", "--out", "--force"],
        "pubkey" => &["--key"],
        "list" => &["--key-label", "--operation"],
        "approve" | "reject" => &[],
        _ => &[
            "--auto-approve",
            "--key-label",
            "--operation",
            "--count",
            "--timeout",
            "--poll-ms",
        ],
    };
    let common = ["--url", "--key", "--api-key", "--ca-file"];
    for (name, _) in &raw.flags {
        let ok = allowed.contains(&name.as_str())
            || (!matches!(cmd, "keygen" | "pubkey") && common.contains(&name.as_str()));
        if !ok {
            return Err(Usage(format!("{cmd} does not take {name}")));
        }
    }
    let want_positional = if matches!(cmd, "approve" | "reject") {
        2
    } else {
        1
    };
    if raw.positional.len() > want_positional {
        return Err(Usage(format!(
            "unexpected argument '{}'",
            raw.positional[want_positional]
        )));
    }

    let key_source = || -> Result<KeySource, Usage> {
        if let Some(f) = raw.value("--key") {
            return Ok(KeySource::File(PathBuf::from(f)));
        }
        match env("TSB_APPROVER_KEY") {
            Some(v) if v.trim_start().starts_with("-----BEGIN") => Ok(KeySource::Pem(v)),
            Some(v) => Ok(KeySource::File(PathBuf::from(v))),
            None => Err(Usage(
                "no approver key: give --key FILE or set TSB_APPROVER_KEY".into(),
            )),
        }
    };
    let conn = || -> Result<Conn, Usage> {
        let url = raw
            .value("--url")
            .or_else(|| env("TSB_URL"))
            .ok_or_else(|| Usage("no TSB URL: give --url URL or set TSB_URL".into()))?;
        Ok(Conn {
            url,
            key: key_source()?,
            api_key: raw
                .value("--api-key")
                .or_else(|| env("TSB_APPROVER_API_KEY")),
            ca_file: raw.value("--ca-file").map(PathBuf::from),
        })
    };
    let filter = || -> Result<TaskFilter, Usage> {
        let operation = match raw.value("--operation") {
            None => None,
            Some(op) => Some(
                canonical_operation(&op)
                    .ok_or_else(|| {
                        Usage(format!(
                            "unknown operation '{op}' (one of {})",
                            tsb_approve::OPERATIONS.join(", ")
                        ))
                    })?
                    .to_owned(),
            ),
        };
        Ok(TaskFilter {
            key_label: raw.value("--key-label"),
            operation,
            request_id: None,
        })
    };
    let id = || -> Result<String, Usage> {
        raw.positional
            .get(1)
            .cloned()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Usage(format!("{cmd} needs a task id or request id")))
    };
    let number = |name: &str| -> Result<Option<u64>, Usage> {
        raw.value(name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| Usage(format!("{name} needs a whole number, got '{v}'")))
            })
            .transpose()
    };

    Ok(match cmd {
        "keygen" => {
            let t = raw
                .value("--type")
                .ok_or_else(|| Usage("keygen needs --type rsa|ec|ed25519".into()))?;
            let kind = KeyKind::parse(&t)
                .ok_or_else(|| Usage(format!("unknown key type '{t}' (rsa, ec or ed25519)")))?;
            let out = raw
                .value("--out")
                .ok_or_else(|| Usage("keygen needs --out FILE".into()))?;
            Cmd::Keygen {
                kind,
                out: PathBuf::from(out),
                force: raw.has("--force"),
            }
        }
        "pubkey" => Cmd::Pubkey { key: key_source()? },
        "list" => Cmd::List {
            conn: conn()?,
            filter: filter()?,
        },
        "approve" => Cmd::Approve {
            id: id()?,
            conn: conn()?,
        },
        "reject" => Cmd::Reject {
            id: id()?,
            conn: conn()?,
        },
        _ => {
            let count = number("--count")?.map(|n| n as usize);
            if count == Some(0) {
                return Err(Usage("--count must be at least 1".into()));
            }
            let poll = match number("--poll-ms")? {
                None => DEFAULT_POLL,
                Some(0) => return Err(Usage("--poll-ms must be at least 1".into())),
                Some(ms) => Duration::from_millis(ms),
            };
            Cmd::Watch {
                conn: conn()?,
                filter: filter()?,
                auto_approve: raw.has("--auto-approve"),
                count,
                timeout: number("--timeout")?.map(Duration::from_secs),
                poll,
            }
        }
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(OsString::into_string)
        .collect::<Result<_, _>>()
    {
        Ok(a) => a,
        Err(_) => {
            eprintln!("tsb-approve: arguments must be valid UTF-8");
            return ExitCode::from(2);
        }
    };
    let cmd = match parse(&args, &|name| std::env::var(name).ok()) {
        Ok(c) => c,
        Err(u) => {
            eprintln!("tsb-approve: {u}\n(see `tsb-approve --help`)");
            return ExitCode::from(2);
        }
    };
    match run(cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tsb-approve: {e}");
            ExitCode::from(1)
        }
    }
}

fn connect(conn: &Conn) -> Result<Approver, ApproveError> {
    let key = conn.key.load()?;
    let mut a = Approver::new(&conn.url, key);
    if let Some(k) = &conn.api_key {
        a = a.api_key(k.clone());
    }
    if let Some(f) = &conn.ca_file {
        a = a.ca_file(f);
    }
    Ok(a)
}

/// Errors that do not name the server get its URL, so every failure message says where.
fn at(a: &Approver, e: ApproveError) -> ApproveError {
    match e {
        ApproveError::NotFound(m) => ApproveError::NotFound(format!("{}: {m}", a.base_url())),
        ApproveError::Refused(m) => ApproveError::Refused(format!("{}: {m}", a.base_url())),
        other => other,
    }
}

fn run(cmd: Cmd) -> Result<ExitCode, ApproveError> {
    match cmd {
        Cmd::Help(text) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Version => {
            println!("tsb-approve {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Keygen { kind, out, force } => {
            let key = ApproverKey::try_generate(kind)?;
            write_private(&out, key.to_pem().as_bytes(), force)?;
            println!("{}", key.public_key_b64());
            eprintln!(
                "tsb-approve: wrote {} private key to {}",
                key.key_type(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Pubkey { key } => {
            println!("{}", key.load()?.public_key_b64());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::List { conn, filter } => {
            let a = connect(&conn)?;
            let tasks = a.pending(&filter)?;
            print_table(&tasks);
            if tasks.is_empty() {
                eprintln!("tsb-approve: no pending tasks at {}", a.base_url());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Approve { conn, id } => {
            let a = connect(&conn)?;
            let t = a.find_task(&id).map_err(|e| at(&a, e))?;
            a.approve(&t.task)?;
            println!("approved task {}{}", describe(&t), status_suffix(&a, &t));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Reject { conn, id } => {
            let a = connect(&conn)?;
            let t = a.find_task(&id).map_err(|e| at(&a, e))?;
            a.reject(&t.task.id)?;
            println!("rejected task {}{}", describe(&t), status_suffix(&a, &t));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Watch {
            conn,
            filter,
            auto_approve,
            count,
            timeout,
            poll,
        } => {
            let mut a = connect(&conn)?;
            if let Some(t) = timeout {
                // One hung HTTP call must not outlive the watch's own deadline by much.
                a = a.timeout(t.clamp(Duration::from_secs(1), tsb_approve::DEFAULT_TIMEOUT));
            }
            let a = a;
            // Report a failing poll once, not every 250 ms while the server is down.
            let mut last_poll_error = String::new();
            let outcome = a.watch(&filter, auto_approve, count, poll, timeout, |ev| match ev {
                Event::Seen(t) if !auto_approve => {
                    let mut line = format!("new task {}", describe(t));
                    if let Some(r) = &t.request_id {
                        line.push_str(&format!(" request {}", sanitize(r)));
                    }
                    if let Some(m) = t.metadata_text() {
                        line.push_str(&format!(" metadata \"{}\"", sanitize(&m)));
                    }
                    println!("{line}");
                }
                Event::Seen(_) => {}
                Event::Approved(t) => {
                    println!("approved task {}{}", describe(t), status_suffix(&a, t))
                }
                Event::ApproveFailed(t, e) => {
                    eprintln!(
                        "tsb-approve: approving task {} failed: {e}",
                        sanitize(&t.task.id)
                    )
                }
                Event::PollFailed(e) => {
                    let m = e.to_string();
                    if m != last_poll_error {
                        eprintln!("tsb-approve: {m} (retrying)");
                        last_poll_error = m;
                    }
                }
            })?;
            let _ = std::io::stdout().flush();
            if count.is_some() && !outcome.count_reached {
                let what = if auto_approve { "approved" } else { "seen" };
                eprintln!(
                    "tsb-approve: timed out watching {}: {} of {} tasks {what}",
                    a.base_url(),
                    outcome.handled,
                    count.unwrap_or(0)
                );
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `<id> (<operation> on <label>)`, with `?` where the server did not say.
fn describe(t: &PendingTask) -> String {
    format!(
        "{} ({} on {})",
        sanitize(&t.task.id),
        t.operation.unwrap_or("?"),
        label_of(t).unwrap_or_else(|| "?".into())
    )
}

/// The key label, flagged when the signed bytes name another key than the server's JSON view.
fn label_of(t: &PendingTask) -> Option<String> {
    match (&t.key_label, &t.signed_key_label) {
        (Some(l), Some(s)) if l.to_lowercase() != s.to_lowercase() => Some(format!(
            "{} (SIGNED BYTES NAME {})",
            sanitize(l),
            sanitize(s)
        )),
        (Some(l), _) => Some(sanitize(l)),
        (None, Some(s)) => Some(sanitize(s)),
        (None, None) => None,
    }
}

/// `: request <id> EXECUTED` when the request id is known and its status can be read. The status
/// path belongs to another API-key role on a real TSB, so failing to read it is not an error.
fn status_suffix(a: &Approver, t: &PendingTask) -> String {
    let Some(rid) = &t.request_id else {
        return String::new();
    };
    match a.request_status(rid) {
        Ok(s) => format!(": request {} {}", sanitize(rid), s.status.as_str()),
        Err(_) => format!(": request {}", sanitize(rid)),
    }
}

fn print_table(tasks: &[PendingTask]) {
    let header = [
        "TASK ID",
        "REQUEST ID",
        "KEY LABEL",
        "OPERATION",
        "METADATA",
    ];
    let rows: Vec<[String; 5]> = tasks
        .iter()
        .map(|t| {
            [
                sanitize(&t.task.id),
                sanitize(t.request_id.as_deref().unwrap_or("-")),
                label_of(t).unwrap_or_else(|| "-".into()),
                t.operation.unwrap_or("-").to_owned(),
                t.metadata_text()
                    .map(|m| sanitize(&m))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut width = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == 4 {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header);
    for r in &rows {
        line([&r[0], &r[1], &r[2], &r[3], &r[4]]);
    }
}

/// Write a private key readable by the owner only. Without `force` an existing file is kept:
/// overwriting an approver key by accident would lock the approver out of its policies.
fn write_private(path: &std::path::Path, data: &[u8], force: bool) -> Result<(), ApproveError> {
    let io = |e: std::io::Error| ApproveError::Io {
        path: path.to_path_buf(),
        message: if e.kind() == std::io::ErrorKind::AlreadyExists {
            "already exists; not overwritten (use --force)".into()
        } else {
            e.to_string()
        },
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io)?;
    // The mode above applies to new files only; an overwritten file keeps its old mode otherwise.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    f.write_all(data).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn p(s: &str) -> Result<Cmd, Usage> {
        parse(&args(s), &no_env)
    }

    fn conn(url: &str, key: &str) -> Conn {
        Conn {
            url: url.into(),
            key: KeySource::File(key.into()),
            api_key: None,
            ca_file: None,
        }
    }

    #[test]
    fn keygen_parses() {
        assert_eq!(
            p("keygen --type ec --out k.pem").unwrap(),
            Cmd::Keygen {
                kind: KeyKind::EcP256,
                out: "k.pem".into(),
                force: false
            }
        );
        assert_eq!(
            p("keygen --type=ed25519 --out=k.pem --force").unwrap(),
            Cmd::Keygen {
                kind: KeyKind::Ed25519,
                out: "k.pem".into(),
                force: true
            }
        );
        assert!(p("keygen --type dsa --out k").is_err());
        assert!(p("keygen --out k").is_err());
        assert!(p("keygen --type rsa").is_err());
        assert!(p("keygen --type rsa --out k --url http://x").is_err());
    }

    #[test]
    fn help_everywhere() {
        assert_eq!(p("--help").unwrap(), Cmd::Help(MAIN_HELP));
        assert_eq!(p("help").unwrap(), Cmd::Help(MAIN_HELP));
        assert_eq!(p("help watch").unwrap(), Cmd::Help(WATCH_HELP));
        assert_eq!(p("list --help").unwrap(), Cmd::Help(LIST_HELP));
        assert_eq!(p("approve -h").unwrap(), Cmd::Help(APPROVE_HELP));
        // Help wins over missing required options.
        assert_eq!(p("keygen --help").unwrap(), Cmd::Help(KEYGEN_HELP));
        assert_eq!(p("--version").unwrap(), Cmd::Version);
    }

    #[test]
    fn usage_errors() {
        assert!(p("").is_err());
        assert!(p("frobnicate").is_err());
        assert!(p("list --bogus").is_err());
        assert!(p("list --url").is_err());
        assert!(p("approve --url u --key k").is_err());
        assert!(p("approve a b --url u --key k").is_err());
        assert!(p("list --url u").is_err());
        assert!(p("list --key k").is_err());
        assert!(p("list --url u --key k --operation Frob").is_err());
        assert!(p("watch --url u --key k --count x").is_err());
        assert!(p("watch --url u --key k --count 0").is_err());
        assert!(p("watch --url u --key k --poll-ms 0").is_err());
        assert!(p("list --force --url u --key k").is_err());
    }

    #[test]
    fn env_fallbacks_and_flag_precedence() {
        let env = |n: &str| match n {
            "TSB_URL" => Some("http://env:1".to_owned()),
            "TSB_APPROVER_KEY" => Some("/env/key.pem".to_owned()),
            "TSB_APPROVER_API_KEY" => Some("envapikey".to_owned()),
            _ => None,
        };
        let c = parse(&args("approve t1"), &env).unwrap();
        let mut want = conn("http://env:1", "/env/key.pem");
        want.api_key = Some("envapikey".into());
        assert_eq!(
            c,
            Cmd::Approve {
                conn: want,
                id: "t1".into()
            }
        );
        let c = parse(
            &args("reject --url http://flag:2 --key f.pem --api-key A --ca-file ca.pem r1"),
            &env,
        )
        .unwrap();
        let mut want = conn("http://flag:2", "f.pem");
        want.api_key = Some("A".into());
        want.ca_file = Some("ca.pem".into());
        assert_eq!(
            c,
            Cmd::Reject {
                conn: want,
                id: "r1".into()
            }
        );
        // PEM text in the variable, and empty variables counting as unset.
        let pem_env = |n: &str| match n {
            "TSB_APPROVER_KEY" => Some("-----BEGIN PRIVATE KEY-----\nX\n".to_owned()),
            "TSB_URL" => Some(String::new()),
            _ => None,
        };
        assert!(matches!(
            parse(&args("pubkey"), &pem_env).unwrap(),
            Cmd::Pubkey {
                key: KeySource::Pem(_)
            }
        ));
        assert!(parse(&args("list"), &pem_env).is_err());
        // Debug output never shows secrets.
        let dbg = format!("{:?}", parse(&args("approve t1"), &env).unwrap());
        assert!(!dbg.contains("envapikey"), "{dbg}");
        let dbg = format!("{:?}", parse(&args("pubkey"), &pem_env).unwrap());
        assert!(!dbg.contains("BEGIN"), "{dbg}");
    }

    #[test]
    fn list_and_watch_parse() {
        assert_eq!(
            p("list --url u --key k --key-label Code --operation sign").unwrap(),
            Cmd::List {
                conn: conn("u", "k"),
                filter: TaskFilter {
                    key_label: Some("Code".into()),
                    operation: Some("Sign".into()),
                    request_id: None
                }
            }
        );
        assert_eq!(
            p("watch --auto-approve --count 2 --timeout 30 --poll-ms 100 --url u --key k").unwrap(),
            Cmd::Watch {
                conn: conn("u", "k"),
                filter: TaskFilter::default(),
                auto_approve: true,
                count: Some(2),
                timeout: Some(Duration::from_secs(30)),
                poll: Duration::from_millis(100),
            }
        );
        match p("watch --url u --key k").unwrap() {
            Cmd::Watch {
                auto_approve,
                count,
                timeout,
                poll,
                ..
            } => {
                assert!(!auto_approve);
                assert_eq!((count, timeout, poll), (None, None, DEFAULT_POLL));
            }
            other => panic!("{other:?}"),
        }
        // Options before the command, and `--` before an id that starts with '-'.
        assert_eq!(
            p("--url u --key k approve -- -odd-id").unwrap(),
            Cmd::Approve {
                conn: conn("u", "k"),
                id: "-odd-id".into()
            }
        );
    }

    #[test]
    fn write_private_refuses_overwrite_and_sets_mode() {
        let dir = std::env::temp_dir().join(format!("tsb-approve-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("k.pem");
        let _ = std::fs::remove_file(&f);
        write_private(&f, b"one", false).unwrap();
        let e = write_private(&f, b"two", false).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(std::fs::read(&f).unwrap(), b"one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
            write_private(&f, b"two", true).unwrap();
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
