//! Objects: stable handles for the TSB's keys and certificates (and the configured CA
//! certificates), looking an object up behind its handle, reading its attributes, and creating,
//! changing and destroying objects.

use super::attributes::{AttrValue, ObjClass, ObjectView};
use super::session::Session;
use super::template::Template;
use super::Module;
use crate::error::{Error, Result};
use crate::log::Level;
use crate::tsb::key::{CertInfo, KeyInfo};
use cryptoki_sys::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// An object handle's referent: stable for the module's lifetime, across cache refreshes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ObjRef {
    pub(crate) slot: usize,
    /// TSB label (with prefix), or the CA certificate's label.
    pub(crate) label: String,
    pub(crate) class: ObjClass,
}

/// Handles in both directions.
#[derive(Default)]
pub(crate) struct HandleTable {
    by_ref: HashMap<ObjRef, CK_OBJECT_HANDLE>,
    by_handle: HashMap<CK_OBJECT_HANDLE, ObjRef>,
    /// The other half of a token key pair deleted through one of its objects: the TSB deletes
    /// both with the key, and destroying the second object afterwards succeeds once (the
    /// standard's objects are separate; the TSB's key is one).
    gone_with_pair: std::collections::HashSet<CK_OBJECT_HANDLE>,
}

/// Object handles come from a process-wide counter, not from the [`Module`]: after C_Finalize and
/// C_Initialize a handle an application kept from before must be invalid, never a new object that
/// happens to get the same number.
static NEXT_OBJECT: AtomicU64 = AtomicU64::new(1);

/// A new object handle, never used before in this process.
pub(crate) fn new_handle() -> CK_OBJECT_HANDLE {
    NEXT_OBJECT.fetch_add(1, Ordering::Relaxed)
}

impl Module {
    /// The stable handle of an object.
    pub(crate) fn handle_for(&self, r: ObjRef) -> CK_OBJECT_HANDLE {
        let mut t = self.handles.lock();
        if let Some(h) = t.by_ref.get(&r).copied() {
            // Found (or made) again: no longer gone with its pair.
            t.gone_with_pair.remove(&h);
            return h;
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
    pub(crate) fn object(
        &self,
        session: &Session,
        h: CK_OBJECT_HANDLE,
    ) -> Result<(ObjRef, ObjectView)> {
        if let Some(o) = self.session_object(h) {
            let slot = &self.slots[session.slot];
            // Private session objects need the user's login, as private token objects do.
            if o.slot != session.slot || (o.private() && slot.login_required() && !slot.logged_in())
            {
                return Err(Error::ck(
                    CKR_OBJECT_HANDLE_INVALID,
                    format!("object {h} is not visible in this session"),
                ));
            }
            let r = ObjRef {
                slot: o.slot,
                label: String::new(),
                class: ObjClass::Session,
            };
            return Ok((r, ObjectView::Session(o)));
        }
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

    /// [`Module::object`] for a handle given as a key: an unknown one is CKR_KEY_HANDLE_INVALID.
    pub(crate) fn object_as_key(
        &self,
        session: &Session,
        h: CK_OBJECT_HANDLE,
    ) -> Result<(ObjRef, ObjectView)> {
        self.object(session, h).map_err(|e| match e {
            Error::Ck(CKR_OBJECT_HANDLE_INVALID, m) => Error::Ck(CKR_KEY_HANDLE_INVALID, m),
            other => other,
        })
    }

    /// A key object of the session's slot, for an operation.
    pub(crate) fn key_object(
        &self,
        session: &Session,
        h: CK_OBJECT_HANDLE,
        want: ObjClass,
    ) -> Result<Arc<KeyInfo>> {
        let (r, view) = self.object_as_key(session, h)?;
        match view {
            ObjectView::Session(o) => {
                use super::session_objects::Kind;
                match (&o.kind, want) {
                    (Kind::TsbKey { key, private: true }, _) => Ok(key.clone()),
                    (Kind::TsbKey { key, .. } | Kind::PublicKey(key), ObjClass::Public) => {
                        Ok(key.clone())
                    }
                    _ => Err(Error::ck(
                        CKR_KEY_TYPE_INCONSISTENT,
                        format!("object {h} cannot be used here"),
                    )),
                }
            }
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

    /// The value of each requested type of one object, values kept in the TSB included (fetched).
    #[cfg(test)]
    pub(crate) fn attributes(
        &self,
        session: &Session,
        h: CK_OBJECT_HANDLE,
        types: &[CK_ATTRIBUTE_TYPE],
    ) -> Result<Vec<AttrValue>> {
        self.attribute_values(session, h, types, &vec![Some(usize::MAX); types.len()])
    }

    /// C_GetAttributeValue for one object: the value of each requested type. `room[i]` is the
    /// caller's buffer for `types[i]` (None: a length query). A value kept in the TSB
    /// ([`AttrValue::Remote`]: a secret key's CKA_VALUE) is fetched only when its buffer can hold
    /// it, once per call; otherwise it stays `Remote` with its length, at no request's cost.
    pub(crate) fn attribute_values(
        &self,
        session: &Session,
        h: CK_OBJECT_HANDLE,
        types: &[CK_ATTRIBUTE_TYPE],
        room: &[Option<usize>],
    ) -> Result<Vec<AttrValue>> {
        let (_, view) = self.object(session, h)?;
        let private_objects = self.slot_of(session).login_required();
        let mut values: Vec<AttrValue> = types
            .iter()
            .map(|t| view.attribute(*t, private_objects))
            .collect();
        let mut fetched: Option<AttrValue> = None;
        for (v, room) in values.iter_mut().zip(room) {
            let AttrValue::Remote(len) = *v else {
                continue;
            };
            if room.is_none_or(|r| r < len) {
                continue;
            }
            if fetched.is_none() {
                fetched = Some(self.remote_value(session, &view, len)?);
            }
            if let Some(f) = &fetched {
                *v = f.clone();
            }
        }
        Ok(values)
    }

    /// C_SetAttributeValue: session objects as the standard says (session_objects.rs); token
    /// objects mirror the TSB, whose attributes this module does not modify (they say
    /// CKA_MODIFIABLE false).
    pub(crate) fn set_attributes(
        &self,
        session: &Session,
        h: CK_OBJECT_HANDLE,
        template: &Template,
    ) -> Result<()> {
        if let (_, ObjectView::Session(o)) = self.object(session, h)? {
            return self.set_session_attributes(&o, template);
        }
        // An attribute no object lets anyone change says so first (the cryptoki crate's
        // `unique_id` test expects CKR_ATTRIBUTE_READ_ONLY for CKA_UNIQUE_ID).
        if template.get(CKA_UNIQUE_ID).is_some() {
            return Err(Error::ck(
                CKR_ATTRIBUTE_READ_ONLY,
                "CKA_UNIQUE_ID is chosen by the token and never changes",
            ));
        }
        Err(Error::ck(
            CKR_ACTION_PROHIBITED,
            "token objects are not modifiable through this module",
        ))
    }

    /// C_CopyObject: session objects are copied (session_objects.rs); token objects mirror the
    /// TSB, which copies no keys (they say CKA_COPYABLE false).
    pub(crate) fn copy_object(
        &self,
        session: &Session,
        h: CK_OBJECT_HANDLE,
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        if let (_, ObjectView::Session(o)) = self.object(session, h)? {
            return self.copy_session_object(session, &o, template);
        }
        Err(Error::ck(
            CKR_ACTION_PROHIBITED,
            "token objects cannot be copied (CKA_COPYABLE false)",
        ))
    }

    /// C_GetObjectSize: the bytes of a session object's attributes; CK_UNAVAILABLE_INFORMATION
    /// for a token object, whose storage is the HSM's.
    pub(crate) fn object_size(&self, session: &Session, h: CK_OBJECT_HANDLE) -> Result<CK_ULONG> {
        Ok(match self.object(session, h)? {
            (_, ObjectView::Session(o)) => o.size() as CK_ULONG,
            _ => CK_UNAVAILABLE_INFORMATION,
        })
    }

    /// C_DestroyObject: deletes the key (both key objects) or the certificate on the TSB.
    pub(crate) fn destroy_object(&self, session: &Session, h: CK_OBJECT_HANDLE) -> Result<()> {
        if self.handles.lock().gone_with_pair.remove(&h) {
            return Ok(());
        }
        let (r, view) = self.object(session, h)?;
        if let ObjectView::Session(_) = view {
            // Session objects may be destroyed in read-only sessions (PKCS#11 3.0 §5.7).
            return self.destroy_session_object(h);
        }
        session.writes_token_objects("destroying a token object")?;
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
                let other = ObjRef {
                    class: if r.class == ObjClass::Private {
                        ObjClass::Public
                    } else {
                        ObjClass::Private
                    },
                    ..r.clone()
                };
                let mut t = self.handles.lock();
                if let Some(o) = t.by_ref.get(&other).copied() {
                    t.gone_with_pair.insert(o);
                }
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
            ObjectView::Session(_) => unreachable!("handled above"),
        }
        Ok(())
    }

    /// C_CreateObject: only X.509 certificates, imported onto the key with the same CKA_ID or
    /// CKA_LABEL (the TSB stores a certificate with its key).
    pub(crate) fn create_object(
        &self,
        session: &Session,
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let slot = self.slot_of(session);
        slot.check_access()?;
        template.refuse_unique_id()?;
        // CKA_TOKEN absent means a session object (the standard's default).
        let token = template.get(CKA_TOKEN).map(|a| a.as_bool()).transpose()?;
        // A secret key is imported into the TSB, as a token or a session object (plain_keys.rs).
        match template.ulong(CKA_CLASS)? {
            Some(CKO_SECRET_KEY) => return self.import_secret_key(session, template),
            Some(CKO_PRIVATE_KEY) => return self.import_private_key(session, template),
            _ => {}
        }
        if token != Some(true) {
            return self.create_session_object(session, template);
        }
        session.writes_token_objects("creating a token object")?;
        match template.ulong(CKA_CLASS)? {
            Some(CKO_CERTIFICATE) => {}
            Some(_) => {
                return Err(Error::ck(
                    CKR_TEMPLATE_INCONSISTENT,
                    "only certificates, secret and private keys can be created as token objects",
                ))
            }
            None => return Err(Error::ck(CKR_TEMPLATE_INCOMPLETE, "CKA_CLASS is required")),
        }
        if let Some(ct) = template.ulong(CKA_CERTIFICATE_TYPE)? {
            if ct != CKC_X_509 {
                return Err(Error::ck(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    "only X.509 certificates are supported",
                ));
            }
        }
        let der = template.bytes(CKA_VALUE).ok_or_else(|| {
            Error::ck(
                CKR_TEMPLATE_INCOMPLETE,
                "CKA_VALUE (the DER certificate) is required",
            )
        })?;
        let cert = CertInfo::from_der(der.to_vec()).ok_or_else(|| {
            Error::ck(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "CKA_VALUE is not a DER X.509 certificate",
            )
        })?;
        // Find the key: by label first, else by id among the listed keys.
        let key = if let Some(l) = template.utf8(CKA_LABEL)? {
            slot.tsb.key(&format!("{}{l}", slot.config.label_prefix))?
        } else if let Some(id) = template.bytes(CKA_ID) {
            slot.tsb
                .all_keys(&|l| {
                    !super::session_keys::is_session_label(&slot.config.label_prefix, l)
                })?
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
}
