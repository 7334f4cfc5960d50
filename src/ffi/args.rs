//! C arguments in and out: input buffers, out-pointers, output buffers with the standard's
//! length-query / CKR_BUFFER_TOO_SMALL semantics, lists, templates and mechanisms. Every function
//! here checks for NULL and absurd lengths before it reads or writes; what it cannot check (that a
//! non-NULL pointer is valid for the length the caller gave) is the caller's contract under
//! PKCS#11, stated as each function's safety requirement.

use crate::error::{Error, Result};
use crate::mechanism::aes::{CtrParams, GcmParams, Iv, IvSink};
use crate::mechanism::{MechParams, OaepParams, PssParams};
use crate::token::{Attr, Output, Template};
use cryptoki_sys::*;

/// Largest single buffer the module will read from a caller (guards against garbage lengths).
const MAX_LEN: CK_ULONG = 256 * 1024 * 1024;
/// Largest attribute value the module will read from a template. Real values (labels, ids,
/// certificates, policies) are a few KiB; a larger length is garbage and an invalid value.
const MAX_ATTRIBUTE_LEN: CK_ULONG = 1024 * 1024;
/// Longest template the module reads.
const MAX_TEMPLATE: CK_ULONG = 4096;

/// CKR_ARGUMENTS_BAD with a message for the log.
pub(crate) fn bad(msg: &str) -> Error {
    Error::ck(CKR_ARGUMENTS_BAD, msg)
}

/// A caller's input buffer.
///
/// # Safety
/// `p`, when not NULL, points at `len` readable bytes that stay valid for the call.
pub(crate) unsafe fn slice<'a>(p: *const u8, len: CK_ULONG) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(bad("NULL data pointer with a non-zero length"));
    }
    if len > MAX_LEN {
        return Err(Error::ck(CKR_DATA_LEN_RANGE, "input too large"));
    }
    // SAFETY: not NULL, and readable for `len` bytes by the caller's contract; `len` is below
    // MAX_LEN, so it fits usize and isize.
    Ok(unsafe { std::slice::from_raw_parts(p, len as usize) })
}

/// An IV copied from the caller's buffer at `p`, with the sink that writes the IV the TSB chose
/// back into that buffer (mechanism::aes: only on a slot whose `aes_iv` is `tsb-when-zero`, for
/// an all-zero IV; otherwise the sink is never called). The sink writes only an IV of exactly
/// the buffer's length.
///
/// # Safety
/// `p`, when not NULL, points at `iv.len()` bytes (`iv` is their copy) that stay valid and
/// writable until the operation that keeps the sink ends: the documented contract of the
/// module's AES encryption with `tsb-when-zero`, as of AWS CloudHSM's for AES-GCM.
pub(crate) unsafe fn iv_with_sink(p: *mut u8, iv: &[u8]) -> Iv {
    let len = iv.len();
    let bytes = iv.to_vec();
    if p.is_null() || len == 0 {
        return Iv { bytes, sink: None };
    }
    // A raw pointer is not Send; its address is, and is turned back only here.
    let addr = p as usize;
    let sink = IvSink::new(move |v: &[u8]| {
        if v.len() == len {
            // SAFETY: `addr` is the caller's IV buffer of `len` writable bytes, valid until the
            // operation ends (this function's requirement); `v` is our own slice of `len` bytes.
            unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), addr as *mut u8, len) }
        }
    });
    Iv {
        bytes,
        sink: Some(sink),
    }
}

/// Write through an out-pointer after checking it.
///
/// # Safety
/// `p`, when not NULL, points at a writable `T`.
pub(crate) unsafe fn put<T>(p: *mut T, v: T) -> Result<()> {
    if p.is_null() {
        return Err(bad("NULL output pointer"));
    }
    // SAFETY: not NULL, a writable and aligned `T` (a C object of that type) by the caller's
    // contract; `write` does not read or drop the old value.
    unsafe { p.write(v) };
    Ok(())
}

/// The capacity of an output buffer: None for a length query (NULL buffer).
///
/// # Safety
/// `plen`, when not NULL, points at a readable CK_ULONG.
pub(crate) unsafe fn out_cap(p: *mut u8, plen: *mut CK_ULONG) -> Result<Option<usize>> {
    if plen.is_null() {
        return Err(bad("NULL length pointer"));
    }
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: not NULL, readable by the caller's contract.
    let cap = unsafe { plen.read() };
    Ok(Some(usize::try_from(cap).unwrap_or(usize::MAX)))
}

/// Write an operation's output with the standard's buffer semantics: the length for a length
/// query, the data when it fits, CKR_BUFFER_TOO_SMALL with the length needed when not.
///
/// # Safety
/// `plen` points at a writable CK_ULONG; `p`, when not NULL, at `*plen` writable bytes (the
/// capacity read by [`out_cap`], which produced the `Output` together with the layer below).
pub(crate) unsafe fn write_output(o: Output, p: *mut u8, plen: *mut CK_ULONG) -> Result<()> {
    match o {
        // SAFETY (all three arms): `plen` and `p` as this function requires.
        Output::Len(n) => unsafe { put(plen, n as CK_ULONG) },
        Output::Data(v) => {
            if !v.is_empty() {
                if p.is_null() {
                    return Err(bad("NULL output buffer"));
                }
                // SAFETY: `p` holds at least the capacity the caller gave, and an `Output::Data`
                // is never longer than that capacity; the buffers cannot overlap (`v` is ours).
                unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), p, v.len()) };
            }
            // SAFETY: as above.
            unsafe { put(plen, v.len() as CK_ULONG) }
        }
        Output::TooSmall(n) => {
            // SAFETY: as above.
            unsafe { put(plen, n as CK_ULONG) }?;
            Err(Error::ck(
                CKR_BUFFER_TOO_SMALL,
                format!("output needs {n} bytes"),
            ))
        }
    }
}

/// Write a list (slots, mechanisms, interfaces) with the standard's semantics: `p` NULL asks for
/// the count; a buffer of fewer than the count entries gets CKR_BUFFER_TOO_SMALL and the count.
///
/// # Safety
/// `count` points at a writable CK_ULONG; `p`, when not NULL, at `*count` writable `T`s.
pub(crate) unsafe fn write_list<T: Copy>(
    items: &[T],
    p: *mut T,
    count: *mut CK_ULONG,
) -> Result<()> {
    if count.is_null() {
        return Err(bad("NULL count pointer"));
    }
    let n = items.len() as CK_ULONG;
    if !p.is_null() {
        // SAFETY: `count` is not NULL and readable by the caller's contract.
        if unsafe { count.read() } < n {
            // SAFETY: as above, and writable.
            unsafe { count.write(n) };
            return Err(Error::ck(
                CKR_BUFFER_TOO_SMALL,
                format!("the list has {n} entries"),
            ));
        }
        // SAFETY: `p` has room for `*count >= n` entries by the caller's contract.
        unsafe { copy_to(items, p) };
    }
    // SAFETY: `count` as above.
    unsafe { put(count, n) }
}

/// Copy `items` to the caller's array.
///
/// # Safety
/// `p` points at room for `items.len()` writable `T`s (not overlapping `items`).
pub(crate) unsafe fn copy_to<T: Copy>(items: &[T], p: *mut T) {
    if !items.is_empty() {
        // SAFETY: by this function's requirement.
        unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), p, items.len()) };
    }
}

/// Copy a template out of C memory (its values too, checked for absurd lengths).
///
/// # Safety
/// `p`, when not NULL, points at `n` readable CK_ATTRIBUTEs whose `pValue`s, when not NULL, are
/// readable for their `ulValueLen`.
pub(crate) unsafe fn read_template(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Result<Template> {
    check_template(p, n)?;
    let attrs: &[CK_ATTRIBUTE] = if n == 0 {
        &[]
    } else {
        // SAFETY: not NULL and `n` (at most MAX_TEMPLATE) readable entries by this function's
        // requirement (checked above).
        unsafe { std::slice::from_raw_parts(p, n as usize) }
    };
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
            // SAFETY: the value is readable for its length by this function's requirement.
            let v = unsafe { slice(a.pValue as *const u8, a.ulValueLen) }?;
            Ok(Attr::new(a.type_, v.to_vec()))
        })
        .collect::<Result<Vec<_>>>()
        .map(Template::new)
}

/// A template pointer and count the module may read: NULL only with 0, and not absurdly long.
fn check_template(p: *const CK_ATTRIBUTE, n: CK_ULONG) -> Result<()> {
    if n > 0 && p.is_null() {
        return Err(bad("NULL template with a non-zero count"));
    }
    if n > MAX_TEMPLATE {
        return Err(bad("template too long"));
    }
    Ok(())
}

/// The caller's template array itself, which C_GetAttributeValue writes into.
///
/// # Safety
/// `p`, when not NULL, points at `n` CK_ATTRIBUTEs, readable and writable for the call.
pub(crate) unsafe fn template_mut<'a>(
    p: *mut CK_ATTRIBUTE,
    n: CK_ULONG,
) -> Result<&'a mut [CK_ATTRIBUTE]> {
    check_template(p, n)?;
    if n == 0 {
        return Ok(&mut []);
    }
    // SAFETY: not NULL and `n` (at most MAX_TEMPLATE) writable entries by this function's
    // requirement (checked above).
    Ok(unsafe { std::slice::from_raw_parts_mut(p, n as usize) })
}

/// Copy a mechanism and its parameters out of C memory.
///
/// # Safety
/// `p`, when not NULL, points at a readable CK_MECHANISM whose `pParameter`, when not NULL, is
/// readable for `ulParameterLen` bytes.
pub(crate) unsafe fn read_mechanism(
    p: *const CK_MECHANISM,
) -> Result<(CK_MECHANISM_TYPE, MechParams)> {
    if p.is_null() {
        return Err(bad("NULL mechanism"));
    }
    // SAFETY: not NULL, readable by this function's requirement.
    let m = unsafe { p.read_unaligned() };
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
            // SAFETY: the parameter is readable for its length, which is this struct's size.
            let pp = unsafe { (m.pParameter as *const CK_RSA_PKCS_PSS_PARAMS).read_unaligned() };
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
            // SAFETY: the parameter is readable for its length, which is this struct's size.
            let op = unsafe { (m.pParameter as *const CK_RSA_PKCS_OAEP_PARAMS).read_unaligned() };
            let source = if op.source == 0 || op.ulSourceDataLen == 0 {
                Vec::new()
            } else if op.source != CKZ_DATA_SPECIFIED {
                return Err(Error::ck(
                    CKR_MECHANISM_PARAM_INVALID,
                    "OAEP source must be CKZ_DATA_SPECIFIED",
                ));
            } else {
                // SAFETY: the caller's OAEP parameters name their source data and its length.
                unsafe { slice(op.pSourceData as *const u8, op.ulSourceDataLen) }?.to_vec()
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
            // SAFETY: the parameter is readable for its length, which is this struct's size.
            let ep = unsafe { (m.pParameter as *const CK_EDDSA_PARAMS).read_unaligned() };
            if ep.phFlag == 0 && ep.ulContextDataLen == 0 {
                MechParams::None
            } else {
                MechParams::Other(plen)
            }
        }
        crate::pkcs11_v32::CKM_ML_DSA | crate::pkcs11_v32::CKM_SLH_DSA => {
            use crate::pkcs11_v32::CK_SIGN_ADDITIONAL_CONTEXT;
            if plen != std::mem::size_of::<CK_SIGN_ADDITIONAL_CONTEXT>() {
                return Err(invalid("CK_SIGN_ADDITIONAL_CONTEXT"));
            }
            // SAFETY: the parameter is readable for its length, which is this struct's size.
            let sc =
                unsafe { (m.pParameter as *const CK_SIGN_ADDITIONAL_CONTEXT).read_unaligned() };
            // Longer than FIPS 204/205 allow: refused (not read) by the mechanism layer; the
            // length is kept so the message can say so.
            if sc.ulContextLen as usize > crate::mechanism::pqc::MAX_CONTEXT {
                return Err(Error::ck(
                    CKR_MECHANISM_PARAM_INVALID,
                    format!(
                        "a context of {} bytes: FIPS 204/205 allow at most {}",
                        sc.ulContextLen,
                        crate::mechanism::pqc::MAX_CONTEXT
                    ),
                ));
            }
            // SAFETY: the caller's parameter names its context bytes and their length.
            let context = unsafe { slice(sc.pContext as *const u8, sc.ulContextLen) }
                .map_err(|_| {
                    Error::ck(
                        CKR_MECHANISM_PARAM_INVALID,
                        "CK_SIGN_ADDITIONAL_CONTEXT: NULL pContext with a non-zero ulContextLen",
                    )
                })?
                .to_vec();
            MechParams::SignContext {
                hedge: sc.hedgeVariant,
                context,
            }
        }
        CKM_AES_GCM => {
            if plen != std::mem::size_of::<CK_GCM_PARAMS>() {
                return Err(invalid("CK_GCM_PARAMS"));
            }
            // SAFETY: the parameter is readable for its length, which is this struct's size.
            let g = unsafe { (m.pParameter as *const CK_GCM_PARAMS).read_unaligned() };
            // SAFETY: the caller's GCM parameters name their IV and AAD and their lengths.
            let (iv, aad) = unsafe { (slice(g.pIv, g.ulIvLen)?, slice(g.pAAD, g.ulAADLen)?) };
            MechParams::Gcm(GcmParams {
                // SAFETY: pIv holds ulIvLen writable bytes (CK_GCM_PARAMS) and stays valid
                // until the encryption finishes, the contract of the module's AES encryption
                // (mechanism::aes): with `aes_iv` `tsb-when-zero`, the TSB's IV is written back
                // into an all-zero one.
                iv: unsafe { iv_with_sink(g.pIv, iv) },
                aad: aad.to_vec(),
                tag_bits: g.ulTagBits,
            })
        }
        CKM_AES_CBC | CKM_AES_CBC_PAD => {
            // SAFETY: the parameter is readable for its length (the mechanism's contract).
            let iv = unsafe { slice(m.pParameter as *const u8, m.ulParameterLen) }?;
            // SAFETY: as for GCM's pIv: the IV parameter is the caller's buffer, valid and
            // writable until the encryption finishes (mechanism::aes).
            MechParams::Iv(unsafe { iv_with_sink(m.pParameter as *mut u8, iv) })
        }
        CKM_AES_CTR => {
            if plen != std::mem::size_of::<CK_AES_CTR_PARAMS>() {
                return Err(invalid("CK_AES_CTR_PARAMS"));
            }
            // SAFETY: the parameter is readable for its length, which is this struct's size.
            let c = unsafe { (m.pParameter as *const CK_AES_CTR_PARAMS).read_unaligned() };
            MechParams::Ctr(CtrParams {
                counter_bits: c.ulCounterBits,
                cb: c.cb,
            })
        }
        CKM_SHA256_HMAC_GENERAL | CKM_AES_CMAC_GENERAL | CKM_AES_MAC_GENERAL => {
            if plen != std::mem::size_of::<CK_MAC_GENERAL_PARAMS>() {
                return Err(invalid("CK_MAC_GENERAL_PARAMS"));
            }
            // SAFETY: the parameter is readable for its length, which is a CK_ULONG's.
            let n = unsafe { (m.pParameter as *const CK_MAC_GENERAL_PARAMS).read_unaligned() };
            MechParams::MacLen(usize::try_from(n).unwrap_or(usize::MAX))
        }
        CKM_SP800_108_COUNTER_KDF
        | CKM_SP800_108_FEEDBACK_KDF
        | CKM_SP800_108_DOUBLE_PIPELINE_KDF => {
            // SAFETY: the parameter is readable for its length (checked per struct inside).
            MechParams::Kbkdf(unsafe { kbkdf_params(m.mechanism, m.pParameter, plen) }?)
        }
        CKM_AES_ECB_ENCRYPT_DATA | CKM_AES_CBC_ENCRYPT_DATA => {
            // SAFETY: the parameter is readable for its length (checked per struct inside).
            MechParams::Derive(unsafe { derive_data(m.mechanism, m.pParameter, plen) }?)
        }
        _ => MechParams::Other(plen),
    };
    Ok((m.mechanism, params))
}

/// CK_KEY_DERIVATION_STRING_DATA (ECB) or CK_AES_CBC_ENCRYPT_DATA_PARAMS (CBC), copied; a
/// parameter of the wrong size, or NULL data with a non-zero length, is
/// CKR_MECHANISM_PARAM_INVALID (the lengths are checked by `mechanism::derive_data`).
///
/// # Safety
/// `p` is not NULL and readable for `plen` bytes; the structure's `pData`, when not NULL, is
/// readable for its length.
unsafe fn derive_data(
    mech: CK_MECHANISM_TYPE,
    p: *const std::ffi::c_void,
    plen: usize,
) -> Result<crate::mechanism::DeriveData> {
    let invalid = |what: &str| {
        Error::ck(
            CKR_MECHANISM_PARAM_INVALID,
            format!("{what}: wrong size, or NULL data with a non-zero length"),
        )
    };
    let (iv, data, len, what) = if mech == CKM_AES_ECB_ENCRYPT_DATA {
        let what = "CK_KEY_DERIVATION_STRING_DATA";
        if plen != std::mem::size_of::<CK_KEY_DERIVATION_STRING_DATA>() {
            return Err(invalid(what));
        }
        // SAFETY: the parameter is readable for its length, which is this struct's size.
        let d = unsafe { (p as *const CK_KEY_DERIVATION_STRING_DATA).read_unaligned() };
        (None, d.pData, d.ulLen, what)
    } else {
        let what = "CK_AES_CBC_ENCRYPT_DATA_PARAMS";
        if plen != std::mem::size_of::<CK_AES_CBC_ENCRYPT_DATA_PARAMS>() {
            return Err(invalid(what));
        }
        // SAFETY: the parameter is readable for its length, which is this struct's size.
        let d = unsafe { (p as *const CK_AES_CBC_ENCRYPT_DATA_PARAMS).read_unaligned() };
        (Some(d.iv), d.pData, d.length, what)
    };
    // SAFETY: the caller's parameter names its data and the data's length.
    let data = unsafe { slice(data, len) }.map_err(|_| invalid(what))?;
    Ok(crate::mechanism::DeriveData {
        iv,
        data: data.to_vec().into(),
    })
}

/// CK_SP800_108_KDF_PARAMS (counter, double pipeline) or CK_SP800_108_FEEDBACK_KDF_PARAMS
/// (feedback), copied with their data parameters, the feedback IV and the additional keys'
/// templates; each additional key's `phKey` is kept as an address for the C boundary to write
/// the handle to. A structure of the wrong size, a NULL array with a non-zero count, an unknown
/// data parameter type, a value of the wrong size or a NULL `phKey` is
/// CKR_MECHANISM_PARAM_INVALID; the rules between the parameters are `mechanism::kbkdf::check`'s.
///
/// # Safety
/// `p` is not NULL and readable for `plen` bytes; the arrays and values the structure names, when
/// not NULL, are readable for the lengths it gives.
unsafe fn kbkdf_params(
    mech: CK_MECHANISM_TYPE,
    p: *const std::ffi::c_void,
    plen: usize,
) -> Result<crate::mechanism::kbkdf::KbkdfParams> {
    use crate::mechanism::kbkdf::{self as k, DataParam, DkmMethod, IntFormat};
    let invalid = |what: &str| Error::ck(CKR_MECHANISM_PARAM_INVALID, what.to_string());
    let (prf, n, data, iv, nkeys, keys) = if mech == CKM_SP800_108_FEEDBACK_KDF {
        if plen != std::mem::size_of::<CK_SP800_108_FEEDBACK_KDF_PARAMS>() {
            return Err(invalid(
                "CK_SP800_108_FEEDBACK_KDF_PARAMS has the wrong size",
            ));
        }
        // SAFETY: the parameter is readable for its length, which is this struct's size.
        let f = unsafe { (p as *const CK_SP800_108_FEEDBACK_KDF_PARAMS).read_unaligned() };
        if f.ulIVLen as usize > k::MAX_PARAM_BYTES {
            return Err(invalid("the feedback IV is too long"));
        }
        // SAFETY: the caller's parameter names its IV and the IV's length.
        let iv = unsafe { slice(f.pIV, f.ulIVLen) }
            .map_err(|_| invalid("NULL pIV with a non-zero ulIVLen"))?
            .to_vec();
        (
            f.prfType,
            f.ulNumberOfDataParams,
            f.pDataParams,
            Some(iv),
            f.ulAdditionalDerivedKeys,
            f.pAdditionalDerivedKeys,
        )
    } else {
        if plen != std::mem::size_of::<CK_SP800_108_KDF_PARAMS>() {
            return Err(invalid("CK_SP800_108_KDF_PARAMS has the wrong size"));
        }
        // SAFETY: the parameter is readable for its length, which is this struct's size.
        let f = unsafe { (p as *const CK_SP800_108_KDF_PARAMS).read_unaligned() };
        (
            f.prfType,
            f.ulNumberOfDataParams,
            f.pDataParams,
            None,
            f.ulAdditionalDerivedKeys,
            f.pAdditionalDerivedKeys,
        )
    };
    /// A caller's array of `n` `T`s, bounded by `max`.
    ///
    /// # Safety
    /// `p`, when not NULL, points at `n` readable `T`s.
    unsafe fn array<'a, T>(p: *const T, n: CK_ULONG, max: usize, what: &str) -> Result<&'a [T]> {
        let bad = || {
            Error::ck(
                CKR_MECHANISM_PARAM_INVALID,
                format!("{what}: NULL or too many"),
            )
        };
        if n == 0 {
            return Ok(&[]);
        }
        if p.is_null() || n as usize > max {
            return Err(bad());
        }
        // SAFETY: not NULL and `n` (at most `max`) readable entries by this function's
        // requirement.
        Ok(unsafe { std::slice::from_raw_parts(p, n as usize) })
    }
    // SAFETY: pDataParams holds ulNumberOfDataParams entries (the structure's contract).
    let raw = unsafe { array(data, n, k::MAX_DATA_PARAMS, "pDataParams") }?;
    let mut total = iv.as_ref().map_or(0, Vec::len);
    let mut params = Vec::with_capacity(raw.len());
    for d in raw {
        let len = d.ulValueLen as usize;
        // NULL goes with a length of 0 and nothing else: the iteration variable of feedback
        // and double pipeline modes (no value) is NULL and 0, and no NULL `pValue` is ever
        // followed, whatever its type and length (a NULL iteration variable with the length
        // of a CK_SP800_108_COUNTER_FORMAT was read).
        if d.pValue.is_null() != (len == 0) {
            return Err(invalid("a data parameter's pValue and ulValueLen disagree"));
        }
        let bool_of = |b: CK_BBOOL| match b {
            CK_FALSE => Ok(false),
            CK_TRUE => Ok(true),
            _ => Err(invalid("bLittleEndian is neither CK_TRUE nor CK_FALSE")),
        };
        let counter = || -> Result<IntFormat> {
            if len != std::mem::size_of::<CK_SP800_108_COUNTER_FORMAT>() {
                return Err(invalid("CK_SP800_108_COUNTER_FORMAT has the wrong size"));
            }
            // SAFETY: pValue is not NULL (len is not 0) and readable for this struct's size.
            let c = unsafe { (d.pValue as *const CK_SP800_108_COUNTER_FORMAT).read_unaligned() };
            Ok(IntFormat {
                little_endian: bool_of(c.bLittleEndian)?,
                bits: c.ulWidthInBits,
            })
        };
        params.push(match d.type_ {
            CK_SP800_108_ITERATION_VARIABLE if d.pValue.is_null() && len == 0 => {
                DataParam::IterationVariable(None)
            }
            CK_SP800_108_ITERATION_VARIABLE => DataParam::IterationVariable(Some(counter()?)),
            CK_SP800_108_COUNTER => DataParam::Counter(counter()?),
            CK_SP800_108_DKM_LENGTH => {
                if len != std::mem::size_of::<CK_SP800_108_DKM_LENGTH_FORMAT>() {
                    return Err(invalid("CK_SP800_108_DKM_LENGTH_FORMAT has the wrong size"));
                }
                // SAFETY: pValue is not NULL (len is not 0) and readable for this size.
                let f =
                    unsafe { (d.pValue as *const CK_SP800_108_DKM_LENGTH_FORMAT).read_unaligned() };
                let method = match f.dkmLengthMethod {
                    CK_SP800_108_DKM_LENGTH_SUM_OF_KEYS => DkmMethod::SumOfKeys,
                    CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS => DkmMethod::SumOfSegments,
                    _ => return Err(invalid("an unknown dkmLengthMethod")),
                };
                DataParam::DkmLength(
                    method,
                    IntFormat {
                        little_endian: bool_of(f.bLittleEndian)?,
                        bits: f.ulWidthInBits,
                    },
                )
            }
            CK_SP800_108_BYTE_ARRAY => {
                total = total.saturating_add(len);
                if total > k::MAX_PARAM_BYTES {
                    return Err(invalid("the byte arrays are too long"));
                }
                // SAFETY: the caller's data parameter names its bytes and their length.
                let b = unsafe { slice(d.pValue as *const u8, d.ulValueLen) }
                    .map_err(|_| invalid("an unreadable byte array"))?;
                DataParam::Bytes(b.to_vec())
            }
            t => return Err(invalid(&format!("unknown data parameter type {t}"))),
        });
    }
    // SAFETY: pAdditionalDerivedKeys holds ulAdditionalDerivedKeys entries (the structure's
    // contract).
    let raw = unsafe {
        array(
            keys,
            nkeys,
            k::MAX_ADDITIONAL_KEYS,
            "pAdditionalDerivedKeys",
        )
    }?;
    let mut additional = Vec::with_capacity(raw.len());
    for dk in raw {
        if dk.phKey.is_null() {
            return Err(invalid("an additional key's phKey is NULL"));
        }
        // SAFETY: the key's template holds ulAttributeCount readable attributes
        // (CK_DERIVED_KEY's contract).
        let template = unsafe { read_template(dk.pTemplate, dk.ulAttributeCount) }?;
        additional.push(k::AdditionalKey {
            template,
            out: k::KeyOut(dk.phKey as usize),
        });
    }
    Ok(k::KbkdfParams {
        prf,
        data: params,
        iv,
        additional,
    })
}

/// A NUL-terminated UTF-8 string argument; NULL or empty is `None`.
///
/// # Safety
/// `p`, when not NULL, points at a NUL-terminated string readable for the call.
pub(crate) unsafe fn opt_str(p: *const std::os::raw::c_char, what: &str) -> Result<Option<String>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: not NULL, NUL-terminated by this function's requirement.
    let s = unsafe { std::ffi::CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| Error::ck(CKR_ARGUMENTS_BAD, format!("{what} is not UTF-8")))?;
    Ok(Some(s.to_string()).filter(|s| !s.is_empty()))
}

/// Copy a Rust string into a blank-padded fixed-size C field.
pub(crate) fn pad_field(s: &str, out: &mut [CK_UTF8CHAR]) {
    crate::util::pad(s, out)
}

/// The mechanism of C_MessageEncryptInit / C_MessageDecryptInit. CKM_AES_GCM takes no parameter
/// or a CK_GCM_MESSAGE_PARAMS (as the `cryptoki` crate passes), whose values are not read: each
/// message brings its own. Another size is CKR_MECHANISM_PARAM_INVALID. The parameter of any
/// other mechanism is not looked at (the layer below refuses the mechanism). The generic
/// [`read_mechanism`] must not read it: a CK_GCM_MESSAGE_PARAMS has the size of a CK_GCM_PARAMS,
/// with a generator and a pointer where those has the AAD and its length.
///
/// # Safety
/// `p`, when not NULL, points at a readable CK_MECHANISM.
pub(crate) unsafe fn read_message_mechanism(p: *const CK_MECHANISM) -> Result<CK_MECHANISM_TYPE> {
    if p.is_null() {
        return Err(bad("NULL mechanism"));
    }
    // SAFETY: not NULL, readable by this function's requirement.
    let m = unsafe { p.read_unaligned() };
    if m.mechanism == CKM_AES_GCM
        && !(m.pParameter.is_null() && m.ulParameterLen == 0)
        && m.ulParameterLen as usize != std::mem::size_of::<CK_GCM_MESSAGE_PARAMS>()
    {
        return Err(Error::ck(
            CKR_MECHANISM_PARAM_INVALID,
            "message-based CKM_AES_GCM takes no parameter or a CK_GCM_MESSAGE_PARAMS",
        ));
    }
    Ok(m.mechanism)
}

/// Where the values a message call returns go: the caller's `pIv` and `pTag` of its
/// CK_GCM_MESSAGE_PARAMS, with their lengths.
pub(crate) struct MessageParamOut {
    iv: *mut u8,
    iv_len: usize,
    tag: *mut u8,
    tag_len: usize,
}

/// A message call's CK_GCM_MESSAGE_PARAMS, copied, and where its results go. `read_tag`: the
/// tag is an input (decryption) and is read; for encryption `pTag` is only written. Checked
/// before any pointer inside it is followed: the structure's size, an IV of 1 to 256 bytes and a
/// tag of 64 to 128 bits in whole bytes, with their pointers not NULL
/// (CKR_MECHANISM_PARAM_INVALID); a NULL `pParameter` is CKR_ARGUMENTS_BAD.
///
/// # Safety
/// `p`, when not NULL, points at `len` readable bytes; when they are a CK_GCM_MESSAGE_PARAMS,
/// its `pIv` points at `ulIvLen` readable and writable bytes and its `pTag` at `ulTagBits / 8`,
/// valid for the call.
pub(crate) unsafe fn read_gcm_message(
    p: *const std::ffi::c_void,
    len: CK_ULONG,
    read_tag: bool,
) -> Result<(crate::mechanism::gcm_message::GcmMessage, MessageParamOut)> {
    if p.is_null() {
        return Err(bad(
            "NULL pParameter: AES-GCM messages need a CK_GCM_MESSAGE_PARAMS",
        ));
    }
    let invalid = |m: String| Error::ck(CKR_MECHANISM_PARAM_INVALID, m);
    if len as usize != std::mem::size_of::<CK_GCM_MESSAGE_PARAMS>() {
        return Err(invalid(format!(
            "a parameter of {len} bytes is not a CK_GCM_MESSAGE_PARAMS"
        )));
    }
    // SAFETY: readable for its length, which is this struct's size.
    let g = unsafe { (p as *const CK_GCM_MESSAGE_PARAMS).read_unaligned() };
    if !crate::mechanism::modes::GCM_NONCE_LEN.contains(&(g.ulIvLen as usize)) || g.pIv.is_null() {
        return Err(invalid(format!(
            "an IV of {} bytes at {:?}: GCM takes a nonce of 1 to 256 bytes",
            g.ulIvLen, g.pIv
        )));
    }
    if !crate::mechanism::modes::gcm_tag_bits_ok(g.ulTagBits) || g.pTag.is_null() {
        return Err(invalid(format!(
            "a tag of {} bits at {:?}: 64 to 128 bits in whole bytes",
            g.ulTagBits, g.pTag
        )));
    }
    let tag_len = g.ulTagBits as usize / 8;
    // SAFETY: pIv holds ulIvLen bytes (checked above: 1 to 256) by this function's requirement.
    let iv = unsafe { slice(g.pIv, g.ulIvLen) }?.to_vec();
    let tag = if read_tag {
        // SAFETY: pTag holds ulTagBits / 8 bytes (8 to 16) by this function's requirement.
        unsafe { slice(g.pTag, tag_len as CK_ULONG) }?.to_vec()
    } else {
        Vec::new()
    };
    Ok((
        crate::mechanism::gcm_message::GcmMessage {
            iv,
            fixed_bits: g.ulIvFixedBits,
            generator: g.ivGenerator,
            tag_bits: g.ulTagBits,
            tag,
        },
        MessageParamOut {
            iv: g.pIv,
            iv_len: g.ulIvLen as usize,
            tag: g.pTag,
            tag_len,
        },
    ))
}

/// Write a generated IV into the caller's `pIv` (exactly its length, else nothing is written and
/// the result is refused).
///
/// # Safety
/// `out` comes from [`read_gcm_message`] in this call, whose requirement holds.
pub(crate) unsafe fn write_message_iv(out: &MessageParamOut, iv: &[u8]) -> Result<()> {
    if iv.len() != out.iv_len {
        return Err(Error::BadResult(format!(
            "a generated IV of {} bytes for a buffer of {}",
            iv.len(),
            out.iv_len
        )));
    }
    // SAFETY: `out.iv` is the caller's pIv of `iv_len` writable bytes (not NULL, checked by
    // read_gcm_message); `iv` is ours.
    unsafe { std::ptr::copy_nonoverlapping(iv.as_ptr(), out.iv, iv.len()) };
    Ok(())
}

/// Write a message call's results: the output with the standard's buffer semantics, then, when
/// the output was returned, the generated IV into `pIv` and the tag into `pTag`. Where the IV and
/// tag go is checked before anything is written: a call that fails here has written nothing.
///
/// # Safety
/// As [`write_output`] for `p` and `plen`; `out`, when given, comes from [`read_gcm_message`] in
/// this call.
pub(crate) unsafe fn write_message_output(
    o: crate::token::MessageOutput,
    out: Option<&MessageParamOut>,
    p: *mut u8,
    plen: *mut CK_ULONG,
) -> Result<()> {
    let need = |what: &str| bad(&format!("no CK_GCM_MESSAGE_PARAMS to return the {what} in"));
    let fits = |v: &Option<Vec<u8>>, room: fn(&MessageParamOut) -> usize, what: &str| {
        let Some(v) = v else { return Ok(()) };
        let out = out.ok_or_else(|| need(what))?;
        if v.len() != room(out) {
            return Err(Error::BadResult(format!(
                "a {what} of {} bytes for a buffer of {}",
                v.len(),
                room(out)
            )));
        }
        Ok(())
    };
    let returned = matches!(o.out, Output::Data(_));
    if returned {
        fits(&o.iv, |m| m.iv_len, "IV")?;
        fits(&o.tag, |m| m.tag_len, "tag")?;
    }
    // SAFETY: by this function's requirement.
    unsafe { write_output(o.out, p, plen) }?;
    if !returned {
        return Ok(());
    }
    if let (Some(iv), Some(out)) = (&o.iv, out) {
        // SAFETY: by this function's requirement; the length was checked above.
        unsafe { write_message_iv(out, iv) }?;
    }
    if let (Some(tag), Some(out)) = (&o.tag, out) {
        // SAFETY: `out.tag` is the caller's pTag of `tag_len` writable bytes (not NULL, checked
        // by read_gcm_message), which is the tag's length (checked above); `tag` is ours.
        unsafe { std::ptr::copy_nonoverlapping(tag.as_ptr(), out.tag, tag.len()) };
    }
    Ok(())
}
