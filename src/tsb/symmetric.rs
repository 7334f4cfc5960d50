//! Secret-key operations on the TSB: AES encryption (`POST /v1/encrypt`), AES decryption with an
//! IV, AAD and tag length (`/v1/synchronousDecrypt`, or `/v1/decrypt` and the approval wait for a
//! key with a policy), the raw block cipher both ways (`ecb_encrypt_blocks`,
//! `ecb_decrypt_blocks`: what `mechanism::modes` builds the caller-IV modes on) and HMAC
//! (`POST /v1/synchronousHmac`). Bodies and sources:
//! `models/src/symmetric.rs`; emulator/README.md ("Secret keys, wrapping and post-quantum
//! signatures"). Nothing here checks what the answers mean: `token::symmetric` does.

use super::api::{self, b64, unb64};
use super::client::Idempotency;
use super::key::KeyInfo;
use super::requests::{Caller, RemoteCall};
use super::Tsb;
use crate::error::{Error, Result};
use reqwest::Method;
use tsb_models::symmetric::{
    EncryptEnvelope, EncryptRequest, EncryptResponse, HmacEnvelope, HmacRequest, HmacResponse,
};
use tsb_models::{paths, DecryptEnvelope, DecryptRequest, DecryptRequestId, DecryptResponse};
use zeroize::Zeroize;

/// The number of 16-byte blocks in `blocks`; not whole blocks is a bug of the caller here.
fn whole_blocks(blocks: &[u8]) -> Result<usize> {
    if blocks.len().is_multiple_of(16) {
        Ok(blocks.len() / 16)
    } else {
        Err(Error::Internal(format!(
            "{} bytes are not whole AES blocks",
            blocks.len()
        )))
    }
}

/// What the TSB answered to an encryption: the ciphertext (with the GCM tag appended) and the
/// IV it chose (None when the answer has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Encrypted {
    pub(crate) ciphertext: Vec<u8>,
    pub(crate) iv: Option<Vec<u8>>,
    /// `messageAuthenticationCode` (GCM), when the answer has one.
    pub(crate) tag: Option<Vec<u8>>,
}

/// The parameters of an AES decryption.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AesDecrypt<'a> {
    /// `cipherAlgorithm` (`AES_GCM`, `AES`, `AES_CBC_NO_PADDING`).
    pub(crate) algorithm: &'a str,
    pub(crate) iv: &'a [u8],
    /// GCM only.
    pub(crate) aad: &'a [u8],
    /// GCM only: the tag length in bits.
    pub(crate) tag_bits: Option<u32>,
}

impl Tsb {
    /// `POST /v1/encrypt` with a secret key. Synchronous in every source (no SKA path: secret keys
    /// have no policy). Sent once: an encryption is not repeated behind the caller's back.
    pub(crate) fn aes_encrypt(
        &self,
        key: &KeyInfo,
        algorithm: &str,
        data: &[u8],
        aad: &[u8],
        tag_bits: Option<u32>,
    ) -> Result<Encrypted> {
        let c = &self.client;
        let label = key.tsb_label.as_str();
        let inner = EncryptRequest {
            payload: b64(data),
            encrypt_key_name: label.to_string(),
            key_password: c.key_password(label),
            cipher_algorithm: algorithm.to_string(),
            additional_authentication_data: (!aad.is_empty()).then(|| b64(aad)),
            tag_length: tag_bits,
        };
        let body = EncryptEnvelope {
            request_signature: c.request_signature(&inner)?,
            encrypt_request: inner,
        };
        let r: EncryptResponse =
            c.call(Method::POST, paths::ENCRYPT, Some(&body), Idempotency::Once)?;
        let opt = |v: &Option<String>, what: &str| -> Result<Option<Vec<u8>>> {
            v.as_deref().map(|s| unb64(s, what)).transpose()
        };
        Ok(Encrypted {
            ciphertext: unb64(&r.encrypted_payload, "encryptedPayload")?,
            iv: opt(&r.initialization_vector, "initializationVector")?,
            tag: opt(&r.message_authentication_code, "messageAuthenticationCode")?,
        })
    }

    /// An AES decryption: `/v1/synchronousDecrypt`, or `/v1/decrypt` and the approval wait for a
    /// key whose policy needs approvals (which secret keys cannot have on a TSB; handled as RSA
    /// decryption is, so a key that has one anyway is never used behind its approvers).
    pub(crate) fn aes_decrypt(
        &self,
        key: &KeyInfo,
        p: AesDecrypt<'_>,
        data: &[u8],
        caller: &Caller,
    ) -> Result<Vec<u8>> {
        let c = &self.client;
        let label = key.tsb_label.as_str();
        let request = |meta: Option<api::Meta>| {
            let (meta_data, meta_data_signature) = match meta {
                Some(m) => (Some(m.data), m.signature),
                None => (None, None),
            };
            DecryptRequest {
                encrypted_payload: b64(data),
                decrypt_key_name: label.to_string(),
                key_password: c.key_password(label),
                cipher_algorithm: p.algorithm.to_string(),
                initialization_vector: (!p.iv.is_empty()).then(|| b64(p.iv)),
                additional_authentication_data: (!p.aad.is_empty()).then(|| b64(p.aad)),
                tag_length: p.tag_bits,
                meta_data,
                meta_data_signature,
            }
        };
        let sync = || -> Result<Vec<u8>> {
            let inner = request(None);
            let body = DecryptEnvelope {
                request_signature: c.request_signature(&inner)?,
                decrypt_request: inner,
            };
            let r: DecryptResponse = c.call(
                Method::POST,
                paths::SYNCHRONOUS_DECRYPT,
                Some(&body),
                Idempotency::Once,
            )?;
            unb64(&r.payload, "plaintext")
        };
        let create = || -> Result<String> {
            let meta = api::meta_data(
                c,
                "Decrypt",
                &[("cipherAlgorithm", p.algorithm.to_string())],
            );
            let inner = request(Some(meta));
            let body = DecryptEnvelope {
                request_signature: c.request_signature(&inner)?,
                decrypt_request: inner,
            };
            let r: DecryptRequestId =
                c.call(Method::POST, paths::DECRYPT, Some(&body), Idempotency::Once)?;
            Ok(r.decrypt_request_id)
        };
        // The IV is part of what is decrypted: the fingerprint that recognises the same
        // operation asked again covers it.
        let mut payload = p.iv.to_vec();
        payload.extend_from_slice(data);
        let call = RemoteCall {
            kind: "decryption",
            algorithm: p.algorithm,
            payload: &payload,
            sync: &sync,
            create: &create,
            force_async: false,
        };
        self.run_binary(key, call, caller)
    }

    /// The raw AES block cipher E_K over `blocks` (whole 16-byte blocks), the building block of
    /// every mode computed in `mechanism::modes`: ONE `POST /v1/encrypt` with `AES_ECB`.
    ///
    /// Source of the name: S3 `enums/tsb/CipherAlgorithm.java` and S1 `encrypt.go` list
    /// `AES_ECB` and `AES_CTR` among the `cipherAlgorithm`s (shared/tsb-api.md §4), and
    /// Securosys' simple-sign client (`CryptoUtil.getKeyTypeForCipherAlgorithm`) maps
    /// `AES_ECB`/`AES_CTR`/`AES_CBC_NO_PADDING`/`AES_GCM`/`AES` to AES keys. That `AES_ECB` is
    /// ECB with PKCS#7 padding (so n blocks come back as n + 1) is this project's reading
    /// (models/src/symmetric.rs): no source says. So exactly n or n + 1 blocks are accepted and
    /// the first n kept (a TSB that does not pad answers n); anything else is refused, and
    /// nothing here trusts the server's length.
    pub(crate) fn ecb_encrypt_blocks(&self, key: &KeyInfo, blocks: &[u8]) -> Result<Vec<u8>> {
        let n = whole_blocks(blocks)?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut enc = self.aes_encrypt(key, "AES_ECB", blocks, &[], None)?;
        let got = enc.ciphertext.len();
        if got != blocks.len() && got != blocks.len() + 16 {
            enc.ciphertext.zeroize();
            return Err(Error::BadResult(format!(
                "AES_ECB answered {got} bytes for {n} blocks (expected {} or {})",
                blocks.len(),
                blocks.len() + 16
            )));
        }
        let mut out = std::mem::take(&mut enc.ciphertext);
        // The padding block is E_K(16 × 0x10): not needed, but key material all the same.
        out[blocks.len()..].zeroize();
        out.truncate(blocks.len());
        Ok(out)
    }

    /// The raw AES block decryption D_K over `blocks` (whole 16-byte blocks): ONE decryption
    /// with `AES_CBC_NO_PADDING` under an IV of 16 zero bytes, which answers
    /// P_i = D_K(C_i) XOR C_{i-1} (C_0 = 0), un-chained here: D_K(C_i) = P_i XOR C_{i-1}. The
    /// answer must be exactly as long as the input.
    pub(crate) fn ecb_decrypt_blocks(
        &self,
        key: &KeyInfo,
        blocks: &[u8],
        caller: &Caller,
    ) -> Result<Vec<u8>> {
        let n = whole_blocks(blocks)?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let p = AesDecrypt {
            algorithm: "AES_CBC_NO_PADDING",
            iv: &[0u8; 16],
            aad: &[],
            tag_bits: None,
        };
        let mut out = self.aes_decrypt(key, p, blocks, caller)?;
        if out.len() != blocks.len() {
            let got = out.len();
            out.zeroize();
            return Err(Error::BadResult(format!(
                "AES_CBC_NO_PADDING decrypted {n} blocks to {got} bytes"
            )));
        }
        for (i, b) in out.iter_mut().enumerate().skip(16) {
            *b ^= blocks[i - 16];
        }
        Ok(out)
    }

    /// `POST /v1/synchronousHmac` (TSB 2.0.1; S2 `tsb/Tutorials/Mac/hmac.md`): the MAC of `data`.
    /// No asynchronous HMAC endpoint exists in any source.
    pub(crate) fn hmac(&self, key: &KeyInfo, data: &[u8]) -> Result<Vec<u8>> {
        let c = &self.client;
        let label = key.tsb_label.as_str();
        let body = HmacEnvelope {
            hmac_request: HmacRequest {
                key_name: label.to_string(),
                payload: b64(data),
                key_password: c.key_password(label),
            },
        };
        let r: HmacResponse = c.call(
            Method::POST,
            paths::SYNCHRONOUS_HMAC,
            Some(&body),
            Idempotency::Once,
        )?;
        unb64(&r.keyed_hash, "keyedHash")
    }
}
