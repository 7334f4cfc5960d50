//! The libcrypto verifier (`token::verifier`, through `local::verify`) against the RustCrypto one
//! it replaced (`verify_reference`): the same verdict on valid and tampered signatures for every
//! RSA and ECDSA scheme, on ECDSA digests shorter and longer than the curve order, and over many
//! random inputs. Signatures are made with libcrypto and with RustCrypto's signers.

use super::verify_reference;
use crate::mechanism::{Hash, SignScheme};
use crate::token::local;
use crate::token::verifier::md;
use crate::token::VerifyKey;
use crate::tsb::key::{Curve, PublicKey};
use cryptoki_sys::*;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, PointConversionForm};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::{Padding, Rsa};
use openssl::sign::RsaPssSaltlen;
use rand_core::{OsRng, RngCore};

const HASHES: [Hash; 5] = [
    Hash::Sha1,
    Hash::Sha224,
    Hash::Sha256,
    Hash::Sha384,
    Hash::Sha512,
];

fn random(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    OsRng.fill_bytes(&mut v);
    v
}

/// The new verdict, which must be the old one; and no error left in libcrypto's queue.
fn verdict(k: &Key, scheme: SignScheme, input: &[u8], sig: &[u8]) -> bool {
    let p = &k.public;
    let new = local::verify(p, &k.spki, &k.cache, scheme, input, sig).expect("well-formed call");
    let old = verify_reference::verify(p, scheme, input, sig);
    assert_eq!(new, old, "{scheme:?}, input {input:02x?}, sig {sig:02x?}");
    assert!(openssl::error::ErrorStack::get().errors().is_empty());
    new
}

fn flip(v: &[u8], i: usize) -> Vec<u8> {
    let mut v = v.to_vec();
    let i = i % v.len();
    v[i] ^= 1 << (i % 8);
    v
}

/// A public key as the module holds it: components, DER SPKI, the verifier's cache.
struct Key {
    public: PublicKey,
    spki: Vec<u8>,
    cache: VerifyKey,
}

struct RsaKey {
    key: PKey<Private>,
    k: Key,
}

fn rsa_key() -> RsaKey {
    let rsa = Rsa::generate(2048).unwrap();
    let public = PublicKey::Rsa {
        modulus: rsa.n().to_vec(),
        exponent: rsa.e().to_vec(),
        bits: 2048,
    };
    let key = PKey::from_rsa(rsa).unwrap();
    let spki = key.public_key_to_der().unwrap();
    RsaKey {
        key,
        k: Key {
            public,
            spki,
            cache: VerifyKey::default(),
        },
    }
}

/// A libcrypto signature over `input` with `padding`, `hash` and PSS salt length `salt`.
fn rsa_sign(k: &RsaKey, padding: Padding, hash: Option<Hash>, salt: i32, input: &[u8]) -> Vec<u8> {
    let mut ctx = PkeyCtx::new(&k.key).unwrap();
    ctx.sign_init().unwrap();
    ctx.set_rsa_padding(padding).unwrap();
    if let Some(h) = hash {
        ctx.set_signature_md(md(h)).unwrap();
    }
    if padding == Padding::PKCS1_PSS {
        ctx.set_rsa_pss_saltlen(RsaPssSaltlen::custom(salt))
            .unwrap();
    }
    let mut sig = vec![];
    ctx.sign_to_vec(input, &mut sig).unwrap();
    sig
}

#[test]
fn rsa_pkcs1_and_pss_agree_with_the_old_verifier() {
    let k = rsa_key();
    let v = |scheme, input: &[u8], sig: &[u8]| verdict(&k.k, scheme, input, sig);
    for h in HASHES {
        let digest = h.digest(b"message");
        let other = h.digest(b"massage");
        // PKCS#1 v1.5 with a DigestInfo.
        let scheme = SignScheme::RsaPkcs1 { hash: Some(h) };
        let sig = rsa_sign(&k, Padding::PKCS1, Some(h), 0, &digest);
        assert!(v(scheme, &digest, &sig), "{h:?}");
        assert!(!v(scheme, &other, &sig));
        assert!(!v(scheme, &digest[1..], &sig));
        assert!(!v(scheme, &flip(&digest, 7), &sig));
        assert!(!v(scheme, &digest, &flip(&sig, 100)));
        // The same signature is a CKM_RSA_PKCS one over DigestInfo || digest, and no other.
        let raw = SignScheme::RsaPkcs1 { hash: None };
        let info = [h.digest_info_prefix(), &digest[..]].concat();
        assert!(v(raw, &info, &sig));
        assert!(!v(raw, &digest, &sig));
        // PSS, salt length = hash length; another salt length does not verify.
        let pss = SignScheme::RsaPss {
            hash: h,
            prehashed: true,
        };
        let sig = rsa_sign(&k, Padding::PKCS1_PSS, Some(h), h.len() as i32, &digest);
        assert!(v(pss, &digest, &sig), "{h:?}");
        assert!(!v(pss, &other, &sig));
        assert!(!v(pss, &digest[1..], &sig));
        assert!(!v(pss, &digest, &flip(&sig, 3)));
        for salt in [0, h.len() as i32 - 1, h.len() as i32 + 1] {
            let sig = rsa_sign(&k, Padding::PKCS1_PSS, Some(h), salt, &digest);
            assert!(!v(pss, &digest, &sig), "{h:?} salt {salt}");
        }
    }
    // CKM_RSA_PKCS over raw data of every length up to k - 11.
    let raw = SignScheme::RsaPkcs1 { hash: None };
    for len in [0, 1, 20, 100, 244, 245] {
        let data = random(len);
        let sig = rsa_sign(&k, Padding::PKCS1, None, 0, &data);
        assert!(v(raw, &data, &sig), "{len}");
        if len > 0 {
            assert!(!v(raw, &flip(&data, len / 2), &sig));
            assert!(!v(raw, &data[1..], &sig));
        }
        assert!(!v(raw, &data, &flip(&sig, len + 5)));
    }
    // A signature value not below the modulus, zero, all ones.
    let n = match &k.k.public {
        PublicKey::Rsa { modulus, .. } => modulus.clone(),
        _ => unreachable!(),
    };
    let digest = Hash::Sha256.digest(b"m");
    let scheme = SignScheme::RsaPkcs1 {
        hash: Some(Hash::Sha256),
    };
    for sig in [n, vec![0; 256], vec![0xFF; 256]] {
        assert!(!v(scheme, &digest, &sig));
    }
}

struct EcKeyPair {
    key: EcKey<Private>,
    curve: Curve,
    k: Key,
}

fn ec_key(curve: Curve) -> EcKeyPair {
    let nid = match curve {
        Curve::P256 => Nid::X9_62_PRIME256V1,
        Curve::P384 => Nid::SECP384R1,
        Curve::P521 => Nid::SECP521R1,
        Curve::Secp256k1 => Nid::SECP256K1,
    };
    let group = EcGroup::from_curve_name(nid).unwrap();
    let key = EcKey::generate(&group).unwrap();
    let mut ctx = BigNumContext::new().unwrap();
    let point = key
        .public_key()
        .to_bytes(&group, PointConversionForm::UNCOMPRESSED, &mut ctx)
        .unwrap();
    let spki = PKey::from_ec_key(key.clone())
        .unwrap()
        .public_key_to_der()
        .unwrap();
    EcKeyPair {
        key,
        curve,
        k: Key {
            public: PublicKey::Ec { curve, point },
            spki,
            cache: VerifyKey::default(),
        },
    }
}

/// r || s, each the field's length.
fn raw_sig(s: &EcdsaSig, n: usize) -> Vec<u8> {
    let mut v = s.r().to_vec_padded(n as i32).unwrap();
    v.extend(s.s().to_vec_padded(n as i32).unwrap());
    v
}

/// s replaced by n - s: the other valid signature of the pair.
fn high_s(k: &EcKeyPair, s: &EcdsaSig) -> Vec<u8> {
    let mut ctx = BigNumContext::new().unwrap();
    let mut order = BigNum::new().unwrap();
    k.key.group().order(&mut order, &mut ctx).unwrap();
    let mut other = BigNum::new().unwrap();
    other.checked_sub(&order, s.s()).unwrap();
    let n = k.curve.field_len() as i32;
    let mut v = s.r().to_vec_padded(n).unwrap();
    v.extend(other.to_vec_padded(n).unwrap());
    v
}

/// The order's length in bits.
fn order_bits(c: Curve) -> usize {
    match c {
        Curve::P521 => 521,
        _ => 8 * c.field_len(),
    }
}

const CURVES: [Curve; 4] = [Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1];

#[test]
fn ecdsa_agrees_with_the_old_verifier_on_every_curve_and_digest_length() {
    let scheme = SignScheme::Ecdsa { hash: None };
    for curve in CURVES {
        let k = ec_key(curve);
        let n = curve.field_len();
        // Digests shorter than half the field, shorter than the order, as long, and longer
        // (up to the field length: see the next test for P-521 beyond it).
        for len in [1, 16, 20, 28, 32, 48, n - 1, n] {
            if len * 8 > order_bits(curve) {
                continue;
            }
            let digest = random(len);
            let s = EcdsaSig::sign(&digest, &k.key).unwrap();
            let sig = raw_sig(&s, n);
            let v = |input: &[u8], sig: &[u8]| verdict(&k.k, scheme, input, sig);
            assert!(v(&digest, &sig), "{curve:?} {len}");
            assert!(v(&digest, &high_s(&k, &s)), "{curve:?} {len} high s");
            assert!(!v(&flip(&digest, 0), &sig));
            assert!(!v(&digest, &flip(&sig, 1)));
            assert!(!v(&digest, &flip(&sig, n + 1)));
            // A leading zero byte does not change the integer a short digest is read as.
            if (len + 1) * 8 <= order_bits(curve) {
                let mut padded = vec![0];
                padded.extend(&digest);
                assert!(v(&padded, &sig));
            }
        }
        let v = |input: &[u8], sig: &[u8]| verdict(&k.k, scheme, input, sig);
        // r or s zero, or not below the order.
        let digest = random(32);
        let good = raw_sig(&EcdsaSig::sign(&digest, &k.key).unwrap(), n);
        for (lo, hi) in [(0, n), (n, 2 * n)] {
            let mut zero = good.clone();
            zero[lo..hi].fill(0);
            assert!(!v(&digest, &zero));
            let mut ones = good.clone();
            ones[lo..hi].fill(0xFF);
            assert!(!v(&digest, &ones));
        }
    }
}

#[test]
fn ecdsa_digests_longer_than_the_order_keep_their_leftmost_bits() {
    // PKCS#11 v3.1 §2.3.6 and FIPS 186-5 §6.4: only the leftmost bits of a digest longer than
    // the order count. libcrypto signs and verifies that way; the old verifier agreed wherever
    // the order's length is a whole number of bytes (P-256, P-384, secp256k1) and read a P-521
    // digest of 66 bytes or more as its leftmost 66 bytes, not 521 bits.
    let scheme = SignScheme::Ecdsa { hash: None };
    for curve in CURVES {
        let k = ec_key(curve);
        let n = curve.field_len();
        for len in [n, n + 1, n + 16, 64, 100] {
            if len * 8 <= order_bits(curve) {
                continue;
            }
            let digest = random(len);
            let sig = raw_sig(&EcdsaSig::sign(&digest, &k.key).unwrap(), n);
            let new =
                local::verify(&k.k.public, &k.k.spki, &k.k.cache, scheme, &digest, &sig).unwrap();
            assert!(new, "{curve:?} {len}");
            if curve != Curve::P521 {
                assert!(verdict(&k.k, scheme, &digest, &sig));
                // Bytes past the order's length do not count.
                let mut other = digest.clone();
                other[len - 1] ^= 1;
                assert!(verdict(&k.k, scheme, &other, &sig));
            }
            // A changed leading byte does.
            let other = flip(&digest, 0);
            assert!(
                !local::verify(&k.k.public, &k.k.spki, &k.k.cache, scheme, &other, &sig).unwrap()
            );
        }
    }
}

#[test]
fn rustcrypto_signatures_verify_with_the_new_verifier() {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    let scheme = SignScheme::Ecdsa { hash: None };
    let sk = p256::ecdsa::SigningKey::random(&mut OsRng);
    let public = PublicKey::Ec {
        curve: Curve::P256,
        point: sk
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
    };
    use p256::pkcs8::EncodePublicKey;
    let k = Key {
        public,
        spki: sk.verifying_key().to_public_key_der().unwrap().to_vec(),
        cache: VerifyKey::default(),
    };
    for len in [16, 32, 48, 64] {
        let digest = random(len);
        let sig: p256::ecdsa::Signature = sk.sign_prehash(&digest).unwrap();
        assert!(verdict(&k, scheme, &digest, &sig.to_bytes()));
    }
    let sk = k256::ecdsa::SigningKey::random(&mut OsRng);
    let public = PublicKey::Ec {
        curve: Curve::Secp256k1,
        point: sk
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
    };
    let k = Key {
        public,
        spki: sk.verifying_key().to_public_key_der().unwrap().to_vec(),
        cache: VerifyKey::default(),
    };
    let digest = random(32);
    let sig: k256::ecdsa::Signature = sk.sign_prehash(&digest).unwrap();
    assert!(verdict(&k, scheme, &digest, &sig.to_bytes()));
}

#[test]
fn random_inputs_get_the_old_verdict() {
    let rsa = rsa_key();
    let ecs: Vec<EcKeyPair> = CURVES.into_iter().map(ec_key).collect();
    for i in 0..300usize {
        let h = HASHES[i % HASHES.len()];
        let digest = random(h.len());
        let schemes = [
            SignScheme::RsaPkcs1 { hash: Some(h) },
            SignScheme::RsaPkcs1 { hash: None },
            SignScheme::RsaPss {
                hash: h,
                prehashed: true,
            },
        ];
        let scheme = schemes[i % 3];
        let valid = match scheme {
            SignScheme::RsaPkcs1 { hash: Some(_) } => {
                rsa_sign(&rsa, Padding::PKCS1, Some(h), 0, &digest)
            }
            SignScheme::RsaPss { .. } => {
                rsa_sign(&rsa, Padding::PKCS1_PSS, Some(h), h.len() as i32, &digest)
            }
            _ => rsa_sign(&rsa, Padding::PKCS1, None, 0, &digest),
        };
        let v = |input: &[u8], sig: &[u8]| verdict(&rsa.k, scheme, input, sig);
        assert!(v(&digest, &valid));
        assert!(!v(&digest, &flip(&valid, i)));
        assert!(!v(&digest, &random(256)));
        assert!(!v(&random(h.len()), &valid));

        let k = &ecs[i % ecs.len()];
        let n = k.curve.field_len();
        let len = 1 + i % (order_bits(k.curve) / 8);
        let digest = random(len);
        let valid = raw_sig(&EcdsaSig::sign(&digest, &k.key).unwrap(), n);
        let e = SignScheme::Ecdsa { hash: None };
        let v = |input: &[u8], sig: &[u8]| verdict(&k.k, e, input, sig);
        assert!(v(&digest, &valid));
        assert!(!v(&digest, &flip(&valid, i)));
        assert!(!v(&digest, &random(2 * n)));
        assert!(!v(&flip(&digest, i), &valid));
    }
}

#[test]
fn refusals_keep_their_return_values() {
    let pair = ec_key(Curve::P256);
    let k = &pair.k;
    let scheme = SignScheme::Ecdsa { hash: None };
    let e = local::verify(&k.public, &k.spki, &k.cache, scheme, &[0; 32], &[0; 63]).unwrap_err();
    assert_eq!(e.rv(), CKR_SIGNATURE_LEN_RANGE);
    let rsa = SignScheme::RsaPkcs1 { hash: None };
    let rsa_public = PublicKey::Rsa {
        modulus: vec![0xC5; 8],
        exponent: vec![1, 0, 1],
        bits: 64,
    };
    let e = local::verify(
        &rsa_public,
        &[],
        &VerifyKey::default(),
        scheme,
        &[0; 32],
        &[0; 8],
    );
    assert_eq!(e.unwrap_err().rv(), CKR_KEY_TYPE_INCONSISTENT);
    let e = local::verify(&k.public, &k.spki, &k.cache, rsa, &[0; 32], &[0; 64]);
    assert_eq!(e.unwrap_err().rv(), CKR_KEY_TYPE_INCONSISTENT);
    // A point off the curve: nothing verifies with it, and the refusal is remembered.
    let mut point = match &k.public {
        PublicKey::Ec { point, .. } => point.clone(),
        _ => unreachable!(),
    };
    point[40] ^= 1;
    // The SPKI's point is its last 65 bytes.
    let mut spki = k.spki.clone();
    let at = spki.len() - 65;
    spki[at..].copy_from_slice(&point);
    let bad = PublicKey::Ec {
        curve: Curve::P256,
        point,
    };
    let cache = VerifyKey::default();
    let digest = random(32);
    let sig = raw_sig(&EcdsaSig::sign(&digest, &pair.key).unwrap(), 32);
    for _ in 0..2 {
        assert!(!local::verify(&bad, &spki, &cache, scheme, &digest, &sig).unwrap());
        assert!(openssl::error::ErrorStack::get().errors().is_empty());
    }
    assert_eq!(format!("{cache:?}"), "VerifyKey(refused)");
    assert!(local::verify(&k.public, &k.spki, &k.cache, scheme, &digest, &sig).unwrap());
    assert_eq!(format!("{:?}", k.cache), "VerifyKey(parsed)");
}
