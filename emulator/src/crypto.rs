//! Key material and every cryptographic operation of the emulator (OpenSSL).
//!
//! INTERFACE CONTRACT (owned by the crypto work; the server code calls only these items).

use openssl::pkey::{PKey, Private};

/// Why a crypto operation failed, mapped by the server to a TSB error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// Unknown or unsupported key spec (curve, size): TSB 603 / 600.
    UnsupportedKey(String),
    /// The algorithm name is unknown or does not fit the key type: TSB 607.
    AlgorithmNotSupportedByKey(String),
    /// Payload malformed / wrong length for the algorithm: TSB 612.
    InvalidPayload(String),
    /// Decryption failed (bad padding etc.): TSB 410.
    DecryptFailed(String),
    /// CSR could not be parsed or its signature does not verify: TSB 628.
    InvalidCsr(String),
    /// Approver public key / certificate could not be parsed or has an unsupported type: TSB 601/407.
    InvalidApproverKey(String),
    /// Anything else (OpenSSL failure): TSB 701.
    Internal(String),
}

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// What kind of key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// RSA with this modulus size (2048, 3072, 4096).
    Rsa(u32),
    /// EC on a named curve.
    Ec(Curve),
    /// Ed25519.
    Ed25519,
}

/// Supported EC curves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// 1.2.840.10045.3.1.7
    P256,
    /// 1.3.132.0.34
    P384,
    /// 1.3.132.0.35
    P521,
    /// 1.3.132.0.10
    Secp256k1,
}

impl Curve {
    /// From the dotted OID the TSB uses in `curveOid`.
    pub fn from_oid(oid: &str) -> Option<Curve> {
        todo!()
    }
    /// The dotted OID.
    pub fn oid(self) -> &'static str {
        todo!()
    }
}

/// A private key held by the emulator.
#[derive(Clone)]
pub struct KeyMaterial {
    /// The OpenSSL key.
    pub pkey: PKey<Private>,
    /// What it is.
    pub spec: KeySpec,
}

impl KeyMaterial {
    /// Generate a fresh key.
    pub fn generate(spec: KeySpec) -> Result<KeyMaterial, CryptoError> {
        todo!()
    }
    /// PKCS#8 DER of the private key (for `--state` persistence).
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, CryptoError> {
        todo!()
    }
    /// Inverse of `to_pkcs8_der`.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<KeyMaterial, CryptoError> {
        todo!()
    }
    /// DER SubjectPublicKeyInfo of the public key.
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        todo!()
    }
    /// `"RSA"`, `"EC"` or `"ED"`.
    pub fn algorithm_name(&self) -> &'static str {
        todo!()
    }
    /// RSA `1.2.840.113549.1.1.1`, EC `1.2.840.10045.2.1`, ED `1.3.101.112`.
    pub fn algorithm_oid(&self) -> &'static str {
        todo!()
    }
    /// Curve OID for EC (and `1.3.101.112` for Ed25519), None for RSA.
    pub fn curve_oid(&self) -> Option<&'static str> {
        todo!()
    }
    /// Modulus bits for RSA, None otherwise.
    pub fn key_size(&self) -> Option<u32> {
        todo!()
    }
    /// Sign `payload` with a TSB `signatureAlgorithm` (see `tsb-api.md` §3.3): every RSA
    /// PKCS#1 v1.5 / PSS / NONE / NONESHAxxx variant, ECDSA (`NONE_WITH_ECDSA` takes a digest,
    /// `SHAxxx_WITH_ECDSA` hashes; output DER SEQUENCE{r,s}), `EDDSA` (raw 64 bytes).
    pub fn sign(&self, algorithm: &str, payload: &[u8]) -> Result<Vec<u8>, CryptoError> {
        todo!()
    }
    /// Verify a signature made with `sign` and the same algorithm name.
    pub fn verify(
        &self,
        algorithm: &str,
        payload: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        todo!()
    }
    /// Decrypt with a TSB `cipherAlgorithm`: `RSA` and `RSA_PADDING_PKCS` (PKCS#1 v1.5),
    /// `RSA_PADDING_OAEP` / `RSA_PADDING_OAEP_WITH_SHA1` (OAEP SHA-1/MGF1-SHA-1),
    /// `RSA_PADDING_OAEP_WITH_SHA224/256/384/512` (OAEP and MGF1 with that hash), `RSA_NO_PADDING`.
    pub fn decrypt(
        &self,
        cipher_algorithm: &str,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        todo!()
    }
}

/// Verify an approver's signature (timestamp proof or approval) over `data`.
/// `approver` is base64-decoded DER: a SubjectPublicKeyInfo, or an X.509 certificate when
/// `is_certificate`. `digest_algorithm`: `SHA-224/256/384/512`, `SHA3-224/256/384/512`
/// (RSA PKCS#1 v1.5 or ECDSA DER with that digest, chosen by key type) or `EdDSA` (Ed25519, raw).
pub fn verify_approver_signature(
    approver: &[u8],
    is_certificate: bool,
    digest_algorithm: &str,
    data: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    todo!()
}

/// Base64 DER SPKI of an approver certificate's public key (how `approvedBy` names it).
pub fn certificate_spki_der(cert_der: &[u8]) -> Result<Vec<u8>, CryptoError> {
    todo!()
}
