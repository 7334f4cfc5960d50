//! Key operations, shared by the synchronous endpoints and SKA request execution: sign,
//! verify, decrypt, CSRs and certificates, block and unblock, random.

use super::certificates;
use super::keys::{check_key_password, key_not_found};
use super::validate::{self, Dto, Field, Ty};
use super::{
    b64, empty_ok, from_value, json_response, parse_checked, persist, ApiError, ApiResult,
};
use crate::material::Material;
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
pub(super) const DEFAULT_VALIDITY_DAYS: u32 = 365;

// ---------------------------------------------------------------------------------------------
// The DTOs of the operation endpoints (S3 `dto/tsb/request/*.java`, see `validate`)

fn signature_algorithm_known(name: &str, v: TsbVersion) -> bool {
    algorithms::is_known_signature_algorithm_in(name, v)
}

fn cipher_algorithm_known(name: &str, v: TsbVersion) -> bool {
    algorithms::cipher_algorithm_in(name, v).is_some()
}

fn payload_type_known(name: &str, _: TsbVersion) -> bool {
    PAYLOAD_TYPES.contains(&name)
}

/// `SignatureAlgorithm` (S3 `enums/tsb/SignatureAlgorithm.java`, per version:
/// `algorithms::signature_algorithm_since`).
pub(super) const SIGNATURE_ALGORITHM: Ty =
    Ty::Enum("SignatureAlgorithm", signature_algorithm_known);
pub(super) const CIPHER_ALGORITHM: Ty = Ty::Enum("CipherAlgorithm", cipher_algorithm_known);
const PAYLOAD_TYPE: Ty = Ty::Enum("PayloadType", payload_type_known);

/// `SignRequestDto` (`/v1/sign`). `signatureType` since 2.0.0 (release notes: "by specifying the
/// (optional) attribute signatureType"); `context` (ML-DSA, SLH-DSA) and the Schnorr fields since
/// 2.2.0 (release notes 2.2.0).
static SIGN_REQUEST: Dto = Dto {
    name: "SignRequestDto",
    fields: &[
        Field::new("payload", Ty::Base64).not_empty(),
        Field::new("payloadType", PAYLOAD_TYPE),
        Field::new("signKeyName", Ty::Str).not_empty(),
        Field::new("keyPassword", Ty::Chars),
        Field::new("metaData", Ty::Base64),
        Field::new("metaDataSignature", Ty::Base64),
        Field::new("signatureAlgorithm", SIGNATURE_ALGORITHM).not_null(),
        Field::new("signatureType", Ty::Str).since(TsbVersion::V2_0_0),
        Field::new("context", Ty::Base64).since(TsbVersion::V2_2_0),
        Field::new("auxiliaryRandomData", Ty::Base64).since(TsbVersion::V2_2_0),
        Field::new("taprootTweakData", Ty::Base64).since(TsbVersion::V2_2_0),
        Field::new("merkleRootData", Ty::Base64).since(TsbVersion::V2_2_0),
    ],
};

/// `SynchronousSignRequestDto` (`/v1/synchronousSign`): adds `signKeyObject` and
/// `signedApprovals`; no Schnorr fields in S3's copy.
static SYNC_SIGN_REQUEST: Dto = Dto {
    name: "SynchronousSignRequestDto",
    fields: &[
        Field::new("payload", Ty::Base64).not_empty(),
        Field::new("payloadType", PAYLOAD_TYPE),
        Field::new("signKeyName", Ty::Str).not_empty(),
        Field::new("signKeyObject", Ty::Base64),
        Field::new("keyPassword", Ty::Chars),
        Field::new("metaData", Ty::Base64),
        Field::new("metaDataSignature", Ty::Base64),
        Field::new("signatureAlgorithm", SIGNATURE_ALGORITHM).not_null(),
        Field::new("signatureType", Ty::Str).since(TsbVersion::V2_0_0),
        Field::new("signedApprovals", Ty::List(&Ty::Base64)),
    ],
};

/// `DecryptRequestDto` (`/v1/decrypt`).
static DECRYPT_REQUEST: Dto = Dto {
    name: "DecryptRequestDto",
    fields: &[
        Field::new("encryptedPayload", Ty::Base64).not_empty(),
        Field::new("decryptKeyName", Ty::Str).not_empty(),
        Field::new("keyPassword", Ty::Chars),
        Field::new("metaData", Ty::Base64),
        Field::new("metaDataSignature", Ty::Base64),
        Field::new("cipherAlgorithm", CIPHER_ALGORITHM).not_null(),
        Field::new("initializationVector", Ty::Str),
        Field::new("additionalAuthenticationData", Ty::Base64),
        Field::new("tagLength", Ty::Int),
    ],
};

/// `SynchronousDecryptRequestDto` (`/v1/synchronousDecrypt`): no metadata, `signedApprovals`.
static SYNC_DECRYPT_REQUEST: Dto = Dto {
    name: "SynchronousDecryptRequestDto",
    fields: &[
        Field::new("encryptedPayload", Ty::Base64).not_empty(),
        Field::new("decryptKeyName", Ty::Str).not_empty(),
        Field::new("keyPassword", Ty::Chars),
        Field::new("cipherAlgorithm", CIPHER_ALGORITHM).not_null(),
        Field::new("initializationVector", Ty::Str),
        Field::new("additionalAuthenticationData", Ty::Base64),
        Field::new("signedApprovals", Ty::List(&Ty::Base64)),
        Field::new("tagLength", Ty::Int),
    ],
};

/// `VerifySignatureRequestDto` (`/v1/verify`).
static VERIFY_REQUEST: Dto = Dto {
    name: "VerifySignatureRequestDto",
    fields: &[
        Field::new("signKeyName", Ty::Str).not_empty(),
        Field::new("signKeyObject", Ty::Base64),
        Field::new("masterKeyPassword", Ty::Chars),
        Field::new("signatureAlgorithm", SIGNATURE_ALGORITHM).not_null(),
        Field::new("payload", Ty::Base64).not_empty(),
        Field::new("signature", Ty::Base64).not_empty(),
    ],
};

/// `BlockKeyRequestDto` / `UnblockKeyRequestDto` (`/v1/block`, `/v1/unblock`), with the key field
/// name of each.
macro_rules! key_request_dtos {
    ($async_name:ident, $sync_name:ident, $key:literal, $dto:literal, $sync_dto:literal) => {
        static $async_name: Dto = Dto {
            name: $dto,
            fields: &[
                Field::new($key, Ty::Str).not_empty(),
                Field::new("keyPassword", Ty::Chars),
                Field::new("metaData", Ty::Base64),
                Field::new("metaDataSignature", Ty::Base64),
            ],
        };
        static $sync_name: Dto = Dto {
            name: $sync_dto,
            fields: &[
                Field::new($key, Ty::Str).not_empty(),
                Field::new("keyPassword", Ty::Chars),
                Field::new("signedApprovals", Ty::List(&Ty::Base64)),
            ],
        };
    };
}
key_request_dtos!(
    BLOCK_REQUEST,
    SYNC_BLOCK_REQUEST,
    "blockKeyName",
    "BlockKeyRequestDto",
    "SynchronousBlockKeyRequestDto"
);
key_request_dtos!(
    UNBLOCK_REQUEST,
    SYNC_UNBLOCK_REQUEST,
    "unblockKeyName",
    "UnblockKeyRequestDto",
    "SynchronousUnblockKeyRequestDto"
);

fn wrap_method_known(name: &str, _: TsbVersion) -> bool {
    tsb_models::wrap_method(name).is_some()
}

/// `WrapMethod` (S3 `enums/tsb/WrapMethod.java`).
pub(super) const WRAP_METHOD: Ty = Ty::Enum("WrapMethod", wrap_method_known);

/// `UnwrapKeyRequestDto` (`/v1/unwrap`): no `policy` (S1 `wrap.go` drops it for this call).
static UNWRAP_REQUEST: Dto = Dto {
    name: "UnwrapKeyRequestDto",
    fields: &[
        Field::new("wrappedKey", Ty::Base64).not_empty(),
        Field::new("label", Ty::Str).not_empty(),
        Field::new("attributes", Ty::Dto(&super::keys::ATTRIBUTES, true)).not_null(),
        Field::new("unwrapKeyName", Ty::Str).not_empty(),
        Field::new("unwrapKeyPassword", Ty::Chars),
        Field::new("metaData", Ty::Base64),
        Field::new("metaDataSignature", Ty::Base64),
        Field::new("wrapMethod", WRAP_METHOD).not_null(),
    ],
};

/// `SynchronousUnwrapKeyRequestDto` (`/v1/synchronousUnwrap`): `signedApprovals`, `@Valid policy`.
static SYNC_UNWRAP_REQUEST: Dto = Dto {
    name: "SynchronousUnwrapKeyRequestDto",
    fields: &[
        Field::new("wrappedKey", Ty::Base64).not_empty(),
        Field::new("label", Ty::Str).not_empty(),
        Field::new("attributes", Ty::Dto(&super::keys::ATTRIBUTES, true)).not_null(),
        Field::new("unwrapKeyName", Ty::Str).not_empty(),
        Field::new("unwrapKeyPassword", Ty::Chars),
        Field::new("wrapMethod", WRAP_METHOD).not_null(),
        Field::new("signedApprovals", Ty::List(&Ty::Base64)),
        Field::new("policy", Ty::Dto(&super::keys::POLICY, true)),
    ],
};

validate::envelope_dtos! {
    SIGNED_SIGN = "SignedSignRequestDto", "signRequest", SIGN_REQUEST;
    SIGNED_SYNC_SIGN = "SignedSynchronousSignRequestDto", "signRequest", SYNC_SIGN_REQUEST;
    SIGNED_DECRYPT = "SignedDecryptRequestDto", "decryptRequest", DECRYPT_REQUEST;
    SIGNED_SYNC_DECRYPT = "SignedSynchronousDecryptRequestDto", "decryptRequest", SYNC_DECRYPT_REQUEST;
    SIGNED_VERIFY = "SignedVerifySignatureRequestDto", "verifySignatureRequest", VERIFY_REQUEST;
    SIGNED_BLOCK = "SignedBlockKeyRequestDto", "blockRequest", BLOCK_REQUEST;
    SIGNED_SYNC_BLOCK = "SignedSynchronousBlockKeyRequestDto", "blockRequest", SYNC_BLOCK_REQUEST;
    SIGNED_UNBLOCK = "SignedUnblockKeyRequestDto", "unblockRequest", UNBLOCK_REQUEST;
    SIGNED_SYNC_UNBLOCK = "SignedSynchronousUnblockKeyRequestDto", "unblockRequest", SYNC_UNBLOCK_REQUEST;
    SIGNED_UNWRAP = "SignedUnwrapKeyRequestDto", "unwrapKeyRequest", UNWRAP_REQUEST;
    SIGNED_SYNC_UNWRAP = "SignedSynchronousUnwrapKeyRequestDto", "unwrapKeyRequest", SYNC_UNWRAP_REQUEST;
}

/// The DTO of the body of an operation endpoint: the asynchronous `/v1/<op>` (`sync` false) or
/// the synchronous one. The certificate DTOs live in `certificates`.
pub(super) fn body_dto(kind: RequestKind, sync: bool, v: TsbVersion) -> &'static Dto {
    match (kind, sync) {
        (RequestKind::Sign, false) => &SIGNED_SIGN,
        (RequestKind::Sign, true) => &SIGNED_SYNC_SIGN,
        (RequestKind::Decrypt, false) => &SIGNED_DECRYPT,
        (RequestKind::Decrypt, true) => &SIGNED_SYNC_DECRYPT,
        (RequestKind::Block, false) => &SIGNED_BLOCK,
        (RequestKind::Block, true) => &SIGNED_SYNC_BLOCK,
        (RequestKind::Unblock, false) => &SIGNED_UNBLOCK,
        (RequestKind::Unblock, true) => &SIGNED_SYNC_UNBLOCK,
        (RequestKind::Unwrap, false) => &SIGNED_UNWRAP,
        (RequestKind::Unwrap, true) => &SIGNED_SYNC_UNWRAP,
        (RequestKind::Csr | RequestKind::SelfSign | RequestKind::SignCertificate, _) => {
            certificates::body_dto(kind, sync, v)
        }
    }
}

/// The DTO of `POST /v1/verify`.
pub(super) fn verify_dto() -> &'static Dto {
    &SIGNED_VERIFY
}

/// One key operation, parsed from a request body.
// Short-lived (one per request), so the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Operation {
    /// The request and its `context` (ML-DSA/SLH-DSA, base64; not in the shared model).
    Sign(SignRequest, Option<String>),
    Decrypt(DecryptRequest),
    Csr(CsrRequest),
    SelfSign(SelfSignRequest),
    SignCertificate(SignCertificateRequest),
    Block(BlockRequest),
    Unblock(UnblockRequest),
    Unwrap(UnwrapKeyRequest),
}

impl Operation {
    /// Parse the outer body of an asynchronous request.
    pub(super) fn from_request(kind: RequestKind, outer: &Value) -> Result<Operation, ApiError> {
        let v = outer.clone();
        Ok(match kind {
            RequestKind::Sign => {
                let context = outer
                    .get("signRequest")
                    .and_then(|r| r.get("context"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Operation::Sign(from_value::<SignEnvelope>(v)?.sign_request, context)
            }
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
            RequestKind::Unwrap => {
                Operation::Unwrap(from_value::<UnwrapKeyEnvelope>(v)?.unwrap_key_request)
            }
        })
    }

    /// Parse the body of a synchronous endpoint (checked against its DTO): an envelope for sign,
    /// decrypt, block and unblock, the request itself for the certificate endpoints.
    pub(super) fn from_sync_body(kind: RequestKind, body: Value) -> Result<Operation, ApiError> {
        Ok(match kind {
            RequestKind::Csr => Operation::Csr(from_value(body)?),
            RequestKind::SelfSign => Operation::SelfSign(from_value(body)?),
            RequestKind::SignCertificate => Operation::SignCertificate(from_value(body)?),
            _ => Operation::from_request(kind, &body)?,
        })
    }

    pub(super) fn kind(&self) -> RequestKind {
        match self {
            Operation::Sign(..) => RequestKind::Sign,
            Operation::Decrypt(_) => RequestKind::Decrypt,
            Operation::Csr(_) => RequestKind::Csr,
            Operation::SelfSign(_) => RequestKind::SelfSign,
            Operation::SignCertificate(_) => RequestKind::SignCertificate,
            Operation::Block(_) => RequestKind::Block,
            Operation::Unblock(_) => RequestKind::Unblock,
            Operation::Unwrap(_) => RequestKind::Unwrap,
        }
    }

    pub(super) fn key_name(&self) -> &str {
        match self {
            Operation::Sign(r, _) => &r.sign_key_name,
            Operation::Decrypt(r) => &r.decrypt_key_name,
            Operation::Csr(r) => &r.sign_key_name,
            Operation::SelfSign(r) => &r.sign_key_name,
            Operation::SignCertificate(r) => &r.sign_key_name,
            Operation::Block(r) => &r.block_key_name,
            Operation::Unblock(r) => &r.unblock_key_name,
            Operation::Unwrap(r) => &r.unwrap_key_name,
        }
    }

    pub(super) fn password(&self) -> Option<&Password> {
        match self {
            Operation::Sign(r, _) => r.key_password.as_ref(),
            Operation::Decrypt(r) => r.key_password.as_ref(),
            Operation::Csr(r) => r.key_password.as_ref(),
            Operation::SelfSign(r) => r.key_password.as_ref(),
            Operation::SignCertificate(r) => r.key_password.as_ref(),
            Operation::Block(r) => r.key_password.as_ref(),
            Operation::Unblock(r) => r.key_password.as_ref(),
            Operation::Unwrap(r) => r.unwrap_key_password.as_ref(),
        }
    }

    /// The bytes approvers see as the payload (in `approvalToBeSigned` and level2 `payload`).
    pub(super) fn approval_payload(&self, outer: &Value) -> Vec<u8> {
        match self {
            Operation::Sign(r, _) => {
                b64("payload", &r.payload, codes::INVALID_PAYLOAD).unwrap_or_default()
            }
            Operation::Unwrap(r) => {
                b64("wrappedKey", &r.wrapped_key, codes::INVALID_PAYLOAD).unwrap_or_default()
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

/// What a request needs from its key, cloned out so the store lock is not held during crypto.
pub(super) struct Prepared {
    pub(super) label: String,
    pub(super) material: Material,
    pub(super) certificate: Option<String>,
    pub(super) rules: KeyRules,
    /// The key has a policy (an SKA key, whether or not its rules need approvals).
    pub(super) ska: bool,
    /// The key may leave the HSM wrapped (`extractable`).
    pub(super) extractable: bool,
}

/// Before TSB 2.1.1 a pre-hashed RSA signature algorithm (`NONESHA256_WITH_RSA`, `NONE_WITH_RSA`,
/// the PSS ones) does not work on a key with a policy (S2 `tsb/Download/release_notes.md` 2.1.1:
/// "Added compatibility with pre-hashed algorithms on RSA in conjunction with SKA-Keys"). How an
/// older TSB fails is not documented; the emulator refuses the request with 607 when it is made.
pub(super) fn check_prehashed_on_ska(
    v: TsbVersion,
    op: &Operation,
    p: &Prepared,
) -> Result<(), ApiError> {
    let Operation::Sign(r, _) = op else {
        return Ok(());
    };
    let Some(a) = algorithms::signature_algorithm(&r.signature_algorithm) else {
        return Ok(());
    };
    let rsa = matches!(
        a.scheme,
        algorithms::Scheme::RsaPkcs1 | algorithms::Scheme::RsaPss
    );
    if p.ska
        && rsa
        && !matches!(a.input, algorithms::Input::Hash(_))
        && !v.prehashed_rsa_on_ska_keys()
    {
        return Err(ApiError::new(
            codes::ALGORITHM_NOT_SUPPORTED_BY_KEY,
            format!(
                "{} (pre-hashed) on a key with a policy needs TSB 2.1.1 or later",
                a.name
            ),
        ));
    }
    Ok(())
}

/// How `prepare` treats the key password.
#[derive(Clone, Copy)]
pub(super) enum PasswordCheck<'a> {
    /// Check this password (a request as received).
    Given(Option<&'a Password>),
    /// Not checked: an SKA request's password was checked when the request was created (its
    /// stored copy has none).
    Skip,
}

/// What an operation needs from its key's attributes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    Sign,
    Decrypt,
    Unwrap,
    Encrypt,
    Wrap,
    Verify,
    /// Block and unblock: no attribute, and allowed on a blocked key.
    Manage,
}

impl Need {
    fn of(kind: RequestKind) -> Need {
        match kind {
            RequestKind::Decrypt => Need::Decrypt,
            RequestKind::Unwrap => Need::Unwrap,
            RequestKind::Block | RequestKind::Unblock => Need::Manage,
            _ => Need::Sign,
        }
    }
}

/// Look up and check the key of an operation: exists (650), password (620), not blocked for a
/// use (614), has the attribute the operation needs (614).
pub(super) fn prepare(
    st: &Store,
    name: &str,
    password: PasswordCheck,
    kind: RequestKind,
) -> Result<Prepared, ApiError> {
    prepare_for(st, name, password, Need::of(kind))
}

/// [`prepare`] for an operation that is not a request kind (encrypt, wrap, HMAC).
pub(super) fn prepare_for(
    st: &Store,
    name: &str,
    password: PasswordCheck,
    need: Need,
) -> Result<Prepared, ApiError> {
    let k = st.resolve(name).ok_or_else(|| key_not_found(st, name))?;
    if let PasswordCheck::Given(given) = password {
        check_key_password(k, given)?;
    }
    if need != Need::Manage && k.blocked {
        return Err(ApiError::new(
            codes::OPERATION_FORBIDDEN_FOR_KEY,
            "key is blocked",
        ));
    }
    let a = &k.attributes;
    let (needed, attr) = match need {
        Need::Sign => (a.sign, "sign"),
        Need::Decrypt => (a.decrypt, "decrypt"),
        Need::Unwrap => (a.unwrap, "unwrap"),
        Need::Encrypt => (a.encrypt, "encrypt"),
        Need::Wrap => (a.wrap, "wrap"),
        Need::Verify => (a.verify, "verify"),
        Need::Manage => (Some(true), ""),
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
        ska: k.policy.is_some(),
        extractable: a.extractable == Some(true),
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
    let mut store_cert: Option<(String, bool)> = None; // (PEM, replace existing)
    let mut set_blocked = None;
    let result = match op {
        Operation::Sign(r, context) => {
            let payload = b64("payload", &r.payload, codes::INVALID_PAYLOAD)?;
            let sig = match &p.material {
                Material::Pqc(k) => {
                    let ctx = match context {
                        Some(c) => b64("context", c, codes::INVALID_PAYLOAD)?,
                        None => Vec::new(),
                    };
                    k.sign(&r.signature_algorithm, &payload, &ctx)?
                }
                // `context` is "for ML-DSA & SLH-DSA" (S3 `SignRequestDto.java`): other keys
                // ignore it.
                m => m.asym()?.sign(&r.signature_algorithm, &payload)?,
            };
            Some(B64.encode(sig))
        }
        Operation::Decrypt(r) => Some(B64.encode(super::symmetric::decrypt(&p.material, r)?)),
        Operation::Unwrap(r) => {
            super::wrap::unwrap_new_key(shared, &p, r)?;
            None
        }
        Operation::Csr(r) => {
            let key = p.material.asym()?;
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
            let key = p.material.asym()?;
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
            p.material.asym()?,
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
    {
        let p = prepare(
            &shared.store.lock(),
            op.key_name(),
            PasswordCheck::Given(op.password()),
            op.kind(),
        )?;
        check_prehashed_on_ska(shared.cfg.tsb_version, &op, &p)?;
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
        Operation::Sign(..) => json_response(200, &SignResponse { signature: text }),
        // 201, as S1 `wrap_test.go` expects (`expectedUnwrapStatus = http.StatusCreated`); the
        // body is not documented: empty here.
        Operation::Unwrap(_) => Ok(super::HttpResponse {
            status: 201,
            body: Vec::new(),
            request_id: None,
        }),
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

/// `POST /v1/verify`: a signature (`verifySignatureRequest`) or, from TSB 2.0.1, an HMAC
/// (`verifyHmacRequest`, S2 `tsb/Tutorials/Mac/hmac.md`). That page links the swagger operation
/// `verifyHmac` while naming the path `/v1/verify`; the API-key table (S2 `authentication.md`)
/// has no other verification path, so the emulator takes both envelopes here.
pub(super) fn verify(shared: &Shared, body: &[u8]) -> ApiResult {
    if shared.cfg.tsb_version.has_hmac()
        && super::parse_json(body)
            .ok()
            .is_some_and(|v| v.get("verifyHmacRequest").is_some())
    {
        return super::symmetric::verify_hmac(shared, body);
    }
    let env: VerifyEnvelope = from_value(parse_checked(shared, body, verify_dto())?)?;
    let r = env.verify_signature_request;
    let payload = b64("payload", &r.payload, codes::INVALID_PAYLOAD)?;
    let signature = b64("signature", &r.signature, codes::INVALID_PAYLOAD)?;
    // `masterKeyPassword`: "The password of the master key, if the master key has a password
    // set" (S3 `VerifySignatureRequestDto.java`; release notes 1.14.0: "v1/verify supports now key
    // with keyPassword set").
    let p = prepare(
        &shared.store.lock(),
        &r.sign_key_name,
        PasswordCheck::Given(r.master_key_password.as_ref()),
        RequestKind::Sign,
    )?;
    // The DTO has no `context`: signatures made with one verify only locally.
    let valid = match &p.material {
        Material::Pqc(k) => k.verify(&r.signature_algorithm, &payload, &[], &signature)?,
        m => m
            .asym()?
            .verify(&r.signature_algorithm, &payload, &signature)?,
    };
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
