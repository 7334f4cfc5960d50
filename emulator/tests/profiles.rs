//! `EmulatorConfig::tsb_version` profiles: what Securosys' release notes document per TSB version
//! (`dev-securosys-docs` `tsb/Download/release_notes.md`), and the DTO shapes per version.

mod common;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use tsb_emulator::{Emulator, EmulatorConfig, Role, TsbVersion};

fn at(v: TsbVersion) -> Env {
    start_with(EmulatorConfig {
        test_controls: true,
        tsb_version: v,
        ..EmulatorConfig::default()
    })
}

fn code(r: (u16, Value)) -> (u16, Option<i64>) {
    (r.0, r.1["errorCode"].as_i64())
}

#[test]
fn every_profile_answers_its_version() {
    for v in TsbVersion::PROFILES {
        let env = at(v);
        assert_eq!(
            env.get("/v1/versionInfo").1,
            json!({"Version": v.to_string()})
        );
    }
}

/// 2.0.1: "Fetch All Tasks ... `/v1/filteredAllApprovalTask`" and "Fetch Requests by Status ...
/// `/v1/filteredRequests`": before, both are unknown paths (404); the per-type lists work.
#[test]
fn task_and_request_lists_before_2_0_1() {
    let a = Approver::ec();
    for (v, has_all) in [
        (TsbVersion::V1_18_0, false),
        (TsbVersion::V2_0_0, false),
        (TsbVersion::V2_0_1, true),
    ] {
        let env = at(v);
        env.ec_key("k", use_policy(vec![token(0, 0, vec![(1, vec![&a])])]));
        let id = env.sign_async("k");
        let (s, body) = env.tasks(&a, "filteredAllApprovalTask", json!({}));
        assert_eq!(s, if has_all { 200 } else { 404 }, "{v}: {body}");
        let (s, body) = env.tasks(&a, "filteredSignApprovalTask", json!({}));
        assert_eq!(
            (s, body["tasks"].as_array().map(Vec::len)),
            (200, Some(1)),
            "{v}"
        );
        let (s, _) = env.post("/v1/filteredRequests", &json!({}));
        assert_eq!(s, if has_all { 200 } else { 404 }, "{v}");
        let tasks = body["tasks"].as_array().unwrap();
        let (s, _) = env.post("/v1/approval", &a.approval(&tasks[0]));
        assert_eq!(s, 200);
        assert_eq!(env.wait_state(&id, "EXECUTED")["status"], "EXECUTED");
    }
}

/// 2.1.1: "Added compatibility with pre-hashed algorithms on RSA in conjunction with SKA-Keys".
/// Before, a pre-hashed RSA algorithm on a key with a policy is refused (errorCode 607, the
/// emulator's choice: the release notes do not say how a 2.1.0 TSB fails). Plain keys could
/// since 1.17.1.
#[test]
fn prehashed_rsa_on_ska_keys_from_2_1_1() {
    let digest = B64.encode([7u8; 32]);
    for (v, ok) in [(TsbVersion::V2_1_0, false), (TsbVersion::V2_1_1, true)] {
        let env = at(v);
        env.rsa_key("ska", use_policy(vec![token(0, 0, vec![])]));
        env.rsa_key("plain", json!(null));
        for alg in ["NONESHA256_WITH_RSA", "NONE_WITH_RSA"] {
            let mut body = sign_body("ska", alg);
            body["signRequest"]["payload"] = json!(digest);
            let r = env.post("/v1/sign", &body);
            if ok {
                assert_eq!(r.0, 201, "{v} {alg}: {}", r.1);
            } else {
                assert_eq!(code(r), (400, Some(607)), "{v} {alg}");
            }
            let mut plain = body.clone();
            plain["signRequest"]["signKeyName"] = json!("plain");
            assert_eq!(env.post("/v1/sign", &plain).0, 201, "{v} {alg} plain");
        }
        // Hashing algorithms always work on SKA keys.
        assert_eq!(
            env.post("/v1/sign", &sign_body("ska", "SHA256_WITH_RSA")).0,
            201
        );
    }
}

/// Names that came with a version: `RSA_PADDING_PKCS` (2.2.0); the pre-hashed PSS names and the
/// final PQC names (2.2.0, see `tsb_models::algorithms::signature_algorithm_since`).
#[test]
fn algorithm_names_per_version() {
    for (v, new) in [(TsbVersion::V2_1_1, false), (TsbVersion::V2_2_0, true)] {
        let env = at(v);
        env.rsa_key("r", json!(null));
        let ct = {
            let (s, k) = env.post("/v1/key/attributes", &json!({"label": "r"}));
            assert_eq!(s, 200);
            let der = B64
                .decode(k["json"]["publicKey"].as_str().unwrap())
                .unwrap();
            let rsa = openssl::rsa::Rsa::public_key_from_der(&der).unwrap();
            let mut out = vec![0u8; 256];
            rsa.public_encrypt(b"secret", &mut out, openssl::rsa::Padding::PKCS1)
                .unwrap();
            B64.encode(out)
        };
        for cipher in ["RSA_PADDING_PKCS", "RSA"] {
            let body = json!({"decryptRequest": {"encryptedPayload": ct, "decryptKeyName": "r",
                                                 "cipherAlgorithm": cipher}});
            let (s, out) = env.post("/v1/synchronousDecrypt", &body);
            if cipher == "RSA" || new {
                assert_eq!(s, 200, "{v} {cipher}: {out}");
                assert_eq!(out["payload"], B64.encode(b"secret"));
            } else {
                assert_eq!(
                    (s, out["errorCode"].as_i64()),
                    (400, Some(600)),
                    "{v} {cipher}"
                );
            }
        }
        let mut body = sign_body("r", "NONESHA256_WITH_RSA_PSS");
        body["signRequest"]["payload"] = json!(B64.encode([1u8; 32]));
        let r = env.post("/v1/synchronousSign", &body);
        assert_eq!(r.0, if new { 200 } else { 400 }, "{v}: {}", r.1);
    }
}

/// The certificate DTOs: S3's (every release up to 2.2.0: issue-certificate needs `commonName`
/// and has no `validity`; RSA and ECDSA only) and S6's newer shapes (2.3.0 in this project:
/// `commonName` optional, `validity`, `EDDSA`, `rawCertificate`).
#[test]
fn certificate_dtos_per_version() {
    for v in [TsbVersion::V2_2_0, TsbVersion::V2_3_0] {
        let newer = v == TsbVersion::V2_3_0;
        let env = at(v);
        env.ec_key("ca", json!(null));
        env.create_key(json!({"label": "ed", "algorithm": "ED",
                              "attributes": {"sign": true, "decrypt": false, "unwrap": false}}));
        let csr_body = |key: &str, alg: &str| {
            json!({"signKeyName": key, "signatureAlgorithm": alg,
                   "standardCertificateAttributes": {"commonName": key}})
        };
        let (s, csr) = env.post(
            "/v1/certificate/synchronous/request",
            &csr_body("ca", "SHA256_WITH_ECDSA"),
        );
        assert_eq!(s, 200, "{csr}");
        let csr = csr["certificateSigningRequest"]
            .as_str()
            .unwrap()
            .to_string();
        // EDDSA in KeytoolSignatureAlgorithm only with the newer DTOs ...
        let r = env.post(
            "/v1/certificate/synchronous/request",
            &csr_body("ed", "EDDSA"),
        );
        assert_eq!(r.0, if newer { 200 } else { 400 }, "{v}: {}", r.1);
        // ... while the asynchronous CSR takes the full SignatureAlgorithm enum (CsrSignRequestDto).
        let r = env.post(
            "/v1/certificate/request",
            &json!({"csrSignRequest": csr_body("ed", "EDDSA")}),
        );
        assert_eq!(r.0, 201, "{v}: {}", r.1);
        // Issue: commonName and validity.
        let issue = json!({"signKeyName": "ca", "signatureAlgorithm": "SHA256_WITH_ECDSA",
                           "certificateSigningRequest": csr, "commonName": "leaf"});
        let (s, cert) = env.post("/v1/certificate/synchronous/sign", &issue);
        assert_eq!(s, 200, "{v}: {cert}");
        let mut no_cn = issue.clone();
        no_cn.as_object_mut().unwrap().remove("commonName");
        let r = env.post("/v1/certificate/synchronous/sign", &no_cn);
        assert_eq!(r.0, if newer { 200 } else { 400 }, "{v}: {}", r.1);
        let mut validity = issue.clone();
        validity["validity"] = json!(30);
        let r = env.post("/v1/certificate/synchronous/sign", &validity);
        assert_eq!(r.0, if newer { 200 } else { 400 }, "{v}: {}", r.1);
        let r = env.post(
            "/v1/certificate/sign",
            &json!({ "signCertificateRequest": validity }),
        );
        assert_eq!(r.0, if newer { 201 } else { 400 }, "{v}: {}", r.1);
        // GET /v1/certificate/{label}: `certificate` (S3, S1), plus `rawCertificate` (S6) with
        // the newer DTOs.
        let (s, got) = env.get("/v1/certificate/ca");
        assert_eq!(s, 200, "{got}");
        assert!(got["certificate"].is_string());
        assert_eq!(got["rawCertificate"].is_string(), newer, "{v}: {got}");
        // organizationIdentifier since 2.1.0.
        let mut body = csr_body("ca", "SHA256_WITH_ECDSA");
        body["standardCertificateAttributes"]["organizationIdentifier"] = json!("VATCH-123");
        assert_eq!(
            env.post("/v1/certificate/synchronous/request", &body).0,
            200
        );
    }
    let env = at(TsbVersion::V2_0_0);
    env.ec_key("k", json!(null));
    let body = json!({"signKeyName": "k", "signatureAlgorithm": "SHA256_WITH_ECDSA",
        "standardCertificateAttributes": {"commonName": "k", "organizationIdentifier": "x"}});
    assert_eq!(
        code(env.post("/v1/certificate/synchronous/request", &body)),
        (400, Some(600))
    );
}

/// 2.0.1: "Allowed never fulfillable RuleModify, RuleBlock, and RuleUnblock on SKA-Keys".
#[test]
fn never_fulfillable_management_rules_from_2_0_1() {
    let a = Approver::ec();
    let frozen = token(0, 0, vec![(2, vec![&a])]);
    let mut policy = use_policy(vec![token(0, 0, vec![(1, vec![&a])])]);
    policy["ruleModify"] = json!({ "tokens": [frozen] });
    for (v, ok) in [(TsbVersion::V2_0_0, false), (TsbVersion::V2_0_1, true)] {
        let env = at(v);
        let r = env.post(
            "/v1/key",
            &json!({"label": "k", "algorithm": "EC", "curveOid": "1.2.840.10045.3.1.7",
                    "attributes": {"sign": true, "decrypt": false, "unwrap": false},
                    "policy": policy}),
        );
        assert_eq!(r.0, if ok { 201 } else { 400 }, "{v}: {}", r.1);
    }
}

/// 2.0.1: "Key operations will now execute immediately on empty or always fulfillable SKA
/// policies (previously one had to wait for the cronjob ...)".
#[test]
fn fulfilled_requests_execute_at_once_from_2_0_1() {
    for (v, at_once) in [(TsbVersion::V2_0_0, false), (TsbVersion::V2_0_1, true)] {
        let env = start_with(EmulatorConfig {
            tsb_version: v,
            // A scheduler that never runs by itself: only the test runs it.
            scheduler_interval: Duration::from_secs(3600),
            ..EmulatorConfig::default()
        });
        env.ec_key("k", use_policy(vec![token(0, 0, vec![])]));
        let id = env.sign_async("k");
        let want = if at_once { "EXECUTED" } else { "APPROVED" };
        assert_eq!(env.state(&id), want, "{v}");
        env.emu.run_scheduler();
        assert_eq!(env.state(&id), "EXECUTED", "{v}");
    }
}

/// 2.0.0 brought `X-API-KEY`, 2.0.1 several keys per role, 2.1.0 fetch-once results, 2.2.0
/// request-certificate whitelisting: a configuration the version cannot have is refused.
#[test]
fn configurations_a_version_cannot_have_are_refused() {
    let cfg = |v: TsbVersion| EmulatorConfig {
        tsb_version: v,
        ..EmulatorConfig::default()
    };
    let one_key = |v| EmulatorConfig {
        api_keys: vec![(Role::KeyOperation, "a".into())],
        ..cfg(v)
    };
    let two_keys = |v| EmulatorConfig {
        api_keys: vec![
            (Role::KeyOperation, "a".into()),
            (Role::KeyOperation, "b".into()),
        ],
        ..cfg(v)
    };
    let once = |v| EmulatorConfig {
        fetch_result_once: true,
        ..cfg(v)
    };
    let whitelist = |v| EmulatorConfig {
        allowed_request_certificates: vec![vec![0x30]],
        ..cfg(v)
    };
    assert!(Emulator::start(one_key(TsbVersion::V1_18_0)).is_err());
    assert!(Emulator::start(one_key(TsbVersion::V2_0_0)).is_ok());
    assert!(Emulator::start(two_keys(TsbVersion::V2_0_0)).is_err());
    assert!(Emulator::start(two_keys(TsbVersion::V2_0_1)).is_ok());
    assert!(Emulator::start(once(TsbVersion::V2_0_1)).is_err());
    assert!(Emulator::start(once(TsbVersion::V2_1_0)).is_ok());
    assert!(Emulator::start(whitelist(TsbVersion::V2_1_1)).is_err());
    // And from 2.2.0 on, a whitelisted certificate must be one.
    assert!(Emulator::start(whitelist(TsbVersion::V2_2_0)).is_err());
}

/// 2.1.0: "a new parameter that allows the result of an SKA-Request to be fetched only once":
/// the first status read carries the result, later ones have `result: null`.
#[test]
fn fetch_result_once() {
    let env = start_with(EmulatorConfig {
        fetch_result_once: true,
        ..EmulatorConfig::default()
    });
    env.ec_key("k", json!(null));
    let id = env.sign_async("k");
    let first = env.status(&id);
    assert_eq!(first["status"], "EXECUTED");
    assert!(first["result"].is_string(), "{first}");
    let second = env.status(&id);
    assert_eq!(second["status"], "EXECUTED");
    assert!(second["result"].is_null(), "{second}");
    // Off (the TSB's default): every read has it.
    let env = start();
    env.ec_key("k", json!(null));
    let id = env.sign_async("k");
    assert!(env.status(&id)["result"].is_string());
    assert!(env.status(&id)["result"].is_string());
}
