//! The vendor extension (`include/tsb_pkcs11.h`) as the tests call it: the C functions looked up
//! by name in the loaded module, and parameter structs with only the usual fields set.

use cryptoki_sys::*;
use std::ffi::CStr;
use tsb_pkcs11::ffi::vendor::{TSB_CERT_PARAMS, TSB_CSR_PARAMS};

/// `TSB_CreateCSR`.
pub type CreateCsr = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    CK_OBJECT_HANDLE,
    *const TSB_CSR_PARAMS,
    *mut CK_BYTE,
    *mut CK_ULONG,
) -> CK_RV;

/// `TSB_SelfSignCertificate`.
pub type SelfSign = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    CK_OBJECT_HANDLE,
    *const TSB_CERT_PARAMS,
    *mut CK_OBJECT_HANDLE,
) -> CK_RV;

/// A vendor function of the loaded module, by name; `T` is its function pointer type.
pub fn function<T: Copy>(name: &str) -> T {
    let p = super::module_symbol(name);
    assert_eq!(std::mem::size_of::<T>(), std::mem::size_of::<usize>());
    // SAFETY: `T` is a function pointer type matching the symbol's C declaration (the caller's
    // contract), and the symbol is non-null (module_symbol asserts it).
    unsafe { std::mem::transmute_copy(&p) }
}

/// `TSB_CSR_PARAMS` with a subject CN, key usages (comma-separated TSB names, `None` for none),
/// a validity and an output format; every other field NULL (the module's defaults). The strings
/// must outlive the struct.
pub fn csr_params(
    common_name: &CStr,
    key_usage: Option<&CStr>,
    extended_key_usage: Option<&CStr>,
    validity_days: CK_ULONG,
    output_format: CK_ULONG,
) -> TSB_CSR_PARAMS {
    let null = std::ptr::null();
    TSB_CSR_PARAMS {
        signatureAlgorithm: null,
        validityDays: validity_days,
        commonName: common_name.as_ptr(),
        country: null,
        stateOrProvinceName: null,
        locality: null,
        organizationName: null,
        organizationUnitName: null,
        email: null,
        title: null,
        surname: null,
        givenName: null,
        initials: null,
        pseudonym: null,
        generationQualifier: null,
        organizationIdentifier: null,
        keyUsage: key_usage.map_or(null, CStr::as_ptr),
        extendedKeyUsage: extended_key_usage.map_or(null, CStr::as_ptr),
        outputFormat: output_format,
    }
}
