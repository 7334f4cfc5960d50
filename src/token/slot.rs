//! Slots and their tokens: one configured TSB connection each, with its login state, the CA
//! certificates from the configuration, and what C_GetSlotInfo and C_GetTokenInfo report (local
//! data only: no network I/O).

use super::Module;
use crate::config::{Secret, SlotConfig};
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
    /// The TSB behind this slot: every call to it goes through here.
    pub(crate) tsb: Tsb,
    /// Whether the user is logged in (PKCS#11 login state is per token, shared by sessions).
    logged_in: Mutex<bool>,
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
        Ok(Slot {
            id,
            config,
            tsb,
            logged_in: Mutex::new(false),
            ca_certs,
        })
    }

    /// Private objects (and every TSB call) need a login: only when the PIN is the bearer token.
    pub(crate) fn login_required(&self) -> bool {
        self.config.pin_is_token
    }

    pub(crate) fn logged_in(&self) -> bool {
        *self.logged_in.lock()
    }

    /// CKR_USER_NOT_LOGGED_IN on a slot that needs a login, before it.
    pub(crate) fn check_access(&self) -> Result<()> {
        if self.login_required() && !self.logged_in() {
            return Err(Error::ck(
                CKR_USER_NOT_LOGGED_IN,
                "this slot needs C_Login: the PIN is the TSB bearer token",
            ));
        }
        Ok(())
    }

    /// The login ends (C_Logout, or the token's last session closed): the token given as the PIN
    /// is forgotten.
    pub(crate) fn end_login(&self) {
        *self.logged_in.lock() = false;
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

    /// C_GetMechanismList: the mechanism table, the same for every slot.
    pub(crate) fn mechanism_list(&self, id: CK_SLOT_ID) -> Result<Vec<CK_MECHANISM_TYPE>> {
        self.slot(id)?;
        Ok(crate::mechanism::MECHANISMS
            .iter()
            .map(|r| r.mech)
            .collect())
    }

    /// C_GetMechanismInfo.
    pub(crate) fn mechanism_info(
        &self,
        id: CK_SLOT_ID,
        mech: CK_MECHANISM_TYPE,
    ) -> Result<&'static crate::mechanism::MechRow> {
        self.slot(id)?;
        crate::mechanism::info(mech).ok_or_else(|| {
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
        let mut flags = CKF_RNG | CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED;
        if slot.login_required() {
            flags |= CKF_LOGIN_REQUIRED;
        }
        Ok(TokenInfo {
            label: slot.config.label.clone(),
            serial: slot.serial_number(),
            flags,
            sessions,
            rw_sessions,
        })
    }

    /// C_Login. The PIN is ignored unless the slot says it is the bearer token.
    pub(crate) fn login(
        &self,
        h: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        pin: Option<&[u8]>,
    ) -> Result<()> {
        let s = self.session(h)?;
        let slot = self.slot_of(&s);
        match user {
            CKU_USER => {}
            CKU_CONTEXT_SPECIFIC => return Ok(()),
            CKU_SO => {
                return Err(Error::ck(
                    CKR_USER_TYPE_INVALID,
                    "there is no security officer on a TSB token",
                ))
            }
            _ => {
                return Err(Error::ck(
                    CKR_USER_TYPE_INVALID,
                    format!("user type {user}"),
                ))
            }
        }
        let mut logged = slot.logged_in.lock();
        if *logged {
            return Err(Error::ck(CKR_USER_ALREADY_LOGGED_IN, "already logged in"));
        }
        if slot.config.pin_is_token {
            let pin = pin.filter(|p| !p.is_empty()).ok_or_else(|| {
                Error::ck(CKR_PIN_INCORRECT, "the PIN must be the TSB bearer token")
            })?;
            let token = std::str::from_utf8(pin)
                .map_err(|_| Error::ck(CKR_PIN_INCORRECT, "the PIN must be UTF-8"))?;
            slot.tsb.set_login_token(Some(Secret::new(token.trim())));
        }
        *logged = true;
        Ok(())
    }

    /// C_Logout.
    pub(crate) fn logout(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let s = self.session(h)?;
        let slot = self.slot_of(&s);
        if !slot.logged_in() {
            return Err(Error::ck(CKR_USER_NOT_LOGGED_IN, "not logged in"));
        }
        slot.end_login();
        Ok(())
    }
}
