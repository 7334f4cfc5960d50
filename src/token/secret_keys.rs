//! Secret keys (AES, HMAC) held in the TSB: C_GenerateKey's templates and the attributes of the
//! one CKO_SECRET_KEY object a secret key has.
//!
//! A secret key is the TSB key behind an [`ObjClass::Private`](super::attributes::ObjClass)
//! handle (there is no public half and no certificate): the object that holds the key's secret,
//! shown as CKO_SECRET_KEY. Session secret keys (CKA_TOKEN false, the standard's default) are
//! made in the TSB under a session key label and deleted with their session, as session key
//! pairs are (session_keys.rs).
//!
//! Sources (see `models/src/key_types.rs` and emulator/README.md, "Secret keys, wrapping and
//! post-quantum signatures"): `AES` with `keySize` 128/192/256, `HMACSHA256` (TSB 2.0.1, no
//! `keySize`: 256 bits is this project's reading); "Only Asymmetric keys can have a policy"
//! (S3 `dto/tsb/PolicyDto.java`), so a secret key never waits for approvers.

use super::attributes::{bool_val, ulong_val, AttrValue, ObjClass};
use super::objects::ObjRef;
use super::session::Session;
use super::template::Template;
use super::Module;
use crate::error::{Error, Result};
use crate::log::Level;
use crate::tsb::key::{id_to_tsb, KeyInfo, SecretKey};
use crate::vendor;
use cryptoki_sys::*;
use tsb_models::{CreateKeyRequest, KeyFlags, SecretKeyAlgorithm};

/// CKA_KEY_TYPE of a secret key. An HMAC key reads as CKK_GENERIC_SECRET, the type every
/// application's HMAC code accepts (the TSB does not remember whether the template said
/// CKK_SHA256_HMAC).
pub(crate) fn key_type(k: &SecretKey) -> CK_KEY_TYPE {
    match k.algorithm {
        SecretKeyAlgorithm::Aes => CKK_AES,
        SecretKeyAlgorithm::HmacSha256 => CKK_GENERIC_SECRET,
    }
}

/// CKA_KEY_GEN_MECHANISM of a secret key.
pub(crate) fn gen_mechanism(k: &SecretKey) -> CK_MECHANISM_TYPE {
    match k.algorithm {
        SecretKeyAlgorithm::Aes => CKM_AES_KEY_GEN,
        SecretKeyAlgorithm::HmacSha256 => CKM_GENERIC_SECRET_KEY_GEN,
    }
}

/// One attribute of a secret key object (the storage attributes CKA_CLASS, CKA_TOKEN, ... are
/// common to every token object: `ObjectView::attribute`). `private_objects`: whether keys are
/// CKA_PRIVATE (slots that need a login).
pub(crate) fn attribute(
    k: &KeyInfo,
    s: &SecretKey,
    ty: CK_ATTRIBUTE_TYPE,
    private_objects: bool,
) -> AttrValue {
    use AttrValue::*;
    let aes = s.algorithm == SecretKeyAlgorithm::Aes;
    match ty {
        CKA_LABEL => Value(k.label.as_bytes().to_vec()),
        CKA_ID => Value(k.id.clone()),
        CKA_PRIVATE => bool_val(private_objects),
        CKA_KEY_TYPE => ulong_val(key_type(s)),
        CKA_LOCAL => bool_val(k.local),
        // An imported key was not generated: "CK_UNAVAILABLE_INFORMATION" (PKCS#11 3.0 §4.7).
        CKA_KEY_GEN_MECHANISM if !k.local => ulong_val(CK_UNAVAILABLE_INFORMATION),
        CKA_KEY_GEN_MECHANISM => ulong_val(gen_mechanism(s)),
        CKA_START_DATE | CKA_END_DATE => Value(Vec::new()),
        CKA_ALLOWED_MECHANISMS => Value(Vec::new()),
        CKA_VALUE_LEN => ulong_val((s.bits / 8) as CK_ULONG),
        // The TSB's flags, where this module offers a mechanism for the use (AES: encryption,
        // wrapping and MACs; HMAC: MACs).
        CKA_ENCRYPT => bool_val(aes && s.encrypt),
        CKA_DECRYPT => bool_val(aes && k.decrypt),
        CKA_WRAP => bool_val(aes && s.wrap),
        CKA_UNWRAP => bool_val(aes && k.unwrap),
        CKA_SIGN => bool_val(k.sign),
        CKA_VERIFY => bool_val(s.verify),
        CKA_DERIVE => bool_val(k.derive),
        // The TSB's flags (an imported key is neither always sensitive nor never extractable).
        CKA_SENSITIVE => bool_val(k.sensitive),
        CKA_ALWAYS_SENSITIVE => bool_val(k.always_sensitive),
        CKA_EXTRACTABLE => bool_val(k.extractable),
        CKA_NEVER_EXTRACTABLE => bool_val(k.never_extractable),
        CKA_ALWAYS_AUTHENTICATE | CKA_WRAP_WITH_TRUSTED | CKA_TRUSTED => bool_val(false),
        // The key's bytes leave the TSB only for a key that is extractable and not sensitive
        // (`POST /v1/key/export/plain`: "To export a key sensitive must be false", S3
        // `dto/tsb/request/AttributesDto.java`); fetched only when the caller has room for them.
        CKA_VALUE if k.extractable && !k.sensitive => Remote((s.bits / 8) as usize),
        CKA_VALUE => Sensitive,
        // CKA_CHECK_VALUE would need an encryption on the TSB for every read: not offered.
        t => super::attributes::vendor_attribute(k, t),
    }
}

/// What C_GenerateKey asked for.
#[derive(Debug, Clone)]
pub(crate) struct SecretKeyGen {
    /// The body for the TSB (label with prefix).
    pub(crate) body: CreateKeyRequest,
    /// A token object (CKA_TOKEN true); else a session key, with a session key label.
    pub(crate) token: bool,
    /// The algorithm.
    pub(crate) algorithm: SecretKeyAlgorithm,
}

/// Attributes accepted in a secret key template without a TSB counterpart.
const BENIGN: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_START_DATE,
    CKA_END_DATE,
    CKA_ALLOWED_MECHANISMS,
    CKA_COPYABLE,
    CKA_DESTROYABLE,
    CKA_WRAP_WITH_TRUSTED,
    CKA_TRUSTED,
];

/// Build the TSB request of C_GenerateKey from the mechanism and template (PKCS#11 3.0 §2.14
/// (generic secret) and the AES section: CKA_VALUE_LEN is required for AES and must be 16, 24 or
/// 32; CKA_CLASS and CKA_KEY_TYPE, when given, must agree with the mechanism).
pub(crate) fn build(
    mech: CK_MECHANISM_TYPE,
    template: &Template,
    prefix: &str,
) -> Result<SecretKeyGen> {
    let algorithm = match mech {
        CKM_AES_KEY_GEN => SecretKeyAlgorithm::Aes,
        CKM_GENERIC_SECRET_KEY_GEN => SecretKeyAlgorithm::HmacSha256,
        _ => {
            return Err(Error::ck(
                CKR_MECHANISM_INVALID,
                format!("mechanism 0x{mech:x} cannot generate a secret key"),
            ))
        }
    };
    build_for(algorithm, template, prefix, true)
}

/// [`build`] for a key of `algorithm`; `generate`: C_GenerateKey (else C_UnwrapKey, where the
/// wrapped key decides the length and CKA_VALUE_LEN is optional).
pub(crate) fn build_for(
    algorithm: SecretKeyAlgorithm,
    template: &Template,
    prefix: &str,
    generate: bool,
) -> Result<SecretKeyGen> {
    let inconsistent = |m: &str| Error::ck(CKR_TEMPLATE_INCONSISTENT, m.to_string());
    let mut label = None;
    let mut id = None;
    let mut token = false;
    let mut value_len = None;
    let mut uses: [(CK_ATTRIBUTE_TYPE, Option<bool>); 6] = [
        (CKA_ENCRYPT, None),
        (CKA_DECRYPT, None),
        (CKA_WRAP, None),
        (CKA_UNWRAP, None),
        (CKA_SIGN, None),
        (CKA_VERIFY, None),
    ];
    let mut derive = false;
    let mut extractable = false;
    let mut sensitive = None;
    for a in template.iter() {
        match a.ty {
            CKA_CLASS => {
                if a.as_ulong()? != CKO_SECRET_KEY {
                    return Err(inconsistent("CKA_CLASS must be CKO_SECRET_KEY"));
                }
            }
            CKA_KEY_TYPE => {
                let ok = match algorithm {
                    SecretKeyAlgorithm::Aes => a.as_ulong()? == CKK_AES,
                    SecretKeyAlgorithm::HmacSha256 => {
                        matches!(a.as_ulong()?, CKK_GENERIC_SECRET | CKK_SHA256_HMAC)
                    }
                };
                if !ok {
                    return Err(inconsistent("CKA_KEY_TYPE does not match the mechanism"));
                }
            }
            CKA_LABEL => label = Some(a.as_utf8()?.to_string()),
            CKA_ID => id = Some(a.value.clone()),
            CKA_TOKEN => token = a.as_bool()?,
            CKA_PRIVATE | CKA_MODIFIABLE => {
                a.as_bool()?;
            }
            CKA_VALUE_LEN => value_len = Some(a.as_ulong()?),
            CKA_SENSITIVE => sensitive = Some(a.as_bool()?),
            CKA_ALWAYS_SENSITIVE | CKA_NEVER_EXTRACTABLE => {
                a.as_bool()?;
            }
            CKA_EXTRACTABLE => extractable = a.as_bool()?,
            CKA_DERIVE => derive = a.as_bool()?,
            CKA_VALUE => {
                return Err(Error::ck(
                    CKR_ATTRIBUTE_READ_ONLY,
                    "CKA_VALUE cannot be given to C_GenerateKey",
                ))
            }
            t if t == vendor::CKA_TSB_POLICY as CK_ATTRIBUTE_TYPE => {
                let text = a.as_utf8()?.trim();
                if !(text.is_empty() || text == "null") {
                    return Err(Error::ck(
                        CKR_ATTRIBUTE_VALUE_INVALID,
                        "AES and HMAC keys cannot have an SKA policy on the TSB (\"Only \
                         Asymmetric keys can have a policy\")",
                    ));
                }
            }
            t => match uses.iter_mut().find(|(u, _)| *u == t) {
                Some((_, v)) => *v = Some(a.as_bool()?),
                None if BENIGN.contains(&t) => {}
                None => {
                    return Err(Error::ck(
                        CKR_ATTRIBUTE_TYPE_INVALID,
                        format!("attribute 0x{t:x} is not valid in a secret key template"),
                    ))
                }
            },
        }
    }
    // CKA_VALUE_LEN: required for AES (16, 24, 32); the TSB's HMAC keys are 32 bytes.
    #[allow(clippy::unnecessary_cast)] // CK_ULONG is 32 bits on some platforms
    let bits = match (algorithm, value_len) {
        (SecretKeyAlgorithm::Aes, None) if !generate => 0,
        (SecretKeyAlgorithm::Aes, None) => {
            return Err(Error::ck(
                CKR_TEMPLATE_INCOMPLETE,
                "CKA_VALUE_LEN is required for an AES key (16, 24 or 32)",
            ))
        }
        (SecretKeyAlgorithm::HmacSha256, None) => algorithm.sizes()[0],
        (_, Some(n)) => {
            let bits = (n as u64).saturating_mul(8);
            match algorithm.sizes().iter().find(|b| u64::from(**b) == bits) {
                Some(b) => *b,
                None => {
                    return Err(Error::ck(
                        CKR_KEY_SIZE_RANGE,
                        format!(
                            "{} keys of {n} bytes are not supported (the TSB makes {:?} bits)",
                            algorithm.name(),
                            algorithm.sizes()
                        ),
                    ))
                }
            }
        }
    };
    let use_of = |t: CK_ATTRIBUTE_TYPE| uses.iter().find(|(u, _)| *u == t).and_then(|(_, v)| *v);
    // Uses a template leaves open: all of what this module does with the kind of key.
    let aes = algorithm == SecretKeyAlgorithm::Aes;
    let mut flags = KeyFlags {
        encrypt: Some(use_of(CKA_ENCRYPT).unwrap_or(aes)),
        decrypt: Some(use_of(CKA_DECRYPT).unwrap_or(aes)),
        wrap: Some(use_of(CKA_WRAP).unwrap_or(aes)),
        unwrap: Some(use_of(CKA_UNWRAP).unwrap_or(aes)),
        // An AES key's CKA_SIGN/CKA_VERIFY go to the TSB as `sign`/`verify`: both are fields of
        // S3 `dto/tsb/request/AttributesDto.java` (`verify` "only supported for symmetric
        // keys"), but no Securosys source says what `sign` allows an AES key on the HSM; the
        // module keeps them as the key's MAC permission and enforces that itself (mac.rs runs
        // on the TSB's `encrypt`).
        sign: Some(use_of(CKA_SIGN).unwrap_or(!aes)),
        verify: Some(use_of(CKA_VERIFY).unwrap_or(!aes)),
        ..KeyFlags::default()
    };
    // An AES key's MACs (CKM_AES_CMAC, CKM_AES_MAC) are E_K on the TSB, an encryption there: a
    // key that signs or verifies needs the TSB's `encrypt` as well. A template that asks for
    // MACs and refuses encryption asks for a key the TSB cannot hold.
    if aes && (flags.sign == Some(true) || flags.verify == Some(true)) {
        if use_of(CKA_ENCRYPT) == Some(false) {
            return Err(inconsistent(
                "an AES key that signs or verifies (CMAC, AES-MAC) must encrypt on the TSB: \
                 CKA_ENCRYPT false contradicts CKA_SIGN/CKA_VERIFY true",
            ));
        }
        flags.encrypt = Some(true);
    }
    // Uses the kind of key cannot have here (an HMAC key's CKA_ENCRYPT, CKA_WRAP) are asked for
    // by generic templates (python-pkcs11 gives every key all six): they are not given to the
    // TSB, and the object reads them false.
    let mut dropped = false;
    if !aes {
        for f in [
            &mut flags.encrypt,
            &mut flags.decrypt,
            &mut flags.wrap,
            &mut flags.unwrap,
        ] {
            dropped |= f.replace(false) == Some(true);
        }
    }
    if dropped {
        crate::log!(
            Level::Info,
            "{} keys do not encrypt, decrypt, wrap or unwrap here: those uses are not given to \
             the key",
            algorithm.name()
        );
    }
    flags.derive = Some(derive);
    flags.extractable = Some(extractable);
    // CKA_SENSITIVE false is given to the TSB for an extractable key, whose bytes can then be read
    // back (CKA_VALUE, plain_keys.rs). For a key that is not extractable it would only weaken the
    // key for nothing: the TSB keeps its default (sensitive), and the object reads what the TSB
    // says. pkcs11-tool --keygen sends CKA_SENSITIVE false unless told --sensitive: refusing it
    // would refuse the tool, and a key more protected than asked harms no one.
    if sensitive == Some(false) {
        if extractable {
            flags.sensitive = Some(false);
        } else {
            crate::log!(
                Level::Info,
                "CKA_SENSITIVE false without CKA_EXTRACTABLE true: the key stays sensitive"
            );
        }
    }
    flags.modifiable = Some(true);
    flags.destroyable = Some(true);
    let tsb_label = super::keygen::tsb_label(label.as_deref(), token, prefix)?;
    Ok(SecretKeyGen {
        token,
        algorithm,
        body: CreateKeyRequest {
            label: tsb_label,
            id: id.filter(|i| !i.is_empty()).map(|i| id_to_tsb(&i)),
            password: None,
            algorithm: Some(algorithm.name().to_string()),
            algorithm_oid: None,
            curve_oid: None,
            // The HMAC key is created without `keySize`, as S2 `tsb/Tutorials/Mac/hmac.md` does.
            key_size: (aes && bits > 0).then_some(bits),
            attributes: flags,
            policy: None,
        },
    })
}

impl Module {
    /// C_GenerateKey: a secret key generated in the TSB; its handle.
    pub(crate) fn generate_key(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        let slot = self.slot_of(session);
        slot.check_access()?;
        template.refuse_unique_id()?;
        let prefix = &slot.config.label_prefix;
        // A template refused here is the person's to fix (pkcs11-tool --keygen): one line.
        let req = build(mech, template, prefix).map_err(|e| match e {
            Error::Ck(rv, m) => Error::User(rv, m),
            other => other,
        })?;
        if req.token {
            session.writes_token_objects("a token key")?;
        }
        // HMAC keys came with TSB 2.0.1 (S2 release notes); an older TSB would answer with an
        // unknown algorithm. The version is read from the TSB if the config does not give it;
        // unknown, the TSB is asked and answers for itself.
        let since = req.algorithm.since();
        if let Some(v) = slot.tsb.version().filter(|v| *v < since) {
            return Err(Error::User(
                CKR_MECHANISM_INVALID,
                format!(
                    "TSB {v} cannot create {} keys (they came with TSB {since})",
                    req.algorithm.name()
                ),
            ));
        }
        if slot.config.default_policy.is_some() {
            crate::log!(
                Level::Warn,
                "the slot's default SKA policy does not apply to the {} key {}: the TSB gives \
                 policies to asymmetric keys only",
                req.algorithm.name(),
                req.body.label
            );
        }
        let key = slot.tsb.create_key(&req.body, prefix)?;
        if !key.is_secret() {
            return Err(Error::BadResult(format!(
                "the TSB created {} as something other than a {} key",
                key.tsb_label,
                req.algorithm.name()
            )));
        }
        crate::log!(
            Level::Info,
            "generated key {} ({})",
            key.tsb_label,
            req.algorithm.name()
        );
        if !req.token {
            // Generated in the TSB; deleted with its session (session_keys.rs).
            return Ok(self.session_secret_key(session, key, template));
        }
        Ok(self.handle_for(ObjRef {
            slot: slot.id,
            label: key.tsb_label.clone(),
            class: ObjClass::Private,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::template::Attr;
    use super::*;

    fn t(attrs: Vec<Attr>) -> Template {
        Template::new(attrs)
    }
    fn ul(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Attr {
        Attr::new(ty, v.to_ne_bytes().to_vec())
    }
    fn bo(ty: CK_ATTRIBUTE_TYPE, v: bool) -> Attr {
        Attr::new(ty, vec![v as u8])
    }

    #[test]
    fn aes_value_len_is_required_and_checked() {
        for (len, bits) in [(16, 128), (24, 192), (32, 256)] {
            let r = build(
                CKM_AES_KEY_GEN,
                &t(vec![ul(CKA_VALUE_LEN, len), bo(CKA_TOKEN, true)]),
                "p-",
            )
            .unwrap();
            assert_eq!(r.body.key_size, Some(bits));
            assert_eq!(r.body.algorithm.as_deref(), Some("AES"));
            assert!(r.token);
            assert_eq!(r.body.attributes.encrypt, Some(true));
            assert_eq!(r.body.attributes.sign, Some(false));
            assert!(r.body.policy.is_none());
        }
        let e = build(CKM_AES_KEY_GEN, &t(vec![]), "").unwrap_err();
        assert_eq!(e.rv(), CKR_TEMPLATE_INCOMPLETE);
        for len in [0, 8, 17, 64] {
            let e = build(CKM_AES_KEY_GEN, &t(vec![ul(CKA_VALUE_LEN, len)]), "").unwrap_err();
            assert_eq!(e.rv(), CKR_KEY_SIZE_RANGE, "{len}");
        }
        let e = build(
            CKM_AES_KEY_GEN,
            &t(vec![ul(CKA_VALUE_LEN, 16), ul(CKA_KEY_TYPE, CKK_DES3)]),
            "",
        )
        .unwrap_err();
        assert_eq!(e.rv(), CKR_TEMPLATE_INCONSISTENT);
        let e = build(
            CKM_AES_KEY_GEN,
            &t(vec![ul(CKA_VALUE_LEN, 16), ul(CKA_CLASS, CKO_PRIVATE_KEY)]),
            "",
        )
        .unwrap_err();
        assert_eq!(e.rv(), CKR_TEMPLATE_INCONSISTENT);
        // pkcs11-tool --keygen's template: CKA_SENSITIVE false is taken (the key is sensitive).
        build(
            CKM_AES_KEY_GEN,
            &t(vec![ul(CKA_VALUE_LEN, 16), bo(CKA_SENSITIVE, false)]),
            "",
        )
        .unwrap();
        // CKA_SIGN/CKA_VERIFY of an AES key are the TSB's `sign`/`verify` (its MACs), and a key
        // that makes MACs encrypts on the TSB (a MAC is E_K there); absent, they are false.
        let r = build(
            CKM_AES_KEY_GEN,
            &t(vec![
                ul(CKA_VALUE_LEN, 16),
                bo(CKA_SIGN, true),
                bo(CKA_DECRYPT, false),
            ]),
            "",
        )
        .unwrap();
        let a = &r.body.attributes;
        assert_eq!(
            (a.sign, a.verify, a.encrypt),
            (Some(true), Some(false), Some(true))
        );
        let r = build(CKM_AES_KEY_GEN, &t(vec![ul(CKA_VALUE_LEN, 16)]), "").unwrap();
        let a = &r.body.attributes;
        assert_eq!((a.sign, a.verify), (Some(false), Some(false)));
        for mac in [CKA_SIGN, CKA_VERIFY] {
            let e = build(
                CKM_AES_KEY_GEN,
                &t(vec![
                    ul(CKA_VALUE_LEN, 16),
                    bo(mac, true),
                    bo(CKA_ENCRYPT, false),
                ]),
                "",
            )
            .unwrap_err();
            assert_eq!(e.rv(), CKR_TEMPLATE_INCONSISTENT);
        }
        let policy = Attr::new(vendor::CKA_TSB_POLICY as CK_ATTRIBUTE_TYPE, b"{}".to_vec());
        let e = build(CKM_AES_KEY_GEN, &t(vec![ul(CKA_VALUE_LEN, 16), policy]), "").unwrap_err();
        assert_eq!(e.rv(), CKR_ATTRIBUTE_VALUE_INVALID);
    }

    #[test]
    fn generic_secret_is_an_hmac_key_of_256_bits() {
        for kt in [CKK_GENERIC_SECRET, CKK_SHA256_HMAC] {
            let r = build(
                CKM_GENERIC_SECRET_KEY_GEN,
                &t(vec![ul(CKA_KEY_TYPE, kt)]),
                "",
            )
            .unwrap();
            assert_eq!(r.body.algorithm.as_deref(), Some("HMACSHA256"));
            assert_eq!(r.body.key_size, None);
            assert_eq!(r.body.attributes.sign, Some(true));
            assert_eq!(r.body.attributes.encrypt, Some(false));
            assert!(!r.token, "CKA_TOKEN absent: a session key");
        }
        build(
            CKM_GENERIC_SECRET_KEY_GEN,
            &t(vec![ul(CKA_VALUE_LEN, 32)]),
            "",
        )
        .unwrap();
        let e = build(
            CKM_GENERIC_SECRET_KEY_GEN,
            &t(vec![ul(CKA_VALUE_LEN, 64)]),
            "",
        )
        .unwrap_err();
        assert_eq!(e.rv(), CKR_KEY_SIZE_RANGE);
        let e = build(
            CKM_GENERIC_SECRET_KEY_GEN,
            &t(vec![ul(CKA_KEY_TYPE, CKK_AES)]),
            "",
        )
        .unwrap_err();
        assert_eq!(e.rv(), CKR_TEMPLATE_INCONSISTENT);
        let e = build(CKM_RSA_PKCS_KEY_PAIR_GEN, &t(vec![]), "").unwrap_err();
        assert_eq!(e.rv(), CKR_MECHANISM_INVALID);
    }
}
