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
mod secrets;
mod token;
mod url;

pub(crate) use env::EnvFn;
pub(crate) use secrets::Secret;
pub(crate) use token::TokenSettings;
pub(crate) use url::{is_loopback_host, url_description};

use crate::error::{Error, Result};
use file::{strip_position, Ctx, RawConfig, RawSlot};
use secrets::read_secret;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tsb_models::Policy;

/// One validated slot.
#[derive(Debug, Clone)]
pub(crate) struct SlotConfig {
    /// Token label (max 32 chars shown).
    pub(crate) label: String,
    /// TSB base URL without trailing slash, e.g. `https://rest-api.cloudshsm.com`.
    pub(crate) url: String,
    /// Bearer token (JWT), if configured.
    pub(crate) token: Option<Secret>,
    /// API keys by role.
    pub(crate) api_keys: BTreeMap<String, Secret>,
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
    /// PINs, C_InitToken, session-key age (config/token.rs).
    pub(crate) token_settings: TokenSettings,
}

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
    let url = raw.url.clone().ok_or_else(|| {
        ctx.err(
            "url",
            Some(n),
            "required (the TSB base URL, e.g. https://rest-api.cloudshsm.com)",
        )
    })?;
    let url = url::check_url(&url, raw.allow_http).map_err(|m| {
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
    let token_settings = token::validate(&raw, n, ctx)?;
    Ok(SlotConfig {
        token_settings,
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
