//! Public-key operations done locally with the public key the TSB returned: C_Verify and
//! C_Encrypt never need the HSM, so they cost no round trip and no approval.

use super::verifier::{self, Scheme, VerifyKey};
use crate::error::{Error, Result};
use crate::mechanism::{Hash, SignScheme};
use crate::tsb::key::PublicKey;
use cryptoki_sys::*;
use rsa::{BigUint, Oaep, Pkcs1v15Encrypt, RsaPublicKey};

/// The RSA public key of `p` for RustCrypto's `rsa` (local encryption).
pub(crate) fn rsa_key(p: &PublicKey) -> Result<RsaPublicKey> {
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

/// Verify `sig` (PKCS#11 format) over `input` (already hashed when the scheme hashes locally)
/// with `p` (DER `spki`), whose parsed form `cache` keeps (see [`verifier`](super::verifier)).
/// `Ok(false)` = a well-formed signature that does not verify (CKR_SIGNATURE_INVALID).
pub(crate) fn verify(
    p: &PublicKey,
    spki: &[u8],
    cache: &VerifyKey,
    scheme: SignScheme,
    input: &[u8],
    sig: &[u8],
) -> Result<bool> {
    if sig.len() != p.signature_len() {
        return Err(Error::ck(
            CKR_SIGNATURE_LEN_RANGE,
            format!("signature must be {} bytes", p.signature_len()),
        ));
    }
    let not = |what: &str| {
        Err(Error::ck(
            CKR_KEY_TYPE_INCONSISTENT,
            format!("not an {what} key"),
        ))
    };
    match scheme {
        SignScheme::RsaPkcs1 { hash } => match p {
            PublicKey::Rsa { .. } => Ok(verifier::verify(
                p,
                spki,
                cache,
                Scheme::RsaPkcs1(hash),
                input,
                sig,
            )),
            _ => not("RSA"),
        },
        SignScheme::RsaPss { hash, .. } => match p {
            PublicKey::Rsa { .. } => Ok(verifier::verify(
                p,
                spki,
                cache,
                Scheme::RsaPss(hash),
                input,
                sig,
            )),
            _ => not("RSA"),
        },
        SignScheme::Ecdsa { .. } => match p {
            PublicKey::Ec { .. } => Ok(verifier::verify(p, spki, cache, Scheme::Ecdsa, input, sig)),
            _ => not("EC"),
        },
        SignScheme::EdDsa => {
            let PublicKey::Ed25519 { point } = p else {
                return not("Ed25519");
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
                return not("ML-DSA or SLH-DSA");
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
