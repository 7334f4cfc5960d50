//! Results from the TSB are verified before they reach the caller. The module holds every key's
//! public key, so a signature the TSB returns is checked with it (every mechanism: PKCS#1 v1.5,
//! raw CKM_RSA_PKCS with or without a DigestInfo, PSS, ECDSA on every curve and hash, EdDSA), and a
//! plaintext is checked against what its padding allows. A TSB (or anything between it and the
//! module) that answers a wrong value, by fault or by attack, then costs one CKR_DEVICE_ERROR
//! (`ulDeviceError` TSB_DEVERR_BAD_RESULT) and one log line; the value is neither returned nor kept.
//!
//! CSRs and certificates are checked the same way: a CSR must carry the key's public key and its
//! self-signature must verify; a self-signed or issued certificate must carry the expected public
//! key (the key's, or the CSR's) and its signature must verify with the key that signed it.
//!
//! The check of C_Sign's signatures can be turned off per slot (`verify_signatures: false`); the
//! plaintext length check is a comparison, and CSRs and certificates are rare: always on.

use super::session::Session;
use super::Module;
use crate::der;
use crate::error::{Error, Result};
use crate::mechanism::{Hash, SignScheme};
use crate::tsb::key::{CertInfo, KeyInfo, PublicKey};

/// The signature `sig` (already in PKCS#11 form) over `input` (the data as the TSB signed it:
/// the digest for the hashing mechanisms) must verify with `key`'s public key.
pub(crate) fn signature(key: &KeyInfo, scheme: SignScheme, input: &[u8], sig: &[u8]) -> Result<()> {
    match super::local::verify(&key.public, &key.spki, &key.verifier, scheme, input, sig) {
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
pub(crate) fn max_plaintext(key: &KeyInfo, oaep: Option<Hash>) -> usize {
    let k = key.public.modulus_len();
    match oaep {
        None => k.saturating_sub(11),
        Some(h) => k.saturating_sub(2 * h.len() + 2),
    }
}

/// A plaintext from the TSB must fit its padding (and so the buffer size the length query
/// promised, the modulus length).
pub(crate) fn plaintext(key: &KeyInfo, oaep: Option<Hash>, plain: &[u8]) -> Result<()> {
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

/// The scheme of an X.509 `signatureAlgorithm`: the algorithms the TSB signs CSRs and
/// certificates with (`tsb_models::algorithms::CERTIFICATE_SIGNATURE_ALGORITHMS`), by their OIDs
/// (RFC 4055 §5 and RFC 8017 for RSA, RFC 5758 §3.2 for ECDSA, RFC 8410 §3 for Ed25519).
fn x509_scheme(oid: &str) -> Option<SignScheme> {
    let rsa = |h| SignScheme::RsaPkcs1 { hash: Some(h) };
    let ecdsa = |h| SignScheme::Ecdsa { hash: Some(h) };
    Some(match oid {
        "1.2.840.113549.1.1.5" => rsa(Hash::Sha1),
        "1.2.840.113549.1.1.14" => rsa(Hash::Sha224),
        "1.2.840.113549.1.1.11" => rsa(Hash::Sha256),
        "1.2.840.113549.1.1.12" => rsa(Hash::Sha384),
        "1.2.840.113549.1.1.13" => rsa(Hash::Sha512),
        "1.2.840.10045.4.1" => ecdsa(Hash::Sha1),
        "1.2.840.10045.4.3.1" => ecdsa(Hash::Sha224),
        "1.2.840.10045.4.3.2" => ecdsa(Hash::Sha256),
        "1.2.840.10045.4.3.3" => ecdsa(Hash::Sha384),
        "1.2.840.10045.4.3.4" => ecdsa(Hash::Sha512),
        "1.3.101.112" => SignScheme::EdDsa,
        _ => return None,
    })
}

/// The signed structure `der` (a certificate or CSR) must verify with `signer`.
fn signed_by(key: &KeyInfo, der: &[u8], what: &str) -> Result<()> {
    let signer = &key.public;
    let bad = |why: String| Error::BadResult(format!("a {what} {why}"));
    let s = der::read_signed(der).ok_or_else(|| bad("that is not DER".into()))?;
    let oid = der::oid_to_string(s.algorithm).unwrap_or_default();
    let scheme = x509_scheme(&oid)
        .filter(|sc| Some(sc.family()) == signer.family())
        .ok_or_else(|| bad(format!("signed with {oid}, not an algorithm of this key")))?;
    let sig = match signer {
        PublicKey::Ec { curve, .. } => der::ecdsa_der_to_raw(s.signature, curve.field_len())
            .ok_or_else(|| bad("with an unreadable ECDSA signature".into()))?,
        _ => s.signature.to_vec(),
    };
    let input = match scheme.local_hash() {
        Some(h) => h.digest(s.signed.raw),
        None => s.signed.raw.to_vec(),
    };
    match super::local::verify(signer, &key.spki, &key.verifier, scheme, &input, &sig) {
        Ok(true) => Ok(()),
        _ => Err(bad("whose signature does not verify".into())),
    }
}

/// A CSR (DER) the TSB made for `key`: the key's public key, and a self-signature that verifies.
pub(crate) fn csr(key: &KeyInfo, der: &[u8]) -> Result<()> {
    let spki = der::csr_public_key(der)
        .ok_or_else(|| Error::BadResult("a CSR that is not PKCS#10 DER".into()))?;
    if spki != key.spki {
        return Err(Error::BadResult(format!(
            "a CSR for another public key than that of key {}",
            key.tsb_label
        )));
    }
    signed_by(key, der, "CSR")
}

/// A certificate the TSB made: for the public key `subject` (DER SubjectPublicKeyInfo), signed
/// by `issuer` (the key itself for a self-signed certificate, the CA key for an issued one).
pub(crate) fn certificate(cert: &CertInfo, subject: &[u8], issuer: &KeyInfo) -> Result<()> {
    if cert.fields.spki != subject {
        return Err(Error::BadResult(
            "a certificate for another public key than the one asked for".into(),
        ));
    }
    signed_by(issuer, &cert.der, "certificate")
        .map_err(|e| Error::BadResult(format!("{e}: not signed by key {}", issuer.tsb_label)))
}

impl Module {
    /// A result that failed its check says which key (and, for an approval-gated key, which
    /// request) it came from: its one line is written where the call returns (`log::report`).
    /// The value is not returned and not kept.
    pub(crate) fn log_refusal<T>(
        &self,
        session: &Session,
        key: &KeyInfo,
        what: &str,
        r: Result<T>,
    ) -> Result<T> {
        r.map_err(|e| match e {
            Error::BadResult(m) => {
                let request = if key.approval_required {
                    session
                        .state
                        .lock()
                        .last_request_id
                        .as_deref()
                        .map(|id| format!(" (request {id})"))
                        .unwrap_or_default()
                } else {
                    String::new()
                };
                Error::BadResult(format!(
                    "{what} with key {}{request}: {m}; not returned (ulDeviceError {})",
                    key.tsb_label,
                    crate::vendor::TSB_DEVERR_BAD_RESULT
                ))
            }
            other => other,
        })
    }
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
            verifier: Default::default(),
            sign: true,
            decrypt: true,
            unwrap: false,
            derive: false,
            extractable: false,
            sensitive: true,
            always_sensitive: true,
            never_extractable: true,
            local: true,
            destroyable: true,
            policy: None,
            blocked: false,
            approval_required: false,
            policy_timeout: None,
            approvals_needed: None,
            created: None,
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
        let mut k = key(PublicKey::Ec {
            curve: crate::tsb::key::Curve::P256,
            point,
        });
        use p256::pkcs8::EncodePublicKey;
        k.spki = p256.verifying_key().to_public_key_der().unwrap().to_vec();
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
