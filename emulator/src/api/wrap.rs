//! Key wrapping: `POST /v1/wrap` (synchronous only, as in every source), and the unwrap that
//! `POST /v1/synchronousUnwrap` and an executed `POST /v1/unwrap` request perform (the request
//! plumbing is the other operations'; see `operations`). Facts and what is unconfirmed:
//! `tsb_models::wrap` and emulator/README.md.

use super::keys::{check_one_use, key_rules, store_under_new_label, NewKey};
use super::operations::{prepare_for, Need, PasswordCheck, Prepared};
use super::validate::{self, Dto, Field, Ty};
use super::{b64, from_value, json_response, parse_checked, ApiError, ApiResult};
use crate::crypto::{CryptoError, KeyMaterial};
use crate::material::Material;
use crate::secret::SecretKey;
use crate::Shared;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tsb_models::codes;
use tsb_models::*;

/// `WrapKeyRequestDto` (S3 `dto/tsb/request/WrapKeyRequestDto.java`).
static WRAP_KEY_REQUEST: Dto = Dto {
    name: "WrapKeyRequestDto",
    fields: &[
        Field::new("keyToBeWrapped", Ty::Str).not_empty(),
        Field::new("keyToBeWrappedPassword", Ty::Chars),
        Field::new("wrapKeyName", Ty::Str).not_empty(),
        Field::new("wrapKeyPassword", Ty::Chars),
        Field::new("wrapMethod", super::operations::WRAP_METHOD).not_null(),
    ],
};

validate::envelope_dtos! {
    SIGNED_WRAP_KEY = "SignedWrapKeyRequestDto", "wrapKeyRequest", WRAP_KEY_REQUEST;
}

fn unfit(method: &str, what: &str, m: &Material) -> ApiError {
    ApiError::new(
        codes::ALGORITHM_NOT_SUPPORTED_BY_KEY,
        format!(
            "{method} does not fit the {what} ({} key)",
            m.key_type().name()
        ),
    )
}

/// The wrapping key's side of a method: an AES key for `AES_WRAP*`, an RSA key for `RSA_WRAP*`.
fn check_wrapping_key(m: &WrapMethod, key: &Material) -> Result<(), ApiError> {
    let fits = match (m.wrapping, key) {
        (WrappingKey::Aes { .. }, Material::Secret(k)) => k.algorithm == SecretKeyAlgorithm::Aes,
        (WrappingKey::Rsa { .. }, Material::Asym(k)) => k.algorithm() == KeyAlgorithm::Rsa,
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(unfit(m.name, "wrapping key", key))
    }
}

/// The bytes a method wraps: the raw secret, or the private key's PKCS#8 DER.
fn wrapped_bytes(m: &WrapMethod, key: &Material) -> Result<Vec<u8>, ApiError> {
    match (m.wrapped, key) {
        (WrappedKind::Secret, Material::Secret(k)) => Ok(k.bytes.clone()),
        (WrappedKind::Private(a), Material::Asym(k)) if k.algorithm() == a => Ok(k.to_pkcs8_der()?),
        _ => Err(unfit(m.name, "key to be wrapped", key)),
    }
}

/// RSA_WRAP_PAD is PKCS#1 v1.5, RSA_WRAP_OAEP OAEP with SHA-1 (unconfirmed, see the models).
fn rsa_cipher(oaep: bool) -> &'static str {
    if oaep {
        "RSA_PADDING_OAEP_WITH_SHA1"
    } else {
        "RSA"
    }
}

/// RFC 3394 needs a multiple of 8 bytes: a PKCS#8 key of another length is padded with zeros
/// (how the HSM formats wrapped private keys is not documented); unwrapping reads the DER length.
fn pad8(mut data: Vec<u8>) -> Vec<u8> {
    data.resize(data.len().div_ceil(8).max(2) * 8, 0);
    data
}

/// The DER SEQUENCE at the start of `data`, without trailing zero padding.
fn der_prefix(data: &[u8]) -> Option<&[u8]> {
    if data.first() != Some(&0x30) {
        return None;
    }
    let (len, head) = match *data.get(1)? {
        n if n < 0x80 => (n as usize, 2),
        0x81 => (*data.get(2)? as usize, 3),
        0x82 => (
            u16::from_be_bytes([*data.get(2)?, *data.get(3)?]) as usize,
            4,
        ),
        _ => return None,
    };
    data.get(..head + len)
}

/// `POST /v1/wrap` → 200 `{"wrappedKey": b64}`. The wrapping key needs `wrap`; the key to be
/// wrapped must be `extractable` (PKCS#11's rule; S1 `wrap_test.go` and S2 `wrap-unwrap.md`
/// create it so), which SKA keys never are.
pub(super) fn wrap(shared: &Shared, body: &[u8]) -> ApiResult {
    let env: WrapKeyEnvelope = from_value(parse_checked(shared, body, &SIGNED_WRAP_KEY)?)?;
    let r = env.wrap_key_request;
    let method = tsb_models::wrap_method(&r.wrap_method).ok_or_else(|| {
        ApiError::new(
            codes::VALIDATION_FAILED,
            format!("unknown wrapMethod {}", r.wrap_method),
        )
    })?;
    let (wrapping, target) = {
        let st = shared.store.lock();
        let wrapping = prepare_for(
            &st,
            &r.wrap_key_name,
            PasswordCheck::Given(r.wrap_key_password.as_ref()),
            Need::Wrap,
        )?;
        let target = prepare_for(
            &st,
            &r.key_to_be_wrapped,
            PasswordCheck::Given(r.key_to_be_wrapped_password.as_ref()),
            Need::Manage,
        )?;
        (wrapping, target)
    };
    check_wrapping_key(method, &wrapping.material)?;
    if !target.extractable {
        return Err(ApiError::new(
            codes::OPERATION_FORBIDDEN_FOR_KEY,
            format!("key {} is not extractable", target.label),
        ));
    }
    let data = wrapped_bytes(method, &target.material)?;
    let wrapped = match (method.wrapping, &wrapping.material) {
        (WrappingKey::Aes { padded: true }, Material::Secret(k)) => k.wrap_pad(&data)?,
        (WrappingKey::Aes { padded: false }, Material::Secret(k)) => k.wrap(&pad8(data))?,
        (WrappingKey::Rsa { oaep }, Material::Asym(k)) => k.encrypt(rsa_cipher(oaep), &data)?,
        _ => return Err(unfit(method.name, "wrapping key", &wrapping.material)),
    };
    json_response(
        200,
        &WrapKeyResponse {
            wrapped_key: B64.encode(wrapped),
        },
    )
}

/// Unwrap `r.wrappedKey` with the prepared unwrap key and store it as a new key `r.label` with
/// the request's attributes (and, on the synchronous endpoint, its policy). A secret key comes
/// back as an AES key: the wrapped bytes carry no type (an HMAC key wrapped with `AES_WRAP` is
/// unwrapped as AES; what the HSM does is not documented).
pub(super) fn unwrap_new_key(
    shared: &Shared,
    p: &Prepared,
    r: &UnwrapKeyRequest,
) -> Result<(), ApiError> {
    let method = tsb_models::wrap_method(&r.wrap_method).ok_or_else(|| {
        ApiError::new(
            codes::VALIDATION_FAILED,
            format!("unknown wrapMethod {}", r.wrap_method),
        )
    })?;
    check_wrapping_key(method, &p.material)?;
    check_one_use(&r.attributes)?;
    let wrapped = b64("wrappedKey", &r.wrapped_key, codes::INVALID_PAYLOAD)?;
    let data = match (method.wrapping, &p.material) {
        (WrappingKey::Aes { padded: true }, Material::Secret(k)) => k.unwrap_pad(&wrapped)?,
        (WrappingKey::Aes { padded: false }, Material::Secret(k)) => k.unwrap(&wrapped)?,
        (WrappingKey::Rsa { oaep }, Material::Asym(k)) => k.decrypt(rsa_cipher(oaep), &wrapped)?,
        _ => return Err(unfit(method.name, "unwrap key", &p.material)),
    };
    let bad = |e: String| ApiError::from(CryptoError::DecryptFailed(e));
    let material = match method.wrapped {
        WrappedKind::Secret => Material::Secret(
            SecretKey::from_bytes(SecretKeyAlgorithm::Aes, data)
                .map_err(|e| bad(format!("unwrapped secret: {e}")))?,
        ),
        WrappedKind::Private(a) => {
            let der = der_prefix(&data).ok_or_else(|| bad("unwrapped key is no PKCS#8".into()))?;
            let k =
                KeyMaterial::from_pkcs8_der(der).map_err(|e| bad(format!("unwrapped key: {e}")))?;
            if k.algorithm() != a {
                return Err(bad(format!(
                    "{} unwrapped a {} key",
                    method.name,
                    k.algorithm().name()
                )));
            }
            Material::Asym(k)
        }
        WrappedKind::Other => return Err(unfit(method.name, "key to be unwrapped", &p.material)),
    };
    if r.policy.is_some() && !material.key_type().may_have_policy() {
        return Err(ApiError::new(
            codes::VALIDATION_FAILED,
            format!("a {} key cannot have a policy", material.key_type().name()),
        ));
    }
    let rules = key_rules(r.policy.as_ref(), shared.cfg.tsb_version)?;
    store_under_new_label(
        shared,
        NewKey {
            label: r.label.clone(),
            id: None,
            password: None,
            flags: r.attributes.clone(),
            policy: r.policy.clone(),
            rules,
            imported: false,
        },
        material,
    )?;
    Ok(())
}
