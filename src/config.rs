//! Configuration: a JSON file (`TSB_PKCS11_CONFIG`, then `$XDG_CONFIG_HOME/tsb-pkcs11/config.json`,
//! then `/etc/tsb-pkcs11/config.json`) with one entry per slot, or, with no file at all, one slot
//! from environment variables. Environment variables also override the first slot of a file.
//!
//! Secrets (bearer token, API keys) are never read from the JSON itself: the file names an
//! environment variable or a file that holds them, so the config can be world-readable and committed.
//! Every error names the file, the line and the field.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tsb_models::Policy;
use zeroize::Zeroizing;

/// A secret value (bearer token, API key): zeroed in memory when dropped (every clone too), never
/// shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wrap a value (copies `s` into zeroizing storage).
    pub fn new(s: &str) -> Secret {
        Secret(Zeroizing::new(s.to_string()))
    }
    /// The value, for building a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a secret comes from.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// Name of an environment variable holding the secret.
    #[serde(default)]
    pub env: Option<String>,
    /// Path of a file holding the secret (surrounding whitespace is trimmed).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// The raw JSON shape of one slot (field names are the config keys documented in README.md).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSlot {
    label: Option<String>,
    url: Option<String>,
    #[serde(default)]
    allow_http: bool,
    token: Option<SecretSource>,
    #[serde(default)]
    api_keys: BTreeMap<String, SecretSource>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    pin_is_token: bool,
    connect_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    approval_timeout_s: Option<u64>,
    poll_interval_ms: Option<u64>,
    poll_max_interval_ms: Option<u64>,
    default_policy: Option<Policy>,
    default_policy_file: Option<PathBuf>,
    label_prefix: Option<String>,
    cache_ttl_s: Option<u64>,
    progress: Option<bool>,
    journal: Option<PathBuf>,
    #[serde(default)]
    ca_certificates: Vec<PathBuf>,
    verify_signatures: Option<bool>,
    max_list_bytes: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    slots: Vec<RawSlot>,
    log_level: Option<String>,
    log_file: Option<String>,
}

/// One validated slot.
#[derive(Debug, Clone)]
pub struct SlotConfig {
    /// Token label (max 32 chars shown).
    pub label: String,
    /// TSB base URL without trailing slash, e.g. `https://rest-api.cloudshsm.com`.
    pub url: String,
    /// Bearer token (JWT), if configured.
    pub token: Option<Secret>,
    /// API keys by role.
    pub api_keys: BTreeMap<String, Secret>,
    /// mTLS client certificate and key (PEM files).
    pub client_identity: Option<(PathBuf, PathBuf)>,
    /// Extra trusted CA (PEM file).
    pub ca_file: Option<PathBuf>,
    /// The PIN given to C_Login is the bearer token.
    pub pin_is_token: bool,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// How long an approval-gated operation waits before giving up (the request stays pending).
    pub approval_timeout: Duration,
    /// First poll interval while waiting for approval.
    pub poll_interval: Duration,
    /// Poll interval cap.
    pub poll_max_interval: Duration,
    /// Policy given to keys generated without the CKA_TSB_POLICY attribute.
    pub default_policy: Option<Policy>,
    /// Only keys whose label starts with this are shown; it is added to generated keys' labels.
    pub label_prefix: String,
    /// Key list / attribute cache lifetime.
    pub cache_ttl: Duration,
    /// Show the approval wait on stderr.
    pub progress: bool,
    /// Journal of pending approval requests, so a rerun resumes them.
    pub journal: Option<PathBuf>,
    /// Extra CA certificates shown as certificate objects (for chains).
    pub ca_certificates: Vec<PathBuf>,
    /// Verify every signature from the TSB with the key's public key (and the length of every
    /// plaintext) before returning it. Default on.
    pub verify_signatures: bool,
    /// Largest key-list answer (`GET /v1/key`) read from the TSB, in bytes.
    pub max_list_bytes: u64,
}

/// Default of `max_list_bytes`: room for about 200 000 labels.
pub(crate) const DEFAULT_MAX_LIST_BYTES: u64 = 16 * 1024 * 1024;

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Slots, slot id = index.
    pub slots: Vec<SlotConfig>,
    /// Log level from the file (the environment wins).
    pub log_level: Option<String>,
    /// Log file from the file (the environment wins).
    pub log_file: Option<String>,
    /// Where the config came from, for messages.
    pub source: String,
    /// `TSB_PKCS11_FORGET_UNKNOWN` was set: forget the outcome-unknown markers at C_Initialize.
    pub forget_unknown: bool,
}

/// Read the environment through a function so tests can supply their own.
pub type EnvFn<'a> = &'a dyn Fn(&str) -> Option<String>;

fn real_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Config {
    /// Load from the standard locations and the process environment.
    pub fn load() -> Result<Config> {
        Self::load_with(&real_env)
    }

    /// Load with a given environment (for tests).
    pub fn load_with(env: EnvFn) -> Result<Config> {
        let path = if let Some(p) = env("TSB_PKCS11_CONFIG") {
            // An explicitly named file must exist.
            let p = PathBuf::from(p);
            if !p.exists() {
                return Err(Error::Config(format!(
                    "config file {} (from TSB_PKCS11_CONFIG) does not exist",
                    p.display()
                )));
            }
            Some(p)
        } else {
            let xdg = env("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".config")));
            let candidates = xdg
                .map(|x| x.join("tsb-pkcs11/config.json"))
                .into_iter()
                .chain(std::iter::once(PathBuf::from(
                    "/etc/tsb-pkcs11/config.json",
                )));
            candidates.into_iter().find(|p| p.exists())
        };
        match path {
            Some(p) => {
                let text = std::fs::read_to_string(&p).map_err(|e| {
                    Error::Config(format!("cannot read config file {}: {e}", p.display()))
                })?;
                Self::parse(&text, &p, env)
            }
            None => Self::from_env_only(env),
        }
    }

    /// No file: one slot from `TSB_PKCS11_URL` and friends.
    fn from_env_only(env: EnvFn) -> Result<Config> {
        if env("TSB_PKCS11_URL").is_none() {
            return Err(Error::Config(
                "no configuration: set TSB_PKCS11_CONFIG to a config file, create \
                 $XDG_CONFIG_HOME/tsb-pkcs11/config.json or /etc/tsb-pkcs11/config.json, \
                 or set TSB_PKCS11_URL for a single slot"
                    .into(),
            ));
        }
        let ctx = Ctx {
            file: "environment",
            text: "",
        };
        let slot = validate_slot(RawSlot::default(), 0, &ctx, env, true)?;
        Ok(Config {
            slots: vec![slot],
            log_level: None,
            log_file: None,
            source: "environment".into(),
            forget_unknown: forget_unknown(env),
        })
    }

    /// Parse and validate file contents.
    pub fn parse(text: &str, path: &Path, env: EnvFn) -> Result<Config> {
        let file = path.display().to_string();
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| {
            Error::Config(format!(
                "config error in {file} line {}: {}",
                e.line(),
                strip_position(&e.to_string())
            ))
        })?;
        let ctx = Ctx { file: &file, text };
        if raw.slots.is_empty() {
            return Err(ctx.err("slots", None, "at least one slot is required"));
        }
        let mut slots = Vec::new();
        for (i, s) in raw.slots.into_iter().enumerate() {
            slots.push(validate_slot(s, i, &ctx, env, i == 0)?);
        }
        Ok(Config {
            slots,
            log_level: raw.log_level,
            log_file: raw.log_file,
            source: file,
            forget_unknown: forget_unknown(env),
        })
    }
}

fn forget_unknown(env: EnvFn) -> bool {
    env("TSB_PKCS11_FORGET_UNKNOWN").is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    /// The line of the `n`-th slot's `"field"` key in the file (best effort: the first occurrence
    /// of the key after the start of that slot), so errors found after parsing still name a line.
    fn line_of(&self, field: &str, slot: Option<usize>) -> Option<usize> {
        if self.text.is_empty() {
            return None;
        }
        let key = format!("\"{field}\"");
        let mut from = 0;
        if let Some(n) = slot {
            // Each slot starts with some key; count occurrences of `"url"` as slot anchors.
            let mut starts = self.text.match_indices("\"url\"").map(|(i, _)| i);
            from = starts
                .nth(n)
                .map(|i| self.text[..i].rfind('{').unwrap_or(0))
                .unwrap_or(0);
        }
        let pos = self.text[from..].find(&key).map(|p| p + from)?;
        Some(self.text[..pos].matches('\n').count() + 1)
    }

    fn err(&self, field: &str, slot: Option<usize>, msg: &str) -> Error {
        let path = match slot {
            Some(n) => format!("slots[{n}].{field}"),
            None => field.to_string(),
        };
        match self.line_of(field.split('.').next().unwrap_or(field), slot) {
            Some(line) => Error::Config(format!(
                "config error in {} line {line}: {path}: {msg}",
                self.file
            )),
            None => Error::Config(format!("config error in {}: {path}: {msg}", self.file)),
        }
    }
}

fn read_secret(
    src: &SecretSource,
    field: &str,
    slot: usize,
    ctx: &Ctx,
    env: EnvFn,
) -> Result<Secret> {
    match (&src.env, &src.file) {
        (Some(var), None) => env(var)
            .map(|v| Secret::new(Zeroizing::new(v).trim()))
            .ok_or_else(|| {
                ctx.err(
                    field,
                    Some(slot),
                    &format!("environment variable {var} is not set"),
                )
            }),
        (None, Some(path)) => read_secret_file(path).map_err(|m| ctx.err(field, Some(slot), &m)),
        _ => Err(ctx.err(field, Some(slot), "give exactly one of \"env\" or \"file\"")),
    }
}

fn read_secret_file(path: &Path) -> std::result::Result<Secret, String> {
    let v = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    );
    let v = v.trim();
    if v.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(Secret::new(v))
}

/// Whether `url`, parsed as the HTTP client parses it, names a loopback host: a literal address
/// in 127.0.0.0/8 or `::1`, or `localhost` (which the client pins to those addresses instead of
/// asking DNS). The only place plain HTTP is allowed.
#[cfg(test)]
pub fn is_loopback_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(is_loopback_host))
        .unwrap_or(false)
}

/// `host` as `Url::host_str` gives it (IPv6 in brackets, IPv4 normalized, names lowercased).
pub fn is_loopback_host(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

/// Parse and check a TSB base URL with the parser the HTTP client uses, so that what is checked
/// is what gets connected to. Returns the normalized URL (no trailing `/` or `/v1`, no default
/// port) or the reason it is refused. Never repeats userinfo in a message.
fn check_url(text: &str, allow_http: bool) -> std::result::Result<String, String> {
    let text = text.trim();
    // WHATWG parsing reads `\` as `/` in http(s) URLs while other parsers do not; a URL whose
    // host depends on the parser is refused outright.
    if text.contains('\\') {
        return Err("contains a backslash; write the URL without it".into());
    }
    let https_only = "must be https:// (or http:// to a loopback emulator)";
    let u = reqwest::Url::parse(text).map_err(|e| format!("not a URL ({e}); {https_only}"))?;
    let scheme = u.scheme();
    if scheme != "https" && scheme != "http" {
        return Err(format!("scheme {scheme}: {https_only}"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(
            "must not contain user:password@ (credentials go in \"token\" or \"api_keys\")".into(),
        );
    }
    if u.query().is_some() {
        return Err("must not have a query (?...)".into());
    }
    if u.fragment().is_some() {
        return Err("must not have a fragment (#...)".into());
    }
    let host = match u.host_str() {
        Some(h) if !h.is_empty() => h,
        _ => return Err(format!("not a URL (no host); {https_only}")),
    };
    if scheme == "http" {
        if !allow_http {
            return Err("plain http:// is refused; use https://, or set \"allow_http\": true (TSB_PKCS11_ALLOW_HTTP=1) for a local emulator on a loopback address".into());
        }
        if !is_loopback_host(host) {
            return Err(
                "plain http:// is only allowed to a loopback address (127.0.0.0/8, ::1, localhost)"
                    .into(),
            );
        }
    }
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = u.path().trim_end_matches('/');
    let path = path.strip_suffix("/v1").unwrap_or(path);
    Ok(format!("{scheme}://{host}{port}{path}"))
}

/// The slot description shown by C_GetSlotInfo: "TSB " and the URL without any userinfo (which
/// the config refuses anyway; this keeps it out of sight even if a URL got here some other way).
pub fn url_description(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if matches!(u.scheme(), "https" | "http") => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            format!("TSB {}", u.as_str().trim_end_matches('/'))
        }
        _ => "TSB".into(),
    }
}

fn validate_slot(
    mut raw: RawSlot,
    n: usize,
    ctx: &Ctx,
    env: EnvFn,
    first: bool,
) -> Result<SlotConfig> {
    // Environment overrides for the first slot (or the whole slot in env-only mode).
    let mut token_override = None;
    if first {
        if let Some(u) = env("TSB_PKCS11_URL") {
            raw.url = Some(u);
        }
        if let Some(t) = env("TSB_PKCS11_TOKEN") {
            token_override = Some(Secret::new(Zeroizing::new(t).trim()));
        } else if let Some(f) = env("TSB_PKCS11_TOKEN_FILE") {
            token_override = Some(
                read_secret_file(Path::new(&f))
                    .map_err(|m| Error::Config(format!("TSB_PKCS11_TOKEN_FILE: {m}")))?,
            );
        }
        if let Some(v) = env("TSB_PKCS11_APPROVAL_TIMEOUT") {
            let s = v.trim().parse::<u64>().map_err(|_| {
                Error::Config(format!(
                    "TSB_PKCS11_APPROVAL_TIMEOUT: expected whole seconds, got {v:?}"
                ))
            })?;
            raw.approval_timeout_s = Some(s);
        }
        if let Some(v) = env("TSB_PKCS11_ALLOW_HTTP") {
            raw.allow_http = matches!(v.trim(), "1" | "true" | "yes");
        }
        if let Some(v) = env("TSB_PKCS11_PROGRESS") {
            raw.progress = Some(!matches!(v.trim(), "0" | "false" | "no" | "off"));
        }
        if let Some(v) = env("TSB_PKCS11_DEFAULT_POLICY_FILE") {
            raw.default_policy_file = Some(PathBuf::from(v));
        }
        if let Some(v) = env("TSB_PKCS11_CACHE_TTL") {
            raw.cache_ttl_s = Some(v.trim().parse().map_err(|_| {
                Error::Config(format!(
                    "TSB_PKCS11_CACHE_TTL: expected whole seconds, got {v:?}"
                ))
            })?);
        }
        if let Some(v) = env("TSB_PKCS11_JOURNAL") {
            raw.journal = Some(PathBuf::from(v));
        }
        if let Some(v) = env("TSB_PKCS11_CA_FILE") {
            raw.ca_file = Some(PathBuf::from(v));
        }
    }
    let url_from_env = first && env("TSB_PKCS11_URL").is_some();
    let url = raw.url.clone().ok_or_else(|| {
        ctx.err(
            "url",
            Some(n),
            "required (the TSB base URL, e.g. https://rest-api.cloudshsm.com)",
        )
    })?;
    let url = check_url(&url, raw.allow_http).map_err(|m| {
        if url_from_env {
            Error::Config(format!("TSB_PKCS11_URL: {m}"))
        } else {
            ctx.err("url", Some(n), &m)
        }
    })?;
    let token = match (token_override, &raw.token) {
        (Some(t), _) => Some(t),
        (None, Some(src)) => Some(read_secret(src, "token", n, ctx, env)?),
        (None, None) => None,
    };
    let mut api_keys = BTreeMap::new();
    for (role, src) in &raw.api_keys {
        if tsb_models::Role::from_name(role).is_none() {
            return Err(ctx.err(
                "api_keys",
                Some(n),
                &format!(
                    "unknown role {role:?}; roles are {}",
                    tsb_models::Role::ALL.map(tsb_models::Role::name).join(", ")
                ),
            ));
        }
        api_keys.insert(role.clone(), read_secret(src, "api_keys", n, ctx, env)?);
    }
    let client_identity = match (&raw.client_cert, &raw.client_key) {
        (Some(c), Some(k)) => {
            for (f, p) in [("client_cert", c), ("client_key", k)] {
                if !p.exists() {
                    return Err(ctx.err(f, Some(n), &format!("{} does not exist", p.display())));
                }
            }
            Some((c.clone(), k.clone()))
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(ctx.err(
                "client_cert",
                Some(n),
                "client_key is required with client_cert",
            ))
        }
        (None, Some(_)) => {
            return Err(ctx.err(
                "client_key",
                Some(n),
                "client_cert is required with client_key",
            ))
        }
    };
    if let Some(p) = &raw.ca_file {
        if !p.exists() {
            return Err(ctx.err(
                "ca_file",
                Some(n),
                &format!("{} does not exist", p.display()),
            ));
        }
    }
    let default_policy = match (&raw.default_policy, &raw.default_policy_file) {
        (Some(_), Some(_)) => {
            return Err(ctx.err(
                "default_policy_file",
                Some(n),
                "give default_policy or default_policy_file, not both",
            ))
        }
        (Some(p), None) => Some(p.clone()),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(f).map_err(|e| {
                ctx.err(
                    "default_policy_file",
                    Some(n),
                    &format!("cannot read {}: {e}", f.display()),
                )
            })?;
            Some(serde_json::from_str::<Policy>(&text).map_err(|e| {
                ctx.err(
                    "default_policy_file",
                    Some(n),
                    &format!(
                        "{} line {}: {}",
                        f.display(),
                        e.line(),
                        strip_position(&e.to_string())
                    ),
                )
            })?)
        }
        (None, None) => None,
    };
    if let Some(p) = &default_policy {
        p.validate().map_err(|e| {
            ctx.err(
                if raw.default_policy.is_some() {
                    "default_policy"
                } else {
                    "default_policy_file"
                },
                Some(n),
                &e.to_string(),
            )
        })?;
    }
    let ms = |v: Option<u64>, d: u64| Duration::from_millis(v.unwrap_or(d));
    let poll_interval = ms(raw.poll_interval_ms, 200);
    let poll_max_interval = ms(raw.poll_max_interval_ms, 2000);
    if poll_interval.is_zero() || poll_interval > poll_max_interval {
        return Err(ctx.err(
            "poll_interval_ms",
            Some(n),
            "must be > 0 and <= poll_max_interval_ms",
        ));
    }
    let max_list_bytes = raw.max_list_bytes.unwrap_or(DEFAULT_MAX_LIST_BYTES);
    if max_list_bytes < 1024 {
        return Err(ctx.err(
            "max_list_bytes",
            Some(n),
            "must be at least 1024 (the default is 16777216)",
        ));
    }
    for p in &raw.ca_certificates {
        if !p.exists() {
            return Err(ctx.err(
                "ca_certificates",
                Some(n),
                &format!("{} does not exist", p.display()),
            ));
        }
    }
    Ok(SlotConfig {
        label: raw.label.unwrap_or_else(|| {
            if n == 0 {
                "TSB".into()
            } else {
                format!("TSB {n}")
            }
        }),
        url,
        token,
        api_keys,
        client_identity,
        ca_file: raw.ca_file,
        pin_is_token: raw.pin_is_token,
        connect_timeout: ms(raw.connect_timeout_ms, 10_000),
        request_timeout: ms(raw.request_timeout_ms, 60_000),
        approval_timeout: Duration::from_secs(raw.approval_timeout_s.unwrap_or(600)),
        poll_interval,
        poll_max_interval,
        default_policy,
        label_prefix: raw.label_prefix.unwrap_or_default(),
        cache_ttl: Duration::from_secs(raw.cache_ttl_s.unwrap_or(30)),
        progress: raw.progress.unwrap_or(true),
        journal: raw.journal,
        ca_certificates: raw.ca_certificates,
        verify_signatures: raw.verify_signatures.unwrap_or(true),
        max_list_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn env_only_slot() {
        let env = env_of(&[
            ("TSB_PKCS11_URL", "http://127.0.0.1:8080/"),
            ("TSB_PKCS11_ALLOW_HTTP", "1"),
            ("TSB_PKCS11_TOKEN", "secret-jwt"),
            ("TSB_PKCS11_APPROVAL_TIMEOUT", "42"),
            ("HOME", "/nonexistent-home"),
        ]);
        let c = Config::load_with(&env).unwrap();
        assert_eq!(c.slots.len(), 1);
        assert_eq!(c.slots[0].url, "http://127.0.0.1:8080");
        assert_eq!(c.slots[0].approval_timeout, Duration::from_secs(42));
        assert_eq!(c.slots[0].token.as_ref().unwrap().expose(), "secret-jwt");
        assert!(!format!("{c:?}").contains("secret-jwt"));
    }

    #[test]
    fn http_refused_unless_loopback_and_allowed() {
        let env = env_of(&[
            ("TSB_PKCS11_URL", "http://127.0.0.1:8080"),
            ("HOME", "/nonexistent"),
        ]);
        let e = Config::load_with(&env).unwrap_err().to_string();
        assert!(e.contains("TSB_PKCS11_URL") && e.contains("http://"), "{e}");
        let env = env_of(&[
            ("TSB_PKCS11_URL", "http://10.1.2.3"),
            ("TSB_PKCS11_ALLOW_HTTP", "1"),
            ("HOME", "/x"),
        ]);
        let e = Config::load_with(&env).unwrap_err().to_string();
        assert!(e.contains("loopback"), "{e}");
        assert!(is_loopback_url("http://[::1]:9/x"));
        assert!(is_loopback_url("http://localhost"));
        assert!(!is_loopback_url("http://127.0.0.1.evil.com/"));
    }

    fn url_error(url: &str) -> String {
        let env = env_of(&[
            ("TSB_PKCS11_URL", url),
            ("TSB_PKCS11_ALLOW_HTTP", "1"),
            ("HOME", "/nonexistent"),
        ]);
        match Config::load_with(&env) {
            Ok(c) => panic!("{url:?} accepted as {}", c.slots[0].url),
            Err(e) => e.to_string(),
        }
    }

    fn url_ok(url: &str) -> String {
        let env = env_of(&[
            ("TSB_PKCS11_URL", url),
            ("TSB_PKCS11_ALLOW_HTTP", "1"),
            ("HOME", "/nonexistent"),
        ]);
        Config::load_with(&env).unwrap().slots[0].url.clone()
    }

    #[test]
    fn urls_are_checked_as_the_http_client_parses_them() {
        // The backslash: URL parsers read it as `/`, so the host is evil.example, not 127.0.0.1.
        let e = url_error("http://evil.example:8080\\@127.0.0.1:9000");
        assert!(
            e.starts_with("TSB_PKCS11_URL: ") && e.contains("backslash"),
            "{e}"
        );
        for (url, words) in [
            ("https://user:pw@tsb.example", "user:password@"),
            ("https://user@tsb.example", "user:password@"),
            ("http://evil.example@127.0.0.1:9000", "user:password@"),
            ("https://tsb.example/?x=1", "query"),
            ("https://tsb.example/#frag", "fragment"),
            ("ftp://tsb.example", "https://"),
            ("file:///etc/passwd", "https://"),
            ("https://", "not a URL"),
            ("tsb.example", "not a URL"),
            ("http://127.0.0.1.evil.com/", "loopback"),
            ("http://10.1.2.3", "loopback"),
            ("http://[::ffff:127.0.0.1]:9", "loopback"),
            ("http://localhost.evil.com:9", "loopback"),
        ] {
            let e = url_error(url);
            assert!(e.contains(words), "{url}: {e}");
            assert!(!e.contains("pw@"), "the error repeats no credential: {e}");
        }
        assert_eq!(url_ok("http://127.0.0.1:8080/v1/"), "http://127.0.0.1:8080");
        assert_eq!(url_ok("http://[::1]:9/"), "http://[::1]:9");
        assert_eq!(url_ok("http://LOCALHOST:9"), "http://localhost:9");
        // Other spellings of a loopback address are what the client would connect to.
        assert_eq!(url_ok("http://127.1:9"), "http://127.0.0.1:9");
        assert_eq!(
            url_ok("https://TSB.example:443/tsb/v1"),
            "https://tsb.example/tsb"
        );
        // In a file, the error names the file, the line and the field.
        let text =
            "{\n  \"slots\": [\n    {\n      \"url\": \"https://u:p@tsb.example\"\n    }\n  ]\n}\n";
        let e = Config::parse(text, Path::new("/etc/x.json"), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/etc/x.json line 4: slots[0].url") && e.contains("user:password@"),
            "{e}"
        );
    }

    #[test]
    fn slot_description_never_shows_userinfo() {
        assert_eq!(
            url_description("https://user:secret@tsb.example:8443/x"),
            "TSB https://tsb.example:8443/x"
        );
        assert_eq!(
            url_description("http://127.0.0.1:9"),
            "TSB http://127.0.0.1:9"
        );
        // Not a URL at all: nothing of it is shown.
        assert_eq!(url_description("user:secret@@garbage"), "TSB");
    }

    #[test]
    fn file_errors_name_file_line_and_field() {
        let text = "{\n  \"slots\": [\n    {\n      \"url\": \"https://tsb.example\",\n      \"approval_timeout_s\": \"ten\"\n    }\n  ]\n}\n";
        let e = Config::parse(text, Path::new("/etc/x.json"), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/etc/x.json") && e.contains("line 5"), "{e}");
        let text = "{\n  \"slots\": [\n    {\n      \"url\": \"https://tsb.example\",\n      \"token\": {\"env\": \"NOPE_TOKEN\"}\n    }\n  ]\n}\n";
        let e = Config::parse(text, Path::new("/etc/x.json"), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 5") && e.contains("slots[0].token") && e.contains("NOPE_TOKEN"),
            "{e}"
        );
        let text = "{\"slots\": [{\"url\": \"https://a\", \"bogus\": 1}]}";
        let e = Config::parse(text, Path::new("c.json"), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.json line 1") && e.contains("bogus"), "{e}");
    }

    #[test]
    fn env_overrides_first_slot() {
        let text = r#"{"slots": [{"url": "https://a.example", "approval_timeout_s": 5}, {"url": "https://b.example"}]}"#;
        let c = Config::parse(
            text,
            Path::new("c.json"),
            &env_of(&[("TSB_PKCS11_APPROVAL_TIMEOUT", "9")]),
        )
        .unwrap();
        assert_eq!(c.slots[0].approval_timeout, Duration::from_secs(9));
        assert_eq!(c.slots[1].approval_timeout, Duration::from_secs(600));
        assert_eq!(c.slots[1].label, "TSB 1");
    }
}
