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

/// Where a secret comes from: `{"env": "VAR"}` or `{"file": "/path"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretSource {
    /// Name of an environment variable holding the secret.
    pub(crate) env: Option<String>,
    /// Path of a file holding the secret (surrounding whitespace is trimmed).
    pub(crate) file: Option<PathBuf>,
}

/// The JSON shape of a [`SecretSource`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    file: Option<PathBuf>,
}

/// Anything but an object is refused with a message that does not repeat what was written:
/// serde's own message would (`invalid type: string "eyJ...", expected ...`), and a secret written
/// into the JSON itself would then reach the log and tsb-pkcs11-doctor's report.
impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        // (The value is wiped when freed: the crate's allocator wipes every block, `crate::alloc`.)
        let v = serde_json::Value::deserialize(d)?;
        if !v.is_object() {
            return Err(serde::de::Error::custom(
                "a secret is never written in the config itself: give {\"env\": \"VARIABLE\"} \
                 or {\"file\": \"/path\"} that holds it",
            ));
        }
        // A named source's own mistakes (an unknown key, a number for `env`) keep serde's
        // message: it repeats only what is there, never a secret.
        let n = Named::deserialize(&v).map_err(serde::de::Error::custom)?;
        Ok(SecretSource {
            env: n.env,
            file: n.file,
        })
    }
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
