//! Secrets (bearer token, API keys): never in the JSON itself, which names an environment
//! variable or a file holding each one, so the config can be world-readable and committed; held
//! in memory in storage that is wiped when dropped.

use super::{Ctx, EnvFn};
use crate::error::Result;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// A secret value (bearer token, API key): zeroed in memory when dropped (every clone too), never
/// shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Secret(Zeroizing<String>);

impl Secret {
    /// Wrap a value (copies `s` into zeroizing storage).
    pub(crate) fn new(s: &str) -> Secret {
        Secret(Zeroizing::new(s.to_string()))
    }
    /// The value, for building a request header.
    pub(crate) fn expose(&self) -> &str {
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
pub(crate) struct SecretSource {
    /// Name of an environment variable holding the secret.
    #[serde(default)]
    pub(crate) env: Option<String>,
    /// Path of a file holding the secret (surrounding whitespace is trimmed).
    #[serde(default)]
    pub(crate) file: Option<PathBuf>,
}

pub(super) fn read_secret(
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

pub(super) fn read_secret_file(path: &Path) -> std::result::Result<Secret, String> {
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
