//! Certificates stored on keys: import, read, delete; and the DTOs of the certificate endpoints
//! (their operations run in `operations`).

use super::keys::key_not_found;
use super::operations::SIGNATURE_ALGORITHM;
use super::validate::{self, Dto, Field, Ty};
use super::{empty_ok, from_value, json_response, parse_checked, persist, ApiError, ApiResult};
use crate::store::RequestKind;
use crate::{x509, Shared};
use tsb_models::algorithms;
use tsb_models::codes;
use tsb_models::*;

// ---------------------------------------------------------------------------------------------
// DTOs (S3 `dto/tsb/request/*.java`; the newer shapes of S6 `client/jce/dto/*.java`)

fn keytool_known(name: &str, v: TsbVersion) -> bool {
    algorithms::certificate_signature_algorithm_in(name, v).is_some()
}

fn key_usage_known(name: &str, _: TsbVersion) -> bool {
    KEY_USAGES.contains(&name)
}

fn extended_key_usage_known(name: &str, _: TsbVersion) -> bool {
    EXTENDED_KEY_USAGES.contains(&name)
}

/// `KeytoolSignatureAlgorithm` (S3 `enums/tsb/KeytoolSignatureAlgorithm.java`; `EDDSA` with the
/// newer DTOs only, S6).
const KEYTOOL: Ty = Ty::Enum("KeytoolSignatureAlgorithm", keytool_known);
const KEY_USAGE: Ty = Ty::List(&Ty::Enum("KeyUsage", key_usage_known));
const EXTENDED_KEY_USAGE: Ty = Ty::List(&Ty::Enum("ExtendedKeyUsage", extended_key_usage_known));

/// `CertificateAttributesDto`; `organizationIdentifier` since 2.1.0 (release notes: "Added
/// OrganizationID=2.5.4.97 to CSR requests"; S6's `TsbClient` sends it).
static CERTIFICATE_ATTRIBUTES: Dto = Dto {
    name: "CertificateAttributesDto",
    fields: &[
        Field::new("commonName", Ty::Str).not_empty(),
        Field::new("country", Ty::Str),
        Field::new("stateOrProvinceName", Ty::Str),
        Field::new("locality", Ty::Str),
        Field::new("organizationName", Ty::Str),
        Field::new("organizationUnitName", Ty::Str),
        Field::new("email", Ty::Str),
        Field::new("title", Ty::Str),
        Field::new("surname", Ty::Str),
        Field::new("givenName", Ty::Str),
        Field::new("initials", Ty::Str),
        Field::new("pseudonym", Ty::Str),
        Field::new("generationQualifier", Ty::Str),
        Field::new("organizationIdentifier", Ty::Str).since(TsbVersion::V2_1_0),
    ],
};

/// `CsrSignRequestDto` (`/v1/certificate/request`): its `signatureAlgorithm` is the full
/// `SignatureAlgorithm` enum, and `standardCertificateAttributes` is `@NotNull` without `@Valid`
/// (its `commonName` is not checked). `validity` is a primitive `int`: `@NotNull` never fails.
static CSR_REQUEST: Dto = Dto {
    name: "CsrSignRequestDto",
    fields: &[
        Field::new("signKeyName", Ty::Str).not_empty(),
        Field::new("keyPassword", Ty::Chars),
        Field::new("signatureAlgorithm", SIGNATURE_ALGORITHM).not_null(),
        Field::new("validity", Ty::Int),
        Field::new(
            "standardCertificateAttributes",
            Ty::Dto(&CERTIFICATE_ATTRIBUTES, false),
        )
        .not_null(),
        Field::new("keyUsage", KEY_USAGE),
        Field::new("extendedKeyUsage", EXTENDED_KEY_USAGE),
        Field::new("metaData", Ty::Base64),
        Field::new("metaDataSignature", Ty::Base64),
    ],
};

/// `SynchronousCertificateRequestRequestDto` (`/v1/certificate/synchronous/request`):
/// `KeytoolSignatureAlgorithm`, no metadata.
static SYNC_CSR_REQUEST: Dto = Dto {
    name: "SynchronousCertificateRequestRequestDto",
    fields: &[
        Field::new("signKeyName", Ty::Str).not_empty(),
        Field::new("keyPassword", Ty::Chars),
        Field::new("signatureAlgorithm", KEYTOOL).not_null(),
        Field::new("validity", Ty::Int),
        Field::new(
            "standardCertificateAttributes",
            Ty::Dto(&CERTIFICATE_ATTRIBUTES, false),
        )
        .not_null(),
        Field::new("keyUsage", KEY_USAGE),
        Field::new("extendedKeyUsage", EXTENDED_KEY_USAGE),
    ],
};

/// `SelfSignCertificateRequestDto` (`/v1/certificate/selfsign`). S3 has no DTO of the
/// synchronous self-sign endpoint; this one is assumed for it too (S1 `certs.go` sends the same
/// fields without metadata).
static SELF_SIGN_REQUEST: Dto = Dto {
    name: "SelfSignCertificateRequestDto",
    fields: &[
        Field::new("signKeyName", Ty::Str).not_empty(),
        Field::new("keyPassword", Ty::Chars),
        Field::new("validity", Ty::Int),
        Field::new("signatureAlgorithm", KEYTOOL).not_null(),
        Field::new("commonName", Ty::Str).not_empty(),
        Field::new("certificateAuthority", Ty::Bool),
        Field::new("keyUsage", KEY_USAGE),
        Field::new("extendedKeyUsage", EXTENDED_KEY_USAGE),
        Field::new("metaData", Ty::Base64),
        Field::new("metaDataSignature", Ty::Base64),
    ],
};

/// The issue-certificate DTOs (`SignCertificateRequestDto`, `SynchronousSignCertificateRequestDto`)
/// in two shapes: S3's (`commonName` `@NotNull @NotEmpty`, no `validity`, audit divergence #4),
/// and S6's newer one (`commonName` optional, `validity`, `standardCertificateAttributes`,
/// `copyExtensions`, `subjectAlternativeNames`; see `TsbVersion::has_newer_certificate_dtos`).
macro_rules! issue_dtos {
    ($name:ident, $dto:literal, [$($cn:tt)*], [$($extra:expr,)*]) => {
        static $name: Dto = Dto {
            name: $dto,
            fields: &[
                Field::new("signKeyName", Ty::Str).not_empty(),
                Field::new("keyPassword", Ty::Chars),
                Field::new("signatureAlgorithm", KEYTOOL).not_null(),
                Field::new("commonName", Ty::Str)$($cn)*,
                Field::new("certificateAuthority", Ty::Bool),
                Field::new("certificateSigningRequest", Ty::Str).not_null(),
                Field::new("keyUsage", KEY_USAGE),
                Field::new("extendedKeyUsage", EXTENDED_KEY_USAGE),
                $($extra,)*
            ],
        };
    };
}
issue_dtos!(SIGN_CERTIFICATE_REQUEST, "SignCertificateRequestDto", [.not_empty()], [
    Field::new("metaData", Ty::Base64),
    Field::new("metaDataSignature", Ty::Base64),
]);
issue_dtos!(SYNC_SIGN_CERTIFICATE_REQUEST, "SynchronousSignCertificateRequestDto", [.not_empty()], []);
issue_dtos!(
    NEWER_SIGN_CERTIFICATE_REQUEST,
    "SignCertificateRequestDto (newer)",
    [],
    [
        Field::new("metaData", Ty::Base64),
        Field::new("metaDataSignature", Ty::Base64),
        Field::new("validity", Ty::Int),
        Field::new(
            "standardCertificateAttributes",
            Ty::Dto(&CERTIFICATE_ATTRIBUTES, false)
        ),
        Field::new("copyExtensions", Ty::Str),
        Field::new("subjectAlternativeNames", Ty::Any),
    ]
);
issue_dtos!(
    NEWER_SYNC_SIGN_CERTIFICATE_REQUEST,
    "SynchronousSignCertificateRequestDto (newer)",
    [],
    [
        Field::new("validity", Ty::Int),
        Field::new(
            "standardCertificateAttributes",
            Ty::Dto(&CERTIFICATE_ATTRIBUTES, false)
        ),
        Field::new("copyExtensions", Ty::Str),
        Field::new("subjectAlternativeNames", Ty::Any),
    ]
);

validate::envelope_dtos! {
    SIGNED_CSR = "SignedCertificateRequestRequestDto", "csrSignRequest", CSR_REQUEST;
    SIGNED_SELF_SIGN = "SignedSelfSignCertificateRequestDto", "selfSignCertificateRequest", SELF_SIGN_REQUEST;
    SIGNED_SIGN_CERTIFICATE = "SignedSignCertificateRequestDto", "signCertificateRequest", SIGN_CERTIFICATE_REQUEST;
    NEWER_SIGNED_SIGN_CERTIFICATE = "SignedSignCertificateRequestDto", "signCertificateRequest", NEWER_SIGN_CERTIFICATE_REQUEST;
}

/// `CertificateImportDto` (`/v1/certificate/import/plain`).
static CERTIFICATE_IMPORT: Dto = Dto {
    name: "CertificateImportDto",
    fields: &[
        Field::new("label", Ty::Str).not_empty(),
        Field::new("certificate", Ty::Base64),
    ],
};

/// The DTO of a certificate endpoint's body (asynchronous: the envelope).
pub(super) fn body_dto(kind: RequestKind, sync: bool, v: TsbVersion) -> &'static Dto {
    let newer = v.has_newer_certificate_dtos();
    match (kind, sync, newer) {
        (RequestKind::Csr, false, _) => &SIGNED_CSR,
        (RequestKind::Csr, true, _) => &SYNC_CSR_REQUEST,
        (RequestKind::SelfSign, false, _) => &SIGNED_SELF_SIGN,
        (RequestKind::SelfSign, true, _) => &SELF_SIGN_REQUEST,
        (RequestKind::SignCertificate, false, false) => &SIGNED_SIGN_CERTIFICATE,
        (RequestKind::SignCertificate, false, true) => &NEWER_SIGNED_SIGN_CERTIFICATE,
        (RequestKind::SignCertificate, true, false) => &SYNC_SIGN_CERTIFICATE_REQUEST,
        (_, _, _) => &NEWER_SYNC_SIGN_CERTIFICATE_REQUEST,
    }
}

pub(super) fn import_certificate(shared: &Shared, body: &[u8]) -> ApiResult {
    let r: CertificateBody = from_value(parse_checked(shared, body, &CERTIFICATE_IMPORT)?)?;
    let der = x509::certificate_to_der(&r.certificate)?;
    let pem = x509::certificate_der_to_pem(&der)?;
    let label = {
        let mut st = shared.store.lock();
        if st.resolve(&r.label).is_none() {
            return Err(key_not_found(&st, &r.label));
        }
        let k = st
            .resolve_mut(&r.label)
            .ok_or_else(|| ApiError::new(codes::KEY_NOT_EXISTENT, "key vanished"))?;
        k.certificate = Some(pem.clone());
        let label = k.label.clone();
        st.touch();
        label
    };
    persist(shared);
    json_response(
        200,
        &CertificateBody {
            label,
            certificate: pem,
        },
    )
}

pub(super) fn get_certificate(shared: &Shared, name: &str) -> ApiResult {
    let st = shared.store.lock();
    let k = st.resolve(name).ok_or_else(|| key_not_found(&st, name))?;
    let cert = k.certificate.clone().ok_or_else(|| {
        ApiError::new(
            codes::KEY_NOT_EXISTENT,
            format!("key {} has no certificate", k.label),
        )
    })?;
    let label = k.label.clone();
    drop(st);
    // `certificate` (S3 `dto/tsb/response/CertificateResponseDto.java`, S1 `certs.go`); S6's
    // `TsbClient.getCertFromHsm` reads `rawCertificate`. With the newer DTOs both are sent (which
    // one a TSB after 2.2.0 sends is not confirmed); before, `certificate` only.
    let mut body = serde_json::json!({ "label": label, "certificate": cert });
    if shared.cfg.tsb_version.has_newer_certificate_dtos() {
        body["rawCertificate"] = body["certificate"].clone();
    }
    json_response(200, &body)
}

pub(super) fn delete_certificate(shared: &Shared, name: &str) -> ApiResult {
    {
        let mut st = shared.store.lock();
        if st.resolve(name).is_none() {
            return Err(key_not_found(&st, name));
        }
        let k = st
            .resolve_mut(name)
            .ok_or_else(|| ApiError::new(codes::KEY_NOT_EXISTENT, "key vanished"))?;
        if k.certificate.take().is_none() {
            return Err(ApiError::new(
                codes::KEY_NOT_EXISTENT,
                format!("key {} has no certificate", k.label),
            ));
        }
        st.touch();
    }
    persist(shared);
    empty_ok()
}
