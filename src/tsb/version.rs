//! The TSB's version, which chooses the behaviour that differs between releases (pre-hashed
//! signatures on approval-gated keys, the certificate DTOs, the PKCS#1 v1.5 cipher name): the
//! slot's `tsb_version` when the configuration gives it, else read from the TSB with
//! `GET /v1/versionInfo` the first time it is needed (never in C_Initialize, the slot and token
//! functions or C_OpenSession, which must not touch the network). When it cannot be read, the
//! version is unknown and every choice takes the behaviour that works on every version.
//!
//! `GET /v1/versionInfo` is guarded by the `serviceToken` API key (S2
//! `tsb/Concepts/authentication/authentication.md`): with API keys configured but none for that
//! role it would be refused, so it is not asked. TSB 1.18 has no API keys at all (S2 release
//! notes 2.0.0) and answers it like every version (S2 `tsb/Quickstart/cloud-quickstart.md`).

use super::{api, Client};
use crate::log::Level;
use parking_lot::Mutex;
use std::time::{Duration, Instant};
use tsb_models::{Role, TsbVersion};

/// How long a failed read of the version is remembered before the TSB is asked again.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// The version of one slot's TSB, configured or read once.
pub(crate) struct VersionCache {
    configured: Option<TsbVersion>,
    /// `Some((version, when))` once asked: a version read is kept for good, an unknown one for
    /// [`RETRY_AFTER`].
    read: Mutex<Option<(Option<TsbVersion>, Instant)>>,
}

impl VersionCache {
    /// The configured version, or none (read it when needed).
    pub(crate) fn new(configured: Option<TsbVersion>) -> VersionCache {
        VersionCache {
            configured,
            read: Mutex::new(None),
        }
    }

    /// The version as far as it is known without asking: configured, or read before.
    pub(crate) fn known(&self) -> Option<TsbVersion> {
        self.configured
            .or_else(|| self.read.lock().and_then(|(v, _)| v))
    }

    /// The TSB's version, asking the TSB the first time (no lock is held while asking).
    pub(crate) fn get(&self, client: &Client) -> Option<TsbVersion> {
        if self.configured.is_some() {
            return self.configured;
        }
        if let Some((v, at)) = *self.read.lock() {
            if v.is_some() || at.elapsed() < RETRY_AFTER {
                return v;
            }
        }
        let v = if client.uses_api_keys() && !client.has_api_key(Role::Service) {
            crate::log!(
                Level::Info,
                "the TSB's version is unknown (GET /v1/versionInfo needs a serviceToken API key, \
                 and none is configured): using what works on every version; set `tsb_version` \
                 or `api_keys.serviceToken` in the slot's config to use what this version offers"
            );
            None
        } else {
            match api::version_info(client) {
                Ok(v) => {
                    crate::log!(Level::Debug, "the TSB is version {v}");
                    Some(v)
                }
                Err(e) => {
                    crate::log!(
                        Level::Info,
                        "the TSB's version is unknown ({e}): using what works on every version; \
                         set `tsb_version` in the slot's config to use what this version offers"
                    );
                    None
                }
            }
        };
        *self.read.lock() = Some((v, Instant::now()));
        v
    }
}
