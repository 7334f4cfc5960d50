//! The vendor functions (`TSB_*`) and their function list, reachable by name (dlsym) and through
//! C_GetInterface("Vendor tsb-pkcs11"). Declared for C in `include/tsb_pkcs11.h` (cbindgen).

use super::*;
use crate::module;
use crate::token::ext::{split_list, CertSpec, CsrSpec};
use std::ffi::CStr;
use std::os::raw::c_char;
use tsb_models::{RequestState, StandardCertificateAttributes};

/// Write the output as PEM text (the default).
pub const TSB_OUTPUT_PEM: CK_ULONG = 0;
/// Write the output as DER.
pub const TSB_OUTPUT_DER: CK_ULONG = 1;

/// Request is waiting for approvals.
pub const TSB_REQUEST_PENDING: CK_ULONG = 1;
/// Quorum reached, waiting for execution (timelock).
pub const TSB_REQUEST_APPROVED: CK_ULONG = 2;
/// Done; the result is available.
pub const TSB_REQUEST_EXECUTED: CK_ULONG = 3;
/// Approved but the HSM failed.
pub const TSB_REQUEST_FAILED: CK_ULONG = 4;
/// The policy's timeout passed.
pub const TSB_REQUEST_EXPIRED: CK_ULONG = 5;
/// The approvers rejected it.
pub const TSB_REQUEST_REJECTED: CK_ULONG = 6;
/// Deleted.
pub const TSB_REQUEST_CANCELLED: CK_ULONG = 7;

/// Parameters of TSB_CreateCSR. Strings are NUL-terminated UTF-8; NULL means "not set".
#[repr(C)]
pub struct TSB_CSR_PARAMS {
    /// TSB name, e.g. "SHA256_WITH_RSA"; NULL picks SHA256_WITH_RSA, SHA256_WITH_ECDSA or EDDSA by key type.
    pub signatureAlgorithm: *const c_char,
    /// Validity in days; 0 = 365.
    pub validityDays: CK_ULONG,
    /// Subject CN (required).
    pub commonName: *const c_char,
    /// Subject C.
    pub country: *const c_char,
    /// Subject ST.
    pub stateOrProvinceName: *const c_char,
    /// Subject L.
    pub locality: *const c_char,
    /// Subject O.
    pub organizationName: *const c_char,
    /// Subject OU.
    pub organizationUnitName: *const c_char,
    /// Subject emailAddress.
    pub email: *const c_char,
    /// Subject title.
    pub title: *const c_char,
    /// Subject SN.
    pub surname: *const c_char,
    /// Subject GN.
    pub givenName: *const c_char,
    /// Subject initials.
    pub initials: *const c_char,
    /// Subject pseudonym.
    pub pseudonym: *const c_char,
    /// Subject generationQualifier.
    pub generationQualifier: *const c_char,
    /// Subject organizationIdentifier (2.5.4.97).
    pub organizationIdentifier: *const c_char,
    /// Comma-separated keyUsage names, e.g. "DIGITAL_SIGNATURE,KEY_CERT_SIGN".
    pub keyUsage: *const c_char,
    /// Comma-separated extendedKeyUsage names, e.g. "CODE_SIGNING".
    pub extendedKeyUsage: *const c_char,
    /// TSB_OUTPUT_PEM or TSB_OUTPUT_DER.
    pub outputFormat: CK_ULONG,
}

/// Parameters of TSB_SelfSignCertificate and TSB_IssueCertificate.
#[repr(C)]
pub struct TSB_CERT_PARAMS {
    /// TSB name, e.g. "SHA256_WITH_RSA"; NULL picks one by key type.
    pub signatureAlgorithm: *const c_char,
    /// Validity in days; 0 = 365.
    pub validityDays: CK_ULONG,
    /// Subject CN: required for self-signing; for issuing, NULL keeps the CSR's subject.
    pub commonName: *const c_char,
    /// CK_TRUE for a CA certificate (basicConstraints CA).
    pub certificateAuthority: CK_BBOOL,
    /// Comma-separated keyUsage names.
    pub keyUsage: *const c_char,
    /// Comma-separated extendedKeyUsage names.
    pub extendedKeyUsage: *const c_char,
    /// TSB_OUTPUT_PEM or TSB_OUTPUT_DER (TSB_IssueCertificate).
    pub outputFormat: CK_ULONG,
}

/// Status of a TSB request (TSB_GetRequestStatus).
#[repr(C)]
pub struct TSB_REQUEST_INFO {
    /// TSB_REQUEST_PENDING ... TSB_REQUEST_CANCELLED.
    pub status: CK_ULONG,
    /// Approvals given.
    pub approvalsGiven: CK_ULONG,
    /// Approvers who could still approve.
    pub approvalsOutstanding: CK_ULONG,
    /// Approvers who rejected.
    pub rejections: CK_ULONG,
}

/// The vendor function list (C_GetInterface with name "Vendor tsb-pkcs11").
#[repr(C)]
pub struct TSB_FUNCTION_LIST {
    /// 1.0.
    pub version: CK_VERSION,
    /// See TSB_CreateCSR.
    pub TSB_CreateCSR: unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        CK_OBJECT_HANDLE,
        *const TSB_CSR_PARAMS,
        *mut CK_BYTE,
        *mut CK_ULONG,
    ) -> CK_RV,
    /// See TSB_SelfSignCertificate.
    pub TSB_SelfSignCertificate: unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        CK_OBJECT_HANDLE,
        *const TSB_CERT_PARAMS,
        *mut CK_OBJECT_HANDLE,
    ) -> CK_RV,
    /// See TSB_IssueCertificate.
    pub TSB_IssueCertificate: unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        CK_OBJECT_HANDLE,
        *const CK_BYTE,
        CK_ULONG,
        *const TSB_CERT_PARAMS,
        *mut CK_BYTE,
        *mut CK_ULONG,
    ) -> CK_RV,
    /// See TSB_GetRequestStatus.
    pub TSB_GetRequestStatus: unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        *const c_char,
        *mut TSB_REQUEST_INFO,
        *mut CK_BYTE,
        *mut CK_ULONG,
    ) -> CK_RV,
    /// See TSB_CancelRequest.
    pub TSB_CancelRequest: unsafe extern "C" fn(CK_SESSION_HANDLE, *const c_char) -> CK_RV,
    /// See TSB_GetLastRequestId.
    pub TSB_GetLastRequestId:
        unsafe extern "C" fn(CK_SESSION_HANDLE, *mut c_char, *mut CK_ULONG) -> CK_RV,
}

/// The vendor table.
pub static TSB_FUNCTIONS: TSB_FUNCTION_LIST = TSB_FUNCTION_LIST {
    version: CK_VERSION { major: 1, minor: 0 },
    TSB_CreateCSR,
    TSB_SelfSignCertificate,
    TSB_IssueCertificate,
    TSB_GetRequestStatus,
    TSB_CancelRequest,
    TSB_GetLastRequestId,
};

unsafe fn opt_str(p: *const c_char, what: &str) -> Result<Option<String>> {
    if p.is_null() {
        return Ok(None);
    }
    let s = CStr::from_ptr(p)
        .to_str()
        .map_err(|_| Error::ck(CKR_ARGUMENTS_BAD, format!("{what} is not UTF-8")))?;
    Ok(Some(s.to_string()).filter(|s| !s.is_empty()))
}

unsafe fn usage_list(p: *const c_char, what: &str) -> Result<Vec<String>> {
    Ok(opt_str(p, what)?
        .map(|s| split_list(&s))
        .unwrap_or_default())
}

fn output_is_der(format: CK_ULONG) -> Result<bool> {
    match format {
        TSB_OUTPUT_PEM => Ok(false),
        TSB_OUTPUT_DER => Ok(true),
        _ => Err(bad("outputFormat must be TSB_OUTPUT_PEM or TSB_OUTPUT_DER")),
    }
}

unsafe fn cert_spec(p: *const TSB_CERT_PARAMS) -> Result<CertSpec> {
    if p.is_null() {
        return Err(bad("NULL parameters"));
    }
    let p = &*p;
    Ok(CertSpec {
        signature_algorithm: opt_str(p.signatureAlgorithm, "signatureAlgorithm")?,
        validity_days: u32::try_from(p.validityDays).map_err(|_| bad("validityDays too large"))?,
        common_name: opt_str(p.commonName, "commonName")?,
        certificate_authority: p.certificateAuthority != 0,
        key_usage: usage_list(p.keyUsage, "keyUsage")?,
        extended_key_usage: usage_list(p.extendedKeyUsage, "extendedKeyUsage")?,
        der: output_is_der(p.outputFormat)?,
    })
}

/// Create a CSR for a private key. Waits for approvals on an approval-gated key exactly like
/// C_Sign (CKR_FUNCTION_REJECTED, CKR_TSB_APPROVAL_EXPIRED, CKR_TSB_APPROVAL_TIMEOUT, ...). With
/// `pCsr` NULL, `*pulCsrLen` receives an upper bound and nothing is sent; after
/// CKR_BUFFER_TOO_SMALL the finished CSR is kept for the retry with the same parameters.
#[no_mangle]
pub unsafe extern "C" fn TSB_CreateCSR(
    hSession: CK_SESSION_HANDLE,
    hPrivateKey: CK_OBJECT_HANDLE,
    pParams: *const TSB_CSR_PARAMS,
    pCsr: *mut CK_BYTE,
    pulCsrLen: *mut CK_ULONG,
) -> CK_RV {
    guard("TSB_CreateCSR", || {
        let m = module()?;
        let s = m.session(hSession)?;
        if pParams.is_null() {
            return Err(bad("NULL parameters"));
        }
        let p = &*pParams;
        let req = |f: *const c_char, n: &str| opt_str(f, n);
        let spec = CsrSpec {
            signature_algorithm: req(p.signatureAlgorithm, "signatureAlgorithm")?,
            validity_days: u32::try_from(p.validityDays)
                .map_err(|_| bad("validityDays too large"))?,
            subject: StandardCertificateAttributes {
                common_name: req(p.commonName, "commonName")?
                    .ok_or_else(|| bad("commonName is required"))?,
                country: req(p.country, "country")?,
                state_or_province_name: req(p.stateOrProvinceName, "stateOrProvinceName")?,
                locality: req(p.locality, "locality")?,
                organization_name: req(p.organizationName, "organizationName")?,
                organization_unit_name: req(p.organizationUnitName, "organizationUnitName")?,
                email: req(p.email, "email")?,
                title: req(p.title, "title")?,
                surname: req(p.surname, "surname")?,
                given_name: req(p.givenName, "givenName")?,
                initials: req(p.initials, "initials")?,
                pseudonym: req(p.pseudonym, "pseudonym")?,
                generation_qualifier: req(p.generationQualifier, "generationQualifier")?,
                organization_identifier: req(p.organizationIdentifier, "organizationIdentifier")?,
            },
            key_usage: usage_list(p.keyUsage, "keyUsage")?,
            extended_key_usage: usage_list(p.extendedKeyUsage, "extendedKeyUsage")?,
            der: output_is_der(p.outputFormat)?,
        };
        let cap = out_cap(pCsr, pulCsrLen)?;
        let o = m.create_csr(&s, hPrivateKey, &spec, cap)?;
        write_output(o, pCsr, pulCsrLen)
    })
}

/// Self-sign a certificate for a private key; the TSB stores it with the key, and the handle of
/// the new certificate object is returned. Approval-gated like C_Sign.
#[no_mangle]
pub unsafe extern "C" fn TSB_SelfSignCertificate(
    hSession: CK_SESSION_HANDLE,
    hPrivateKey: CK_OBJECT_HANDLE,
    pParams: *const TSB_CERT_PARAMS,
    phCertificate: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard("TSB_SelfSignCertificate", || {
        let m = module()?;
        let s = m.session(hSession)?;
        if phCertificate.is_null() {
            return Err(bad("NULL phCertificate"));
        }
        let spec = cert_spec(pParams)?;
        let h = m.self_sign(&s, hPrivateKey, &spec)?;
        put(phCertificate, h)
    })
}

/// Issue a certificate for a CSR (PEM or DER in `pCsr`) with a CA key held in the TSB. Output
/// buffer semantics as TSB_CreateCSR. Approval-gated where the CA key's policy says so.
#[no_mangle]
pub unsafe extern "C" fn TSB_IssueCertificate(
    hSession: CK_SESSION_HANDLE,
    hCaKey: CK_OBJECT_HANDLE,
    pCsr: *const CK_BYTE,
    ulCsrLen: CK_ULONG,
    pParams: *const TSB_CERT_PARAMS,
    pCertificate: *mut CK_BYTE,
    pulCertificateLen: *mut CK_ULONG,
) -> CK_RV {
    guard("TSB_IssueCertificate", || {
        let m = module()?;
        let s = m.session(hSession)?;
        let csr = slice(pCsr, ulCsrLen)?;
        if csr.is_empty() {
            return Err(bad("empty CSR"));
        }
        let spec = cert_spec(pParams)?;
        let cap = out_cap(pCertificate, pulCertificateLen)?;
        let o = m.issue_certificate(&s, hCaKey, csr, &spec, cap)?;
        write_output(o, pCertificate, pulCertificateLen)
    })
}

/// Status of a TSB request by id: status, approvals, and (when `pResult` is given) the result
/// string of an executed request (length query with `pResult` NULL).
#[no_mangle]
pub unsafe extern "C" fn TSB_GetRequestStatus(
    hSession: CK_SESSION_HANDLE,
    pRequestId: *const c_char,
    pInfo: *mut TSB_REQUEST_INFO,
    pResult: *mut CK_BYTE,
    pulResultLen: *mut CK_ULONG,
) -> CK_RV {
    guard("TSB_GetRequestStatus", || {
        let m = module()?;
        let s = m.session(hSession)?;
        let id = opt_str(pRequestId, "request id")?.ok_or_else(|| bad("NULL request id"))?;
        if pInfo.is_null() {
            return Err(bad("NULL pInfo"));
        }
        let st = m.request_status(&s, &id)?;
        let status = match st.status {
            RequestState::Pending => TSB_REQUEST_PENDING,
            RequestState::Approved => TSB_REQUEST_APPROVED,
            RequestState::Executed => TSB_REQUEST_EXECUTED,
            RequestState::Failed => TSB_REQUEST_FAILED,
            RequestState::Expired => TSB_REQUEST_EXPIRED,
            RequestState::Rejected => TSB_REQUEST_REJECTED,
            RequestState::Cancelled => TSB_REQUEST_CANCELLED,
        };
        put(
            pInfo,
            TSB_REQUEST_INFO {
                status,
                approvalsGiven: st.approved_by.len() as CK_ULONG,
                approvalsOutstanding: st.not_yet_approved_by.len() as CK_ULONG,
                rejections: st.rejected_by.len() as CK_ULONG,
            },
        )?;
        if !pulResultLen.is_null() {
            let result = st.result.unwrap_or_default().into_bytes();
            let cap = out_cap(pResult, pulResultLen)?;
            let o = crate::token::ops::Output::serve(result, cap);
            write_output(o, pResult, pulResultLen)?;
        }
        Ok(())
    })
}

/// Delete a pending request on the TSB (its status becomes CANCELLED).
#[no_mangle]
pub unsafe extern "C" fn TSB_CancelRequest(
    hSession: CK_SESSION_HANDLE,
    pRequestId: *const c_char,
) -> CK_RV {
    guard("TSB_CancelRequest", || {
        let m = module()?;
        let s = m.session(hSession)?;
        let id = opt_str(pRequestId, "request id")?.ok_or_else(|| bad("NULL request id"))?;
        m.cancel_request(&s, &id)
    })
}

/// The id of the TSB request that the session's last approval-gated operation created or resumed,
/// NUL-terminated; `*pulLen` includes the NUL. CKR_FUNCTION_FAILED when there was none.
#[no_mangle]
pub unsafe extern "C" fn TSB_GetLastRequestId(
    hSession: CK_SESSION_HANDLE,
    pId: *mut c_char,
    pulLen: *mut CK_ULONG,
) -> CK_RV {
    guard("TSB_GetLastRequestId", || {
        let m = module()?;
        let s = m.session(hSession)?;
        let id = s.state.lock().last_request_id.clone().ok_or_else(|| {
            Error::ck(
                CKR_FUNCTION_FAILED,
                "no approval request in this session yet",
            )
        })?;
        let mut bytes = id.into_bytes();
        bytes.push(0);
        let cap = out_cap(pId as *mut u8, pulLen)?;
        let o = crate::token::ops::Output::serve(bytes, cap);
        write_output(o, pId as *mut u8, pulLen)
    })
}
