//! Issue 4: every mechanism checked by an independent implementation (OpenSSL with the public key
//! read from the emulator, not from the module), keys refused before any request, 16 parallel
//! waits through the C ABI, a forked child and C_Finalize from an atexit handler. The approval
//! wait in every terminal state, our timeout and resume, cancel, and length queries and short
//! buffers without a second request are tested in-process (`src/token/tests`).

mod common;

use common::{ec_params, rv};

use base64::Engine;
use common::{raw, Env, Opts};
use cryptoki::error::RvError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::sign::{RsaPssSaltlen, Verifier};
const CKA_TSB_POLICY: u64 = 0xD453_0001;

/// Generate a key pair; `policy` JSON makes it approval-gated.
fn gen(
    s: &Session,
    kind: &str,
    label: &str,
    policy: Option<&serde_json::Value>,
    decrypt: bool,
) -> (ObjectHandle, ObjectHandle) {
    let mut private = vec![
        Attribute::Token(true),
        Attribute::Label(label.into()),
        Attribute::Sign(true),
        Attribute::Decrypt(decrypt),
    ];
    if let Some(p) = policy {
        private.push(Attribute::VendorDefined((
            AttributeType::VendorDefined(CKA_TSB_POLICY),
            p.to_string().into_bytes(),
        )));
    }
    let (mech, public) = match kind {
        "rsa" => (
            Mechanism::RsaPkcsKeyPairGen,
            vec![
                Attribute::ModulusBits(2048.into()),
                Attribute::Label(label.into()),
            ],
        ),
        "p256" => (
            Mechanism::EccKeyPairGen,
            vec![
                Attribute::EcParams(ec_params("1.2.840.10045.3.1.7")),
                Attribute::Label(label.into()),
            ],
        ),
        "p384" => (
            Mechanism::EccKeyPairGen,
            vec![
                Attribute::EcParams(ec_params("1.3.132.0.34")),
                Attribute::Label(label.into()),
            ],
        ),
        "p521" => (
            Mechanism::EccKeyPairGen,
            vec![
                Attribute::EcParams(ec_params("1.3.132.0.35")),
                Attribute::Label(label.into()),
            ],
        ),
        "ed" => (
            Mechanism::EccEdwardsKeyPairGen,
            vec![
                Attribute::EcParams(ec_params("1.3.101.112")),
                Attribute::Label(label.into()),
            ],
        ),
        _ => unreachable!(),
    };
    let public = [public, vec![Attribute::Token(true)]].concat();
    s.generate_key_pair(&mech, &public, &private)
        .expect("keygen")
}

/// The public key as the emulator has it (independent of the module).
fn tsb_public_key(env: &Env, label: &str) -> PKey<Public> {
    let r: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/v1/key/attributes", env.emu.base_url()))
        .json(&serde_json::json!({"label": label}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(r["json"]["publicKey"].as_str().unwrap())
        .unwrap();
    PKey::public_key_from_der(&der).unwrap()
}

fn raw_to_der_ecdsa(sig: &[u8]) -> Vec<u8> {
    let (r, s) = sig.split_at(sig.len() / 2);
    let r = openssl::bn::BigNum::from_slice(r).unwrap();
    let s = openssl::bn::BigNum::from_slice(s).unwrap();
    openssl::ecdsa::EcdsaSig::from_private_components(r, s)
        .unwrap()
        .to_der()
        .unwrap()
}

fn verify_md(pk: &PKey<Public>, md: MessageDigest, data: &[u8], sig: &[u8], pss: bool) -> bool {
    let mut v = Verifier::new(md, pk).unwrap();
    if pss {
        v.set_rsa_padding(openssl::rsa::Padding::PKCS1_PSS).unwrap();
        v.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH).unwrap();
        v.set_rsa_mgf1_md(md).unwrap();
    }
    v.verify_oneshot(sig, data).unwrap()
}

isolated!(
    fn rsa_mechanisms_verified_by_openssl() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let (pubh, privh) = gen(&s, "rsa", "rsa", None, true);
        let pk = tsb_public_key(&env, "rsa");
        let data = b"the quick brown fox".repeat(100);
        for (mech, md) in [
            (Mechanism::Sha1RsaPkcs, MessageDigest::sha1()),
            (Mechanism::Sha224RsaPkcs, MessageDigest::sha224()),
            (Mechanism::Sha256RsaPkcs, MessageDigest::sha256()),
            (Mechanism::Sha384RsaPkcs, MessageDigest::sha384()),
            (Mechanism::Sha512RsaPkcs, MessageDigest::sha512()),
        ] {
            let sig = s.sign(&mech, privh, &data).unwrap();
            assert_eq!(sig.len(), 256);
            assert!(verify_md(&pk, md, &data, &sig, false), "{mech:?}");
            s.verify(&mech, pubh, &data, &sig).unwrap();
            let mut bad = sig.clone();
            bad[10] ^= 1;
            assert_eq!(
                rv(s.verify(&mech, pubh, &data, &bad).unwrap_err()),
                RvError::SignatureInvalid
            );
        }
        // CKM_RSA_PKCS over a DigestInfo is the same signature as SHA256_RSA_PKCS.
        let digest = openssl::hash::hash(MessageDigest::sha256(), &data).unwrap();
        let mut di = vec![
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ];
        di.extend_from_slice(&digest);
        let sig = s.sign(&Mechanism::RsaPkcs, privh, &di).unwrap();
        assert!(verify_md(&pk, MessageDigest::sha256(), &data, &sig, false));
        // CKM_RSA_PKCS over raw data: openssl's raw RSA public decrypt recovers it.
        let sig = s.sign(&Mechanism::RsaPkcs, privh, b"raw bytes").unwrap();
        let rsa = pk.rsa().unwrap();
        let mut out = vec![0u8; 256];
        let n = rsa
            .public_decrypt(&sig, &mut out, openssl::rsa::Padding::PKCS1)
            .unwrap();
        assert_eq!(&out[..n], b"raw bytes");
        // PSS, hashed by the module and prehashed by the caller.
        // PSS with SHA-1 has no pre-hashed TSB name (audit divergence #5): CKM_SHA1_RSA_PKCS_PSS
        // sends the data with SHA1_WITH_RSA_PSS; a caller's SHA-1 digest cannot be signed.
        let sha1 = PkcsPssParams {
            hash_alg: MechanismType::SHA1,
            mgf: PkcsMgfType::MGF1_SHA1,
            s_len: 20.into(),
        };
        let sig = s
            .sign(&Mechanism::Sha1RsaPkcsPss(sha1), privh, &data)
            .unwrap();
        assert!(verify_md(&pk, MessageDigest::sha1(), &data, &sig, true));
        assert_eq!(
            rv(s.sign(&Mechanism::RsaPkcsPss(sha1), privh, &[0u8; 20])
                .unwrap_err()),
            RvError::MechanismParamInvalid
        );
        for (mech, h, md) in [
            (
                MechanismType::SHA256_RSA_PKCS_PSS,
                MechanismType::SHA256,
                MessageDigest::sha256(),
            ),
            (
                MechanismType::SHA384_RSA_PKCS_PSS,
                MechanismType::SHA384,
                MessageDigest::sha384(),
            ),
            (
                MechanismType::SHA512_RSA_PKCS_PSS,
                MechanismType::SHA512,
                MessageDigest::sha512(),
            ),
        ] {
            let mgf = match h {
                MechanismType::SHA256 => PkcsMgfType::MGF1_SHA256,
                MechanismType::SHA384 => PkcsMgfType::MGF1_SHA384,
                _ => PkcsMgfType::MGF1_SHA512,
            };
            let params = PkcsPssParams {
                hash_alg: h,
                mgf,
                s_len: (md.size() as u64).into(),
            };
            let m = match mech {
                MechanismType::SHA256_RSA_PKCS_PSS => Mechanism::Sha256RsaPkcsPss(params),
                MechanismType::SHA384_RSA_PKCS_PSS => Mechanism::Sha384RsaPkcsPss(params),
                _ => Mechanism::Sha512RsaPkcsPss(params),
            };
            let sig = s.sign(&m, privh, &data).unwrap();
            assert!(verify_md(&pk, md, &data, &sig, true), "{mech:?}");
            s.verify(&m, pubh, &data, &sig).unwrap();
            let digest = openssl::hash::hash(md, &data).unwrap();
            let sig = s
                .sign(&Mechanism::RsaPkcsPss(params), privh, &digest)
                .unwrap();
            assert!(verify_md(&pk, md, &data, &sig, true), "prehashed {mech:?}");
        }
        // Salt length other than the hash length is refused clearly.
        let bad = PkcsPssParams {
            hash_alg: MechanismType::SHA256,
            mgf: PkcsMgfType::MGF1_SHA256,
            s_len: 20.into(),
        };
        assert_eq!(
            rv(s.sign(&Mechanism::RsaPkcsPss(bad), privh, &[0u8; 32])
                .unwrap_err()),
            RvError::MechanismParamInvalid
        );
        // Multi-part.
        s.sign_init(&Mechanism::Sha256RsaPkcs, privh).unwrap();
        for chunk in data.chunks(7) {
            s.sign_update(chunk).unwrap();
        }
        let sig = s.sign_final().unwrap();
        assert!(verify_md(&pk, MessageDigest::sha256(), &data, &sig, false));
        // Hash-then-sign sends the digest, not the data.
        let big = vec![7u8; 2 * 1024 * 1024];
        let sig = s.sign(&Mechanism::Sha256RsaPkcs, privh, &big).unwrap();
        assert!(verify_md(&pk, MessageDigest::sha256(), &big, &sig, false));
        // Decryption: encrypt with OpenSSL, decrypt through the module.
        let rsa = pk.rsa().unwrap();
        let mut ct = vec![0u8; 256];
        rsa.public_encrypt(b"secret", &mut ct, openssl::rsa::Padding::PKCS1)
            .unwrap();
        assert_eq!(
            s.decrypt(&Mechanism::RsaPkcs, privh, &ct).unwrap(),
            b"secret"
        );
        for (h, mgf) in [
            (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
            (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
        ] {
            let oaep = PkcsOaepParams::new(h, mgf, PkcsOaepSource::empty());
            let ct = s
                .encrypt(&Mechanism::RsaPkcsOaep(oaep), pubh, b"oaep secret")
                .unwrap();
            assert_eq!(
                s.decrypt(&Mechanism::RsaPkcsOaep(oaep), privh, &ct)
                    .unwrap(),
                b"oaep secret"
            );
        }
        // OAEP SHA-256 ciphertext from OpenSSL.
        let mut ctx = openssl::pkey_ctx::PkeyCtx::new(&pk).unwrap();
        ctx.encrypt_init().unwrap();
        ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP)
            .unwrap();
        ctx.set_rsa_oaep_md(openssl::md::Md::sha256()).unwrap();
        ctx.set_rsa_mgf1_md(openssl::md::Md::sha256()).unwrap();
        let mut ct = vec![];
        ctx.encrypt_to_vec(b"from openssl", &mut ct).unwrap();
        let oaep = PkcsOaepParams::new(
            MechanismType::SHA256,
            PkcsMgfType::MGF1_SHA256,
            PkcsOaepSource::empty(),
        );
        assert_eq!(
            s.decrypt(&Mechanism::RsaPkcsOaep(oaep), privh, &ct)
                .unwrap(),
            b"from openssl"
        );
        // Digest.
        assert_eq!(
            s.digest(&Mechanism::Sha256, b"abc").unwrap(),
            openssl::hash::hash(MessageDigest::sha256(), b"abc")
                .unwrap()
                .to_vec()
        );
        assert_eq!(
            s.digest(&Mechanism::Sha1, b"abc").unwrap(),
            openssl::hash::hash(MessageDigest::sha1(), b"abc")
                .unwrap()
                .to_vec()
        );
    }
);

isolated!(
    fn ec_and_ed_mechanisms_verified_by_openssl() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let data = b"message to sign".to_vec();
        for (kind, len) in [("p256", 64usize), ("p384", 96), ("p521", 132)] {
            let (pubh, privh) = gen(&s, kind, kind, None, false);
            let pk = tsb_public_key(&env, kind);
            for (mech, md) in [
                (Mechanism::EcdsaSha1, MessageDigest::sha1()),
                (Mechanism::EcdsaSha224, MessageDigest::sha224()),
                (Mechanism::EcdsaSha256, MessageDigest::sha256()),
                (Mechanism::EcdsaSha384, MessageDigest::sha384()),
                (Mechanism::EcdsaSha512, MessageDigest::sha512()),
            ] {
                let sig = s.sign(&mech, privh, &data).unwrap();
                assert_eq!(sig.len(), len, "r||s fixed width");
                assert!(
                    verify_md(&pk, md, &data, &raw_to_der_ecdsa(&sig), false),
                    "{kind} {mech:?}"
                );
                s.verify(&mech, pubh, &data, &sig)
                    .unwrap_or_else(|e| panic!("{kind} {mech:?}: {e}"));
            }
            let digest = openssl::hash::hash(MessageDigest::sha256(), &data).unwrap();
            let sig = s.sign(&Mechanism::Ecdsa, privh, &digest).unwrap();
            assert!(verify_md(
                &pk,
                MessageDigest::sha256(),
                &data,
                &raw_to_der_ecdsa(&sig),
                false
            ));
            s.verify(&Mechanism::Ecdsa, pubh, &digest, &sig).unwrap();
        }
        let (pubh, privh) = gen(&s, "ed", "ed", None, false);
        let pk = tsb_public_key(&env, "ed");
        let params = cryptoki::mechanism::eddsa::EddsaParams::new(
            cryptoki::mechanism::eddsa::EddsaSignatureScheme::Pure,
        );
        let sig = s.sign(&Mechanism::Eddsa(params), privh, &data).unwrap();
        assert_eq!(sig.len(), 64);
        let mut v = Verifier::new_without_digest(&pk).unwrap();
        assert!(v.verify_oneshot(&sig, &data).unwrap());
        s.verify(&Mechanism::Eddsa(params), pubh, &data, &sig)
            .unwrap();
        // Mechanism and key mismatch, decrypt with an EC key: refused before any request.
        let (_, ec) = s
            .find_objects(&[
                Attribute::Label("p256".into()),
                Attribute::Class(ObjectClass::PRIVATE_KEY),
            ])
            .map(|v| ((), v[0]))
            .unwrap();
        env.emu.reset_counts();
        assert_eq!(
            rv(s.sign(&Mechanism::Sha256RsaPkcs, ec, &data).unwrap_err()),
            RvError::KeyTypeInconsistent
        );
        assert_eq!(
            rv(s.decrypt(&Mechanism::RsaPkcs, ec, &[0u8; 64]).unwrap_err()),
            RvError::KeyTypeInconsistent
        );
        assert!(env.emu.request_counts().is_empty());
    }
);

isolated!(
    fn refused_before_any_request() {
        let env = Env::new(Opts::default());
        let s = env.session();
        // A key that may not sign.
        let public = [
            Attribute::Token(true),
            Attribute::ModulusBits(2048.into()),
            Attribute::Label("nosign".into()),
        ];
        let (_, nosign) = s
            .generate_key_pair(
                &Mechanism::RsaPkcsKeyPairGen,
                &public,
                &[
                    Attribute::Token(true),
                    Attribute::Sign(false),
                    Attribute::Decrypt(true),
                ],
            )
            .unwrap();
        let (_, signer) = gen(&s, "rsa", "signer", None, false);
        env.emu.reset_counts();
        assert_eq!(
            rv(s.sign(&Mechanism::Sha256RsaPkcs, nosign, b"x").unwrap_err()),
            RvError::KeyFunctionNotPermitted
        );
        assert_eq!(
            rv(s.decrypt(&Mechanism::RsaPkcs, signer, &[0u8; 256])
                .unwrap_err()),
            RvError::KeyFunctionNotPermitted
        );
        // Data too long for CKM_RSA_PKCS, wrong ciphertext length.
        assert_eq!(
            rv(s.sign(&Mechanism::RsaPkcs, signer, &[1u8; 250])
                .unwrap_err()),
            RvError::DataLenRange
        );
        assert_eq!(
            rv(s.decrypt(&Mechanism::RsaPkcs, nosign, &[0u8; 100])
                .unwrap_err()),
            RvError::EncryptedDataLenRange
        );
        assert!(
            env.emu.request_counts().is_empty(),
            "{:?}",
            env.emu.request_counts()
        );
        // Operation state errors.
        assert_eq!(
            rv(s.sign_update(b"x").unwrap_err()),
            RvError::OperationNotInitialized
        );
        s.sign_init(&Mechanism::Sha256RsaPkcs, signer).unwrap();
        assert_eq!(
            rv(s.sign_init(&Mechanism::Sha256RsaPkcs, signer).unwrap_err()),
            RvError::OperationActive
        );
    }
);

isolated!(
    fn blocked_key_is_refused() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let mut policy = env.policy(600);
        policy["keyStatus"]["blocked"] = serde_json::json!(true);
        let (_, k) = gen(&s, "rsa", "blocked", Some(&policy), false);
        env.emu.reset_counts();
        assert_eq!(
            rv(s.sign(&Mechanism::Sha256RsaPkcs, k, b"x").unwrap_err()),
            RvError::KeyFunctionNotPermitted
        );
        assert_eq!(env.count("POST", "/v1/sign"), 0);
    }
);

isolated!(
    fn sixteen_parallel_waits() {
        let env = Env::new(Opts::default());
        let s = env.session();
        gen(&s, "p256", "ska", Some(&env.policy(600)), false);
        let k = s
            .find_objects(&[
                Attribute::Label("ska".into()),
                Attribute::Class(ObjectClass::PRIVATE_KEY),
            ])
            .unwrap()[0];
        let pk = tsb_public_key(&env, "ska");
        env.emu.reset_counts();
        let bg = env.auto_approve(16);
        let sigs: Vec<Vec<u8>> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..16)
                .map(|i| {
                    let env = &env;
                    sc.spawn(move || {
                        let sess = env.session();
                        let msg = format!("artifact {i}");
                        let sig = sess
                            .sign(&Mechanism::EcdsaSha256, k, msg.as_bytes())
                            .unwrap();
                        (msg, sig)
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| {
                    let (msg, sig) = h.join().unwrap();
                    assert!(verify_md(
                        &pk,
                        MessageDigest::sha256(),
                        msg.as_bytes(),
                        &raw_to_der_ecdsa(&sig),
                        false
                    ));
                    sig
                })
                .collect()
        });
        assert_eq!(sigs.len(), 16);
        assert_eq!(env.count("POST", "/v1/sign"), 16);
        bg.join().unwrap().unwrap();
    }
);

isolated!(
    fn forked_child_gets_a_fresh_http_client() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let (_, k) = gen(&s, "p256", "forky", None, false);
        // The parent's HTTP client (and its runtime thread) exists now.
        s.sign(&Mechanism::EcdsaSha256, k, b"parent").unwrap();
        let rs = raw::open_session(0);
        let key = raw::find_one(rs, "forky", CKO_PRIVATE_KEY);
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // Child: only this thread exists; the module must build a new client, not hang.
            let (r, sig, _) = raw::sign(rs, key, CKM_ECDSA_SHA256, b"child", Some(64));
            // And finalizing in the child must not wait for the parent's client thread.
            let fin = unsafe { raw::fns().C_Finalize.unwrap()(std::ptr::null_mut()) };
            unsafe {
                libc::_exit(if r == CKR_OK && sig.len() == 64 && fin == CKR_OK {
                    0
                } else {
                    1
                })
            };
        }
        let mut status = 0;
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(waited, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child signing failed: {status}"
        );
        assert_eq!(env.count("POST", "/v1/synchronousSign"), 2);
    }
);

isolated!(
    /// PKCS#11 (v2.40 section 5.5.1, "Applications and processes"): a forked child is another
    /// application and must call C_Initialize itself (and "should" even when it does not use
    /// Cryptoki, then C_Finalize). That C_Initialize answered CKR_CRYPTOKI_ALREADY_INITIALIZED
    /// (OpenSC's `pkcs11-tool --test-fork` failed on it). Now the child starts afresh: the
    /// parent's sessions are not its own, its own session signs, and the parent goes on.
    fn forked_child_initializes_as_a_new_application() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let (_, k) = gen(&s, "p256", "forked-init", None, false);
        s.sign(&Mechanism::EcdsaSha256, k, b"parent").unwrap();
        let rs = raw::open_session(0);
        let key = raw::find_one(rs, "forked-init", CKO_PRIVATE_KEY);
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // Child: no assertion (a panic here would unwind into the test harness's copy);
            // each failure has its own exit status.
            let f = raw::fns();
            let code = unsafe {
                let mut m = CK_MECHANISM {
                    mechanism: CKM_ECDSA_SHA256,
                    pParameter: std::ptr::null_mut(),
                    ulParameterLen: 0,
                };
                if f.C_Initialize.unwrap()(std::ptr::null_mut()) != CKR_OK {
                    2
                } else if f.C_SignInit.unwrap()(rs, &mut m, key) != CKR_SESSION_HANDLE_INVALID {
                    3
                } else {
                    let mut own = 0;
                    let opened = f.C_OpenSession.unwrap()(
                        0,
                        CKF_SERIAL_SESSION,
                        std::ptr::null_mut(),
                        None,
                        &mut own,
                    );
                    if opened != CKR_OK {
                        4
                    } else {
                        let mine = raw::find_one(own, "forked-init", CKO_PRIVATE_KEY);
                        let (r, sig, _) =
                            raw::sign(own, mine, CKM_ECDSA_SHA256, b"child", Some(64));
                        if r != CKR_OK || sig.len() != 64 {
                            5
                        } else if f.C_Finalize.unwrap()(std::ptr::null_mut()) != CKR_OK {
                            6
                        } else {
                            0
                        }
                    }
                }
            };
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(waited, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child failed with exit status {} (2: C_Initialize, 3: the parent's session, \
             4: C_OpenSession, 5: C_Sign, 6: C_Finalize)",
            libc::WEXITSTATUS(status)
        );
        // The parent's module, sessions and key handles are untouched by the child's.
        let (r, sig, _) = raw::sign(rs, key, CKM_ECDSA_SHA256, b"parent again", Some(64));
        assert_eq!((r, sig.len()), (CKR_OK, 64));
        assert_eq!(env.count("POST", "/v1/synchronousSign"), 3);
    }
);

extern "C" fn finalize_at_exit() {
    // As OpenSSL's engine cleanup does: C_Finalize from an atexit handler after main returned.
    let rv = unsafe { raw::fns().C_Finalize.unwrap()(std::ptr::null_mut()) };
    if rv != CKR_OK {
        unsafe { libc::_exit(3) };
    }
}

isolated!(
    fn finalize_from_an_atexit_handler_does_not_hang() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let (_, k) = gen(&s, "p256", "atexit", None, false);
        // The HTTP client (and its runtime thread) exists when the handler runs.
        s.sign(&Mechanism::EcdsaSha256, k, b"x").unwrap();
        assert_eq!(unsafe { libc::atexit(finalize_at_exit) }, 0);
        // Keep cryptoki from finalizing on drop: the atexit handler does it.
        std::mem::forget(s);
        std::mem::forget(env);
    }
);
