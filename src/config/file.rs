//! The config file: its raw JSON shape (the field names are the config keys documented in
//! README.md) and errors that name the file, the line and the field.

use super::secrets::SecretSource;
use crate::error::Error;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use tsb_models::Policy;

/// The raw JSON shape of one slot (field names are the config keys documented in README.md).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlot {
    pub(super) label: Option<String>,
    /// One URL, or a list (failover, in order).
    pub(super) url: Option<OneOrMany<String>>,
    /// The same as a list of `url`s; give one of the two.
    pub(super) urls: Option<Vec<String>>,
    #[serde(default)]
    pub(super) allow_http: bool,
    pub(super) token: Option<SecretSource>,
    /// Per role one key, or several (rollover: the next is tried on errorCode 631).
    #[serde(default)]
    pub(super) api_keys: BTreeMap<String, OneOrMany<SecretSource>>,
    pub(super) client_cert: Option<PathBuf>,
    pub(super) client_key: Option<PathBuf>,
    pub(super) ca_file: Option<PathBuf>,
    #[serde(default)]
    pub(super) pin_is_token: bool,
    pub(super) connect_timeout_ms: Option<u64>,
    pub(super) request_timeout_ms: Option<u64>,
    pub(super) approval_timeout_s: Option<u64>,
    pub(super) poll_interval_ms: Option<u64>,
    pub(super) poll_max_interval_ms: Option<u64>,
    pub(super) default_policy: Option<Policy>,
    pub(super) default_policy_file: Option<PathBuf>,
    pub(super) label_prefix: Option<String>,
    pub(super) cache_ttl_s: Option<u64>,
    pub(super) listing_concurrency: Option<u64>,
    pub(super) progress: Option<bool>,
    pub(super) journal: Option<PathBuf>,
    #[serde(default)]
    pub(super) ca_certificates: Vec<PathBuf>,
    pub(super) verify_signatures: Option<bool>,
    pub(super) max_list_bytes: Option<u64>,
    pub(super) tsb_version: Option<String>,
    pub(super) sign_full_data: Option<FullDataRaw>,
    pub(super) sign_full_data_max_bytes: Option<u64>,
    pub(super) aes_iv: Option<String>,
    pub(super) key_password: Option<SecretSource>,
    #[serde(default)]
    pub(super) key_passwords: BTreeMap<String, SecretSource>,
    pub(super) request_signing_key: Option<PathBuf>,
    pub(super) request_signing_cert: Option<PathBuf>,
    pub(super) expiry_grace_s: Option<u64>,
    // Token management (config/token.rs).
    pub(super) user_pin: Option<String>,
    pub(super) so_pin: Option<String>,
    #[serde(default)]
    pub(super) allow_init_token: bool,
    pub(super) state_file: Option<PathBuf>,
    pub(super) session_key_max_age_s: Option<u64>,
}

/// A value or a list of values (`"url": "https://a"` or `"url": ["https://a", "https://b"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany<T> {
    // A list first: serde reads a struct from a sequence too, so `[]` must be a list.
    Many(Vec<T>),
    One(T),
}

impl<T> OneOrMany<T> {
    pub(super) fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `sign_full_data`: `"auto"`, `true` or `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FullDataRaw(pub(super) Option<bool>);

impl<'de> Deserialize<'de> for FullDataRaw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Flag(bool),
            Word(String),
        }
        match Repr::deserialize(d)? {
            Repr::Flag(b) => Ok(FullDataRaw(Some(b))),
            Repr::Word(w) if w.eq_ignore_ascii_case("auto") => Ok(FullDataRaw(None)),
            Repr::Word(w) => Err(serde::de::Error::custom(format!(
                "expected \"auto\", true or false, got {w:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) slots: Vec<RawSlot>,
    pub(super) log_level: Option<String>,
    pub(super) log_file: Option<String>,
}

pub(super) fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

pub(super) struct Ctx<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
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
            // Each slot has a `"url"` or `"urls"` key; count them as slot anchors.
            let mut starts = self
                .text
                .match_indices("\"url")
                .filter(|(i, _)| {
                    let rest = &self.text[i + 4..];
                    rest.starts_with('"') || rest.starts_with("s\"")
                })
                .map(|(i, _)| i);
            from = starts
                .nth(n)
                .map(|i| self.text[..i].rfind('{').unwrap_or(0))
                .unwrap_or(0);
        }
        let pos = self.text[from..].find(&key).map(|p| p + from)?;
        Some(self.text[..pos].matches('\n').count() + 1)
    }

    pub(super) fn err(&self, field: &str, slot: Option<usize>, msg: &str) -> Error {
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
