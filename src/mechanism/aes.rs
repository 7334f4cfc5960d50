//! The secret-key mechanisms: AES (ECB, CBC, CBC with padding, CTR, GCM) and HMAC-SHA-256,
//! their parameters, how each runs on the TSB, and the output lengths that every answer is
//! checked against.
//!
//! **The IV.** `POST /v1/encrypt` has no IV field: the TSB chooses the IV of its own CBC and GCM
//! encryptions (S3 `dto/tsb/request/EncryptRequestDto.java`, S1 `encrypt.go`;
//! models/src/symmetric.rs). The caller's IV is honoured all the same, as the standard says,
//! all-zero IVs included: the mode is computed here around the HSM's raw block cipher
//! (`mechanism::modes`; E_K is `AES_ECB` on the TSB, so the key never leaves the HSM). The
//! TSB's own choice is an opt-in per slot (`"aes_iv": "tsb-when-zero"`): then, as AWS
//! CloudHSM's PKCS#11 library does for AES-GCM ("the HSM generates the IV ... the application
//! must supply a buffer ... which is filled with the IV"), an encryption whose IV buffer is all
//! zeros (12 bytes for GCM, 16 for CBC) is the TSB's `AES_GCM`/`AES`/`AES_CBC_NO_PADDING` in one
//! request, and the IV it chose is written into that buffer when the encryption finishes
//! (C_Encrypt or C_EncryptFinal returning the ciphertext), so the buffer must stay valid until
//! then. Decryption always takes the caller's IV.
//!
//! How each runs (E_K and D_K: `tsb::symmetric`'s `ecb_encrypt_blocks`/`ecb_decrypt_blocks`):
//! - CKM_AES_ECB: E_K (one request) or D_K (one `AES_CBC_NO_PADDING` decryption, un-chained).
//! - CKM_AES_CTR: the keystream E_K(counter blocks), one request, both ways.
//! - CKM_AES_GCM: H, E_K(J0) and the keystream, one request (two with a nonce that is not 12
//!   bytes); GHASH here; decryption checks the tag before any plaintext is made.
//! - CKM_AES_CBC, CKM_AES_CBC_PAD: encryption chains here, one request per 16-byte block;
//!   decryption is the TSB's `AES_CBC_NO_PADDING`/`AES` under the caller's IV, one request.

use super::modes;
pub(crate) use crate::config::AesIv;
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

/// CK_AES_CTR_PARAMS, copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CtrParams {
    /// `ulCounterBits`.
    pub(crate) counter_bits: CK_ULONG,
    /// `cb`: the first counter block.
    pub(crate) cb: [u8; 16],
}

/// An AES mechanism, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AesMech {
    /// The CKM_AES_* mechanism.
    pub(crate) mech: CK_MECHANISM_TYPE,
    /// The TSB's `cipherAlgorithm` of the mechanism (for the requests that use it, and for
    /// messages).
    pub(crate) cipher: &'static AesCipher,
    /// The IV, nonce or first counter block.
    pub(crate) iv: Iv,
    /// GCM: additional authenticated data.
    pub(crate) aad: Vec<u8>,
    /// GCM: the tag length in bytes (0 otherwise).
    pub(crate) tag_len: usize,
    /// CTR: the counter's bits in the counter block (0 otherwise).
    pub(crate) counter_bits: u32,
    /// An encryption whose IV the TSB chooses and writes back (`aes_iv` `tsb-when-zero`).
    pub(crate) tsb_iv: bool,
}

/// Whether a mechanism is one of these.
pub(crate) fn is_aes(mech: CK_MECHANISM_TYPE) -> bool {
    matches!(
        mech,
        CKM_AES_GCM | CKM_AES_CBC | CKM_AES_CBC_PAD | CKM_AES_ECB | CKM_AES_CTR
    )
}

/// Whether a mechanism is an HMAC.
pub(crate) fn is_hmac(mech: CK_MECHANISM_TYPE) -> bool {
    matches!(mech, CKM_SHA256_HMAC | CKM_SHA256_HMAC_GENERAL)
}

fn param_invalid(msg: impl Into<String>) -> Error {
    Error::ck(CKR_MECHANISM_PARAM_INVALID, msg)
}

/// Resolve an AES mechanism and its parameters (`encrypt` and the slot's `aes_iv` `rule`: the
/// IV rule of the module docs).
pub(crate) fn aes_mech(
    mech: CK_MECHANISM_TYPE,
    params: &super::MechParams,
    encrypt: bool,
    rule: AesIv,
) -> Result<AesMech> {
    use super::MechParams;
    let none = Iv {
        bytes: Vec::new(),
        sink: None,
    };
    let (name, iv, aad, tag_bits, counter_bits) = match (mech, params) {
        (CKM_AES_GCM, MechParams::Gcm(g)) => {
            ("AES_GCM", g.iv.clone(), g.aad.clone(), Some(g.tag_bits), 0)
        }
        (CKM_AES_GCM, _) => return Err(param_invalid("CKM_AES_GCM needs CK_GCM_PARAMS")),
        (CKM_AES_CBC, MechParams::Iv(iv)) => ("AES_CBC_NO_PADDING", iv.clone(), vec![], None, 0),
        (CKM_AES_CBC_PAD, MechParams::Iv(iv)) => ("AES", iv.clone(), vec![], None, 0),
        (CKM_AES_CBC | CKM_AES_CBC_PAD, _) => {
            return Err(param_invalid("AES-CBC needs a 16-byte IV parameter"))
        }
        (CKM_AES_ECB, MechParams::None) => ("AES_ECB", none, vec![], None, 0),
        (CKM_AES_ECB, _) => return Err(param_invalid("CKM_AES_ECB takes no parameter")),
        (CKM_AES_CTR, MechParams::Ctr(c)) => {
            let bits = u32::try_from(c.counter_bits)
                .ok()
                .filter(|b| (1..=128).contains(b))
                .ok_or_else(|| {
                    param_invalid(format!(
                        "CK_AES_CTR_PARAMS.ulCounterBits is {}, not 1 to 128",
                        c.counter_bits
                    ))
                })?;
            let iv = Iv {
                bytes: c.cb.to_vec(),
                sink: None,
            };
            ("AES_CTR", iv, vec![], None, bits)
        }
        (CKM_AES_CTR, _) => return Err(param_invalid("CKM_AES_CTR needs CK_AES_CTR_PARAMS")),
        _ => {
            return Err(Error::ck(
                CKR_MECHANISM_INVALID,
                format!("mechanism 0x{mech:x} is not an AES cipher"),
            ))
        }
    };
    // Every name here is in models' table (tested below).
    let cipher = aes_cipher(name).ok_or_else(|| param_invalid(format!("no {name}")))?;
    // The opt-in: an all-zero IV buffer of the TSB's length lets the TSB choose.
    let tsb_iv = encrypt
        && rule == AesIv::TsbWhenZero
        && matches!(mech, CKM_AES_GCM | CKM_AES_CBC | CKM_AES_CBC_PAD)
        && iv.bytes.len() == cipher.iv_len
        && iv.bytes.iter().all(|b| *b == 0)
        && iv.sink.is_some();
    let tag_len = match tag_bits {
        None => 0,
        // The TSB's tag lengths (S3 `EncryptRequestDto.java`: 64, 96, 104, 112, 120, 128; its
        // 0 is not a GCM tag length of PKCS#11).
        Some(bits) if tsb_iv => u32::try_from(bits)
            .ok()
            .filter(|b| *b != 0)
            .and_then(|b| gcm_tag_bytes(Some(b)))
            .ok_or_else(|| {
                param_invalid(format!(
                    "GCM tags of {bits} bits are not supported when the TSB chooses the IV (it \
                     makes 64, 96, 104, 112, 120 or 128)"
                ))
            })?,
        Some(bits) if modes::gcm_tag_bits_ok(bits) => bits as usize / 8,
        Some(bits) => {
            return Err(param_invalid(format!(
                "GCM tags of {bits} bits are not supported (64 to 128, in whole bytes)"
            )))
        }
    };
    let iv_ok = match mech {
        CKM_AES_GCM => modes::GCM_NONCE_LEN.contains(&iv.bytes.len()),
        CKM_AES_CBC | CKM_AES_CBC_PAD => iv.bytes.len() == 16,
        _ => true,
    };
    if !iv_ok {
        return Err(param_invalid(format!(
            "an IV of {} bytes: {} takes {}",
            iv.bytes.len(),
            if mech == CKM_AES_GCM { "GCM" } else { "CBC" },
            if mech == CKM_AES_GCM {
                "a nonce of 1 to 256 bytes"
            } else {
                "16 bytes"
            }
        )));
    }
    Ok(AesMech {
        mech,
        cipher,
        iv,
        aad,
        tag_len,
        counter_bits,
        tsb_iv,
    })
}

impl AesMech {
    /// The GCM tag length in bits for the TSB's `tagLength` (None for the other modes).
    /// GCM decryption that the TSB's own `AES_GCM` can do: a nonce of the TSB's IV length (12
    /// bytes) and a tag length it takes (`tsb_models::symmetric::GCM_TAG_LENGTHS`). It needs only
    /// the key's `decrypt` on the TSB, where decrypting with E_K of counter blocks needs `encrypt`,
    /// and the TSB checks the tag itself.
    pub(crate) fn gcm_decrypts_on_the_tsb(&self) -> bool {
        self.mech == CKM_AES_GCM
            && self.iv.bytes.len() == self.cipher.iv_len
            && tsb_models::symmetric::gcm_tag_bytes(self.tag_bits()) == Some(self.tag_len)
    }

    pub(crate) fn tag_bits(&self) -> Option<u32> {
        (self.tag_len > 0).then_some(self.tag_len as u32 * 8)
    }

    /// The ciphertext length of `n` bytes of plaintext, or CKR_DATA_LEN_RANGE when the mode
    /// cannot take `n` bytes (CBC and ECB without padding: whole blocks).
    pub(crate) fn ciphertext_len(&self, n: usize) -> Result<usize> {
        match self.mech {
            CKM_AES_CBC_PAD => Ok(n - n % 16 + 16),
            CKM_AES_CBC | CKM_AES_ECB if !n.is_multiple_of(16) => Err(Error::ck(
                CKR_DATA_LEN_RANGE,
                "CKM_AES_CBC and CKM_AES_ECB take whole 16-byte blocks",
            )),
            _ => Ok(n + self.tag_len),
        }
    }

    /// The plaintext lengths `n` bytes of ciphertext may decrypt to (an inclusive range), or
    /// CKR_ENCRYPTED_DATA_LEN_RANGE when no ciphertext of the mode is `n` bytes long.
    pub(crate) fn plaintext_len(&self, n: usize) -> Result<(usize, usize)> {
        let bad = |m: &str| Error::ck(CKR_ENCRYPTED_DATA_LEN_RANGE, m.to_string());
        match self.mech {
            CKM_AES_GCM => n
                .checked_sub(self.tag_len)
                .map(|p| (p, p))
                .ok_or_else(|| bad("the ciphertext is shorter than its GCM tag")),
            CKM_AES_CTR => Ok((n, n)),
            _ if !n.is_multiple_of(16) => Err(bad(
                "AES-CBC and AES-ECB ciphertext is whole 16-byte blocks",
            )),
            CKM_AES_CBC_PAD if n == 0 => Err(bad("AES-CBC-PAD ciphertext is at least one block")),
            CKM_AES_CBC_PAD => Ok((n - 16, n - 1)),
            _ => Ok((n, n)),
        }
    }

    /// The IV, nonce or counter block as 16 bytes (CBC, CTR).
    pub(crate) fn block_iv(&self) -> Result<[u8; 16]> {
        self.iv
            .bytes
            .as_slice()
            .try_into()
            .map_err(|_| param_invalid("the IV is not 16 bytes"))
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
    fn the_callers_iv_is_honoured_and_the_tsb_chooses_only_when_the_slot_opts_in() {
        use AesIv::{Caller, TsbWhenZero};
        let gcm = |b: Vec<u8>, tag| {
            MechParams::Gcm(GcmParams {
                iv: iv(b),
                aad: vec![],
                tag_bits: tag,
            })
        };
        let e = |r: Result<AesMech>| r.unwrap_err().rv();
        // The default: every IV is the caller's, zeros included, any GCM nonce of 1..=256.
        for (nonce, tag) in [(vec![0; 12], 128), (vec![1; 12], 96), (vec![2; 1], 72)] {
            let m = aes_mech(CKM_AES_GCM, &gcm(nonce.clone(), tag), true, Caller).unwrap();
            assert!(!m.tsb_iv);
            assert_eq!((m.iv.bytes, m.tag_len), (nonce, tag as usize / 8));
        }
        aes_mech(CKM_AES_GCM, &gcm(vec![3; 256], 128), true, Caller).unwrap();
        for bad in [vec![], vec![0; 257]] {
            assert_eq!(
                e(aes_mech(CKM_AES_GCM, &gcm(bad, 128), true, Caller)),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        for bad_tag in [0, 32, 56, 100, 136] {
            assert_eq!(
                e(aes_mech(
                    CKM_AES_GCM,
                    &gcm(vec![0; 12], bad_tag),
                    false,
                    Caller
                )),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        let m = aes_mech(CKM_AES_GCM, &gcm(vec![0; 12], 128), true, Caller).unwrap();
        assert_eq!(m.ciphertext_len(5).unwrap(), 21);
        assert_eq!(m.plaintext_len(21).unwrap(), (5, 5));
        // The opt-in: an all-zero buffer of the TSB's length (with somewhere to write the IV)
        // is the TSB's choice, with the TSB's tag lengths; anything else stays the caller's.
        let m = aes_mech(CKM_AES_GCM, &gcm(vec![0; 12], 128), true, TsbWhenZero).unwrap();
        assert!(m.tsb_iv);
        assert_eq!((m.cipher.name, m.tag_bits()), ("AES_GCM", Some(128)));
        assert_eq!(
            e(aes_mech(
                CKM_AES_GCM,
                &gcm(vec![0; 12], 72),
                true,
                TsbWhenZero
            )),
            CKR_MECHANISM_PARAM_INVALID
        );
        for (b, encrypt) in [
            (vec![1; 12], true),
            (vec![0; 16], true),
            (vec![0; 12], false),
        ] {
            let m = aes_mech(CKM_AES_GCM, &gcm(b, 128), encrypt, TsbWhenZero).unwrap();
            assert!(!m.tsb_iv);
        }
        let no_sink = MechParams::Iv(Iv {
            bytes: vec![0; 16],
            sink: None,
        });
        assert!(
            !aes_mech(CKM_AES_CBC, &no_sink, true, TsbWhenZero)
                .unwrap()
                .tsb_iv
        );
        let zero_cbc = MechParams::Iv(iv(vec![0; 16]));
        assert!(
            aes_mech(CKM_AES_CBC, &zero_cbc, true, TsbWhenZero)
                .unwrap()
                .tsb_iv
        );
        assert!(
            !aes_mech(CKM_AES_CBC, &zero_cbc, true, Caller)
                .unwrap()
                .tsb_iv
        );
        // CBC: a 16-byte IV; whole blocks without padding.
        for bad in [MechParams::None, MechParams::Iv(iv(vec![0; 12]))] {
            assert_eq!(
                e(aes_mech(CKM_AES_CBC, &bad, true, Caller)),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        let cbc = aes_mech(CKM_AES_CBC, &MechParams::Iv(iv(vec![9; 16])), true, Caller).unwrap();
        assert_eq!(cbc.cipher.name, "AES_CBC_NO_PADDING");
        assert_eq!(cbc.ciphertext_len(5).unwrap_err().rv(), CKR_DATA_LEN_RANGE);
        assert_eq!(cbc.ciphertext_len(32).unwrap(), 32);
        let pad = aes_mech(
            CKM_AES_CBC_PAD,
            &MechParams::Iv(iv(vec![0; 16])),
            true,
            Caller,
        )
        .unwrap();
        assert_eq!(pad.cipher.name, "AES");
        assert_eq!(pad.ciphertext_len(16).unwrap(), 32);
        assert_eq!(pad.ciphertext_len(15).unwrap(), 16);
        assert_eq!(pad.plaintext_len(32).unwrap(), (16, 31));
        assert_eq!(
            pad.plaintext_len(0).unwrap_err().rv(),
            CKR_ENCRYPTED_DATA_LEN_RANGE
        );
        // ECB: no parameter, whole blocks both ways, no padding (whatever the TSB's AES_ECB
        // does with its own).
        let ecb = aes_mech(CKM_AES_ECB, &MechParams::None, true, Caller).unwrap();
        assert_eq!(ecb.ciphertext_len(32).unwrap(), 32);
        assert_eq!(ecb.ciphertext_len(0).unwrap(), 0);
        assert_eq!(ecb.ciphertext_len(17).unwrap_err().rv(), CKR_DATA_LEN_RANGE);
        assert_eq!(ecb.plaintext_len(48).unwrap(), (48, 48));
        assert_eq!(
            ecb.plaintext_len(15).unwrap_err().rv(),
            CKR_ENCRYPTED_DATA_LEN_RANGE
        );
        assert_eq!(
            e(aes_mech(CKM_AES_ECB, &MechParams::Other(16), true, Caller)),
            CKR_MECHANISM_PARAM_INVALID
        );
        // CTR: CK_AES_CTR_PARAMS with 1..=128 counter bits; any length.
        let ctr = |bits| {
            MechParams::Ctr(CtrParams {
                counter_bits: bits,
                cb: [5; 16],
            })
        };
        let m = aes_mech(CKM_AES_CTR, &ctr(32), false, Caller).unwrap();
        assert_eq!((m.counter_bits, m.block_iv().unwrap()), (32, [5; 16]));
        assert_eq!(m.ciphertext_len(7).unwrap(), 7);
        assert_eq!(m.plaintext_len(7).unwrap(), (7, 7));
        for bad in [ctr(0), ctr(129), MechParams::None] {
            assert_eq!(
                e(aes_mech(CKM_AES_CTR, &bad, true, Caller)),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
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
