//! Every kind of key the project knows, by the `algorithm` name of `POST /v1/key`: the asymmetric
//! ones of [`KeyAlgorithm`], the secret keys (AES, HMAC) and the post-quantum signature keys
//! (ML-DSA, SLH-DSA) with their parameter sets and OIDs.
//!
//! Sources:
//! - `AES` with `keySize` 128/192/256: S2 `tsb/Tutorials/Encryption/EncryptDecrypt.md` (256),
//!   `tsb/Tutorials/Wrapping/wrap-unwrap.md`; S1 `helpers/consts.go` `SYMMETRIC_KEY_TYPES`,
//!   `key_test.go` (256); S3 `dto/tsb/request/CreateKeyDto.java` (`allowableValues`). The
//!   sizes 128 and 192 are AES's own; no source creates one.
//! - `HMACSHA256`: S2 `tsb/Tutorials/Mac/hmac.md` (created without `keySize`) and
//!   `tsb/Download/release_notes.md` 2.0.1 ("Added support for `HMACSHA256`"). No other HMAC key
//!   algorithm appears in any source.
//! - ML-DSA / SLH-DSA names: S2 `tsb/Tutorials/Post-Quantum-Cryptography/pqc.md` ("Supported
//!   Algorithms"), S1 `key_test.go` @8b8418a6 (`TestPostQuantumKeyTypesAreSupported`, the key's
//!   `algorithm` in its attributes is the same name), S4 `backend/path_hsm_key_pqc.go`; TSB 2.2.0
//!   (S2 `pqc-release-overview.md`: "Rest-API Version v2.2+", release notes 2.2.0). Created
//!   without `keySize`.
//! - PQC OIDs: NIST's CSOR arc `2.16.840.1.101.3.4.3.17..31` (FIPS 204 / FIPS 205, RFC 9881 /
//!   RFC 9909). The public keys S2 `pqc.md` prints decode to SubjectPublicKeyInfos with exactly
//!   these OIDs and no parameters (`.17` for ML-DSA-44, `.21` for SLH-DSA-SHA2-128f).
//! - `algorithmOid` of secret keys: no source shows one. S1 `key.go` `GetKey` reads
//!   `algorithmOid` as a string without a null check and S1 `wrap_test.go` calls it on AES keys,
//!   so a TSB returns a string; which one is unknown: [`SecretKeyAlgorithm::oid`] is this
//!   project's choice.

use crate::keys::KeyAlgorithm;
use crate::service::TsbVersion;

/// A secret (symmetric) key algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKeyAlgorithm {
    /// `AES`, `keySize` 128, 192 or 256.
    Aes,
    /// `HMACSHA256` (TSB 2.0.1), a generic secret for HMAC-SHA-256.
    HmacSha256,
}

impl SecretKeyAlgorithm {
    /// Every one.
    pub const ALL: [SecretKeyAlgorithm; 2] =
        [SecretKeyAlgorithm::Aes, SecretKeyAlgorithm::HmacSha256];

    /// The `algorithm` name.
    pub fn name(self) -> &'static str {
        match self {
            SecretKeyAlgorithm::Aes => "AES",
            SecretKeyAlgorithm::HmacSha256 => "HMACSHA256",
        }
    }

    /// The `algorithmOid` the emulator reports (unconfirmed, see the module docs): the NIST AES
    /// arc `2.16.840.1.101.3.4.1` and `hmacWithSHA256` `1.2.840.113549.2.9` (RFC 8018).
    pub fn oid(self) -> &'static str {
        match self {
            SecretKeyAlgorithm::Aes => "2.16.840.1.101.3.4.1",
            SecretKeyAlgorithm::HmacSha256 => "1.2.840.113549.2.9",
        }
    }

    /// The key sizes in bits `keySize` may take; the first is used when it is absent (only for
    /// HMAC: an AES key needs one). The HMAC key's size is not documented (S2 `hmac.md` sends no
    /// `keySize`): 256 bits, the hash's output length, is this project's choice.
    pub fn sizes(self) -> &'static [u32] {
        match self {
            SecretKeyAlgorithm::Aes => &[128, 192, 256],
            SecretKeyAlgorithm::HmacSha256 => &[256],
        }
    }

    /// The first TSB version that creates this kind of key.
    pub fn since(self) -> TsbVersion {
        match self {
            // Encryption with AES predates every version this project emulates (release notes
            // 1.15.1 already extend `/v1/encrypt` for AES-GCM).
            SecretKeyAlgorithm::Aes => TsbVersion::new(1, 0, 0),
            SecretKeyAlgorithm::HmacSha256 => TsbVersion::V2_0_1,
        }
    }
}

/// The post-quantum signature families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PqcFamily {
    /// ML-DSA (FIPS 204).
    MlDsa,
    /// SLH-DSA (FIPS 205).
    SlhDsa,
}

macro_rules! pqc_parameter_sets {
    ($($id:ident = $name:literal, $family:ident, $oid:literal, $pk:literal, $sig:literal;)*) => {
        /// A post-quantum signature parameter set: the key's `algorithm` name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum PqcParameterSet { $($id,)* }

        impl PqcParameterSet {
            /// Every parameter set, in the order the sources list them.
            pub const ALL: &'static [PqcParameterSet] = &[$(PqcParameterSet::$id,)*];

            /// The `algorithm` name (`ML-DSA-44`, `SLH-DSA-SHA2-128s`).
            pub fn name(self) -> &'static str {
                match self { $(PqcParameterSet::$id => $name,)* }
            }

            /// The family.
            pub fn family(self) -> PqcFamily {
                match self { $(PqcParameterSet::$id => PqcFamily::$family,)* }
            }

            /// The dotted OID of the SubjectPublicKeyInfo's AlgorithmIdentifier (no parameters).
            pub fn oid(self) -> &'static str {
                match self { $(PqcParameterSet::$id => $oid,)* }
            }

            /// Length of the raw public key in bytes (FIPS 204 Table 2, FIPS 205 Table 2).
            pub fn public_key_len(self) -> usize {
                match self { $(PqcParameterSet::$id => $pk,)* }
            }

            /// Length of a signature in bytes (same tables; S2 `pqc.md` lists the ML-DSA ones and
            /// the SLH-DSA `f` ones identically).
            pub fn signature_len(self) -> usize {
                match self { $(PqcParameterSet::$id => $sig,)* }
            }
        }
    };
}

pqc_parameter_sets! {
    MlDsa44 = "ML-DSA-44", MlDsa, "2.16.840.1.101.3.4.3.17", 1312, 2420;
    MlDsa65 = "ML-DSA-65", MlDsa, "2.16.840.1.101.3.4.3.18", 1952, 3309;
    MlDsa87 = "ML-DSA-87", MlDsa, "2.16.840.1.101.3.4.3.19", 2592, 4627;
    SlhDsaSha2_128s = "SLH-DSA-SHA2-128s", SlhDsa, "2.16.840.1.101.3.4.3.20", 32, 7856;
    SlhDsaSha2_128f = "SLH-DSA-SHA2-128f", SlhDsa, "2.16.840.1.101.3.4.3.21", 32, 17088;
    SlhDsaSha2_192s = "SLH-DSA-SHA2-192s", SlhDsa, "2.16.840.1.101.3.4.3.22", 48, 16224;
    SlhDsaSha2_192f = "SLH-DSA-SHA2-192f", SlhDsa, "2.16.840.1.101.3.4.3.23", 48, 35664;
    SlhDsaSha2_256s = "SLH-DSA-SHA2-256s", SlhDsa, "2.16.840.1.101.3.4.3.24", 64, 29792;
    SlhDsaSha2_256f = "SLH-DSA-SHA2-256f", SlhDsa, "2.16.840.1.101.3.4.3.25", 64, 49856;
    SlhDsaShake128s = "SLH-DSA-SHAKE-128s", SlhDsa, "2.16.840.1.101.3.4.3.26", 32, 7856;
    SlhDsaShake128f = "SLH-DSA-SHAKE-128f", SlhDsa, "2.16.840.1.101.3.4.3.27", 32, 17088;
    SlhDsaShake192s = "SLH-DSA-SHAKE-192s", SlhDsa, "2.16.840.1.101.3.4.3.28", 48, 16224;
    SlhDsaShake192f = "SLH-DSA-SHAKE-192f", SlhDsa, "2.16.840.1.101.3.4.3.29", 48, 35664;
    SlhDsaShake256s = "SLH-DSA-SHAKE-256s", SlhDsa, "2.16.840.1.101.3.4.3.30", 64, 29792;
    SlhDsaShake256f = "SLH-DSA-SHAKE-256f", SlhDsa, "2.16.840.1.101.3.4.3.31", 64, 49856;
}

impl PqcParameterSet {
    /// From the `algorithm` name (exact spelling, as the sources write it) or the OID.
    pub fn from_name_or_oid(s: &str) -> Option<PqcParameterSet> {
        PqcParameterSet::ALL
            .iter()
            .copied()
            .find(|p| p.name() == s || p.oid() == s)
    }

    /// The final FIPS 204/205 algorithms came with TSB 2.2.0 (S2 release notes 2.2.0,
    /// `pqc-release-overview.md`); the draft names of 2.1.0 (`DILITHIUM_L2`, ...) are not
    /// emulated.
    pub fn since(self) -> TsbVersion {
        TsbVersion::V2_2_0
    }
}

/// A key algorithm of `POST /v1/key` that this project knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA, EC, ED.
    Asymmetric(KeyAlgorithm),
    /// AES, HMACSHA256.
    Secret(SecretKeyAlgorithm),
    /// ML-DSA, SLH-DSA.
    Pqc(PqcParameterSet),
}

impl KeyType {
    /// From an `algorithm` name or an `algorithmOid`. Asymmetric and secret names are matched
    /// case-insensitively (the TSB's own spellings are `RSA`, `AES`, `HMACSHA256`), PQC names
    /// exactly.
    pub fn from_name_or_oid(s: &str) -> Option<KeyType> {
        if let Some(a) = KeyAlgorithm::from_name_or_oid(s) {
            return Some(KeyType::Asymmetric(a));
        }
        if let Some(a) = SecretKeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s) || a.oid() == s)
        {
            return Some(KeyType::Secret(a));
        }
        PqcParameterSet::from_name_or_oid(s).map(KeyType::Pqc)
    }

    /// The `algorithm` name a key of this type reports.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Asymmetric(a) => a.name(),
            KeyType::Secret(a) => a.name(),
            KeyType::Pqc(p) => p.name(),
        }
    }

    /// The `algorithmOid` a key of this type reports.
    pub fn oid(self) -> &'static str {
        match self {
            KeyType::Asymmetric(a) => a.oid(),
            KeyType::Secret(a) => a.oid(),
            KeyType::Pqc(p) => p.oid(),
        }
    }

    /// The first TSB version that creates this kind of key.
    pub fn since(self) -> TsbVersion {
        match self {
            KeyType::Asymmetric(_) => TsbVersion::new(1, 0, 0),
            KeyType::Secret(a) => a.since(),
            KeyType::Pqc(p) => p.since(),
        }
    }

    /// Whether a key of this type may carry an SKA policy: "Only Asymmetric keys can have a
    /// policy (EC, ED, RSA,...)" (S3 `dto/tsb/PolicyDto.java`); PQC keys are asymmetric and "do
    /// support Securosys Smart Key Attributes" (S2 `pqc.md`).
    pub fn may_have_policy(self) -> bool {
        !matches!(self, KeyType::Secret(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_oids_are_unique_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for p in PqcParameterSet::ALL {
            assert!(seen.insert(p.name()) && seen.insert(p.oid()), "{p:?}");
            assert_eq!(KeyType::from_name_or_oid(p.name()), Some(KeyType::Pqc(*p)));
            assert_eq!(KeyType::from_name_or_oid(p.oid()), Some(KeyType::Pqc(*p)));
            let expect = match p.family() {
                PqcFamily::MlDsa => "ML-DSA-",
                PqcFamily::SlhDsa => "SLH-DSA-",
            };
            assert!(p.name().starts_with(expect));
        }
        // The OIDs are consecutive in NIST's arc, in the sources' order.
        for (i, p) in PqcParameterSet::ALL.iter().enumerate() {
            assert_eq!(p.oid(), format!("2.16.840.1.101.3.4.3.{}", 17 + i));
        }
        for a in SecretKeyAlgorithm::ALL {
            assert_eq!(
                KeyType::from_name_or_oid(a.name()),
                Some(KeyType::Secret(a))
            );
            assert!(!KeyType::Secret(a).may_have_policy());
        }
        assert_eq!(
            KeyType::from_name_or_oid("aes"),
            Some(KeyType::Secret(SecretKeyAlgorithm::Aes))
        );
        assert_eq!(
            KeyType::from_name_or_oid("rsa"),
            Some(KeyType::Asymmetric(KeyAlgorithm::Rsa))
        );
        assert_eq!(KeyType::from_name_or_oid("ml-dsa-44"), None);
        assert_eq!(KeyType::from_name_or_oid("DILITHIUM_L2"), None);
        assert!(KeyType::Pqc(PqcParameterSet::MlDsa65).may_have_policy());
    }

    #[test]
    fn sizes_follow_fips_204_and_205() {
        use PqcParameterSet::*;
        assert_eq!(
            (MlDsa44.public_key_len(), MlDsa44.signature_len()),
            (1312, 2420)
        );
        assert_eq!(MlDsa87.signature_len(), 4627);
        assert_eq!(SlhDsaShake256f.signature_len(), 49856);
        assert_eq!(SlhDsaSha2_192s.public_key_len(), 48);
        assert_eq!(SecretKeyAlgorithm::Aes.sizes(), &[128, 192, 256]);
    }
}
