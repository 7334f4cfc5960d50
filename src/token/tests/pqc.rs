//! ML-DSA and SLH-DSA (issue 16, PKCS#11 3.2): key pairs through C_GenerateKeyPair, their
//! objects, C_Sign through the TSB (with a context, approval-gated), the check of every signature
//! the TSB returns, local C_Verify, the version gate and the refused CSR. Every signature is also
//! verified with RustCrypto's `ml-dsa` / `slh-dsa`, independently of the `fips204` / `fips205`
//! crates that the emulator signs and the module verifies with.

use super::*;
use crate::der;
use crate::pkcs11_v32::*;
use crate::token::{AttrValue, CsrSpec};
use tsb_emulator::TsbVersion;
use tsb_models::PqcParameterSet;

#[path = "../../../tests/common/pqc_check.rs"]
mod pqc_check;
use pqc_check::rustcrypto_verifies;

fn ul(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Attr {
    Attr::new(ty, v.to_ne_bytes().to_vec())
}
fn a(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Attr {
    Attr::new(ty, v.to_vec())
}

/// C_GenerateKeyPair with `mech`, the public template's CKA_PARAMETER_SET `set` (None: absent)
/// and these private-key attributes.
fn keygen(
    w: &World,
    s: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    set: Option<CK_ULONG>,
    label: &str,
    private: &[Attr],
) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
    let mut public = vec![a(CKA_LABEL, label.as_bytes()), a(CKA_VERIFY, &[1])];
    let mut private = private.to_vec();
    private.push(a(CKA_LABEL, label.as_bytes()));
    if let Some(v) = set {
        public.push(ul(CKA_PARAMETER_SET, v));
    }
    if !private.iter().any(|x| x.ty == CKA_TOKEN) {
        public.push(a(CKA_TOKEN, &[1]));
        private.push(a(CKA_TOKEN, &[1]));
    }
    at_boundary(
        "C_GenerateKeyPair",
        w.m.with_session(s, |sess| {
            w.m.generate_key_pair(
                sess,
                mech,
                &Template::new(public.clone()),
                &Template::new(private.clone()),
            )
        }),
    )
}

/// A token ML-DSA-44 key pair labelled `label` (no other attributes).
fn ml_dsa_44(w: &World, s: CK_SESSION_HANDLE, label: &str) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    keygen(
        w,
        s,
        CKM_ML_DSA_KEY_PAIR_GEN,
        Some(CKP_ML_DSA_44),
        label,
        &[],
    )
    .expect("key pair")
}

fn attr(w: &World, s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Vec<u8> {
    w.m.with_session(s, |sess| {
        let (_, view) = w.m.object(sess, h)?;
        match view.attribute(ty, false) {
            AttrValue::Value(v) => Ok(v),
            other => panic!("attribute 0x{ty:x}: {other:?}"),
        }
    })
    .expect("attribute")
}

fn ulong(v: &[u8]) -> CK_ULONG {
    CK_ULONG::from_ne_bytes(v.try_into().expect("a CK_ULONG"))
}

/// C_SignInit with a CK_SIGN_ADDITIONAL_CONTEXT (`ctx` None: no parameter), then C_Sign.
fn sign(
    w: &World,
    s: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    key: CK_OBJECT_HANDLE,
    ctx: Option<&[u8]>,
    data: &[u8],
    cap: Option<usize>,
) -> Result<Output> {
    let params = match ctx {
        Some(c) => MechParams::SignContext {
            hedge: CKH_HEDGE_PREFERRED,
            context: c.to_vec(),
        },
        None => MechParams::None,
    };
    at_boundary(
        "C_SignInit",
        w.m.with_session(s, |sess| w.m.sign_init(sess, mech, &params, key)),
    )?;
    sign_again(&w.m, s, data, cap)
}

/// C_Verify with the module.
fn verify(
    w: &World,
    s: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    key: CK_OBJECT_HANDLE,
    ctx: &[u8],
    data: &[u8],
    sig: &[u8],
) -> Result<()> {
    let params = MechParams::SignContext {
        // Ignored on verification (PKCS#11 3.2 §6.67.5).
        hedge: CKH_DETERMINISTIC_REQUIRED,
        context: ctx.to_vec(),
    };
    w.m.with_session(s, |sess| w.m.verify_init(sess, mech, &params, key))?;
    w.m.with_operation(s, OpKind::Verify, |sess| w.m.verify(sess, Some(data), sig))
}

/// Key pairs of every ML-DSA parameter set and an SLH-DSA one: the objects PKCS#11 3.2
/// describes, with the SubjectPublicKeyInfo and CKA_ID as for other keys.
#[test]
fn key_pairs_and_their_objects() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let cases = [
        (
            CKM_ML_DSA_KEY_PAIR_GEN,
            CKP_ML_DSA_44,
            PqcParameterSet::MlDsa44,
            CKK_ML_DSA,
        ),
        (
            CKM_ML_DSA_KEY_PAIR_GEN,
            CKP_ML_DSA_65,
            PqcParameterSet::MlDsa65,
            CKK_ML_DSA,
        ),
        (
            CKM_ML_DSA_KEY_PAIR_GEN,
            CKP_ML_DSA_87,
            PqcParameterSet::MlDsa87,
            CKK_ML_DSA,
        ),
        (
            CKM_SLH_DSA_KEY_PAIR_GEN,
            CKP_SLH_DSA_SHAKE_128F,
            PqcParameterSet::SlhDsaShake128f,
            CKK_SLH_DSA,
        ),
    ];
    for (mech, ckp, set, ckk) in cases {
        let label = format!("pq-{}", set.name());
        let (public, private) = keygen(&w, s, mech, Some(ckp), &label, &[a(CKA_ID, &[0xab, 1])])
            .unwrap_or_else(|e| panic!("{set:?}: {e}"));
        for h in [public, private] {
            assert_eq!(ulong(&attr(&w, s, h, CKA_KEY_TYPE)), ckk, "{set:?}");
            assert_eq!(ulong(&attr(&w, s, h, CKA_PARAMETER_SET)), ckp, "{set:?}");
            assert_eq!(ulong(&attr(&w, s, h, CKA_KEY_GEN_MECHANISM)), mech);
            assert_eq!(attr(&w, s, h, CKA_ID), vec![0xab, 1]);
        }
        // CKA_VALUE: the raw public key on the public object, never on the private one.
        let raw = attr(&w, s, public, CKA_VALUE);
        assert_eq!(raw.len(), set.public_key_len(), "{set:?}");
        let sensitive = w.m.with_session(s, |sess| {
            Ok(w.m.object(sess, private)?.1.attribute(CKA_VALUE, false))
        });
        assert_eq!(sensitive.unwrap(), AttrValue::Sensitive);
        // CKA_PUBLIC_KEY_INFO: SEQUENCE { SEQUENCE { OID }, BIT STRING (0 unused bits) raw }.
        let spki = attr(&w, s, public, CKA_PUBLIC_KEY_INFO);
        assert_eq!(attr(&w, s, private, CKA_PUBLIC_KEY_INFO), spki);
        let (outer, rest) = der::read_tlv(&spki).unwrap();
        assert!(rest.is_empty());
        let (alg, bits) = der::read_tlv(outer.value).unwrap();
        let (oid, params) = der::read_tlv(alg.value).unwrap();
        assert_eq!(der::oid_to_string(oid.value).unwrap(), set.oid());
        assert!(params.is_empty(), "no parameters (RFC 9881 / RFC 9909)");
        let (bits, _) = der::read_tlv(bits).unwrap();
        assert_eq!(bits.tag, 0x03);
        assert_eq!(bits.value[0], 0);
        assert_eq!(&bits.value[1..], raw.as_slice());
    }
    // The standard's OIDs (NIST CSOR): id-ml-dsa-44 .17, id-slh-dsa-shake-128f .27.
    assert_eq!(PqcParameterSet::MlDsa44.oid(), "2.16.840.1.101.3.4.3.17");
    assert_eq!(
        PqcParameterSet::SlhDsaShake128f.oid(),
        "2.16.840.1.101.3.4.3.27"
    );
    // Without CKA_ID, the id is the same on both halves, as for every key.
    let (public, private) = keygen(
        &w,
        s,
        CKM_ML_DSA_KEY_PAIR_GEN,
        Some(CKP_ML_DSA_44),
        "no-id",
        &[],
    )
    .unwrap();
    let id = attr(&w, s, public, CKA_ID);
    assert!(!id.is_empty());
    assert_eq!(attr(&w, s, private, CKA_ID), id);
}

/// The templates' errors (PKCS#11 3.2 §6.67.4: the parameter set is in the public template).
#[test]
fn key_pair_templates_are_checked_before_anything_is_sent() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    w.emu.reset_counts();
    let e = keygen(&w, s, CKM_ML_DSA_KEY_PAIR_GEN, None, "none", &[]).unwrap_err();
    assert_eq!(e.rv(), CKR_TEMPLATE_INCOMPLETE);
    // An SLH-DSA value is no ML-DSA parameter set.
    let e = keygen(&w, s, CKM_ML_DSA_KEY_PAIR_GEN, Some(7), "seven", &[]).unwrap_err();
    assert_eq!(e.rv(), CKR_ATTRIBUTE_VALUE_INVALID);
    let e = keygen(&w, s, CKM_SLH_DSA_KEY_PAIR_GEN, Some(13), "thirteen", &[]).unwrap_err();
    assert_eq!(e.rv(), CKR_ATTRIBUTE_VALUE_INVALID);
    let e = keygen(
        &w,
        s,
        CKM_ML_DSA_KEY_PAIR_GEN,
        Some(CKP_ML_DSA_44),
        "decrypting",
        &[a(CKA_DECRYPT, &[1])],
    )
    .unwrap_err();
    assert_eq!(e.rv(), CKR_TEMPLATE_INCONSISTENT);
    // Signature keys only sign: no unwrapping, no derivation.
    for flag in [CKA_UNWRAP, CKA_DERIVE] {
        let e = keygen(
            &w,
            s,
            CKM_SLH_DSA_KEY_PAIR_GEN,
            Some(CKP_SLH_DSA_SHA2_128F),
            "unwrapping",
            &[a(CKA_SIGN, &[1]), a(flag, &[1])],
        )
        .unwrap_err();
        assert_eq!(e.rv(), CKR_TEMPLATE_INCONSISTENT, "0x{flag:x}");
    }
    assert_eq!(w.count("POST", "/v1/key"), 0);
}

/// Sign through the TSB and verify twice (RustCrypto, and the module's C_Verify); a context
/// goes to the asynchronous endpoint (the only one that takes it) and is bound into the
/// signature; a session key pair signs the same way.
#[test]
fn signatures_verify_independently_with_and_without_a_context() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    for (gen, mech, ckp, set) in [
        (
            CKM_ML_DSA_KEY_PAIR_GEN,
            CKM_ML_DSA,
            CKP_ML_DSA_65,
            PqcParameterSet::MlDsa65,
        ),
        (
            CKM_SLH_DSA_KEY_PAIR_GEN,
            CKM_SLH_DSA,
            CKP_SLH_DSA_SHA2_128F,
            PqcParameterSet::SlhDsaSha2_128f,
        ),
    ] {
        // A session key pair (CKA_TOKEN false), generated in the TSB.
        let (public, private) =
            keygen(&w, s, gen, Some(ckp), "session-pq", &[a(CKA_TOKEN, &[0])]).unwrap();
        let raw = attr(&w, s, public, CKA_VALUE);
        let msg = b"release artifact";
        w.emu.reset_counts();
        // Length query: the parameter set's signature length, nothing sent.
        assert_eq!(
            sign(&w, s, mech, private, None, msg, None).unwrap(),
            Output::Len(set.signature_len())
        );
        let sig = data(sign_again(&w.m, s, msg, Some(set.signature_len())).unwrap());
        assert_eq!(w.count("POST", "/v1/synchronousSign"), 1);
        assert!(rustcrypto_verifies(set, &raw, msg, b"", &sig), "{set:?}");
        verify(&w, s, mech, public, b"", msg, &sig).unwrap();
        assert_eq!(
            verify(&w, s, mech, public, b"", b"other", &sig)
                .unwrap_err()
                .rv(),
            CKR_SIGNATURE_INVALID
        );
        // With a context: POST /v1/sign (executed at once, no approvals), never the
        // synchronous endpoint, and the context is in the signature.
        let ctx = b"build-42";
        let sig = data(sign(&w, s, mech, private, Some(ctx), msg, Some(50_000)).unwrap());
        assert_eq!(w.count("POST", "/v1/sign"), 1, "{set:?}");
        assert_eq!(w.count("POST", "/v1/synchronousSign"), 1, "{set:?}");
        assert!(rustcrypto_verifies(set, &raw, msg, ctx, &sig));
        assert!(!rustcrypto_verifies(set, &raw, msg, b"", &sig));
        verify(&w, s, mech, public, ctx, msg, &sig).unwrap();
        assert_eq!(
            verify(&w, s, mech, public, b"", msg, &sig)
                .unwrap_err()
                .rv(),
            CKR_SIGNATURE_INVALID
        );
        // The other family's mechanism does not fit the key.
        let other = if mech == CKM_ML_DSA {
            CKM_SLH_DSA
        } else {
            CKM_ML_DSA
        };
        assert_eq!(
            rv(sign(&w, s, other, private, None, msg, None)),
            CKR_KEY_TYPE_INCONSISTENT
        );
    }
}

/// An approval-gated ML-DSA key: C_Sign waits for the approver, a length query and a short
/// buffer send nothing more, and the context goes with the one request.
#[test]
fn approval_gated_signature_is_sent_once() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let policy = a(
        crate::vendor::CKA_TSB_POLICY as CK_ATTRIBUTE_TYPE,
        w.policy(600).to_string().as_bytes(),
    );
    let (public, private) = keygen(
        &w,
        s,
        CKM_ML_DSA_KEY_PAIR_GEN,
        Some(CKP_ML_DSA_44),
        "gated-pq",
        &[policy],
    )
    .unwrap();
    let raw = attr(&w, s, public, CKA_VALUE);
    w.emu.reset_counts();
    let len = PqcParameterSet::MlDsa44.signature_len();
    assert_eq!(
        sign(&w, s, CKM_ML_DSA, private, Some(b"ctx"), b"m", None).unwrap(),
        Output::Len(len)
    );
    assert_eq!(w.count("POST", "/v1/sign"), 0);
    let bg = w.auto_approve(1);
    assert_eq!(
        sign_again(&w.m, s, b"m", Some(16)).unwrap(),
        Output::TooSmall(len)
    );
    bg.join().unwrap().unwrap();
    let sig = data(sign_again(&w.m, s, b"m", Some(len)).unwrap());
    assert_eq!(w.count("POST", "/v1/sign"), 1, "one request in all");
    assert_eq!(w.count("POST", "/v1/synchronousSign"), 0);
    assert!(rustcrypto_verifies(
        PqcParameterSet::MlDsa44,
        &raw,
        b"m",
        b"ctx",
        &sig
    ));
}

/// A signature from the TSB that does not verify is not returned: CKR_DEVICE_ERROR with the
/// bad-result device error.
#[test]
fn a_bad_signature_from_the_tsb_is_refused() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let (_, private) = ml_dsa_44(&w, s, "bad-pq");
    let len = PqcParameterSet::MlDsa44.signature_len();
    use base64::Engine as _;
    for bad in [vec![0u8; len], vec![1u8; len - 1]] {
        let sig = base64::engine::general_purpose::STANDARD.encode(&bad);
        direct::respond(
            &w.emu,
            "POST",
            "/v1/synchronousSign",
            1,
            200,
            serde_json::json!({ "signature": sig }).to_string(),
        );
        let e = sign(&w, s, CKM_ML_DSA, private, None, b"m", Some(len)).unwrap_err();
        assert_eq!(e.rv(), CKR_DEVICE_ERROR);
        assert_eq!(w.device_error(s), crate::vendor::TSB_DEVERR_BAD_RESULT);
    }
}

/// A hedge variant the module cannot promise, and a context longer than 255 bytes, are refused
/// at C_SignInit.
#[test]
fn unkeepable_parameters_are_refused() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let (_, private) = ml_dsa_44(&w, s, "params-pq");
    for (hedge, len) in [
        (CKH_HEDGE_REQUIRED, 0),
        (CKH_DETERMINISTIC_REQUIRED, 3),
        (CKH_HEDGE_PREFERRED, 256),
    ] {
        let params = MechParams::SignContext {
            hedge,
            context: vec![1; len],
        };
        let r =
            w.m.with_session(s, |sess| w.m.sign_init(sess, CKM_ML_DSA, &params, private));
        assert_eq!(rv(r), CKR_MECHANISM_PARAM_INVALID, "{hedge} {len}");
    }
}

/// The four post-quantum mechanisms.
const PQC_MECHANISMS: [CK_MECHANISM_TYPE; 4] = [
    CKM_ML_DSA_KEY_PAIR_GEN,
    CKM_ML_DSA,
    CKM_SLH_DSA_KEY_PAIR_GEN,
    CKM_SLH_DSA,
];

/// A TSB older than 2.2.0 has no post-quantum keys: the mechanisms are not listed, and a key
/// pair is refused before anything is sent.
#[test]
fn older_tsbs_have_no_post_quantum_keys() {
    let w = World::with_emulator(
        tsb_emulator::EmulatorConfig {
            tsb_version: TsbVersion::V2_1_1,
            ..Default::default()
        },
        serde_json::json!({"tsb_version": "2.1.1"}),
    );
    let s = w.session();
    let list = w.m.mechanism_list(0).unwrap();
    for mech in PQC_MECHANISMS {
        assert!(!list.contains(&mech), "0x{mech:x}");
        assert_eq!(rv(w.m.mechanism_info(0, mech)), CKR_MECHANISM_INVALID);
    }
    assert!(list.contains(&CKM_ECDSA));
    w.emu.reset_counts();
    let e = keygen(
        &w,
        s,
        CKM_ML_DSA_KEY_PAIR_GEN,
        Some(CKP_ML_DSA_44),
        "old",
        &[],
    )
    .unwrap_err();
    assert_eq!(e.rv(), CKR_MECHANISM_INVALID);
    assert!(e.to_string().contains("2.2.0"), "{e}");
    assert_eq!(w.count("POST", "/v1/key"), 0);
    // 2.2.0 and an unknown version list them (key sizes in bytes of the public key).
    for version in [
        serde_json::json!({"tsb_version": "2.2.0"}),
        serde_json::json!({}),
    ] {
        let w = World::new(version);
        let list = w.m.mechanism_list(0).unwrap();
        for mech in PQC_MECHANISMS {
            assert!(list.contains(&mech), "0x{mech:x}");
        }
        let info = w.m.mechanism_info(0, CKM_ML_DSA).unwrap();
        assert_eq!((info.min, info.max), (1312, 2592));
        assert_eq!(info.flags, CKF_SIGN | CKF_VERIFY);
    }
}

/// No source shows a CSR with a post-quantum key: the vendor CSR is refused, nothing is sent.
#[test]
fn no_csr_with_a_post_quantum_key() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let (_, private) = ml_dsa_44(&w, s, "csr-pq");
    w.emu.reset_counts();
    let spec = CsrSpec {
        subject: vec![("commonName", "pq".into())],
        ..Default::default()
    };
    let r = at_boundary(
        "TSB_CreateCSR",
        w.m.with_session(s, |sess| w.m.create_csr(sess, private, &spec, Some(8192))),
    );
    assert_eq!(rv(r), CKR_KEY_TYPE_INCONSISTENT);
    assert_eq!(w.count("POST", "/v1/certificate/synchronous/request"), 0);
    assert_eq!(w.count("POST", "/v1/certificate/request"), 0);
}
