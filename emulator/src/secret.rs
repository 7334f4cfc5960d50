//! Secret keys (AES, HMAC-SHA-256) and what the emulator does with them, with OpenSSL: AES
//! encryption in the modes of [`tsb_models::symmetric`], HMAC, and AES Key Wrap (RFC 3394) and
//! AES Key Wrap with Padding (RFC 5649).

use crate::crypto::{internal, CryptoError};
use openssl::aes::{unwrap_key, wrap_key, AesKey};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::symm::{self, Cipher, Crypter, Mode};
use tsb_models::{AesCipher, AesMode, SecretKeyAlgorithm};

/// A secret key held by the emulator.
#[derive(Clone)]
pub struct SecretKey {
    /// What it is.
    pub algorithm: SecretKeyAlgorithm,
    /// The key bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for SecretKey {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SecretKey({}, {} bits)",
            self.algorithm.name(),
            self.bits()
        )
    }
}

/// Fresh random bytes from OpenSSL's generator.
pub(crate) fn random(len: usize) -> Result<Vec<u8>, CryptoError> {
    let mut out = vec![0u8; len];
    openssl::rand::rand_bytes(&mut out).map_err(internal)?;
    Ok(out)
}

/// The result of [`SecretKey::encrypt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    /// Ciphertext, with the GCM tag appended.
    pub ciphertext: Vec<u8>,
    /// The IV the emulator chose (empty for ECB).
    pub iv: Vec<u8>,
    /// The GCM tag (empty for the other modes).
    pub tag: Vec<u8>,
}

impl SecretKey {
    /// Generate a key of `bits` bits.
    pub fn generate(algorithm: SecretKeyAlgorithm, bits: u32) -> Result<SecretKey, CryptoError> {
        if !algorithm.sizes().contains(&bits) {
            return Err(CryptoError::UnsupportedKey(format!(
                "{} keys have {:?} bits, not {bits}",
                algorithm.name(),
                algorithm.sizes()
            )));
        }
        SecretKey::from_bytes(algorithm, random(bits as usize / 8)?)
    }

    /// A key from its bytes (unwrapping, persistence); the length must be one of the
    /// algorithm's sizes.
    pub fn from_bytes(
        algorithm: SecretKeyAlgorithm,
        bytes: Vec<u8>,
    ) -> Result<SecretKey, CryptoError> {
        if !algorithm.sizes().contains(&(bytes.len() as u32 * 8)) {
            return Err(CryptoError::UnsupportedKey(format!(
                "a {}-byte key is no {} key",
                bytes.len(),
                algorithm.name()
            )));
        }
        Ok(SecretKey { algorithm, bytes })
    }

    /// Size in bits.
    pub fn bits(&self) -> u32 {
        self.bytes.len() as u32 * 8
    }

    fn aes(&self) -> Result<(), CryptoError> {
        if self.algorithm != SecretKeyAlgorithm::Aes {
            return Err(CryptoError::AlgorithmNotSupportedByKey(format!(
                "a {} key does not encrypt",
                self.algorithm.name()
            )));
        }
        Ok(())
    }

    fn openssl_cipher(&self, mode: AesMode) -> Result<Cipher, CryptoError> {
        Ok(match (mode, self.bytes.len()) {
            (AesMode::Cbc, 16) => Cipher::aes_128_cbc(),
            (AesMode::Cbc, 24) => Cipher::aes_192_cbc(),
            (AesMode::Cbc, 32) => Cipher::aes_256_cbc(),
            (AesMode::Ecb, 16) => Cipher::aes_128_ecb(),
            (AesMode::Ecb, 24) => Cipher::aes_192_ecb(),
            (AesMode::Ecb, 32) => Cipher::aes_256_ecb(),
            (AesMode::Ctr, 16) => Cipher::aes_128_ctr(),
            (AesMode::Ctr, 24) => Cipher::aes_192_ctr(),
            (AesMode::Ctr, 32) => Cipher::aes_256_ctr(),
            (AesMode::Gcm, 16) => Cipher::aes_128_gcm(),
            (AesMode::Gcm, 24) => Cipher::aes_192_gcm(),
            (AesMode::Gcm, 32) => Cipher::aes_256_gcm(),
            (_, n) => return Err(CryptoError::Internal(format!("{n}-byte AES key"))),
        })
    }

    /// Encrypt with an AES cipher; the IV is chosen here (the TSB's request has none). `tag_len`
    /// is the GCM tag length in bytes, `aad` GCM's additional data (ignored by the other modes,
    /// as the DTO says "used for encryption with algorithm that support them").
    pub fn encrypt(
        &self,
        c: &AesCipher,
        plaintext: &[u8],
        aad: &[u8],
        tag_len: usize,
    ) -> Result<Encrypted, CryptoError> {
        self.aes()?;
        check_block_multiple(c, plaintext.len())?;
        let cipher = self.openssl_cipher(c.mode)?;
        let iv = random(c.iv_len)?;
        let iv_opt = (!iv.is_empty()).then_some(iv.as_slice());
        if c.mode == AesMode::Gcm {
            let mut tag = vec![0u8; tag_len];
            let mut ct = symm::encrypt_aead(cipher, &self.bytes, iv_opt, aad, plaintext, &mut tag)
                .map_err(internal)?;
            ct.extend_from_slice(&tag);
            return Ok(Encrypted {
                ciphertext: ct,
                iv,
                tag,
            });
        }
        let mut crypter =
            Crypter::new(cipher, Mode::Encrypt, &self.bytes, iv_opt).map_err(internal)?;
        crypter.pad(c.padding);
        let ciphertext = run(&mut crypter, plaintext).map_err(internal)?;
        Ok(Encrypted {
            ciphertext,
            iv,
            tag: Vec::new(),
        })
    }

    /// Decrypt with an AES cipher. For GCM `ciphertext` ends with the `tag_len`-byte tag. A
    /// wrong IV length, a bad tag or bad padding is `DecryptFailed`.
    pub fn decrypt(
        &self,
        c: &AesCipher,
        ciphertext: &[u8],
        iv: &[u8],
        aad: &[u8],
        tag_len: usize,
    ) -> Result<Vec<u8>, CryptoError> {
        self.aes()?;
        if iv.len() != c.iv_len {
            return Err(CryptoError::DecryptFailed(format!(
                "{} needs a {}-byte initializationVector, not {} bytes",
                c.name,
                c.iv_len,
                iv.len()
            )));
        }
        let cipher = self.openssl_cipher(c.mode)?;
        let iv_opt = (!iv.is_empty()).then_some(iv);
        let fail = |e: openssl::error::ErrorStack| CryptoError::DecryptFailed(e.to_string());
        if c.mode == AesMode::Gcm {
            if ciphertext.len() < tag_len {
                return Err(CryptoError::DecryptFailed("shorter than the tag".into()));
            }
            let (ct, tag) = ciphertext.split_at(ciphertext.len() - tag_len);
            return symm::decrypt_aead(cipher, &self.bytes, iv_opt, aad, ct, tag)
                .map_err(|_| CryptoError::DecryptFailed("GCM tag does not verify".into()));
        }
        if !c.padding && c.mode != AesMode::Ctr && !ciphertext.len().is_multiple_of(16) {
            return Err(CryptoError::DecryptFailed(format!(
                "{} ciphertext of {} bytes is not a multiple of 16",
                c.name,
                ciphertext.len()
            )));
        }
        let mut crypter =
            Crypter::new(cipher, Mode::Decrypt, &self.bytes, iv_opt).map_err(internal)?;
        crypter.pad(c.padding);
        run(&mut crypter, ciphertext).map_err(fail)
    }

    /// HMAC-SHA-256 of `data` (an `HMACSHA256` key).
    pub fn hmac(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if self.algorithm != SecretKeyAlgorithm::HmacSha256 {
            return Err(CryptoError::AlgorithmNotSupportedByKey(format!(
                "a {} key does not compute HMACs",
                self.algorithm.name()
            )));
        }
        let key = PKey::hmac(&self.bytes).map_err(internal)?;
        let mut s = Signer::new(MessageDigest::sha256(), &key).map_err(internal)?;
        s.sign_oneshot_to_vec(data).map_err(internal)
    }

    /// Whether `mac` is the HMAC of `data`, compared in constant time.
    pub fn hmac_verify(&self, data: &[u8], mac: &[u8]) -> Result<bool, CryptoError> {
        let expected = self.hmac(data)?;
        Ok(expected.len() == mac.len() && openssl::memcmp::eq(&expected, mac))
    }

    fn kek(&self, encrypt: bool) -> Result<AesKey, CryptoError> {
        if self.algorithm != SecretKeyAlgorithm::Aes {
            return Err(CryptoError::AlgorithmNotSupportedByKey(format!(
                "a {} key does not wrap",
                self.algorithm.name()
            )));
        }
        let k = if encrypt {
            AesKey::new_encrypt(&self.bytes)
        } else {
            AesKey::new_decrypt(&self.bytes)
        };
        k.map_err(|_| CryptoError::Internal("AES key setup".into()))
    }

    /// AES Key Wrap (RFC 3394) of `key`, whose length must be a multiple of 8 and at least 16.
    pub fn wrap(&self, key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if key.len() < 16 || !key.len().is_multiple_of(8) {
            return Err(CryptoError::InvalidPayload(format!(
                "AES key wrap without padding needs a multiple of 8 bytes (at least 16), not {}",
                key.len()
            )));
        }
        let mut out = vec![0u8; key.len() + 8];
        wrap_key(&self.kek(true)?, None, &mut out, key)
            .map_err(|_| CryptoError::Internal("AES key wrap failed".into()))?;
        Ok(out)
    }

    /// Inverse of [`SecretKey::wrap`]; an integrity failure is `DecryptFailed`.
    pub fn unwrap(&self, wrapped: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
            return Err(CryptoError::DecryptFailed(format!(
                "a wrapped key of {} bytes is not RFC 3394 output",
                wrapped.len()
            )));
        }
        let mut out = vec![0u8; wrapped.len() - 8];
        unwrap_key(&self.kek(false)?, None, &mut out, wrapped).map_err(|_| {
            CryptoError::DecryptFailed("AES key unwrap: integrity check failed".into())
        })?;
        Ok(out)
    }

    /// AES Key Wrap with Padding (RFC 5649) of `key` (1 byte or more).
    pub fn wrap_pad(&self, key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if key.is_empty() || key.len() > u32::MAX as usize {
            return Err(CryptoError::InvalidPayload("nothing to wrap".into()));
        }
        let aiv = kwp_iv(key.len() as u32);
        let mut padded = key.to_vec();
        padded.resize(key.len().div_ceil(8) * 8, 0);
        if padded.len() == 8 {
            // One semiblock: a single AES block AIV || P (RFC 5649 §4.1).
            let mut block = aiv.to_vec();
            block.extend_from_slice(&padded);
            return self.ecb_block(Mode::Encrypt, &block);
        }
        let mut out = vec![0u8; padded.len() + 8];
        wrap_key(&self.kek(true)?, Some(aiv), &mut out, &padded)
            .map_err(|_| CryptoError::Internal("AES key wrap failed".into()))?;
        Ok(out)
    }

    /// Inverse of [`SecretKey::wrap_pad`]: the IV's length field and the zero padding are
    /// checked (RFC 5649 §3); any failure is `DecryptFailed`.
    pub fn unwrap_pad(&self, wrapped: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let fail = || {
            CryptoError::DecryptFailed("AES key unwrap with padding: integrity check failed".into())
        };
        if wrapped.len() < 16 || !wrapped.len().is_multiple_of(8) {
            return Err(fail());
        }
        let padded_len = wrapped.len() - 8;
        let (aiv, padded) = if wrapped.len() == 16 {
            let block = self.ecb_block(Mode::Decrypt, wrapped)?;
            (block[..8].to_vec(), block[8..].to_vec())
        } else {
            // The IV carries the length: try each length that pads to `padded_len`.
            let kek = self.kek(false)?;
            let mut found = None;
            for len in (padded_len - 7)..=padded_len {
                let iv = kwp_iv(len as u32);
                let mut out = vec![0u8; padded_len];
                if unwrap_key(&kek, Some(iv), &mut out, wrapped).is_ok() {
                    found = Some((iv.to_vec(), out));
                    break;
                }
            }
            found.ok_or_else(fail)?
        };
        if aiv[..4] != [0xA6, 0x59, 0x59, 0xA6] {
            return Err(fail());
        }
        let len = u32::from_be_bytes([aiv[4], aiv[5], aiv[6], aiv[7]]) as usize;
        if len == 0
            || len > padded.len()
            || padded.len() - len >= 8
            || padded[len..].iter().any(|b| *b != 0)
        {
            return Err(fail());
        }
        Ok(padded[..len].to_vec())
    }

    fn ecb_block(&self, mode: Mode, block: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.aes()
            .map_err(|_| CryptoError::AlgorithmNotSupportedByKey("not an AES key".into()))?;
        let mut c = Crypter::new(self.openssl_cipher(AesMode::Ecb)?, mode, &self.bytes, None)
            .map_err(internal)?;
        c.pad(false);
        run(&mut c, block).map_err(internal)
    }
}

/// RFC 5649's alternative initial value: `A65959A6` then the 32-bit message length.
fn kwp_iv(len: u32) -> [u8; 8] {
    let l = len.to_be_bytes();
    [0xA6, 0x59, 0x59, 0xA6, l[0], l[1], l[2], l[3]]
}

fn check_block_multiple(c: &AesCipher, len: usize) -> Result<(), CryptoError> {
    if !c.padding && matches!(c.mode, AesMode::Cbc | AesMode::Ecb) && !len.is_multiple_of(16) {
        return Err(CryptoError::InvalidPayload(format!(
            "{} needs a multiple of 16 bytes, not {len}",
            c.name
        )));
    }
    Ok(())
}

fn run(c: &mut Crypter, input: &[u8]) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let mut out = vec![0u8; input.len() + 32];
    let mut n = c.update(input, &mut out)?;
    n += c.finalize(&mut out[n..])?;
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aes(bits: u32) -> SecretKey {
        SecretKey::generate(SecretKeyAlgorithm::Aes, bits).unwrap()
    }

    /// RFC 3394 §4.6 and RFC 5649 §6 test vectors.
    #[test]
    fn key_wrap_vectors() {
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let kek = SecretKey::from_bytes(
            SecretKeyAlgorithm::Aes,
            hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"),
        )
        .unwrap();
        let key = hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
        let w = kek.wrap(&key).unwrap();
        assert_eq!(
            w,
            hex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
        );
        assert_eq!(kek.unwrap(&w).unwrap(), key);
        let kek = SecretKey::from_bytes(
            SecretKeyAlgorithm::Aes,
            hex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"),
        )
        .unwrap();
        let w = kek
            .wrap_pad(&hex("c37b7e6492584340bed12207808941155068f738"))
            .unwrap();
        assert_eq!(
            w,
            hex("138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a")
        );
        assert_eq!(
            kek.unwrap_pad(&w).unwrap(),
            hex("c37b7e6492584340bed12207808941155068f738")
        );
        let w = kek.wrap_pad(&hex("466f7250617369")).unwrap();
        assert_eq!(w, hex("afbeb0f07dfbf5419200f2ccb50bb24f"));
        assert_eq!(kek.unwrap_pad(&w).unwrap(), hex("466f7250617369"));
        let mut bad = w.clone();
        bad[3] ^= 1;
        assert!(matches!(
            kek.unwrap_pad(&bad),
            Err(CryptoError::DecryptFailed(_))
        ));
    }

    #[test]
    fn modes_round_trip_and_fail_closed() {
        for bits in [128, 192, 256] {
            let k = aes(bits);
            for c in tsb_models::AES_CIPHERS {
                let pt = [7u8; 32];
                let e = k.encrypt(c, &pt, b"aad", 12).unwrap();
                assert_eq!(e.iv.len(), c.iv_len);
                assert_eq!(
                    k.decrypt(c, &e.ciphertext, &e.iv, b"aad", 12).unwrap(),
                    pt,
                    "{}",
                    c.name
                );
                if c.mode == AesMode::Gcm {
                    assert_eq!(e.tag.len(), 12);
                    assert!(k.decrypt(c, &e.ciphertext, &e.iv, b"other", 12).is_err());
                }
            }
        }
        let k = aes(128);
        let cbc = tsb_models::aes_cipher("AES_CBC_NO_PADDING").unwrap();
        assert!(matches!(
            k.encrypt(cbc, &[1; 15], b"", 16),
            Err(CryptoError::InvalidPayload(_))
        ));
        let hmac = SecretKey::generate(SecretKeyAlgorithm::HmacSha256, 256).unwrap();
        assert!(hmac.encrypt(cbc, &[1; 16], b"", 16).is_err());
        assert!(hmac.hmac_verify(b"x", &hmac.hmac(b"x").unwrap()).unwrap());
        assert!(!hmac.hmac_verify(b"y", &hmac.hmac(b"x").unwrap()).unwrap());
        assert!(k.hmac(b"x").is_err());
        assert!(SecretKey::generate(SecretKeyAlgorithm::Aes, 512).is_err());
    }
}
