//! Slots and their tokens: one configured TSB connection each, with its login state, the CA
//! certificates from the configuration, and what C_GetSlotInfo and C_GetTokenInfo report (local
//! data only: no network I/O).

use super::login::Pins;
use super::Module;
use crate::config::SlotConfig;
use crate::error::{Error, Result};
use crate::mechanism::Hash;
use crate::tsb::key::CertInfo;
use crate::tsb::Tsb;
use cryptoki_sys::*;
use parking_lot::Mutex;
use std::sync::Arc;

/// One configured TSB connection, shown as a slot with a token.
pub(crate) struct Slot {
    /// Slot id (index in the config).
    pub(crate) id: usize,
    pub(crate) config: SlotConfig,
    /// The TSB behind this slot: every call to it goes through here (shared with the thread
    /// that deletes session keys at C_Finalize).
    pub(crate) tsb: Arc<Tsb>,
    /// Leftover session keys of dead processes were looked for (session_keys.rs).
    pub(crate) reaped: std::sync::atomic::AtomicBool,
    /// The GCM IV counter of each AES key (by TSB label) for the message-based API's counter
    /// generators (message.rs): shared by every operation on the key in this process, so no
    /// two messages under one key get the same counter value, whatever the operations.
    pub(crate) gcm_counters: Mutex<std::collections::HashMap<String, Arc<Mutex<u64>>>>,
    /// Who is logged in: CKU_USER, CKU_SO or nobody (PKCS#11 login state is per token, shared
    /// by the application's sessions).
    pub(crate) login: Mutex<Option<CK_USER_TYPE>>,
    /// The PINs (login.rs).
    pub(crate) pins: Mutex<Pins>,
    /// CA certificates from the config, shown as certificate objects.
    pub(crate) ca_certs: Vec<(String, Arc<CertInfo>)>,
}

/// What C_GetTokenInfo reports beyond constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenInfo {
    pub(crate) label: String,
    /// A stable serial number of the TSB (hex), so tools can tell two TSBs apart.
    pub(crate) serial: String,
    pub(crate) flags: CK_FLAGS,
    pub(crate) sessions: usize,
    pub(crate) rw_sessions: usize,
}

impl Slot {
    /// Set up slot `id`: local work only (the CA files named by the config are read).
    pub(crate) fn new(id: usize, config: SlotConfig, tsb: Tsb) -> Result<Slot> {
        let mut ca_certs = Vec::new();
        for path in &config.ca_certificates {
            let text = std::fs::read(path)
                .map_err(|e| Error::Config(format!("ca_certificates: {}: {e}", path.display())))?;
            let der = if text.starts_with(b"-----") {
                crate::der::pem_decode(&String::from_utf8_lossy(&text)).ok_or_else(|| {
                    Error::Config(format!("ca_certificates: {} is not PEM", path.display()))
                })?
            } else {
                text
            };
            let cert = CertInfo::from_der(der).ok_or_else(|| {
                Error::Config(format!(
                    "ca_certificates: {} is not an X.509 certificate",
                    path.display()
                ))
            })?;
            let label = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "ca".into());
            ca_certs.push((label, Arc::new(cert)));
        }
        let pins = Pins::load(&config)?;
        Ok(Slot {
            id,
            config,
            tsb: Arc::new(tsb),
            reaped: std::sync::atomic::AtomicBool::new(false),
            gcm_counters: Mutex::new(Default::default()),
            login: Mutex::new(None),
            pins: Mutex::new(pins),
            ca_certs,
        })
    }

    /// Private objects (and every TSB call) need a login: when the PIN is the bearer token, and
    /// when the slot has a user PIN (or may get one through C_InitToken and C_InitPIN).
    pub(crate) fn login_required(&self) -> bool {
        self.config.pin_is_token || self.pins.lock().has_pins(&self.config)
    }

    /// Whether the user is logged in.
    pub(crate) fn logged_in(&self) -> bool {
        *self.login.lock() == Some(CKU_USER)
    }

    /// CKR_USER_NOT_LOGGED_IN on a slot that needs a login, before it.
    pub(crate) fn check_access(&self) -> Result<()> {
        if self.login_required() && !self.logged_in() {
            return Err(Error::ck(
                CKR_USER_NOT_LOGGED_IN,
                "this slot needs C_Login (a user PIN, or the PIN is the TSB bearer token)",
            ));
        }
        Ok(())
    }

    /// The login ends (C_Logout, or the token's last session closed): the token given as the PIN
    /// is forgotten.
    pub(crate) fn end_login(&self) {
        *self.login.lock() = None;
        self.tsb.set_login_token(None);
    }

    /// C_GetSlotInfo's slotDescription: the TSB's URL, never with userinfo.
    pub(crate) fn description(&self) -> String {
        crate::config::url_description(&self.config.url)
    }

    /// A stable serial number from the URL: 16 hex digits of its SHA-256.
    pub(crate) fn serial_number(&self) -> String {
        let digest = Hash::Sha256.digest(self.config.url.as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Module {
    /// The slot with this id.
    pub(crate) fn slot(&self, id: CK_SLOT_ID) -> Result<&Slot> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.slots.get(i))
            .ok_or_else(|| Error::ck(CKR_SLOT_ID_INVALID, format!("no slot {id}")))
    }

    /// C_GetSlotList: every slot has its token.
    pub(crate) fn slot_ids(&self) -> Vec<CK_SLOT_ID> {
        (0..self.slots.len()).map(|i| i as CK_SLOT_ID).collect()
    }

    /// C_GetSlotInfo's slotDescription.
    pub(crate) fn slot_description(&self, id: CK_SLOT_ID) -> Result<String> {
        Ok(self.slot(id)?.description())
    }

    /// C_GetMechanismList: the mechanism table, without what the slot's TSB version (configured,
    /// or read earlier: no network I/O here) is known not to do ([`crate::mechanism::offered_in`]).
    pub(crate) fn mechanism_list(&self, id: CK_SLOT_ID) -> Result<Vec<CK_MECHANISM_TYPE>> {
        let v = self.slot(id)?.tsb.known_version();
        Ok(crate::mechanism::offered(v).map(|r| r.mech).collect())
    }

    /// C_GetMechanismInfo.
    pub(crate) fn mechanism_info(
        &self,
        id: CK_SLOT_ID,
        mech: CK_MECHANISM_TYPE,
    ) -> Result<&'static crate::mechanism::MechRow> {
        let v = self.slot(id)?.tsb.known_version();
        crate::mechanism::info(mech, v).ok_or_else(|| {
            Error::ck(
                CKR_MECHANISM_INVALID,
                format!("mechanism 0x{mech:x} is not supported"),
            )
        })
    }

    /// The slot of an open session.
    pub(crate) fn slot_of(&self, session: &super::session::Session) -> &Slot {
        &self.slots[session.slot]
    }

    /// C_GetTokenInfo.
    pub(crate) fn token_info(&self, id: CK_SLOT_ID) -> Result<TokenInfo> {
        let slot = self.slot(id)?;
        let (sessions, rw_sessions) = self.session_counts(slot.id);
        let mut flags = CKF_RNG | CKF_TOKEN_INITIALIZED;
        if slot.login_required() {
            flags |= CKF_LOGIN_REQUIRED;
        }
        if slot.config.pin_is_token
            || slot.pins.lock().user_pin(&slot.config).is_some()
            || !slot.login_required()
        {
            flags |= CKF_USER_PIN_INITIALIZED;
        }
        Ok(TokenInfo {
            label: slot.config.label.clone(),
            serial: slot.serial_number(),
            flags,
            sessions,
            rw_sessions,
        })
    }
}
