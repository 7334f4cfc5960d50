//! Key generation, signatures, decryption and approver signatures of the emulator, each
//! checked against an independent (RustCrypto) implementation where one exists.

use std::sync::OnceLock;

use openssl::hash::{hash, MessageDigest};
use openssl::sign::Signer;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign, Pss, RsaPublicKey};
use sha2::Digest;
use tsb_emulator::crypto::{
    certificate_spki_der, verify_approver_signature, CryptoError, Curve, KeyMaterial, KeySpec,
};

const MSG: &[u8] = b"The quick brown fox jumps over the lazy dog";

/// Keys are shared between tests: RSA generation is the slow part.
fn key(spec: KeySpec) -> &'static KeyMaterial {
    static RSA2048: OnceLock<KeyMaterial> = OnceLock::new();
    static P256: OnceLock<KeyMaterial> = OnceLock::new();
    static P384: OnceLock<KeyMaterial> = OnceLock::new();
    static P521: OnceLock<KeyMaterial> = OnceLock::new();
    static K256: OnceLock<KeyMaterial> = OnceLock::new();
    static ED: OnceLock<KeyMaterial> = OnceLock::new();
    let cell = match spec {
        KeySpec::Rsa(2048) => &RSA2048,
        KeySpec::Ec(Curve::P256) => &P256,
        KeySpec::Ec(Curve::P384) => &P384,
        KeySpec::Ec(Curve::P521) => &P521,
        KeySpec::Ec(Curve::Secp256k1) => &K256,
        KeySpec::Ed25519 => &ED,
        other => panic!("no shared key for {other:?}"),
    };
    cell.get_or_init(|| KeyMaterial::generate(spec).expect("keygen"))
}

fn rsa_pub(k: &KeyMaterial) -> RsaPublicKey {
    RsaPublicKey::from_public_key_der(&k.public_key_spki_der()).expect("RSA SPKI")
}

/// The subjectPublicKey BIT STRING contents of an SPKI (SEC1 point / raw Ed25519 key).
fn spki_key_bytes(der: &[u8]) -> Vec<u8> {
    let spki = spki::SubjectPublicKeyInfoRef::try_from(der).expect("SPKI");
    spki.subject_public_key.raw_bytes().to_vec()
}

fn sha(name: &str, data: &[u8]) -> Vec<u8> {
    let md = match name {
        "SHA1" => MessageDigest::sha1(),
        "SHA224" => MessageDigest::sha224(),
        "SHA256" => MessageDigest::sha256(),
        "SHA384" => MessageDigest::sha384(),
        "SHA512" => MessageDigest::sha512(),
        "SHA3224" => MessageDigest::sha3_224(),
        "SHA3256" => MessageDigest::sha3_256(),
        "SHA3384" => MessageDigest::sha3_384(),
        "SHA3512" => MessageDigest::sha3_512(),
        other => panic!("{other}"),
    };
    hash(md, data).unwrap().to_vec()
}

/// RustCrypto PKCS#1 v1.5 scheme (with the DigestInfo prefix of that hash).
fn pkcs1_scheme(h: &str) -> Pkcs1v15Sign {
    match h {
        "SHA1" => Pkcs1v15Sign::new::<sha1::Sha1>(),
        "SHA224" => Pkcs1v15Sign::new::<sha2::Sha224>(),
        "SHA256" => Pkcs1v15Sign::new::<sha2::Sha256>(),
        "SHA384" => Pkcs1v15Sign::new::<sha2::Sha384>(),
        "SHA512" => Pkcs1v15Sign::new::<sha2::Sha512>(),
        other => panic!("{other}"),
    }
}

/// RustCrypto PSS scheme: MGF1 with the same hash, salt length = hash length.
fn pss_scheme(h: &str) -> Pss {
    match h {
        "SHA1" => Pss::new::<sha1::Sha1>(),
        "SHA224" => Pss::new::<sha2::Sha224>(),
        "SHA256" => Pss::new::<sha2::Sha256>(),
        "SHA384" => Pss::new::<sha2::Sha384>(),
        "SHA512" => Pss::new::<sha2::Sha512>(),
        other => panic!("{other}"),
    }
}

fn tampered(sig: &[u8]) -> Vec<u8> {
    let mut t = sig.to_vec();
    let i = t.len() / 2;
    t[i] ^= 0x01;
    t
}

#[test]
fn every_key_spec_generates_and_round_trips_pkcs8() {
    let rsa4096 = KeyMaterial::generate(KeySpec::Rsa(4096)).unwrap();
    let rsa3072 = KeyMaterial::generate(KeySpec::Rsa(3072)).unwrap();
    for (k, bits) in [
        (key(KeySpec::Rsa(2048)), 2048),
        (&rsa3072, 3072),
        (&rsa4096, 4096),
    ] {
        assert_eq!(k.key_size(), Some(bits));
        assert_eq!(k.algorithm_name(), "RSA");
        assert_eq!(k.algorithm_oid(), "1.2.840.113549.1.1.1");
        assert_eq!(k.curve_oid(), None);
        let pubkey = rsa_pub(k);
        assert_eq!(pubkey.e(), &BigUint::from(65537u32));
        assert_eq!(pubkey.n().bits(), bits as usize);
    }
    for curve in [Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1] {
        assert_eq!(Curve::from_oid(curve.oid()), Some(curve));
        let k = key(KeySpec::Ec(curve));
        assert_eq!(k.algorithm_name(), "EC");
        assert_eq!(k.algorithm_oid(), "1.2.840.10045.2.1");
        assert_eq!(k.curve_oid(), Some(curve.oid()));
        assert_eq!(k.key_size(), None);
        let der = k.public_key_spki_der();
        let spki = spki::SubjectPublicKeyInfoRef::try_from(der.as_slice()).unwrap();
        let params = spki.algorithm.parameters_oid().unwrap();
        assert_eq!(params.to_string(), curve.oid());
    }
    assert_eq!(Curve::from_oid("1.2.3"), None);
    let ed = key(KeySpec::Ed25519);
    assert_eq!(ed.algorithm_name(), "ED");
    assert_eq!(ed.algorithm_oid(), "1.3.101.112");
    assert_eq!(ed.curve_oid(), Some("1.3.101.112"));
    assert_eq!(spki_key_bytes(&ed.public_key_spki_der()).len(), 32);

    let all = [
        key(KeySpec::Rsa(2048)),
        &rsa4096,
        key(KeySpec::Ec(Curve::P256)),
        key(KeySpec::Ec(Curve::P521)),
        key(KeySpec::Ec(Curve::Secp256k1)),
        ed,
    ];
    for k in all {
        let der = k.to_pkcs8_der().unwrap();
        let back = KeyMaterial::from_pkcs8_der(&der).unwrap();
        assert_eq!(back.spec, k.spec);
        assert_eq!(back.public_key_spki_der(), k.public_key_spki_der());
    }
    assert!(matches!(
        KeyMaterial::from_pkcs8_der(b"junk"),
        Err(CryptoError::UnsupportedKey(_))
    ));
    // The sizes the TSB generates (tsb_models::RSA_KEY_SIZES): 1024 too, not the rest. (8192
    // is accepted as well; generating one takes too long for a test.)
    let rsa1024 = KeyMaterial::generate(KeySpec::Rsa(1024)).unwrap();
    assert_eq!(rsa1024.key_size(), Some(1024));
    for bits in [512, 1536, 2047, 16384] {
        assert!(matches!(
            KeyMaterial::generate(KeySpec::Rsa(bits)),
            Err(CryptoError::UnsupportedKey(_))
        ));
    }
}

#[test]
fn rsa_pkcs1_signatures_verify_independently() {
    let k = key(KeySpec::Rsa(2048));
    let pubkey = rsa_pub(k);
    for h in ["SHA1", "SHA224", "SHA256", "SHA384", "SHA512"] {
        let digest = sha(h, MSG);
        // Hashing variant.
        let alg = format!("{h}_WITH_RSA");
        let sig = k.sign(&alg, MSG).unwrap();
        assert_eq!(sig.len(), 256);
        assert!(k.verify(&alg, MSG, &sig).unwrap(), "{alg}");
        assert!(!k.verify(&alg, MSG, &tampered(&sig)).unwrap(), "{alg}");
        assert!(!k.verify(&alg, b"other", &sig).unwrap(), "{alg}");
        pubkey.verify(pkcs1_scheme(h), &digest, &sig).expect(&alg);
        // Pre-hashed variant: the same signature (PKCS#1 v1.5 is deterministic).
        let alg = format!("NONE{h}_WITH_RSA");
        let sig2 = k.sign(&alg, &digest).unwrap();
        assert_eq!(sig2, sig, "{alg}");
        assert!(k.verify(&alg, &digest, &sig2).unwrap(), "{alg}");
        assert!(
            matches!(k.sign(&alg, MSG), Err(CryptoError::InvalidPayload(_))),
            "{alg}"
        );
        // NONE_WITH_RSA with a caller-made DigestInfo: again the same signature.
        let digest_info = [pkcs1_digest_info_prefix(h), digest.clone()].concat();
        let sig3 = k.sign("NONE_WITH_RSA", &digest_info).unwrap();
        assert_eq!(sig3, sig, "NONE_WITH_RSA {h}");
        assert!(k.verify("NONE_WITH_RSA", &digest_info, &sig3).unwrap());
    }
    // NONE_WITH_RSA signs arbitrary bytes up to k - 11.
    let raw = vec![0x5a; 245];
    let sig = k.sign("NONE_WITH_RSA", &raw).unwrap();
    pubkey
        .verify(Pkcs1v15Sign::new_unprefixed(), &raw, &sig)
        .unwrap();
    assert!(!k.verify("NONE_WITH_RSA", &raw[1..], &sig).unwrap());
    assert!(matches!(
        k.sign("NONE_WITH_RSA", &[0x5a; 246]),
        Err(CryptoError::InvalidPayload(_))
    ));
    assert!(matches!(
        k.sign("NONE_WITH_RSA", &[]),
        Err(CryptoError::InvalidPayload(_))
    ));
}

/// DER DigestInfo prefixes (RFC 8017 §9.2 note 1).
fn pkcs1_digest_info_prefix(h: &str) -> Vec<u8> {
    let hex = match h {
        "SHA1" => "3021300906052b0e03021a05000414",
        "SHA224" => "302d300d06096086480165030402040500041c",
        "SHA256" => "3031300d060960864801650304020105000420",
        "SHA384" => "3041300d060960864801650304020205000430",
        "SHA512" => "3051300d060960864801650304020305000440",
        other => panic!("{other}"),
    };
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn rsa_pss_signatures_verify_independently() {
    let k = key(KeySpec::Rsa(2048));
    let pubkey = rsa_pub(k);
    for h in ["SHA1", "SHA224", "SHA256", "SHA384", "SHA512"] {
        let digest = sha(h, MSG);
        // There is no NONESHA1_WITH_RSA_PSS (audit divergence #5).
        let prehashed = (h != "SHA1").then(|| (format!("NONE{h}_WITH_RSA_PSS"), digest.clone()));
        for (alg, payload) in [
            (format!("{h}_WITH_RSA_PSS"), MSG.to_vec()),
            ("NONE_WITH_RSA_PSS".to_string(), digest.clone()),
        ]
        .into_iter()
        .chain(prehashed)
        {
            let sig = k.sign(&alg, &payload).unwrap();
            assert!(k.verify(&alg, &payload, &sig).unwrap(), "{alg}");
            assert!(!k.verify(&alg, &payload, &tampered(&sig)).unwrap(), "{alg}");
            pubkey.verify(pss_scheme(h), &digest, &sig).expect(&alg);
        }
        if h != "SHA1" {
            assert!(matches!(
                k.sign(&format!("NONE{h}_WITH_RSA_PSS"), &digest[1..]),
                Err(CryptoError::InvalidPayload(_))
            ));
        }
    }
    assert!(matches!(
        k.sign("NONE_WITH_RSA_PSS", &[1; 33]),
        Err(CryptoError::InvalidPayload(_))
    ));
}

/// Verify a DER ECDSA signature over `prehash` with RustCrypto, for the curve of `k`.
///
/// RustCrypto refuses pre-hashes shorter than half the field size (SHA-1 on P-384, SHA-1/224
/// on P-521) although ECDSA defines them; those combinations are only checked by OpenSSL.
fn ecdsa_verify_independently(k: &KeyMaterial, prehash: &[u8], der_sig: &[u8]) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let min = match k.spec {
        KeySpec::Ec(Curve::P384) => 24,
        KeySpec::Ec(Curve::P521) => 33,
        _ => 16,
    };
    if prehash.len() < min {
        return true;
    }
    let point = spki_key_bytes(&k.public_key_spki_der());
    match k.spec {
        KeySpec::Ec(Curve::P256) => {
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
            let sig = p256::ecdsa::Signature::from_der(der_sig).unwrap();
            vk.verify_prehash(prehash, &sig).is_ok()
        }
        KeySpec::Ec(Curve::P384) => {
            let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
            let sig = p384::ecdsa::Signature::from_der(der_sig).unwrap();
            vk.verify_prehash(prehash, &sig).is_ok()
        }
        KeySpec::Ec(Curve::P521) => {
            let vk = p521::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
            let sig = p521::ecdsa::Signature::from_der(der_sig).unwrap();
            vk.verify_prehash(prehash, &sig).is_ok()
        }
        KeySpec::Ec(Curve::Secp256k1) => {
            let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
            let sig = k256::ecdsa::Signature::from_der(der_sig).unwrap();
            // k256 only accepts low-S signatures; OpenSSL does not normalise S.
            let sig = sig.normalize_s().unwrap_or(sig);
            vk.verify_prehash(prehash, &sig).is_ok()
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ecdsa_signatures_verify_independently() {
    for curve in [Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1] {
        let k = key(KeySpec::Ec(curve));
        for h in [
            "SHA1", "SHA224", "SHA256", "SHA384", "SHA512", "SHA3224", "SHA3256", "SHA3384",
            "SHA3512",
        ] {
            let alg = format!("{h}_WITH_ECDSA");
            let sig = k.sign(&alg, MSG).unwrap();
            assert_eq!(sig[0], 0x30, "DER SEQUENCE");
            assert!(k.verify(&alg, MSG, &sig).unwrap(), "{curve:?} {alg}");
            assert!(!k.verify(&alg, b"other", &sig).unwrap(), "{curve:?} {alg}");
            assert!(
                !k.verify(&alg, MSG, &tampered(&sig)).unwrap(),
                "{curve:?} {alg}"
            );
            let digest = sha(h, MSG);
            assert!(
                ecdsa_verify_independently(k, &digest, &sig),
                "{curve:?} {alg}"
            );
            // NONE_WITH_ECDSA over the digest gives an equally valid signature.
            let sig = k.sign("NONE_WITH_ECDSA", &digest).unwrap();
            assert!(k.verify("NONE_WITH_ECDSA", &digest, &sig).unwrap());
            assert!(
                k.verify(&alg, MSG, &sig).unwrap(),
                "{curve:?} NONE vs {alg}"
            );
            assert!(
                ecdsa_verify_independently(k, &digest, &sig),
                "{curve:?} NONE {h}"
            );
        }
        let double = sha("SHA256", &sha("SHA256", MSG));
        let sig = k.sign("DOUBLE_SHA256_WITH_ECDSA", MSG).unwrap();
        assert!(k.verify("DOUBLE_SHA256_WITH_ECDSA", MSG, &sig).unwrap());
        assert!(ecdsa_verify_independently(k, &double, &sig));
        // Garbage is "does not verify", not an error.
        assert!(!k.verify("SHA256_WITH_ECDSA", MSG, b"not DER").unwrap());
    }
}

#[test]
fn eddsa_signatures_verify_independently() {
    use ed25519_dalek::Verifier as _;
    let k = key(KeySpec::Ed25519);
    let sig = k.sign("EDDSA", MSG).unwrap();
    assert_eq!(sig.len(), 64);
    assert!(k.verify("EDDSA", MSG, &sig).unwrap());
    assert!(!k.verify("EDDSA", MSG, &tampered(&sig)).unwrap());
    assert!(!k.verify("EDDSA", MSG, &sig[..63]).unwrap());
    let raw: [u8; 32] = spki_key_bytes(&k.public_key_spki_der()).try_into().unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&raw).unwrap();
    let dsig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
    vk.verify(MSG, &dsig).unwrap();
    // Empty messages are legitimate for EdDSA.
    let sig = k.sign("EDDSA", b"").unwrap();
    assert!(k.verify("EDDSA", b"", &sig).unwrap());
}

#[test]
fn algorithms_must_fit_the_key() {
    let rsa = key(KeySpec::Rsa(2048));
    let ec = key(KeySpec::Ec(Curve::P256));
    let ed = key(KeySpec::Ed25519);
    let not_supported = |r: Result<Vec<u8>, CryptoError>| {
        matches!(r, Err(CryptoError::AlgorithmNotSupportedByKey(_)))
    };
    assert!(not_supported(rsa.sign("SHA256_WITH_ECDSA", MSG)));
    assert!(not_supported(rsa.sign("EDDSA", MSG)));
    assert!(not_supported(ec.sign("SHA256_WITH_RSA", MSG)));
    assert!(not_supported(ec.sign("EDDSA", MSG)));
    assert!(not_supported(ed.sign("SHA256_WITH_ECDSA", MSG)));
    assert!(not_supported(ed.sign("NONE_WITH_RSA", MSG)));
    assert!(not_supported(rsa.sign("SHA256_WITH_DSA", MSG)));
    assert!(not_supported(rsa.sign("sha256_with_rsa", MSG)));
    assert!(not_supported(ec.sign("NONESHA256_WITH_ECDSA", MSG)));
    assert!(matches!(
        rsa.verify("SHA256_WITH_ECDSA", MSG, b""),
        Err(CryptoError::AlgorithmNotSupportedByKey(_))
    ));
    assert!(not_supported(ec.decrypt("RSA", &[0; 64])));
    assert!(not_supported(ed.decrypt("RSA_PADDING_OAEP", &[0; 64])));
    assert!(not_supported(rsa.decrypt("AES_GCM", &[0; 256])));
}

#[test]
fn rsa_decrypt_of_independent_ciphertexts() {
    let k = key(KeySpec::Rsa(2048));
    let pubkey = rsa_pub(k);
    let mut rng = rsa::rand_core::OsRng;
    let secret = b"0123456789abcdef0123456789abcdef";

    for name in ["RSA", "RSA_PADDING_PKCS"] {
        let ct = pubkey.encrypt(&mut rng, Pkcs1v15Encrypt, secret).unwrap();
        assert_eq!(k.decrypt(name, &ct).unwrap(), secret, "{name}");
        assert!(
            matches!(
                k.decrypt(name, &tampered(&ct)),
                Err(CryptoError::DecryptFailed(_))
            ),
            "{name}"
        );
    }
    for name in ["RSA_PADDING_OAEP", "RSA_PADDING_OAEP_WITH_SHA1"] {
        let ct = pubkey
            .encrypt(&mut rng, Oaep::new::<sha1::Sha1>(), secret)
            .unwrap();
        assert_eq!(k.decrypt(name, &ct).unwrap(), secret, "{name}");
        assert!(matches!(
            k.decrypt(name, &tampered(&ct)),
            Err(CryptoError::DecryptFailed(_))
        ));
        // OAEP-SHA-1 ciphertext does not decrypt as OAEP-SHA-256.
        assert!(matches!(
            k.decrypt("RSA_PADDING_OAEP_WITH_SHA256", &ct),
            Err(CryptoError::DecryptFailed(_))
        ));
    }
    let cases: [(&str, Oaep); 4] = [
        ("RSA_PADDING_OAEP_WITH_SHA224", Oaep::new::<sha2::Sha224>()),
        ("RSA_PADDING_OAEP_WITH_SHA256", Oaep::new::<sha2::Sha256>()),
        ("RSA_PADDING_OAEP_WITH_SHA384", Oaep::new::<sha2::Sha384>()),
        ("RSA_PADDING_OAEP_WITH_SHA512", Oaep::new::<sha2::Sha512>()),
    ];
    for (name, padding) in cases {
        let ct = pubkey.encrypt(&mut rng, padding, secret).unwrap();
        assert_eq!(k.decrypt(name, &ct).unwrap(), secret, "{name}");
    }
    // Raw RSA: c = m^e mod n computed by hand; the full 256-byte block comes back.
    let mut block = vec![0u8; 256];
    block[200..].copy_from_slice(&[0x42; 56]);
    let c = BigUint::from_bytes_be(&block).modpow(pubkey.e(), pubkey.n());
    let mut ct = c.to_bytes_be();
    while ct.len() < 256 {
        ct.insert(0, 0);
    }
    assert_eq!(k.decrypt("RSA_NO_PADDING", &ct).unwrap(), block);
    // Wrong length.
    assert!(matches!(
        k.decrypt("RSA", &[ct.clone(), vec![0]].concat()),
        Err(CryptoError::DecryptFailed(_))
    ));
    assert!(matches!(
        k.decrypt("RSA", &[]),
        Err(CryptoError::DecryptFailed(_))
    ));
    // Leading zero bytes may be missing (the ciphertext is an integer).
    let short = k.decrypt("RSA_NO_PADDING", &ct[1..]).unwrap();
    assert_eq!(short.len(), 256);
    // A value >= n does not decrypt.
    assert!(matches!(
        k.decrypt("RSA_NO_PADDING", &[0xff; 256]),
        Err(CryptoError::DecryptFailed(_))
    ));
}

fn openssl_sign(k: &KeyMaterial, md: Option<MessageDigest>, data: &[u8]) -> Vec<u8> {
    let mut s = match md {
        Some(md) => Signer::new(md, &k.pkey).unwrap(),
        None => Signer::new_without_digest(&k.pkey).unwrap(),
    };
    s.sign_oneshot_to_vec(data).unwrap()
}

#[test]
fn approver_signatures() {
    let data = b"2024-01-23T11:27:12Z";
    let rsa = key(KeySpec::Rsa(2048));
    let p256 = key(KeySpec::Ec(Curve::P256));
    let p384 = key(KeySpec::Ec(Curve::P384));
    let ed = key(KeySpec::Ed25519);
    let cases: Vec<(&KeyMaterial, &str, Option<MessageDigest>)> = vec![
        (rsa, "SHA-224", Some(MessageDigest::sha224())),
        (rsa, "SHA-256", Some(MessageDigest::sha256())),
        (rsa, "SHA-384", Some(MessageDigest::sha384())),
        (rsa, "SHA-512", Some(MessageDigest::sha512())),
        (rsa, "SHA3-256", Some(MessageDigest::sha3_256())),
        (p256, "SHA-256", Some(MessageDigest::sha256())),
        (p256, "SHA3-512", Some(MessageDigest::sha3_512())),
        (p384, "SHA-384", Some(MessageDigest::sha384())),
        (ed, "EdDSA", None),
        (ed, "ED25519", None),
        (ed, "NONE", None),
    ];
    for (k, digest, md) in cases {
        let sig = openssl_sign(k, md, data);
        let spki = k.public_key_spki_der();
        assert!(
            verify_approver_signature(&spki, false, digest, data, &sig).unwrap(),
            "{digest}"
        );
        assert!(
            !verify_approver_signature(&spki, false, digest, data, &tampered(&sig)).unwrap(),
            "{digest}"
        );
        assert!(
            !verify_approver_signature(&spki, false, digest, b"other data", &sig).unwrap(),
            "{digest}"
        );
        // The same key presented as a certificate.
        let pem = tsb_emulator::x509::self_sign(
            k,
            match k.spec {
                KeySpec::Rsa(_) => "SHA256_WITH_RSA",
                KeySpec::Ec(_) => "SHA256_WITH_ECDSA",
                KeySpec::Ed25519 => "EDDSA",
            },
            "approver",
            30,
            false,
            &[],
            &[],
        )
        .unwrap();
        let cert = tsb_emulator::x509::certificate_to_der(&pem).unwrap();
        assert_eq!(certificate_spki_der(&cert).unwrap(), spki);
        assert!(
            verify_approver_signature(&cert, true, digest, data, &sig).unwrap(),
            "{digest} cert"
        );
        assert!(!verify_approver_signature(&cert, true, digest, data, &tampered(&sig)).unwrap());
    }
    // An RSA signature checked with the wrong digest is just invalid.
    let sig = openssl_sign(rsa, Some(MessageDigest::sha256()), data);
    let spki = rsa.public_key_spki_der();
    assert!(!verify_approver_signature(&spki, false, "SHA-512", data, &sig).unwrap());
    assert!(!verify_approver_signature(&spki, false, "EdDSA", data, &sig).unwrap());
    assert!(matches!(
        verify_approver_signature(&spki, false, "MD5", data, &sig),
        Err(CryptoError::InvalidApproverKey(_))
    ));
    assert!(matches!(
        verify_approver_signature(b"garbage", false, "SHA-256", data, &sig),
        Err(CryptoError::InvalidApproverKey(_))
    ));
    // An SPKI is not a certificate.
    assert!(matches!(
        verify_approver_signature(&spki, true, "SHA-256", data, &sig),
        Err(CryptoError::InvalidApproverKey(_))
    ));
    assert!(matches!(
        certificate_spki_der(&spki),
        Err(CryptoError::InvalidApproverKey(_))
    ));
    // The seed's approver key parses (RSA-2048 SPKI).
    let seed = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApLwHSQM4sd93UtEJ+t6G22sopYmL6roZxQGL0GWn7WAaiogfQ5EOM+sYQyeJgtuLQkdfwDBnScJx7IgBiOKFpXdaM9i08hSljFlbTT7zP0XjojtGD4U27nLuLqGUhmloLtc+6yBK2FL/7QWB2c9tyCgHiIhmXZesBhZRRFdrpwP66XoGIsgxt1AxFjV1z5MG0g7DULfUSqWG7gGOxvwITFwmqDwuA6rh952X5iJ7zopSSmGhrTeFrV/1Io0E8SsJhRM9m7BOdcg/X6X+5iqK5Obp6Js18Y7eddf/Q5amQSzwlXx6mJAyj2//1DnGz0UbacKStqgZZiC0xAhLEwo7XQIDAQAB";
    let der = openssl::base64::decode_block(seed).unwrap();
    assert!(!verify_approver_signature(&der, false, "SHA-256", data, &sig).unwrap());
    // sha2 is used above only through openssl; keep the RustCrypto digest honest too.
    assert_eq!(sha2::Sha256::digest(MSG).to_vec(), sha("SHA256", MSG));
}
