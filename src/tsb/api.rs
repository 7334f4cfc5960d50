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
    // Whitespace (a PEM-style line-wrapped answer) is dropped first; an answer without any, the
    // usual one, is decoded as it is, without a copy (issue 15: the module's own time per sign).
    // (Bytes, not chars: a byte scan; anything not ASCII goes the slow way, as before.)
    let plain = s.bytes().all(|b| b.is_ascii() && !b.is_ascii_whitespace());
    let cleaned: std::borrow::Cow<str> = if !plain {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .into()
    } else {
        s.into()
    };
    base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .or_else(|_| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(cleaned.trim_end_matches('=').as_bytes())
        })
        .map_err(|e| Error::Transport(format!("TSB returned invalid base64 for {what}: {e}")))
}

/// `GET /v1/versionInfo`: the TSB's version (S2 `tsb/Quickstart/cloud-quickstart.md`:
/// `{"Version":"2.1.0"}`, also `1.17.1.20231211T114600`).
pub(crate) fn version_info(c: &Client) -> Result<TsbVersion> {
    let v: VersionInfo = c.call(
        Method::GET,
        paths::VERSION_INFO,
        None::<&()>,
        Idempotency::Retry,
    )?;
    TsbVersion::parse(&v.version).ok_or_else(|| {
        Error::Transport(format!(
            "GET {}: {:?} is not a version",
            paths::VERSION_INFO,
            v.version.chars().take(40).collect::<String>()
        ))
    })
}

/// `GET /v1/key`: all key labels.
pub(crate) fn list_keys(c: &Client) -> Result<Vec<String>> {
    c.call(Method::GET, paths::KEY, None::<&()>, Idempotency::Retry)
}

/// Whether a label goes in a URL path instead of a JSON body: a label with `/` names a derived
/// key in a body ("For derived keys ..., append the full derivation path to the key name, e.g.
/// MyKey/1/2/3", S3 `dto/tsb/request/KeyLabelWithPasswordDto.java`; "Character '/' is used for
/// key-derivation ... encode the keyname contains '/'", S3 `SignedSynchronousSignRequestDto.java`),
/// while a percent-encoded `%2F` in a path segment is a literal slash. So a key whose own label
/// has a `/` (never one the module creates: see `token::label`) is read and deleted through the
/// path forms, as long as it needs no password (only the POST forms carry one, S2 release notes
/// 1.14.0). Operations that exist only with a body (sign, decrypt, certificates) send the label
/// as it is: no source says how a TSB reads it there (unconfirmed).
/// (A label too long for a URL path, see `cache::MAX_LABEL_IN_PATH`, stays in the body.)
fn label_in_path(c: &Client, label: &str) -> bool {
    label.contains('/')
        && !c.has_key_password(label)
        && encode_segment(label).len() <= super::cache::MAX_LABEL_IN_PATH
}

/// `POST /v1/key/attributes` (or `GET /v1/key/{label}/attributes`, see [`label_in_path`]);
/// `Ok(None)` when the key does not exist.
pub(crate) fn key_attributes(c: &Client, label: &str) -> Result<Option<KeyAttributes>> {
    let r = if label_in_path(c, label) {
        c.call::<SignedKeyAttributes>(
            Method::GET,
            &paths::key_attributes(label),
            None::<&()>,
            Idempotency::Retry,
        )
    } else {
        let body = KeyLabelRequest {
            label: label.to_string(),
            password: c.key_password(label),
        };
        c.call::<SignedKeyAttributes>(
            Method::POST,
            paths::KEY_ATTRIBUTES,
            Some(&body),
            Idempotency::Retry,
        )
    };
    match r {
        Ok(k) => Ok(Some(k.json)),
        Err(Error::Tsb {
            code: Some(codes::KEY_NOT_EXISTENT),
            ..
        }) => Ok(None),
        Err(Error::Tsb { status: 404, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `POST /v1/key`, with the slot's password for the label when one is configured (and the
/// request has none).
pub(crate) fn create_key(c: &Client, req: &CreateKeyRequest) -> Result<KeyAttributes> {
    let mut req = req.clone();
    if req.password.is_none() {
        req.password = c.key_password(&req.label);
    }
    let k: SignedKeyAttributes = c.call(Method::POST, paths::KEY, Some(&req), Idempotency::Once)?;
    Ok(k.json)
}

/// `POST /v1/key/deleteKey` with the label (and password) in the body, as Securosys' Go client
/// does (securosys-com/tsb-client-go `key.go`, `RemoveKey`): a label in the URL path breaks on
/// labels with `%` or great length, and every key the TSB lists must be deletable. A label with
/// `/` and no password: `DELETE /v1/key/{label}` (see [`label_in_path`]).
pub(crate) fn delete_key(c: &Client, label: &str) -> Result<()> {
    if label_in_path(c, label) {
        return c
            .call_raw(
                Method::DELETE,
                &paths::key(label),
                None::<&()>,
                Idempotency::Once,
            )
            .map(|_| ());
    }
    let body = KeyLabelRequest {
        label: label.to_string(),
        password: c.key_password(label),
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
/// The answer's `certificate` is read (S3 `dto/tsb/response/CertificateResponseDto.java`, S1
/// `certs.go`); S6 reads `rawCertificate`, which only its newer DTO shapes add (audit divergence
/// #15: the emulator's 2.3 profile answers both).
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

/// `GET /v1/generateRandom/{n}`, with the `keyOperationToken` API key: the TSB's own role table
/// (S2 `tsb/Concepts/authentication/authentication.md`, in `tsb_models::role_for_path`), where S1
/// `random.go` sends the `serviceToken` key (audit divergence #13, kept: the TSB's table wins).
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
    let inner = sign_request(c, label, algorithm, payload, None);
    let body = SignEnvelope {
        request_signature: c.request_signature(&inner)?,
        sign_request: inner,
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

fn sign_request(
    c: &Client,
    label: &str,
    algorithm: &str,
    payload: &[u8],
    meta: Option<Meta>,
) -> SignRequest {
    let (meta_data, meta_data_signature) = Meta::split(meta);
    SignRequest {
        payload: b64(payload),
        payload_type: Some(PAYLOAD_TYPE_UNSPECIFIED.into()),
        sign_key_name: label.to_string(),
        key_password: c.key_password(label),
        signature_algorithm: algorithm.to_string(),
        signature_type: None,
        meta_data,
        meta_data_signature,
        context: None,
    }
}

/// The `metaData` shown to approvers (base64 of a small JSON map, as Securosys' Go client makes
/// it: S1 `tsb_client.go` `PrepareMetaData`), with its `metaDataSignature` when the slot has a
/// request-signing key.
pub(crate) struct Meta {
    /// Base64 of the JSON.
    pub(crate) data: String,
    /// Base64 signature of the JSON by the request-signing key.
    pub(crate) signature: Option<String>,
}

impl Meta {
    fn split(m: Option<Meta>) -> (Option<String>, Option<String>) {
        match m {
            Some(m) => (Some(m.data), m.signature),
            None => (None, None),
        }
    }
}

/// The [`Meta`] of a request of `kind` ("Sign", "Decrypt", ...): `time`, `app` and `type`, as
/// S1 sends them, and `extra`.
pub(crate) fn meta_data(c: &Client, kind: &str, extra: &[(&str, String)]) -> Meta {
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
    let json = serde_json::Value::Object(m).to_string();
    Meta {
        data: b64(json.as_bytes()),
        signature: c.meta_data_signature(json.as_bytes()),
    }
}

/// `POST /v1/sign`: the request id. Never retried.
pub(crate) fn sign_async(
    c: &Client,
    label: &str,
    algorithm: &str,
    payload: &[u8],
) -> Result<String> {
    sign_async_with_context(c, label, algorithm, payload, None)
}

/// `POST /v1/sign` with an ML-DSA / SLH-DSA `context` (only this endpoint takes one: S3
/// `SignRequestDto.java` has `context`, `SynchronousSignRequestDto.java` has none). The approvers'
/// `metaData` shows the context too (base64), so they see what the signature is bound to.
pub(crate) fn sign_async_with_context(
    c: &Client,
    label: &str,
    algorithm: &str,
    payload: &[u8],
    context: Option<&[u8]>,
) -> Result<String> {
    let mut extra = vec![("signatureAlgorithm", algorithm.to_string())];
    if let Some(ctx) = context {
        extra.push(("context", b64(ctx)));
    }
    let meta = meta_data(c, "Sign", &extra);
    let mut inner = sign_request(c, label, algorithm, payload, Some(meta));
    inner.context = context.map(b64);
    let body = SignEnvelope {
        request_signature: c.request_signature(&inner)?,
        sign_request: inner,
    };
    let r: SignRequestId = c.call(Method::POST, paths::SIGN, Some(&body), Idempotency::Once)?;
    Ok(r.sign_request_id)
}

fn decrypt_request(
    c: &Client,
    label: &str,
    algorithm: &str,
    data: &[u8],
    meta: Option<Meta>,
) -> DecryptRequest {
    let (meta_data, meta_data_signature) = Meta::split(meta);
    DecryptRequest {
        encrypted_payload: b64(data),
        decrypt_key_name: label.to_string(),
        key_password: c.key_password(label),
        cipher_algorithm: algorithm.to_string(),
        initialization_vector: None,
        additional_authentication_data: None,
        tag_length: None,
        meta_data,
        meta_data_signature,
    }
}

/// `POST /v1/synchronousDecrypt`: plaintext.
pub(crate) fn decrypt_sync(
    c: &Client,
    label: &str,
    algorithm: &str,
    data: &[u8],
) -> Result<Vec<u8>> {
    let inner = decrypt_request(c, label, algorithm, data, None);
    let body = DecryptEnvelope {
        request_signature: c.request_signature(&inner)?,
        decrypt_request: inner,
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
    let meta = meta_data(c, "Decrypt", &[("cipherAlgorithm", algorithm.to_string())]);
    let inner = decrypt_request(c, label, algorithm, data, Some(meta));
    let body = DecryptEnvelope {
        request_signature: c.request_signature(&inner)?,
        decrypt_request: inner,
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

/// `DELETE /v1/request/{id}`; a request the TSB does not know (404) or that has already ended
/// (500) counts as gone: securosys-com/tsb-client-go `requests.go` `RemoveRequest` treats
/// exactly those two as "already removed" (S1; which case gives which status is not documented).
pub(crate) fn cancel_request(c: &Client, id: &str) -> Result<()> {
    match c.call_raw(
        Method::DELETE,
        &paths::request(id),
        None::<&()>,
        Idempotency::Retry,
    ) {
        Ok(_) => Ok(()),
        Err(Error::Tsb {
            status: 404 | 500, ..
        }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `POST /v1/certificate/synchronous/request`: PEM CSR.
pub(crate) fn csr_sync(c: &Client, req: &CsrRequest) -> Result<String> {
    let req = CsrRequest {
        key_password: c.key_password(&req.sign_key_name),
        ..req.clone()
    };
    let r: CsrResponse = c.call(
        Method::POST,
        paths::CERTIFICATE_SYNCHRONOUS_REQUEST,
        Some(&req),
        Idempotency::Once,
    )?;
    Ok(r.certificate_signing_request)
}

/// `POST /v1/certificate/request`: the request id. Never retried.
pub(crate) fn csr_async(c: &Client, req: &CsrRequest) -> Result<String> {
    let inner = CsrRequest {
        key_password: c.key_password(&req.sign_key_name),
        ..req.clone()
    };
    let body = CsrEnvelope {
        request_signature: c.request_signature(&inner)?,
        csr_sign_request: inner,
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
    let req = SelfSignRequest {
        key_password: c.key_password(&req.sign_key_name),
        ..req.clone()
    };
    let r: CertificateBody = c.call(
        Method::POST,
        paths::CERTIFICATE_SYNCHRONOUS_SELFSIGN,
        Some(&req),
        Idempotency::Once,
    )?;
    Ok(r.certificate)
}

/// `POST /v1/certificate/selfsign`: the request id.
pub(crate) fn selfsign_async(c: &Client, req: &SelfSignRequest) -> Result<String> {
    let inner = SelfSignRequest {
        key_password: c.key_password(&req.sign_key_name),
        ..req.clone()
    };
    let body = SelfSignEnvelope {
        request_signature: c.request_signature(&inner)?,
        self_sign_certificate_request: inner,
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
    let req = SignCertificateRequest {
        key_password: c.key_password(&req.sign_key_name),
        ..req.clone()
    };
    let r: CertificateBody = c.call(
        Method::POST,
        paths::CERTIFICATE_SYNCHRONOUS_SIGN,
        Some(&req),
        Idempotency::Once,
    )?;
    Ok(r.certificate)
}

/// `POST /v1/certificate/sign`: the request id.
pub(crate) fn sign_certificate_async(c: &Client, req: &SignCertificateRequest) -> Result<String> {
    let inner = SignCertificateRequest {
        key_password: c.key_password(&req.sign_key_name),
        ..req.clone()
    };
    let body = SignCertificateEnvelope {
        request_signature: c.request_signature(&inner)?,
        sign_certificate_request: inner,
    };
    let r: SignRequestId = c.call(
        Method::POST,
        paths::CERTIFICATE_SIGN,
        Some(&body),
        Idempotency::Once,
    )?;
    Ok(r.sign_request_id)
}

#[cfg(test)]
mod tests {
    use super::unb64;

    #[test]
    fn base64_with_or_without_whitespace_and_padding() {
        for s in [
            "AQID/w==",
            "AQID/w",
            "AQ\r\nID /w==\n",
            " AQID/w",
            "AQID\u{2003}/w==",
        ] {
            assert_eq!(unb64(s, "x").expect(s), [1, 2, 3, 255], "{s:?}");
        }
        assert!(unb64("AQ*D", "x").is_err());
    }
}
