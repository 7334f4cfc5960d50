//! Secret-key operations: what the AES `cipherAlgorithm` names do, and the bodies of
//! `POST /v1/encrypt`, `POST /v1/synchronousHmac` and HMAC verification.
//!
//! Sources:
//! - `cipherAlgorithm` names: S3 `enums/tsb/CipherAlgorithm.java`, S1 `encrypt.go`
//!   (`AES_CIPHER_ALGORITHM`). What each does is documented only for `AES_GCM`: S2
//!   `tsb/Tutorials/Encryption/EncryptDecrypt.md` shows a 12-byte `initializationVector` chosen by
//!   the TSB and `encryptedPayload` = ciphertext ‖ tag with the tag also in
//!   `messageAuthenticationCode`; S3 `dto/tsb/response/EncryptRequestResponseDto.java` says the
//!   MAC is "part of the cipher text and is additionally returned". The other modes
//!   ([`aes_cipher`]) are this project's reading of the names, unconfirmed.
//! - `tagLength`: S3 `EncryptRequestDto.java`/`DecryptRequestDto.java` ("Supported tag_length: 0,
//!   64, 96, 104, 112, 120, 128", `int`, default 0), S1 `helpers/consts.go`
//!   `SUPPORTED_TAG_LENGTH`; errorCode 624 `res.error.key.invalid.tagLength` (S3
//!   `BusinessReason`).
//! - Encrypt bodies: S3 `dto/tsb/request/EncryptRequestDto.java`, `SignedEncryptRequestDto.java`,
//!   S1 `encrypt.go` `Encrypt`; response S3 `EncryptRequestResponseDto.java`, S1
//!   `helpers/structs.go` `EncryptResponse`. There is no `initializationVector` in the request:
//!   the TSB always chooses it.
//! - HMAC: S2 `tsb/Tutorials/Mac/hmac.md` (`{"hmacRequest": {keyName, payload}}` →
//!   `{"keyedHash"}`; verification `{"verifyHmacRequest": {keyName, payload, signature}}` →
//!   `{"signatureValid"}` on `POST /v1/verify`), release notes 2.0.1. No DTO copy is public.

use crate::keys::Password;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The block-cipher mode of an AES `cipherAlgorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AesMode {
    /// Cipher block chaining.
    Cbc,
    /// Electronic codebook.
    Ecb,
    /// Counter mode (the IV is the initial 128-bit counter block).
    Ctr,
    /// Galois/counter mode, with a tag.
    Gcm,
}

/// What an AES `cipherAlgorithm` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AesCipher {
    /// The `cipherAlgorithm` name.
    pub name: &'static str,
    /// The mode.
    pub mode: AesMode,
    /// PKCS#7 (JCE "PKCS5Padding") padding.
    pub padding: bool,
    /// Length of the IV the TSB chooses, 0 for none.
    pub iv_len: usize,
}

/// The AES ciphers, with this project's reading of each name (unconfirmed except `AES_GCM`):
/// - `AES`: CBC with PKCS#7 padding and a 16-byte IV. The names `AES_CBC_NO_PADDING` and
///   `TDEA_CBC` / `TDEA_CBC_NO_PADDING` suggest that the plain name is the padded CBC one; the
///   JCE's own default for `Cipher.getInstance("AES")` would be ECB with PKCS#5 padding.
/// - `AES_CBC_NO_PADDING`: CBC without padding (input a multiple of 16 bytes), 16-byte IV.
/// - `AES_ECB`: ECB with PKCS#7 padding (the JCE's default padding for `AES/ECB`), no IV.
/// - `AES_CTR`: CTR, 16-byte initial counter block, no padding.
/// - `AES_GCM`: GCM, 12-byte IV (S2 `EncryptDecrypt.md`), tag of `tagLength` bits appended.
pub const AES_CIPHERS: &[AesCipher] = &[
    AesCipher {
        name: "AES",
        mode: AesMode::Cbc,
        padding: true,
        iv_len: 16,
    },
    AesCipher {
        name: "AES_CBC_NO_PADDING",
        mode: AesMode::Cbc,
        padding: false,
        iv_len: 16,
    },
    AesCipher {
        name: "AES_ECB",
        mode: AesMode::Ecb,
        padding: true,
        iv_len: 0,
    },
    AesCipher {
        name: "AES_CTR",
        mode: AesMode::Ctr,
        padding: false,
        iv_len: 16,
    },
    AesCipher {
        name: "AES_GCM",
        mode: AesMode::Gcm,
        padding: false,
        iv_len: 12,
    },
];

/// The AES cipher of this `cipherAlgorithm` name.
pub fn aes_cipher(name: &str) -> Option<&'static AesCipher> {
    AES_CIPHERS.iter().find(|c| c.name == name)
}

/// The GCM tag lengths in bits `tagLength` may take (S3 field docs, S1 `SUPPORTED_TAG_LENGTH`).
pub const GCM_TAG_LENGTHS: [u32; 7] = [0, 64, 96, 104, 112, 120, 128];

/// The tag length in bytes for a `tagLength` (absent = 0): 0 means the default, 128 bits (what
/// 0 does on a TSB is not documented; a GCM tag cannot be empty). `None` for a length the TSB
/// does not support.
pub fn gcm_tag_bytes(tag_length: Option<u32>) -> Option<usize> {
    match tag_length.unwrap_or(0) {
        0 => Some(16),
        n if GCM_TAG_LENGTHS.contains(&n) => Some(n as usize / 8),
        _ => None,
    }
}

/// Inner object of `POST /v1/encrypt` (`EncryptRequestDto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptRequest {
    /// Base64 plaintext.
    pub payload: String,
    /// Key name.
    pub encrypt_key_name: String,
    /// Key password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_password: Option<Password>,
    /// `AES_GCM`, `RSA_PADDING_OAEP_WITH_SHA256`, ...
    pub cipher_algorithm: String,
    /// Base64 additional authenticated data (GCM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_authentication_data: Option<String>,
    /// GCM tag length in bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_length: Option<u32>,
}

/// Body of `POST /v1/encrypt` (`SignedEncryptRequestDto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptEnvelope {
    /// The request.
    pub encrypt_request: EncryptRequest,
    /// Optional application signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_signature: Option<Value>,
}

/// Answer of `POST /v1/encrypt` (`EncryptRequestResponseDto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptResponse {
    /// Base64 ciphertext; for GCM with the tag appended.
    pub encrypted_payload: String,
    /// Base64 ciphertext without the GCM tag (S2 release notes 1.15.2 "to support python
    /// users"); for the other ciphers the same as `encryptedPayload` (unconfirmed).
    #[serde(default)]
    pub encrypted_payload_without_message_authentication_code: Option<String>,
    /// Base64 IV chosen by the TSB, null when the cipher has none.
    #[serde(default)]
    pub initialization_vector: Option<String>,
    /// Base64 GCM tag, null for the other ciphers.
    #[serde(default)]
    pub message_authentication_code: Option<String>,
}

/// Inner object of `POST /v1/synchronousHmac` (S2 `hmac.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HmacRequest {
    /// Key name.
    pub key_name: String,
    /// Base64 data.
    pub payload: String,
    /// Key password (not in the docs' example; the emulator accepts it as every other operation
    /// does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_password: Option<Password>,
}

/// Body of `POST /v1/synchronousHmac`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HmacEnvelope {
    /// The request.
    pub hmac_request: HmacRequest,
}

/// Answer of `POST /v1/synchronousHmac`: `{"keyedHash": b64}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HmacResponse {
    /// Base64 MAC.
    pub keyed_hash: String,
}

/// Inner object of an HMAC verification (`POST /v1/verify` with `verifyHmacRequest`, S2
/// `hmac.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyHmacRequest {
    /// Key name.
    pub key_name: String,
    /// Base64 data.
    pub payload: String,
    /// Base64 MAC to check.
    pub signature: String,
    /// Key password (see [`HmacRequest::key_password`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_password: Option<Password>,
}

/// Body of an HMAC verification.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyHmacEnvelope {
    /// The request.
    pub verify_hmac_request: VerifyHmacRequest,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_names_are_the_tsb_enum_names() {
        for c in AES_CIPHERS {
            assert!(
                crate::algorithms::cipher_algorithm(c.name).is_some(),
                "{} is a TSB cipherAlgorithm",
                c.name
            );
            assert_eq!(aes_cipher(c.name), Some(c));
            assert_eq!(c.iv_len == 0, c.mode == AesMode::Ecb);
        }
        assert_eq!(aes_cipher("CHACHA20"), None);
    }

    #[test]
    fn tag_lengths() {
        assert_eq!(gcm_tag_bytes(None), Some(16));
        assert_eq!(gcm_tag_bytes(Some(0)), Some(16));
        assert_eq!(gcm_tag_bytes(Some(96)), Some(12));
        assert_eq!(gcm_tag_bytes(Some(100)), None);
        assert_eq!(gcm_tag_bytes(Some(32)), None);
    }
}
