//! A stored key's material, whichever kind: asymmetric (OpenSSL), secret (AES, HMAC) or
//! post-quantum, with the facts `KeyAttributes` reports about it.

use crate::crypto::{CryptoError, KeyMaterial};
use crate::pqc::PqcKey;
use crate::secret::SecretKey;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use tsb_models::{KeyType, PqcParameterSet, SecretKeyAlgorithm};

/// The material of one key.
#[derive(Clone, Debug)]
pub(crate) enum Material {
    /// RSA, EC, Ed25519.
    Asym(KeyMaterial),
    /// AES, HMAC.
    Secret(SecretKey),
    /// ML-DSA, SLH-DSA.
    Pqc(PqcKey),
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyMaterial({:?})", self.spec)
    }
}

impl Material {
    /// What kind of key it is.
    pub(crate) fn key_type(&self) -> KeyType {
        match self {
            Material::Asym(k) => KeyType::Asymmetric(k.algorithm()),
            Material::Secret(k) => KeyType::Secret(k.algorithm),
            Material::Pqc(k) => KeyType::Pqc(k.set),
        }
    }

    /// The asymmetric key, or 607 for an operation only those keys do.
    pub(crate) fn asym(&self) -> Result<&KeyMaterial, CryptoError> {
        match self {
            Material::Asym(k) => Ok(k),
            other => Err(CryptoError::AlgorithmNotSupportedByKey(format!(
                "not supported by a {} key",
                other.key_type().name()
            ))),
        }
    }

    /// `curveOid`: EC and Ed25519 keys only.
    pub(crate) fn curve_oid(&self) -> Option<&'static str> {
        match self {
            Material::Asym(k) => k.curve_oid(),
            _ => None,
        }
    }

    /// `keySize`: RSA modulus bits, the secret key's bits; null otherwise (S3
    /// `KeyAttributesDto.java`: "Only set if the algorithm is RSA, DSA or ISS"; the Vault
    /// plugin's docs, `hc_sse/Tutorials/key_arguments`, list AES among the algorithms with a
    /// `keySize`; reported for secret keys here, unconfirmed).
    pub(crate) fn key_size(&self) -> Option<u32> {
        match self {
            Material::Asym(k) => k.key_size(),
            Material::Secret(k) => Some(k.bits()),
            Material::Pqc(_) => None,
        }
    }

    /// DER SubjectPublicKeyInfo; none for secret keys (`publicKey` is null, S3
    /// `KeyAttributesDto.java`).
    pub(crate) fn public_key_spki_der(&self) -> Option<Vec<u8>> {
        match self {
            Material::Asym(k) => Some(k.public_key_spki_der()),
            Material::Secret(_) => None,
            Material::Pqc(k) => Some(k.public_key_spki_der()),
        }
    }

    /// The private material for the state file: `(algorithm, base64)`, the algorithm `None`
    /// for PKCS#8 (asymmetric keys, the original format), else the key type's name.
    pub(crate) fn persisted(&self) -> Result<(Option<String>, String), CryptoError> {
        Ok(match self {
            Material::Asym(k) => (None, B64.encode(k.to_pkcs8_der()?)),
            Material::Secret(k) => (Some(k.algorithm.name().into()), B64.encode(&k.bytes)),
            Material::Pqc(k) => (Some(k.set.name().into()), B64.encode(k.private_bytes())),
        })
    }

    /// Inverse of [`Material::persisted`].
    pub(crate) fn from_persisted(algorithm: Option<&str>, b64: &str) -> Result<Material, String> {
        let bytes = B64.decode(b64.as_bytes()).map_err(|e| e.to_string())?;
        let err = |e: CryptoError| e.to_string();
        match algorithm.map(KeyType::from_name_or_oid) {
            None => KeyMaterial::from_pkcs8_der(&bytes)
                .map(Material::Asym)
                .map_err(err),
            Some(Some(KeyType::Secret(a))) => SecretKey::from_bytes(a, bytes)
                .map(Material::Secret)
                .map_err(err),
            Some(Some(KeyType::Pqc(set))) => PqcKey::from_private(set, bytes)
                .map(Material::Pqc)
                .map_err(err),
            Some(_) => Err(format!("unknown key algorithm {algorithm:?}")),
        }
    }
}

/// What to generate for `POST /v1/key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Generate {
    Asym(crate::crypto::KeySpec),
    Secret(SecretKeyAlgorithm, u32),
    Pqc(PqcParameterSet),
}

impl Generate {
    pub(crate) fn run(self) -> Result<Material, CryptoError> {
        Ok(match self {
            Generate::Asym(spec) => Material::Asym(KeyMaterial::generate(spec)?),
            Generate::Secret(a, bits) => Material::Secret(SecretKey::generate(a, bits)?),
            Generate::Pqc(set) => Material::Pqc(PqcKey::generate(set)?),
        })
    }
}
