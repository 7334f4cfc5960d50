//! Post-quantum signature keys: ML-DSA (FIPS 204) and SLH-DSA (FIPS 205).
//!
//! Debian 12's OpenSSL 3.0 has neither, so the emulator uses the `fips204` and `fips205` crates
//! (integritychain; pure Rust, every parameter set, pure and pre-hash signing with a context,
//! checked against NIST's ACVP vectors by their authors). They are chosen over RustCrypto's
//! `ml-dsa`/`slh-dsa` for one practical reason: their code is concrete per parameter set, so it is
//! compiled with the dependencies' `opt-level = 3` of the workspace's dev profile, while
//! RustCrypto's is generic and is compiled unoptimised inside the emulator in debug builds (an
//! SLH-DSA-SHAKE-256s signature took minutes there). RustCrypto's crates, by other authors, check
//! every signature in the tests.
//!
//! Keys are stored as the crates' private-key encoding (FIPS 204 `skEncode`, FIPS 205
//! `SK.seed ‖ SK.prf ‖ PK.seed ‖ PK.root`); the public key is derived from it. Signing is hedged
//! (fresh randomness), as FIPS 204/205 recommend.

use crate::crypto::CryptoError;
use fips204::traits::{KeyGen as _, SerDes as _, Signer as MlSigner, Verifier as MlVerifier};
use fips205::traits::{KeyGen as _, SerDes as _, Signer as SlhSigner, Verifier as SlhVerifier};
use tsb_models::algorithms::Digest;
use tsb_models::algorithms::{PqcPreHash, PqcSignature};
use tsb_models::PqcParameterSet;

/// A post-quantum private key.
#[derive(Clone)]
pub struct PqcKey {
    /// The parameter set.
    pub set: PqcParameterSet,
    /// The private key in the crate's encoding.
    private: Vec<u8>,
    /// The raw public key.
    public: Vec<u8>,
}

impl std::fmt::Debug for PqcKey {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PqcKey({})", self.set.name())
    }
}

/// How to sign: the message, or a pre-hash with its DER OID, and a context.
struct Input<'a> {
    message: &'a [u8],
    pre_hash: Option<(Vec<u8>, &'static [u8])>,
    ctx: &'a [u8],
}

fn bad_key(e: &str) -> CryptoError {
    CryptoError::UnsupportedKey(format!("post-quantum key: {e}"))
}

macro_rules! ml_dsa {
    ($set:expr, $($variant:ident => $m:ident),*) => {
        match $set { $(PqcParameterSet::$variant => Some(MlDsaOps {
            keygen: |seed| {
                let (pk, sk) = fips204::$m::KG::keygen_from_seed(seed);
                (pk.into_bytes().to_vec(), sk.into_bytes().to_vec())
            },
            public: |sk| {
                let sk = fips204::$m::PrivateKey::try_from_bytes(sk.try_into().map_err(|_| bad_key("length"))?)
                    .map_err(bad_key)?;
                Ok(sk.get_public_key().into_bytes().to_vec())
            },
            sign: |sk, i| {
                let sk = fips204::$m::PrivateKey::try_from_bytes(sk.try_into().map_err(|_| bad_key("length"))?)
                    .map_err(bad_key)?;
                let sig = match &i.pre_hash {
                    None => sk.try_sign(i.message, i.ctx),
                    Some((h, oid)) => sk.try_hash_sign(h, i.ctx, oid),
                };
                sig.map(|s| s.to_vec()).map_err(|e| CryptoError::InvalidPayload(e.into()))
            },
            verify: |pk, i, sig| {
                let Ok(pk) = pk.try_into().map_err(|_| ()).and_then(|b| fips204::$m::PublicKey::try_from_bytes(b).map_err(|_| ())) else {
                    return false;
                };
                let Ok(sig) = <[u8; fips204::$m::SIG_LEN]>::try_from(sig) else { return false };
                match &i.pre_hash {
                    None => pk.verify(i.message, &sig, i.ctx),
                    Some((h, oid)) => pk.hash_verify(h, &sig, i.ctx, oid),
                }
            },
        }),)* _ => None }
    };
}

macro_rules! slh_dsa {
    ($set:expr, $($variant:ident => $m:ident),*) => {
        match $set { $(PqcParameterSet::$variant => Some(SlhDsaOps {
            keygen: || {
                let (pk, sk) = fips205::$m::KG::try_keygen().map_err(|e| CryptoError::Internal(e.into()))?;
                Ok((pk.into_bytes().to_vec(), sk.into_bytes().to_vec()))
            },
            public: |sk| {
                let sk = fips205::$m::PrivateKey::try_from_bytes(sk.try_into().map_err(|_| bad_key("length"))?)
                    .map_err(bad_key)?;
                Ok(sk.get_public_key().into_bytes().to_vec())
            },
            sign: |sk, i| {
                let sk = fips205::$m::PrivateKey::try_from_bytes(sk.try_into().map_err(|_| bad_key("length"))?)
                    .map_err(bad_key)?;
                let sig = match &i.pre_hash {
                    None => sk.try_sign(i.message, i.ctx, true),
                    Some((h, oid)) => sk.try_hash_sign(h, i.ctx, oid, true),
                };
                sig.map(|s| s.to_vec()).map_err(|e| CryptoError::InvalidPayload(e.into()))
            },
            verify: |pk, i, sig| {
                let Ok(pk) = pk.try_into().map_err(|_| ()).and_then(|b| fips205::$m::PublicKey::try_from_bytes(b).map_err(|_| ())) else {
                    return false;
                };
                let Ok(sig) = <[u8; fips205::$m::SIG_LEN]>::try_from(sig) else { return false };
                match &i.pre_hash {
                    None => pk.verify(i.message, &sig, i.ctx),
                    Some((h, oid)) => pk.hash_verify(h, &sig, i.ctx, oid),
                }
            },
        }),)* _ => None }
    };
}

type KeyPair = (Vec<u8>, Vec<u8>);

struct MlDsaOps {
    keygen: fn(&[u8; 32]) -> KeyPair,
    public: fn(&[u8]) -> Result<Vec<u8>, CryptoError>,
    sign: fn(&[u8], &Input) -> Result<Vec<u8>, CryptoError>,
    verify: fn(&[u8], &Input, &[u8]) -> bool,
}

struct SlhDsaOps {
    keygen: fn() -> Result<KeyPair, CryptoError>,
    public: fn(&[u8]) -> Result<Vec<u8>, CryptoError>,
    sign: fn(&[u8], &Input) -> Result<Vec<u8>, CryptoError>,
    verify: fn(&[u8], &Input, &[u8]) -> bool,
}

fn ml_ops(set: PqcParameterSet) -> Option<MlDsaOps> {
    ml_dsa!(set, MlDsa44 => ml_dsa_44, MlDsa65 => ml_dsa_65, MlDsa87 => ml_dsa_87)
}

fn slh_ops(set: PqcParameterSet) -> Option<SlhDsaOps> {
    slh_dsa!(set,
        SlhDsaSha2_128s => slh_dsa_sha2_128s, SlhDsaSha2_128f => slh_dsa_sha2_128f,
        SlhDsaSha2_192s => slh_dsa_sha2_192s, SlhDsaSha2_192f => slh_dsa_sha2_192f,
        SlhDsaSha2_256s => slh_dsa_sha2_256s, SlhDsaSha2_256f => slh_dsa_sha2_256f,
        SlhDsaShake128s => slh_dsa_shake_128s, SlhDsaShake128f => slh_dsa_shake_128f,
        SlhDsaShake192s => slh_dsa_shake_192s, SlhDsaShake192f => slh_dsa_shake_192f,
        SlhDsaShake256s => slh_dsa_shake_256s, SlhDsaShake256f => slh_dsa_shake_256f)
}

/// `PH(M)` and the DER OID of the pre-hash (FIPS 204 §5.4.1, FIPS 205 §10.2.2).
fn pre_hash(p: PqcPreHash, message: &[u8]) -> Result<(Vec<u8>, &'static [u8]), CryptoError> {
    use fips204::pre_hash as oid;
    use openssl::hash::{hash, hash_xof, MessageDigest};
    let internal = crate::crypto::internal;
    let digest = |d: Digest| hash(crate::crypto::message_digest(d), message).map(|h| h.to_vec());
    Ok(match p {
        PqcPreHash::Digest(d) => {
            let o: &'static [u8] = match d {
                Digest::Sha224 => &oid::SHA2_224,
                Digest::Sha256 => &oid::SHA2_256,
                Digest::Sha384 => &oid::SHA2_384,
                Digest::Sha512 => &oid::SHA2_512,
                Digest::Sha3_224 => &oid::SHA3_224,
                Digest::Sha3_256 => &oid::SHA3_256,
                Digest::Sha3_384 => &oid::SHA3_384,
                Digest::Sha3_512 => &oid::SHA3_512,
                Digest::Sha1 => {
                    return Err(CryptoError::AlgorithmNotSupportedByKey(
                        "SHA-1 pre-hash".into(),
                    ))
                }
            };
            (digest(d).map_err(internal)?, o)
        }
        PqcPreHash::Shake128 => {
            let mut out = vec![0u8; 32];
            hash_xof(MessageDigest::shake_128(), message, &mut out).map_err(internal)?;
            (out, &oid::SHAKE_128)
        }
        PqcPreHash::Shake256 => {
            let mut out = vec![0u8; 64];
            hash_xof(MessageDigest::shake_256(), message, &mut out).map_err(internal)?;
            (out, &oid::SHAKE_256)
        }
    })
}

impl PqcKey {
    /// Generate a fresh key.
    pub fn generate(set: PqcParameterSet) -> Result<PqcKey, CryptoError> {
        let (public, private) = if let Some(ops) = ml_ops(set) {
            let mut seed = [0u8; 32];
            openssl::rand::rand_bytes(&mut seed).map_err(crate::crypto::internal)?;
            (ops.keygen)(&seed)
        } else if let Some(ops) = slh_ops(set) {
            (ops.keygen)()?
        } else {
            return Err(bad_key(set.name()));
        };
        Ok(PqcKey {
            set,
            private,
            public,
        })
    }

    /// A key from its private encoding ([`PqcKey::private_bytes`]).
    pub fn from_private(set: PqcParameterSet, private: Vec<u8>) -> Result<PqcKey, CryptoError> {
        let public = if let Some(ops) = ml_ops(set) {
            (ops.public)(&private)?
        } else if let Some(ops) = slh_ops(set) {
            (ops.public)(&private)?
        } else {
            return Err(bad_key(set.name()));
        };
        Ok(PqcKey {
            set,
            private,
            public,
        })
    }

    /// The private key encoding (for `--state` persistence).
    pub fn private_bytes(&self) -> &[u8] {
        &self.private
    }

    /// The raw public key (FIPS 204 `pkEncode`, FIPS 205 `PK.seed ‖ PK.root`).
    pub fn public_bytes(&self) -> &[u8] {
        &self.public
    }

    /// DER SubjectPublicKeyInfo: the parameter set's OID without parameters and the raw public
    /// key as the BIT STRING (RFC 9881 / RFC 9909; the form of the keys in S2 `pqc.md`).
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        let oid = openssl::asn1::Asn1Object::from_str(self.set.oid())
            .map(|o| o.as_slice().to_vec())
            .unwrap_or_default();
        let alg_id = der(0x30, &der(0x06, &oid));
        let mut bits = vec![0u8];
        bits.extend_from_slice(&self.public);
        let mut body = alg_id;
        body.extend(der(0x03, &bits));
        der(0x30, &body)
    }

    fn input<'a>(
        &self,
        algorithm: &str,
        message: &'a [u8],
        ctx: &'a [u8],
    ) -> Result<Input<'a>, CryptoError> {
        let s: PqcSignature =
            tsb_models::algorithms::pqc_signature(algorithm).ok_or_else(|| {
                CryptoError::AlgorithmNotSupportedByKey(format!(
                    "{algorithm} does not fit a {} key",
                    self.set.name()
                ))
            })?;
        if s.family != self.set.family() {
            return Err(CryptoError::AlgorithmNotSupportedByKey(format!(
                "{algorithm} does not fit a {} key",
                self.set.name()
            )));
        }
        if ctx.len() > 255 {
            return Err(CryptoError::InvalidPayload(format!(
                "context of {} bytes (at most 255)",
                ctx.len()
            )));
        }
        let pre_hash = s.pre_hash.map(|p| pre_hash(p, message)).transpose()?;
        Ok(Input {
            message,
            pre_hash,
            ctx,
        })
    }

    /// Sign `message` with a TSB `signatureAlgorithm` (`ML_DSA`, `SLH_DSA`, or a
    /// `<hash>_WITH_ML_DSA`/`_WITH_SLH_DSA` pre-hash variant) and a context (empty if none).
    pub fn sign(
        &self,
        algorithm: &str,
        message: &[u8],
        ctx: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let input = self.input(algorithm, message, ctx)?;
        if let Some(ops) = ml_ops(self.set) {
            (ops.sign)(&self.private, &input)
        } else if let Some(ops) = slh_ops(self.set) {
            (ops.sign)(&self.private, &input)
        } else {
            Err(bad_key(self.set.name()))
        }
    }

    /// Verify a signature made by [`PqcKey::sign`] with the same algorithm and context; a
    /// malformed signature is `Ok(false)`.
    pub fn verify(
        &self,
        algorithm: &str,
        message: &[u8],
        ctx: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        let input = self.input(algorithm, message, ctx)?;
        Ok(if let Some(ops) = ml_ops(self.set) {
            (ops.verify)(&self.public, &input, signature)
        } else if let Some(ops) = slh_ops(self.set) {
            (ops.verify)(&self.public, &input, signature)
        } else {
            false
        })
    }
}

/// One DER TLV (definite length).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sign() {
        for set in [PqcParameterSet::MlDsa44, PqcParameterSet::SlhDsaSha2_128f] {
            let k = PqcKey::generate(set).unwrap();
            assert_eq!(k.public_bytes().len(), set.public_key_len());
            let again = PqcKey::from_private(set, k.private_bytes().to_vec()).unwrap();
            assert_eq!(again.public_bytes(), k.public_bytes());
            let alg = match set.family() {
                tsb_models::PqcFamily::MlDsa => "ML_DSA",
                tsb_models::PqcFamily::SlhDsa => "SLH_DSA",
            };
            let sig = k.sign(alg, b"m", b"ctx").unwrap();
            assert_eq!(sig.len(), set.signature_len());
            assert!(again.verify(alg, b"m", b"ctx", &sig).unwrap());
            assert!(!again.verify(alg, b"m", b"other", &sig).unwrap());
            assert!(!again.verify(alg, b"m", b"ctx", &sig[1..]).unwrap());
            assert!(matches!(
                k.sign("SHA256_WITH_ECDSA", b"m", b""),
                Err(CryptoError::AlgorithmNotSupportedByKey(_))
            ));
            assert!(matches!(
                k.sign(alg, b"m", &[0; 256]),
                Err(CryptoError::InvalidPayload(_))
            ));
        }
        let k = PqcKey::generate(PqcParameterSet::MlDsa44).unwrap();
        assert!(k.sign("SLH_DSA", b"m", b"").is_err());
        let sig = k.sign("SHAKE_256_WITH_ML_DSA", b"m", b"").unwrap();
        assert!(k.verify("SHAKE_256_WITH_ML_DSA", b"m", b"", &sig).unwrap());
        assert!(!k.verify("ML_DSA", b"m", b"", &sig).unwrap());
        // The SPKI of the documented example's shape: SEQUENCE { SEQUENCE { OID }, BIT STRING }.
        let spki = k.public_key_spki_der();
        assert_eq!(&spki[..4], &[0x30, 0x82, 0x05, 0x32]);
        assert_eq!(
            &spki[4..17],
            &[0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x11]
        );
        assert!(PqcKey::from_private(PqcParameterSet::MlDsa44, vec![1, 2, 3]).is_err());
    }
}
