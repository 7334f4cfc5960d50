//! Keys: create (with the policy turned into engine rules), attributes, delete, and the
//! `SignedKeyAttributes` view.

use super::validate::{Dto, Field, Ty};
use super::{
    b64, empty_ok, from_value, json_response, parse_checked, persist, rfc3339, ApiError, ApiResult,
};
use crate::crypto::{self, KeySpec};
use crate::material::{Generate, Material};
use crate::ska::{EngineGroup, EngineRule, EngineToken};
use crate::store::{KeyEntry, KeyRules, Store};
use crate::Shared;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use std::collections::BTreeMap;
use tsb_models::approval_type;
use tsb_models::codes;
use tsb_models::*;

// ---------------------------------------------------------------------------------------------
// DTOs (S3 `dto/tsb/request/CreateKeyDto.java`, `AttributesDto.java`, `KeyLabelWithPasswordDto.java`,
// `dto/tsb/PolicyDto.java`, `ModifyPolicyDto.java`)

fn approval_type_known(name: &str, v: TsbVersion) -> bool {
    // `onboarded_approver_certificate` since 2.0.1 (release notes: "Onboard an approver ... using
    // their name"); S3's `ModifyPolicyDto.ApprovalType` copy has `certificate` and `public_key`.
    match name {
        approval_type::ONBOARDED_APPROVER_CERTIFICATE => v >= TsbVersion::V2_0_1,
        _ => approval_type::ALL.contains(&name),
    }
}

/// `AttributesDto`: `decrypt`, `sign`, `unwrap` are `@NotNull Boolean`. `slip10` since 2.1.0
/// (release notes: SLIP-0010; S2's Python sample sends it), missing from S3's copy.
pub(super) static ATTRIBUTES: Dto = Dto {
    name: "AttributesDto",
    fields: &[
        Field::new("encrypt", Ty::Bool),
        Field::new("decrypt", Ty::Bool).not_null(),
        Field::new("verify", Ty::Bool),
        Field::new("sign", Ty::Bool).not_null(),
        Field::new("wrap", Ty::Bool),
        Field::new("unwrap", Ty::Bool).not_null(),
        Field::new("derive", Ty::Bool),
        Field::new("bip32", Ty::Bool),
        Field::new("slip10", Ty::Bool).since(TsbVersion::V2_1_0),
        Field::new("extractable", Ty::Bool),
        Field::new("modifiable", Ty::Bool),
        Field::new("destroyable", Ty::Bool),
        Field::new("sensitive", Ty::Bool),
        Field::new("copyable", Ty::Bool),
    ],
};

/// `ModifyPolicyDto.Approval`. `value` is `@NotEmpty` in S3's copy, which predates the onboarded
/// approvers (named, no value); the group holding it is not `@Valid`, so it is not checked.
static APPROVAL: Dto = Dto {
    name: "Approval",
    fields: &[
        Field::new("type", Ty::Enum("ApprovalType", approval_type_known)).not_null(),
        Field::new("name", Ty::Str),
        Field::new("value", Ty::Str),
    ],
};

/// `ModifyPolicyDto.Group`: `Token.groups` has no `@Valid`, so its constraints are not checked
/// (the policy rules of `Policy::validate` still are).
static GROUP: Dto = Dto {
    name: "Group",
    fields: &[
        Field::new("name", Ty::Str),
        Field::new("quorum", Ty::Int).not_null(),
        Field::new("approvals", Ty::List(&Ty::Dto(&APPROVAL, true))).not_null(),
    ],
};

/// `ModifyPolicyDto.Token`: `timelock`, `timeout` `@NotNull Integer` (`@DivisibleBy60`, checked
/// by `Policy::validate`).
static TOKEN: Dto = Dto {
    name: "Token",
    fields: &[
        Field::new("name", Ty::Str),
        Field::new("timelock", Ty::Int).not_null(),
        Field::new("timeout", Ty::Int).not_null(),
        Field::new("groups", Ty::List(&Ty::Dto(&GROUP, false))),
    ],
};

static RULE: Dto = Dto {
    name: "Rule",
    fields: &[Field::new("tokens", Ty::List(&Ty::Dto(&TOKEN, true))).not_null()],
};

static KEY_STATUS: Dto = Dto {
    name: "KeyStatus",
    fields: &[Field::new("blocked", Ty::Bool).not_null()],
};

/// `PolicyDto`: the four rules (`@Valid`) and `@NotNull keyStatus`.
pub(super) static POLICY: Dto = Dto {
    name: "PolicyDto",
    fields: &[
        Field::new("ruleUse", Ty::Dto(&RULE, true)),
        Field::new("ruleBlock", Ty::Dto(&RULE, true)),
        Field::new("ruleUnblock", Ty::Dto(&RULE, true)),
        Field::new("ruleModify", Ty::Dto(&RULE, true)),
        Field::new("keyStatus", Ty::Dto(&KEY_STATUS, true)).not_null(),
    ],
};

/// `CreateKeyDto` (`POST /v1/key`).
static CREATE_KEY: Dto = Dto {
    name: "CreateKeyDto",
    fields: &[
        Field::new("label", Ty::Str).not_empty(),
        Field::new("password", Ty::Chars),
        Field::new("id", Ty::Str),
        Field::new("algorithm", Ty::Str),
        Field::new("algorithmOid", Ty::Str),
        Field::new("curveOid", Ty::Str),
        Field::new("keySize", Ty::Int),
        Field::new("addressFormat", Ty::Any),
        Field::new("attributes", Ty::Dto(&ATTRIBUTES, true)).not_null(),
        Field::new("policy", Ty::Dto(&POLICY, true)),
    ],
};

/// `KeyLabelWithPasswordDto` (`POST /v1/key/attributes`, `POST /v1/key/deleteKey`).
pub(super) static KEY_LABEL: Dto = Dto {
    name: "KeyLabelWithPasswordDto",
    fields: &[
        Field::new("label", Ty::Str).not_empty(),
        Field::new("password", Ty::Chars),
    ],
};

fn flag(v: Option<bool>, default: bool) -> Option<bool> {
    Some(v.unwrap_or(default))
}

/// The attributes a new key reports: requested flags with the DTO defaults; SKA keys are never
/// extractable; non-extractable keys are always sensitive. `encrypt`, `verify` and `wrap` are
/// `Boolean`s without a default in S3 `AttributesDto.java`; for secret keys an absent one is
/// `true`: S2 `tsb/Tutorials/Encryption/EncryptDecrypt.md` creates an AES key without `encrypt`
/// and encrypts with it, `tsb/Tutorials/Mac/hmac.md` an HMAC key without `verify` and verifies.
pub(super) fn effective_flags(req: &KeyFlags, ska: bool, secret: bool) -> KeyFlags {
    let extractable = !ska && req.extractable.unwrap_or(false);
    let sensitive = !(extractable && req.sensitive == Some(false));
    KeyFlags {
        encrypt: flag(req.encrypt, secret),
        decrypt: flag(req.decrypt, false),
        verify: flag(req.verify, secret),
        sign: flag(req.sign, false),
        wrap: flag(req.wrap, secret),
        unwrap: flag(req.unwrap, false),
        derive: flag(req.derive, false),
        bip32: flag(req.bip32, false),
        slip10: flag(req.slip10, false),
        extractable: Some(extractable),
        modifiable: flag(req.modifiable, true),
        destroyable: flag(req.destroyable, false),
        sensitive: Some(sensitive),
        copyable: flag(req.copyable, false),
        always_sensitive: Some(sensitive),
        never_extractable: Some(!extractable),
        eka_sign: None,
    }
}

/// What to generate for a `CreateKeyDto`, or the TSB's refusal. An algorithm name the profile's
/// TSB does not have (`HMACSHA256` before 2.0.1, ML-DSA/SLH-DSA before 2.2.0) is refused like
/// any unsupported one, with 607: `algorithm` is a `String` in the DTO, so it is no validation
/// error; what the real server answers for it is not documented.
fn key_plan(ck: &CreateKeyRequest, v: TsbVersion) -> Result<Generate, ApiError> {
    let alg = ck
        .algorithm
        .as_deref()
        .or(ck.algorithm_oid.as_deref())
        .ok_or_else(|| {
            ApiError::new(
                codes::VALIDATION_FAILED,
                "algorithm or algorithmOid is required",
            )
        })?;
    let unsupported = || {
        ApiError::new(
            codes::ALGORITHM_NOT_SUPPORTED_BY_KEY,
            format!("algorithm {alg} is not supported by the emulator (RSA, EC, ED, AES, HMACSHA256, ML-DSA, SLH-DSA) or by TSB {v}"),
        )
    };
    let kt = KeyType::from_name_or_oid(alg).ok_or_else(unsupported)?;
    if kt.since() > v {
        return Err(unsupported());
    }
    if ck.policy.is_some() && !kt.may_have_policy() {
        return Err(ApiError::new(
            codes::VALIDATION_FAILED,
            format!(
                "a {} key cannot have a policy: only asymmetric keys can (PolicyDto)",
                kt.name()
            ),
        ));
    }
    match kt {
        KeyType::Asymmetric(a) => asym_spec(a, ck).map(Generate::Asym),
        KeyType::Secret(a) => {
            let bits = match (ck.key_size, a) {
                (Some(n), _) => n,
                (None, SecretKeyAlgorithm::HmacSha256) => a.sizes()[0],
                (None, SecretKeyAlgorithm::Aes) => {
                    return Err(ApiError::new(
                        codes::KEYSIZE,
                        "keySize is required for AES keys",
                    ))
                }
            };
            if !a.sizes().contains(&bits) {
                return Err(ApiError::new(
                    codes::KEYSIZE,
                    format!(
                        "{} key size {bits} is not supported ({:?})",
                        a.name(),
                        a.sizes()
                    ),
                ));
            }
            Ok(Generate::Secret(a, bits))
        }
        KeyType::Pqc(set) => Ok(Generate::Pqc(set)),
    }
}

fn asym_spec(a: KeyAlgorithm, ck: &CreateKeyRequest) -> Result<KeySpec, ApiError> {
    match a {
        KeyAlgorithm::Rsa => match ck.key_size {
            // The sizes the TSB generates: one table for the module and the emulator.
            Some(n) if rsa_key_size_supported(n.into()) => Ok(KeySpec::Rsa(n)),
            Some(n) => Err(ApiError::new(
                codes::KEYSIZE,
                format!("RSA key size {n} is not supported ({RSA_KEY_SIZES:?})"),
            )),
            None => Err(ApiError::new(
                codes::KEYSIZE,
                "keySize is required for RSA keys",
            )),
        },
        KeyAlgorithm::Ec => {
            let oid = ck.curve_oid.as_deref().ok_or_else(|| {
                ApiError::new(codes::VALIDATION_FAILED, "curveOid is required for EC keys")
            })?;
            Curve::from_oid(oid).map(KeySpec::Ec).ok_or_else(|| {
                ApiError::new(codes::KEYSIZE, format!("curve {oid} is not supported"))
            })
        }
        KeyAlgorithm::Ed => match ck.curve_oid.as_deref() {
            None | Some(ED25519_OID) => Ok(KeySpec::Ed25519),
            Some(oid) => Err(ApiError::new(
                codes::KEYSIZE,
                format!("curve {oid} is not supported for ED keys"),
            )),
        },
    }
}

/// Canonical id and display string of one policy approver.
fn approver_identity(a: &tsb_models::Approval) -> Result<(String, String), ApiError> {
    let value = || {
        a.value.as_deref().ok_or_else(|| {
            ApiError::new(
                codes::VALIDATION_FAILED,
                format!("approval of type {} needs a value", a.kind),
            )
        })
    };
    match a.kind.as_str() {
        approval_type::PUBLIC_KEY => {
            let v = value()?;
            let der = b64("approval value", v, codes::UNSUPPORTED_APPROVER_KEY)?;
            Ok((B64.encode(der), v.to_string()))
        }
        approval_type::CERTIFICATE => {
            let der = b64("approval value", value()?, codes::UNSUPPORTED_APPROVER_KEY)?;
            let spki = B64.encode(crypto::certificate_spki_der(&der)?);
            Ok((spki.clone(), spki))
        }
        approval_type::ONBOARDED_APPROVER_CERTIFICATE => {
            // Authorization-App approvers are not reachable through the emulator; they can be
            // listed in a policy but never approve.
            let id = format!("onboarded:{}", a.name.clone().unwrap_or_default());
            Ok((id.clone(), id))
        }
        other => Err(ApiError::new(
            codes::VALIDATION_FAILED,
            format!("unknown approval type {other}"),
        )),
    }
}

fn engine_rule(
    rule: Option<&Rule>,
    display: &mut BTreeMap<String, String>,
) -> Result<EngineRule, ApiError> {
    let Some(rule) = rule else {
        return Ok(EngineRule::default());
    };
    let mut tokens = Vec::with_capacity(rule.tokens.len());
    for t in &rule.tokens {
        let mut groups = Vec::new();
        for g in t.groups.iter().flatten() {
            let mut approvers = Vec::with_capacity(g.approvals.len());
            for a in &g.approvals {
                let (id, shown) = approver_identity(a)?;
                display.entry(id.clone()).or_insert(shown);
                approvers.push(id);
            }
            groups.push(EngineGroup {
                quorum: g.quorum,
                approvers,
            });
        }
        let ms = |s: u64| (s.min(i64::MAX as u64 / 1000) as i64) * 1000;
        tokens.push(EngineToken {
            timelock_ms: ms(t.timelock),
            timeout_ms: ms(t.timeout),
            groups,
        });
    }
    Ok(EngineRule { tokens })
}

pub(super) fn key_rules(policy: Option<&Policy>, v: TsbVersion) -> Result<KeyRules, ApiError> {
    let Some(p) = policy else {
        return Ok(KeyRules::default());
    };
    p.validate_for(v)
        .map_err(|e| ApiError::new(codes::VALIDATION_FAILED, e.to_string()))?;
    let mut display = BTreeMap::new();
    let use_rule = engine_rule(p.rule_use.as_ref(), &mut display)?;
    let block = engine_rule(p.rule_block.as_ref(), &mut display)?;
    let unblock = engine_rule(p.rule_unblock.as_ref(), &mut display)?;
    // ruleModify is validated although modify is not emulated.
    engine_rule(p.rule_modify.as_ref(), &mut display)?;
    Ok(KeyRules {
        use_rule,
        block,
        unblock,
        display,
    })
}

/// Releases a label reservation when key creation ends, whichever way.
pub(super) struct Reservation<'a> {
    shared: &'a Shared,
    lower: String,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.shared.store.lock().reserved.remove(&self.lower);
    }
}

pub(super) fn create_key(shared: &Shared, body: &[u8]) -> ApiResult {
    let value = parse_checked(shared, body, &CREATE_KEY)?;
    match value.get("label") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        _ => {
            return Err(ApiError::new(
                codes::INVALID_KEY_NAME,
                "label is required and must not be empty",
            ))
        }
    }
    let ck: CreateKeyRequest = from_value(value)?;
    let plan = key_plan(&ck, shared.cfg.tsb_version)?;
    check_one_use(&ck.attributes)?;
    let rules = key_rules(ck.policy.as_ref(), shared.cfg.tsb_version)?;
    let reservation = reserve_label(shared, &ck.label)?;
    // Generation (seconds for RSA-4096) runs without the store lock.
    let material = plan.run()?;
    let attrs = store_new_key(
        shared,
        NewKey {
            label: ck.label.clone(),
            id: ck.id.clone(),
            password: ck.password.as_ref().map(|p| p.0.clone()),
            flags: ck.attributes.clone(),
            policy: ck.policy.clone(),
            rules,
            imported: false,
        },
        material,
    )?;
    drop(reservation);
    persist(shared);
    json_response(201, &attrs)
}

/// "At least one operation (decrypt, sign, unwrap) must be allowed" (S3 `AttributesDto.java`).
pub(super) fn check_one_use(a: &KeyFlags) -> Result<(), ApiError> {
    if ![a.decrypt, a.sign, a.unwrap].contains(&Some(true)) {
        return Err(ApiError::new(
            codes::KEY_ATTRIBUTES_INVALID,
            "at least one of decrypt, sign, unwrap must be true",
        ));
    }
    Ok(())
}

/// A label reserved for a key being created (released when dropped): 608 when it is taken.
pub(super) fn reserve_label<'a>(
    shared: &'a Shared,
    label: &str,
) -> Result<Reservation<'a>, ApiError> {
    let lower = label.to_lowercase();
    let mut st = shared.store.lock();
    if st.label_taken(label) {
        return Err(ApiError::new(
            codes::KEY_ALREADY_EXISTING,
            format!("key {label} already exists"),
        ));
    }
    st.reserved.insert(lower.clone());
    Ok(Reservation { shared, lower })
}

/// A key about to be stored (created or unwrapped).
pub(super) struct NewKey {
    pub(super) label: String,
    pub(super) id: Option<String>,
    pub(super) password: Option<String>,
    /// The requested attributes (defaults applied here).
    pub(super) flags: KeyFlags,
    pub(super) policy: Option<Policy>,
    pub(super) rules: KeyRules,
    /// Imported in plain (`import`): never generated in the HSM, so neither `alwaysSensitive` nor
    /// `neverExtractable` (PKCS#11's rule for keys not generated in the token).
    pub(super) imported: bool,
}

/// Store a key whose material is at hand (imported, unwrapped) under its new label (608 when the
/// label is taken), and persist the store; its `SignedKeyAttributes`.
pub(super) fn store_under_new_label(
    shared: &Shared,
    new: NewKey,
    material: Material,
) -> Result<SignedKeyAttributes, ApiError> {
    let reservation = reserve_label(shared, &new.label)?;
    let attrs = store_new_key(shared, new, material)?;
    drop(reservation);
    super::persist(shared);
    Ok(attrs)
}

/// Store a new key under its reserved label; its `SignedKeyAttributes`.
pub(super) fn store_new_key(
    shared: &Shared,
    new: NewKey,
    material: Material,
) -> Result<SignedKeyAttributes, ApiError> {
    let public_key = material.public_key_spki_der().map(|d| B64.encode(d));
    let persisted = material.persisted()?;
    let ska = new.policy.is_some();
    let secret = matches!(material, Material::Secret(_));
    let mut policy = new.policy;
    if let Some(p) = policy.as_mut() {
        p.key_status.get_or_insert_with(KeyStatus::default);
    }
    let blocked = policy
        .as_ref()
        .and_then(|p| p.key_status.as_ref())
        .is_some_and(|s| s.blocked);
    let mut attributes = effective_flags(&new.flags, ska, secret);
    if new.imported {
        attributes.always_sensitive = Some(false);
        attributes.never_extractable = Some(false);
    }
    let entry = KeyEntry {
        label: new.label,
        id: new.id,
        password: new.password,
        persisted,
        material,
        public_key,
        attributes,
        policy,
        rules: new.rules,
        blocked,
        create_time: rfc3339(shared.clock.now_ms()),
        certificate: None,
    };
    let attrs = signed_attributes(&entry);
    shared.store.lock().insert_key(entry);
    Ok(attrs)
}

/// A key's attributes. The key password is always checked: the path-only `GET
/// /v1/key/{name}/attributes` carries none, so a key with a password needs `POST
/// /v1/key/attributes` (TSB 1.14.0 added it "for Key Requests with KeyPassword" and deprecated
/// the GET one, S2 release notes).
pub(super) fn key_attributes(
    shared: &Shared,
    name: &str,
    password: Option<&Password>,
) -> ApiResult {
    let st = shared.store.lock();
    let k = st.resolve(name).ok_or_else(|| key_not_found(&st, name))?;
    check_key_password(k, password)?;
    let attrs = signed_attributes(k);
    drop(st);
    json_response(200, &attrs)
}

/// Delete a key; its password is checked as in [`key_attributes`] (`DELETE /v1/key/{name}`
/// carries none: `POST /v1/key/deleteKey` does).
pub(super) fn delete_key(shared: &Shared, name: &str, password: Option<&Password>) -> ApiResult {
    {
        let mut st = shared.store.lock();
        let k = st.resolve(name).ok_or_else(|| key_not_found(&st, name))?;
        check_key_password(k, password)?;
        let label = k.label.clone();
        st.remove_key(&label);
    }
    persist(shared);
    empty_ok()
}

/// The error for a name that is no key's label: 650, or 611 when the name is a derivation path
/// under an existing key (`MyKey/1/2/3`, S3 `dto/tsb/request/KeyLabelWithPasswordDto.java`):
/// derived keys are not emulated. A label that itself contains `/` is still found by its exact
/// name first (whether a TSB can hold one is not documented).
pub(super) fn key_not_found(st: &Store, name: &str) -> ApiError {
    match name.split_once('/') {
        Some((base, _)) if st.resolve(base).is_some() => ApiError::new(
            codes::UNSUPPORTED_OPERATION,
            format!("{name} names a key derived from {base}; derived keys are not emulated"),
        ),
        _ => ApiError::new(
            codes::KEY_NOT_EXISTENT,
            format!("key {name} does not exist"),
        ),
    }
}

pub(super) fn check_key_password(k: &KeyEntry, given: Option<&Password>) -> Result<(), ApiError> {
    match &k.password {
        Some(pw) if given.map(|g| &g.0) != Some(pw) => Err(ApiError::new(
            codes::KEY_PASSWORD_MISMATCH,
            "key password does not match",
        )),
        _ => Ok(()),
    }
}

fn key_json(k: &KeyEntry) -> KeyAttributes {
    let mut policy = k.policy.clone();
    if let Some(p) = policy.as_mut() {
        p.key_status = Some(KeyStatus { blocked: k.blocked });
    }
    KeyAttributes {
        label: k.label.clone(),
        id: k.id.clone(),
        algorithm: Some(k.material.key_type().name().to_string()),
        algorithm_oid: Some(k.material.key_type().oid().to_string()),
        curve_oid: k.material.curve_oid().map(str::to_string),
        key_size: k.material.key_size(),
        key_usage_count: None,
        create_time: Some(k.create_time.clone()),
        attest_time: Some(k.create_time.clone()),
        public_key: k.public_key.clone(),
        attributes: k.attributes.clone(),
        policy,
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml_rule(out: &mut String, tag: &str, rule: Option<&Rule>) {
    let Some(rule) = rule else { return };
    out.push_str(&format!("<{tag}>"));
    for t in &rule.tokens {
        out.push_str(&format!(
            "<token name=\"{}\"><timelock>{}</timelock><timeout>{}</timeout>",
            xml_escape(&t.name),
            t.timelock,
            t.timeout
        ));
        for g in t.groups.iter().flatten() {
            out.push_str(&format!(
                "<group name=\"{}\"><quorum>{}</quorum>",
                xml_escape(&g.name),
                g.quorum
            ));
            for a in &g.approvals {
                out.push_str(&format!(
                    "<approval type=\"{}\" name=\"{}\">{}</approval>",
                    xml_escape(&a.kind),
                    xml_escape(a.name.as_deref().unwrap_or("")),
                    xml_escape(a.value.as_deref().unwrap_or(""))
                ));
            }
            out.push_str("</group>");
        }
        out.push_str("</token>");
    }
    out.push_str(&format!("</{tag}>"));
}

/// `SignedKeyAttributes`: the JSON attributes and a reduced snake_case XML form "signed" with a
/// SHA-256 digest (the emulator has no attestation key; the field is only a stand-in).
fn signed_attributes(k: &KeyEntry) -> SignedKeyAttributes {
    let json = key_json(k);
    let mut x = String::from("<private_key>");
    let mut el = |tag: &str, v: Option<String>| {
        if let Some(v) = v {
            x.push_str(&format!("<{tag}>{}</{tag}>", xml_escape(&v)));
        }
    };
    el("label", Some(json.label.clone()));
    el("id", json.id.clone());
    el("algorithm", json.algorithm.clone());
    el("algorithm_oid", json.algorithm_oid.clone());
    el("curve_oid", json.curve_oid.clone());
    el("key_size", json.key_size.map(|n| n.to_string()));
    el("create_time", json.create_time.clone());
    el("public_key", json.public_key.clone());
    x.push_str("<attributes>");
    let f = &json.attributes;
    for (tag, v) in [
        ("decrypt", f.decrypt),
        ("sign", f.sign),
        ("unwrap", f.unwrap),
        ("derive", f.derive),
        ("sensitive", f.sensitive),
        ("always_sensitive", f.always_sensitive),
        ("extractable", f.extractable),
        ("never_extractable", f.never_extractable),
        ("modifiable", f.modifiable),
        ("copyable", f.copyable),
        ("destroyable", f.destroyable),
    ] {
        x.push_str(&format!("<{tag}>{}</{tag}>", v.unwrap_or(false)));
    }
    x.push_str("</attributes>");
    if let Some(p) = &json.policy {
        x.push_str(&format!(
            "<policy><key_status><blocked>{}</blocked></key_status>",
            p.key_status.as_ref().is_some_and(|s| s.blocked)
        ));
        xml_rule(&mut x, "rule_use", p.rule_use.as_ref());
        xml_rule(&mut x, "rule_block", p.rule_block.as_ref());
        xml_rule(&mut x, "rule_unblock", p.rule_unblock.as_ref());
        xml_rule(&mut x, "rule_modify", p.rule_modify.as_ref());
        x.push_str("</policy>");
    }
    x.push_str("</private_key>");
    let sig = B64.encode(openssl::sha::sha256(x.as_bytes()));
    SignedKeyAttributes {
        xml: Some(x),
        json,
        xml_signature: Some(sig),
        attestation_key_name: Some("attestation-key".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine form decides "needs approvals" as the policy model does.
    #[test]
    fn engine_rule_is_gated_as_the_model_says() {
        let approval = Approval {
            kind: approval_type::PUBLIC_KEY.into(),
            name: None,
            value: Some("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE".into()),
        };
        let token = |groups: Option<Vec<Group>>| Token {
            name: "t".into(),
            timelock: 0,
            timeout: 0,
            groups,
        };
        let group = |approvals: Vec<Approval>| Group {
            name: "g".into(),
            quorum: 1,
            approvals,
        };
        for rule in [
            Rule::default(),
            Rule {
                tokens: vec![token(None)],
            },
            Rule {
                tokens: vec![token(Some(vec![]))],
            },
            Rule {
                tokens: vec![token(Some(vec![group(vec![])]))],
            },
            Rule {
                tokens: vec![
                    token(None),
                    token(Some(vec![group(vec![approval.clone()])])),
                ],
            },
        ] {
            let engine = engine_rule(Some(&rule), &mut BTreeMap::new()).unwrap();
            assert_eq!(engine.is_gated(), rule.needs_approvals(), "{rule:?}");
        }
    }
}
