//! The environment: with no config file, `TSB_PKCS11_URL` and friends define one slot; with a
//! file, the same variables override its first slot. Read through an [`EnvFn`], so tests supply
//! their own.

use super::file::RawSlot;
use super::secrets::{read_secret_file, Secret};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Read the environment through a function so tests can supply their own.
pub(crate) type EnvFn<'a> = &'a dyn Fn(&str) -> Option<String>;

pub(super) fn real_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `TSB_PKCS11_FORGET_UNKNOWN`: forget the outcome-unknown markers at C_Initialize.
pub(super) fn forget_unknown(env: EnvFn) -> bool {
    env("TSB_PKCS11_FORGET_UNKNOWN").is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

/// Apply the environment to the first slot; returns the bearer token it gives, if any.
pub(super) fn override_first_slot(raw: &mut RawSlot, env: EnvFn) -> Result<Option<Secret>> {
    let mut token_override = None;
    if let Some(u) = env("TSB_PKCS11_URL") {
        raw.url = Some(super::file::OneOrMany::One(u));
        raw.urls = None;
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
    Ok(token_override)
}
