//! What each attribute of a private key, public key or certificate object is, computed from the
//! TSB's key (`tsb::key`) and its certificate.

use crate::der;
use crate::mechanism::Family;
use crate::vendor;
use cryptoki_sys::*;

use crate::tsb::key::{CertInfo, KeyInfo, PublicKey, ED25519_OID};
use std::sync::Arc;

/// CKA_KEY_TYPE of a public key.
pub(crate) fn key_type(p: &PublicKey) -> CK_KEY_TYPE {
    match p {
        PublicKey::Rsa { .. } => CKK_RSA,
        PublicKey::Ec { .. } => CKK_EC,
        PublicKey::Ed25519 { .. } => CKK_EC_EDWARDS,
        PublicKey::Pqc { set, .. } => crate::pkcs11_v32::key_type(set.family()),
        PublicKey::Secret(s) => super::secret_keys::key_type(s),
    }
}

/// CKA_KEY_GEN_MECHANISM of a public key.
pub(crate) fn gen_mechanism(p: &PublicKey) -> CK_MECHANISM_TYPE {
    match p {
        PublicKey::Rsa { .. } => CKM_RSA_PKCS_KEY_PAIR_GEN,
        PublicKey::Ec { .. } => CKM_EC_KEY_PAIR_GEN,
        PublicKey::Ed25519 { .. } => CKM_EC_EDWARDS_KEY_PAIR_GEN,
        PublicKey::Pqc { set, .. } => crate::pkcs11_v32::key_pair_gen(set.family()),
        PublicKey::Secret(s) => super::secret_keys::gen_mechanism(s),
    }
}

/// CKA_EC_PARAMS (DER OID).
pub(crate) fn ec_params(p: &PublicKey) -> Option<Vec<u8>> {
    match p {
        PublicKey::Ec { curve, .. } => der::oid(curve.oid()),
        PublicKey::Ed25519 { .. } => der::oid(ED25519_OID),
        PublicKey::Rsa { .. } | PublicKey::Pqc { .. } | PublicKey::Secret(_) => None,
    }
}

/// CKA_EC_POINT (DER OCTET STRING of the point).
pub(crate) fn ec_point(p: &PublicKey) -> Option<Vec<u8>> {
    match p {
        PublicKey::Ec { point, .. } | PublicKey::Ed25519 { point } => {
            Some(der::octet_string(point))
        }
        PublicKey::Rsa { .. } | PublicKey::Pqc { .. } | PublicKey::Secret(_) => None,
    }
}

/// Which object of a key (or a configured CA certificate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ObjClass {
    /// CKO_PRIVATE_KEY, or CKO_SECRET_KEY for a secret key (the object holding the key's
    /// secret).
    Private,
    /// CKO_PUBLIC_KEY.
    Public,
    /// CKO_CERTIFICATE of the key.
    Certificate,
    /// A CA certificate from the config (index into the slot's list).
    CaCertificate(usize),
    /// A session object (its handle is its identity).
    Session,
}

/// A resolved object for attribute reads.
#[derive(Debug, Clone)]
pub(crate) enum ObjectView {
    /// Private key.
    Private(Arc<KeyInfo>),
    /// Public key.
    Public(Arc<KeyInfo>),
    /// A key's certificate.
    Certificate(Arc<KeyInfo>, Arc<CertInfo>),
    /// A CA certificate from the config (label, cert).
    CaCertificate(String, Arc<CertInfo>),
    /// A session object (its attributes are its own).
    Session(Arc<super::session_objects::SessionObject>),
}

/// Result of reading one attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AttrValue {
    /// The value bytes.
    Value(Vec<u8>),
    /// Exists but may not be revealed (CKR_ATTRIBUTE_SENSITIVE).
    Sensitive,
    /// Not an attribute of this object (CKR_ATTRIBUTE_TYPE_INVALID).
    Invalid,
    /// A value of this many bytes that lives in the TSB only: the CKA_VALUE of a secret key that
    /// is extractable and not sensitive. [`super::Module::attribute_values`] fetches it when the
    /// caller's buffer can hold it (never for a length query), see `secret_keys.rs`.
    Remote(usize),
}

/// CK_BBOOL encoding.
pub(crate) fn bool_val(b: bool) -> AttrValue {
    AttrValue::Value(vec![if b { CK_TRUE } else { CK_FALSE }])
}

/// CK_ULONG encoding (native endianness, as C reads it).
pub(crate) fn ulong_val(v: CK_ULONG) -> AttrValue {
    AttrValue::Value(v.to_ne_bytes().to_vec())
}

impl ObjectView {
    /// The object's class.
    pub(crate) fn class(&self) -> CK_OBJECT_CLASS {
        match self {
            // A secret key is the object that holds the TSB key's secret (secret_keys.rs).
            ObjectView::Private(k) if k.is_secret() => CKO_SECRET_KEY,
            ObjectView::Private(_) => CKO_PRIVATE_KEY,
            ObjectView::Public(_) => CKO_PUBLIC_KEY,
            ObjectView::Certificate(..) | ObjectView::CaCertificate(..) => CKO_CERTIFICATE,
            ObjectView::Session(o) => o.class(),
        }
    }

    /// CKA_UNIQUE_ID of a token object: what it is, its TSB label, which names one key on the
    /// TSB at a time (a label is unique there, errorCode 608), and the key's `createTime`, so a
    /// key deleted and made again under the same label is another id (unless both happened
    /// within the same second: the TSB's times are in seconds). The two halves of a key pair and
    /// its certificate are different objects, hence the kind. `uuid` would be better but is for
    /// external key stores only (tsb-api.md §2.2).
    fn unique_id(&self) -> Vec<u8> {
        let (kind, key) = match self {
            ObjectView::Private(k) if k.is_secret() => ("secret", k),
            ObjectView::Private(k) => ("private", k),
            ObjectView::Public(k) => ("public", k),
            ObjectView::Certificate(k, _) => ("certificate", k),
            ObjectView::CaCertificate(label, _) => {
                return format!("config:ca-certificate:{label}").into_bytes()
            }
            // Session objects carry theirs (session_objects.rs).
            ObjectView::Session(o) => {
                return match o.attribute(CKA_UNIQUE_ID) {
                    AttrValue::Value(v) => v,
                    _ => Vec::new(),
                }
            }
        };
        match &key.created {
            Some(t) => format!("tsb:{kind}:{}@{t}", key.tsb_label),
            None => format!("tsb:{kind}:{}", key.tsb_label),
        }
        .into_bytes()
    }

    /// Read one attribute. `private_objects`: whether private keys are CKA_PRIVATE (slots that
    /// need a login).
    pub(crate) fn attribute(&self, ty: CK_ATTRIBUTE_TYPE, private_objects: bool) -> AttrValue {
        use AttrValue::*;
        if let ObjectView::Session(o) = self {
            return o.attribute(ty);
        }
        // Common storage attributes.
        match ty {
            CKA_CLASS => return ulong_val(self.class()),
            CKA_TOKEN => return bool_val(true),
            CKA_MODIFIABLE => {
                // Attributes cannot be changed through this module.
                return bool_val(false);
            }
            CKA_COPYABLE => return bool_val(false),
            CKA_UNIQUE_ID => return Value(self.unique_id()),
            CKA_DESTROYABLE => {
                return bool_val(match self {
                    ObjectView::Private(k) | ObjectView::Public(k) => k.destroyable,
                    ObjectView::Certificate(..) => true,
                    ObjectView::CaCertificate(..) | ObjectView::Session(_) => false,
                })
            }
            _ => {}
        }
        match self {
            ObjectView::Session(_) => Invalid,
            ObjectView::CaCertificate(label, c) => cert_attribute(ty, label, b"", c),
            ObjectView::Certificate(k, c) => cert_attribute(ty, &k.label, &k.id, c),
            ObjectView::Private(k) | ObjectView::Public(k) if k.is_secret() => {
                match k.public.secret() {
                    // A secret key has no public object; a view of it as one shows nothing.
                    Some(s) if matches!(self, ObjectView::Private(_)) => {
                        super::secret_keys::attribute(k, s, ty, private_objects)
                    }
                    _ => Invalid,
                }
            }
            ObjectView::Private(k) | ObjectView::Public(k) => {
                let private = matches!(self, ObjectView::Private(_));
                let p = &k.public;
                if let Some(v) = super::pqc::attribute(p, ty, private) {
                    return v;
                }
                match ty {
                    CKA_LABEL => Value(k.label.as_bytes().to_vec()),
                    CKA_ID => Value(k.id.clone()),
                    CKA_PRIVATE => bool_val(private && private_objects),
                    CKA_KEY_TYPE => ulong_val(key_type(p)),
                    CKA_LOCAL => bool_val(k.local),
                    // An imported key was not generated (PKCS#11 3.0 §4.7).
                    CKA_KEY_GEN_MECHANISM if !k.local => ulong_val(CK_UNAVAILABLE_INFORMATION),
                    CKA_KEY_GEN_MECHANISM => ulong_val(gen_mechanism(p)),
                    CKA_START_DATE | CKA_END_DATE => Value(Vec::new()),
                    CKA_DERIVE => bool_val(k.derive && private),
                    CKA_ALLOWED_MECHANISMS => Value(Vec::new()),
                    CKA_SUBJECT => Value(Vec::new()),
                    CKA_PUBLIC_KEY_INFO => Value(k.spki.clone()),
                    CKA_MODULUS => match p {
                        PublicKey::Rsa { modulus, .. } => Value(modulus.clone()),
                        _ => Invalid,
                    },
                    CKA_MODULUS_BITS if !private => match p {
                        PublicKey::Rsa { bits, .. } => ulong_val(*bits as CK_ULONG),
                        _ => Invalid,
                    },
                    CKA_PUBLIC_EXPONENT => match p {
                        PublicKey::Rsa { exponent, .. } => Value(exponent.clone()),
                        _ => Invalid,
                    },
                    CKA_EC_PARAMS => ec_params(p).map(Value).unwrap_or(Invalid),
                    // The point is public; it is readable on the private key object too, because
                    // OpenSSL's pkcs11 engine and others read it there.
                    CKA_EC_POINT => ec_point(p).map(Value).unwrap_or(Invalid),
                    // Private-key-only attributes.
                    CKA_SIGN if private => bool_val(k.sign),
                    CKA_DECRYPT if private => {
                        bool_val(k.decrypt && p.family() == Some(Family::Rsa))
                    }
                    CKA_UNWRAP if private => bool_val(k.unwrap),
                    CKA_SIGN_RECOVER if private => bool_val(false),
                    // A private key is always sensitive here (its parts are never read back);
                    // an imported one was not always so, nor never extractable.
                    CKA_SENSITIVE if private => bool_val(true),
                    CKA_ALWAYS_SENSITIVE if private => bool_val(k.always_sensitive),
                    CKA_EXTRACTABLE if private => bool_val(k.extractable),
                    CKA_NEVER_EXTRACTABLE if private => bool_val(k.never_extractable),
                    // The approval happens on the TSB, not through a PKCS#11 context login.
                    CKA_ALWAYS_AUTHENTICATE if private => bool_val(false),
                    CKA_WRAP_WITH_TRUSTED if private => bool_val(false),
                    CKA_PRIVATE_EXPONENT | CKA_PRIME_1 | CKA_PRIME_2 | CKA_EXPONENT_1
                    | CKA_EXPONENT_2 | CKA_COEFFICIENT | CKA_VALUE
                        if private =>
                    {
                        Sensitive
                    }
                    // Public-key-only attributes.
                    CKA_VERIFY if !private => bool_val(k.sign),
                    CKA_ENCRYPT if !private => {
                        bool_val(k.decrypt && p.family() == Some(Family::Rsa))
                    }
                    CKA_WRAP if !private => bool_val(k.unwrap),
                    CKA_VERIFY_RECOVER if !private => bool_val(false),
                    CKA_TRUSTED if !private => bool_val(false),
                    t => vendor_attribute(k, t),
                }
            }
        }
    }
}

/// The vendor attributes of a key object (private, public or secret), else
/// CKR_ATTRIBUTE_TYPE_INVALID.
pub(crate) fn vendor_attribute(k: &KeyInfo, ty: CK_ATTRIBUTE_TYPE) -> AttrValue {
    match ty {
        t if t == vendor::CKA_TSB_POLICY as CK_ATTRIBUTE_TYPE => AttrValue::Value(
            k.policy
                .as_ref()
                .and_then(|p| serde_json::to_vec(p).ok())
                .unwrap_or_default(),
        ),
        t if t == vendor::CKA_TSB_BLOCKED as CK_ATTRIBUTE_TYPE => bool_val(k.blocked),
        t if t == vendor::CKA_TSB_APPROVAL_REQUIRED as CK_ATTRIBUTE_TYPE => {
            bool_val(k.approval_required)
        }
        _ => AttrValue::Invalid,
    }
}

fn cert_attribute(ty: CK_ATTRIBUTE_TYPE, label: &str, id: &[u8], c: &CertInfo) -> AttrValue {
    use AttrValue::*;
    match ty {
        CKA_LABEL => Value(label.as_bytes().to_vec()),
        CKA_ID => Value(id.to_vec()),
        CKA_PRIVATE => bool_val(false),
        CKA_CERTIFICATE_TYPE => ulong_val(CKC_X_509),
        CKA_TRUSTED => bool_val(false),
        // 0 = unspecified, 1 = token user, 2 = authority: a key's own certificate is the user's.
        CKA_CERTIFICATE_CATEGORY => ulong_val(if id.is_empty() { 2 } else { 1 }),
        CKA_CHECK_VALUE => Value(crate::mechanism::Hash::Sha1.digest(&c.der)[..3].to_vec()),
        CKA_START_DATE | CKA_END_DATE => Value(Vec::new()),
        CKA_PUBLIC_KEY_INFO => Value(c.fields.spki.clone()),
        CKA_VALUE => Value(c.der.clone()),
        CKA_SUBJECT => Value(c.fields.subject.clone()),
        CKA_ISSUER => Value(c.fields.issuer.clone()),
        CKA_SERIAL_NUMBER => Value(c.fields.serial.clone()),
        CKA_URL => Value(Vec::new()),
        CKA_HASH_OF_SUBJECT_PUBLIC_KEY | CKA_HASH_OF_ISSUER_PUBLIC_KEY => Value(Vec::new()),
        CKA_JAVA_MIDP_SECURITY_DOMAIN => ulong_val(0),
        CKA_NAME_HASH_ALGORITHM => ulong_val(CKM_SHA_1),
        _ => Invalid,
    }
}
