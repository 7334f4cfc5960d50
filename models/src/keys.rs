//! Keys: create, attributes, passwords. Sources: S3
//! `dto/tsb/request/{CreateKeyDto,AttributesDto,KeyLabelWithPasswordDto}.java`,
//! `dto/tsb/response/KeyAttributesDto.java`; S1 `key.go`, `helpers/functions.go`
//! (`StringToCharArray`); S2 `tsb/overview.md`; the seed's
//! `tests/fixtures/create-key-request.json`.

use crate::curves::ED25519_OID;
use crate::policy::Policy;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The asymmetric key algorithms this project creates and reads: the `algorithm` of a key and its
/// `algorithmOid`. Sources: S3 `dto/tsb/request/CreateKeyDto.java`
/// (the names) and S2 `tsb/overview.md` (the OIDs in key attributes). The OIDs
/// are the X.509 ones (rsaEncryption, id-ecPublicKey, id-Ed25519), so they also identify the key
/// in a SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// `RSA`, `1.2.840.113549.1.1.1`.
    Rsa,
    /// `EC`, `1.2.840.10045.2.1`.
    Ec,
    /// `ED`, `1.3.101.112` (Ed25519).
    Ed,
}

impl KeyAlgorithm {
    /// Every one.
    pub const ALL: [KeyAlgorithm; 3] = [KeyAlgorithm::Rsa, KeyAlgorithm::Ec, KeyAlgorithm::Ed];

    /// The `algorithm` name.
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa => "RSA",
            KeyAlgorithm::Ec => "EC",
            KeyAlgorithm::Ed => "ED",
        }
    }

    /// The `algorithmOid`.
    pub fn oid(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa => "1.2.840.113549.1.1.1",
            KeyAlgorithm::Ec => "1.2.840.10045.2.1",
            KeyAlgorithm::Ed => ED25519_OID,
        }
    }

    /// From a dotted OID.
    pub fn from_oid(oid: &str) -> Option<KeyAlgorithm> {
        KeyAlgorithm::ALL.into_iter().find(|a| a.oid() == oid)
    }

    /// From an `algorithm` name (any case) or an `algorithmOid`.
    pub fn from_name_or_oid(s: &str) -> Option<KeyAlgorithm> {
        KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s) || a.oid() == s)
    }
}

/// The RSA modulus sizes (`keySize`, bits) the TSB generates, and so the only ones the module
/// asks for and the emulator makes. No single source lists them all: Securosys' Vault plugin
/// (S4 `hcvault-plugin-secrets-engine` `backend/path_hsm_key_rsa.go`) accepts 1024, 2048, 3072
/// and 4096 ("Available key sizes [1024,2048,3072,4096]"), the documentation (S2
/// `dev-securosys-docs` `tsb/Concepts/key/Algorithms.md`) says "2048, 4096 or 8192 bits"; the
/// table is their union. 1024 is here because the TSB takes it and test suites use it, not as
/// advice.
pub const RSA_KEY_SIZES: [u32; 5] = [1024, 2048, 3072, 4096, 8192];

/// Whether the TSB generates RSA keys of `bits` bits ([`RSA_KEY_SIZES`]).
pub fn rsa_key_size_supported(bits: u64) -> bool {
    RSA_KEY_SIZES.iter().any(|s| u64::from(*s) == bits)
}

/// A key or approval password. The TSB DTOs declare it as `char[]`, which Jackson writes as an
/// array of one-character strings (`["a","b"]`) and also reads from a plain string; both are
/// accepted here, and it is always written as the array form the official clients use.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    // Never print a secret, not even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Serialize for Password {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let chars: Vec<String> = self.0.chars().map(|c| c.to_string()).collect();
        chars.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Chars(Vec<String>),
        }
        Ok(match Repr::deserialize(d)? {
            Repr::Text(s) => Password(s),
            Repr::Chars(v) => Password(v.concat()),
        })
    }
}

/// Boolean key attributes (`AttributesDto` in requests, and the `attributes` of `KeyAttributes`).
/// Every flag is optional because requests send only some of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct KeyFlags {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decrypt: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrap: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unwrap: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bip32: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slip10: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extractable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modifiable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroyable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copyable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_sensitive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub never_extractable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eka_sign: Option<bool>,
}

/// `POST /v1/key` body (`CreateKeyDto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateKeyRequest {
    /// Unique key name.
    pub label: String,
    /// Optional key id (kept for PKCS#11 CKA_ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Optional key password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Password>,
    /// `RSA`, `EC`, `ED`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// Alternative to `algorithm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm_oid: Option<String>,
    /// Curve OID for EC and ED keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curve_oid: Option<String>,
    /// RSA modulus bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_size: Option<u32>,
    /// Key attributes.
    #[serde(default)]
    pub attributes: KeyFlags,
    /// SKA policy, or absent/null for a plain key.
    #[serde(default)]
    pub policy: Option<Policy>,
}

/// `json` part of SignedKeyAttributes (`KeyAttributesDto`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct KeyAttributes {
    pub label: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub algorithm: Option<String>,
    #[serde(default)]
    pub algorithm_oid: Option<String>,
    #[serde(default)]
    pub curve_oid: Option<String>,
    #[serde(default)]
    pub key_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_usage_count: Option<u64>,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attest_time: Option<String>,
    /// Base64 DER SubjectPublicKeyInfo.
    #[serde(default)]
    pub public_key: Option<String>,
    #[serde(default)]
    pub attributes: KeyFlags,
    #[serde(default)]
    pub policy: Option<Policy>,
}

/// Response of `POST /v1/key` and `POST /v1/key/attributes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedKeyAttributes {
    /// XML form signed by the HSM (an emulator may emit a reduced form).
    #[serde(default)]
    pub xml: Option<String>,
    /// The attributes.
    pub json: KeyAttributes,
    /// Signature over `xml`.
    #[serde(default)]
    pub xml_signature: Option<String>,
    /// Name of the attestation key.
    #[serde(default)]
    pub attestation_key_name: Option<String>,
}

/// `{label, password}` body of `POST /v1/key/attributes` and `POST /v1/key/deleteKey`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyLabelRequest {
    /// Key name.
    pub label: String,
    /// Key password, if the key has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Password>,
}

/// `POST /v1/key/import/plain` body (`KeyImportDto`, S3
/// `dto/tsb/request/KeyImportDto.java`; S1 `key.go` `ImportKey`): a key's material in plain. A
/// secret key is `secretKey` (base64 of the raw bytes), an asymmetric key `privateKey` (base64
/// PKCS#8 DER) with `publicKey` (base64 DER SubjectPublicKeyInfo); the DTO refuses `privateKey`
/// or `publicKey` next to `secretKey`, and `certificate` next to `publicKey`
/// (`@EmptyIfAnotherFieldHasValue`). The DTO has no `id`. The key fields are secrets: `Debug`
/// hides them.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyImportRequest {
    /// Unique key name (`@NotEmpty`).
    pub label: String,
    /// The key algorithm (`@NotEmpty`): `AES`, `RSA`, `EC`, ...
    pub algorithm: String,
    /// Base64 PKCS#8 DER of a private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// Base64 DER SubjectPublicKeyInfo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Base64 of a secret key's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    /// Base64 DER certificate for the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// Key attributes (`@NotNull`, `AttributesDto`).
    #[serde(default)]
    pub attributes: KeyFlags,
    /// SKA policy (S1 sends `null` for an extractable key).
    #[serde(default)]
    pub policy: Option<Policy>,
}

impl std::fmt::Debug for KeyImportRequest {
    // Never print key material, not even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyImportRequest")
            .field("label", &self.label)
            .field("algorithm", &self.algorithm)
            .field("private_key", &self.private_key.as_ref().map(|_| "***"))
            .field("public_key", &self.public_key)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "***"))
            .field("attributes", &self.attributes)
            .field("policy", &self.policy)
            .finish()
    }
}

/// Answer of `POST /v1/key/export/plain` (`KeyExportDto`, S3 `dto/tsb/response/KeyExportDto.java`;
/// S1 `key.go` `ExportKey`; the body is a [`KeyLabelRequest`]): base64 of the key's material,
/// `secretKey` for a symmetric key, `privateKey` and `publicKey` for an asymmetric one, the
/// others null. Only keys that are extractable and not sensitive are exported ("To export a key
/// sensitive must be false", S3 `AttributesDto.java`). `Debug` hides the secrets.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyExportResponse {
    /// Base64 PKCS#8 DER of the private key.
    #[serde(default)]
    pub private_key: Option<String>,
    /// Base64 DER SubjectPublicKeyInfo.
    #[serde(default)]
    pub public_key: Option<String>,
    /// Base64 of the secret key's bytes.
    #[serde(default)]
    pub secret_key: Option<String>,
}

impl std::fmt::Debug for KeyExportResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyExportResponse")
            .field("private_key", &self.private_key.as_ref().map(|_| "***"))
            .field("public_key", &self.public_key)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "***"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_algorithms() {
        assert_eq!(KeyAlgorithm::from_name_or_oid("ec"), Some(KeyAlgorithm::Ec));
        assert_eq!(
            KeyAlgorithm::from_name_or_oid("1.3.101.112"),
            Some(KeyAlgorithm::Ed)
        );
        assert_eq!(KeyAlgorithm::from_name_or_oid("DSA"), None);
        for a in KeyAlgorithm::ALL {
            assert_eq!(KeyAlgorithm::from_oid(a.oid()), Some(a));
        }
    }

    #[test]
    fn password_accepts_both_forms_and_writes_array() {
        let a: Password = serde_json::from_str(r#"["a","b","c"]"#).unwrap();
        let b: Password = serde_json::from_str(r#""abc""#).unwrap();
        assert_eq!(a, b);
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"["a","b","c"]"#);
        assert_eq!(format!("{a:?}"), "Password(***)");
    }

    #[test]
    fn import_and_export_bodies_hide_key_material() {
        let r = KeyImportRequest {
            label: "k".into(),
            algorithm: "AES".into(),
            secret_key: Some("c2VjcmV0".into()),
            ..Default::default()
        };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["secretKey"], "c2VjcmV0");
        assert!(json.get("privateKey").is_none());
        assert!(!format!("{r:?}").contains("c2VjcmV0"));
        let e: KeyExportResponse =
            serde_json::from_str(r#"{"privateKey":null,"publicKey":null,"secretKey":"c2VjcmV0"}"#)
                .unwrap();
        assert_eq!(e.secret_key.as_deref(), Some("c2VjcmV0"));
        assert!(!format!("{e:?}").contains("c2VjcmV0"));
    }
}
