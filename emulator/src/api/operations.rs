//! Key operations, shared by the synchronous endpoints and SKA request execution: sign,
//! verify, decrypt, CSRs and certificates, block and unblock, random.

use super::keys::{check_key_password, key_not_found};
use super::{b64, empty_ok, from_value, json_response, parse, persist, ApiError, ApiResult};
use crate::crypto::KeyMaterial;
use crate::ska::EngineRule;
use crate::store::{KeyRules, RequestKind, Store};
use crate::{x509, Shared};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use tsb_models::algorithms;
use tsb_models::codes;
use tsb_models::*;

/// Default validity of certificates when the request gives none.
const DEFAULT_VALIDITY_DAYS: u32 = 365;

/// One key operation, parsed from a request body.
// Short-lived (one per request), so the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Operation {
    Sign(SignRequest),
    Decrypt(DecryptRequest),
    Csr(CsrRequest),
    SelfSign(SelfSignRequest),
    SignCertificate(SignCertificateRequest),
    Block(BlockRequest),
    Unblock(UnblockRequest),
}

impl Operation {
    /// Parse the outer body of an asynchronous request.
    pub(super) fn from_request(kind: RequestKind, outer: &Value) -> Result<Operation, ApiError> {
        let v = outer.clone();
        Ok(match kind {
            RequestKind::Sign => Operation::Sign(from_value::<SignEnvelope>(v)?.sign_request),
            RequestKind::Decrypt => {
                Operation::Decrypt(from_value::<DecryptEnvelope>(v)?.decrypt_request)
            }
            RequestKind::Csr => Operation::Csr(from_value::<CsrEnvelope>(v)?.csr_sign_request),
            RequestKind::SelfSign => Operation::SelfSign(
                from_value::<SelfSignEnvelope>(v)?.self_sign_certificate_request,
            ),
            RequestKind::SignCertificate => Operation::SignCertificate(
                from_value::<SignCertificateEnvelope>(v)?.sign_certificate_request,
            ),
            RequestKind::Block => Operation::Block(from_value::<BlockEnvelope>(v)?.block_request),
            RequestKind::Unblock => {
                Operation::Unblock(from_value::<UnblockEnvelope>(v)?.unblock_request)
            }
        })
    }

    pub(super) fn kind(&self) -> RequestKind {
        match self {
            Operation::Sign(_) => RequestKind::Sign,
            Operation::Decrypt(_) => RequestKind::Decrypt,
            Operation::Csr(_) => RequestKind::Csr,
            Operation::SelfSign(_) => RequestKind::SelfSign,
            Operation::SignCertificate(_) => RequestKind::SignCertificate,
            Operation::Block(_) => RequestKind::Block,
            Operation::Unblock(_) => RequestKind::Unblock,
        }
    }

    pub(super) fn key_name(&self) -> &str {
        match self {
            Operation::Sign(r) => &r.sign_key_name,
            Operation::Decrypt(r) => &r.decrypt_key_name,
            Operation::Csr(r) => &r.sign_key_name,
            Operation::SelfSign(r) => &r.sign_key_name,
            Operation::SignCertificate(r) => &r.sign_key_name,
            Operation::Block(r) => &r.block_key_name,
            Operation::Unblock(r) => &r.unblock_key_name,
        }
    }

    pub(super) fn password(&self) -> Option<&Password> {
        match self {
            Operation::Sign(r) => r.key_password.as_ref(),
            Operation::Decrypt(r) => r.key_password.as_ref(),
            Operation::Csr(r) => r.key_password.as_ref(),
            Operation::SelfSign(r) => r.key_password.as_ref(),
            Operation::SignCertificate(r) => r.key_password.as_ref(),
            Operation::Block(r) => r.key_password.as_ref(),
            Operation::Unblock(r) => r.key_password.as_ref(),
        }
    }

    /// Input checks that need no key: base64 payloads and algorithm names.
    pub(super) fn validate(&self) -> Result<(), ApiError> {
        match self {
            Operation::Sign(r) => {
                b64("payload", &r.payload, codes::INVALID_PAYLOAD)?;
                known_signature_algorithm(&r.signature_algorithm)
            }
            Operation::Decrypt(r) => {
                b64(
                    "encryptedPayload",
                    &r.encrypted_payload,
                    codes::INVALID_PAYLOAD,
                )?;
                known_cipher_algorithm(&r.cipher_algorithm)
            }
            Operation::Csr(r) => known_signature_algorithm(&r.signature_algorithm),
            Operation::SelfSign(r) => known_signature_algorithm(&r.signature_algorithm),
            Operation::SignCertificate(r) => known_signature_algorithm(&r.signature_algorithm),
            Operation::Block(_) | Operation::Unblock(_) => Ok(()),
        }
    }

    /// The bytes approvers see as the payload (in `approvalToBeSigned` and level2 `payload`).
    pub(super) fn approval_payload(&self, outer: &Value) -> Vec<u8> {
        match self {
            Operation::Sign(r) => {
                b64("payload", &r.payload, codes::INVALID_PAYLOAD).unwrap_or_default()
            }
            Operation::Decrypt(r) => b64(
                "encryptedPayload",
                &r.encrypted_payload,
                codes::INVALID_PAYLOAD,
            )
            .unwrap_or_default(),
            Operation::Block(r) => r.block_key_name.as_bytes().to_vec(),
            Operation::Unblock(r) => r.unblock_key_name.as_bytes().to_vec(),
            _ => {
                let inner = outer
                    .get(self.kind().request_type().envelope_field())
                    .unwrap_or(outer);
                serde_json::to_vec(inner).unwrap_or_default()
            }
        }
    }
}

/// Names outside the TSB's `signatureAlgorithm` enum ([`algorithms`]) are refused before any
/// request is created; names the key type cannot do fail at execution. The error is 607, where a
/// real TSB answers an unknown enum value with 501/600 (audit divergence #12, kept for now).
fn known_signature_algorithm(alg: &str) -> Result<(), ApiError> {
    if algorithms::is_known_signature_algorithm(alg) {
        Ok(())
    } else {
        Err(ApiError::new(
            codes::ALGORITHM_NOT_SUPPORTED_BY_KEY,
            format!("unknown signatureAlgorithm {alg}"),
        ))
    }
}

/// Like [`known_signature_algorithm`], for `cipherAlgorithm`.
fn known_cipher_algorithm(alg: &str) -> Result<(), ApiError> {
    if algorithms::cipher_algorithm(alg).is_some() {
        Ok(())
    } else {
        Err(ApiError::new(
            codes::ALGORITHM_NOT_SUPPORTED_BY_KEY,
            format!("unknown cipherAlgorithm {alg}"),
        ))
    }
}

fn is_use(kind: RequestKind) -> bool {
    !matches!(kind, RequestKind::Block | RequestKind::Unblock)
}

/// What a request needs from its key, cloned out so the store lock is not held during crypto.
pub(super) struct Prepared {
    pub(super) label: String,
    pub(super) material: KeyMaterial,
    pub(super) certificate: Option<String>,
    pub(super) rules: KeyRules,
}

/// How `prepare` treats the key password.
#[derive(Clone, Copy)]
pub(super) enum PasswordCheck<'a> {
    /// Check this password (a request as received).
    Given(Option<&'a Password>),
    /// Not checked: verification is a public-key operation, and an SKA request's password was
    /// checked when the request was created (its stored copy has none).
    Skip,
}

/// Look up and check the key of an operation: exists (650), password (620), not blocked for a
/// use (614), has the attribute the operation needs (614).
pub(super) fn prepare(
    st: &Store,
    name: &str,
    password: PasswordCheck,
    kind: RequestKind,
) -> Result<Prepared, ApiError> {
    let k = st.resolve(name).ok_or_else(|| key_not_found(name))?;
    if let PasswordCheck::Given(given) = password {
        check_key_password(k, given)?;
    }
    if is_use(kind) && k.blocked {
        return Err(ApiError::new(
            codes::OPERATION_FORBIDDEN_FOR_KEY,
            "key is blocked",
        ));
    }
    let (needed, attr) = match kind {
        RequestKind::Decrypt => (k.attributes.decrypt, "decrypt"),
        RequestKind::Block | RequestKind::Unblock => (Some(true), ""),
        _ => (k.attributes.sign, "sign"),
    };
    if needed == Some(false) {
        return Err(ApiError::new(
            codes::OPERATION_FORBIDDEN_FOR_KEY,
            format!("key {} does not have the {attr} attribute", k.label),
        ));
    }
    Ok(Prepared {
        label: k.label.clone(),
        material: k.material.clone(),
        certificate: k.certificate.clone(),
        rules: k.rules.clone(),
    })
}

pub(super) fn rule_of(rules: &KeyRules, kind: RequestKind) -> &EngineRule {
    match kind {
        RequestKind::Block => &rules.block,
        RequestKind::Unblock => &rules.unblock,
        _ => &rules.use_rule,
    }
}

/// Run an operation now. Returns the operation's result: signature/plaintext (base64), PEM CSR or
/// certificate, nothing for block/unblock. Certificates and block state are stored on the key.
pub(super) fn run_operation(
    shared: &Shared,
    op: &Operation,
    password: PasswordCheck,
) -> Result<Option<String>, ApiError> {
    let p = prepare(&shared.store.lock(), op.key_name(), password, op.kind())?;
    let key = &p.material;
    let mut store_cert: Option<(String, bool)> = None; // (PEM, replace existing)
    let mut set_blocked = None;
    let result = match op {
        Operation::Sign(r) => {
            let payload = b64("payload", &r.payload, codes::INVALID_PAYLOAD)?;
            Some(B64.encode(key.sign(&r.signature_algorithm, &payload)?))
        }
        Operation::Decrypt(r) => {
            let ct = b64(
                "encryptedPayload",
                &r.encrypted_payload,
                codes::INVALID_PAYLOAD,
            )?;
            Some(B64.encode(key.decrypt(&r.cipher_algorithm, &ct)?))
        }
        Operation::Csr(r) => {
            let csr = x509::create_csr(
                key,
                &r.signature_algorithm,
                &r.standard_certificate_attributes,
                &r.key_usage,
                &r.extended_key_usage,
            )?;
            // Like the TSB since 1.16.1: a key without a certificate gets a self-signed one. Best
            // effort: a failure here does not fail the CSR.
            if p.certificate.is_none() {
                if let Ok(cert) = x509::self_sign(
                    key,
                    &r.signature_algorithm,
                    &r.standard_certificate_attributes.common_name,
                    r.validity.unwrap_or(DEFAULT_VALIDITY_DAYS),
                    false,
                    &r.key_usage,
                    &r.extended_key_usage,
                ) {
                    store_cert = Some((cert, false));
                }
            }
            Some(csr)
        }
        Operation::SelfSign(r) => {
            let cert = x509::self_sign(
                key,
                &r.signature_algorithm,
                &r.common_name,
                r.validity.unwrap_or(DEFAULT_VALIDITY_DAYS),
                r.certificate_authority,
                &r.key_usage,
                &r.extended_key_usage,
            )?;
            store_cert = Some((cert.clone(), true));
            Some(cert)
        }
        Operation::SignCertificate(r) => Some(x509::issue_from_csr(
            key,
            p.certificate.as_deref(),
            &p.label,
            &r.certificate_signing_request,
            &r.signature_algorithm,
            r.common_name.as_deref().filter(|s| !s.is_empty()),
            r.certificate_authority,
            &r.key_usage,
            &r.extended_key_usage,
            r.validity.unwrap_or(DEFAULT_VALIDITY_DAYS),
        )?),
        Operation::Block(_) => {
            set_blocked = Some(true);
            None
        }
        Operation::Unblock(_) => {
            set_blocked = Some(false);
            None
        }
    };
    if store_cert.is_some() || set_blocked.is_some() {
        let mut st = shared.store.lock();
        if let Some(k) = st.keys.get_mut(&p.label) {
            if let Some((cert, replace)) = store_cert {
                if replace || k.certificate.is_none() {
                    k.certificate = Some(cert);
                }
            }
            if let Some(b) = set_blocked {
                k.blocked = b;
            }
        }
        st.touch();
        drop(st);
        persist(shared);
    }
    Ok(result)
}

/// A synchronous endpoint: refused for keys whose rule needs approvals (400 / 401).
pub(super) fn sync_op(shared: &Shared, op: Operation) -> ApiResult {
    op.validate()?;
    {
        let p = prepare(
            &shared.store.lock(),
            op.key_name(),
            PasswordCheck::Given(op.password()),
            op.kind(),
        )?;
        if rule_of(&p.rules, op.kind()).is_gated() {
            return Err(ApiError::new(
                codes::MISSING_APPROVAL,
                format!(
                    "key {} needs approvals (Smart Key Attributes): use the asynchronous endpoint",
                    p.label
                ),
            ));
        }
    }
    let result = run_operation(shared, &op, PasswordCheck::Given(op.password()))?;
    let label = shared
        .store
        .lock()
        .resolve(op.key_name())
        .map(|k| k.label.clone())
        .unwrap_or_default();
    let text = result.unwrap_or_default();
    match op {
        Operation::Sign(_) => json_response(200, &SignResponse { signature: text }),
        Operation::Decrypt(_) => json_response(200, &DecryptResponse { payload: text }),
        Operation::Csr(_) => json_response(
            200,
            &CsrResponse {
                label,
                certificate_signing_request: text,
            },
        ),
        Operation::SelfSign(_) | Operation::SignCertificate(_) => json_response(
            200,
            &CertificateBody {
                label,
                certificate: text,
            },
        ),
        Operation::Block(_) | Operation::Unblock(_) => empty_ok(),
    }
}

pub(super) fn verify(shared: &Shared, body: &[u8]) -> ApiResult {
    let env: VerifyEnvelope = parse(body)?;
    let r = env.verify_signature_request;
    known_signature_algorithm(&r.signature_algorithm)?;
    let payload = b64("payload", &r.payload, codes::INVALID_PAYLOAD)?;
    let signature = b64("signature", &r.signature, codes::INVALID_PAYLOAD)?;
    let p = prepare(
        &shared.store.lock(),
        &r.sign_key_name,
        PasswordCheck::Skip,
        RequestKind::Sign,
    )?;
    let valid = p
        .material
        .verify(&r.signature_algorithm, &payload, &signature)?;
    json_response(
        200,
        &VerifyResponse {
            signature_valid: valid,
        },
    )
}

pub(super) fn random(len: &str) -> ApiResult {
    let n: usize = len
        .parse()
        .ok()
        .filter(|n| (1..=65536).contains(n))
        .ok_or_else(|| {
            ApiError::new(
                codes::VALIDATION_FAILED,
                "length must be an integer from 1 to 65536",
            )
        })?;
    let mut buf = vec![0u8; n];
    openssl::rand::rand_bytes(&mut buf).map_err(|e| ApiError::new(codes::IN_HSM, e.to_string()))?;
    json_response(
        200,
        &RandomResponse {
            random: B64.encode(buf),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_algorithms_are_607() {
        assert!(known_signature_algorithm("SHA256_WITH_RSA").is_ok());
        assert_eq!(
            known_signature_algorithm("SHA256_WITH_FOO")
                .unwrap_err()
                .code,
            607
        );
        assert_eq!(known_cipher_algorithm("ROT13").unwrap_err().code, 607);
    }
}
