//! C_GenerateKeyPair templates -> `POST /v1/key` body. Accepts the templates that `pkcs11-tool
//! --keypairgen`, OpenSSL and Java send; the SKA policy comes from CKA_TSB_POLICY or the slot's
//! default policy, so tools that cannot set vendor attributes still create approval-gated keys.

use super::attributes::ObjClass;
use super::objects::ObjRef;
use super::session::Session;
use super::template::{Attr, Template};
use super::Module;
use crate::der;
use crate::error::{Error, Result};
use crate::log::Level;
use crate::tsb::key::{id_to_tsb, Curve, ED25519_OID};
use crate::vendor;
use cryptoki_sys::*;
use tsb_models::{CreateKeyRequest, KeyAlgorithm, KeyFlags, KeyStatus, Policy};

/// What C_GenerateKeyPair asked for.
#[derive(Debug, Clone)]
pub(crate) struct KeyGenRequest {
    /// The body for the TSB (label with prefix).
    pub(crate) body: CreateKeyRequest,
    /// The private key is a token object (CKA_TOKEN true); else the pair is a session key pair,
    /// whose TSB label is a session key label (session_keys.rs).
    pub(crate) token: bool,
    /// The public key is a token object (it may be a session object of a token key pair).
    pub(crate) public_token: bool,
}

/// A TSB label for a token key generated without CKA_LABEL (the standard does not require one;
/// the TSB does): `p11-` and 16 random hex digits. CKA_LABEL then reads as this label.
fn generated_label() -> String {
    let mut b = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("p11-{hex}")
}

/// Parse CKA_EC_PARAMS: a DER OID, or a DER PrintableString with a curve name (PKCS#11 3.0 allows
/// both; pkcs11-tool sends the OID, some tools the name). Returns the curve OID for the TSB.
pub(crate) fn parse_ec_params(v: &[u8], edwards: bool) -> Result<String> {
    let bad = || {
        Error::ck(
            CKR_ATTRIBUTE_VALUE_INVALID,
            "CKA_EC_PARAMS is not a supported curve OID or name",
        )
    };
    let (t, rest) = der::read_tlv(v).ok_or_else(bad)?;
    if !rest.is_empty() {
        return Err(bad());
    }
    let oid = match t.tag {
        0x06 => der::oid_to_string(t.value).ok_or_else(bad)?,
        0x13 | 0x0c => {
            let name = std::str::from_utf8(t.value).map_err(|_| bad())?;
            if edwards {
                if matches!(
                    name.to_ascii_lowercase().as_str(),
                    "edwards25519" | "ed25519"
                ) {
                    ED25519_OID.to_string()
                } else {
                    return Err(Error::ck(
                        CKR_CURVE_NOT_SUPPORTED,
                        format!("curve {name:?} is not supported"),
                    ));
                }
            } else {
                Curve::from_name(name)
                    .ok_or_else(|| {
                        Error::ck(
                            CKR_CURVE_NOT_SUPPORTED,
                            format!("curve {name:?} is not supported"),
                        )
                    })?
                    .oid()
                    .to_string()
            }
        }
        _ => return Err(bad()),
    };
    let ok = if edwards {
        oid == ED25519_OID
    } else {
        Curve::from_oid(&oid).is_some()
    };
    if !ok {
        return Err(Error::ck(
            CKR_CURVE_NOT_SUPPORTED,
            format!("curve {oid} is not supported for this mechanism"),
        ));
    }
    Ok(oid)
}

/// Attributes accepted in key-pair templates and ignored or checked without a TSB counterpart.
const BENIGN: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_SUBJECT,
    CKA_START_DATE,
    CKA_END_DATE,
    CKA_ALLOWED_MECHANISMS,
    CKA_SIGN_RECOVER,
    CKA_VERIFY_RECOVER,
    CKA_WRAP_WITH_TRUSTED,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_COPYABLE,
    CKA_DESTROYABLE,
    CKA_TRUSTED,
    CKA_PUBLIC_KEY_INFO,
];

/// The TSB label of a new key (key pair or secret key) from its CKA_LABEL. The TSB names keys by
/// label; the standard needs none. A session key gets a session key label (its CKA_LABEL stays
/// the template's), a token key without CKA_LABEL (or with an empty one) a generated one, which
/// CKA_LABEL then shows.
pub(crate) fn tsb_label(label: Option<&str>, token: bool, prefix: &str) -> Result<String> {
    let tsb_label = if !token {
        if let Some(l) = label.filter(|l| !l.is_empty()) {
            // The application's label is kept on the session objects; it must still be one a
            // token key could have, so a later copy or find behaves the same.
            super::label::validate(&format!("{prefix}{l}"))?;
        }
        super::session_keys::new_label(prefix)
    } else {
        let l = match label.filter(|l| !l.is_empty()) {
            Some(l) => l.to_string(),
            None => generated_label(),
        };
        let full = format!("{prefix}{l}");
        if super::session_keys::is_session_label(prefix, &full) {
            return Err(Error::ck(
                CKR_ATTRIBUTE_VALUE_INVALID,
                "CKA_LABEL must not start like a session key label",
            ));
        }
        full
    };
    // Labels the TSB (or a path it travels) may not take are refused before any request.
    super::label::validate(&tsb_label)?;
    Ok(tsb_label)
}

/// Build the TSB request from the mechanism and the two templates.
pub(crate) fn build(
    mech: CK_MECHANISM_TYPE,
    public: &Template,
    private: &Template,
    prefix: &str,
    default_policy: Option<&Policy>,
) -> Result<KeyGenRequest> {
    // ML-DSA / SLH-DSA: the `algorithm` is the parameter set's name, from CKA_PARAMETER_SET.
    let pqc = crate::mechanism::pqc::key_pair_gen_family(mech);
    let (mut algorithm, key_type) = match mech {
        CKM_RSA_PKCS_KEY_PAIR_GEN => (KeyAlgorithm::Rsa.name(), CKK_RSA),
        CKM_EC_KEY_PAIR_GEN => (KeyAlgorithm::Ec.name(), CKK_EC),
        CKM_EC_EDWARDS_KEY_PAIR_GEN => (KeyAlgorithm::Ed.name(), CKK_EC_EDWARDS),
        _ if pqc.is_some() => ("", pqc.map(crate::pkcs11_v32::key_type).unwrap_or_default()),
        _ => {
            return Err(Error::ck(
                CKR_MECHANISM_INVALID,
                format!("mechanism 0x{mech:x} cannot generate a key pair"),
            ))
        }
    };
    let mut label: Option<String> = None;
    let mut id: Option<Vec<u8>> = None;
    let mut key_size = None;
    let mut curve_oid = None;
    let mut flags = KeyFlags::default();
    let mut policy: Option<Option<Policy>> = None;
    let mut sign = None;
    let mut decrypt = None;
    let mut unwrap = None;
    let mut derive = None;
    let mut extractable = None;
    let mut token = None;
    let mut public_token = None;
    // CKA_PARAMETER_SET of the (public, private) templates.
    let mut parameter_set: (Option<CK_ULONG>, Option<CK_ULONG>) = (None, None);
    let mut wrap = false;

    let set_text = |slot: &mut Option<String>, a: &Attr, what: &str| -> Result<()> {
        let v = a.as_utf8()?.to_string();
        match slot {
            Some(prev) if *prev != v => Err(Error::ck(
                CKR_TEMPLATE_INCONSISTENT,
                format!("{what} differs between the templates"),
            )),
            _ => {
                *slot = Some(v);
                Ok(())
            }
        }
    };

    for (is_private, template) in [(false, public), (true, private)] {
        for a in template.iter() {
            match a.ty {
                CKA_CLASS => {
                    let want = if is_private {
                        CKO_PRIVATE_KEY
                    } else {
                        CKO_PUBLIC_KEY
                    };
                    if a.as_ulong()? != want {
                        return Err(Error::ck(
                            CKR_TEMPLATE_INCONSISTENT,
                            "CKA_CLASS does not match the template",
                        ));
                    }
                }
                CKA_KEY_TYPE => {
                    if a.as_ulong()? != key_type {
                        return Err(Error::ck(
                            CKR_TEMPLATE_INCONSISTENT,
                            "CKA_KEY_TYPE does not match the mechanism",
                        ));
                    }
                }
                CKA_LABEL => set_text(&mut label, a, "CKA_LABEL")?,
                CKA_ID => match &id {
                    Some(prev) if *prev != a.value => {
                        return Err(Error::ck(
                            CKR_TEMPLATE_INCONSISTENT,
                            "CKA_ID differs between the templates",
                        ))
                    }
                    _ => id = Some(a.value.clone()),
                },
                CKA_TOKEN if is_private => token = Some(a.as_bool()?),
                CKA_TOKEN => public_token = Some(a.as_bool()?),
                CKA_PRIVATE | CKA_MODIFIABLE => {
                    a.as_bool()?;
                }
                CKA_MODULUS_BITS if !is_private && key_type == CKK_RSA => {
                    let bits = a.as_ulong()?;
                    // Refused before any request: the sizes the TSB generates (models).
                    // CK_ULONG is 32 bits on some platforms.
                    #[allow(clippy::unnecessary_cast)]
                    if !tsb_models::rsa_key_size_supported(bits as u64) {
                        return Err(Error::ck(
                            CKR_KEY_SIZE_RANGE,
                            format!(
                                "RSA keys of {bits} bits are not supported ({:?})",
                                tsb_models::RSA_KEY_SIZES
                            ),
                        ));
                    }
                    key_size = Some(bits as u32);
                }
                CKA_PUBLIC_EXPONENT if !is_private && key_type == CKK_RSA => {
                    let e: Vec<u8> = a.value.iter().copied().skip_while(|b| *b == 0).collect();
                    if e != [0x01, 0x00, 0x01] {
                        return Err(Error::ck(
                            CKR_ATTRIBUTE_VALUE_INVALID,
                            "the TSB generates RSA keys with exponent 65537 only",
                        ));
                    }
                }
                t if t == crate::pkcs11_v32::CKA_PARAMETER_SET && pqc.is_some() => {
                    let v = Some(a.as_ulong()?);
                    if is_private {
                        parameter_set.1 = v;
                    } else {
                        parameter_set.0 = v;
                    }
                }
                CKA_EC_PARAMS if !is_private && matches!(key_type, CKK_EC | CKK_EC_EDWARDS) => {
                    curve_oid = Some(parse_ec_params(&a.value, key_type == CKK_EC_EDWARDS)?);
                }
                // The TSB's `wrap` (absent: false for an RSA key, emulator/README.md) lets an
                // RSA key wrap secret keys (token/wrap.rs).
                CKA_WRAP if !is_private => wrap = a.as_bool()?,
                CKA_VERIFY | CKA_ENCRYPT if !is_private => {
                    a.as_bool()?;
                }
                CKA_SIGN if is_private => sign = Some(a.as_bool()?),
                CKA_DECRYPT if is_private => decrypt = Some(a.as_bool()?),
                CKA_UNWRAP if is_private => unwrap = Some(a.as_bool()?),
                CKA_DERIVE => derive = Some(a.as_bool()? || derive.unwrap_or(false)),
                CKA_EXTRACTABLE if is_private => extractable = Some(a.as_bool()?),
                CKA_SENSITIVE | CKA_ALWAYS_SENSITIVE | CKA_NEVER_EXTRACTABLE if is_private => {
                    a.as_bool()?;
                }
                t if t == vendor::CKA_TSB_POLICY as CK_ATTRIBUTE_TYPE && is_private => {
                    let text = a.as_utf8()?;
                    if text.trim().is_empty() || text.trim() == "null" {
                        policy = Some(None);
                    } else {
                        let p: Policy = serde_json::from_str(text).map_err(|e| {
                            Error::ck(
                                CKR_ATTRIBUTE_VALUE_INVALID,
                                format!("CKA_TSB_POLICY is not a TSB policy: {e}"),
                            )
                        })?;
                        p.validate()
                            .map_err(|e| e.to_string())
                            .and_then(|_| crate::config::check_approver_keys(&p))
                            .map_err(|e| {
                                Error::ck(
                                    CKR_ATTRIBUTE_VALUE_INVALID,
                                    format!("CKA_TSB_POLICY: {e}"),
                                )
                            })?;
                        policy = Some(Some(p));
                    }
                }
                t if BENIGN.contains(&t) => {}
                t => {
                    return Err(Error::ck(
                        CKR_ATTRIBUTE_TYPE_INVALID,
                        format!(
                            "attribute 0x{t:x} is not valid in a {} key template",
                            if is_private { "private" } else { "public" }
                        ),
                    ))
                }
            }
        }
    }
    // CKA_TOKEN absent means a session object (the standard's default). A session private key
    // with a token public key cannot be: the public key object mirrors the TSB key, which ends
    // with the session.
    let token = token.unwrap_or(false);
    let public_token = public_token.unwrap_or(false);
    if public_token && !token {
        return Err(Error::ck(
            CKR_TEMPLATE_INCONSISTENT,
            "a token public key needs a token private key (CKA_TOKEN)",
        ));
    }
    let tsb_label = tsb_label(label.as_deref(), token, prefix)?;
    if let Some(family) = pqc {
        algorithm = super::pqc::parameter_set(family, parameter_set.0, parameter_set.1)?.name();
    }
    match key_type {
        CKK_RSA if key_size.is_none() => {
            return Err(Error::ck(
                CKR_TEMPLATE_INCOMPLETE,
                "CKA_MODULUS_BITS is required",
            ))
        }
        CKK_EC if curve_oid.is_none() => {
            return Err(Error::ck(
                CKR_TEMPLATE_INCOMPLETE,
                "CKA_EC_PARAMS is required",
            ))
        }
        // Ed25519 is the only Edwards curve, so the curve may be omitted.
        CKK_EC_EDWARDS if curve_oid.is_none() => curve_oid = Some(ED25519_OID.to_string()),
        _ => {}
    }
    let decrypt = decrypt.unwrap_or(false);
    if decrypt && key_type != CKK_RSA {
        return Err(Error::ck(
            CKR_TEMPLATE_INCONSISTENT,
            "only RSA keys can decrypt",
        ));
    }
    let unwrap = unwrap.unwrap_or(false);
    // ML-DSA and SLH-DSA are signature algorithms: nothing to unwrap or derive with.
    if pqc.is_some() && (unwrap || derive == Some(true)) {
        return Err(Error::ck(
            CKR_TEMPLATE_INCONSISTENT,
            "ML-DSA and SLH-DSA keys only sign (no CKA_UNWRAP, no CKA_DERIVE)",
        ));
    }
    // Sign is the default use: tools that send neither flag want a signing key.
    let sign = sign.unwrap_or(!decrypt && !unwrap);
    if !sign && !decrypt && !unwrap {
        return Err(Error::ck(
            CKR_TEMPLATE_INCONSISTENT,
            "the key needs at least one of CKA_SIGN, CKA_DECRYPT, CKA_UNWRAP",
        ));
    }
    let mut policy = match policy {
        Some(p) => p,
        None => default_policy.cloned(),
    };
    if let Some(p) = policy.as_mut() {
        // The TSB requires keyStatus on create.
        p.key_status.get_or_insert(KeyStatus { blocked: false });
    }
    let extractable = extractable.unwrap_or(false);
    if extractable && policy.is_some() {
        return Err(Error::ck(
            CKR_TEMPLATE_INCONSISTENT,
            "keys with an SKA policy cannot be extractable",
        ));
    }
    flags.sign = Some(sign);
    flags.decrypt = Some(decrypt);
    flags.unwrap = Some(unwrap);
    if wrap && key_type == CKK_RSA {
        flags.wrap = Some(true);
    }
    flags.derive = Some(derive.unwrap_or(false));
    flags.bip32 = Some(false);
    flags.extractable = Some(extractable);
    flags.modifiable = Some(true);
    flags.destroyable = Some(true);
    Ok(KeyGenRequest {
        token,
        public_token,
        body: CreateKeyRequest {
            label: tsb_label,
            id: id.filter(|i| !i.is_empty()).map(|i| id_to_tsb(&i)),
            password: None,
            algorithm: Some(algorithm.to_string()),
            algorithm_oid: None,
            curve_oid,
            key_size,
            attributes: flags,
            policy,
        },
    })
}

impl Module {
    /// C_GenerateKeyPair: (public handle, private handle).
    pub(crate) fn generate_key_pair(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        public: &Template,
        private: &Template,
    ) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let slot = self.slot_of(session);
        slot.check_access()?;
        public.refuse_unique_id()?;
        private.refuse_unique_id()?;
        let prefix = &slot.config.label_prefix;
        let req = build(
            mech,
            public,
            private,
            prefix,
            slot.config.default_policy.as_ref(),
        )
        // A template refused here is the person's to fix (pkcs11-tool --keypairgen): one line.
        .map_err(|e| match e {
            Error::Ck(rv, m) => Error::User(rv, m),
            other => other,
        })?;
        // Session objects may be made in read-only sessions; token objects may not.
        if req.token {
            session.writes_token_objects("a token key pair")?;
        }
        // Post-quantum keys on a TSB known to be too old: refused here, with its line.
        if let Some(set) = req
            .body
            .algorithm
            .as_deref()
            .and_then(tsb_models::PqcParameterSet::from_name_or_oid)
        {
            super::pqc::check_version(set, slot.tsb.version())?;
        }
        // A key that exists already: the TSB's 608, whose remedy says to choose another label.
        let key = slot.tsb.create_key(&req.body, prefix)?;
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
        if !req.token {
            // Generated in the TSB, never in software; deleted with its session (session_keys.rs).
            return Ok(self.session_key_objects(session, key, public, private));
        }
        let handle = |class| {
            self.handle_for(ObjRef {
                slot: slot.id,
                label: key.tsb_label.clone(),
                class,
            })
        };
        let public_handle = if req.public_token {
            handle(ObjClass::Public)
        } else {
            self.session_public_key(session, key.clone(), public)
        };
        Ok((public_handle, handle(ObjClass::Private)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::label;
    use super::*;

    fn a(ty: CK_ATTRIBUTE_TYPE, value: &[u8]) -> Attr {
        Attr::new(ty, value.to_vec())
    }
    fn b(
        mech: CK_MECHANISM_TYPE,
        public: &[Attr],
        private: &[Attr],
        prefix: &str,
        policy: Option<&Policy>,
    ) -> Result<KeyGenRequest> {
        let t = |a: &[Attr]| Template::new(a.to_vec());
        build(mech, &t(public), &t(private), prefix, policy)
    }
    fn ul(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Attr {
        a(ty, &v.to_ne_bytes())
    }

    #[test]
    fn pkcs11_tool_rsa_template() {
        let public = [
            ul(CKA_CLASS, CKO_PUBLIC_KEY),
            a(CKA_TOKEN, &[1]),
            ul(CKA_MODULUS_BITS, 2048),
            a(CKA_PUBLIC_EXPONENT, &[1, 0, 1]),
            a(CKA_LABEL, b"x"),
            a(CKA_VERIFY, &[1]),
            a(CKA_WRAP, &[1]),
        ];
        let private = [
            ul(CKA_CLASS, CKO_PRIVATE_KEY),
            a(CKA_TOKEN, &[1]),
            a(CKA_PRIVATE, &[1]),
            a(CKA_SENSITIVE, &[1]),
            a(CKA_LABEL, b"x"),
            a(CKA_SIGN, &[1]),
            a(CKA_ID, &[0xab]),
        ];
        let r = b(CKM_RSA_PKCS_KEY_PAIR_GEN, &public, &private, "p-", None).unwrap();
        assert_eq!(r.body.label, "p-x");
        assert_eq!(r.body.key_size, Some(2048));
        assert_eq!(r.body.id.as_deref(), Some("ab"));
        assert_eq!(r.body.attributes.sign, Some(true));
        assert_eq!(
            r.body.attributes.wrap,
            Some(true),
            "CKA_WRAP reaches the TSB"
        );
        assert!(r.body.policy.is_none());
    }

    #[test]
    fn ec_params_oid_and_name() {
        let oid = der::oid("1.3.132.0.34").unwrap();
        assert_eq!(parse_ec_params(&oid, false).unwrap(), "1.3.132.0.34");
        let name = der::tlv(0x13, b"prime256v1");
        assert_eq!(
            parse_ec_params(&name, false).unwrap(),
            "1.2.840.10045.3.1.7"
        );
        assert_eq!(
            parse_ec_params(&der::tlv(0x13, b"edwards25519"), true).unwrap(),
            ED25519_OID
        );
        assert_eq!(
            parse_ec_params(&der::oid("1.3.36.3.3.2.8.1.1.7").unwrap(), false)
                .unwrap_err()
                .rv(),
            CKR_CURVE_NOT_SUPPORTED
        );
        assert_eq!(
            parse_ec_params(&[0x06, 0x50], false).unwrap_err().rv(),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
    }

    #[test]
    fn token_keys_without_a_label_get_a_unique_generated_one() {
        let token = [a(CKA_TOKEN, &[1])];
        let pub_ok = [ul(CKA_MODULUS_BITS, 2048), a(CKA_TOKEN, &[1])];
        let r = b(CKM_RSA_PKCS_KEY_PAIR_GEN, &pub_ok, &token, "p-", None).unwrap();
        assert!(r.token && r.public_token);
        assert!(r.body.label.starts_with("p-p11-"), "{}", r.body.label);
        assert_eq!(r.body.label.len(), "p-p11-".len() + 16);
        // An empty CKA_LABEL (python-pkcs11's default) is no label either.
        let empty = [a(CKA_TOKEN, &[1]), a(CKA_LABEL, b"")];
        let again = b(CKM_RSA_PKCS_KEY_PAIR_GEN, &pub_ok, &empty, "p-", None).unwrap();
        assert_ne!(again.body.label, r.body.label);
        label::validate(&again.body.label).unwrap();
    }

    #[test]
    fn cka_token_absent_or_false_is_a_session_key_pair() {
        let pub_ok = [ul(CKA_MODULUS_BITS, 2048), a(CKA_LABEL, b"mine")];
        for private in [vec![], vec![a(CKA_TOKEN, &[0])]] {
            let r = b(CKM_RSA_PKCS_KEY_PAIR_GEN, &pub_ok, &private, "p-", None).unwrap();
            assert!(!r.token && !r.public_token);
            assert!(
                super::super::session_keys::is_mine("p-", &r.body.label),
                "a session key label of this process: {}",
                r.body.label
            );
        }
        // A token public key of a session private key cannot be.
        let e = b(
            CKM_RSA_PKCS_KEY_PAIR_GEN,
            &[ul(CKA_MODULUS_BITS, 2048), a(CKA_TOKEN, &[1])],
            &[],
            "",
            None,
        )
        .unwrap_err();
        assert_eq!(e.rv(), CKR_TEMPLATE_INCONSISTENT);
        // A token key may not take a label that looks like a session key's.
        let e = b(
            CKM_RSA_PKCS_KEY_PAIR_GEN,
            &[ul(CKA_MODULUS_BITS, 2048)],
            &[a(CKA_TOKEN, &[1]), a(CKA_LABEL, b".p11s.x")],
            "",
            None,
        )
        .unwrap_err();
        assert_eq!(e.rv(), CKR_ATTRIBUTE_VALUE_INVALID);
    }

    #[test]
    fn rsa_sizes_are_the_tsbs() {
        for bits in tsb_models::RSA_KEY_SIZES {
            let r = b(
                CKM_RSA_PKCS_KEY_PAIR_GEN,
                &[ul(CKA_MODULUS_BITS, bits as CK_ULONG)],
                &[],
                "",
                None,
            )
            .unwrap();
            assert_eq!(r.body.key_size, Some(bits));
        }
        for bits in [512, 1536, 2047, 2049, 16384] {
            let e = b(
                CKM_RSA_PKCS_KEY_PAIR_GEN,
                &[ul(CKA_MODULUS_BITS, bits)],
                &[],
                "",
                None,
            )
            .unwrap_err();
            assert_eq!(e.rv(), CKR_KEY_SIZE_RANGE, "{bits}");
        }
    }

    #[test]
    fn template_errors() {
        let pub_ok = [ul(CKA_MODULUS_BITS, 2048)];
        let e = b(CKM_RSA_PKCS_KEY_PAIR_GEN, &[], &[], "", None).unwrap_err();
        assert_eq!(e.rv(), CKR_TEMPLATE_INCOMPLETE);
        let e = b(
            CKM_RSA_PKCS_KEY_PAIR_GEN,
            &pub_ok,
            &[a(CKA_LABEL, b"x"), ul(CKA_CLASS, CKO_SECRET_KEY)],
            "",
            None,
        )
        .unwrap_err();
        assert_eq!(e.rv(), CKR_TEMPLATE_INCONSISTENT);
        let e = b(
            CKM_RSA_PKCS_KEY_PAIR_GEN,
            &pub_ok,
            &[a(CKA_LABEL, b"x"), a(0x8123_4567, b"")],
            "",
            None,
        )
        .unwrap_err();
        assert_eq!(e.rv(), CKR_ATTRIBUTE_TYPE_INVALID);
        let e = b(CKM_AES_KEY_GEN, &pub_ok, &[a(CKA_LABEL, b"x")], "", None).unwrap_err();
        assert_eq!(e.rv(), CKR_MECHANISM_INVALID);
        let bad_policy = a(vendor::CKA_TSB_POLICY as CK_ATTRIBUTE_TYPE, b"{not json");
        let e = b(
            CKM_RSA_PKCS_KEY_PAIR_GEN,
            &pub_ok,
            &[a(CKA_LABEL, b"x"), bad_policy],
            "",
            None,
        )
        .unwrap_err();
        assert_eq!(e.rv(), CKR_ATTRIBUTE_VALUE_INVALID);
    }

    #[test]
    fn default_policy_applies_and_vendor_attribute_wins() {
        let p: Policy = serde_json::from_str(r#"{"ruleUse":{"tokens":[{"name":"t","timelock":0,"timeout":600,"groups":[{"name":"g","quorum":1,"approvals":[{"type":"public_key","name":"a","value":"AAAA"}]}]}]}}"#).unwrap();
        let public = [ul(CKA_MODULUS_BITS, 2048), a(CKA_LABEL, b"x")];
        let r = b(CKM_RSA_PKCS_KEY_PAIR_GEN, &public, &[], "", Some(&p)).unwrap();
        let got = r.body.policy.unwrap();
        assert!(!got.key_status.unwrap().blocked);
        let none = a(vendor::CKA_TSB_POLICY as CK_ATTRIBUTE_TYPE, b"null");
        let r = b(CKM_RSA_PKCS_KEY_PAIR_GEN, &public, &[none], "", Some(&p)).unwrap();
        assert!(r.body.policy.is_none());
        let mut bad = p.clone();
        bad.rule_use.as_mut().unwrap().tokens[0].timeout = 61;
        assert!(bad.validate().is_err());
    }
}
