//! Secret-key operations on the TSB: AES encryption (`POST /v1/encrypt`), AES decryption with an
//! IV, AAD and tag length (`/v1/synchronousDecrypt`, or `/v1/decrypt` and the approval wait for a
//! key with a policy) and HMAC (`POST /v1/synchronousHmac`). Bodies and sources:
//! `models/src/symmetric.rs`; emulator/README.md ("Secret keys, wrapping and post-quantum
//! signatures"). Nothing here checks what the answers mean: `token::symmetric` does.

use super::api::{self, b64, unb64};
use super::client::Idempotency;
use super::key::KeyInfo;
use super::requests::{Caller, RemoteCall};
use super::Tsb;
use crate::error::Result;
use reqwest::Method;
use tsb_models::symmetric::{
    EncryptEnvelope, EncryptRequest, EncryptResponse, HmacEnvelope, HmacRequest, HmacResponse,
};
use tsb_models::{paths, DecryptEnvelope, DecryptRequest, DecryptRequestId, DecryptResponse};

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
