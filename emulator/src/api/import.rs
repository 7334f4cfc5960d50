//! Keys in plain: `POST /v1/key/import/plain` (a key's material into the store) and `POST
//! /v1/key/export/plain` (a non-sensitive, extractable key's material out of it). Bodies:
//! `tsb_models::{KeyImportRequest, KeyExportResponse}` (S3 `dto/tsb/request/KeyImportDto.java`,
//! `dto/tsb/response/KeyExportDto.java`; S1 `key.go` `ImportKey`, `ExportKey`).
//!
//! Sourced: the DTO's fields and `@EmptyIfAnotherFieldHasValue` rules; "extractable ... can only be
//! true for keys without smart key attributes" and "To export a key sensitive must be false" (S3
//! `AttributesDto.java`); a taken label is 608 as for `POST /v1/key`. Not sourced, chosen here:
//! the error codes of an extractable SKA key (606), of an export the key's attributes forbid
//! (614, as wrapping an unextractable key), of key material that does not parse (407) or whose
//! `publicKey` is not the private key's (407); the answer of an import (the new key's
//! `SignedKeyAttributes`, as `POST /v1/key`; no source shows it, the module does not read it);
//! an imported key reports `alwaysSensitive` and `neverExtractable` false, as PKCS#11 says of a
//! key that was not generated in the token.

use super::keys::{check_one_use, key_rules, store_under_new_label, NewKey, ATTRIBUTES, POLICY};
use super::validate::{Dto, Field, Ty};
use super::{b64, from_value, json_response, parse_checked, ApiError, ApiResult};
use crate::crypto::KeyMaterial;
use crate::material::Material;
use crate::secret::SecretKey;
use crate::Shared;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tsb_models::codes;
use tsb_models::*;

/// `KeyImportDto`.
static KEY_IMPORT: Dto = Dto {
    name: "KeyImportDto",
    fields: &[
        Field::new("label", Ty::Str).not_empty(),
        Field::new("algorithm", Ty::Str).not_empty(),
        Field::new("addressFormat", Ty::Any),
        Field::new("privateKey", Ty::Base64),
        Field::new("publicKey", Ty::Base64),
        Field::new("secretKey", Ty::Base64),
        Field::new("certificate", Ty::Base64),
        Field::new("attributes", Ty::Dto(&ATTRIBUTES, true)).not_null(),
        Field::new("policy", Ty::Dto(&POLICY, true)),
    ],
};

fn invalid(m: impl Into<String>) -> ApiError {
    ApiError::new(codes::VALIDATION_FAILED, m)
}

fn given(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.is_empty())
}

/// The material a `KeyImportDto` carries, checked.
fn material_of(r: &KeyImportRequest) -> Result<Material, ApiError> {
    // `@EmptyIfAnotherFieldHasValue`: no private or public key next to a secret key, no
    // certificate next to a public key.
    if given(&r.secret_key) && (given(&r.private_key) || given(&r.public_key)) {
        return Err(invalid(
            "privateKey and publicKey must be empty when secretKey is given",
        ));
    }
    if given(&r.certificate) && given(&r.public_key) {
        return Err(invalid("certificate must be empty when publicKey is given"));
    }
    if given(&r.certificate) {
        return Err(ApiError::new(
            codes::UNSUPPORTED_OPERATION,
            "a certificate on import is not emulated (POST /v1/certificate/import/plain is)",
        ));
    }
    let kt = KeyType::from_name_or_oid(&r.algorithm).ok_or_else(|| {
        ApiError::new(
            codes::ALGORITHM_NOT_SUPPORTED_BY_KEY,
            format!("algorithm {} cannot be imported here", r.algorithm),
        )
    })?;
    let parsing = |m: String| ApiError::new(codes::PARSING_KEY, m);
    match kt {
        KeyType::Secret(a) => {
            let bytes = b64(
                "secretKey",
                r.secret_key
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| invalid(format!("secretKey is required for {}", a.name())))?,
                codes::VALIDATION_FAILED,
            )?;
            Ok(Material::Secret(SecretKey::from_bytes(a, bytes)?))
        }
        KeyType::Asymmetric(a) => {
            let der = b64(
                "privateKey",
                r.private_key
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        ApiError::new(
                            codes::UNSUPPORTED_OPERATION,
                            "only key pairs are imported by the emulator: privateKey is required",
                        )
                    })?,
                codes::VALIDATION_FAILED,
            )?;
            let k = KeyMaterial::from_pkcs8_der(&der)
                .map_err(|e| parsing(format!("privateKey: {e}")))?;
            if k.algorithm() != a {
                return Err(parsing(format!(
                    "privateKey is a {} key, not {}",
                    k.algorithm().name(),
                    a.name()
                )));
            }
            if let Some(p) = r.public_key.as_deref().filter(|s| !s.is_empty()) {
                let spki = b64("publicKey", p, codes::VALIDATION_FAILED)?;
                if spki != k.public_key_spki_der() {
                    return Err(parsing("publicKey is not the private key's".into()));
                }
            }
            Ok(Material::Asym(k))
        }
        KeyType::Pqc(_) => Err(ApiError::new(
            codes::UNSUPPORTED_OPERATION,
            "post-quantum keys are not imported by the emulator",
        )),
    }
}

/// `POST /v1/key/import/plain`.
pub(super) fn import_plain(shared: &Shared, body: &[u8]) -> ApiResult {
    let value = parse_checked(shared, body, &KEY_IMPORT)?;
    let r: KeyImportRequest = from_value(value)?;
    if r.label.trim().is_empty() {
        return Err(ApiError::new(
            codes::INVALID_KEY_NAME,
            "label is required and must not be empty",
        ));
    }
    let material = material_of(&r)?;
    if r.policy.is_some() && !material.key_type().may_have_policy() {
        return Err(invalid(format!(
            "a {} key cannot have a policy: only asymmetric keys can (PolicyDto)",
            material.key_type().name()
        )));
    }
    if r.policy.is_some() && r.attributes.extractable == Some(true) {
        return Err(ApiError::new(
            codes::KEY_ATTRIBUTES_INVALID,
            "extractable can only be true for keys without smart key attributes",
        ));
    }
    check_one_use(&r.attributes)?;
    let rules = key_rules(r.policy.as_ref(), shared.cfg.tsb_version)?;
    let attrs = store_under_new_label(
        shared,
        NewKey {
            label: r.label.clone(),
            id: None,
            password: None,
            flags: r.attributes.clone(),
            policy: r.policy.clone(),
            rules,
            imported: true,
        },
        material,
    )?;
    json_response(201, &attrs)
}

/// `POST /v1/key/export/plain`: only a key that is extractable and not sensitive.
pub(super) fn export_plain(shared: &Shared, body: &[u8]) -> ApiResult {
    let r: KeyLabelRequest = from_value(parse_checked(shared, body, &super::keys::KEY_LABEL)?)?;
    let st = shared.store.lock();
    let k = st
        .resolve(&r.label)
        .ok_or_else(|| super::keys::key_not_found(&st, &r.label))?;
    super::keys::check_key_password(k, r.password.as_ref())?;
    let a = &k.attributes;
    if a.extractable != Some(true) || a.sensitive != Some(false) {
        return Err(ApiError::new(
            codes::OPERATION_FORBIDDEN_FOR_KEY,
            format!(
                "key {} cannot be exported: it must be extractable and not sensitive",
                k.label
            ),
        ));
    }
    let out = match &k.material {
        Material::Secret(s) => KeyExportResponse {
            secret_key: Some(B64.encode(&s.bytes)),
            ..Default::default()
        },
        Material::Asym(m) => KeyExportResponse {
            private_key: Some(B64.encode(m.to_pkcs8_der()?)),
            public_key: k.public_key.clone(),
            secret_key: None,
        },
        Material::Pqc(_) => {
            return Err(ApiError::new(
                codes::UNSUPPORTED_OPERATION,
                "post-quantum keys are not exported by the emulator",
            ))
        }
    };
    drop(st);
    json_response(200, &out)
}
