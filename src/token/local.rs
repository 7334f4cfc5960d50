//! Public-key operations done locally with the public key the TSB returned: C_Verify and
//! C_Encrypt never need the HSM, so they cost no round trip and no approval.

use crate::error::{Error, Result};
use crate::mechanism::{Hash, SignScheme};
use crate::tsb::key::{Curve, PublicKey};
use cryptoki_sys::*;
use rsa::{BigUint, Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign, Pss, RsaPublicKey};

fn rsa_key(p: &PublicKey) -> Result<RsaPublicKey> {
    match p {
        PublicKey::Rsa {
            modulus, exponent, ..
        } => RsaPublicKey::new(
            BigUint::from_bytes_be(modulus),
            BigUint::from_bytes_be(exponent),
        )
        .map_err(|e| Error::ck(CKR_GENERAL_ERROR, format!("RSA public key: {e}"))),
        _ => Err(Error::ck(CKR_KEY_TYPE_INCONSISTENT, "not an RSA key")),
    }
}

fn pkcs1_for(h: Hash) -> Pkcs1v15Sign {
    match h {
        Hash::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
        Hash::Sha224 => Pkcs1v15Sign::new::<sha2::Sha224>(),
        Hash::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
        Hash::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
        Hash::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
    }
}

fn pss_for(h: Hash) -> Pss {
    let s = h.len();
    match h {
        Hash::Sha1 => Pss::new_with_salt::<sha1::Sha1>(s),
        Hash::Sha224 => Pss::new_with_salt::<sha2::Sha224>(s),
        Hash::Sha256 => Pss::new_with_salt::<sha2::Sha256>(s),
        Hash::Sha384 => Pss::new_with_salt::<sha2::Sha384>(s),
        Hash::Sha512 => Pss::new_with_salt::<sha2::Sha512>(s),
    }
}

/// Verify `sig` (PKCS#11 format) over `input` (already hashed when the scheme hashes locally).
/// `Ok(false)` = a well-formed signature that does not verify (CKR_SIGNATURE_INVALID).
pub(crate) fn verify(p: &PublicKey, scheme: SignScheme, input: &[u8], sig: &[u8]) -> Result<bool> {
    if sig.len() != p.signature_len() {
        return Err(Error::ck(
            CKR_SIGNATURE_LEN_RANGE,
            format!("signature must be {} bytes", p.signature_len()),
        ));
    }
    match scheme {
        SignScheme::RsaPkcs1 { hash } => {
            let k = rsa_key(p)?;
            let res = match hash {
                Some(h) => k.verify(pkcs1_for(h), input, sig),
                // CKM_RSA_PKCS: the input is what was padded (a DigestInfo or raw data).
                None => k.verify(Pkcs1v15Sign::new_unprefixed(), input, sig),
            };
            Ok(res.is_ok())
        }
        SignScheme::RsaPss { hash, .. } => {
            let k = rsa_key(p)?;
            Ok(k.verify(pss_for(hash), input, sig).is_ok())
        }
        SignScheme::Ecdsa { .. } => {
            let PublicKey::Ec { curve, point } = p else {
                return Err(Error::ck(CKR_KEY_TYPE_INCONSISTENT, "not an EC key"));
            };
            Ok(verify_ecdsa(*curve, point, input, sig))
        }
        SignScheme::EdDsa => {
            let PublicKey::Ed25519 { point } = p else {
                return Err(Error::ck(CKR_KEY_TYPE_INCONSISTENT, "not an Ed25519 key"));
            };
            let Ok(bytes) = <[u8; 32]>::try_from(point.as_slice()) else {
                return Ok(false);
            };
            let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&bytes) else {
                return Ok(false);
            };
            let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
                return Ok(false);
            };
            Ok(vk.verify_strict(input, &sig).is_ok())
        }
        SignScheme::Pqc { context, .. } => {
            let PublicKey::Pqc { set, key } = p else {
                return Err(Error::ck(
                    CKR_KEY_TYPE_INCONSISTENT,
                    "not an ML-DSA or SLH-DSA key",
                ));
            };
            Ok(super::pqc::verify(
                *set,
                key,
                input,
                context.as_slice(),
                sig,
            ))
        }
    }
}

fn verify_ecdsa(curve: Curve, point: &[u8], digest: &[u8], sig: &[u8]) -> bool {
    use ecdsa_hazmat::PrehashVerifier;
    // RustCrypto refuses digests shorter than half the field (SHA-1 on P-384, say), which ECDSA
    // itself allows: the digest is read as an integer. Left zero-padding to half the field keeps
    // that integer and stays below the field size, so no truncation changes it.
    let half = curve.field_len().div_ceil(2);
    let padded;
    let digest = if digest.len() < half {
        let mut v = vec![0u8; half - digest.len()];
        v.extend_from_slice(digest);
        padded = v;
        &padded[..]
    } else {
        digest
    };
    macro_rules! check {
        ($c:ident) => {{
            let Ok(vk) = $c::ecdsa::VerifyingKey::from_sec1_bytes(point) else {
                return false;
            };
            let Ok(s) = $c::ecdsa::Signature::from_slice(sig) else {
                return false;
            };
            vk.verify_prehash(digest, &s).is_ok()
        }};
    }
    match curve {
        Curve::P256 => check!(p256),
        Curve::P384 => check!(p384),
        Curve::P521 => {
            let Ok(vk) = p521::ecdsa::VerifyingKey::from_sec1_bytes(point) else {
                return false;
            };
            let Ok(s) = p521::ecdsa::Signature::from_slice(sig) else {
                return false;
            };
            vk.verify_prehash(digest, &s).is_ok()
        }
        Curve::Secp256k1 => {
            let Ok(vk) = k256::ecdsa::VerifyingKey::from_sec1_bytes(point) else {
                return false;
            };
            let Ok(s) = k256::ecdsa::Signature::from_slice(sig) else {
                return false;
            };
            // k256 refuses a high s (BIP-62's rule for Bitcoin transactions), but (r, s) and
            // (r, n-s) are equally valid ECDSA signatures and OpenSSL, like most HSMs, returns
            // a high s half of the time: verify the low-s form.
            let s = s.normalize_s().unwrap_or(s);
            vk.verify_prehash(digest, &s).is_ok()
        }
    }
}

mod ecdsa_hazmat {
    pub(crate) use p256::ecdsa::signature::hazmat::PrehashVerifier;
}

/// Encrypt with the public key: CKM_RSA_PKCS, or OAEP with `oaep` = Some(hash).
pub(crate) fn encrypt(p: &PublicKey, oaep: Option<Hash>, data: &[u8]) -> Result<Vec<u8>> {
    let k = rsa_key(p)?;
    let klen = p.modulus_len();
    let max = match oaep {
        None => klen.saturating_sub(11),
        Some(h) => klen.saturating_sub(2 * h.len() + 2),
    };
    if data.len() > max {
        return Err(Error::ck(
            CKR_DATA_LEN_RANGE,
            format!("at most {max} bytes can be encrypted with this key and mechanism"),
        ));
    }
    let mut rng = rand_core::OsRng;
    let r = match oaep {
        None => k.encrypt(&mut rng, Pkcs1v15Encrypt, data),
        Some(Hash::Sha1) => k.encrypt(&mut rng, Oaep::new::<sha1::Sha1>(), data),
        Some(Hash::Sha224) => k.encrypt(&mut rng, Oaep::new::<sha2::Sha224>(), data),
        Some(Hash::Sha256) => k.encrypt(&mut rng, Oaep::new::<sha2::Sha256>(), data),
        Some(Hash::Sha384) => k.encrypt(&mut rng, Oaep::new::<sha2::Sha384>(), data),
        Some(Hash::Sha512) => k.encrypt(&mut rng, Oaep::new::<sha2::Sha512>(), data),
    };
    r.map_err(|e| Error::ck(CKR_FUNCTION_FAILED, format!("encryption failed: {e}")))
}
