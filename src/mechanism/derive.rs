//! Key derivation by data encryption with AES: CKM_AES_ECB_ENCRYPT_DATA
//! (CK_KEY_DERIVATION_STRING_DATA) and CKM_AES_CBC_ENCRYPT_DATA (CK_AES_CBC_ENCRYPT_DATA_PARAMS),
//! PKCS#11 2.40 curr §2.15 "Key derivation by data encryption - DES & AES" (3.0 §2.16.x): the
//! derived key's value is the encryption of the data under the base key, cut to the length the
//! new key needs. This file holds what needs no key: the parameter and length rules and which
//! part of the data the encryption must cover. token/derive.rs runs the encryption on the TSB and
//! imports the result.

use super::MechParams;
use crate::error::{Error, Result};
use cryptoki_sys::*;
use zeroize::Zeroizing;

/// The AES block size.
const BLOCK: usize = 16;

/// The AES key lengths (bytes).
pub(crate) const AES_KEY_LENS: [usize; 3] = [16, 24, 32];

/// The parameter of a derivation by encryption, copied out of C memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeriveData {
    /// CBC's IV (CK_AES_CBC_ENCRYPT_DATA_PARAMS `iv`); None for ECB.
    pub(crate) iv: Option<[u8; 16]>,
    /// The data to encrypt (`pData`). Zeroized: its encryption is the new key.
    pub(crate) data: Zeroizing<Vec<u8>>,
}

/// Whether `mech` derives a key by encrypting data with AES.
pub(crate) fn is_encrypt_data(mech: CK_MECHANISM_TYPE) -> bool {
    matches!(mech, CKM_AES_ECB_ENCRYPT_DATA | CKM_AES_CBC_ENCRYPT_DATA)
}

fn param_invalid(msg: impl Into<String>) -> Error {
    Error::ck(CKR_MECHANISM_PARAM_INVALID, msg)
}

/// The parameter of `mech`, checked: the right kind for the mechanism (ECB: no IV; CBC: an IV),
/// data a non-zero multiple of 16 bytes (SoftHSMv2 `SoftHSM::deriveSymmetric` refuses the same
/// with CKR_MECHANISM_PARAM_INVALID).
pub(crate) fn derive_data(mech: CK_MECHANISM_TYPE, params: &MechParams) -> Result<&DeriveData> {
    let d = match (mech, params) {
        (CKM_AES_ECB_ENCRYPT_DATA, MechParams::Derive(d)) if d.iv.is_none() => d,
        (CKM_AES_CBC_ENCRYPT_DATA, MechParams::Derive(d)) if d.iv.is_some() => d,
        (CKM_AES_ECB_ENCRYPT_DATA, _) => {
            return Err(param_invalid(
                "CKM_AES_ECB_ENCRYPT_DATA needs CK_KEY_DERIVATION_STRING_DATA",
            ))
        }
        _ => {
            return Err(param_invalid(
                "CKM_AES_CBC_ENCRYPT_DATA needs CK_AES_CBC_ENCRYPT_DATA_PARAMS",
            ))
        }
    };
    if d.data.is_empty() || !d.data.len().is_multiple_of(BLOCK) {
        return Err(param_invalid(format!(
            "the data to encrypt is {} bytes: a non-zero multiple of 16 is needed",
            d.data.len()
        )));
    }
    Ok(d)
}

/// The length of the derived AES key: CKA_VALUE_LEN when the template gives it (16, 24 or 32,
/// else CKR_ATTRIBUTE_VALUE_INVALID, as SoftHSMv2 answers), else the length of the encryption,
/// which is the data's, when that is an AES key length (else CKR_TEMPLATE_INCOMPLETE). The
/// encryption must be at least that long: a shorter one cannot make the key
/// (CKR_MECHANISM_PARAM_INVALID: the parameter is what is too short; SoftHSMv2 answers
/// CKR_FUNCTION_FAILED, and python-pkcs11's tests accept either).
pub(crate) fn key_len(value_len: Option<CK_ULONG>, data_len: usize) -> Result<usize> {
    let len = match value_len {
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| AES_KEY_LENS.contains(n))
            .ok_or_else(|| {
                Error::ck(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    format!("CKA_VALUE_LEN {n}: an AES key is 16, 24 or 32 bytes"),
                )
            })?,
        None if AES_KEY_LENS.contains(&data_len) => data_len,
        None => {
            return Err(Error::ck(
                CKR_TEMPLATE_INCOMPLETE,
                format!(
                    "CKA_VALUE_LEN is needed: {data_len} bytes of encryption are no AES key length"
                ),
            ))
        }
    };
    if data_len < len {
        return Err(param_invalid(format!(
            "{data_len} bytes of data encrypt to {data_len} bytes: too few for a {len}-byte key"
        )));
    }
    Ok(len)
}

/// The part of the data whose encryption gives the first `len` bytes: the whole blocks that
/// cover them. Both modes compute block i from blocks 0..=i only (ECB from block i, CBC from the
/// IV and blocks 0..=i), so the rest of the data changes nothing in the key and is not sent.
pub(crate) fn needed(data: &[u8], len: usize) -> &[u8] {
    &data[..len.div_ceil(BLOCK).saturating_mul(BLOCK).min(data.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ecb(len: usize) -> MechParams {
        MechParams::Derive(DeriveData {
            iv: None,
            data: vec![1; len].into(),
        })
    }

    #[test]
    fn parameters_and_lengths() {
        let rv = |r: Result<usize>| r.unwrap_err().rv();
        assert!(derive_data(CKM_AES_ECB_ENCRYPT_DATA, &ecb(16)).is_ok());
        for bad in [0, 8, 15, 17] {
            assert_eq!(
                derive_data(CKM_AES_ECB_ENCRYPT_DATA, &ecb(bad))
                    .unwrap_err()
                    .rv(),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        assert_eq!(
            derive_data(CKM_AES_CBC_ENCRYPT_DATA, &ecb(16))
                .unwrap_err()
                .rv(),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            derive_data(CKM_AES_ECB_ENCRYPT_DATA, &MechParams::None)
                .unwrap_err()
                .rv(),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(key_len(Some(24), 32).unwrap(), 24);
        assert_eq!(key_len(None, 32).unwrap(), 32);
        assert_eq!(key_len(None, 16).unwrap(), 16);
        assert_eq!(rv(key_len(None, 48)), CKR_TEMPLATE_INCOMPLETE);
        assert_eq!(rv(key_len(Some(20), 32)), CKR_ATTRIBUTE_VALUE_INVALID);
        assert_eq!(rv(key_len(Some(32), 16)), CKR_MECHANISM_PARAM_INVALID);
        let d = [0u8; 64];
        assert_eq!(needed(&d, 16).len(), 16);
        assert_eq!(needed(&d, 24).len(), 32);
        assert_eq!(needed(&d, 32).len(), 32);
    }
}
