//! PKCS#11 semantics with no C types and no HTTP details: slots, sessions, login state, object
//! handles, find, attribute templates and the operation state machines. The `ffi` layer converts C
//! arguments into calls here; everything here returns `Result` and is unit-testable.

pub mod check;
pub mod ext;
pub mod keygen;
pub mod label;
pub mod lifecycle;
pub mod local;
pub mod object;
pub mod ops;

use crate::config::{Config, Secret, SlotConfig};
use crate::error::{Error, Result};
use crate::log::Level;
use crate::tsb::cancel::CancelToken;
use crate::tsb::requests::{Caller, Requests};
use crate::tsb::Tsb;
use cryptoki_sys::*;
use object::{AttrValue, CertInfo, KeyInfo, ObjClass, ObjectView};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One template attribute, copied out of C memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// CKA_*.
    pub ty: CK_ATTRIBUTE_TYPE,
    /// Value bytes.
    pub value: Vec<u8>,
}

/// One configured TSB connection, shown as a slot with a token.
pub struct Slot {
    /// Slot id (index in the config).
    pub id: usize,
    /// Its config.
    pub config: SlotConfig,
    /// The TSB behind this slot: every call to it goes through here.
    pub(crate) tsb: Tsb,
    /// Whether the user is logged in (PKCS#11 login state is per token, shared by sessions).
    pub logged_in: Mutex<bool>,
    /// CA certificates from the config, shown as certificate objects.
    pub ca_certs: Vec<(String, Arc<CertInfo>)>,
}

impl Slot {
    /// Private objects (and every TSB call) need a login: only when the PIN is the bearer token.
    pub fn login_required(&self) -> bool {
        self.config.pin_is_token
    }

    fn check_access(&self) -> Result<()> {
        if self.login_required() && !*self.logged_in.lock() {
            return Err(Error::ck(
                CKR_USER_NOT_LOGGED_IN,
                "this slot needs C_Login: the PIN is the TSB bearer token",
            ));
        }
        Ok(())
    }
}

/// An object handle's referent: stable for the module's lifetime, across cache refreshes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjRef {
    /// Slot id.
    pub slot: usize,
    /// TSB label (with prefix), or the CA certificate's label.
    pub label: String,
    /// Which object.
    pub class: ObjClass,
}

#[derive(Default)]
struct HandleTable {
    by_ref: HashMap<ObjRef, CK_OBJECT_HANDLE>,
    by_handle: HashMap<CK_OBJECT_HANDLE, ObjRef>,
}

/// Session and object handles come from process-wide counters, not from the [`Module`]: after
/// C_Finalize and C_Initialize a handle an application kept from before must be invalid, never a
/// new session or object that happens to get the same number. 2^64 handles are never used up.
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);
static NEXT_OBJECT: AtomicU64 = AtomicU64::new(1);

/// An open session.
pub struct Session {
    /// Its handle.
    pub handle: CK_SESSION_HANDLE,
    /// Slot id.
    pub slot: usize,
    /// Read/write session.
    pub rw: bool,
    /// Operation state; never locked across an HTTP call.
    pub state: Mutex<ops::SessionState>,
    /// Set by C_SessionCancel from another thread to stop an approval wait.
    pub cancel: Arc<CancelToken>,
}

impl Session {
    /// Run `f` with this session as the caller of a TSB operation: its cancel token ends a wait,
    /// and the id of a request created or resumed becomes its last request id at once.
    pub(crate) fn as_caller<T>(&self, f: impl FnOnce(&Caller) -> T) -> T {
        let note = |id: &str| self.state.lock().last_request_id = Some(id.to_string());
        f(&Caller {
            cancel: &self.cancel,
            on_request: &note,
        })
    }
}

/// The initialized module.
pub struct Module {
    /// Slots, id = index.
    pub slots: Vec<Slot>,
    sessions: Mutex<HashMap<CK_SESSION_HANDLE, Arc<Session>>>,
    handles: Mutex<HandleTable>,
}

impl Module {
    /// Build from a config. Local work only (files named by the config are read); no network I/O.
    pub fn new(config: Config) -> Result<Module> {
        let mut slots = Vec::new();
        // One journal for the module: the first slot that names one.
        let journal = config.slots.iter().find_map(|s| s.journal.clone());
        let requests = Arc::new(Requests::new(journal, config.forget_unknown));
        for (id, sc) in config.slots.into_iter().enumerate() {
            let mut ca_certs = Vec::new();
            for path in &sc.ca_certificates {
                let text = std::fs::read(path).map_err(|e| {
                    Error::Config(format!("ca_certificates: {}: {e}", path.display()))
                })?;
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
            slots.push(Slot {
                id,
                tsb: Tsb::new(id, &sc, requests.clone()),
                logged_in: Mutex::new(false),
                ca_certs,
                config: sc,
            });
        }
        Ok(Module {
            slots,
            sessions: Mutex::new(HashMap::new()),
            handles: Mutex::new(HandleTable::default()),
        })
    }

    /// The slot with this id.
    pub fn slot(&self, id: CK_SLOT_ID) -> Result<&Slot> {
        self.slots
            .get(id as usize)
            .ok_or_else(|| Error::ck(CKR_SLOT_ID_INVALID, format!("no slot {id}")))
    }

    // ---- sessions -------------------------------------------------------------------------

    /// C_OpenSession.
    pub fn open_session(&self, slot: CK_SLOT_ID, flags: CK_FLAGS) -> Result<CK_SESSION_HANDLE> {
        self.slot(slot)?;
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(Error::ck(
                CKR_SESSION_PARALLEL_NOT_SUPPORTED,
                "CKF_SERIAL_SESSION must be set",
            ));
        }
        let handle = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
        let s = Arc::new(Session {
            handle,
            slot: slot as usize,
            rw: flags & CKF_RW_SESSION != 0,
            state: Mutex::new(ops::SessionState::default()),
            cancel: Arc::new(CancelToken::default()),
        });
        self.sessions.lock().insert(handle, s);
        Ok(handle)
    }

    /// Look a session up.
    pub fn session(&self, h: CK_SESSION_HANDLE) -> Result<Arc<Session>> {
        self.sessions
            .lock()
            .get(&h)
            .cloned()
            .ok_or_else(|| Error::ck(CKR_SESSION_HANDLE_INVALID, format!("no session {h}")))
    }

    /// C_CloseSession. A wait in progress on another thread is cancelled.
    pub fn close_session(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let s = self
            .sessions
            .lock()
            .remove(&h)
            .ok_or_else(|| Error::ck(CKR_SESSION_HANDLE_INVALID, format!("no session {h}")))?;
        s.cancel.cancel();
        self.after_session_closed(s.slot);
        Ok(())
    }

    /// C_CloseAllSessions.
    pub fn close_all_sessions(&self, slot: CK_SLOT_ID) -> Result<()> {
        self.slot(slot)?;
        let closed: Vec<Arc<Session>> = {
            let mut map = self.sessions.lock();
            let ids: Vec<_> = map
                .iter()
                .filter(|(_, s)| s.slot == slot as usize)
                .map(|(h, _)| *h)
                .collect();
            ids.into_iter().filter_map(|h| map.remove(&h)).collect()
        };
        for s in &closed {
            s.cancel.cancel();
        }
        self.after_session_closed(slot as usize);
        Ok(())
    }

    /// Cancel every session's wait and forget the login tokens (C_Finalize).
    pub fn shutdown(&self) {
        let all: Vec<Arc<Session>> = self.sessions.lock().drain().map(|(_, s)| s).collect();
        for s in all {
            s.cancel.cancel();
        }
        for sl in &self.slots {
            sl.tsb.set_login_token(None);
        }
    }

    fn after_session_closed(&self, slot: usize) {
        // The login state ends with the last session of the token (PKCS#11 §5.6).
        let any = self.sessions.lock().values().any(|s| s.slot == slot);
        if !any {
            if let Some(sl) = self.slots.get(slot) {
                *sl.logged_in.lock() = false;
                sl.tsb.set_login_token(None);
            }
        }
    }

    /// Number of sessions (all, read/write) for a slot.
    pub fn session_counts(&self, slot: usize) -> (usize, usize) {
        let m = self.sessions.lock();
        let all = m.values().filter(|s| s.slot == slot).count();
        let rw = m.values().filter(|s| s.slot == slot && s.rw).count();
        (all, rw)
    }

    /// C_GetSessionInfo: (state, flags, device error).
    pub fn session_info(
        &self,
        h: CK_SESSION_HANDLE,
    ) -> Result<(CK_SLOT_ID, CK_STATE, CK_FLAGS, CK_ULONG)> {
        let s = self.session(h)?;
        let logged = *self.slots[s.slot].logged_in.lock();
        let state = match (s.rw, logged) {
            (false, false) => CKS_RO_PUBLIC_SESSION,
            (true, false) => CKS_RW_PUBLIC_SESSION,
            (false, true) => CKS_RO_USER_FUNCTIONS,
            (true, true) => CKS_RW_USER_FUNCTIONS,
        };
        let flags = CKF_SERIAL_SESSION | if s.rw { CKF_RW_SESSION } else { 0 };
        let dev = s.state.lock().device_error;
        Ok((s.slot as CK_SLOT_ID, state, flags, dev))
    }

    /// C_Login. The PIN is ignored unless the slot says it is the bearer token.
    pub fn login(
        &self,
        h: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        pin: Option<&[u8]>,
    ) -> Result<()> {
        let s = self.session(h)?;
        let slot = &self.slots[s.slot];
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
    pub fn logout(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let s = self.session(h)?;
        let slot = &self.slots[s.slot];
        let mut logged = slot.logged_in.lock();
        if !*logged {
            return Err(Error::ck(CKR_USER_NOT_LOGGED_IN, "not logged in"));
        }
        *logged = false;
        slot.tsb.set_login_token(None);
        Ok(())
    }

    // ---- objects ----------------------------------------------------------------------------

    /// The stable handle of an object.
    pub fn handle_for(&self, r: ObjRef) -> CK_OBJECT_HANDLE {
        let mut t = self.handles.lock();
        if let Some(h) = t.by_ref.get(&r) {
            return *h;
        }
        let h = NEXT_OBJECT.fetch_add(1, Ordering::Relaxed);
        t.by_ref.insert(r.clone(), h);
        t.by_handle.insert(h, r);
        h
    }

    fn resolve_handle(&self, h: CK_OBJECT_HANDLE) -> Result<ObjRef> {
        self.handles
            .lock()
            .by_handle
            .get(&h)
            .cloned()
            .ok_or_else(|| Error::ck(CKR_OBJECT_HANDLE_INVALID, format!("no object {h}")))
    }

    /// The current state of the object behind a handle. Uses cached data however old (the caller
    /// found it recently); fetches only when the cache has nothing.
    pub fn object(&self, session: &Session, h: CK_OBJECT_HANDLE) -> Result<(ObjRef, ObjectView)> {
        let r = self.resolve_handle(h)?;
        if r.slot != session.slot {
            return Err(Error::ck(
                CKR_OBJECT_HANDLE_INVALID,
                format!("object {h} belongs to another slot"),
            ));
        }
        let slot = &self.slots[r.slot];
        let gone = || {
            Error::ck(
                CKR_OBJECT_HANDLE_INVALID,
                format!("object {h} no longer exists"),
            )
        };
        let view = match r.class {
            ObjClass::CaCertificate(i) => {
                let (label, c) = slot.ca_certs.get(i).ok_or_else(gone)?;
                ObjectView::CaCertificate(label.clone(), c.clone())
            }
            class => {
                slot.check_access()?;
                let key = match slot.tsb.cached_key(&r.label) {
                    Some(k) => k,
                    None => slot.tsb.key(&r.label)?.ok_or_else(gone)?,
                };
                match class {
                    ObjClass::Private => ObjectView::Private(key),
                    ObjClass::Public => ObjectView::Public(key),
                    _ => {
                        let cert = match slot.tsb.cached_cert(&r.label) {
                            Some(c) => c,
                            None => slot.tsb.cert(&r.label)?.ok_or_else(gone)?,
                        };
                        ObjectView::Certificate(key, cert)
                    }
                }
            }
        };
        Ok((r, view))
    }

    /// A key object of the session's slot, for an operation.
    pub fn key_object(
        &self,
        session: &Session,
        h: CK_OBJECT_HANDLE,
        want: ObjClass,
    ) -> Result<Arc<KeyInfo>> {
        let (r, view) = self.object(session, h).map_err(|e| match e {
            Error::Ck(CKR_OBJECT_HANDLE_INVALID, m) => Error::Ck(CKR_KEY_HANDLE_INVALID, m),
            other => other,
        })?;
        match view {
            ObjectView::Private(k) if want == ObjClass::Private => Ok(k),
            ObjectView::Public(k) if want == ObjClass::Public => Ok(k),
            // Verify/encrypt with the private key's handle is allowed by many tools: the public
            // half is known.
            ObjectView::Private(k) if want == ObjClass::Public => Ok(k),
            _ => Err(Error::ck(
                CKR_KEY_TYPE_INCONSISTENT,
                format!("object {h} ({:?}) cannot be used here", r.class),
            )),
        }
    }

    /// C_GetAttributeValue for one object: the value of each requested type.
    pub fn attributes(
        &self,
        session: &Session,
        h: CK_OBJECT_HANDLE,
        types: &[CK_ATTRIBUTE_TYPE],
    ) -> Result<Vec<AttrValue>> {
        let (_, view) = self.object(session, h)?;
        let private_objects = self.slots[session.slot].login_required();
        Ok(types
            .iter()
            .map(|t| view.attribute(*t, private_objects))
            .collect())
    }

    /// C_FindObjectsInit: evaluate the whole search now, return the handles.
    pub fn find(&self, session: &Session, template: &[Attr]) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let slot = &self.slots[session.slot];
        if slot.login_required() && !*slot.logged_in.lock() {
            // Every object is private on such a slot; without a login none is visible.
            return Ok(Vec::new());
        }
        let class = template.iter().find(|a| a.ty == CKA_CLASS).map(|a| {
            let mut b = [0u8; std::mem::size_of::<CK_ULONG>()];
            if a.value.len() == b.len() {
                b.copy_from_slice(&a.value);
                Some(CK_ULONG::from_ne_bytes(b))
            } else {
                None
            }
        });
        let class = match class {
            Some(None) => return Ok(Vec::new()),
            Some(Some(c)) => Some(c),
            None => None,
        };
        let want = |c: CK_OBJECT_CLASS| class.map(|x| x == c).unwrap_or(true);
        let want_keys = want(CKO_PRIVATE_KEY) || want(CKO_PUBLIC_KEY);
        let want_certs = want(CKO_CERTIFICATE);
        if !want_keys && !want_certs {
            return Ok(Vec::new());
        }
        let private_objects = slot.login_required();
        let matches = |view: &ObjectView| {
            template
                .iter()
                .all(|a| view.attribute(a.ty, private_objects) == AttrValue::Value(a.value.clone()))
        };
        let mut out = Vec::new();
        let label = template
            .iter()
            .find(|a| a.ty == CKA_LABEL)
            .map(|a| String::from_utf8_lossy(&a.value).into_owned());
        let keys: Vec<(String, Arc<KeyInfo>)> = match &label {
            // A find by label asks for that one key, without listing.
            Some(l) => {
                let l = format!("{}{}", slot.config.label_prefix, l);
                match slot.tsb.key(&l)? {
                    Some(k) => vec![(l, k)],
                    None => vec![],
                }
            }
            // One bad key is skipped, not fatal (tsb::cache::KeyCache::all_keys).
            None => slot.tsb.all_keys()?,
        };
        for (l, key) in &keys {
            if want_keys {
                for (class, view) in [
                    (ObjClass::Private, ObjectView::Private(key.clone())),
                    (ObjClass::Public, ObjectView::Public(key.clone())),
                ] {
                    if matches(&view) {
                        out.push(self.handle_for(ObjRef {
                            slot: slot.id,
                            label: l.clone(),
                            class,
                        }));
                    }
                }
            }
            if want_certs {
                if let Some(cert) = slot.tsb.cert_or_skip(l)? {
                    let view = ObjectView::Certificate(key.clone(), cert);
                    if matches(&view) {
                        out.push(self.handle_for(ObjRef {
                            slot: slot.id,
                            label: l.clone(),
                            class: ObjClass::Certificate,
                        }));
                    }
                }
            }
        }
        if want_certs {
            for (i, (l, c)) in slot.ca_certs.iter().enumerate() {
                let view = ObjectView::CaCertificate(l.clone(), c.clone());
                if matches(&view) {
                    out.push(self.handle_for(ObjRef {
                        slot: slot.id,
                        label: l.clone(),
                        class: ObjClass::CaCertificate(i),
                    }));
                }
            }
        }
        Ok(out)
    }

    /// C_GenerateKeyPair: (public handle, private handle).
    pub fn generate_key_pair(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        public: &[Attr],
        private: &[Attr],
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let slot = &self.slots[session.slot];
        slot.check_access()?;
        if !session.rw {
            return Err(Error::ck(
                CKR_SESSION_READ_ONLY,
                "key generation needs a read/write session",
            ));
        }
        let req = keygen::build(
            mech,
            public,
            private,
            &slot.config.label_prefix,
            slot.config.default_policy.as_ref(),
        )?;
        let key = match slot.tsb.create_key(&req.body, &slot.config.label_prefix) {
            Ok(k) => k,
            Err(
                e @ Error::Tsb {
                    code: Some(tsb_models::codes::KEY_ALREADY_EXISTING),
                    ..
                },
            ) => {
                crate::log!(Level::Error, "C_GenerateKeyPair: a key labelled {:?} already exists on the TSB; choose another CKA_LABEL", req.body.label);
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        crate::log!(
            Level::Info,
            "generated key {} ({}){}",
            key.tsb_label,
            req.body.algorithm.as_deref().unwrap_or("?"),
            if key.approval_required {
                " with an SKA policy: every use waits for approvals"
            } else {
                ""
            }
        );
        let label = key.tsb_label.clone();
        let pubh = self.handle_for(ObjRef {
            slot: slot.id,
            label: label.clone(),
            class: ObjClass::Public,
        });
        let privh = self.handle_for(ObjRef {
            slot: slot.id,
            label,
            class: ObjClass::Private,
        });
        Ok((pubh, privh))
    }

    /// C_DestroyObject: deletes the key (both key objects) or the certificate on the TSB.
    pub fn destroy_object(&self, session: &Session, h: CK_OBJECT_HANDLE) -> Result<()> {
        let (r, view) = self.object(session, h)?;
        if !session.rw {
            return Err(Error::ck(
                CKR_SESSION_READ_ONLY,
                "destroying a token object needs a read/write session",
            ));
        }
        let slot = &self.slots[r.slot];
        match view {
            ObjectView::Private(k) | ObjectView::Public(k) => {
                if !k.destroyable {
                    return Err(Error::ck(
                        CKR_ACTION_PROHIBITED,
                        "the key is not destroyable",
                    ));
                }
                slot.tsb.delete_key(&r.label)?;
                crate::log!(Level::Info, "deleted key {}", r.label);
            }
            ObjectView::Certificate(..) => {
                slot.tsb.delete_certificate(&r.label)?;
                crate::log!(Level::Info, "deleted the certificate of key {}", r.label);
            }
            ObjectView::CaCertificate(..) => {
                return Err(Error::ck(
                    CKR_ACTION_PROHIBITED,
                    "CA certificates from the configuration cannot be destroyed",
                ));
            }
        }
        Ok(())
    }

    /// C_CreateObject: only X.509 certificates, imported onto the key with the same CKA_ID or
    /// CKA_LABEL (the TSB stores a certificate with its key).
    pub fn create_object(&self, session: &Session, template: &[Attr]) -> Result<CK_OBJECT_HANDLE> {
        let slot = &self.slots[session.slot];
        slot.check_access()?;
        if !session.rw {
            return Err(Error::ck(
                CKR_SESSION_READ_ONLY,
                "creating a token object needs a read/write session",
            ));
        }
        let get =
            |t: CK_ATTRIBUTE_TYPE| template.iter().find(|a| a.ty == t).map(|a| a.value.clone());
        let ulong = |t| {
            get(t)
                .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                .map(CK_ULONG::from_ne_bytes)
        };
        match ulong(CKA_CLASS) {
            Some(CKO_CERTIFICATE) => {}
            Some(_) => {
                return Err(Error::ck(
                    CKR_TEMPLATE_INCONSISTENT,
                    "only certificates can be created; keys are generated in the HSM",
                ))
            }
            None => return Err(Error::ck(CKR_TEMPLATE_INCOMPLETE, "CKA_CLASS is required")),
        }
        if let Some(ct) = ulong(CKA_CERTIFICATE_TYPE) {
            if ct != CKC_X_509 {
                return Err(Error::ck(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    "only X.509 certificates are supported",
                ));
            }
        }
        let der = get(CKA_VALUE).ok_or_else(|| {
            Error::ck(
                CKR_TEMPLATE_INCOMPLETE,
                "CKA_VALUE (the DER certificate) is required",
            )
        })?;
        let cert = CertInfo::from_der(der.clone()).ok_or_else(|| {
            Error::ck(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "CKA_VALUE is not a DER X.509 certificate",
            )
        })?;
        // Find the key: by label first, else by id among the listed keys.
        let key = if let Some(l) = get(CKA_LABEL) {
            let label = format!(
                "{}{}",
                slot.config.label_prefix,
                String::from_utf8_lossy(&l)
            );
            slot.tsb.key(&label)?
        } else if let Some(id) = get(CKA_ID) {
            slot.tsb
                .all_keys()?
                .into_iter()
                .map(|(_, k)| k)
                .find(|k| k.id == id)
        } else {
            return Err(Error::ck(
                CKR_TEMPLATE_INCOMPLETE,
                "CKA_LABEL or CKA_ID naming the certificate's key is required",
            ));
        };
        let key = key.ok_or_else(|| {
            Error::ck(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "no key with this CKA_LABEL/CKA_ID: the TSB stores certificates with their key",
            )
        })?;
        if cert.fields.spki != key.spki {
            return Err(Error::ck(
                CKR_ATTRIBUTE_VALUE_INVALID,
                format!(
                    "the certificate's public key is not the public key of {}",
                    key.tsb_label
                ),
            ));
        }
        slot.tsb
            .import_certificate(&key.tsb_label, Arc::new(cert))?;
        Ok(self.handle_for(ObjRef {
            slot: slot.id,
            label: key.tsb_label.clone(),
            class: ObjClass::Certificate,
        }))
    }

    /// C_GenerateRandom through the TSB.
    pub fn generate_random(&self, session: &Session, n: usize) -> Result<Vec<u8>> {
        let slot = &self.slots[session.slot];
        slot.check_access()?;
        slot.tsb.random(n)
    }
}
