//! Results from the TSB are verified before they reach the caller. The module holds every key's
//! public key, so a signature the TSB returns is checked with it (every mechanism: PKCS#1 v1.5,
//! raw CKM_RSA_PKCS with or without a DigestInfo, PSS, ECDSA on every curve and hash, EdDSA), and a
//! plaintext is checked against what its padding allows. A TSB (or anything between it and the
//! module) that answers a wrong value, by fault or by attack, then costs one CKR_DEVICE_ERROR
//! (`ulDeviceError` TSB_DEVERR_BAD_RESULT) and one log line; the value is neither returned nor kept.
//!
//! The signature check can be turned off per slot (`verify_signatures: false`); the plaintext
//! length check is a comparison and always on.

use crate::error::{Error, Result};
use crate::mechanism::{Hash, SignScheme};
use crate::tsb::key::KeyInfo;

/// The signature `sig` (already in PKCS#11 form) over `input` (the data as the TSB signed it:
/// the digest for the hashing mechanisms) must verify with `key`'s public key.
pub fn signature(key: &KeyInfo, scheme: SignScheme, input: &[u8], sig: &[u8]) -> Result<()> {
    match super::local::verify(&key.public, scheme, input, sig) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::BadResult(format!(
            "a signature that does not verify with the public key of key {}",
            key.tsb_label
        ))),
        Err(e) => Err(Error::BadResult(format!(
            "a signature that does not verify with the public key of key {} ({e})",
            key.tsb_label
        ))),
    }
}

/// The longest plaintext an RSA decryption with `key` can produce: k-11 bytes for PKCS#1 v1.5,
/// k-2hLen-2 for OAEP with hash `oaep` (RFC 8017 §7.2.1, §7.1.1), k = the modulus length.
pub fn max_plaintext(key: &KeyInfo, oaep: Option<Hash>) -> usize {
    let k = key.public.modulus_len();
    match oaep {
        None => k.saturating_sub(11),
        Some(h) => k.saturating_sub(2 * h.len() + 2),
    }
}

/// A plaintext from the TSB must fit its padding (and so the buffer size the length query
/// promised, the modulus length).
pub fn plaintext(key: &KeyInfo, oaep: Option<Hash>, plain: &[u8]) -> Result<()> {
    let max = max_plaintext(key, oaep);
    if plain.len() > max {
        return Err(Error::BadResult(format!(
            "a plaintext of {} bytes from key {}, which can decrypt at most {max} with this padding",
            plain.len(),
            key.tsb_label
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsb::key::PublicKey;
    use cryptoki_sys::CKR_DEVICE_ERROR;

    fn key(public: PublicKey) -> KeyInfo {
        KeyInfo {
            tsb_label: "k".into(),
            label: "k".into(),
            id: vec![],
            spki: vec![],
            public,
            sign: true,
            decrypt: true,
            unwrap: false,
            derive: false,
            extractable: false,
            destroyable: true,
            policy: None,
            blocked: false,
            approval_required: false,
            policy_timeout: None,
            approvals_needed: None,
        }
    }

    #[test]
    fn plaintext_lengths_follow_the_padding() {
        let k = key(PublicKey::Rsa {
            modulus: vec![0xC5; 256],
            exponent: vec![1, 0, 1],
            bits: 2048,
        });
        assert_eq!(max_plaintext(&k, None), 245);
        assert_eq!(max_plaintext(&k, Some(Hash::Sha256)), 190);
        assert_eq!(max_plaintext(&k, Some(Hash::Sha512)), 126);
        assert!(plaintext(&k, None, &[0; 245]).is_ok());
        let e = plaintext(&k, None, &[0; 246]).unwrap_err();
        assert_eq!(e.rv(), CKR_DEVICE_ERROR);
        assert_eq!(e.device_error(), Some(crate::vendor::TSB_DEVERR_BAD_RESULT));
        assert!(plaintext(&k, Some(Hash::Sha1), &[0; 214]).is_ok());
        assert!(plaintext(&k, Some(Hash::Sha1), &[0; 215]).is_err());
    }

    #[test]
    fn zero_and_short_signatures_do_not_verify() {
        let p256 = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let point = p256
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        let k = key(PublicKey::Ec {
            curve: crate::tsb::key::Curve::P256,
            point,
        });
        let scheme = SignScheme::Ecdsa { hash: None };
        let digest = [1u8; 32];
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let good: p256::ecdsa::Signature = p256.sign_prehash(&digest).unwrap();
        assert!(signature(&k, scheme, &digest, &good.to_bytes()).is_ok());
        for bad in [vec![0u8; 64], vec![1u8], good.to_bytes()[..63].to_vec()] {
            let e = signature(&k, scheme, &digest, &bad).unwrap_err();
            assert_eq!(e.rv(), CKR_DEVICE_ERROR);
        }
        assert!(signature(&k, scheme, &[2u8; 32], &good.to_bytes()).is_err());
    }
}
