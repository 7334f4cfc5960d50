//! AES-GCM in the PKCS#11 3.0 message-based API (C_MessageEncryptInit, C_EncryptMessage*,
//! C_MessageDecryptInit, C_DecryptMessage*): the per-message parameters (CK_GCM_MESSAGE_PARAMS,
//! PKCS#11 3.0 mechanisms §2.12.3 "AES-GCM" and §2.12.x "CK_GCM_MESSAGE_PARAMS") and the IV
//! generators (CK_GENERATOR_FUNCTION). The encryption itself is the one of C_Encrypt with
//! CKM_AES_GCM (`mechanism::aes`, `mechanism::modes`): the IV of every message is the one
//! resolved here.
//!
//! The generators, as the standard names them, with the construction of NIST SP 800-38D §8.2
//! each follows here (the standard leaves the construction to the token):
//! - `CKG_NO_GENERATE`: the caller's IV, as given.
//! - `CKG_GENERATE_COUNTER`: the leftmost `ulIvFixedBits` of the caller's IV kept, the rest a
//!   big-endian counter of the key (0 for the key's first generated IV in this process, then
//!   1, 2, ...; every operation on the key, in any session, goes on from where it stands):
//!   the deterministic construction of §8.2.1. A counter that would need more bits than the IV
//!   leaves is refused (CKR_DATA_LEN_RANGE) rather than repeated. The counter starts at 0 in
//!   each process (and after C_Finalize), so the fixed field must tell processes using one key
//!   apart (§8.2.1: the fixed field identifies the device or context).
//! - `CKG_GENERATE_COUNTER_XOR`: the same counter XORed into the caller's non-fixed bits
//!   (a per-context mask the caller chooses, as TLS 1.3 does with its static IV).
//! - `CKG_GENERATE_RANDOM`: the non-fixed bits from the operating system's random generator;
//!   at least 96 of them (§8.2.2 asks for a random field of at least 96 bits), else
//!   CKR_MECHANISM_PARAM_INVALID.
//! - `CKG_GENERATE`: the token's choice: random when at least 96 bits are free (unique across
//!   operations too), the counter otherwise.
//!
//! The same counter serves every generated IV under a key, so no two messages under one key in
//! one process ever get the same IV from a counter generator.

use super::modes;
use crate::error::{Error, Result};
use cryptoki_sys::*;

/// Random fields shorter than this are refused (NIST SP 800-38D §8.2.2).
const MIN_RANDOM_BITS: usize = 96;

/// CK_GENERATOR_FUNCTION, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IvGenerator {
    /// `CKG_NO_GENERATE`.
    None,
    /// `CKG_GENERATE`.
    Token,
    /// `CKG_GENERATE_COUNTER`.
    Counter,
    /// `CKG_GENERATE_COUNTER_XOR`.
    CounterXor,
    /// `CKG_GENERATE_RANDOM`.
    Random,
}

impl IvGenerator {
    /// The generator of a `ivGenerator` value; an unknown one is CKR_MECHANISM_PARAM_INVALID.
    pub(crate) fn from_ck(g: CK_GENERATOR_FUNCTION) -> Result<IvGenerator> {
        Ok(match g {
            CKG_NO_GENERATE => IvGenerator::None,
            CKG_GENERATE => IvGenerator::Token,
            CKG_GENERATE_COUNTER => IvGenerator::Counter,
            CKG_GENERATE_COUNTER_XOR => IvGenerator::CounterXor,
            CKG_GENERATE_RANDOM => IvGenerator::Random,
            other => {
                return Err(param_invalid(format!(
                    "CK_GCM_MESSAGE_PARAMS.ivGenerator 0x{other:x} is not a generator function"
                )))
            }
        })
    }
}

/// CK_GCM_MESSAGE_PARAMS of one call, copied (the pointers stay at the C boundary, which writes
/// the generated IV and the tag back).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct GcmMessage {
    /// `pIv` as given (`ulIvLen` bytes).
    pub(crate) iv: Vec<u8>,
    /// `ulIvFixedBits`.
    pub(crate) fixed_bits: CK_ULONG,
    /// `ivGenerator`.
    pub(crate) generator: CK_GENERATOR_FUNCTION,
    /// `ulTagBits`.
    pub(crate) tag_bits: CK_ULONG,
    /// `pTag` as given: read for decryption only (the tag to check); empty for encryption.
    pub(crate) tag: Vec<u8>,
}

impl std::fmt::Debug for GcmMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcmMessage")
            .field("iv_len", &self.iv.len())
            .field("fixed_bits", &self.fixed_bits)
            .field("generator", &self.generator)
            .field("tag_bits", &self.tag_bits)
            .finish_non_exhaustive()
    }
}

impl GcmMessage {
    /// The tag length in bytes: 64 to 128 bits in whole bytes (as C_Encrypt with CKM_AES_GCM
    /// takes), else CKR_MECHANISM_PARAM_INVALID.
    pub(crate) fn tag_len(&self) -> Result<usize> {
        if modes::gcm_tag_bits_ok(self.tag_bits) {
            Ok(self.tag_bits as usize / 8)
        } else {
            Err(param_invalid(format!(
                "GCM tags of {} bits are not supported (64 to 128, in whole bytes)",
                self.tag_bits
            )))
        }
    }

    /// The IV of this message: the caller's, or the one generated from it with `counter` (the
    /// operation's, advanced when used) and `random` (fills a buffer with random bytes).
    /// Returns the IV and whether it was generated (and so goes back to the caller's `pIv`).
    /// Decryption takes the caller's IV only: `encrypt` false with a generator is
    /// CKR_MECHANISM_PARAM_INVALID (the IV to decrypt with is the one the encryption produced).
    pub(crate) fn resolve_iv(
        &self,
        encrypt: bool,
        counter: &mut u64,
        random: impl FnOnce(&mut [u8]) -> Result<()>,
    ) -> Result<(Vec<u8>, bool)> {
        let len = self.iv.len();
        if !modes::GCM_NONCE_LEN.contains(&len) {
            return Err(param_invalid(format!(
                "an IV of {len} bytes: GCM takes a nonce of 1 to 256 bytes"
            )));
        }
        let generator = IvGenerator::from_ck(self.generator)?;
        if generator == IvGenerator::None {
            return Ok((self.iv.clone(), false));
        }
        if !encrypt {
            return Err(param_invalid(
                "decryption takes the IV the encryption produced: ivGenerator must be \
                 CKG_NO_GENERATE",
            ));
        }
        let total = len * 8;
        let fixed = usize::try_from(self.fixed_bits)
            .ok()
            .filter(|f| *f < total)
            .ok_or_else(|| {
                param_invalid(format!(
                    "ulIvFixedBits {} leaves no bit of a {total}-bit IV to generate",
                    self.fixed_bits
                ))
            })?;
        let free = total - fixed;
        let random_ok = free >= MIN_RANDOM_BITS;
        let mut iv = self.iv.clone();
        match generator {
            IvGenerator::Random if !random_ok => {
                return Err(param_invalid(format!(
                    "CKG_GENERATE_RANDOM with {free} random bits: at least {MIN_RANDOM_BITS} \
                     (NIST SP 800-38D §8.2.2); use a longer IV, fewer fixed bits or a counter"
                )))
            }
            IvGenerator::Random | IvGenerator::Token if random_ok => {
                let mut r = vec![0u8; len];
                random(&mut r)?;
                merge(&mut iv, &r, fixed, false);
            }
            _ => {
                // The counter must fit the free bits, and never repeats (no wrap).
                if free < 64 && *counter >> free != 0 {
                    return Err(Error::ck(
                        CKR_DATA_LEN_RANGE,
                        format!(
                            "the {free}-bit IV counter is used up: a new IV would repeat one \
                             (C_MessageEncryptInit again with another fixed part)"
                        ),
                    ));
                }
                let mut c = vec![0u8; len];
                let be = counter.to_be_bytes();
                let n = be.len().min(len);
                c[len - n..].copy_from_slice(&be[be.len() - n..]);
                merge(&mut iv, &c, fixed, generator == IvGenerator::CounterXor);
                *counter = counter
                    .checked_add(1)
                    .ok_or_else(|| Error::ck(CKR_DATA_LEN_RANGE, "the IV counter is used up"))?;
            }
        }
        Ok((iv, true))
    }
}

/// Put `v`'s bits after the first `fixed` bits of `iv` (replaced, or XORed in with `xor`); the
/// fixed bits stay.
fn merge(iv: &mut [u8], v: &[u8], fixed: usize, xor: bool) {
    for (i, (b, x)) in iv.iter_mut().zip(v).enumerate() {
        // The bits of this byte that are not fixed.
        let start = i * 8;
        let mask: u8 = if start + 8 <= fixed {
            0
        } else if start >= fixed {
            0xff
        } else {
            0xff >> (fixed - start)
        };
        *b = if xor {
            *b ^ (x & mask)
        } else {
            (*b & !mask) | (x & mask)
        };
    }
}

fn param_invalid(msg: impl Into<String>) -> Error {
    Error::ck(CKR_MECHANISM_PARAM_INVALID, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(iv: Vec<u8>, fixed_bits: CK_ULONG, generator: CK_GENERATOR_FUNCTION) -> GcmMessage {
        GcmMessage {
            iv,
            fixed_bits,
            generator,
            tag_bits: 128,
            tag: vec![],
        }
    }

    fn no_random(_: &mut [u8]) -> Result<()> {
        panic!("no random bytes wanted here")
    }

    #[test]
    fn the_callers_iv_is_used_as_given_and_decryption_takes_no_generator() {
        let mut c = 0;
        let m = msg(vec![7; 12], 0, CKG_NO_GENERATE);
        assert_eq!(
            m.resolve_iv(true, &mut c, no_random).unwrap(),
            (vec![7; 12], false)
        );
        assert_eq!(
            m.resolve_iv(false, &mut c, no_random).unwrap().0,
            vec![7; 12]
        );
        assert_eq!(c, 0);
        let g = msg(vec![7; 12], 0, CKG_GENERATE_COUNTER);
        assert_eq!(
            g.resolve_iv(false, &mut c, no_random).unwrap_err().rv(),
            CKR_MECHANISM_PARAM_INVALID
        );
        for bad in [vec![], vec![0; 257]] {
            assert_eq!(
                msg(bad, 0, CKG_NO_GENERATE)
                    .resolve_iv(true, &mut c, no_random)
                    .unwrap_err()
                    .rv(),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        assert_eq!(
            msg(vec![0; 12], 0, 99)
                .resolve_iv(true, &mut c, no_random)
                .unwrap_err()
                .rv(),
            CKR_MECHANISM_PARAM_INVALID
        );
    }

    #[test]
    fn the_counter_fills_the_free_bits_keeps_the_fixed_ones_and_never_wraps() {
        let mut c = 0;
        // 32 fixed bits (0xaa..), a 64-bit counter after them.
        let m = msg(vec![0xaa; 12], 32, CKG_GENERATE_COUNTER);
        for want in 0u64..3 {
            let (iv, generated) = m.resolve_iv(true, &mut c, no_random).unwrap();
            assert!(generated);
            assert_eq!(&iv[..4], &[0xaa; 4]);
            assert_eq!(&iv[4..], &want.to_be_bytes());
        }
        assert_eq!(c, 3);
        // A fixed part that ends inside a byte: 92 fixed bits leave 4 counter bits (16 IVs).
        let m = msg(vec![0xff; 12], 92, CKG_GENERATE_COUNTER);
        let mut c = 0;
        let mut seen = std::collections::HashSet::new();
        for k in 0..16u8 {
            let (iv, _) = m.resolve_iv(true, &mut c, no_random).unwrap();
            assert_eq!(&iv[..11], &[0xff; 11]);
            assert_eq!(iv[11], 0xf0 | k);
            assert!(seen.insert(iv));
        }
        assert_eq!(
            m.resolve_iv(true, &mut c, no_random).unwrap_err().rv(),
            CKR_DATA_LEN_RANGE
        );
        // XOR: the counter XORed into the caller's bits.
        let m = msg(vec![0x0f; 12], 64, CKG_GENERATE_COUNTER_XOR);
        let mut c = 5;
        let (iv, _) = m.resolve_iv(true, &mut c, no_random).unwrap();
        assert_eq!(&iv[..8], &[0x0f; 8]);
        assert_eq!(&iv[8..], &[0x0f, 0x0f, 0x0f, 0x0f ^ 5]);
        // Nothing left to generate.
        for fixed in [96, 200, CK_ULONG::MAX] {
            assert_eq!(
                msg(vec![0; 12], fixed, CKG_GENERATE_COUNTER)
                    .resolve_iv(true, &mut 0, no_random)
                    .unwrap_err()
                    .rv(),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
    }

    #[test]
    fn random_ivs_need_96_free_bits_and_the_token_choice_falls_back_to_the_counter() {
        let ones = |b: &mut [u8]| {
            b.fill(0xff);
            Ok(())
        };
        let (iv, generated) = msg(vec![0; 12], 0, CKG_GENERATE_RANDOM)
            .resolve_iv(true, &mut 0, ones)
            .unwrap();
        assert!(generated);
        assert_eq!(iv, vec![0xff; 12]);
        let (iv, _) = msg(vec![0; 16], 28, CKG_GENERATE_RANDOM)
            .resolve_iv(true, &mut 0, ones)
            .unwrap();
        assert_eq!(&iv[..4], &[0, 0, 0, 0x0f]);
        assert_eq!(&iv[4..], &[0xff; 12]);
        assert_eq!(
            msg(vec![0; 12], 8, CKG_GENERATE_RANDOM)
                .resolve_iv(true, &mut 0, ones)
                .unwrap_err()
                .rv(),
            CKR_MECHANISM_PARAM_INVALID
        );
        // CKG_GENERATE: random with 96 free bits, the counter with fewer.
        let (iv, _) = msg(vec![0; 12], 0, CKG_GENERATE)
            .resolve_iv(true, &mut 0, ones)
            .unwrap();
        assert_eq!(iv, vec![0xff; 12]);
        let mut c = 9;
        let (iv, _) = msg(vec![1; 12], 32, CKG_GENERATE)
            .resolve_iv(true, &mut c, no_random)
            .unwrap();
        assert_eq!(&iv[4..], &9u64.to_be_bytes());
        assert_eq!(c, 10);
    }

    #[test]
    fn tag_lengths_are_those_of_c_encrypt() {
        let mut m = msg(vec![0; 12], 0, CKG_NO_GENERATE);
        for (bits, len) in [(64, 8), (96, 12), (128, 16)] {
            m.tag_bits = bits;
            assert_eq!(m.tag_len().unwrap(), len);
        }
        for bits in [0, 32, 100, 136] {
            m.tag_bits = bits;
            assert_eq!(m.tag_len().unwrap_err().rv(), CKR_MECHANISM_PARAM_INVALID);
        }
    }
}
