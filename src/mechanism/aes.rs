//! The secret-key mechanisms: AES (GCM, CBC, CBC with padding) and HMAC-SHA-256, their
//! parameters, the TSB `cipherAlgorithm` of each, and the output lengths that every answer of the
//! TSB is checked against.
//!
//! **The IV.** The TSB chooses the IV of every encryption: `POST /v1/encrypt` has no IV field
//! (S3 `dto/tsb/request/EncryptRequestDto.java`, S1 `encrypt.go`; models/src/symmetric.rs). An
//! IV chosen by the caller cannot be used, and the module never encrypts under one IV while the
//! caller believes another was used. So, as AWS CloudHSM's PKCS#11 library does for AES-GCM
//! ("the HSM generates the IV ... the application must supply a buffer ... which is filled with
//! the IV"): for an encryption, the caller's IV buffer (`pIv` of CK_GCM_PARAMS, the CBC
//! parameter) must be all zeros and as long as the TSB's IV (12 bytes for GCM, 16 for CBC); the
//! IV the TSB chose is written into that buffer when the encryption finishes (C_Encrypt or
//! C_EncryptFinal returning the ciphertext), so the buffer must stay valid until then. Any other
//! IV is refused with CKR_MECHANISM_PARAM_INVALID at C_EncryptInit. Decryption takes the
//! caller's IV as given.

use crate::error::{Error, Result};
use cryptoki_sys::*;
use std::sync::Arc;
use tsb_models::symmetric::{aes_cipher, gcm_tag_bytes, AesCipher};

/// Where the IV chosen by the TSB goes: the caller's IV buffer, written by the C boundary
/// (`ffi::args`), which alone holds the pointer.
#[derive(Clone)]
pub(crate) struct IvSink(Arc<IvWrite>);

/// What writes an IV into the caller's buffer.
type IvWrite = dyn Fn(&[u8]) + Send + Sync;

impl IvSink {
    /// A sink that calls `write` with the IV.
    pub(crate) fn new(write: impl Fn(&[u8]) + Send + Sync + 'static) -> IvSink {
        IvSink(Arc::new(write))
    }

    /// Hand the IV over (its length was checked against the buffer's).
    pub(crate) fn put(&self, iv: &[u8]) {
        (self.0)(iv)
    }
}

impl std::fmt::Debug for IvSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IvSink")
    }
}

impl PartialEq for IvSink {
    fn eq(&self, other: &IvSink) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for IvSink {}

/// The caller's IV: its bytes as given at *_Init, and where the TSB's IV goes on encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Iv {
    pub(crate) bytes: Vec<u8>,
    pub(crate) sink: Option<IvSink>,
}

/// CK_GCM_PARAMS, copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GcmParams {
    pub(crate) iv: Iv,
    pub(crate) aad: Vec<u8>,
    pub(crate) tag_bits: CK_ULONG,
}

/// An AES mechanism, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AesMech {
    /// What the TSB's `cipherAlgorithm` does.
    pub(crate) cipher: &'static AesCipher,
    pub(crate) iv: Iv,
    /// GCM: additional authenticated data.
    pub(crate) aad: Vec<u8>,
    /// GCM: the tag length in bytes (0 otherwise).
    pub(crate) tag_len: usize,
}

/// Whether a mechanism is one of these.
pub(crate) fn is_aes(mech: CK_MECHANISM_TYPE) -> bool {
    matches!(mech, CKM_AES_GCM | CKM_AES_CBC | CKM_AES_CBC_PAD)
}

/// Whether a mechanism is an HMAC.
pub(crate) fn is_hmac(mech: CK_MECHANISM_TYPE) -> bool {
    matches!(mech, CKM_SHA256_HMAC | CKM_SHA256_HMAC_GENERAL)
}

fn param_invalid(msg: impl Into<String>) -> Error {
    Error::ck(CKR_MECHANISM_PARAM_INVALID, msg)
}

/// Resolve an AES mechanism and its parameters (`encrypt`: the IV rule of the module docs).
pub(crate) fn aes_mech(
    mech: CK_MECHANISM_TYPE,
    params: &super::MechParams,
    encrypt: bool,
) -> Result<AesMech> {
    use super::MechParams;
    let (name, iv, aad, tag_bits) = match (mech, params) {
        (CKM_AES_GCM, MechParams::Gcm(g)) => ("AES_GCM", &g.iv, g.aad.clone(), Some(g.tag_bits)),
        (CKM_AES_GCM, _) => return Err(param_invalid("CKM_AES_GCM needs CK_GCM_PARAMS")),
        (CKM_AES_CBC, MechParams::Iv(iv)) => ("AES_CBC_NO_PADDING", iv, Vec::new(), None),
        (CKM_AES_CBC_PAD, MechParams::Iv(iv)) => ("AES", iv, Vec::new(), None),
        (CKM_AES_CBC | CKM_AES_CBC_PAD, _) => {
            return Err(param_invalid("AES-CBC needs a 16-byte IV parameter"))
        }
        _ => {
            return Err(Error::ck(
                CKR_MECHANISM_INVALID,
                format!("mechanism 0x{mech:x} is not an AES cipher"),
            ))
        }
    };
    // Every name here is in models' table (tested below).
    let cipher = aes_cipher(name).ok_or_else(|| param_invalid(format!("no {name}")))?;
    let tag_len = match tag_bits {
        None => 0,
        // The TSB's tag lengths (S3 `EncryptRequestDto.java`: 64, 96, 104, 112, 120, 128; its
        // 0 is not a GCM tag length of PKCS#11).
        Some(bits) => u32::try_from(bits)
            .ok()
            .filter(|b| *b != 0)
            .and_then(|b| gcm_tag_bytes(Some(b)))
            .ok_or_else(|| {
                param_invalid(format!(
                    "GCM tags of {bits} bits are not supported (the TSB makes 64, 96, 104, 112, \
                     120 or 128)"
                ))
            })?,
    };
    if iv.bytes.len() != cipher.iv_len {
        return Err(param_invalid(format!(
            "the IV of {name} is {} bytes on the TSB, not {}",
            cipher.iv_len,
            iv.bytes.len()
        )));
    }
    if encrypt && (iv.bytes.iter().any(|b| *b != 0) || iv.sink.is_none()) {
        return Err(param_invalid(
            "the TSB chooses the IV of every encryption: pass an IV buffer of zeros, into which \
             the IV used is written when the encryption finishes (see the README, \"AES and the \
             IV\")",
        ));
    }
    Ok(AesMech {
        cipher,
        iv: iv.clone(),
        aad,
        tag_len,
    })
}

impl AesMech {
    /// The GCM tag length in bits for the TSB's `tagLength` (None for the other modes).
    pub(crate) fn tag_bits(&self) -> Option<u32> {
        (self.tag_len > 0).then_some(self.tag_len as u32 * 8)
    }

    /// The ciphertext length of `n` bytes of plaintext, or CKR_DATA_LEN_RANGE when the mode
    /// cannot take `n` bytes (CBC without padding: whole blocks).
    pub(crate) fn ciphertext_len(&self, n: usize) -> Result<usize> {
        if self.cipher.padding {
            Ok(n - n % 16 + 16)
        } else if self.cipher.iv_len == 16 && !n.is_multiple_of(16) {
            Err(Error::ck(
                CKR_DATA_LEN_RANGE,
                "CKM_AES_CBC takes whole 16-byte blocks",
            ))
        } else {
            Ok(n + self.tag_len)
        }
    }

    /// The plaintext lengths `n` bytes of ciphertext may decrypt to (an inclusive range), or
    /// CKR_ENCRYPTED_DATA_LEN_RANGE when no ciphertext of the mode is `n` bytes long.
    pub(crate) fn plaintext_len(&self, n: usize) -> Result<(usize, usize)> {
        let bad = |m: &str| Error::ck(CKR_ENCRYPTED_DATA_LEN_RANGE, m.to_string());
        if self.tag_len > 0 {
            return n
                .checked_sub(self.tag_len)
                .map(|p| (p, p))
                .ok_or_else(|| bad("the ciphertext is shorter than its GCM tag"));
        }
        if !n.is_multiple_of(16) {
            return Err(bad("AES-CBC ciphertext is whole 16-byte blocks"));
        }
        if self.cipher.padding {
            if n == 0 {
                return Err(bad("AES-CBC-PAD ciphertext is at least one block"));
            }
            return Ok((n - 16, n - 1));
        }
        Ok((n, n))
    }
}

/// The MAC length of an HMAC mechanism: 32 for CKM_SHA256_HMAC, the CK_MAC_GENERAL_PARAMS length
/// (1..=32) for CKM_SHA256_HMAC_GENERAL.
pub(crate) fn hmac_len(mech: CK_MECHANISM_TYPE, params: &super::MechParams) -> Result<usize> {
    use super::MechParams;
    match (mech, params) {
        (CKM_SHA256_HMAC, MechParams::None) => Ok(32),
        (CKM_SHA256_HMAC, _) => Err(param_invalid("CKM_SHA256_HMAC takes no parameter")),
        (CKM_SHA256_HMAC_GENERAL, MechParams::MacLen(n)) if (1..=32).contains(n) => Ok(*n),
        (CKM_SHA256_HMAC_GENERAL, _) => Err(param_invalid(
            "CKM_SHA256_HMAC_GENERAL needs CK_MAC_GENERAL_PARAMS of 1 to 32",
        )),
        _ => Err(Error::ck(
            CKR_MECHANISM_INVALID,
            format!("mechanism 0x{mech:x} is not an HMAC"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::MechParams;
    use super::*;

    fn iv(bytes: Vec<u8>) -> Iv {
        Iv {
            bytes,
            sink: Some(IvSink::new(|_| {})),
        }
    }

    #[test]
    fn encryption_takes_only_a_zero_iv_buffer_of_the_tsbs_length() {
        let gcm = |b: Vec<u8>, tag| {
            MechParams::Gcm(GcmParams {
                iv: iv(b),
                aad: vec![],
                tag_bits: tag,
            })
        };
        let m = aes_mech(CKM_AES_GCM, &gcm(vec![0; 12], 128), true).unwrap();
        assert_eq!(
            (m.cipher.name, m.tag_len, m.tag_bits()),
            ("AES_GCM", 16, Some(128))
        );
        assert_eq!(m.ciphertext_len(5).unwrap(), 21);
        assert_eq!(m.plaintext_len(21).unwrap(), (5, 5));
        let e = |r: Result<AesMech>| r.unwrap_err().rv();
        assert_eq!(
            e(aes_mech(CKM_AES_GCM, &gcm(vec![1; 12], 128), true)),
            CKR_MECHANISM_PARAM_INVALID
        );
        // Decryption takes the caller's IV.
        aes_mech(CKM_AES_GCM, &gcm(vec![1; 12], 96), false).unwrap();
        assert_eq!(
            e(aes_mech(CKM_AES_GCM, &gcm(vec![0; 16], 128), true)),
            CKR_MECHANISM_PARAM_INVALID
        );
        for bad_tag in [0, 32, 100, 136] {
            assert_eq!(
                e(aes_mech(CKM_AES_GCM, &gcm(vec![0; 12], bad_tag), false)),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        let no_sink = MechParams::Iv(Iv {
            bytes: vec![0; 16],
            sink: None,
        });
        assert_eq!(
            e(aes_mech(CKM_AES_CBC, &no_sink, true)),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            e(aes_mech(CKM_AES_CBC, &MechParams::None, true)),
            CKR_MECHANISM_PARAM_INVALID
        );
        let cbc = aes_mech(CKM_AES_CBC, &MechParams::Iv(iv(vec![0; 16])), true).unwrap();
        assert_eq!(cbc.cipher.name, "AES_CBC_NO_PADDING");
        assert_eq!(cbc.ciphertext_len(5).unwrap_err().rv(), CKR_DATA_LEN_RANGE);
        assert_eq!(cbc.ciphertext_len(32).unwrap(), 32);
        let pad = aes_mech(CKM_AES_CBC_PAD, &MechParams::Iv(iv(vec![0; 16])), true).unwrap();
        assert_eq!(pad.cipher.name, "AES");
        assert_eq!(pad.ciphertext_len(16).unwrap(), 32);
        assert_eq!(pad.ciphertext_len(15).unwrap(), 16);
        assert_eq!(pad.plaintext_len(32).unwrap(), (16, 31));
        assert_eq!(
            pad.plaintext_len(0).unwrap_err().rv(),
            CKR_ENCRYPTED_DATA_LEN_RANGE
        );
    }

    #[test]
    fn hmac_lengths() {
        assert_eq!(hmac_len(CKM_SHA256_HMAC, &MechParams::None).unwrap(), 32);
        assert_eq!(
            hmac_len(CKM_SHA256_HMAC_GENERAL, &MechParams::MacLen(16)).unwrap(),
            16
        );
        for p in [
            MechParams::MacLen(0),
            MechParams::MacLen(33),
            MechParams::None,
        ] {
            assert_eq!(
                hmac_len(CKM_SHA256_HMAC_GENERAL, &p).unwrap_err().rv(),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
    }
}
