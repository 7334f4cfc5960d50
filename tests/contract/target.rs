//! The TSB under test: read from `TSB_CONTRACT_*` environment variables (any TSB: a Securosys
//! CloudHSM sandbox, an on-premises TSB, or a `tsb-emulator` started by `scripts/contract.sh`),
//! or, when `TSB_CONTRACT_URL` is not set, an in-process `tsb-emulator` WITHOUT test controls
//! (what a plain `cargo test` runs). Also the module configuration for it.

use std::path::{Path, PathBuf};
use tsb_approve::{ApproverKey, KeyKind};
use tsb_emulator::{Emulator, EmulatorConfig};
use tsb_models::{Role, TsbVersion};

/// Every label this suite creates starts with this; each run adds `<UTC time>-<random>-`.
pub const PREFIX_ROOT: &str = "tsbp11-contract-";

/// The API-key environment variables: `TSB_CONTRACT_API_KEY_<suffix>` and the TSB role.
pub const API_KEY_VARS: [(&str, Role); 4] = [
    ("TSB_CONTRACT_API_KEY_KEY_MANAGEMENT", Role::KeyManagement),
    ("TSB_CONTRACT_API_KEY_KEY_OPERATION", Role::KeyOperation),
    ("TSB_CONTRACT_API_KEY_APPROVER", Role::Approver),
    ("TSB_CONTRACT_API_KEY_SERVICE", Role::Service),
];

/// Where a secret (bearer token, API key) comes from: the module's config names the same
/// variable or file, so no secret is ever written into the generated config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// An environment variable.
    Env(String),
    /// A file.
    File(PathBuf),
}

impl Secret {
    /// The value (trimmed, as the module reads it).
    pub fn value(&self) -> String {
        let v = match self {
            Secret::Env(var) => std::env::var(var).unwrap_or_default(),
            Secret::File(p) => std::fs::read_to_string(p)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display())),
        };
        v.trim().to_string()
    }

    /// The module config's `{"env": ...}` / `{"file": ...}`.
    pub fn config_json(&self) -> serde_json::Value {
        match self {
            Secret::Env(var) => serde_json::json!({ "env": var }),
            Secret::File(p) => serde_json::json!({ "file": p }),
        }
    }

    /// How the report names it (never the value).
    pub fn describe(&self) -> String {
        match self {
            Secret::Env(var) => format!("${var}"),
            Secret::File(p) => p.display().to_string(),
        }
    }
}

/// What the environment says about the TSB under test (no secret values, only where they are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Base URL (`https://...`, or `http://` to a loopback address).
    pub url: String,
    /// Bearer token (JWT).
    pub token: Option<Secret>,
    /// `X-API-KEY` per role.
    pub api_keys: Vec<(Role, Secret)>,
    /// Extra trusted CA bundle (PEM).
    pub ca_file: Option<PathBuf>,
    /// mTLS client certificate and key (PEM).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// tsb-approve private key (PEM); `None`: a fresh P-256 key for this run.
    pub approver_key: Option<PathBuf>,
    /// The TSB version, when the user says it (else `GET /v1/versionInfo` tells).
    pub tsb_version: Option<TsbVersion>,
    /// The run prefix given by `scripts/contract.sh` (else one is made).
    pub run_prefix: Option<String>,
}

/// Whether `host` (from a URL) is a loopback address: the only place plain http may go.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Read the `TSB_CONTRACT_*` variables through `get`. `Ok(None)`: `TSB_CONTRACT_URL` is not set
/// (run against an in-process emulator). `Err`: one line per problem, all of them at once.
pub fn spec_from(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Spec>, Vec<String>> {
    let var = |name: &str| get(name).filter(|v| !v.trim().is_empty());
    let Some(url) = var("TSB_CONTRACT_URL") else {
        return Ok(None);
    };
    let mut errors = Vec::new();
    let url = url.trim().trim_end_matches('/').to_string();
    match reqwest::Url::parse(&url) {
        Ok(u) if u.scheme() == "https" => {}
        Ok(u) if u.scheme() == "http" => {
            if !u.host_str().is_some_and(is_loopback_host) {
                errors.push(format!(
                    "TSB_CONTRACT_URL={url}: plain http:// only to a loopback address; use https://"
                ));
            }
        }
        Ok(_) => errors.push(format!("TSB_CONTRACT_URL={url}: must be an https:// URL")),
        Err(e) => errors.push(format!("TSB_CONTRACT_URL={url}: not a URL ({e})")),
    }
    let file = |name: &str, errors: &mut Vec<String>| -> Option<PathBuf> {
        let p = PathBuf::from(var(name)?);
        if let Err(e) = std::fs::File::open(&p) {
            errors.push(format!("{name}={}: cannot read it ({e})", p.display()));
        }
        Some(p)
    };
    let token = match (var("TSB_CONTRACT_TOKEN"), var("TSB_CONTRACT_TOKEN_FILE")) {
        (Some(_), Some(_)) => {
            errors.push(
                "TSB_CONTRACT_TOKEN and TSB_CONTRACT_TOKEN_FILE are both set: give one".into(),
            );
            None
        }
        (Some(_), None) => Some(Secret::Env("TSB_CONTRACT_TOKEN".into())),
        (None, Some(_)) => file("TSB_CONTRACT_TOKEN_FILE", &mut errors).map(Secret::File),
        (None, None) => None,
    };
    let api_keys: Vec<(Role, Secret)> = API_KEY_VARS
        .iter()
        .filter(|(name, _)| var(name).is_some())
        .map(|(name, role)| (*role, Secret::Env((*name).into())))
        .collect();
    let no_auth = var("TSB_CONTRACT_NO_AUTH").as_deref() == Some("1");
    if token.is_none() && api_keys.is_empty() && !no_auth && errors.is_empty() {
        errors.push(
            "no credentials: set TSB_CONTRACT_TOKEN (or TSB_CONTRACT_TOKEN_FILE) and/or \
             TSB_CONTRACT_API_KEY_<ROLE> (KEY_MANAGEMENT, KEY_OPERATION, APPROVER, SERVICE); \
             TSB_CONTRACT_NO_AUTH=1 for a TSB without authentication"
                .into(),
        );
    }
    let ca_file = file("TSB_CONTRACT_CA_FILE", &mut errors);
    let client_cert = match (
        file("TSB_CONTRACT_CLIENT_CERT", &mut errors),
        file("TSB_CONTRACT_CLIENT_KEY", &mut errors),
    ) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) => {
            errors
                .push("TSB_CONTRACT_CLIENT_CERT is set but TSB_CONTRACT_CLIENT_KEY is not".into());
            None
        }
        (None, Some(_)) => {
            errors
                .push("TSB_CONTRACT_CLIENT_KEY is set but TSB_CONTRACT_CLIENT_CERT is not".into());
            None
        }
    };
    let approver_key = file("TSB_CONTRACT_APPROVER_KEY", &mut errors);
    let tsb_version = var("TSB_CONTRACT_TSB_VERSION").and_then(|v| {
        let parsed = TsbVersion::parse(v.trim());
        if parsed.is_none() {
            errors.push(format!(
                "TSB_CONTRACT_TSB_VERSION={v}: not a version (e.g. 2.2 or 2.1.1)"
            ));
        }
        parsed
    });
    let run_prefix = var("TSB_CONTRACT_RUN_PREFIX");
    if let Some(p) = &run_prefix {
        if let Err(e) = check_prefix(p) {
            errors.push(format!("TSB_CONTRACT_RUN_PREFIX={p}: {e}"));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Some(Spec {
        url,
        token,
        api_keys,
        ca_file,
        client_cert,
        approver_key,
        tsb_version,
        run_prefix,
    }))
}

/// A run prefix: `tsbp11-contract-` and then at least 8 more of `[a-z0-9-]`, ending with `-`,
/// so a sweep by prefix can only ever match keys of this suite.
pub fn check_prefix(p: &str) -> Result<(), String> {
    let rest = p
        .strip_prefix(PREFIX_ROOT)
        .ok_or_else(|| format!("must start with {PREFIX_ROOT}"))?;
    if rest.len() < 8
        || !p.ends_with('-')
        || !rest
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "after {PREFIX_ROOT}, at least 8 characters of a-z, 0-9 and '-', ending with '-'"
        ));
    }
    Ok(())
}

/// A fresh run prefix: `tsbp11-contract-<UTC yyyymmddthhmmss>-<8 hex>-` (lower case, so the
/// prefix stays `[a-z0-9-]`).
pub fn new_prefix() -> String {
    let mut r = [0u8; 4];
    openssl::rand::rand_bytes(&mut r).expect("random bytes");
    let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
    // "2026-11-29T06:30:00Z" -> "20261129t063000"
    let now: String = tsb_approve::now_timestamp()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .filter(|c| *c != 'Z')
        .collect::<String>()
        .to_ascii_lowercase();
    format!("{PREFIX_ROOT}{now}-{hex}-")
}

/// The TSB under test, ready to use.
pub struct Target {
    /// What the environment said (or what the in-process emulator has).
    pub spec: Spec,
    /// Every label of this run starts with it.
    pub prefix: String,
    /// The approver whose public key goes into the approval-gated keys' policies.
    pub approver_key: ApproverKey,
    /// Where the approver key came from, for the report.
    pub approver_source: String,
    /// Scratch files of this run (module config, secrets of the in-process emulator).
    pub dir: PathBuf,
    /// The in-process emulator when no `TSB_CONTRACT_URL` was given. Only its URL is used: the
    /// suite never touches an emulator control (it is started without them).
    _emulator: Option<Emulator>,
    /// Whether the target is the in-process emulator (for the report).
    pub in_process: bool,
}

impl Target {
    /// From the environment, or an in-process emulator without test controls.
    pub fn new() -> Result<Target, Vec<String>> {
        let spec = spec_from(&|name| std::env::var(name).ok())?;
        let dir = std::env::temp_dir().join(format!("tsbp11-contract-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| vec![format!("{}: {e}", dir.display())])?;
        let (spec, emulator) = match spec {
            Some(s) => (s, None),
            None => {
                let (s, e) = in_process_emulator(&dir);
                (s, Some(e))
            }
        };
        let (approver_key, approver_source) = match &spec.approver_key {
            Some(p) => (
                ApproverKey::from_pem_file(p)
                    .map_err(|e| vec![format!("TSB_CONTRACT_APPROVER_KEY={}: {e}", p.display())])?,
                p.display().to_string(),
            ),
            None => (
                ApproverKey::generate(KeyKind::EcP256),
                "a P-256 key generated for this run".to_string(),
            ),
        };
        let prefix = spec.run_prefix.clone().unwrap_or_else(new_prefix);
        Ok(Target {
            in_process: emulator.is_some(),
            spec,
            prefix,
            approver_key,
            approver_source,
            dir,
            _emulator: emulator,
        })
    }

    /// The approver client (tsb-approve's library) for this TSB.
    pub fn approver(&self) -> tsb_approve::Approver {
        let mut a = tsb_approve::Approver::new(&self.spec.url, self.approver_key.clone());
        if let Some((_, s)) = self
            .spec
            .api_keys
            .iter()
            .find(|(r, _)| *r == Role::Approver)
        {
            a = a.api_key(s.value());
        }
        if let Some(ca) = &self.spec.ca_file {
            a = a.ca_file(ca);
        }
        a
    }

    /// Write the module's configuration for this TSB and return its path: one slot with the run
    /// prefix as `label_prefix`, so the module sees (and creates) only this run's keys.
    pub fn write_module_config(&self) -> PathBuf {
        let s = &self.spec;
        let mut slot = serde_json::json!({
            "label": "contract",
            "url": s.url,
            "label_prefix": self.prefix,
            "progress": false,
            // A real TSB's scheduler may take its interval (60 s by default) to execute an
            // approved request.
            "approval_timeout_s": 120,
        });
        if s.url.starts_with("http://") {
            slot["allow_http"] = true.into();
        }
        // A version the user states is the module's too (it picks version-dependent bodies and
        // `sign_full_data` by it); without one the module asks the TSB or plays safe.
        if let Some(v) = &s.tsb_version {
            slot["tsb_version"] = v.to_string().into();
        }
        if let Some(t) = &s.token {
            slot["token"] = t.config_json();
        }
        if !s.api_keys.is_empty() {
            let keys: serde_json::Map<String, serde_json::Value> = s
                .api_keys
                .iter()
                .map(|(r, sec)| (r.name().to_string(), sec.config_json()))
                .collect();
            slot["api_keys"] = keys.into();
        }
        if let Some(ca) = &s.ca_file {
            slot["ca_file"] = ca.display().to_string().into();
        }
        if let Some((c, k)) = &s.client_cert {
            slot["client_cert"] = c.display().to_string().into();
            slot["client_key"] = k.display().to_string().into();
        }
        let path = self.dir.join("config.json");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&serde_json::json!({ "slots": [slot] }))
                .expect("config JSON"),
        )
        .expect("write the module config");
        path
    }

    /// One line for the report: where, with what (never a secret value).
    pub fn describe(&self) -> String {
        let s = &self.spec;
        let mut creds = Vec::new();
        if let Some(t) = &s.token {
            creds.push(format!("bearer token from {}", t.describe()));
        }
        for (r, sec) in &s.api_keys {
            creds.push(format!("{} from {}", r.name(), sec.describe()));
        }
        if let Some(ca) = &s.ca_file {
            creds.push(format!("CA file {}", ca.display()));
        }
        if let Some((c, _)) = &s.client_cert {
            creds.push(format!("client certificate {}", c.display()));
        }
        if creds.is_empty() {
            creds.push("no credentials".into());
        }
        format!(
            "{}{} ({})",
            s.url,
            if self.in_process {
                " (in-process tsb-emulator, no test controls)"
            } else {
                ""
            },
            creds.join(", ")
        )
    }
}

impl Drop for Target {
    /// The scratch files go with the run (the config names no secret, but the in-process
    /// emulator's secret files are there).
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An in-process emulator as a stand-in for a remote TSB: no test controls, a bearer token and an
/// API key per role (in files, as a user would keep them), so the same credential handling runs.
fn in_process_emulator(dir: &Path) -> (Spec, Emulator) {
    let secret = |name: &str| {
        let mut r = [0u8; 16];
        openssl::rand::rand_bytes(&mut r).expect("random bytes");
        let v: String = r.iter().map(|b| format!("{b:02x}")).collect();
        let p = dir.join(name);
        std::fs::write(&p, &v).expect("write a secret file");
        (v, p)
    };
    let (token, token_file) = secret("token");
    let mut api_keys = Vec::new();
    let mut spec_keys = Vec::new();
    for (_, role) in API_KEY_VARS {
        let (v, p) = secret(role.name());
        api_keys.push((role, v));
        spec_keys.push((role, Secret::File(p)));
    }
    let emu = Emulator::start(EmulatorConfig {
        bearer_token: Some(token),
        api_keys,
        test_controls: false,
        ..EmulatorConfig::default()
    })
    .expect("start the in-process emulator");
    (
        Spec {
            url: emu.base_url(),
            token: Some(Secret::File(token_file)),
            api_keys: spec_keys,
            ca_file: None,
            client_cert: None,
            approver_key: None,
            tsb_version: None,
            run_prefix: None,
        },
        emu,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn spec(vars: &[(&str, &str)]) -> Result<Option<Spec>, Vec<String>> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        spec_from(&|k| m.get(k).cloned())
    }

    #[test]
    fn without_a_url_the_in_process_emulator_is_used() {
        assert_eq!(spec(&[]), Ok(None));
        assert_eq!(spec(&[("TSB_CONTRACT_URL", "  ")]), Ok(None));
    }

    #[test]
    fn every_problem_is_reported_at_once_one_line_each() {
        let errs = spec(&[
            ("TSB_CONTRACT_URL", "http://tsb.example.com"),
            ("TSB_CONTRACT_TOKEN", "t"),
            ("TSB_CONTRACT_TOKEN_FILE", "/nonexistent/token"),
            ("TSB_CONTRACT_CLIENT_CERT", "/nonexistent/cert.pem"),
            ("TSB_CONTRACT_APPROVER_KEY", "/nonexistent/approver.pem"),
            ("TSB_CONTRACT_TSB_VERSION", "two"),
            ("TSB_CONTRACT_RUN_PREFIX", "mykeys-"),
        ])
        .unwrap_err();
        let want = [
            "TSB_CONTRACT_URL=http://tsb.example.com: plain http:// only to a loopback address",
            "TSB_CONTRACT_TOKEN and TSB_CONTRACT_TOKEN_FILE are both set",
            "TSB_CONTRACT_CLIENT_CERT=/nonexistent/cert.pem: cannot read it",
            "TSB_CONTRACT_CLIENT_CERT is set but TSB_CONTRACT_CLIENT_KEY is not",
            "TSB_CONTRACT_APPROVER_KEY=/nonexistent/approver.pem: cannot read it",
            "TSB_CONTRACT_TSB_VERSION=two: not a version",
            "TSB_CONTRACT_RUN_PREFIX=mykeys-: must start with tsbp11-contract-",
        ];
        assert_eq!(errs.len(), want.len(), "{errs:#?}");
        for (e, w) in errs.iter().zip(want) {
            assert!(e.starts_with(w), "{e:?} should start with {w:?}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn credentials_are_required_unless_no_auth_is_said() {
        let errs = spec(&[("TSB_CONTRACT_URL", "https://tsb.example.com")]).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("no credentials:"), "{errs:?}");
        let s = spec(&[
            ("TSB_CONTRACT_URL", "https://tsb.example.com/"),
            ("TSB_CONTRACT_NO_AUTH", "1"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(s.url, "https://tsb.example.com");
        assert!(s.token.is_none() && s.api_keys.is_empty());
    }

    #[test]
    fn api_keys_per_role_and_the_token_are_referenced_never_copied() {
        let s = spec(&[
            ("TSB_CONTRACT_URL", "http://127.0.0.1:8080"),
            ("TSB_CONTRACT_TOKEN", "secret-token"),
            ("TSB_CONTRACT_API_KEY_KEY_OPERATION", "op-key"),
            ("TSB_CONTRACT_API_KEY_APPROVER", "appr-key"),
            ("TSB_CONTRACT_TSB_VERSION", "2.1.1"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(s.token, Some(Secret::Env("TSB_CONTRACT_TOKEN".into())));
        assert_eq!(
            s.api_keys,
            vec![
                (
                    Role::KeyOperation,
                    Secret::Env("TSB_CONTRACT_API_KEY_KEY_OPERATION".into())
                ),
                (
                    Role::Approver,
                    Secret::Env("TSB_CONTRACT_API_KEY_APPROVER".into())
                ),
            ]
        );
        assert_eq!(s.tsb_version, TsbVersion::parse("2.1.1"));
        let json = s.token.unwrap().config_json().to_string();
        assert!(!json.contains("secret-token"), "{json}");
    }

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1", "localhost", "[::1]", "127.1.2.3"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "10.0.0.1",
            "tsb.example.com",
            "localhost.example.com",
            "[::2]",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn run_prefixes_are_unique_and_only_match_this_suite() {
        let a = new_prefix();
        let b = new_prefix();
        assert_ne!(a, b);
        check_prefix(&a).unwrap();
        assert!(a.starts_with(PREFIX_ROOT) && a.ends_with('-'), "{a}");
        // yyyymmddthhmmss
        let stamp = &a[PREFIX_ROOT.len()..PREFIX_ROOT.len() + 15];
        assert_eq!(stamp.as_bytes()[8], b't', "{a}");
        assert!(stamp.starts_with("20"), "{a}");
        for bad in [
            "tsbp11-contract-",
            "tsbp11-contract-abc-",
            "tsbp11-contract-ABCDEFGH-",
            "tsbp11-contract-abcdefgh",
        ] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }
}
