//! `POST /v1/encrypt` (AES and RSA), AES decryption for the decrypt endpoints, and HMAC
//! (`POST /v1/synchronousHmac`, HMAC verification on `POST /v1/verify`). The facts and what is
//! unconfirmed: `tsb_models::symmetric` and emulator/README.md.

use super::operations::{prepare_for, Need, PasswordCheck, CIPHER_ALGORITHM};
use super::validate::{self, Dto, Field, Ty};
use super::{b64, from_value, json_response, parse_checked, ApiError, ApiResult};
use crate::crypto::CryptoError;
use crate::material::Material;
use crate::Shared;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tsb_models::codes;
use tsb_models::*;

/// `EncryptRequestDto` (S3 `dto/tsb/request/EncryptRequestDto.java`).
static ENCRYPT_REQUEST: Dto = Dto {
    name: "EncryptRequestDto",
    fields: &[
        Field::new("payload", Ty::Base64).not_empty(),
        Field::new("encryptKeyName", Ty::Str).not_empty(),
        Field::new("keyPassword", Ty::Chars),
        Field::new("cipherAlgorithm", CIPHER_ALGORITHM).not_null(),
        Field::new("additionalAuthenticationData", Ty::Base64),
        Field::new("tagLength", Ty::Int),
    ],
};

/// The HMAC request of S2 `tsb/Tutorials/Mac/hmac.md`; no DTO copy is public, so the
/// constraints are this project's (both fields required, the payload base64) and `keyPassword`
/// is accepted as on every other operation.
static HMAC_REQUEST: Dto = Dto {
    name: "HmacRequestDto",
    fields: &[
        Field::new("keyName", Ty::Str).not_empty(),
        Field::new("payload", Ty::Base64).not_empty(),
        Field::new("keyPassword", Ty::Chars),
    ],
};

/// The HMAC verification request of S2 `hmac.md` (same caveat as [`HMAC_REQUEST`]).
static VERIFY_HMAC_REQUEST: Dto = Dto {
    name: "VerifyHmacRequestDto",
    fields: &[
        Field::new("keyName", Ty::Str).not_empty(),
        Field::new("payload", Ty::Base64).not_empty(),
        Field::new("signature", Ty::Base64).not_empty(),
        Field::new("keyPassword", Ty::Chars),
    ],
};

validate::envelope_dtos! {
    SIGNED_ENCRYPT = "SignedEncryptRequestDto", "encryptRequest", ENCRYPT_REQUEST;
    SIGNED_HMAC = "SignedHmacRequestDto", "hmacRequest", HMAC_REQUEST;
    SIGNED_VERIFY_HMAC = "SignedVerifyHmacRequestDto", "verifyHmacRequest", VERIFY_HMAC_REQUEST;
}

fn no_key_cipher(cipher: &str, m: &Material) -> ApiError {
    ApiError::new(
        codes::ALGORITHM_NOT_SUPPORTED_BY_KEY,
        format!("{cipher} does not fit a {} key", m.key_type().name()),
    )
}

/// The GCM tag length in bytes of a request, or errorCode 624 `res.error.key.invalid.tagLength`.
fn tag_bytes(tag_length: Option<u32>) -> Result<usize, ApiError> {
    gcm_tag_bytes(tag_length).ok_or_else(|| {
        ApiError::new(
            codes::INVALID_TAG_LENGTH,
            format!(
                "tagLength {} is not one of {GCM_TAG_LENGTHS:?}",
                tag_length.unwrap_or(0)
            ),
        )
    })
}

fn optional_b64(field: &str, v: Option<&String>) -> Result<Vec<u8>, ApiError> {
    match v {
        Some(s) => b64(field, s, codes::INVALID_PAYLOAD),
        None => Ok(Vec::new()),
    }
}

/// `POST /v1/encrypt` → 200 `EncryptRequestResponseDto`. Synchronous only (no SKA path exists):
/// secret keys cannot have a policy, and an RSA key encrypts with its public key.
pub(super) fn encrypt(shared: &Shared, body: &[u8]) -> ApiResult {
    let env: EncryptEnvelope = from_value(parse_checked(shared, body, &SIGNED_ENCRYPT)?)?;
    let r = env.encrypt_request;
    let payload = b64("payload", &r.payload, codes::INVALID_PAYLOAD)?;
    let p = prepare_for(
        &shared.store.lock(),
        &r.encrypt_key_name,
        PasswordCheck::Given(r.key_password.as_ref()),
        Need::Encrypt,
    )?;
    let resp = match &p.material {
        Material::Secret(k) => {
            let c = aes_cipher(&r.cipher_algorithm)
                .ok_or_else(|| no_key_cipher(&r.cipher_algorithm, &p.material))?;
            let aad = optional_b64(
                "additionalAuthenticationData",
                r.additional_authentication_data.as_ref(),
            )?;
            let tag_len = if c.mode == AesMode::Gcm {
                tag_bytes(r.tag_length)?
            } else {
                0
            };
            let e = k.encrypt(c, &payload, &aad, tag_len)?;
            let without_mac = &e.ciphertext[..e.ciphertext.len() - e.tag.len()];
            EncryptResponse {
                encrypted_payload: B64.encode(&e.ciphertext),
                encrypted_payload_without_message_authentication_code: Some(
                    B64.encode(without_mac),
                ),
                initialization_vector: (!e.iv.is_empty()).then(|| B64.encode(&e.iv)),
                message_authentication_code: (!e.tag.is_empty()).then(|| B64.encode(&e.tag)),
            }
        }
        Material::Asym(k) => {
            let ct = B64.encode(k.encrypt(&r.cipher_algorithm, &payload)?);
            EncryptResponse {
                encrypted_payload: ct.clone(),
                encrypted_payload_without_message_authentication_code: Some(ct),
                initialization_vector: None,
                message_authentication_code: None,
            }
        }
        m => return Err(no_key_cipher(&r.cipher_algorithm, m)),
    };
    json_response(200, &resp)
}

/// Decrypt a `decryptRequest` with any key: RSA as before, AES with the IV, AAD and tag length
/// of the request (the IV "used to encrypt the payload", S3 `DecryptRequestDto.java`).
pub(super) fn decrypt(m: &Material, r: &DecryptRequest) -> Result<Vec<u8>, ApiError> {
    let ct = b64(
        "encryptedPayload",
        &r.encrypted_payload,
        codes::INVALID_PAYLOAD,
    )?;
    match m {
        Material::Asym(k) => Ok(k.decrypt(&r.cipher_algorithm, &ct)?),
        Material::Secret(k) => {
            let c = aes_cipher(&r.cipher_algorithm)
                .ok_or_else(|| no_key_cipher(&r.cipher_algorithm, m))?;
            let iv = optional_b64("initializationVector", r.initialization_vector.as_ref())?;
            let aad = optional_b64(
                "additionalAuthenticationData",
                r.additional_authentication_data.as_ref(),
            )?;
            let tag_len = if c.mode == AesMode::Gcm {
                tag_bytes(r.tag_length)?
            } else {
                0
            };
            Ok(k.decrypt(c, &ct, &iv, &aad, tag_len)?)
        }
        Material::Pqc(_) => Err(no_key_cipher(&r.cipher_algorithm, m)),
    }
}

fn hmac_key(m: &Material) -> Result<&crate::secret::SecretKey, ApiError> {
    match m {
        Material::Secret(k) if k.algorithm == SecretKeyAlgorithm::HmacSha256 => Ok(k),
        other => Err(CryptoError::AlgorithmNotSupportedByKey(format!(
            "HMAC needs an HMACSHA256 key, not a {} key",
            other.key_type().name()
        ))
        .into()),
    }
}

/// `POST /v1/synchronousHmac` → 200 `{"keyedHash": b64}` (TSB ≥ 2.0.1; the route answers 404
/// before). An HMAC key has no policy, so there is no asynchronous variant, and none is
/// documented.
pub(super) fn hmac(shared: &Shared, body: &[u8]) -> ApiResult {
    let env: HmacEnvelope = from_value(parse_checked(shared, body, &SIGNED_HMAC)?)?;
    let r = env.hmac_request;
    let payload = b64("payload", &r.payload, codes::INVALID_PAYLOAD)?;
    let p = prepare_for(
        &shared.store.lock(),
        &r.key_name,
        PasswordCheck::Given(r.key_password.as_ref()),
        Need::Sign,
    )?;
    let mac = hmac_key(&p.material)?.hmac(&payload)?;
    json_response(
        200,
        &HmacResponse {
            keyed_hash: B64.encode(mac),
        },
    )
}

/// HMAC verification (`{"verifyHmacRequest": ...}` on `POST /v1/verify`) → 200
/// `{"signatureValid": bool}`. The key needs `verify` (absent means allowed for secret keys).
pub(super) fn verify_hmac(shared: &Shared, body: &[u8]) -> ApiResult {
    let env: VerifyHmacEnvelope = from_value(parse_checked(shared, body, &SIGNED_VERIFY_HMAC)?)?;
    let r = env.verify_hmac_request;
    let payload = b64("payload", &r.payload, codes::INVALID_PAYLOAD)?;
    let mac = b64("signature", &r.signature, codes::INVALID_PAYLOAD)?;
    let p = prepare_for(
        &shared.store.lock(),
        &r.key_name,
        PasswordCheck::Given(r.key_password.as_ref()),
        Need::Verify,
    )?;
    let valid = hmac_key(&p.material)?.hmac_verify(&payload, &mac)?;
    json_response(
        200,
        &VerifyResponse {
            signature_valid: valid,
        },
    )
}
