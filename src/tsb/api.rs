//! Typed TSB endpoints over [`Client`]. Each function is one REST call; whether it may be retried
//! is decided here, next to the endpoint, so that nothing that creates a request for approvers is
//! ever sent twice.

use super::client::{Client, Idempotency};
use crate::error::{Error, Result};
use base64::Engine;
use reqwest::Method;
use tsb_models::paths;
use tsb_models::*;

/// Percent-encode one path segment (key labels may contain anything but `/`).
pub(crate) use tsb_models::paths::segment as encode_segment;

/// Base64 (standard, padded) as the TSB uses everywhere.
pub(crate) fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decode TSB base64, tolerating missing padding and embedded newlines.
pub(crate) fn unb64(s: &str, what: &str) -> Result<Vec<u8>> {
    let cleaned: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .or_else(|_| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(cleaned.trim_end_matches('=').as_bytes())
        })
        .map_err(|e| Error::Transport(format!("TSB returned invalid base64 for {what}: {e}")))
}

/// `GET /v1/key`: all key labels.
pub(crate) fn list_keys(c: &Client) -> Result<Vec<String>> {
    c.call(Method::GET, paths::KEY, None::<&()>, Idempotency::Retry)
}

/// `POST /v1/key/attributes`; `Ok(None)` when the key does not exist.
pub(crate) fn key_attributes(c: &Client, label: &str) -> Result<Option<KeyAttributes>> {
    let body = KeyLabelRequest {
        label: label.to_string(),
        password: None,
    };
    match c.call::<SignedKeyAttributes>(
        Method::POST,
        paths::KEY_ATTRIBUTES,
        Some(&body),
        Idempotency::Retry,
    ) {
        Ok(k) => Ok(Some(k.json)),
        Err(Error::Tsb {
            code: Some(codes::KEY_NOT_EXISTENT),
            ..
        }) => Ok(None),
        Err(Error::Tsb { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `POST /v1/key`.
pub(crate) fn create_key(c: &Client, req: &CreateKeyRequest) -> Result<KeyAttributes> {
    let k: SignedKeyAttributes = c.call(Method::POST, paths::KEY, Some(req), Idempotency::Once)?;
    Ok(k.json)
}

/// `POST /v1/key/deleteKey` with the label in the body, as Securosys' Go client does
/// (securosys-com/tsb-client-go `key.go`, `RemoveKey`): a label in the URL path breaks on labels
/// with `/` (derivation paths on the TSB), `%` or great length, and every key the TSB lists must
/// be deletable.
pub(crate) fn delete_key(c: &Client, label: &str) -> Result<()> {
    let body = KeyLabelRequest {
        label: label.to_string(),
        password: None,
    };
    c.call_raw(
        Method::POST,
        paths::KEY_DELETE,
        Some(&body),
        Idempotency::Once,
    )
    .map(|_| ())
}

/// `GET /v1/certificate/{label}`: DER of the key's certificate, `Ok(None)` when it has none.
pub(crate) fn get_certificate(c: &Client, label: &str) -> Result<Option<Vec<u8>>> {
    let path = paths::certificate(label);
    match c.call::<CertificateBody>(Method::GET, &path, None::<&()>, Idempotency::Retry) {
        Ok(b) => pem_or_b64_to_der(&b.certificate).map(Some),
        Err(Error::Tsb { status: 404, .. }) => Ok(None),
        Err(Error::Tsb {
            code: Some(codes::KEY_NOT_EXISTENT),
            ..
        }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `POST /v1/certificate/import/plain` with base64 DER.
pub(crate) fn import_certificate(c: &Client, label: &str, der: &[u8]) -> Result<()> {
    let body = CertificateBody {
        label: label.to_string(),
        certificate: b64(der),
    };
    c.call_raw(
        Method::POST,
        paths::CERTIFICATE_IMPORT_PLAIN,
        Some(&body),
        Idempotency::Once,
    )
    .map(|_| ())
}

/// `DELETE /v1/certificate/{label}`.
pub(crate) fn delete_certificate(c: &Client, label: &str) -> Result<()> {
    let path = paths::certificate(label);
    c.call_raw(Method::DELETE, &path, None::<&()>, Idempotency::Once)
        .map(|_| ())
}

/// PEM (any armour) or bare base64 to DER.
pub(crate) fn pem_or_b64_to_der(s: &str) -> Result<Vec<u8>> {
    let body: String = s
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("");
    unb64(&body, "certificate")
}

/// `GET /v1/generateRandom/{n}`.
pub(crate) fn generate_random(c: &Client, n: usize) -> Result<Vec<u8>> {
    let r: RandomResponse = c.call(
        Method::GET,
        &paths::generate_random(n),
        None::<&()>,
        Idempotency::Retry,
    )?;
    unb64(&r.random, "random")
}

/// `POST /v1/synchronousSign`: signature bytes.
pub(crate) fn sign_sync(
    c: &Client,
    label: &str,
    algorithm: &str,
    payload: &[u8],
) -> Result<Vec<u8>> {
    let body = SignEnvelope {
        sign_request: sign_request(label, algorithm, payload, None),
        request_signature: None,
    };
    // No approvals are involved, and a repeated signature is harmless, but an HSM operation is
    // still not repeated behind the caller's back: Once.
    let r: SignResponse = c.call(
        Method::POST,
        paths::SYNCHRONOUS_SIGN,
        Some(&body),
        Idempotency::Once,
    )?;
    unb64(&r.signature, "signature")
}

fn sign_request(label: &str, algorithm: &str, payload: &[u8], meta: Option<String>) -> SignRequest {
    SignRequest {
        payload: b64(payload),
        payload_type: Some(PAYLOAD_TYPE_UNSPECIFIED.into()),
        sign_key_name: label.to_string(),
        key_password: None,
        signature_algorithm: algorithm.to_string(),
        signature_type: None,
        meta_data: meta,
        meta_data_signature: None,
    }
}

/// The `metaData` shown to approvers: base64 of a small JSON map, as Securosys' Go client does.
pub(crate) fn meta_data(kind: &str, extra: &[(&str, String)]) -> String {
    let mut m = serde_json::Map::new();
    m.insert(
        "time".into(),
        serde_json::Value::String(crate::util::now_rfc3339()),
    );
    m.insert(
        "app".into(),
        serde_json::Value::String(crate::util::process_name()),
    );
    m.insert("type".into(), serde_json::Value::String(kind.into()));
    for (k, v) in extra {
        m.insert((*k).into(), serde_json::Value::String(v.clone()));
    }
    b64(serde_json::Value::Object(m).to_string().as_bytes())
}

/// `POST /v1/sign`: the request id. Never retried.
pub(crate) fn sign_async(
    c: &Client,
    label: &str,
    algorithm: &str,
    payload: &[u8],
) -> Result<String> {
    let meta = meta_data("Sign", &[("signatureAlgorithm", algorithm.to_string())]);
    let body = SignEnvelope {
        sign_request: sign_request(label, algorithm, payload, Some(meta)),
        request_signature: None,
    };
    let r: SignRequestId = c.call(Method::POST, paths::SIGN, Some(&body), Idempotency::Once)?;
    Ok(r.sign_request_id)
}

fn decrypt_request(
    label: &str,
    algorithm: &str,
    data: &[u8],
    meta: Option<String>,
) -> DecryptRequest {
    DecryptRequest {
        encrypted_payload: b64(data),
        decrypt_key_name: label.to_string(),
        key_password: None,
        cipher_algorithm: algorithm.to_string(),
        initialization_vector: None,
        additional_authentication_data: None,
        tag_length: None,
        meta_data: meta,
        meta_data_signature: None,
    }
}

/// `POST /v1/synchronousDecrypt`: plaintext.
pub(crate) fn decrypt_sync(
    c: &Client,
    label: &str,
    algorithm: &str,
    data: &[u8],
) -> Result<Vec<u8>> {
    let body = DecryptEnvelope {
        decrypt_request: decrypt_request(label, algorithm, data, None),
        request_signature: None,
    };
    let r: DecryptResponse = c.call(
        Method::POST,
        paths::SYNCHRONOUS_DECRYPT,
        Some(&body),
        Idempotency::Once,
    )?;
    unb64(&r.payload, "plaintext")
}

/// `POST /v1/decrypt`: the request id. Never retried.
pub(crate) fn decrypt_async(
    c: &Client,
    label: &str,
    algorithm: &str,
    data: &[u8],
) -> Result<String> {
    let meta = meta_data("Decrypt", &[("cipherAlgorithm", algorithm.to_string())]);
    let body = DecryptEnvelope {
        decrypt_request: decrypt_request(label, algorithm, data, Some(meta)),
        request_signature: None,
    };
    let r: DecryptRequestId =
        c.call(Method::POST, paths::DECRYPT, Some(&body), Idempotency::Once)?;
    Ok(r.decrypt_request_id)
}

/// `GET /v1/request/{id}`.
pub(crate) fn request_status(c: &Client, id: &str) -> Result<RequestStatus> {
    c.call(
        Method::GET,
        &paths::request(id),
        None::<&()>,
        Idempotency::Retry,
    )
}

/// `DELETE /v1/request/{id}`; an unknown request counts as already gone.
pub(crate) fn cancel_request(c: &Client, id: &str) -> Result<()> {
    match c.call_raw(
        Method::DELETE,
        &paths::request(id),
        None::<&()>,
        Idempotency::Retry,
    ) {
        Ok(_) => Ok(()),
        Err(Error::Tsb { status: 404, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `POST /v1/certificate/synchronous/request`: PEM CSR.
pub(crate) fn csr_sync(c: &Client, req: &CsrRequest) -> Result<String> {
    let r: CsrResponse = c.call(
        Method::POST,
        paths::CERTIFICATE_SYNCHRONOUS_REQUEST,
        Some(req),
        Idempotency::Once,
    )?;
    Ok(r.certificate_signing_request)
}

/// `POST /v1/certificate/request`: the request id. Never retried.
pub(crate) fn csr_async(c: &Client, req: &CsrRequest) -> Result<String> {
    let body = CsrEnvelope {
        csr_sign_request: req.clone(),
        request_signature: None,
    };
    let r: SignRequestId = c.call(
        Method::POST,
        paths::CERTIFICATE_REQUEST,
        Some(&body),
        Idempotency::Once,
    )?;
    Ok(r.sign_request_id)
}

/// `POST /v1/certificate/synchronous/selfsign`: PEM certificate.
pub(crate) fn selfsign_sync(c: &Client, req: &SelfSignRequest) -> Result<String> {
    let r: CertificateBody = c.call(
        Method::POST,
        paths::CERTIFICATE_SYNCHRONOUS_SELFSIGN,
        Some(req),
        Idempotency::Once,
    )?;
    Ok(r.certificate)
}

/// `POST /v1/certificate/selfsign`: the request id.
pub(crate) fn selfsign_async(c: &Client, req: &SelfSignRequest) -> Result<String> {
    let body = SelfSignEnvelope {
        self_sign_certificate_request: req.clone(),
        request_signature: None,
    };
    let r: SignRequestId = c.call(
        Method::POST,
        paths::CERTIFICATE_SELFSIGN,
        Some(&body),
        Idempotency::Once,
    )?;
    Ok(r.sign_request_id)
}

/// `POST /v1/certificate/synchronous/sign`: PEM certificate.
pub(crate) fn sign_certificate_sync(c: &Client, req: &SignCertificateRequest) -> Result<String> {
    let r: CertificateBody = c.call(
        Method::POST,
        paths::CERTIFICATE_SYNCHRONOUS_SIGN,
        Some(req),
        Idempotency::Once,
    )?;
    Ok(r.certificate)
}

/// `POST /v1/certificate/sign`: the request id.
pub(crate) fn sign_certificate_async(c: &Client, req: &SignCertificateRequest) -> Result<String> {
    let body = SignCertificateEnvelope {
        sign_certificate_request: req.clone(),
        request_signature: None,
    };
    let r: SignRequestId = c.call(
        Method::POST,
        paths::CERTIFICATE_SIGN,
        Some(&body),
        Idempotency::Once,
    )?;
    Ok(r.sign_request_id)
}
