//! The vendor functions (`TSB_*`) and their function list, reachable by name (dlsym) and through
//! C_GetInterface("Vendor tsb-pkcs11"). Declared for C in `include/tsb_pkcs11.h` (cbindgen).

use super::args::{bad, opt_str, out_cap, put, slice, write_output};
use super::{guard, session_call};
use crate::token::{split_list, CertSpec, CsrSpec, Output};
use crate::vendor::{TSB_OUTPUT_DER, TSB_OUTPUT_PEM};
use cryptoki_sys::*;
use std::os::raw::c_char;

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

/// Comma-separated usage names.
///
/// # Safety
/// As [`opt_str`].
unsafe fn usage_list(p: *const c_char, what: &str) -> crate::error::Result<Vec<String>> {
    // SAFETY: as this function requires.
    Ok(unsafe { opt_str(p, what) }?
        .map(|s| split_list(&s))
        .unwrap_or_default())
}

fn output_is_der(format: CK_ULONG) -> crate::error::Result<bool> {
    match format {
        TSB_OUTPUT_PEM => Ok(false),
        TSB_OUTPUT_DER => Ok(true),
        _ => Err(bad("outputFormat must be TSB_OUTPUT_PEM or TSB_OUTPUT_DER")),
    }
}

fn days(validity: CK_ULONG) -> crate::error::Result<u32> {
    u32::try_from(validity).map_err(|_| bad("validityDays too large"))
}

/// # Safety
/// `p`, when not NULL, points at a readable TSB_CERT_PARAMS whose strings are NULL or
/// NUL-terminated.
unsafe fn cert_spec(p: *const TSB_CERT_PARAMS) -> crate::error::Result<CertSpec> {
    if p.is_null() {
        return Err(bad("NULL parameters"));
    }
    // SAFETY: not NULL, readable, with strings as this function requires.
    unsafe {
        let p = &*p;
        Ok(CertSpec {
            signature_algorithm: opt_str(p.signatureAlgorithm, "signatureAlgorithm")?,
            validity_days: days(p.validityDays)?,
            common_name: opt_str(p.commonName, "commonName")?,
            certificate_authority: p.certificateAuthority != 0,
            key_usage: usage_list(p.keyUsage, "keyUsage")?,
            extended_key_usage: usage_list(p.extendedKeyUsage, "extendedKeyUsage")?,
            der: output_is_der(p.outputFormat)?,
        })
    }
}

/// # Safety
/// `p`, when not NULL, points at a readable TSB_CSR_PARAMS whose strings are NULL or
/// NUL-terminated.
unsafe fn csr_spec(p: *const TSB_CSR_PARAMS) -> crate::error::Result<CsrSpec> {
    if p.is_null() {
        return Err(bad("NULL parameters"));
    }
    // SAFETY: not NULL, readable, with strings as this function requires.
    unsafe {
        let p = &*p;
        // The C fields carry the names of the TSB's `standardCertificateAttributes`.
        let mut subject = Vec::new();
        for (name, field) in [
            ("commonName", p.commonName),
            ("country", p.country),
            ("stateOrProvinceName", p.stateOrProvinceName),
            ("locality", p.locality),
            ("organizationName", p.organizationName),
            ("organizationUnitName", p.organizationUnitName),
            ("email", p.email),
            ("title", p.title),
            ("surname", p.surname),
            ("givenName", p.givenName),
            ("initials", p.initials),
            ("pseudonym", p.pseudonym),
            ("generationQualifier", p.generationQualifier),
            ("organizationIdentifier", p.organizationIdentifier),
        ] {
            if let Some(v) = opt_str(field, name)? {
                subject.push((name, v));
            }
        }
        Ok(CsrSpec {
            signature_algorithm: opt_str(p.signatureAlgorithm, "signatureAlgorithm")?,
            validity_days: days(p.validityDays)?,
            subject,
            key_usage: usage_list(p.keyUsage, "keyUsage")?,
            extended_key_usage: usage_list(p.extendedKeyUsage, "extendedKeyUsage")?,
            der: output_is_der(p.outputFormat)?,
        })
    }
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
        session_call(hSession, |m, s| {
            // SAFETY: pParams is readable with NUL-terminated strings, and pulCsrLen readable
            // (TSB_CreateCSR's contract, include/tsb_pkcs11.h).
            let (spec, cap) = unsafe { (csr_spec(pParams)?, out_cap(pCsr, pulCsrLen)?) };
            let o = m.create_csr(s, hPrivateKey, &spec, cap)?;
            // SAFETY: pulCsrLen is writable and pCsr holds the capacity read above.
            unsafe { write_output(o, pCsr, pulCsrLen) }
        })
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
        session_call(hSession, |m, s| {
            if phCertificate.is_null() {
                return Err(bad("NULL phCertificate"));
            }
            // SAFETY: pParams is readable with NUL-terminated strings (the function's contract).
            let spec = unsafe { cert_spec(pParams) }?;
            let h = m.self_sign(s, hPrivateKey, &spec)?;
            // SAFETY: phCertificate is writable (checked not NULL above).
            unsafe { put(phCertificate, h) }
        })
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
        session_call(hSession, |m, s| {
            // SAFETY: pCsr holds ulCsrLen bytes, pParams is readable with NUL-terminated strings
            // and pulCertificateLen readable (TSB_IssueCertificate's contract).
            let (csr, spec, cap) = unsafe {
                (
                    slice(pCsr, ulCsrLen)?,
                    cert_spec(pParams)?,
                    out_cap(pCertificate, pulCertificateLen)?,
                )
            };
            if csr.is_empty() {
                return Err(bad("empty CSR"));
            }
            let o = m.issue_certificate(s, hCaKey, csr, &spec, cap)?;
            // SAFETY: pulCertificateLen is writable and pCertificate holds the capacity.
            unsafe { write_output(o, pCertificate, pulCertificateLen) }
        })
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
        session_call(hSession, |m, s| {
            // SAFETY: pRequestId is NUL-terminated (TSB_GetRequestStatus's contract).
            let id = unsafe { opt_str(pRequestId, "request id") }?
                .ok_or_else(|| bad("NULL request id"))?;
            if pInfo.is_null() {
                return Err(bad("NULL pInfo"));
            }
            let st = m.request_status(s, &id)?;
            let info = TSB_REQUEST_INFO {
                status: st.status,
                approvalsGiven: st.approvals_given as CK_ULONG,
                approvalsOutstanding: st.approvals_outstanding as CK_ULONG,
                rejections: st.rejections as CK_ULONG,
            };
            // SAFETY: pInfo is writable (checked not NULL above).
            unsafe { put(pInfo, info) }?;
            if !pulResultLen.is_null() {
                let result = st.result.unwrap_or_default().into_bytes();
                // SAFETY: pulResultLen is readable and writable and pResult, when not NULL,
                // holds *pulResultLen bytes (the function's contract).
                unsafe {
                    let cap = out_cap(pResult, pulResultLen)?;
                    write_output(Output::serve(result, cap), pResult, pulResultLen)?;
                }
            }
            Ok(())
        })
    })
}

/// Delete a pending request on the TSB (its status becomes CANCELLED).
#[no_mangle]
pub unsafe extern "C" fn TSB_CancelRequest(
    hSession: CK_SESSION_HANDLE,
    pRequestId: *const c_char,
) -> CK_RV {
    guard("TSB_CancelRequest", || {
        session_call(hSession, |m, s| {
            // SAFETY: pRequestId is NUL-terminated (TSB_CancelRequest's contract).
            let id = unsafe { opt_str(pRequestId, "request id") }?
                .ok_or_else(|| bad("NULL request id"))?;
            m.cancel_request(s, &id)
        })
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
        session_call(hSession, |m, s| {
            let mut bytes = m.last_request_id(s)?.into_bytes();
            bytes.push(0);
            // SAFETY: pulLen is readable and writable and pId, when not NULL, holds *pulLen
            // bytes (TSB_GetLastRequestId's contract).
            unsafe {
                let cap = out_cap(pId as *mut u8, pulLen)?;
                write_output(Output::serve(bytes, cap), pId as *mut u8, pulLen)
            }
        })
    })
}
