//! The RustCrypto verifier the module used before `token::verifier` (libcrypto), kept as the
//! reference the new one is compared against (`local_verify`).

use crate::mechanism::{Hash, SignScheme};
use crate::tsb::key::{Curve, PublicKey};
use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};

/// The RSA key as the module's local operations build it (`token::local`).
fn rsa_key(p: &PublicKey) -> Option<RsaPublicKey> {
    crate::token::local::rsa_key(p).ok()
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

/// The old verdict for RSA and ECDSA (the schemes `verifier` took over): `sig` (PKCS#11
/// format, of the right length) over `input` with `p`.
pub(super) fn verify(p: &PublicKey, scheme: SignScheme, input: &[u8], sig: &[u8]) -> bool {
    match (scheme, p) {
        (SignScheme::RsaPkcs1 { hash }, _) => {
            let Some(k) = rsa_key(p) else { return false };
            let res = match hash {
                Some(h) => k.verify(pkcs1_for(h), input, sig),
                None => k.verify(Pkcs1v15Sign::new_unprefixed(), input, sig),
            };
            res.is_ok()
        }
        (SignScheme::RsaPss { hash, .. }, _) => {
            rsa_key(p).is_some_and(|k| k.verify(pss_for(hash), input, sig).is_ok())
        }
        (SignScheme::Ecdsa { .. }, PublicKey::Ec { curve, point }) => {
            verify_ecdsa(*curve, point, input, sig)
        }
        _ => false,
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
