//! Logins and PINs: C_Login (user, SO, context-specific), C_Logout, C_InitToken, C_InitPIN and
//! C_SetPIN.
//!
//! A slot has a PIN concept when the configuration gives it one: `pin_is_token` (the PIN is the
//! TSB bearer token, checked with one harmless request at C_Login), a `user_pin` hash, or
//! `allow_init_token` (C_InitPIN sets the user PIN). Such a token reports CKF_LOGIN_REQUIRED and
//! shows nothing before the user's login. Without one, C_Login accepts any PIN (authentication to
//! the TSB comes from the configuration) and only changes the session state.
//!
//! C_InitToken is the one destructive call: only on a slot whose configuration says
//! `allow_init_token` (which needs a non-empty `label_prefix`, an `so_pin` and a `state_file`),
//! with the SO PIN, and with no session open. It deletes the keys under the slot's prefix (but
//! never a session key of another live process) and forgets the user PIN; a slot without
//! `allow_init_token` (every production slot, by default) answers CKR_FUNCTION_NOT_SUPPORTED and
//! deletes nothing.

use super::pin::{check_new_pin, PinHash, SlotState};
use super::session::Session;
use super::session_keys;
use super::slot::Slot;
use super::Module;
use crate::config::{Secret, SlotConfig};
use crate::error::{Error, Result};
use crate::log::Level;
use cryptoki_sys::*;

/// A slot's PINs: the configured hashes and what C_InitToken/C_InitPIN/C_SetPIN wrote to the
/// state file (read at C_Initialize; this process's own changes are kept here too).
#[derive(Debug, Default)]
pub(crate) struct Pins {
    user: Option<PinHash>,
    so: Option<PinHash>,
    state: SlotState,
}

impl Pins {
    /// The configured hashes and the state file (local files only).
    pub(crate) fn load(config: &SlotConfig) -> Result<Pins> {
        let parse = |v: &Option<String>, field: &str| {
            v.as_deref()
                .map(|h| {
                    PinHash::parse(h).map_err(|m| {
                        Error::Config(format!("slot {:?}: {field}: {m}", config.label))
                    })
                })
                .transpose()
        };
        let t = &config.token_settings;
        let state = match &t.state_file {
            Some(p) => SlotState::load(p)?,
            None => SlotState::default(),
        };
        // The state file's hashes are checked as the configured ones are.
        parse(&state.user_pin, "state_file user_pin")?;
        parse(&state.so_pin, "state_file so_pin")?;
        Ok(Pins {
            user: parse(&t.user_pin, "user_pin")?,
            so: parse(&t.so_pin, "so_pin")?,
            state,
        })
    }

    /// The user PIN in force: the state file's after C_InitToken or C_InitPIN/C_SetPIN, else the
    /// configured one.
    pub(crate) fn user_pin(&self, _config: &SlotConfig) -> Option<PinHash> {
        match &self.state.user_pin {
            Some(h) => PinHash::parse(h).ok(),
            None if self.state.initialized => None,
            None => self.user.clone(),
        }
    }

    fn so_pin(&self) -> Option<PinHash> {
        match &self.state.so_pin {
            Some(h) => PinHash::parse(h).ok(),
            None => self.so.clone(),
        }
    }

    /// Whether the slot has a user PIN concept (see the module docs).
    pub(crate) fn has_pins(&self, config: &SlotConfig) -> bool {
        self.user_pin(config).is_some() || config.token_settings.allow_init_token
    }
}

/// CKR_USER_ALREADY_LOGGED_IN when `who` is logged in already, CKR_USER_ANOTHER_ALREADY_LOGGED_IN
/// when the other user type is.
fn nobody_logged_in(slot: &Slot, who: CK_USER_TYPE) -> Result<()> {
    match *slot.login.lock() {
        None => Ok(()),
        Some(u) if u == who => Err(Error::ck(CKR_USER_ALREADY_LOGGED_IN, "already logged in")),
        Some(_) => Err(Error::ck(
            CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
            "the other user type is logged in",
        )),
    }
}

fn incorrect(what: &str) -> Error {
    Error::ck(CKR_PIN_INCORRECT, format!("the {what} PIN is not correct"))
}

impl Module {
    /// C_Login and C_LoginUser.
    pub(crate) fn login(
        &self,
        h: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        pin: Option<&[u8]>,
    ) -> Result<()> {
        let s = self.session(h)?;
        let slot = self.slot_of(&s);
        match user {
            CKU_USER => self.login_user(slot, pin),
            CKU_SO => self.login_so(slot, pin),
            CKU_CONTEXT_SPECIFIC => {
                // Only for an operation in progress (PKCS#11 3.0 §5.6, C_Login).
                if !s.state.lock().ops.any_active() {
                    return Err(Error::ck(
                        CKR_OPERATION_NOT_INITIALIZED,
                        "CKU_CONTEXT_SPECIFIC needs an active operation",
                    ));
                }
                slot.check_access()?;
                // Approvals happen on the TSB, not here (CKA_ALWAYS_AUTHENTICATE is false): the
                // PIN is checked like the user's, and nothing else changes.
                match slot.pins.lock().user_pin(&slot.config) {
                    Some(hash) if !hash.verify(pin.unwrap_or_default()) => Err(incorrect("user")),
                    _ => Ok(()),
                }
            }
            _ => Err(Error::ck(
                CKR_USER_TYPE_INVALID,
                format!("user type {user}"),
            )),
        }
    }

    fn login_user(&self, slot: &Slot, pin: Option<&[u8]>) -> Result<()> {
        nobody_logged_in(slot, CKU_USER)?;
        if slot.config.pin_is_token {
            let pin = pin.filter(|p| !p.is_empty()).ok_or_else(|| {
                Error::ck(CKR_PIN_INCORRECT, "the PIN must be the TSB bearer token")
            })?;
            let token = std::str::from_utf8(pin)
                .map_err(|_| Error::ck(CKR_PIN_INCORRECT, "the PIN must be UTF-8"))?;
            slot.tsb.set_login_token(Some(Secret::new(token.trim())));
            // One harmless request (the attributes of a key that does not exist): a token the
            // TSB refuses is a wrong PIN now, not a failure of the first real call later. No
            // lock is held across it.
            let probe = format!(
                "{}{}login-check",
                slot.config.label_prefix,
                session_keys::MARKER
            );
            if let Err(e) = slot.tsb.key(&probe) {
                slot.tsb.set_login_token(None);
                return Err(if e.credentials_refused() {
                    Error::ck(
                        CKR_PIN_INCORRECT,
                        "the TSB refused the token given as the PIN",
                    )
                } else {
                    e
                });
            }
        } else if slot.login_required() {
            let hash = slot.pins.lock().user_pin(&slot.config).ok_or_else(|| {
                Error::ck(
                    CKR_USER_PIN_NOT_INITIALIZED,
                    "no user PIN yet: C_InitPIN sets it",
                )
            })?;
            if !hash.verify(pin.unwrap_or_default()) {
                return Err(incorrect("user"));
            }
        }
        let mut login = slot.login.lock();
        if login.is_some() {
            return Err(Error::ck(
                CKR_USER_ALREADY_LOGGED_IN,
                "logged in by another thread meanwhile",
            ));
        }
        *login = Some(CKU_USER);
        Ok(())
    }

    fn login_so(&self, slot: &Slot, pin: Option<&[u8]>) -> Result<()> {
        nobody_logged_in(slot, CKU_SO)?;
        let (all, rw) = self.session_counts(slot.id);
        if all > rw {
            return Err(Error::ck(
                CKR_SESSION_READ_ONLY_EXISTS,
                "the security officer cannot log in while a read-only session is open",
            ));
        }
        let hash = slot.pins.lock().so_pin().ok_or_else(|| {
            Error::ck(
                CKR_PIN_INCORRECT,
                "this slot has no security officer (no so_pin configured)",
            )
        })?;
        if !hash.verify(pin.unwrap_or_default()) {
            return Err(incorrect("SO"));
        }
        *slot.login.lock() = Some(CKU_SO);
        Ok(())
    }

    /// C_Logout.
    pub(crate) fn logout(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let s = self.session(h)?;
        let slot = self.slot_of(&s);
        if slot.login.lock().is_none() {
            return Err(Error::ck(CKR_USER_NOT_LOGGED_IN, "not logged in"));
        }
        slot.end_login();
        Ok(())
    }

    /// C_InitToken (see the module docs). `label` is the 32-byte label the caller gave; the token
    /// keeps the configured label.
    pub(crate) fn init_token(&self, id: CK_SLOT_ID, so_pin: Option<&[u8]>) -> Result<()> {
        let slot = self.slot(id)?;
        if !slot.config.token_settings.allow_init_token {
            return Err(Error::ck(
                CKR_FUNCTION_NOT_SUPPORTED,
                "C_InitToken is allowed only on a slot with allow_init_token (it deletes keys)",
            ));
        }
        if self.session_counts(slot.id).0 > 0 {
            return Err(Error::ck(
                CKR_SESSION_EXISTS,
                "close every session of the token first",
            ));
        }
        let hash = slot
            .pins
            .lock()
            .so_pin()
            .ok_or_else(|| Error::Internal("allow_init_token without so_pin".into()))?;
        if !hash.verify(so_pin.unwrap_or_default()) {
            return Err(incorrect("SO"));
        }
        let prefix = &slot.config.label_prefix;
        let labels = slot.tsb.labels(true)?;
        let mut deleted = 0usize;
        for l in labels.iter() {
            // Every key under the prefix, this process's session keys and leftovers of dead
            // processes; never a session key another live process may be using.
            let keep = session_keys::is_session_label(prefix, l)
                && !session_keys::is_mine(prefix, l)
                && session_keys::reapable(
                    prefix,
                    l,
                    slot.config.token_settings.session_key_max_age,
                    session_keys::now(),
                )
                .is_none();
            if keep {
                continue;
            }
            slot.tsb.delete_key(l)?;
            deleted += 1;
        }
        let mut pins = slot.pins.lock();
        let mut state = pins.state.clone();
        state.user_pin = None;
        state.initialized = true;
        if let Some(p) = &slot.config.token_settings.state_file {
            state.save(p)?;
        }
        pins.state = state;
        crate::log!(
            Level::Warn,
            "C_InitToken: deleted {deleted} key(s) under the label prefix {prefix:?}; the user PIN is reset"
        );
        Ok(())
    }

    /// C_InitPIN: the SO sets the user PIN.
    pub(crate) fn init_pin(&self, session: &Session, pin: Option<&[u8]>) -> Result<()> {
        let slot = self.slot_of(session);
        if *slot.login.lock() != Some(CKU_SO) {
            return Err(Error::ck(
                CKR_USER_NOT_LOGGED_IN,
                "C_InitPIN needs the security officer's login",
            ));
        }
        if !session.rw {
            return Err(Error::ck(
                CKR_SESSION_READ_ONLY,
                "C_InitPIN needs a read/write session",
            ));
        }
        let pin = pin.unwrap_or_default();
        check_new_pin(pin)?;
        self.store_pin(slot, |s| s.user_pin = Some(PinHash::new(pin).to_phc()))
    }

    /// C_SetPIN: the logged-in user or SO (or, in a public session, the user) changes their PIN.
    pub(crate) fn set_pin(
        &self,
        session: &Session,
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<()> {
        let slot = self.slot_of(session);
        if !session.rw {
            return Err(Error::ck(
                CKR_SESSION_READ_ONLY,
                "C_SetPIN needs a read/write session",
            ));
        }
        let (old, new) = (old.unwrap_or_default(), new.unwrap_or_default());
        check_new_pin(new)?;
        let so = *slot.login.lock() == Some(CKU_SO);
        let current = {
            let pins = slot.pins.lock();
            if so {
                pins.so_pin()
            } else {
                pins.user_pin(&slot.config)
            }
        };
        let current = current.ok_or_else(|| {
            Error::ck(
                CKR_USER_PIN_NOT_INITIALIZED,
                "there is no PIN to change (the slot has none configured)",
            )
        })?;
        if !current.verify(old) {
            return Err(incorrect(if so { "SO" } else { "user" }));
        }
        let hash = PinHash::new(new).to_phc();
        self.store_pin(slot, |s| {
            if so {
                s.so_pin = Some(hash)
            } else {
                s.user_pin = Some(hash)
            }
        })
    }

    /// Change the slot's state and write it to its state file (CKR_FUNCTION_NOT_SUPPORTED
    /// without one: a PIN set here would not outlive the process).
    fn store_pin(&self, slot: &Slot, change: impl FnOnce(&mut SlotState)) -> Result<()> {
        let path = slot
            .config
            .token_settings
            .state_file
            .as_ref()
            .ok_or_else(|| {
                Error::ck(
                    CKR_FUNCTION_NOT_SUPPORTED,
                    "PINs can be set only on a slot with a state_file",
                )
            })?;
        let mut pins = slot.pins.lock();
        let mut state = pins.state.clone();
        change(&mut state);
        state.save(path)?;
        pins.state = state;
        Ok(())
    }
}
