//! Configuration: a JSON file (`TSB_PKCS11_CONFIG`, then `$XDG_CONFIG_HOME/tsb-pkcs11/config.json`,
//! then `/etc/tsb-pkcs11/config.json`) with one entry per slot, or, with no file at all, one slot
//! from environment variables. Environment variables also override the first slot of a file.
//!
//! Secrets (bearer token, API keys) are never read from the JSON itself: the file names an
//! environment variable or a file that holds them, so the config can be world-readable and committed.
//! Every error names the file, the line and the field.
//!
//! [`file`](mod@file) reads the JSON (its errors name the file, the line and the field), [`env`](mod@env) the
//! environment, [`url`] checks the TSB URL, [`secrets`] holds the secrets. This module reads no
//! other part of the crate but the error type: every layer reads it.

mod env;
mod file;
mod policy_keys;
mod secrets;
mod signer;
mod token;
mod url;

pub(crate) use env::EnvFn;
pub(crate) use policy_keys::check_approver_keys;
pub(crate) use secrets::Secret;
pub(crate) use signer::RequestSigner;
pub(crate) use token::TokenSettings;
pub(crate) use url::{is_loopback_host, url_description};

use crate::error::{Error, Result};
use file::{strip_position, Ctx, RawConfig, RawSlot};
use secrets::read_secret;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tsb_models::{Policy, TsbVersion};

/// `sign_full_data`: whether the hashing signature mechanisms send the data itself with a
/// hashing `signatureAlgorithm` (`SHA256_WITH_RSA`) instead of a digest computed here
/// (`NONESHA256_WITH_RSA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FullData {
    /// The data where the TSB version refuses the pre-hashed name (and when the version is not
    /// known, wherever some version refuses it); a digest elsewhere.
    Auto,
    /// The data on approval-gated keys (so approvers see it), and wherever `Auto` sends it.
    Always,
    /// A digest always (fails where the TSB refuses the pre-hashed name).
    Never,
}

/// `aes_iv`: whose IV an AES encryption (CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_GCM) uses
/// (mechanism::aes, README "AES and the IV").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum AesIv {
    /// `"caller"` (the default): always the caller's, all-zero IVs included, as the standard
    /// says.
    #[default]
    Caller,
    /// `"tsb-when-zero"`: an all-zero IV buffer of the TSB's IV length means "the TSB chooses",
    /// and the IV it chose is written into the buffer (the AWS CloudHSM precedent); any other IV
    /// is the caller's.
    TsbWhenZero,
}

/// Default of `sign_full_data_max_bytes`: 512 KiB of data is about 700 KB of base64 in the
/// request body (the emulator takes bodies up to 1 MiB; a real TSB's limit is not documented).
pub(crate) const DEFAULT_FULL_DATA_MAX_BYTES: usize = 512 * 1024;

/// Default of `expiry_grace_s`: one run of the TSB's request scheduler
/// (`hsmRequestsTimerServiceInterval: 60000` in the configuration template of S2
/// `tsb/Download/release_notes.md` 1.18.0): a request whose policy timeout has passed turns
/// EXPIRED only when the scheduler next runs.
pub(crate) const DEFAULT_EXPIRY_GRACE: Duration = Duration::from_secs(60);

/// One validated slot.
#[derive(Debug, Clone)]
pub(crate) struct SlotConfig {
    /// Token label (max 32 chars shown).
    pub(crate) label: String,
    /// TSB base URL without trailing slash, e.g. `https://rest-api.cloudshsm.com`: the first
    /// of [`SlotConfig::urls`].
    pub(crate) url: String,
    /// Every TSB base URL of the slot, in the order of failover (at least one).
    pub(crate) urls: Vec<String>,
    /// Bearer token (JWT), if configured.
    pub(crate) token: Option<Secret>,
    /// API keys by role, each role's keys in the order of rollover (at least one each).
    pub(crate) api_keys: BTreeMap<String, Vec<Secret>>,
    /// mTLS client certificate and key (PEM files).
    pub(crate) client_identity: Option<(PathBuf, PathBuf)>,
    /// Extra trusted CA (PEM file).
    pub(crate) ca_file: Option<PathBuf>,
    /// The PIN given to C_Login is the bearer token.
    pub(crate) pin_is_token: bool,
    /// TCP/TLS connect timeout.
    pub(crate) connect_timeout: Duration,
    /// Timeout of one HTTP request.
    pub(crate) request_timeout: Duration,
    /// How long an approval-gated operation waits before giving up (the request stays pending).
    pub(crate) approval_timeout: Duration,
    /// First poll interval while waiting for approval.
    pub(crate) poll_interval: Duration,
    /// Poll interval cap.
    pub(crate) poll_max_interval: Duration,
    /// Policy given to keys generated without the CKA_TSB_POLICY attribute.
    pub(crate) default_policy: Option<Policy>,
    /// Only keys whose label starts with this are shown; it is added to generated keys' labels.
    pub(crate) label_prefix: String,
    /// Key list / attribute cache lifetime.
    pub(crate) cache_ttl: Duration,
    /// The most requests the slot's listings have in flight at once (all of them together).
    pub(crate) listing_concurrency: usize,
    /// Show the approval wait on stderr.
    pub(crate) progress: bool,
    /// Journal of pending approval requests, so a rerun resumes them.
    pub(crate) journal: Option<PathBuf>,
    /// Extra CA certificates shown as certificate objects (for chains).
    pub(crate) ca_certificates: Vec<PathBuf>,
    /// Verify every signature from the TSB with the key's public key (and the length of every
    /// plaintext) before returning it. Default on.
    pub(crate) verify_signatures: bool,
    /// Largest key-list answer (`GET /v1/key`) read from the TSB, in bytes.
    pub(crate) max_list_bytes: u64,
    /// The TSB's version when the config gives it (`tsb_version`); None: read from the TSB.
    pub(crate) tsb_version: Option<TsbVersion>,
    /// See [`FullData`].
    pub(crate) sign_full_data: FullData,
    /// The most data a full-data signature buffers (CKR_DATA_LEN_RANGE past it).
    pub(crate) full_data_max_bytes: usize,
    /// The password of every key of the slot that has no entry in `key_passwords`.
    pub(crate) key_password: Option<Secret>,
    /// Passwords by TSB key label.
    pub(crate) key_passwords: BTreeMap<String, Secret>,
    /// The key that signs every request (`requestSignature`), when configured.
    pub(crate) request_signer: Option<Arc<RequestSigner>>,
    /// How long past a key's policy timeout the wait keeps polling for the TSB's EXPIRED.
    pub(crate) expiry_grace: Duration,
    /// PINs, C_InitToken, session-key age (config/token.rs).
    pub(crate) token_settings: TokenSettings,
    /// See [`AesIv`].
    pub(crate) aes_iv: AesIv,
}

/// Default of `listing_concurrency`: with 10 ms per request, 10,000 keys (20,000 requests with
/// their certificates) are listed in about 12.5 s, and a TSB sees no more than this many requests
/// from one listing.
pub(crate) const DEFAULT_LISTING_CONCURRENCY: usize = 16;

/// Largest `listing_concurrency`: a bound that protects the TSB must not be configurable away.
pub(crate) const MAX_LISTING_CONCURRENCY: u64 = 64;

/// Default of `max_list_bytes`: room for about 200 000 labels.
pub(crate) const DEFAULT_MAX_LIST_BYTES: u64 = 16 * 1024 * 1024;

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Slots, slot id = index.
    pub(crate) slots: Vec<SlotConfig>,
    /// Log level from the file (the environment wins).
    pub(crate) log_level: Option<String>,
    /// Log file from the file (the environment wins).
    pub(crate) log_file: Option<String>,
    /// Where the config came from, for messages.
    pub(crate) source: String,
    /// `TSB_PKCS11_FORGET_UNKNOWN` was set: forget the outcome-unknown markers at C_Initialize.
    pub(crate) forget_unknown: bool,
}

impl Config {
    /// Load from the standard locations and the process environment.
    pub(crate) fn load() -> Result<Config> {
        Self::load_with(&env::real_env)
    }

    /// Load with a given environment (for tests).
    pub(crate) fn load_with(env: EnvFn) -> Result<Config> {
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
            forget_unknown: env::forget_unknown(env),
        })
    }

    /// Parse and validate file contents.
    pub(crate) fn parse(text: &str, path: &Path, env: EnvFn) -> Result<Config> {
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
            forget_unknown: env::forget_unknown(env),
        })
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
    let token_override = if first {
        env::override_first_slot(&mut raw, env)?
    } else {
        None
    };
    let url_from_env = first && env("TSB_PKCS11_URL").is_some();
    let (url_field, given) = match (raw.url.clone(), raw.urls.clone()) {
        (Some(_), Some(_)) => {
            return Err(ctx.err("urls", Some(n), "give url or urls, not both"));
        }
        (Some(u), None) => ("url", u.into_vec()),
        (None, Some(u)) => ("urls", u),
        (None, None) => ("url", Vec::new()),
    };
    if given.is_empty() {
        return Err(ctx.err(
            url_field,
            Some(n),
            "required (the TSB base URL, e.g. https://rest-api.cloudshsm.com, or a list of them)",
        ));
    }
    let mut urls = Vec::new();
    for (i, u) in given.iter().enumerate() {
        // Every URL gets the same rules (https, or plain http to loopback only).
        let u = url::check_url(u, raw.allow_http).map_err(|m| {
            if url_from_env {
                Error::Config(format!("TSB_PKCS11_URL: {m}"))
            } else if given.len() > 1 {
                ctx.err(&format!("{url_field}[{i}]"), Some(n), &m)
            } else {
                ctx.err(url_field, Some(n), &m)
            }
        })?;
        if urls.contains(&u) {
            return Err(ctx.err(url_field, Some(n), &format!("{u} is listed twice")));
        }
        urls.push(u);
    }
    let url = urls[0].clone();
    let token = match (token_override, &raw.token) {
        (Some(t), _) => Some(t),
        (None, Some(src)) => Some(read_secret(src, "token", n, ctx, env)?),
        (None, None) => None,
    };
    let mut api_keys = BTreeMap::new();
    for (role, srcs) in &raw.api_keys {
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
        let srcs = srcs.clone().into_vec();
        if srcs.is_empty() {
            return Err(ctx.err(
                "api_keys",
                Some(n),
                &format!("{role}: give at least one key"),
            ));
        }
        let mut keys = Vec::new();
        for src in &srcs {
            keys.push(read_secret(src, "api_keys", n, ctx, env)?);
        }
        api_keys.insert(role.clone(), keys);
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
        p.validate()
            .map_err(|e| e.to_string())
            .and_then(|_| check_approver_keys(p))
            .map_err(|e| {
                ctx.err(
                    if raw.default_policy.is_some() {
                        "default_policy"
                    } else {
                        "default_policy_file"
                    },
                    Some(n),
                    &e,
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
    let listing_concurrency = match raw.listing_concurrency {
        None => DEFAULT_LISTING_CONCURRENCY,
        Some(c) if (1..=MAX_LISTING_CONCURRENCY).contains(&c) => c as usize,
        Some(_) => {
            return Err(ctx.err(
                "listing_concurrency",
                Some(n),
                &format!(
                    "must be between 1 and {MAX_LISTING_CONCURRENCY} (the default is {DEFAULT_LISTING_CONCURRENCY})"
                ),
            ))
        }
    };
    for p in &raw.ca_certificates {
        if !p.exists() {
            return Err(ctx.err(
                "ca_certificates",
                Some(n),
                &format!("{} does not exist", p.display()),
            ));
        }
    }
    let tsb_version = match &raw.tsb_version {
        None => None,
        Some(v) if v.trim().eq_ignore_ascii_case("auto") => None,
        Some(v) => Some(TsbVersion::parse(v).ok_or_else(|| {
            ctx.err(
                "tsb_version",
                Some(n),
                &format!("{v:?} is not a version like \"2.1.1\" (or \"auto\": ask the TSB)"),
            )
        })?),
    };
    let sign_full_data = match raw.sign_full_data {
        None | Some(file::FullDataRaw(None)) => FullData::Auto,
        Some(file::FullDataRaw(Some(true))) => FullData::Always,
        Some(file::FullDataRaw(Some(false))) => FullData::Never,
    };
    let full_data_max_bytes = match raw.sign_full_data_max_bytes {
        None => DEFAULT_FULL_DATA_MAX_BYTES,
        Some(b) if b == 0 || b > 64 * 1024 * 1024 => {
            return Err(ctx.err(
                "sign_full_data_max_bytes",
                Some(n),
                "must be between 1 and 67108864",
            ))
        }
        Some(b) => b as usize,
    };
    let key_password = match &raw.key_password {
        Some(src) => Some(read_secret(src, "key_password", n, ctx, env)?),
        None => None,
    };
    let mut key_passwords = BTreeMap::new();
    for (label, src) in &raw.key_passwords {
        key_passwords.insert(
            label.clone(),
            read_secret(src, "key_passwords", n, ctx, env)?,
        );
    }
    let request_signer = match (&raw.request_signing_key, &raw.request_signing_cert) {
        (Some(k), c) => Some(Arc::new(
            RequestSigner::load(k, c.as_deref()).map_err(|(f, m)| ctx.err(f, Some(n), &m))?,
        )),
        (None, Some(_)) => {
            return Err(ctx.err(
                "request_signing_cert",
                Some(n),
                "request_signing_key is required with request_signing_cert",
            ))
        }
        (None, None) => None,
    };
    let aes_iv = match raw.aes_iv.as_deref() {
        None | Some("caller") => AesIv::Caller,
        Some("tsb-when-zero") => AesIv::TsbWhenZero,
        Some(other) => {
            return Err(ctx.err(
                "aes_iv",
                Some(n),
                &format!("{other:?} is not \"caller\" (the default) or \"tsb-when-zero\""),
            ))
        }
    };
    let token_settings = token::validate(&raw, n, ctx)?;
    Ok(SlotConfig {
        aes_iv,
        token_settings,
        label: raw.label.unwrap_or_else(|| {
            if n == 0 {
                "TSB".into()
            } else {
                format!("TSB {n}")
            }
        }),
        url,
        urls,
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
        listing_concurrency,
        progress: raw.progress.unwrap_or(true),
        journal: raw.journal,
        ca_certificates: raw.ca_certificates,
        verify_signatures: raw.verify_signatures.unwrap_or(true),
        max_list_bytes,
        tsb_version,
        sign_full_data,
        full_data_max_bytes,
        key_password,
        key_passwords,
        request_signer,
        expiry_grace: raw
            .expiry_grace_s
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_EXPIRY_GRACE),
    })
}

#[cfg(test)]
mod tests {
    use super::url::is_loopback_url;
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

    /// A secret written into the JSON itself (where the file should name a variable or a file)
    /// is refused with the field and the line, and without repeating it: the line goes to the
    /// log and to tsb-pkcs11-doctor's report.
    #[test]
    fn an_inline_secret_is_refused_without_repeating_it() {
        for (field, value) in [
            ("token", "\"eyJinline-token-secret\""),
            ("key_password", "\"inline-key-password\""),
            ("key_passwords", "{\"k\": \"inline-label-password\"}"),
            ("api_keys", "{\"serviceToken\": \"inline-api-key\"}"),
        ] {
            let text = format!(
                "{{\"slots\": [{{\"url\": \"https://a.example\",\n \"{field}\": {value}}}]}}"
            );
            let e = Config::parse(&text, Path::new("/etc/c.json"), &env_of(&[]))
                .unwrap_err()
                .to_string();
            assert!(e.contains("/etc/c.json line 2"), "{field}: {e}");
            assert!(!e.contains("inline"), "{field}: {e}");
        }
        let text = "{\"slots\": [{\"url\": \"https://a.example\",\n \"token\": \"eyJx\"}]}";
        let e = Config::parse(text, Path::new("c.json"), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("{\"env\": ") && e.contains("{\"file\": "), "{e}");
        // A named source's own mistakes keep their message.
        let text =
            r#"{"slots": [{"url": "https://a.example", "token": {"env": "T", "bogus": 1}}]}"#;
        let e = Config::parse(text, Path::new("c.json"), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
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

    #[test]
    fn several_urls_each_checked() {
        let text = r#"{"slots": [{"url": ["https://a.example", "https://b.example/v1"]}]}"#;
        let c = Config::parse(text, Path::new("c.json"), &env_of(&[])).unwrap();
        assert_eq!(
            c.slots[0].urls,
            vec!["https://a.example", "https://b.example"]
        );
        assert_eq!(c.slots[0].url, "https://a.example");
        let text = r#"{"slots": [{"urls": ["https://a.example", "http://10.0.0.1"], "allow_http": true}]}"#;
        let e = Config::parse(text, Path::new("c.json"), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("slots[0].urls[1]") && e.contains("loopback"),
            "{e}"
        );
        let text = r#"{"slots": [{"url": "https://a.example", "urls": ["https://b.example"]}]}"#;
        let e = Config::parse(text, Path::new("c.json"), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not both"), "{e}");
        let text = r#"{"slots": [{"urls": []}]}"#;
        assert!(Config::parse(text, Path::new("c.json"), &env_of(&[])).is_err());
        let text = r#"{"slots": [{"url": ["https://a.example", "https://a.example/"]}]}"#;
        let e = Config::parse(text, Path::new("c.json"), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("listed twice"), "{e}");
    }

    #[test]
    fn api_keys_one_or_several_per_role() {
        let env = env_of(&[("K1", "one"), ("K2", "two")]);
        let text = r#"{"slots": [{"url": "https://a.example", "api_keys": {
            "keyOperationToken": [{"env": "K1"}, {"env": "K2"}],
            "serviceToken": {"env": "K1"}}}]}"#;
        let c = Config::parse(text, Path::new("c.json"), &env).unwrap();
        let keys = &c.slots[0].api_keys;
        assert_eq!(
            keys["keyOperationToken"]
                .iter()
                .map(Secret::expose)
                .collect::<Vec<_>>(),
            ["one", "two"]
        );
        assert_eq!(keys["serviceToken"].len(), 1);
        assert!(!format!("{c:?}").contains("two"));
        let text =
            r#"{"slots": [{"url": "https://a.example", "api_keys": {"keyOperationToken": []}}]}"#;
        let e = Config::parse(text, Path::new("c.json"), &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("api_keys") && e.contains("at least one"), "{e}");
    }

    #[test]
    fn aes_iv_is_the_callers_unless_the_slot_opts_in() {
        let parse = |extra: &str| {
            let text = format!(r#"{{"slots": [{{"url": "https://a.example"{extra}}}]}}"#);
            Config::parse(&text, Path::new("c.json"), &env_of(&[])).map(|c| c.slots[0].aes_iv)
        };
        assert_eq!(parse("").unwrap(), AesIv::Caller);
        assert_eq!(parse(r#", "aes_iv": "caller""#).unwrap(), AesIv::Caller);
        assert_eq!(
            parse(r#", "aes_iv": "tsb-when-zero""#).unwrap(),
            AesIv::TsbWhenZero
        );
        let e = parse(r#", "aes_iv": "tsb""#).unwrap_err().to_string();
        assert!(
            e.contains("c.json") && e.contains("aes_iv") && e.contains("tsb-when-zero"),
            "{e}"
        );
    }

    #[test]
    fn version_full_data_passwords_and_grace() {
        let env = env_of(&[("PW", "secret"), ("PW2", "other")]);
        let text = r#"{"slots": [{"url": "https://a.example", "tsb_version": "2.1.1",
            "sign_full_data": true, "sign_full_data_max_bytes": 1000,
            "key_password": {"env": "PW"}, "key_passwords": {"k": {"env": "PW2"}},
            "expiry_grace_s": 120, "listing_concurrency": 4}]}"#;
        let c = Config::parse(text, Path::new("c.json"), &env).unwrap();
        let s = &c.slots[0];
        assert_eq!(s.tsb_version, Some(TsbVersion::V2_1_1));
        assert_eq!(s.sign_full_data, FullData::Always);
        assert_eq!(s.full_data_max_bytes, 1000);
        assert_eq!(s.key_password.as_ref().map(Secret::expose), Some("secret"));
        assert_eq!(s.key_passwords["k"].expose(), "other");
        assert_eq!(s.expiry_grace, Duration::from_secs(120));
        assert_eq!(s.listing_concurrency, 4);
        assert!(!format!("{c:?}").contains("secret"));
        let text = r#"{"slots": [{"url": "https://a.example"}]}"#;
        let s = &Config::parse(text, Path::new("c.json"), &env)
            .unwrap()
            .slots[0];
        assert_eq!(
            (s.tsb_version, s.sign_full_data, s.expiry_grace),
            (None, FullData::Auto, DEFAULT_EXPIRY_GRACE)
        );
        assert_eq!(s.listing_concurrency, DEFAULT_LISTING_CONCURRENCY);
        for (field, value, words) in [
            ("tsb_version", "\"two\"", "not a version"),
            ("sign_full_data", "\"sometimes\"", "auto"),
            ("sign_full_data_max_bytes", "0", "between"),
            ("listing_concurrency", "0", "between 1 and 64"),
            ("listing_concurrency", "65", "between 1 and 64"),
        ] {
            let text = format!(
                "{{\"slots\": [{{\"url\": \"https://a.example\",\n \"{field}\": {value}}}]}}"
            );
            let e = Config::parse(&text, Path::new("c.json"), &env)
                .unwrap_err()
                .to_string();
            assert!(e.contains(field) || e.contains("line 2"), "{field}: {e}");
            assert!(e.contains(words), "{field}: {e}");
        }
    }

    /// Issue 17: a default policy whose approver key is not base64 SPKI is a config error
    /// naming the field and the approver, not a CKR_DEVICE_ERROR at the first key generation.
    #[test]
    fn a_default_policy_with_a_bad_approver_key_is_refused() {
        let text = r#"{"slots": [{"url": "https://a.example", "default_policy": {"ruleUse":
            {"tokens": [{"name": "t", "timelock": 0, "timeout": 0, "groups": [{"name": "g",
            "quorum": 1, "approvals": [{"type": "public_key", "name": "alice",
            "value": "bm90IGEga2V5"}]}]}]}}}]}"#;
        let e = Config::parse(text, Path::new("/etc/c.json"), &env_of(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/etc/c.json line 1: slots[0].default_policy")
                && e.contains("approver key is not valid base64 SPKI")
                && e.contains("alice"),
            "{e}"
        );
    }
}
