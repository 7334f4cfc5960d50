//! Key wrapping: the `wrapMethod` names, what each does, and the bodies of `POST /v1/wrap`,
//! `POST /v1/synchronousUnwrap` and `POST /v1/unwrap`.
//!
//! Sources: S3 `enums/tsb/WrapMethod.java`, `dto/tsb/request/WrapKeyRequestDto.java`,
//! `UnwrapKeyRequestDto.java`, `SynchronousUnwrapKeyRequestDto.java`, `Signed*UnwrapKeyRequestDto`,
//! `SignedWrapKeyRequestDto.java`, `dto/tsb/response/WrapKeyRequestResponseDto.java`,
//! `UnwrapKeyRequestResponseDto.java`; S1 `wrap.go` (bodies), `wrap_test.go` (which key wraps
//! which: AES wraps AES/DSA/EC/ED/RSA/BLS keys with the matching method, RSA wraps AES keys with
//! `RSA_WRAP_PAD`/`RSA_WRAP_OAEP`; wrap answers 200, synchronous unwrap 201); S2
//! `tsb/Tutorials/Wrapping/wrap-unwrap.md`; release notes 1.10.0 (ED wrap, `policy` on
//! synchronous unwrap).
//!
//! What the methods compute is not documented. This project's reading: `AES_WRAP*` is AES Key
//! Wrap (RFC 3394), `AES_WRAP_PAD*` AES Key Wrap with Padding (RFC 5649), `RSA_WRAP_PAD`
//! RSAES-PKCS1-v1_5 and `RSA_WRAP_OAEP` RSAES-OAEP with SHA-1 (the JCE default of
//! `RSA/ECB/OAEPPadding`), each over the raw secret key or the private key's PKCS#8 DER.

use crate::keys::{KeyAlgorithm, KeyFlags, Password};
use crate::policy::Policy;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The key that does the wrapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WrappingKey {
    /// An AES key (RFC 3394, or RFC 5649 when padded).
    Aes {
        /// RFC 5649 (with padding) rather than RFC 3394.
        padded: bool,
    },
    /// An RSA key: PKCS#1 v1.5 (`RSA_WRAP_PAD`) or OAEP (`RSA_WRAP_OAEP`).
    Rsa {
        /// OAEP rather than PKCS#1 v1.5.
        oaep: bool,
    },
}

/// The kind of key a method wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WrappedKind {
    /// A secret key (AES, HMAC).
    Secret,
    /// An asymmetric private key of this algorithm.
    Private(KeyAlgorithm),
    /// DSA or BLS keys, which the emulator does not create.
    Other,
}

/// One `wrapMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WrapMethod {
    /// The name on the wire.
    pub name: &'static str,
    /// How it wraps.
    pub wrapping: WrappingKey,
    /// What it wraps.
    pub wrapped: WrappedKind,
}

const fn aes(name: &'static str, padded: bool, wrapped: WrappedKind) -> WrapMethod {
    WrapMethod {
        name,
        wrapping: WrappingKey::Aes { padded },
        wrapped,
    }
}

/// Every `wrapMethod` (S3 `WrapMethod.java`, S1 `helpers/consts.go`). The ML-KEM names that a
/// newer S1 lists are not in the TSB's enum copy and not here.
pub const WRAP_METHODS: &[WrapMethod] = &[
    aes("AES_WRAP", false, WrappedKind::Secret),
    aes("AES_WRAP_DSA", false, WrappedKind::Other),
    aes("AES_WRAP_EC", false, WrappedKind::Private(KeyAlgorithm::Ec)),
    aes("AES_WRAP_ED", false, WrappedKind::Private(KeyAlgorithm::Ed)),
    aes(
        "AES_WRAP_RSA",
        false,
        WrappedKind::Private(KeyAlgorithm::Rsa),
    ),
    aes("AES_WRAP_BLS", false, WrappedKind::Other),
    aes("AES_WRAP_PAD", true, WrappedKind::Secret),
    aes("AES_WRAP_PAD_DSA", true, WrappedKind::Other),
    aes(
        "AES_WRAP_PAD_EC",
        true,
        WrappedKind::Private(KeyAlgorithm::Ec),
    ),
    aes(
        "AES_WRAP_PAD_ED",
        true,
        WrappedKind::Private(KeyAlgorithm::Ed),
    ),
    aes(
        "AES_WRAP_PAD_RSA",
        true,
        WrappedKind::Private(KeyAlgorithm::Rsa),
    ),
    aes("AES_WRAP_PAD_BLS", true, WrappedKind::Other),
    WrapMethod {
        name: "RSA_WRAP_PAD",
        wrapping: WrappingKey::Rsa { oaep: false },
        wrapped: WrappedKind::Secret,
    },
    WrapMethod {
        name: "RSA_WRAP_OAEP",
        wrapping: WrappingKey::Rsa { oaep: true },
        wrapped: WrappedKind::Secret,
    },
];

/// The `wrapMethod` of this name.
pub fn wrap_method(name: &str) -> Option<&'static WrapMethod> {
    WRAP_METHODS.iter().find(|m| m.name == name)
}

/// Inner object of `POST /v1/wrap` (`WrapKeyRequestDto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrapKeyRequest {
    /// The key to wrap.
    pub key_to_be_wrapped: String,
    /// Its password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_to_be_wrapped_password: Option<Password>,
    /// The wrapping key.
    pub wrap_key_name: String,
    /// Its password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap_key_password: Option<Password>,
    /// A [`WRAP_METHODS`] name.
    pub wrap_method: String,
}

/// Body of `POST /v1/wrap` (`SignedWrapKeyRequestDto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrapKeyEnvelope {
    /// The request.
    pub wrap_key_request: WrapKeyRequest,
    /// Optional application signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_signature: Option<Value>,
}

/// Answer of `POST /v1/wrap`: `{"wrappedKey": b64}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrapKeyResponse {
    /// Base64 wrapped key.
    pub wrapped_key: String,
}

/// Inner object of `POST /v1/synchronousUnwrap` and `POST /v1/unwrap`
/// (`SynchronousUnwrapKeyRequestDto`, `UnwrapKeyRequestDto`). `policy` exists only in the
/// synchronous one (S1 `wrap.go` drops it for the asynchronous call), `metaData*` only in the
/// asynchronous one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnwrapKeyRequest {
    /// Base64 wrapped key.
    pub wrapped_key: String,
    /// Label of the new key.
    pub label: String,
    /// Attributes of the new key.
    #[serde(default)]
    pub attributes: KeyFlags,
    /// The unwrapping key.
    pub unwrap_key_name: String,
    /// Its password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unwrap_key_password: Option<Password>,
    /// A [`WRAP_METHODS`] name.
    pub wrap_method: String,
    /// Policy of the new key (synchronous endpoint only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// Base64 metadata shown to approvers (asynchronous endpoint only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<String>,
    /// Signature of the metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data_signature: Option<String>,
}

/// Body of the unwrap endpoints (`Signed*UnwrapKeyRequestDto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnwrapKeyEnvelope {
    /// The request.
    pub unwrap_key_request: UnwrapKeyRequest,
    /// Optional application signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_signature: Option<Value>,
}

/// Answer of `POST /v1/unwrap`: `{"unwrapRequestId": ...}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnwrapRequestId {
    /// Request id.
    pub unwrap_request_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_meanings() {
        assert_eq!(WRAP_METHODS.len(), 14);
        for (i, m) in WRAP_METHODS.iter().enumerate() {
            assert!(WRAP_METHODS[i + 1..].iter().all(|n| n.name != m.name));
            let padded = m.name.starts_with("AES_WRAP_PAD");
            match m.wrapping {
                WrappingKey::Aes { padded: p } => assert_eq!(p, padded, "{}", m.name),
                WrappingKey::Rsa { oaep } => assert_eq!(oaep, m.name == "RSA_WRAP_OAEP"),
            }
            if let WrappedKind::Private(a) = m.wrapped {
                assert!(m.name.ends_with(&format!("_{}", a.name())), "{}", m.name);
            }
        }
        assert_eq!(
            wrap_method("AES_WRAP").map(|m| m.wrapped),
            Some(WrappedKind::Secret)
        );
        assert_eq!(wrap_method("ML-KEM-768"), None);
    }
}
