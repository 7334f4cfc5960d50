//! Keys in plain (`POST /v1/key/import/plain`, `POST /v1/key/export/plain`, see `tsb::plain`):
//! C_CreateObject of a secret key with its CKA_VALUE, as a token object or as a session object
//! (imported under a session key label and deleted with its session, as session keys are:
//! session_keys.rs), and the CKA_VALUE of a secret key that is extractable and not sensitive,
//! read from the TSB when the caller asks for the bytes.
//!
//! C_CreateObject of a private key (EC: CKA_EC_PARAMS and CKA_VALUE; RSA: the modulus, the
//! exponents and, when given, the primes) is imported too: the module builds its PKCS#8 DER and
//! SubjectPublicKeyInfo locally (RustCrypto) and sends them as `privateKey` and `publicKey`
//! ("encoded in the DER format including information like the algorithm or the curve OID", S3
//! `KeyImportDto.java`). The template's uses, label, policy and CKA_EXTRACTABLE are taken as
//! C_GenerateKeyPair takes them (keygen.rs); a private key stays sensitive (its parts are never
//! read back). A public key made by its own C_CreateObject stays a local public key object
//! (session_objects.rs).
//!
//! An imported key was not generated in the HSM: CKA_LOCAL false, CKA_ALWAYS_SENSITIVE false,
//! CKA_NEVER_EXTRACTABLE false, CKA_KEY_GEN_MECHANISM unavailable (PKCS#11 3.0 §4.7, §4.10).

use super::attributes::{AttrValue, ObjClass, ObjectView};
use super::objects::ObjRef;
use super::session::Session;
use super::template::{Attr, Template};
use super::Module;
use crate::error::{Error, Result};
use crate::log::Level;
use crate::tsb::api::b64;
use cryptoki_sys::*;
use tsb_models::{Curve, KeyImportRequest, SecretKeyAlgorithm};
use zeroize::Zeroizing;

/// What C_CreateObject of a secret key asked for (`Debug` hides the key: `KeyImportRequest`).
#[derive(Debug)]
pub(crate) struct SecretKeyImport {
    /// The body for the TSB (its `secretKey` holds the key: zeroized by `Tsb::import_key`).
    pub(crate) body: KeyImportRequest,
    /// A token object; else a session object under a session key label.
    pub(crate) token: bool,
    pub(crate) algorithm: SecretKeyAlgorithm,
}

/// The TSB algorithm of a secret key type. AES keys are 16, 24 or 32 bytes; the TSB's HMAC keys
/// are `HMACSHA256` keys of 32 bytes (the algorithm name of `CreateKeyDto`, S3
/// `dto/tsb/request/CreateKeyDto.java`; no source shows an HMAC key imported, this is the
/// module's reading, as the 256 bits of generated ones are: secret_keys.rs).
fn algorithm_of(key_type: CK_KEY_TYPE) -> Result<SecretKeyAlgorithm> {
    match key_type {
        CKK_AES => Ok(SecretKeyAlgorithm::Aes),
        CKK_GENERIC_SECRET | CKK_SHA256_HMAC => Ok(SecretKeyAlgorithm::HmacSha256),
        t => Err(Error::ck(
            CKR_ATTRIBUTE_VALUE_INVALID,
            format!("secret keys of type 0x{t:x} cannot be imported (AES, GENERIC_SECRET)"),
        )),
    }
}

/// Build the import of C_CreateObject(CKO_SECRET_KEY): the template's uses, label, CKA_TOKEN,
/// CKA_SENSITIVE and CKA_EXTRACTABLE as C_GenerateKey takes them (`secret_keys::build_for`),
/// CKA_VALUE the key (required: CKR_TEMPLATE_INCOMPLETE; a length that is no key of the type:
/// CKR_ATTRIBUTE_VALUE_INVALID).
pub(crate) fn build_secret_import(template: &Template, prefix: &str) -> Result<SecretKeyImport> {
    let key_type = template.ulong(CKA_KEY_TYPE)?.ok_or_else(|| {
        Error::ck(
            CKR_TEMPLATE_INCOMPLETE,
            "CKA_KEY_TYPE is required to create a secret key",
        )
    })?;
    let algorithm = algorithm_of(key_type)?;
    let value = Zeroizing::new(
        template
            .bytes(CKA_VALUE)
            .ok_or_else(|| {
                Error::ck(
                    CKR_TEMPLATE_INCOMPLETE,
                    "CKA_VALUE (the key) is required to create a secret key",
                )
            })?
            .to_vec(),
    );
    let bits = (value.len() as u64).saturating_mul(8);
    if !algorithm.sizes().iter().any(|b| u64::from(*b) == bits) {
        return Err(Error::ck(
            CKR_ATTRIBUTE_VALUE_INVALID,
            format!(
                "a {}-byte CKA_VALUE is no {} key the TSB holds ({:?} bits)",
                value.len(),
                algorithm.name(),
                algorithm.sizes()
            ),
        ));
    }
    // CKA_VALUE_LEN, when given, must say the same (PKCS#11 3.0 §4.10: not given to
    // C_CreateObject; tolerated when it agrees).
    if let Some(n) = template.ulong(CKA_VALUE_LEN)? {
        #[allow(clippy::unnecessary_cast)] // CK_ULONG is 32 bits on some platforms
        if n as u64 != value.len() as u64 {
            return Err(Error::ck(
                CKR_TEMPLATE_INCONSISTENT,
                "CKA_VALUE_LEN does not match CKA_VALUE",
            ));
        }
    }
    for t in [CKA_LOCAL, CKA_KEY_GEN_MECHANISM] {
        if template.get(t).is_some() {
            return Err(Error::ck(
                CKR_ATTRIBUTE_READ_ONLY,
                format!("attribute 0x{t:x} cannot be set (PKCS#11 3.0 §4.7)"),
            ));
        }
    }
    // The rest as C_GenerateKey's template (without the key and its length).
    let rest = Template::new(
        template
            .iter()
            .filter(|a| !matches!(a.ty, CKA_VALUE | CKA_VALUE_LEN))
            .cloned()
            .collect::<Vec<Attr>>(),
    );
    let gen = super::secret_keys::build_for(algorithm, &rest, prefix, false)?;
    // KeyImportDto has no `id`: a token key's CKA_ID could not be kept (a session object keeps
    // its own, session_objects.rs).
    if gen.token && gen.body.id.is_some() {
        return Err(Error::ck(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "CKA_ID cannot be stored with an imported token key (the TSB's import has no id)",
        ));
    }
    let mut attributes = gen.body.attributes;
    // The TSB's default for `sensitive` is not documented: said explicitly.
    attributes.sensitive.get_or_insert(true);
    Ok(SecretKeyImport {
        token: gen.token,
        algorithm,
        body: KeyImportRequest {
            label: gen.body.label,
            algorithm: algorithm.name().to_string(),
            secret_key: Some(b64(&value)),
            attributes,
            ..Default::default()
        },
    })
}

/// What C_CreateObject of a private key asked for.
#[derive(Debug)]
pub(crate) struct PrivateKeyImport {
    /// The body for the TSB (`privateKey` is zeroized by `Tsb::import_key`).
    pub(crate) body: KeyImportRequest,
    /// A token object; else a session object under a session key label.
    pub(crate) token: bool,
}

/// The attributes that carry a private key's material (not given to keygen.rs's template rules).
const KEY_MATERIAL: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_VALUE,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
    CKA_MODULUS,
    CKA_PUBLIC_EXPONENT,
    CKA_PRIVATE_EXPONENT,
    CKA_PRIME_1,
    CKA_PRIME_2,
    CKA_EXPONENT_1,
    CKA_EXPONENT_2,
    CKA_COEFFICIENT,
];

fn invalid(what: &str) -> Error {
    Error::ck(CKR_ATTRIBUTE_VALUE_INVALID, format!("{what} is not valid"))
}

fn required<'a>(template: &'a Template, ty: CK_ATTRIBUTE_TYPE, name: &str) -> Result<&'a [u8]> {
    template
        .bytes(ty)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::ck(CKR_TEMPLATE_INCOMPLETE, format!("{name} is required")))
}

/// PKCS#8 DER and SubjectPublicKeyInfo of the EC private key `d` (big-endian) on `curve`.
fn ec_pkcs8(curve: Curve, d: &[u8]) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>)> {
    // CKA_VALUE is the big-endian scalar; a shorter one (leading zeros dropped) is padded.
    let n = curve.field_len();
    let d = &d[d.iter().take_while(|b| **b == 0).count()..];
    if d.is_empty() || d.len() > n {
        return Err(invalid("CKA_VALUE (the EC private key)"));
    }
    let mut padded = Zeroizing::new(vec![0u8; n]);
    padded[n - d.len()..].copy_from_slice(d);
    macro_rules! encode {
        ($c:ident) => {{
            use $c::pkcs8::{EncodePrivateKey, EncodePublicKey};
            let sk = $c::SecretKey::from_slice(&padded)
                .map_err(|_| invalid("CKA_VALUE (the EC private key)"))?;
            let pkcs8 = sk
                .to_pkcs8_der()
                .map_err(|_| invalid("the EC private key"))?;
            let spki = sk
                .public_key()
                .to_public_key_der()
                .map_err(|_| invalid("the EC public key"))?;
            (
                Zeroizing::new(pkcs8.as_bytes().to_vec()),
                spki.as_bytes().to_vec(),
            )
        }};
    }
    Ok(match curve {
        Curve::P256 => encode!(p256),
        Curve::P384 => encode!(p384),
        Curve::P521 => encode!(p521),
        Curve::Secp256k1 => encode!(k256),
    })
}

/// PKCS#8 DER and SubjectPublicKeyInfo of an RSA private key from its template: the modulus and
/// both exponents are required, the primes used when given (else recovered); CKA_EXPONENT_1,
/// CKA_EXPONENT_2 and CKA_COEFFICIENT are recomputed from them. The key is checked
/// (`RsaPrivateKey::validate`) before it is sent.
fn rsa_pkcs8(template: &Template) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>)> {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
    use rsa::BigUint;
    let int = |ty, name| required(template, ty, name).map(BigUint::from_bytes_be);
    let n = int(CKA_MODULUS, "CKA_MODULUS")?;
    let e = int(CKA_PUBLIC_EXPONENT, "CKA_PUBLIC_EXPONENT")?;
    let d = int(CKA_PRIVATE_EXPONENT, "CKA_PRIVATE_EXPONENT")?;
    let primes = match (template.bytes(CKA_PRIME_1), template.bytes(CKA_PRIME_2)) {
        (Some(p), Some(q)) => vec![BigUint::from_bytes_be(p), BigUint::from_bytes_be(q)],
        _ => Vec::new(),
    };
    let key = rsa::RsaPrivateKey::from_components(n, e, d, primes)
        .map_err(|_| invalid("the RSA private key"))?;
    key.validate().map_err(|_| invalid("the RSA private key"))?;
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|_| invalid("the RSA private key"))?;
    let spki = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|_| invalid("the RSA public key"))?;
    Ok((
        Zeroizing::new(pkcs8.as_bytes().to_vec()),
        spki.as_bytes().to_vec(),
    ))
}

/// Build the import of C_CreateObject(CKO_PRIVATE_KEY) for EC and RSA keys.
pub(crate) fn build_private_import(
    template: &Template,
    prefix: &str,
    default_policy: Option<&tsb_models::Policy>,
) -> Result<PrivateKeyImport> {
    let key_type = template.ulong(CKA_KEY_TYPE)?.ok_or_else(|| {
        Error::ck(
            CKR_TEMPLATE_INCOMPLETE,
            "CKA_KEY_TYPE is required to create a private key",
        )
    })?;
    for t in [CKA_LOCAL, CKA_KEY_GEN_MECHANISM] {
        if template.get(t).is_some() {
            return Err(Error::ck(
                CKR_ATTRIBUTE_READ_ONLY,
                format!("attribute 0x{t:x} cannot be set (PKCS#11 3.0 §4.7)"),
            ));
        }
    }
    let token = template.get(CKA_TOKEN).map(|a| a.as_bool()).transpose()?;
    let token_attr = Attr::new(CKA_TOKEN, vec![token.unwrap_or(false) as u8]);
    // The template's other attributes as C_GenerateKeyPair's private template, with a public
    // template that says what the key material does (curve, modulus size).
    let rest = Template::new(
        template
            .iter()
            .filter(|a| !KEY_MATERIAL.contains(&a.ty) && a.ty != CKA_TOKEN)
            .cloned()
            .chain([token_attr.clone()])
            .collect::<Vec<Attr>>(),
    );
    let (mech, public, (pkcs8, spki)) = match key_type {
        CKK_EC => {
            let params = required(template, CKA_EC_PARAMS, "CKA_EC_PARAMS")?;
            let oid = super::keygen::parse_ec_params(params, false)?;
            let curve = Curve::from_oid(&oid).ok_or_else(|| {
                Error::ck(
                    CKR_CURVE_NOT_SUPPORTED,
                    format!("curve {oid} is not supported"),
                )
            })?;
            let d = required(template, CKA_VALUE, "CKA_VALUE")?;
            (
                CKM_EC_KEY_PAIR_GEN,
                vec![Attr::new(CKA_EC_PARAMS, params.to_vec())],
                ec_pkcs8(curve, d)?,
            )
        }
        CKK_RSA => {
            let bits = {
                let n = required(template, CKA_MODULUS, "CKA_MODULUS")?;
                let n = &n[n.iter().take_while(|b| **b == 0).count()..];
                n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize)
            };
            (
                CKM_RSA_PKCS_KEY_PAIR_GEN,
                vec![Attr::new(
                    CKA_MODULUS_BITS,
                    (bits as CK_ULONG).to_ne_bytes().to_vec(),
                )],
                rsa_pkcs8(template)?,
            )
        }
        t => {
            return Err(Error::ck(
                CKR_ATTRIBUTE_VALUE_INVALID,
                format!("private keys of type 0x{t:x} cannot be imported (EC, RSA)"),
            ))
        }
    };
    let mut public = public;
    public.push(token_attr);
    let gen = super::keygen::build(mech, &Template::new(public), &rest, prefix, default_policy)?;
    // KeyImportDto has no `id` (see build_secret_import).
    if gen.token && gen.body.id.is_some() {
        return Err(Error::ck(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "CKA_ID cannot be stored with an imported token key (the TSB's import has no id)",
        ));
    }
    let mut attributes = gen.body.attributes;
    attributes.sensitive = Some(true);
    Ok(PrivateKeyImport {
        token: gen.token,
        body: KeyImportRequest {
            label: gen.body.label,
            algorithm: gen.body.algorithm.unwrap_or_default(),
            private_key: Some(b64(&pkcs8)),
            public_key: Some(b64(&spki)),
            attributes,
            policy: gen.body.policy,
            ..Default::default()
        },
    })
}

impl Module {
    /// C_CreateObject of a secret key: imported into the TSB; its handle.
    pub(crate) fn import_secret_key(
        &self,
        session: &Session,
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let slot = self.slot_of(session);
        let req = build_secret_import(template, &slot.config.label_prefix)?;
        if req.token {
            session.writes_token_objects("a token key")?;
        }
        let since = req.algorithm.since();
        if let Some(v) = slot.tsb.version().filter(|v| *v < since) {
            return Err(Error::ck(
                CKR_ATTRIBUTE_VALUE_INVALID,
                format!(
                    "TSB {v} cannot hold {} keys (they came with TSB {since})",
                    req.algorithm.name()
                ),
            ));
        }
        let label = req.body.label.clone();
        let key = slot.tsb.import_key(req.body)?;
        if !key.is_secret() {
            return Err(Error::BadResult(format!(
                "the TSB imported {label} as something other than a {} key",
                req.algorithm.name()
            )));
        }
        crate::log!(
            Level::Info,
            "imported key {label} ({})",
            req.algorithm.name()
        );
        Ok(self.imported_object(session, key, template, req.token))
    }

    /// C_CreateObject of a private key: imported into the TSB; its handle.
    pub(crate) fn import_private_key(
        &self,
        session: &Session,
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let slot = self.slot_of(session);
        let req = build_private_import(
            template,
            &slot.config.label_prefix,
            slot.config.default_policy.as_ref(),
        )?;
        if req.token {
            session.writes_token_objects("a token key")?;
        }
        let label = req.body.label.clone();
        let algorithm = req.body.algorithm.clone();
        let spki = req.body.public_key.clone();
        let key = slot.tsb.import_key(req.body)?;
        // The key the TSB holds must be the one sent (its public key is what every signature
        // is checked against).
        if spki.as_deref() != Some(b64(&key.spki).as_str()) {
            return Err(Error::BadResult(format!(
                "the TSB imported {label} with another public key than the one sent"
            )));
        }
        crate::log!(
            Level::Info,
            "imported key {label} ({algorithm}){}",
            if key.approval_required {
                " with an SKA policy: every use waits for approvals"
            } else {
                ""
            }
        );
        Ok(self.imported_object(session, key, template, req.token))
    }

    /// The object of an imported key: a token object's handle, or a session object whose key is
    /// deleted from the TSB with its session (session_keys.rs).
    fn imported_object(
        &self,
        session: &Session,
        key: std::sync::Arc<crate::tsb::key::KeyInfo>,
        template: &Template,
        token: bool,
    ) -> CK_OBJECT_HANDLE {
        if !token {
            return self.session_secret_key(session, key, template);
        }
        self.handle_for(ObjRef {
            slot: self.slot_of(session).id,
            label: key.tsb_label.clone(),
            class: ObjClass::Private,
        })
    }

    /// The value of an [`AttrValue::Remote`] attribute of `view` (`len` bytes): a secret key's
    /// CKA_VALUE, exported from the TSB. A TSB that refuses (614: the key is sensitive or not
    /// extractable after all) answers CKR_ATTRIBUTE_SENSITIVE.
    pub(crate) fn remote_value(
        &self,
        session: &Session,
        view: &ObjectView,
        len: usize,
    ) -> Result<AttrValue> {
        use super::session_objects::Kind;
        let key = match view {
            ObjectView::Private(k) => k.clone(),
            ObjectView::Session(o) => match &o.kind {
                Kind::TsbKey { key, .. } => key.clone(),
                _ => return Ok(AttrValue::Sensitive),
            },
            _ => return Ok(AttrValue::Sensitive),
        };
        let slot = self.slot_of(session);
        match slot.tsb.export_secret_key(&key, len) {
            Ok(bytes) => Ok(AttrValue::Value(bytes.to_vec())),
            Err(Error::Tsb {
                code: Some(tsb_models::codes::OPERATION_FORBIDDEN_FOR_KEY),
                ..
            }) => Ok(AttrValue::Sensitive),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ul(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Attr {
        Attr::new(ty, v.to_ne_bytes().to_vec())
    }
    fn bo(ty: CK_ATTRIBUTE_TYPE, v: bool) -> Attr {
        Attr::new(ty, vec![v as u8])
    }
    fn aes(value: &[u8], more: Vec<Attr>) -> Template {
        let mut v = vec![
            ul(CKA_CLASS, CKO_SECRET_KEY),
            ul(CKA_KEY_TYPE, CKK_AES),
            Attr::new(CKA_VALUE, value.to_vec()),
        ];
        v.extend(more);
        Template::new(v)
    }

    #[test]
    fn secret_key_templates() {
        for len in [16, 24, 32] {
            let r = build_secret_import(&aes(&vec![7; len], vec![]), "p-").unwrap();
            assert_eq!(r.body.algorithm, "AES");
            assert!(!r.token, "CKA_TOKEN absent: a session object");
            assert!(super::super::session_keys::is_session_label(
                "p-",
                &r.body.label
            ));
            assert_eq!(r.body.secret_key, Some(b64(&vec![7; len])));
            assert_eq!(r.body.attributes.sensitive, Some(true));
            assert_eq!(r.body.attributes.extractable, Some(false));
            assert_eq!(r.body.attributes.decrypt, Some(true));
            assert!(r.body.private_key.is_none() && r.body.policy.is_none());
        }
        // A token key: its label, or a generated one.
        let r = build_secret_import(
            &aes(
                &[1; 16],
                vec![bo(CKA_TOKEN, true), Attr::new(CKA_LABEL, b"k".to_vec())],
            ),
            "p-",
        )
        .unwrap();
        assert!(r.token);
        assert_eq!(r.body.label, "p-k");
        let r = build_secret_import(&aes(&[1; 16], vec![bo(CKA_TOKEN, true)]), "p-").unwrap();
        assert!(r.body.label.starts_with("p-") && r.body.label.len() > 2);
        // Not sensitive and extractable: both given to the TSB.
        let r = build_secret_import(
            &aes(
                &[1; 16],
                vec![bo(CKA_SENSITIVE, false), bo(CKA_EXTRACTABLE, true)],
            ),
            "",
        )
        .unwrap();
        assert_eq!(
            (r.body.attributes.sensitive, r.body.attributes.extractable),
            (Some(false), Some(true))
        );
        // HMAC: 32 bytes.
        let hmac = |len: usize, kt| {
            build_secret_import(
                &Template::new(vec![
                    ul(CKA_KEY_TYPE, kt),
                    Attr::new(CKA_VALUE, vec![1; len]),
                ]),
                "",
            )
        };
        let r = hmac(32, CKK_GENERIC_SECRET).unwrap();
        assert_eq!(r.body.algorithm, "HMACSHA256");
        assert_eq!(r.body.attributes.sign, Some(true));
        assert_eq!(
            hmac(20, CKK_SHA256_HMAC).unwrap_err().rv(),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
    }

    #[test]
    fn secret_key_templates_refused() {
        let rv = |t: Template| build_secret_import(&t, "").unwrap_err().rv();
        for len in [0, 8, 15, 17, 31, 33, 64] {
            assert_eq!(
                rv(aes(&vec![0; len], vec![])),
                CKR_ATTRIBUTE_VALUE_INVALID,
                "{len}"
            );
        }
        assert_eq!(
            rv(Template::new(vec![ul(CKA_KEY_TYPE, CKK_AES)])),
            CKR_TEMPLATE_INCOMPLETE
        );
        assert_eq!(
            rv(Template::new(vec![Attr::new(CKA_VALUE, vec![0; 16])])),
            CKR_TEMPLATE_INCOMPLETE
        );
        assert_eq!(
            rv(aes(&[0; 16], vec![ul(CKA_VALUE_LEN, 32)])),
            CKR_TEMPLATE_INCONSISTENT
        );
        build_secret_import(&aes(&[0; 16], vec![ul(CKA_VALUE_LEN, 16)]), "").unwrap();
        assert_eq!(
            rv(Template::new(vec![
                ul(CKA_KEY_TYPE, CKK_DES3),
                Attr::new(CKA_VALUE, vec![0; 24])
            ])),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        assert_eq!(
            rv(aes(&[0; 16], vec![bo(CKA_LOCAL, true)])),
            CKR_ATTRIBUTE_READ_ONLY
        );
        assert_eq!(
            rv(aes(
                &[0; 16],
                vec![bo(CKA_TOKEN, true), Attr::new(CKA_ID, vec![1])]
            )),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        assert_eq!(
            rv(aes(&[0; 16], vec![ul(CKA_CLASS, CKO_PRIVATE_KEY)])),
            CKR_TEMPLATE_INCONSISTENT
        );
    }
}
