//! A TSB key as the module reads it: its public key (parsed from the SubjectPublicKeyInfo the TSB
//! returns), its flags, its SKA policy and what that policy means for using the key, and the
//! certificate stored with it. No PKCS#11 types: `token` maps these onto objects and attributes.

use crate::der;
use crate::error::{Error, Result};
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use std::time::Duration;
use tsb_models::{
    KeyAlgorithm, KeyAttributes, KeyType, Policy, PqcFamily, PqcParameterSet, SecretKeyAlgorithm,
};

pub(crate) use tsb_models::{Curve, ED25519_OID};

/// A key's family: what a mechanism must fit. The classical ones are the TSB's key algorithms;
/// the post-quantum ones one each (a parameter set does not change the mechanism).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    /// RSA.
    Rsa,
    /// EC (ECDSA).
    Ec,
    /// Ed25519.
    Ed,
    /// ML-DSA or SLH-DSA.
    Pqc(PqcFamily),
}

/// Public key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// RSA modulus and exponent (big-endian, no leading zeros).
    Rsa {
        modulus: Vec<u8>,
        exponent: Vec<u8>,
        bits: u32,
    },
    /// EC point (uncompressed SEC1).
    Ec {
        curve: Curve,
        /// 04 || X || Y.
        point: Vec<u8>,
    },
    /// Ed25519 public key.
    Ed25519 {
        /// 32 bytes.
        point: Vec<u8>,
    },
    /// ML-DSA or SLH-DSA public key.
    Pqc {
        set: PqcParameterSet,
        /// The raw FIPS 204 / FIPS 205 public key (the SPKI's BIT STRING).
        key: Vec<u8>,
    },
    /// A secret key (AES, HMAC): it has no public half; what the module knows of it (see
    /// `token::secret_keys`). Its one object is CKO_SECRET_KEY.
    Secret(SecretKey),
}

/// A secret key on the TSB as the module reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SecretKey {
    /// AES or HMACSHA256.
    pub(crate) algorithm: SecretKeyAlgorithm,
    /// Its length in bits (`keySize`).
    pub(crate) bits: u32,
    /// The TSB's `encrypt`, `verify` and `wrap` attributes (the others are [`KeyInfo`]'s). An
    /// absent flag is true: S2's tutorials create AES keys without `encrypt` and encrypt with
    /// them, and HMAC keys without `verify` and verify with them (emulator/README.md, "Creating
    /// keys").
    pub(crate) encrypt: bool,
    pub(crate) verify: bool,
    pub(crate) wrap: bool,
}

impl PublicKey {
    /// Parse a DER SubjectPublicKeyInfo.
    pub(crate) fn from_spki(spki: &[u8]) -> Result<PublicKey> {
        let bad = |m: &str| Error::Transport(format!("TSB returned an unusable public key: {m}"));
        let (seq, _) = der::read_tlv(spki).ok_or_else(|| bad("not DER"))?;
        let (alg, rest) = der::read_tlv(seq.value).ok_or_else(|| bad("no algorithm"))?;
        let (bits, _) = der::read_tlv(rest).ok_or_else(|| bad("no key bits"))?;
        let (alg_oid, params) = der::read_tlv(alg.value).ok_or_else(|| bad("no algorithm OID"))?;
        let alg_oid = der::oid_to_string(alg_oid.value).ok_or_else(|| bad("bad OID"))?;
        let key_bits = bits.value.get(1..).ok_or_else(|| bad("empty BIT STRING"))?;
        match KeyAlgorithm::from_oid(&alg_oid) {
            Some(KeyAlgorithm::Rsa) => {
                let k = rsa::RsaPublicKey::from_public_key_der(spki)
                    .map_err(|e| bad(&e.to_string()))?;
                Ok(PublicKey::Rsa {
                    modulus: k.n().to_bytes_be(),
                    exponent: k.e().to_bytes_be(),
                    bits: k.n().bits() as u32,
                })
            }
            Some(KeyAlgorithm::Ec) => {
                let (curve_oid, _) =
                    der::read_tlv(params).ok_or_else(|| bad("EC key without curve"))?;
                let name =
                    der::oid_to_string(curve_oid.value).ok_or_else(|| bad("bad curve OID"))?;
                let curve = Curve::from_oid(&name)
                    .ok_or_else(|| bad(&format!("unsupported curve {name}")))?;
                if key_bits.len() != 1 + 2 * curve.field_len() || key_bits[0] != 4 {
                    return Err(bad("EC point is not uncompressed for its curve"));
                }
                Ok(PublicKey::Ec {
                    curve,
                    point: key_bits.to_vec(),
                })
            }
            Some(KeyAlgorithm::Ed) => {
                if key_bits.len() != 32 {
                    return Err(bad("Ed25519 key is not 32 bytes"));
                }
                Ok(PublicKey::Ed25519 {
                    point: key_bits.to_vec(),
                })
            }
            // ML-DSA / SLH-DSA: the parameter set's OID with no parameters, the raw key as the
            // BIT STRING (as S2 `pqc.md`'s printed keys decode; RFC 9881 §4, RFC 9909 §4).
            None => match PqcParameterSet::from_name_or_oid(&alg_oid) {
                Some(set) => {
                    if !params.is_empty() {
                        return Err(bad("post-quantum key with algorithm parameters"));
                    }
                    if bits.value.first() != Some(&0) || key_bits.len() != set.public_key_len() {
                        return Err(bad(&format!(
                            "{} public key is not {} bytes",
                            set.name(),
                            set.public_key_len()
                        )));
                    }
                    Ok(PublicKey::Pqc {
                        set,
                        key: key_bits.to_vec(),
                    })
                }
                None => Err(bad(&format!("unsupported algorithm {alg_oid}"))),
            },
        }
    }

    /// The key's family; None for a secret key (it has no asymmetric family: every caller
    /// compares with one, and a secret key fits none).
    pub(crate) fn family(&self) -> Option<KeyFamily> {
        Some(match self {
            PublicKey::Rsa { .. } => KeyFamily::Rsa,
            PublicKey::Ec { .. } => KeyFamily::Ec,
            PublicKey::Ed25519 { .. } => KeyFamily::Ed,
            PublicKey::Pqc { set, .. } => KeyFamily::Pqc(set.family()),
            PublicKey::Secret(_) => return None,
        })
    }

    /// The secret key, if this is one.
    pub(crate) fn secret(&self) -> Option<&SecretKey> {
        match self {
            PublicKey::Secret(k) => Some(k),
            _ => None,
        }
    }

    /// Size of a signature in PKCS#11 format (RSA: modulus bytes; ECDSA: r||s; Ed25519: 64).
    pub(crate) fn signature_len(&self) -> usize {
        match self {
            PublicKey::Rsa { bits, .. } => (*bits as usize).div_ceil(8),
            PublicKey::Ec { curve, .. } => 2 * curve.field_len(),
            PublicKey::Ed25519 { .. } => 64,
            PublicKey::Pqc { set, .. } => set.signature_len(),
            // HMAC-SHA-256: the hash's length; AES keys do not sign.
            PublicKey::Secret(k) => match k.algorithm {
                SecretKeyAlgorithm::HmacSha256 => 32,
                SecretKeyAlgorithm::Aes => 0,
            },
        }
    }

    /// RSA modulus length in bytes (0 for others).
    pub(crate) fn modulus_len(&self) -> usize {
        match self {
            PublicKey::Rsa { bits, .. } => (*bits as usize).div_ceil(8),
            _ => 0,
        }
    }
}

/// Everything the module knows about one TSB key.
#[derive(Debug, Clone)]
pub(crate) struct KeyInfo {
    /// The label on the TSB (with the slot's prefix).
    pub(crate) tsb_label: String,
    /// CKA_LABEL (prefix removed).
    pub(crate) label: String,
    /// CKA_ID: the TSB's `id` (see [`id_from_tsb`]).
    pub(crate) id: Vec<u8>,
    /// DER SubjectPublicKeyInfo, as the TSB returned it.
    pub(crate) spki: Vec<u8>,
    pub(crate) public: PublicKey,
    /// `public` as libcrypto holds it, parsed on its first verification (`token::verifier`).
    pub(crate) verifier: crate::token::VerifyKey,
    // The TSB's key attributes.
    pub(crate) sign: bool,
    pub(crate) decrypt: bool,
    pub(crate) unwrap: bool,
    pub(crate) derive: bool,
    pub(crate) extractable: bool,
    /// `sensitive` (absent: true, the safe reading). Only a secret key that is extractable and
    /// not sensitive is read back (`/v1/key/export/plain`, token::secret_keys).
    pub(crate) sensitive: bool,
    /// `alwaysSensitive` (absent: as `sensitive`).
    pub(crate) always_sensitive: bool,
    /// `neverExtractable` (absent: as `!extractable`).
    pub(crate) never_extractable: bool,
    /// CKA_LOCAL: generated in the HSM. The TSB's attributes do not say where a key came from
    /// (no source shows such a field): true, except for keys this process imported (remembered
    /// by the key cache, [`super::cache::KeyCache`]).
    pub(crate) local: bool,
    pub(crate) destroyable: bool,
    /// The SKA policy.
    pub(crate) policy: Option<Policy>,
    /// `policy.keyStatus.blocked`: the key refuses every use.
    pub(crate) blocked: bool,
    /// Using the key waits for approvals.
    pub(crate) approval_required: bool,
    /// Longest token timeout of ruleUse (None: some token never expires, or no policy).
    pub(crate) policy_timeout: Option<Duration>,
    /// Fewest approvals that satisfy ruleUse.
    pub(crate) approvals_needed: Option<u32>,
    /// `createTime` (tsb-api.md §2.2: S3 `KeyAttributesDto`, e.g. `2024-11-21T12:05:20Z`), kept
    /// only when it is short printable ASCII (it names the key in CKA_UNIQUE_ID). None: not given.
    pub(crate) created: Option<String>,
}

/// CKA_ID <-> TSB `id`: the TSB stores a string, so bytes are written as lowercase hex and read
/// back from hex when the string is hex, else taken as the string's bytes.
pub(crate) fn id_to_tsb(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// See [`id_to_tsb`].
pub(crate) fn id_from_tsb(s: &str) -> Vec<u8> {
    if !s.is_empty() && s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..s.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
            .collect()
    } else {
        s.as_bytes().to_vec()
    }
}

impl KeyInfo {
    /// Build from the TSB's attributes. Keys the module cannot represent are an
    /// error, which callers treat as "not shown".
    pub(crate) fn from_tsb(a: &KeyAttributes, prefix: &str) -> Result<KeyInfo> {
        // A secret key has no public key; an absent use flag of it is allowed (see
        // [`SecretKey`]). Its CKA_ID, when the TSB has none, comes from the label.
        let (spki, public, id_source, default_use) = match secret_key(a)? {
            Some(s) => (
                Vec::new(),
                PublicKey::Secret(s),
                a.label.as_bytes().to_vec(),
                true,
            ),
            None => {
                let pk = a.public_key.as_deref().ok_or_else(|| {
                    Error::Transport(format!("key {} has no public key", a.label))
                })?;
                let spki = super::api::unb64(pk, "publicKey")?;
                let public = PublicKey::from_spki(&spki)?;
                (spki.clone(), public, spki, false)
            }
        };
        let id = match a.id.as_deref() {
            Some(s) if !s.is_empty() => id_from_tsb(s),
            // No id on the TSB: a stable one from the public key, as many tools derive it.
            _ => {
                use sha1::Digest;
                sha1::Sha1::digest(&id_source).to_vec()
            }
        };
        let f = &a.attributes;
        // Secret keys carry no policy ("Only Asymmetric keys can have a policy", S3
        // `dto/tsb/PolicyDto.java`); one that came anyway is obeyed like any other.
        let policy = a.policy.clone();
        let (approval_required, policy_timeout, approvals_needed) =
            policy_use_summary(policy.as_ref());
        let created = a
            .create_time
            .clone()
            .filter(|t| !t.is_empty() && t.len() <= 40 && t.bytes().all(|b| b.is_ascii_graphic()));
        Ok(KeyInfo {
            created,
            tsb_label: a.label.clone(),
            label: a.label.strip_prefix(prefix).unwrap_or(&a.label).to_string(),
            id,
            spki,
            public,
            verifier: Default::default(),
            sign: f.sign.unwrap_or(default_use),
            decrypt: f.decrypt.unwrap_or(default_use),
            unwrap: f.unwrap.unwrap_or(default_use),
            derive: f.derive.unwrap_or(false),
            extractable: f.extractable.unwrap_or(false),
            sensitive: f.sensitive.unwrap_or(true),
            always_sensitive: f.always_sensitive.unwrap_or(f.sensitive.unwrap_or(true)),
            never_extractable: f
                .never_extractable
                .unwrap_or(!f.extractable.unwrap_or(false)),
            local: true,
            destroyable: f.destroyable.unwrap_or(true),
            blocked: policy
                .as_ref()
                .and_then(|p| p.key_status.as_ref())
                .map(|s| s.blocked)
                .unwrap_or(false),
            policy,
            approval_required,
            policy_timeout,
            approvals_needed,
        })
    }
}

/// The secret key an AES or HMAC key's attributes describe; None for other keys.
fn secret_key(a: &KeyAttributes) -> Result<Option<SecretKey>> {
    let kind = a
        .algorithm
        .as_deref()
        .or(a.algorithm_oid.as_deref())
        .and_then(KeyType::from_name_or_oid);
    let Some(KeyType::Secret(algorithm)) = kind else {
        return Ok(None);
    };
    // `keySize` of secret keys is unconfirmed (emulator/README.md): an HMAC key without one is
    // the only size this project knows; an AES key must say its size, which must be AES's.
    let bits = match (a.key_size, algorithm) {
        (Some(b), _) if algorithm.sizes().contains(&b) => b,
        (None, SecretKeyAlgorithm::HmacSha256) => algorithm.sizes()[0],
        (b, _) => {
            return Err(Error::Transport(format!(
                "key {} ({}) has an unusable keySize {b:?}",
                a.label,
                algorithm.name()
            )))
        }
    };
    let f = &a.attributes;
    Ok(Some(SecretKey {
        algorithm,
        bits,
        encrypt: f.encrypt.unwrap_or(true),
        verify: f.verify.unwrap_or(true),
        wrap: f.wrap.unwrap_or(true),
    }))
}

impl KeyInfo {
    /// Whether this is a secret (AES, HMAC) key.
    pub(crate) fn is_secret(&self) -> bool {
        self.public.secret().is_some()
    }
}

/// Whether ruleUse needs approvals (some token has a group), the longest token timeout, and the
/// smallest number of approvals that satisfies a token. Mirrors the decision rule of Securosys'
/// own clients: any non-empty group means the asynchronous endpoints.
pub(crate) fn policy_use_summary(policy: Option<&Policy>) -> (bool, Option<Duration>, Option<u32>) {
    let Some(rule) = policy.and_then(|p| p.rule_use.as_ref()) else {
        return (false, None, None);
    };
    if !rule.needs_approvals() {
        return (false, None, None);
    }
    let timeout = if rule.tokens.iter().any(|t| t.timeout == 0) {
        None
    } else {
        rule.tokens
            .iter()
            .map(|t| t.timeout)
            .max()
            .map(Duration::from_secs)
    };
    let needed = rule
        .tokens
        .iter()
        .map(|t| {
            t.groups
                .as_ref()
                // Quorums come from the server: saturate instead of overflowing.
                .map(|gs| gs.iter().fold(0u32, |n, g| n.saturating_add(g.quorum)))
                .unwrap_or(0)
        })
        .min();
    (true, timeout, needed)
}

/// A certificate object's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertInfo {
    pub(crate) der: Vec<u8>,
    pub(crate) fields: der::CertFields,
}

impl CertInfo {
    /// Parse a DER certificate.
    pub(crate) fn from_der(d: Vec<u8>) -> Option<CertInfo> {
        let fields = der::parse_certificate(&d)?;
        Some(CertInfo { der: d, fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_mapping() {
        assert_eq!(id_to_tsb(&[0xab, 0x01]), "ab01");
        assert_eq!(id_from_tsb("ab01"), vec![0xab, 0x01]);
        assert_eq!(id_from_tsb("key-1"), b"key-1".to_vec());
    }

    #[test]
    fn curve_names() {
        assert_eq!(Curve::from_name("prime256v1"), Some(Curve::P256));
        assert_eq!(Curve::from_name("secp384r1"), Some(Curve::P384));
        assert_eq!(Curve::from_name("P-521"), Some(Curve::P521));
        assert_eq!(Curve::from_name("secp256k1"), Some(Curve::Secp256k1));
        assert_eq!(Curve::from_name("brainpool"), None);
    }

    #[test]
    fn policy_summary() {
        let p: Policy = serde_json::from_str(
            r#"{"ruleUse":{"tokens":[{"name":"a","timelock":0,"timeout":600,"groups":[{"name":"g","quorum":2,"approvals":[]},{"name":"h","quorum":1,"approvals":[]}]},{"name":"b","timelock":0,"timeout":1200,"groups":[{"name":"g","quorum":1,"approvals":[]}]}]},"keyStatus":{"blocked":false}}"#,
        )
        .unwrap();
        assert_eq!(
            policy_use_summary(Some(&p)),
            (true, Some(Duration::from_secs(1200)), Some(1))
        );
        let empty: Policy =
            serde_json::from_str(r#"{"ruleUse":null,"keyStatus":{"blocked":false}}"#).unwrap();
        assert_eq!(policy_use_summary(Some(&empty)), (false, None, None));
        assert_eq!(policy_use_summary(None), (false, None, None));
    }
}
