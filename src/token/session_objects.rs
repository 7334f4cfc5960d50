//! Session objects (CKA_TOKEN false, the standard's default): data objects, certificates and
//! public keys made by C_CreateObject, the two halves of a session key pair (its key lives in
//! the TSB under a session key label, see [`super::session_keys`]), and copies made by
//! C_CopyObject. They belong to the session that made them and are gone when it closes; every
//! session of the application (this [`Module`]) sees them, as the standard says.
//!
//! Their attributes are kept here, so C_SetAttributeValue may change what the standard lets an
//! application change (label, id, dates, subject, a data object's value, ...); what the key in
//! the TSB decides (its type, its public key, what it may do) is read-only. A public key made by
//! C_CreateObject verifies and encrypts locally, like every public key of the module.

use super::attributes::{AttrValue, ObjectView};
use super::session::Session;
use super::template::Template;
use super::Module;
use crate::der;
use crate::error::{Error, Result};
use crate::log::Level;
use crate::tsb::key::{CertInfo, KeyInfo, PublicKey, ED25519_OID};
use crate::tsb::Tsb;
use crate::vendor;
use cryptoki_sys::*;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What a session object is.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// CKO_DATA.
    Data,
    /// CKO_CERTIFICATE (X.509).
    Certificate,
    /// A public key held here (C_CreateObject, or the public half of a token key pair asked for
    /// as a session object): verify and encrypt only.
    PublicKey(Arc<KeyInfo>),
    /// A half of a session key pair whose key is in the TSB (`key.tsb_label`).
    TsbKey { key: Arc<KeyInfo>, private: bool },
}

/// One session object.
#[derive(Debug)]
pub(crate) struct SessionObject {
    pub(crate) slot: usize,
    /// The session that made it (the object ends with it).
    pub(crate) session: CK_SESSION_HANDLE,
    pub(crate) kind: Kind,
    attrs: Mutex<BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>>,
}

/// Attributes of private keys that exist but are never revealed.
const SENSITIVE: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_PRIVATE_EXPONENT,
    CKA_PRIME_1,
    CKA_PRIME_2,
    CKA_EXPONENT_1,
    CKA_EXPONENT_2,
    CKA_COEFFICIENT,
    CKA_VALUE,
];

/// Attributes an application may change on a session object (PKCS#11 3.0 §4, the attribute
/// tables' footnote 8: "may be modified after object is created").
const CHANGEABLE: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_LABEL,
    CKA_ID,
    CKA_SUBJECT,
    CKA_START_DATE,
    CKA_END_DATE,
    CKA_APPLICATION,
    CKA_OBJECT_ID,
    CKA_ISSUER,
    CKA_SERIAL_NUMBER,
    CKA_TRUSTED,
    CKA_CERTIFICATE_CATEGORY,
    CKA_URL,
];

/// The attributes of a key object that are copied from the key (what the token objects show).
const KEY_ATTRIBUTES: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_CLASS,
    CKA_KEY_TYPE,
    CKA_ID,
    CKA_PRIVATE,
    CKA_LOCAL,
    CKA_KEY_GEN_MECHANISM,
    CKA_START_DATE,
    CKA_END_DATE,
    CKA_DERIVE,
    CKA_ALLOWED_MECHANISMS,
    CKA_SUBJECT,
    CKA_PUBLIC_KEY_INFO,
    CKA_MODULUS,
    CKA_MODULUS_BITS,
    CKA_PUBLIC_EXPONENT,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
    // ML-DSA / SLH-DSA (`pqc.rs`): the parameter set, and the raw public key on the public half.
    crate::pkcs11_v32::CKA_PARAMETER_SET,
    CKA_VALUE,
    CKA_SIGN,
    CKA_DECRYPT,
    CKA_UNWRAP,
    CKA_SIGN_RECOVER,
    CKA_SENSITIVE,
    CKA_ALWAYS_SENSITIVE,
    CKA_EXTRACTABLE,
    CKA_NEVER_EXTRACTABLE,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_WRAP_WITH_TRUSTED,
    CKA_VERIFY,
    CKA_ENCRYPT,
    CKA_WRAP,
    CKA_VERIFY_RECOVER,
    CKA_TRUSTED,
    CKA_VALUE_LEN,
    vendor::CKA_TSB_POLICY as CK_ATTRIBUTE_TYPE,
    vendor::CKA_TSB_BLOCKED as CK_ATTRIBUTE_TYPE,
    vendor::CKA_TSB_APPROVAL_REQUIRED as CK_ATTRIBUTE_TYPE,
];

/// Attributes a key pair template may set on the session objects beyond what the key decides.
const KEY_TEMPLATE_ATTRIBUTES: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_LABEL,
    CKA_ID,
    CKA_PRIVATE,
    CKA_MODIFIABLE,
    CKA_COPYABLE,
    CKA_DESTROYABLE,
    CKA_SUBJECT,
    CKA_START_DATE,
    CKA_END_DATE,
];

fn b(v: bool) -> Vec<u8> {
    vec![if v { CK_TRUE } else { CK_FALSE }]
}

fn ul(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

impl SessionObject {
    fn new(
        slot: usize,
        session: CK_SESSION_HANDLE,
        kind: Kind,
        mut attrs: BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>,
    ) -> SessionObject {
        // Every session object, a copy included, gets a CKA_UNIQUE_ID of its own: the process
        // and a counter that only grows (the object lives no longer than the process).
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        attrs.insert(
            CKA_UNIQUE_ID,
            format!("session:{}:{n}", std::process::id()).into_bytes(),
        );
        SessionObject {
            slot,
            session,
            kind,
            attrs: Mutex::new(attrs),
        }
    }

    /// A half of a key: the key's attributes as token objects show them, then the template's
    /// (label, id, ...), then what every session object is.
    fn key(
        slot: usize,
        session: CK_SESSION_HANDLE,
        kind: Kind,
        template: &Template,
        private_objects: bool,
    ) -> SessionObject {
        let (key, private) = match &kind {
            Kind::TsbKey { key, private } => (key.clone(), *private),
            Kind::PublicKey(key) => (key.clone(), false),
            _ => unreachable!("key() is only called for keys"),
        };
        let view = if private {
            ObjectView::Private(key)
        } else {
            ObjectView::Public(key)
        };
        let mut attrs = BTreeMap::new();
        for t in KEY_ATTRIBUTES {
            if let AttrValue::Value(v) = view.attribute(*t, private_objects) {
                attrs.insert(*t, v);
            }
        }
        // A session key's label is the application's, not its TSB label.
        attrs.insert(CKA_LABEL, Vec::new());
        for a in template.iter() {
            if KEY_TEMPLATE_ATTRIBUTES.contains(&a.ty) {
                attrs.insert(a.ty, a.value.clone());
            }
        }
        attrs.insert(CKA_TOKEN, b(false));
        for t in [CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE] {
            attrs.entry(t).or_insert_with(|| b(true));
        }
        SessionObject::new(slot, session, kind, attrs)
    }

    /// The value of one attribute.
    pub(crate) fn attribute(&self, ty: CK_ATTRIBUTE_TYPE) -> AttrValue {
        if let Some(v) = self.attrs.lock().get(&ty) {
            return AttrValue::Value(v.clone());
        }
        match &self.kind {
            // A secret key's bytes are read from the TSB when it and this object allow it
            // (plain_keys.rs); this object may have been made sensitive since (set_attributes).
            Kind::TsbKey { key, private: true } if ty == CKA_VALUE && key.is_secret() => {
                if self.flag(CKA_EXTRACTABLE) && !self.flag(CKA_SENSITIVE) {
                    ObjectView::Private(key.clone()).attribute(CKA_VALUE, false)
                } else {
                    AttrValue::Sensitive
                }
            }
            Kind::TsbKey { private: true, .. } if SENSITIVE.contains(&ty) => AttrValue::Sensitive,
            _ => AttrValue::Invalid,
        }
    }

    fn flag(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.attrs
            .lock()
            .get(&ty)
            .is_some_and(|v| v.iter().any(|b| *b != 0))
    }

    /// CKA_CLASS.
    pub(crate) fn class(&self) -> CK_OBJECT_CLASS {
        match self.attribute(CKA_CLASS) {
            AttrValue::Value(v) => v
                .as_slice()
                .try_into()
                .map(CK_ULONG::from_ne_bytes)
                .unwrap_or(CKO_DATA),
            _ => CKO_DATA,
        }
    }

    /// CKA_PRIVATE.
    pub(crate) fn private(&self) -> bool {
        self.flag(CKA_PRIVATE)
    }

    /// The TSB key of a session key pair's half.
    fn tsb_label(&self) -> Option<&str> {
        match &self.kind {
            Kind::TsbKey { key, .. } => Some(&key.tsb_label),
            _ => None,
        }
    }

    /// The object's size for C_GetObjectSize: the bytes of its attribute values.
    pub(crate) fn size(&self) -> usize {
        self.attrs.lock().values().map(Vec::len).sum()
    }
}

/// A public key from a C_CreateObject template: RSA (CKA_MODULUS, CKA_PUBLIC_EXPONENT), EC
/// (CKA_EC_PARAMS, CKA_EC_POINT) or Ed25519 (CKA_EC_PARAMS, CKA_EC_POINT), as a SubjectPublicKeyInfo.
fn public_key_spki(template: &Template) -> Result<Vec<u8>> {
    let incomplete = |what: &str| Error::ck(CKR_TEMPLATE_INCOMPLETE, format!("{what} is required"));
    let invalid =
        |what: &str| Error::ck(CKR_ATTRIBUTE_VALUE_INVALID, format!("{what} is not valid"));
    let bit_string = |point: &[u8]| {
        let mut v = vec![0u8];
        v.extend_from_slice(point);
        der::tlv(0x03, &v)
    };
    // CKA_EC_POINT is a DER OCTET STRING (PKCS#11 3.0); some tools send the raw point.
    let point = |t: &Template| -> Result<Vec<u8>> {
        let p = t
            .bytes(CKA_EC_POINT)
            .ok_or_else(|| incomplete("CKA_EC_POINT"))?;
        Ok(der::unwrap_octet_string(p).unwrap_or(p).to_vec())
    };
    match template.ulong(CKA_KEY_TYPE)? {
        Some(CKK_RSA) => {
            use rsa::pkcs8::EncodePublicKey;
            let n = template
                .bytes(CKA_MODULUS)
                .ok_or_else(|| incomplete("CKA_MODULUS"))?;
            let e = template
                .bytes(CKA_PUBLIC_EXPONENT)
                .ok_or_else(|| incomplete("CKA_PUBLIC_EXPONENT"))?;
            let k = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(n),
                rsa::BigUint::from_bytes_be(e),
            )
            .map_err(|_| invalid("the RSA public key"))?;
            Ok(k.to_public_key_der()
                .map_err(|_| invalid("the RSA public key"))?
                .as_bytes()
                .to_vec())
        }
        Some(CKK_EC) => {
            let params = template
                .bytes(CKA_EC_PARAMS)
                .ok_or_else(|| incomplete("CKA_EC_PARAMS"))?;
            let curve = super::keygen::parse_ec_params(params, false)?;
            let alg = der::tlv(
                0x30,
                &[
                    der::oid(tsb_models::KeyAlgorithm::Ec.oid()).unwrap_or_default(),
                    der::oid(&curve).unwrap_or_default(),
                ]
                .concat(),
            );
            Ok(der::tlv(
                0x30,
                &[alg, bit_string(&point(template)?)].concat(),
            ))
        }
        Some(CKK_EC_EDWARDS) => {
            if let Some(params) = template.bytes(CKA_EC_PARAMS) {
                super::keygen::parse_ec_params(params, true)?;
            }
            let alg = der::tlv(0x30, &der::oid(ED25519_OID).unwrap_or_default());
            Ok(der::tlv(
                0x30,
                &[alg, bit_string(&point(template)?)].concat(),
            ))
        }
        Some(t) => Err(Error::ck(
            CKR_ATTRIBUTE_VALUE_INVALID,
            format!("public keys of type 0x{t:x} are not supported (RSA, EC, EC_EDWARDS)"),
        )),
        None => Err(incomplete("CKA_KEY_TYPE")),
    }
}

/// Check the standard's attributes of a C_CreateObject template that the object keeps.
fn common_attrs(
    template: &Template,
    class: CK_OBJECT_CLASS,
) -> Result<BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>> {
    let mut attrs = BTreeMap::new();
    for a in template.iter() {
        match a.ty {
            CKA_TOKEN | CKA_PRIVATE | CKA_MODIFIABLE | CKA_COPYABLE | CKA_DESTROYABLE
            | CKA_TRUSTED | CKA_VERIFY | CKA_ENCRYPT | CKA_WRAP | CKA_VERIFY_RECOVER
            | CKA_DERIVE | CKA_LOCAL => {
                a.as_bool()?;
            }
            CKA_CLASS
            | CKA_KEY_TYPE
            | CKA_CERTIFICATE_TYPE
            | CKA_CERTIFICATE_CATEGORY
            | CKA_JAVA_MIDP_SECURITY_DOMAIN
            | CKA_NAME_HASH_ALGORITHM
            | CKA_KEY_GEN_MECHANISM
            | CKA_MODULUS_BITS => {
                a.as_ulong()?;
            }
            _ => {}
        }
        attrs.insert(a.ty, a.value.clone());
    }
    attrs.insert(CKA_CLASS, ul(class));
    attrs.insert(CKA_TOKEN, b(false));
    for (t, v) in [
        (CKA_PRIVATE, false),
        (CKA_MODIFIABLE, true),
        (CKA_COPYABLE, true),
        (CKA_DESTROYABLE, true),
    ] {
        attrs.entry(t).or_insert_with(|| b(v));
    }
    attrs.entry(CKA_LABEL).or_default();
    Ok(attrs)
}

impl Module {
    /// The session object behind a handle, if it is one.
    pub(crate) fn session_object(&self, h: CK_OBJECT_HANDLE) -> Option<Arc<SessionObject>> {
        self.session_objects.lock().get(&h).cloned()
    }

    fn add_session_object(&self, o: SessionObject) -> CK_OBJECT_HANDLE {
        let h = super::objects::new_handle();
        self.session_objects.lock().insert(h, Arc::new(o));
        h
    }

    /// Every session object of a slot, with its handle.
    pub(crate) fn session_objects_of(
        &self,
        slot: usize,
    ) -> Vec<(CK_OBJECT_HANDLE, Arc<SessionObject>)> {
        let mut v: Vec<_> = self
            .session_objects
            .lock()
            .iter()
            .filter(|(_, o)| o.slot == slot)
            .map(|(h, o)| (*h, o.clone()))
            .collect();
        v.sort_by_key(|(h, _)| *h);
        v
    }

    /// C_CreateObject with CKA_TOKEN false: a data object, a certificate or a public key.
    pub(crate) fn create_session_object(
        &self,
        session: &Session,
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let class = template
            .ulong(CKA_CLASS)?
            .ok_or_else(|| Error::ck(CKR_TEMPLATE_INCOMPLETE, "CKA_CLASS is required"))?;
        let mut attrs = common_attrs(template, class)?;
        let kind = match class {
            CKO_DATA => {
                for t in [CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE] {
                    attrs.entry(t).or_default();
                }
                Kind::Data
            }
            CKO_CERTIFICATE => {
                // X.509 when not said, as for token certificates (objects.rs).
                if template.ulong(CKA_CERTIFICATE_TYPE)?.unwrap_or(CKC_X_509) != CKC_X_509 {
                    return Err(Error::ck(
                        CKR_ATTRIBUTE_VALUE_INVALID,
                        "only X.509 certificates are supported",
                    ));
                }
                attrs.insert(CKA_CERTIFICATE_TYPE, ul(CKC_X_509));
                let der = template
                    .bytes(CKA_VALUE)
                    .ok_or_else(|| Error::ck(CKR_TEMPLATE_INCOMPLETE, "CKA_VALUE is required"))?;
                let cert = CertInfo::from_der(der.to_vec()).ok_or_else(|| {
                    Error::ck(
                        CKR_ATTRIBUTE_VALUE_INVALID,
                        "CKA_VALUE is not a DER X.509 certificate",
                    )
                })?;
                // What the template does not say is read from the certificate.
                for (t, v) in [
                    (CKA_SUBJECT, cert.fields.subject.clone()),
                    (CKA_ISSUER, cert.fields.issuer.clone()),
                    (CKA_SERIAL_NUMBER, cert.fields.serial.clone()),
                    (CKA_PUBLIC_KEY_INFO, cert.fields.spki.clone()),
                    (CKA_ID, Vec::new()),
                    (CKA_TRUSTED, b(false)),
                    (CKA_CERTIFICATE_CATEGORY, ul(0)),
                    (CKA_START_DATE, Vec::new()),
                    (CKA_END_DATE, Vec::new()),
                ] {
                    attrs.entry(t).or_insert(v);
                }
                Kind::Certificate
            }
            CKO_PUBLIC_KEY => {
                let spki = public_key_spki(template)?;
                let public = PublicKey::from_spki(&spki).map_err(|_| {
                    Error::ck(
                        CKR_ATTRIBUTE_VALUE_INVALID,
                        "the public key is not one the module supports",
                    )
                })?;
                let allowed = |t| template.get(t).map(|a| a.as_bool()).transpose();
                let key = KeyInfo {
                    created: None,
                    tsb_label: String::new(),
                    label: String::new(),
                    id: template.bytes(CKA_ID).unwrap_or_default().to_vec(),
                    spki,
                    public,
                    verifier: Default::default(),
                    sign: allowed(CKA_VERIFY)?.unwrap_or(true),
                    decrypt: allowed(CKA_ENCRYPT)?.unwrap_or(true),
                    unwrap: allowed(CKA_WRAP)?.unwrap_or(false),
                    derive: false,
                    extractable: true,
                    sensitive: false,
                    always_sensitive: false,
                    never_extractable: false,
                    local: false,
                    destroyable: true,
                    policy: None,
                    blocked: false,
                    approval_required: false,
                    policy_timeout: None,
                    approvals_needed: None,
                };
                let slot = self.slot_of(session);
                let obj = SessionObject::key(
                    slot.id,
                    session_handle(session),
                    Kind::PublicKey(Arc::new(key)),
                    template,
                    slot.login_required(),
                );
                // What the template says wins (CKA_LOCAL false: the key was not made here).
                {
                    let mut a = obj.attrs.lock();
                    a.insert(CKA_LOCAL, b(false));
                    for (t, v) in attrs {
                        a.entry(t).or_insert(v);
                    }
                }
                return Ok(self.add_session_object(obj));
            }
            _ => return Err(Error::ck(
                CKR_TEMPLATE_INCONSISTENT,
                "only data objects, certificates, public, private and secret keys can be created",
            )),
        };
        let slot = self.slot_of(session).id;
        Ok(self.add_session_object(SessionObject::new(
            slot,
            session_handle(session),
            kind,
            attrs,
        )))
    }

    /// The two session objects of a key pair generated in the TSB (`tsb_key`), or of a token
    /// key's public half asked for as a session object (`public_only`).
    pub(crate) fn session_key_objects(
        &self,
        session: &Session,
        key: Arc<KeyInfo>,
        public: &Template,
        private: &Template,
    ) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
        let slot = self.slot_of(session);
        let h = session_handle(session);
        let p = SessionObject::key(
            slot.id,
            h,
            Kind::TsbKey {
                key: key.clone(),
                private: false,
            },
            public,
            slot.login_required(),
        );
        let k = SessionObject::key(
            slot.id,
            h,
            Kind::TsbKey { key, private: true },
            private,
            slot.login_required(),
        );
        (self.add_session_object(p), self.add_session_object(k))
    }

    /// The public half of a token key pair as a session object (the public template said
    /// CKA_TOKEN false): a copy of the public key, nothing in the TSB depends on it.
    pub(crate) fn session_public_key(
        &self,
        session: &Session,
        key: Arc<KeyInfo>,
        public: &Template,
    ) -> CK_OBJECT_HANDLE {
        let slot = self.slot_of(session);
        let o = SessionObject::key(
            slot.id,
            session_handle(session),
            Kind::PublicKey(key),
            public,
            slot.login_required(),
        );
        self.add_session_object(o)
    }

    /// A secret key generated in or imported into the TSB, or an imported private key, as a
    /// session object (secret_keys.rs, plain_keys.rs): one object, the key's own, deleted from the
    /// TSB with its session as a session key pair's is.
    pub(crate) fn session_secret_key(
        &self,
        session: &Session,
        key: Arc<KeyInfo>,
        template: &Template,
    ) -> CK_OBJECT_HANDLE {
        let slot = self.slot_of(session);
        let o = SessionObject::key(
            slot.id,
            session_handle(session),
            Kind::TsbKey { key, private: true },
            template,
            slot.login_required(),
        );
        self.add_session_object(o)
    }

    /// C_SetAttributeValue on a session object.
    pub(crate) fn set_session_attributes(
        &self,
        o: &SessionObject,
        template: &Template,
    ) -> Result<()> {
        if !o.flag(CKA_MODIFIABLE) {
            return Err(Error::ck(
                CKR_ACTION_PROHIBITED,
                "the object is not modifiable (CKA_MODIFIABLE false)",
            ));
        }
        let mut attrs = o.attrs.lock();
        let mut changed = attrs.clone();
        for a in template.iter() {
            let value_of_data = a.ty == CKA_VALUE && matches!(o.kind, Kind::Data);
            let same = changed.get(&a.ty) == Some(&a.value);
            let narrowing = match a.ty {
                // Only ever towards the safer side (PKCS#11 3.0 §4.9 footnotes 10 and 11).
                CKA_SENSITIVE => a.as_bool()?,
                CKA_EXTRACTABLE | CKA_COPYABLE | CKA_MODIFIABLE | CKA_DESTROYABLE => {
                    !a.as_bool()?
                }
                _ => false,
            };
            if !(CHANGEABLE.contains(&a.ty) || value_of_data || same || narrowing) {
                return Err(Error::ck(
                    CKR_ATTRIBUTE_READ_ONLY,
                    format!("attribute 0x{:x} cannot be changed", a.ty),
                ));
            }
            changed.insert(a.ty, a.value.clone());
        }
        *attrs = changed;
        Ok(())
    }

    /// C_CopyObject of a session object: a new session object of `session` with the template's
    /// changes (CKA_TOKEN true is refused: a session key pair cannot become a token key, and the
    /// TSB stores no data objects or lone public keys).
    pub(crate) fn copy_session_object(
        &self,
        session: &Session,
        o: &SessionObject,
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        if !o.flag(CKA_COPYABLE) {
            return Err(Error::ck(
                CKR_ACTION_PROHIBITED,
                "the object is not copyable (CKA_COPYABLE false)",
            ));
        }
        if let Some(a) = template.get(CKA_TOKEN) {
            if a.as_bool()? {
                return Err(Error::ck(
                    CKR_TEMPLATE_INCONSISTENT,
                    "a session object cannot be copied to a token object here",
                ));
            }
        }
        let copy = SessionObject::new(
            o.slot,
            session_handle(session),
            o.kind.clone(),
            o.attrs.lock().clone(),
        );
        // The template's changes follow C_SetAttributeValue's rules, on a copy that may be
        // changed whatever the original's CKA_MODIFIABLE says (§5.7: C_CopyObject).
        copy.attrs.lock().insert(CKA_MODIFIABLE, b(true));
        let want_modifiable = template
            .get(CKA_MODIFIABLE)
            .map(|a| a.as_bool())
            .transpose()?
            .or(Some(o.flag(CKA_MODIFIABLE)));
        let rest = Template::new(
            template
                .iter()
                .filter(|a| a.ty != CKA_TOKEN && a.ty != CKA_MODIFIABLE)
                .cloned()
                .collect(),
        );
        self.set_session_attributes(&copy, &rest)
            .map_err(|e| match e.rv() {
                CKR_ATTRIBUTE_READ_ONLY => Error::ck(CKR_ATTRIBUTE_READ_ONLY, e.to_string()),
                _ => e,
            })?;
        copy.attrs
            .lock()
            .insert(CKA_MODIFIABLE, b(want_modifiable.unwrap_or(true)));
        Ok(self.add_session_object(copy))
    }

    /// C_DestroyObject of a session object. The TSB key of a session key pair is deleted with
    /// the last object that uses it.
    pub(crate) fn destroy_session_object(&self, h: CK_OBJECT_HANDLE) -> Result<()> {
        let o = self.session_objects.lock().get(&h).cloned();
        let o = o.ok_or_else(|| Error::ck(CKR_OBJECT_HANDLE_INVALID, format!("no object {h}")))?;
        if !o.flag(CKA_DESTROYABLE) {
            return Err(Error::ck(
                CKR_ACTION_PROHIBITED,
                "the object is not destroyable (CKA_DESTROYABLE false)",
            ));
        }
        self.session_objects.lock().remove(&h);
        self.delete_unused_session_keys(&[o]);
        Ok(())
    }

    /// The session closed: its objects are gone, and their TSB keys with them.
    pub(crate) fn drop_session_objects(&self, session: CK_SESSION_HANDLE) {
        let gone: Vec<Arc<SessionObject>> = {
            let mut map = self.session_objects.lock();
            let hs: Vec<_> = map
                .iter()
                .filter(|(_, o)| o.session == session)
                .map(|(h, _)| *h)
                .collect();
            hs.into_iter().filter_map(|h| map.remove(&h)).collect()
        };
        self.delete_unused_session_keys(&gone);
    }

    /// Delete the TSB keys of these removed objects that no remaining object uses.
    fn delete_unused_session_keys(&self, removed: &[Arc<SessionObject>]) {
        let mut labels: Vec<(usize, String)> = removed
            .iter()
            .filter_map(|o| o.tsb_label().map(|l| (o.slot, l.to_string())))
            .collect();
        labels.sort();
        labels.dedup();
        let still_used = |l: &str| {
            self.session_objects
                .lock()
                .values()
                .any(|o| o.tsb_label() == Some(l))
        };
        for (slot, label) in labels {
            if still_used(&label) {
                continue;
            }
            let Some(sl) = self.slots.get(slot) else {
                continue;
            };
            delete_session_key(&sl.tsb, &sl.config.label_prefix, &label);
        }
    }

    /// C_Finalize and process exit: every session object is gone, and every session key of this
    /// process is deleted, within `bound` (a thread does the deleting; what is not done by then
    /// is left to the leftover rule: it becomes a dead process's key when this process ends).
    pub(crate) fn delete_all_session_keys(&self, bound: Duration) {
        let all: Vec<Arc<SessionObject>> = self
            .session_objects
            .lock()
            .drain()
            .map(|(_, o)| o)
            .collect();
        let mut work: Vec<(Arc<Tsb>, String, String)> = Vec::new();
        for o in &all {
            if let (Some(l), Some(sl)) = (o.tsb_label(), self.slots.get(o.slot)) {
                if !work.iter().any(|(_, w, _)| w == l) {
                    work.push((
                        sl.tsb.clone(),
                        l.to_string(),
                        sl.config.label_prefix.clone(),
                    ));
                }
            }
        }
        if work.is_empty() {
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("tsb-session-keys".into())
            .spawn(move || {
                crate::panic_hook::scope(|| {
                    for (tsb, label, prefix) in &work {
                        delete_session_key(tsb, prefix, label);
                    }
                });
                let _ = tx.send(());
            });
        if spawned.is_ok() && rx.recv_timeout(bound).is_err() {
            crate::log!(
                Level::Warn,
                "session keys not all deleted within {bound:?}; the rest are removed later as a dead process's leftovers"
            );
        }
    }
}

/// Delete one session key of this process (never another process's: a forked child holds its
/// parent's objects but not its keys).
fn delete_session_key(tsb: &Tsb, prefix: &str, label: &str) {
    if !super::session_keys::is_mine(prefix, label) {
        return;
    }
    match tsb.delete_key(label) {
        Ok(()) => crate::log!(Level::Debug, "deleted session key {label}"),
        Err(e) => crate::log!(
            Level::Warn,
            "session key {label} could not be deleted ({e}); it is removed later as a leftover"
        ),
    }
}

/// The handle of a session (kept in the session itself).
fn session_handle(session: &Session) -> CK_SESSION_HANDLE {
    session.handle
}
