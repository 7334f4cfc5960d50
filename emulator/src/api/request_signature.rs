//! Request-signature whitelisting (TSB 2.2.0, `allowedRequestCertificates`): when certificates
//! are configured, every body whose DTO has a `requestSignature` (the `Signed*RequestDto`
//! envelopes) must carry a valid one by the key of one of them.
//!
//! Sources: S2 `tsb/Download/release_notes.md` 2.2.0 ("Whitelisted certificates are required to
//! sign requests if enabled"); S3 `dto/tsb/request/SignatureDto.java` (`signature` as the JDK's
//! `Signature.sign()` returns it, `digestAlgorithm` `SHA-224` .. `SHA3-512`, `publicKey` base64);
//! S1 `tsb_client.go` `GenerateRequestSignature` (what is signed: the inner request's JSON text
//! passed through Go's `json.Compact`, i.e. the text as sent with the whitespace between tokens
//! removed; SHA-256 with RSA PKCS#1 v1.5; `publicKey` the application's public key).
//!
//! Not confirmed by any source, and chosen here: `publicKey` is a base64 DER SubjectPublicKeyInfo
//! and must equal the key of a whitelisted certificate; a missing signature or one by another key
//! answers errorCode 415 `res.error.request.signer.not.allowed` (the `BusinessReason` of that
//! name), a signature that does not verify 403 `res.error.input.invalid.signature`; the
//! synchronous certificate endpoints, whose DTOs have no `requestSignature` (commented out in S3
//! `SynchronousCertificateRequestRequestDto.java`), need none.

use super::validate::{Dto, Ty};
use super::{b64, ApiError};
use crate::{crypto, Shared};
use serde_json::value::RawValue;
use std::collections::HashMap;
use tsb_models::codes;

const FIELD: &str = "requestSignature";

/// Check the request signature of `body` (already validated against `dto`) when the
/// configuration whitelists certificates.
pub(super) fn check(shared: &Shared, body: &[u8], dto: &Dto) -> Result<(), ApiError> {
    let allowed = &shared.cfg.allowed_request_certificates;
    if allowed.is_empty() || !dto.fields.iter().any(|f| f.name == FIELD) {
        return Ok(());
    }
    // The envelope's other member is the signed request.
    let Some(inner) = dto
        .fields
        .iter()
        .find(|f| f.name != FIELD && matches!(f.ty, Ty::Dto(..)))
    else {
        return Ok(());
    };
    let members: HashMap<String, &RawValue> = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(codes::INVALID_JSON, e.to_string()))?;
    let not_allowed = |m: &str| ApiError::new(codes::REQUEST_SIGNER_NOT_ALLOWED, m.to_string());
    let signature = members
        .get(FIELD)
        .filter(|r| r.get() != "null")
        .ok_or_else(|| {
            not_allowed("a request signature by a whitelisted certificate is required")
        })?;
    let signature: tsb_models::RequestSignature = serde_json::from_str(signature.get())
        .map_err(|e| ApiError::new(codes::VALIDATION_FAILED, e.to_string()))?;
    let public_key = b64(
        "requestSignature.publicKey",
        &signature.public_key,
        codes::VALIDATION_FAILED,
    )?;
    let whitelisted = allowed
        .iter()
        .filter_map(|cert| crypto::certificate_spki_der(cert).ok())
        .any(|spki| spki == public_key);
    if !whitelisted {
        return Err(not_allowed(
            "the request is signed by a key of no whitelisted certificate",
        ));
    }
    let signed = compact(members.get(inner.name).map(|r| r.get()).unwrap_or("null"));
    let sig = b64(
        "requestSignature.signature",
        &signature.signature,
        codes::INVALID_SIGNATURE,
    )?;
    let ok = crypto::verify_approver_signature(
        &public_key,
        false,
        &signature.digest_algorithm,
        signed.as_bytes(),
        &sig,
    )
    .map_err(|e| ApiError::new(codes::INVALID_SIGNATURE, e.to_string()))?;
    if !ok {
        return Err(ApiError::new(
            codes::INVALID_SIGNATURE,
            "the request signature does not verify",
        ));
    }
    Ok(())
}

/// JSON text without the whitespace between tokens (Go's `json.Compact`): strings, their escapes
/// and the order of members stay as sent.
pub(super) fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_keeps_strings_and_order() {
        assert_eq!(
            compact("{ \"b\" : [1, 2],\n\t\"a\": \"x y\\\" z\" }"),
            "{\"b\":[1,2],\"a\":\"x y\\\" z\"}"
        );
        assert_eq!(compact("\"\\\\\" "), "\"\\\\\"");
    }
}
