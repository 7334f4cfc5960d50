//! The token-management settings of a slot: its PINs (as salted hashes), whether C_InitToken may
//! wipe it, where C_InitPIN/C_SetPIN keep what they set, and the age rule of session keys left
//! by other hosts (README, "Login and the PIN" and "Session objects").

use super::file::{Ctx, RawSlot};
use crate::error::Result;
use std::path::PathBuf;
use std::time::Duration;

/// A slot's token-management settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenSettings {
    /// The user PIN's hash (PHC string, `$pbkdf2-sha256$...`): the token then needs a login.
    pub(crate) user_pin: Option<String>,
    /// The SO PIN's hash (PHC string): needed for C_InitToken and an SO login.
    pub(crate) so_pin: Option<String>,
    /// C_InitToken may delete every key under the slot's `label_prefix`.
    pub(crate) allow_init_token: bool,
    /// Where C_InitToken, C_InitPIN and C_SetPIN keep the PINs they set.
    pub(crate) state_file: Option<PathBuf>,
    /// Session keys of other hosts older than this are deleted (off: never).
    pub(crate) session_key_max_age: Option<Duration>,
}

/// Validate the raw settings of slot `n`.
pub(super) fn validate(raw: &RawSlot, n: usize, ctx: &Ctx) -> Result<TokenSettings> {
    for (field, v) in [("user_pin", &raw.user_pin), ("so_pin", &raw.so_pin)] {
        if let Some(h) = v {
            // The full check (salt, hash, iterations) is the token's, at C_Initialize; here
            // only what tells a hash from a PIN written in the clear by mistake.
            if !h.starts_with("$pbkdf2-sha256$") {
                return Err(ctx.err(
                    field,
                    Some(n),
                    "must be a PIN hash ($pbkdf2-sha256$..., from scripts/tsb-pin-hash), never the PIN itself",
                ));
            }
        }
    }
    if raw.allow_init_token {
        let need = |ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(ctx.err(
                    "allow_init_token",
                    Some(n),
                    &format!("needs {what}: C_InitToken deletes every key under the prefix"),
                ))
            }
        };
        need(
            raw.label_prefix.as_deref().is_some_and(|p| !p.is_empty()),
            "a non-empty label_prefix",
        )?;
        need(raw.so_pin.is_some(), "so_pin")?;
        need(raw.state_file.is_some(), "state_file")?;
    }
    if raw.session_key_max_age_s == Some(0) {
        return Err(ctx.err("session_key_max_age_s", Some(n), "must be > 0"));
    }
    Ok(TokenSettings {
        user_pin: raw.user_pin.clone(),
        so_pin: raw.so_pin.clone(),
        allow_init_token: raw.allow_init_token,
        state_file: raw.state_file.clone(),
        session_key_max_age: raw.session_key_max_age_s.map(Duration::from_secs),
    })
}
