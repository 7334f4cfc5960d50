//! The C ABI and nothing else: the function lists and interfaces, and one thin shim per C_
//! function. A shim checks pointers, converts C types, calls `token`, maps `Error` to `CK_RV`, and
//! never lets a panic cross the boundary (every entry point runs inside [`guard`]).

// The safety contract of every entry point is the PKCS#11 specification itself: the caller passes
// pointers valid for the lengths it gives. Each shim still checks for NULL and absurd lengths.
#![allow(clippy::missing_safety_doc)]
#![allow(non_snake_case)]

pub mod entry;
pub mod lists;
pub mod vendor_fns;

use crate::error::{Error, Result};
use crate::log::Level;
use crate::mechanism::{MechParams, OaepParams, PssParams};
use crate::token::ops::Output;
use crate::token::Attr;
use cryptoki_sys::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Largest single buffer the module will read from a caller (guards against garbage lengths).
const MAX_LEN: CK_ULONG = 256 * 1024 * 1024;
/// Largest attribute value the module will read from a template. Real values (labels, ids,
/// certificates, policies) are a few KiB; a larger length is garbage and an invalid value.
const MAX_ATTRIBUTE_LEN: CK_ULONG = 1024 * 1024;

/// Run an entry point's body: map its error to a CK_RV and turn a panic into CKR_GENERAL_ERROR.
pub fn guard(name: &str, f: impl FnOnce() -> Result<()>) -> CK_RV {
    // A panic's text goes to the module's log, not to the host's stderr (crate::panic_hook).
    crate::panic_hook::install();
    match catch_unwind(AssertUnwindSafe(|| crate::panic_hook::scope(f))) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(e)) => {
            let rv = e.rv();
            // Codes that applications provoke on purpose (probing attributes, sizing buffers)
            // are not worth a line at the default level.
            let routine = matches!(
                rv,
                CKR_BUFFER_TOO_SMALL
                    | CKR_ATTRIBUTE_TYPE_INVALID
                    | CKR_ATTRIBUTE_SENSITIVE
                    | CKR_USER_ALREADY_LOGGED_IN
                    | CKR_CRYPTOKI_ALREADY_INITIALIZED
            );
            let level = if routine { Level::Debug } else { Level::Info };
            crate::log!(level, "{name}: {e}");
            rv
        }
        Err(_) => {
            crate::log!(
                Level::Error,
                "{name}: internal error (panic caught at the C boundary; the line before says where)"
            );
            CKR_GENERAL_ERROR
        }
    }
}

/// `cryptoki_fn!(C_X(a: T, ...) { body })`: an exported entry point whose body returns `Result<()>`.
#[macro_export]
macro_rules! cryptoki_fn {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $t:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        #[doc = concat!("PKCS#11 `", stringify!($name), "`.")]
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $t),*) -> CK_RV {
            $crate::ffi::guard(stringify!($name), || -> $crate::error::Result<()> { $body })
        }
    };
}

/// An entry point the module does not offer: CKR_FUNCTION_NOT_SUPPORTED (never a NULL slot in a
/// function list, which would crash callers that do not check).
#[macro_export]
macro_rules! not_supported {
    ($($name:ident($($t:ty),*);)*) => {
        $(
            #[doc = concat!("PKCS#11 `", stringify!($name), "`: not offered (CKR_FUNCTION_NOT_SUPPORTED).")]
            #[no_mangle]
            #[allow(unused_variables)]
            pub unsafe extern "C" fn $name($(_: $t),*) -> CK_RV {
                CKR_FUNCTION_NOT_SUPPORTED
            }
        )*
    };
}

fn bad(msg: &str) -> Error {
    Error::ck(CKR_ARGUMENTS_BAD, msg)
}

/// A caller's input buffer.
pub unsafe fn slice<'a>(p: *const u8, len: CK_ULONG) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(bad("NULL data pointer with a non-zero length"));
    }
    if len > MAX_LEN {
        return Err(Error::ck(CKR_DATA_LEN_RANGE, "input too large"));
    }
    Ok(std::slice::from_raw_parts(p, len as usize))
}

/// Write through an out-pointer after checking it.
pub unsafe fn put<T>(p: *mut T, v: T) -> Result<()> {
    if p.is_null() {
        return Err(bad("NULL output pointer"));
    }
    p.write(v);
    Ok(())
}

/// The capacity of an output buffer: None for a length query (NULL buffer).
pub unsafe fn out_cap(p: *mut u8, plen: *mut CK_ULONG) -> Result<Option<usize>> {
    if plen.is_null() {
        return Err(bad("NULL length pointer"));
    }
    Ok(if p.is_null() {
        None
    } else {
        Some(*plen as usize)
    })
}

/// Write an operation's output with the standard's buffer semantics.
pub unsafe fn write_output(o: Output, p: *mut u8, plen: *mut CK_ULONG) -> Result<()> {
    match o {
        Output::Len(n) => put(plen, n as CK_ULONG),
        Output::Data(v) => {
            if !v.is_empty() {
                if p.is_null() {
                    return Err(bad("NULL output buffer"));
                }
                std::ptr::copy_nonoverlapping(v.as_ptr(), p, v.len());
            }
            put(plen, v.len() as CK_ULONG)
        }
        Output::TooSmall(n) => {
            put(plen, n as CK_ULONG)?;
            Err(Error::ck(
                CKR_BUFFER_TOO_SMALL,
                format!("output needs {n} bytes"),
            ))
        }
    }
}

/// Copy a template out of C memory.
pub unsafe fn read_template(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Result<Vec<Attr>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if p.is_null() {
        return Err(bad("NULL template with a non-zero count"));
    }
    if n > 4096 {
        return Err(bad("template too long"));
    }
    let attrs = std::slice::from_raw_parts(p, n as usize);
    attrs
        .iter()
        .map(|a| {
            if a.ulValueLen == CK_UNAVAILABLE_INFORMATION {
                return Err(Error::ck(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    format!("attribute 0x{:x} has no value", a.type_),
                ));
            }
            // An absurd length is a bad value of that attribute (PKCS#11 has no "data length"
            // error for templates), checked before anything is read.
            if a.ulValueLen > MAX_ATTRIBUTE_LEN {
                return Err(Error::ck(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    format!(
                        "attribute 0x{:x} has an absurd length ({})",
                        a.type_, a.ulValueLen
                    ),
                ));
            }
            let v = slice(a.pValue as *const u8, a.ulValueLen)?;
            Ok(Attr {
                ty: a.type_,
                value: v.to_vec(),
            })
        })
        .collect()
}

/// Copy a mechanism and its parameters out of C memory.
pub unsafe fn read_mechanism(p: *const CK_MECHANISM) -> Result<(CK_MECHANISM_TYPE, MechParams)> {
    if p.is_null() {
        return Err(bad("NULL mechanism"));
    }
    let m = &*p;
    let plen = m.ulParameterLen as usize;
    if m.pParameter.is_null() {
        if plen != 0 {
            return Err(Error::ck(
                CKR_MECHANISM_PARAM_INVALID,
                "NULL parameter with a non-zero length",
            ));
        }
        return Ok((m.mechanism, MechParams::None));
    }
    if plen == 0 {
        return Ok((m.mechanism, MechParams::None));
    }
    let invalid = |what: &str| {
        Error::ck(
            CKR_MECHANISM_PARAM_INVALID,
            format!("{what} has the wrong size"),
        )
    };
    let params = match m.mechanism {
        CKM_RSA_PKCS_PSS
        | CKM_SHA1_RSA_PKCS_PSS
        | CKM_SHA224_RSA_PKCS_PSS
        | CKM_SHA256_RSA_PKCS_PSS
        | CKM_SHA384_RSA_PKCS_PSS
        | CKM_SHA512_RSA_PKCS_PSS => {
            if plen != std::mem::size_of::<CK_RSA_PKCS_PSS_PARAMS>() {
                return Err(invalid("CK_RSA_PKCS_PSS_PARAMS"));
            }
            let pp = (m.pParameter as *const CK_RSA_PKCS_PSS_PARAMS).read_unaligned();
            MechParams::Pss(PssParams {
                hash_alg: pp.hashAlg,
                mgf: pp.mgf,
                salt_len: pp.sLen,
            })
        }
        CKM_RSA_PKCS_OAEP => {
            if plen != std::mem::size_of::<CK_RSA_PKCS_OAEP_PARAMS>() {
                return Err(invalid("CK_RSA_PKCS_OAEP_PARAMS"));
            }
            let op = (m.pParameter as *const CK_RSA_PKCS_OAEP_PARAMS).read_unaligned();
            let source = if op.source == 0 || op.ulSourceDataLen == 0 {
                Vec::new()
            } else if op.source != CKZ_DATA_SPECIFIED {
                return Err(Error::ck(
                    CKR_MECHANISM_PARAM_INVALID,
                    "OAEP source must be CKZ_DATA_SPECIFIED",
                ));
            } else {
                slice(op.pSourceData as *const u8, op.ulSourceDataLen)?.to_vec()
            };
            MechParams::Oaep(OaepParams {
                hash_alg: op.hashAlg,
                mgf: op.mgf,
                source_data: source,
            })
        }
        CKM_EDDSA => {
            if plen != std::mem::size_of::<CK_EDDSA_PARAMS>() {
                return Err(invalid("CK_EDDSA_PARAMS"));
            }
            let ep = (m.pParameter as *const CK_EDDSA_PARAMS).read_unaligned();
            if ep.phFlag == 0 && ep.ulContextDataLen == 0 {
                MechParams::None
            } else {
                MechParams::Other(plen)
            }
        }
        _ => MechParams::Other(plen),
    };
    Ok((m.mechanism, params))
}

/// Copy a Rust string into a blank-padded fixed-size C field.
pub fn pad_field(s: &str, out: &mut [CK_UTF8CHAR]) {
    crate::util::pad(s, out)
}
