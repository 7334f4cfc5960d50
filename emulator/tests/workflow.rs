//! SKA request life cycle: every status, quorum, AND-ed groups, OR-ed tokens, timelock, timeout,
//! rejection, cancellation, failure, and the approval API's checks.

mod common;
use common::*;
use serde_json::json;
use std::time::Duration;
use tsb_emulator::EmulatorConfig;

#[test]
fn empty_policy_and_plain_key_execute_at_once() {
    let env = start();
    env.ec_key("plain", json!(null));
    env.ec_key("empty", json!({"ruleUse": null, "ruleBlock": null, "ruleUnblock": null, "ruleModify": null, "keyStatus": {"blocked": false}}));
    env.ec_key(
        "nogroups",
        use_policy(vec![
            json!({"name": "t", "timelock": 0, "timeout": 0, "groups": null}),
        ]),
    );
    for key in ["plain", "empty", "nogroups"] {
        let id = env.sign_async(key);
        let st = env.status(&id);
        assert_eq!(st["status"], "EXECUTED", "{key}: {st}");
        assert!(!st["result"].as_str().unwrap().is_empty());
        // The synchronous endpoint works too for keys that need no approval.
        let (s, v) = env.post("/v1/synchronousSign", &sign_body(key, "SHA256_WITH_ECDSA"));
        assert_eq!(s, 200, "{key}: {v}");
    }
}

#[test]
fn sync_endpoint_refuses_ska_key() {
    let env = start();
    let a = Approver::ec();
    env.ec_key("ska", use_policy(vec![token(0, 0, vec![(1, vec![&a])])]));
    let (s, v) = env.post(
        "/v1/synchronousSign",
        &sign_body("ska", "SHA256_WITH_ECDSA"),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(401)), "{v}");
    assert_eq!(v["reason"], "res.error.missing.approval");
    assert_eq!(env.emu.request_count("POST", "/v1/synchronousSign"), 1);
}

#[test]
fn quorum_two_of_three() {
    let env = start();
    let (a, b, c) = (Approver::ec(), Approver::ec(), Approver::ec());
    env.ec_key(
        "k",
        use_policy(vec![token(0, 0, vec![(2, vec![&a, &b, &c])])]),
    );
    let id = env.sign_async("k");
    env.approve(&a, &id);
    let st = env.status(&id);
    assert_eq!(st["status"], "PENDING");
    assert_eq!(st["approvedBy"], json!([a.spki()]));
    assert_eq!(st["notYetApprovedBy"], json!([b.spki(), c.spki()]));
    // An approver who approved no longer sees the task.
    assert!(env.task_list(&a).is_empty());
    env.approve(&c, &id);
    let st = env.status(&id);
    assert_eq!(st["status"], "EXECUTED", "{st}");
    // The signature verifies with the key.
    let sig = st["result"].as_str().unwrap();
    let (s, v) = env.post(
        "/v1/verify",
        &json!({"verifySignatureRequest": {
        "signKeyName": "k", "signatureAlgorithm": "SHA256_WITH_ECDSA",
        "payload": sign_body("k", "x")["signRequest"]["payload"], "signature": sig}}),
    );
    assert_eq!((s, v["signatureValid"].clone()), (200, json!(true)), "{v}");
    // The remaining approver's task went away with the execution.
    assert!(env.task_list(&b).is_empty());
}

#[test]
fn two_groups_are_anded() {
    let env = start();
    let (a, b) = (Approver::ec(), Approver::ec());
    env.ec_key(
        "k",
        use_policy(vec![token(0, 0, vec![(1, vec![&a]), (1, vec![&b])])]),
    );
    let id = env.sign_async("k");
    env.approve(&a, &id);
    assert_eq!(env.state(&id), "PENDING");
    env.approve(&b, &id);
    assert_eq!(env.state(&id), "EXECUTED");
}

#[test]
fn two_tokens_are_ored() {
    let env = start();
    let (a, b) = (Approver::ec(), Approver::ec());
    env.ec_key(
        "k",
        use_policy(vec![
            token(0, 0, vec![(1, vec![&a])]),
            token(0, 0, vec![(1, vec![&b])]),
        ]),
    );
    let id = env.sign_async("k");
    env.approve(&b, &id);
    let st = env.status(&id);
    assert_eq!(st["status"], "EXECUTED");
    assert_eq!(st["approvedBy"], json!([b.spki()]));
}

#[test]
fn timelock_approved_then_executed_after_clock_advance() {
    let env = start();
    let a = Approver::ec();
    env.ec_key("k", use_policy(vec![token(120, 0, vec![(1, vec![&a])])]));
    let id = env.sign_async("k");
    assert_eq!(env.state(&id), "PENDING");
    env.approve(&a, &id);
    let st = env.status(&id);
    assert_eq!(st["status"], "APPROVED");
    assert_eq!(st["result"], json!(null));
    // Over HTTP: advance 120 s; the scheduler executes it without anyone reading the request.
    let (s, v) = env.post("/_emulator/clock", &json!({"advanceSeconds": 120}));
    assert_eq!(s, 200, "{v}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let before = env.emu.request_count("GET", &format!("/v1/request/{id}"));
    loop {
        let (_, v) = env.post(
            "/v1/filteredRequests",
            &json!({"requestStatusList": ["EXECUTED"]}),
        );
        if v["requests"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["id"] == id))
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never executed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        env.emu.request_count("GET", &format!("/v1/request/{id}")),
        before
    );
    assert!(env.status(&id)["result"].is_string());
}

#[test]
fn timeout_expires_via_clock() {
    let env = start();
    let a = Approver::ec();
    env.ec_key("k", use_policy(vec![token(0, 60, vec![(1, vec![&a])])]));
    let id = env.sign_async("k");
    env.emu.advance_clock(Duration::from_secs(61));
    let st = env.status(&id);
    assert_eq!(st["status"], "EXPIRED");
    assert_eq!(st["notYetApprovedBy"], json!([]));
    assert!(env.task_list(&a).is_empty());
    let (_, v) = env.get("/_emulator/clock");
    assert!(v["nowMs"].as_i64().unwrap() > chrono::Utc::now().timestamp_millis() + 55_000);
}

#[test]
fn rejection() {
    let env = start();
    let (a, b) = (Approver::ec(), Approver::ec());
    env.ec_key("k", use_policy(vec![token(0, 0, vec![(2, vec![&a, &b])])]));
    let id = env.sign_async("k");
    env.reject(&a, &id);
    let st = env.status(&id);
    assert_eq!(st["status"], "REJECTED", "{st}");
    assert_eq!(st["rejectedBy"], json!([a.spki()]));
    assert!(env.task_list(&b).is_empty());
}

#[test]
fn cancel_by_delete_and_by_key_deletion() {
    let env = start();
    let a = Approver::ec();
    env.ec_key("k", use_policy(vec![token(0, 0, vec![(1, vec![&a])])]));
    let id = env.sign_async("k");
    let (s, _) = env.delete(&format!("/v1/request/{id}"), None);
    assert_eq!(s, 200);
    assert_eq!(env.state(&id), "CANCELLED");
    assert!(env.task_list(&a).is_empty());
    let (s, v) = env.delete("/v1/request/00000000-0000-4000-8000-000000000000", None);
    assert_eq!((s, v["errorCode"].as_i64()), (404, Some(651)));

    let id2 = env.sign_async("k");
    let (s, _) = env.post("/v1/key/deleteKey", &json!({"label": "k"}));
    assert_eq!(s, 200);
    assert_eq!(env.state(&id2), "CANCELLED");
    env.ec_key("k2", use_policy(vec![token(0, 0, vec![(1, vec![&a])])]));
    let id3 = env.sign_async("k2");
    let (s, _) = env.delete("/v1/key/K2", None);
    assert_eq!(s, 200);
    assert_eq!(env.state(&id3), "CANCELLED");
    let (s, v) = env.get("/v1/key");
    assert_eq!((s, v), (200, json!([])));
}

#[test]
fn failed_when_the_operation_fails() {
    let env = start();
    let a = Approver::ec();
    env.ec_key("k", use_policy(vec![token(0, 0, vec![(1, vec![&a])])]));
    // A known algorithm name that an EC key cannot do: accepted, fails at execution.
    let (s, v) = env.post("/v1/sign", &sign_body("k", "SHA256_WITH_RSA"));
    assert_eq!(s, 201, "{v}");
    let id = v["signRequestId"].as_str().unwrap().to_string();
    env.approve(&a, &id);
    let st = env.status(&id);
    assert_eq!(st["status"], "FAILED", "{st}");
    assert_eq!(st["result"], json!(null));
}

#[test]
fn blocked_key_is_refused_and_can_be_unblocked() {
    let env = start();
    let mut policy = use_policy(vec![]);
    policy["keyStatus"]["blocked"] = json!(true);
    env.ec_key("b", policy);
    let (s, v) = env.post("/v1/synchronousSign", &sign_body("b", "SHA256_WITH_ECDSA"));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(614)), "{v}");
    assert_eq!(v["message"], "key is blocked");
    let (s, v) = env.post("/v1/sign", &sign_body("b", "SHA256_WITH_ECDSA"));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(614)), "{v}");
    // Unblock (empty ruleUnblock: executes at once), then block again synchronously.
    let (s, v) = env.post(
        "/v1/unblock",
        &json!({"unblockRequest": {"unblockKeyName": "b"}}),
    );
    assert_eq!(s, 201, "{v}");
    let id = v["unblockKeyRequestId"].as_str().unwrap().to_string();
    assert_eq!(env.state(&id), "EXECUTED");
    let (s, v) = env.post("/v1/synchronousSign", &sign_body("b", "SHA256_WITH_ECDSA"));
    assert_eq!(s, 200, "{v}");
    let (s, v) = env.post(
        "/v1/synchronousBlock",
        &json!({"blockRequest": {"blockKeyName": "b"}}),
    );
    assert_eq!(s, 200, "{v}");
    let (_, v) = env.post("/v1/key/attributes", &json!({"label": "b"}));
    assert_eq!(v["json"]["policy"]["keyStatus"]["blocked"], true);
    let (s, _) = env.post("/v1/synchronousSign", &sign_body("b", "SHA256_WITH_ECDSA"));
    assert_eq!(s, 400);
}

#[test]
fn block_request_needs_block_rule_approval() {
    let env = start();
    let a = Approver::ec();
    let mut policy = use_policy(vec![]);
    policy["ruleBlock"] = json!({"tokens": [token(0, 0, vec![(1, vec![&a])])]});
    env.ec_key("k", policy);
    let (s, v) = env.post(
        "/v1/synchronousBlock",
        &json!({"blockRequest": {"blockKeyName": "k"}}),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(401)), "{v}");
    let (s, v) = env.post("/v1/block", &json!({"blockRequest": {"blockKeyName": "k"}}));
    assert_eq!(s, 201, "{v}");
    let id = v["blockKeyRequestId"].as_str().unwrap().to_string();
    let (_, v) = env.tasks(&a, "filteredSignApprovalTask", json!({}));
    assert_eq!(v["tasks"], json!([]));
    let (_, v) = env.tasks(
        &a,
        "filteredBlockKeyApprovalTask",
        json!({"detailLevel": "level3"}),
    );
    assert_eq!(
        v["tasks"][0]["signedBlockKeyRequest"]["blockRequest"]["blockKeyName"],
        "k"
    );
    env.approve(&a, &id);
    let st = env.status(&id);
    assert_eq!(
        (st["status"].as_str(), &st["result"]),
        (Some("EXECUTED"), &json!(null))
    );
    let (s, _) = env.post("/v1/synchronousSign", &sign_body("k", "SHA256_WITH_ECDSA"));
    assert_eq!(s, 400);
}

#[test]
fn approval_api_checks() {
    let env = start();
    let (a, b, stranger) = (Approver::ec(), Approver::ec(), Approver::ec());
    env.ec_key("k", use_policy(vec![token(0, 0, vec![(2, vec![&a, &b])])]));
    let id = env.sign_async("k");
    let id2 = env.sign_async("k");

    // Unknown approver: empty list, not an error.
    assert!(env.task_list(&stranger).is_empty());
    // Detail levels.
    let (_, v) = env.tasks(&a, "filteredSignApprovalTask", json!({"requestId": id}));
    let t1 = v["tasks"][0].clone();
    assert_eq!(t1["detailLevel"], "level1");
    assert!(t1.get("payload").is_none());
    let (_, v) = env.tasks(
        &a,
        "filteredSignApprovalTask",
        json!({"requestId": id, "detailLevel": "level2"}),
    );
    assert_eq!(
        v["tasks"][0]["payload"],
        sign_body("k", "x")["signRequest"]["payload"]
    );
    assert!(v["tasks"][0].get("requestBase64").is_none());
    let (_, v) = env.tasks(
        &a,
        "filteredSignApprovalTask",
        json!({"id": t1["id"], "detailLevel": "level3"}),
    );
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["tasks"][0]["signedSignRequest"]["signRequest"]["signKeyName"],
        "k"
    );
    assert!(v["tasks"][0]["requestBase64"].is_string());
    // Each task is unique.
    assert_eq!(env.task_list(&a).len(), 2);
    let all: Vec<_> = env
        .task_list(&a)
        .into_iter()
        .chain(env.task_list(&b))
        .map(|t| t["approvalToBeSigned"].clone())
        .collect();
    let mut dedup = all.clone();
    dedup.sort_by_key(|v| v.to_string());
    dedup.dedup();
    assert_eq!(dedup.len(), all.len());

    // Bad timestamp signature -> 403; stale timestamp -> 404 (HTTP 400).
    let mut proof = a.timestamp_proof();
    proof["timestampSignature"] = json!(b.sign(b"other"));
    let (s, v) = env.post("/v1/filteredSignApprovalTask", &proof);
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(403)), "{v}");
    let mut stale = a.timestamp_proof();
    let ts = (chrono::Utc::now() - chrono::Duration::seconds(900)).to_rfc3339();
    stale["timestamp"] = json!(ts);
    stale["timestampSignature"] = json!(a.sign(ts.as_bytes()));
    let (s, v) = env.post("/v1/filteredSignApprovalTask", &stale);
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(404)), "{v}");

    // Approval errors: unknown task, wrong approver, bad signature, altered bytes.
    let mut body = a.approval(&t1);
    body["id"] = json!("nope");
    let (s, v) = env.post("/v1/approval", &body);
    assert_eq!((s, v["errorCode"].as_i64()), (404, Some(652)), "{v}");
    let (s, v) = env.post("/v1/approval", &b.approval(&t1));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(403)), "{v}");
    let mut body = a.approval(&t1);
    body["signature"] = json!(a.sign(b"something else"));
    let (s, v) = env.post("/v1/approval", &body);
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(403)), "{v}");
    let mut body = a.approval(&t1);
    body["approvalToBeSigned"] = json!("AAAA");
    let (s, _) = env.post("/v1/approval", &body);
    assert_eq!(s, 400);
    // The real approval works once; a second time the task is gone.
    let (s, v) = env.post("/v1/approval", &a.approval(&t1));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!(null));
    let (s, v) = env.post("/v1/approval", &a.approval(&t1));
    assert_eq!((s, v["errorCode"].as_i64()), (404, Some(652)), "{v}");
    assert_eq!(env.state(&id), "PENDING");
    assert_eq!(env.state(&id2), "PENDING");
    let (_, v) = env.post(
        "/v1/filteredRequests",
        &json!({"requestStatusList": ["PENDING"]}),
    );
    assert_eq!(v["requests"].as_array().unwrap().len(), 2);
}

#[test]
fn async_decrypt_certificates_and_sign_cert() {
    let env = start();
    let a = Approver::ec();
    env.rsa_key("ca", json!(null));
    let (s, v) = env.post(
        "/v1/certificate/synchronous/selfsign",
        &json!({
        "signKeyName": "ca", "signatureAlgorithm": "SHA256_WITH_RSA", "commonName": "Test CA",
        "certificateAuthority": true, "validity": 30, "keyUsage": ["KEY_CERT_SIGN", "CRL_SIGN"]}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["label"], "ca");
    let ca_pem = v["certificate"].as_str().unwrap().to_string();
    env.rsa_key("leaf", use_policy(vec![token(0, 0, vec![(1, vec![&a])])]));
    // Async CSR + approval, then async issue with the CA (plain key: executes at once).
    let (_, v) = env.post(
        "/v1/certificate/request",
        &json!({"csrSignRequest": {
        "signKeyName": "leaf", "signatureAlgorithm": "SHA256_WITH_RSA",
        "standardCertificateAttributes": {"commonName": "leaf.example"}}}),
    );
    let id = v["signRequestId"].as_str().unwrap().to_string();
    env.approve(&a, &id);
    let csr = env.status(&id)["result"].as_str().unwrap().to_string();
    let (s, v) = env.post("/v1/certificate/sign", &json!({"signCertificateRequest": {
        "signKeyName": "ca", "signatureAlgorithm": "SHA256_WITH_RSA", "certificateSigningRequest": csr,
        "keyUsage": ["DIGITAL_SIGNATURE"], "commonName": "leaf.example"}}));
    assert_eq!(s, 201, "{v}");
    let st = env.status(v["signRequestId"].as_str().unwrap());
    assert_eq!(st["status"], "EXECUTED", "{st}");
    let cert = openssl::x509::X509::from_pem(st["result"].as_str().unwrap().as_bytes()).unwrap();
    let ca = openssl::x509::X509::from_pem(ca_pem.as_bytes()).unwrap();
    assert!(cert.verify(&ca.public_key().unwrap()).unwrap());
    // Async self-sign: result "true", certificate stored on the key.
    let (_, v) = env.post(
        "/v1/certificate/selfsign",
        &json!({"selfSignCertificateRequest": {
        "signKeyName": "leaf", "signatureAlgorithm": "SHA256_WITH_RSA", "commonName": "self"}}),
    );
    let id = v["signRequestId"].as_str().unwrap().to_string();
    env.approve(&a, &id);
    assert_eq!(env.status(&id)["result"], "true");
    let (s, v) = env.get("/v1/certificate/leaf");
    assert_eq!(s, 200);
    let pem = v["certificate"].as_str().unwrap();
    let c = openssl::x509::X509::from_pem(pem.as_bytes()).unwrap();
    assert!(format!("{:?}", c.subject_name()).contains("self"));

    // Async decrypt of an RSA-OAEP ciphertext made with the public key.
    let (_, attrs) = env.post("/v1/key/attributes", &json!({"label": "leaf"}));
    let spki = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        attrs["json"]["publicKey"].as_str().unwrap(),
    )
    .unwrap();
    let pk = openssl::pkey::PKey::public_key_from_der(&spki).unwrap();
    let rsa = pk.rsa().unwrap();
    let mut ct = vec![0u8; rsa.size() as usize];
    let n = rsa
        .public_encrypt(b"secret", &mut ct, openssl::rsa::Padding::PKCS1_OAEP)
        .unwrap();
    let ct_b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &ct[..n]);
    let body = json!({"decryptRequest": {"encryptedPayload": ct_b64, "decryptKeyName": "leaf", "cipherAlgorithm": "RSA_PADDING_OAEP_WITH_SHA1"}});
    let (s, v) = env.post("/v1/synchronousDecrypt", &body);
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(401)));
    let (s, v) = env.post("/v1/decrypt", &body);
    assert_eq!(s, 201, "{v}");
    let id = v["decryptRequestId"].as_str().unwrap().to_string();
    let (_, v) = env.tasks(
        &a,
        "filteredDecryptApprovalTask",
        json!({"detailLevel": "level3"}),
    );
    assert_eq!(v["tasks"][0]["signedDecryptRequest"], body);
    env.approve(&a, &id);
    let st = env.status(&id);
    assert_eq!(
        st["result"],
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"secret"),
        "{st}"
    );
}

#[test]
fn certificate_approver_is_named_by_its_spki() {
    let env = start();
    let a = Approver::ec();
    // A self-signed certificate for the approver key, listed as a `certificate` approver.
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "approver@example.com")
        .unwrap();
    let name = name.build();
    let mut b = openssl::x509::X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&a.key).unwrap();
    b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    b.sign(&a.key, openssl::hash::MessageDigest::sha256())
        .unwrap();
    let cert_b64 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        b.build().to_der().unwrap(),
    );
    let policy = use_policy(vec![
        json!({"name": "t", "timelock": 0, "timeout": 0, "groups": [
        {"name": "g", "quorum": 1, "approvals": [{"type": "certificate", "value": cert_b64}]}]}),
    ]);
    env.ec_key("k", policy);
    let id = env.sign_async("k");
    assert_eq!(env.status(&id)["notYetApprovedBy"], json!([a.spki()]));
    // The approver authenticates with its certificate.
    let mut proof = a.timestamp_proof();
    proof.as_object_mut().unwrap().remove("approverPublicKey");
    proof["approverCertificate"] = json!(cert_b64);
    let (s, v) = env.post("/v1/filteredSignApprovalTask", &proof);
    assert_eq!(s, 200, "{v}");
    let mut approval = a.approval(&v["tasks"][0]);
    approval
        .as_object_mut()
        .unwrap()
        .remove("approverPublicKey");
    approval["approverCertificate"] = json!(cert_b64);
    let (s, v) = env.post("/v1/approval", &approval);
    assert_eq!(s, 200, "{v}");
    let st = env.status(&id);
    assert_eq!(st["status"], "EXECUTED");
    assert_eq!(st["approvedBy"], json!([a.spki()]));
}

#[test]
fn key_password_is_checked_at_creation_and_never_shown_to_approvers() {
    let env = start();
    let a = Approver::ec();
    env.create_key(
        json!({"label": "pw", "algorithm": "EC", "curveOid": "1.2.840.10045.3.1.7",
        "password": ["p", "w"], "attributes": {"sign": true, "decrypt": false, "unwrap": false},
        "policy": use_policy(vec![token(0, 0, vec![(1, vec![&a])])])}),
    );
    let mut body = sign_body("pw", "SHA256_WITH_ECDSA");
    let (s, v) = env.post("/v1/sign", &body);
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(620)), "{v}");
    body["signRequest"]["keyPassword"] = json!(["p", "w"]);
    let (s, v) = env.post("/v1/sign", &body);
    assert_eq!(s, 201, "{v}");
    let id = v["signRequestId"].as_str().unwrap().to_string();
    let (_, v) = env.tasks(
        &a,
        "filteredAllApprovalTask",
        json!({"detailLevel": "level3", "requestId": "other", "id": null}),
    );
    assert_eq!(v["tasks"], json!([]));
    let (_, v) = env.tasks(
        &a,
        "filteredAllApprovalTask",
        json!({"detailLevel": "level3"}),
    );
    let task = &v["tasks"][0];
    assert_eq!(
        task["signedSignRequest"]["signRequest"]["keyPassword"],
        json!(null)
    );
    let raw = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        task["requestBase64"].as_str().unwrap(),
    )
    .unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("[\"p\",\"w\"]"));
    // `id` wins over a non-matching requestId.
    let (_, v) = env.tasks(
        &a,
        "filteredAllApprovalTask",
        json!({"id": task["id"], "requestId": "other"}),
    );
    assert_eq!(v["tasks"].as_array().unwrap().len(), 1);
    env.approve(&a, &id);
    assert_eq!(env.state(&id), "EXECUTED");
}

#[test]
fn task_paging_and_order() {
    let env = start();
    let a = Approver::ec();
    env.ec_key("k", use_policy(vec![token(0, 0, vec![(1, vec![&a])])]));
    let ids: Vec<String> = (0..3).map(|_| env.sign_async("k")).collect();
    let page = |n: u32, order: &str| {
        let (s, v) = env.tasks(
            &a,
            "filteredAllApprovalTask",
            json!({"detailLevel": "level3",
            "paging": {"pageNumber": n, "pageSize": 2, "sortOrder": order}}),
        );
        assert_eq!(s, 200, "{v}");
        v["tasks"].as_array().unwrap().clone()
    };
    // Three tasks in creation order: ascending pages [0,1] and [2]; descending starts at 2.
    let asc0 = page(0, "CREATION_DATE_ASC");
    let asc1 = page(1, "CREATION_DATE_ASC");
    let desc0 = page(0, "CREATION_DATE_DESC");
    assert_eq!((asc0.len(), asc1.len(), desc0.len()), (2, 1, 2));
    assert_eq!(desc0[0]["id"], asc1[0]["id"]);
    assert_eq!(desc0[1]["id"], asc0[1]["id"]);
    // Filtering by request id picks exactly that request's task.
    let (_, v) = env.tasks(&a, "filteredAllApprovalTask", json!({"requestId": ids[2]}));
    assert_eq!(v["tasks"][0]["id"], asc1[0]["id"]);
}

/// Since TSB 2.0.1 "never fulfillable RuleModify, RuleBlock, and RuleUnblock" are allowed (S2
/// `tsb/Download/release_notes.md`, audit divergence #8); a ruleUse that can never be met is not.
#[test]
fn never_fulfillable_quorum_is_refused_only_in_rule_use() {
    let env = start();
    let a = Approver::ec();
    let frozen = token(0, 0, vec![(2, vec![&a])]);
    let usable = token(0, 0, vec![(1, vec![&a])]);
    let mut policy = use_policy(vec![usable.clone()]);
    for rule in ["ruleModify", "ruleBlock", "ruleUnblock"] {
        policy[rule] = json!({"tokens": [frozen.clone()]});
    }
    let v = env.ec_key("Frozen", policy);
    assert_eq!(
        v["json"]["policy"]["ruleModify"]["tokens"][0]["groups"][0]["quorum"],
        2
    );
    let (s, v) = env.post(
        "/v1/key",
        &json!({"label": "Unusable", "algorithm": "EC", "curveOid": "1.2.840.10045.3.1.7",
                "attributes": {"sign": true, "decrypt": false, "unwrap": false}, "policy": use_policy(vec![frozen])}),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(600)), "{v}");
}

/// The TSB's `PagingDto` (S3 `src/main/java/com/securosys/tee/dto/tsb/request/PagingDto.java`):
/// `@NotNull SortOrder sortOrder`, `@Min(1) pageSize`, `@Min(0) pageNumber`, checked by bean
/// validation (`@Valid` in `FilteredTasksRequestDto`): 400 with errorCode 600 (audit divergence
/// #1). Paging itself is optional.
#[test]
fn paging_needs_a_valid_sort_order() {
    let env = start();
    let a = Approver::ec();
    env.ec_key("k", use_policy(vec![token(0, 0, vec![(1, vec![&a])])]));
    env.sign_async("k");
    for paging in [
        json!({"pageNumber": 0, "pageSize": 25}),
        json!({"pageNumber": 0, "pageSize": 25, "sortOrder": null}),
        json!({"pageNumber": 0, "pageSize": 25, "sortOrder": "NEWEST_FIRST"}),
        json!({"pageNumber": 0, "pageSize": 0, "sortOrder": "CREATION_DATE_ASC"}),
        json!({"pageNumber": -1, "pageSize": 25, "sortOrder": "CREATION_DATE_ASC"}),
    ] {
        let (s, v) = env.tasks(&a, "filteredAllApprovalTask", json!({ "paging": paging }));
        assert_eq!(
            (s, v["errorCode"].as_i64()),
            (400, Some(600)),
            "{paging}: {v}"
        );
        assert_eq!(v["reason"], "res.error.input.validation.failed");
    }
    for order in [
        "CREATION_DATE_ASC",
        "CREATION_DATE_DESC",
        "LAST_FETCHED_DATE_ASC",
        "LAST_FETCHED_DATE_DESC",
    ] {
        let paging = json!({"pageNumber": 0, "pageSize": 25, "sortOrder": order});
        let (s, v) = env.tasks(&a, "filteredAllApprovalTask", json!({ "paging": paging }));
        assert_eq!(s, 200, "{order}: {v}");
        assert_eq!(v["tasks"].as_array().map(Vec::len), Some(1));
    }
    assert_eq!(env.task_list(&a).len(), 1);
}

/// Approver timestamps: "maxFutureTimestampDiffApprovalClient: 0 # in seconds ... Default 0
/// seconds" and "maxTimestampDiffApprovalClient: 600" (S2 `tsb/Download/release_notes.md`, 1.18.0;
/// audit divergence #2). A stamp in the future is refused by default; one a few seconds old is fine.
#[test]
fn approver_timestamps_may_not_be_in_the_future() {
    let env = start();
    let a = Approver::ec();
    let at = |offset_s: i64| {
        let ts = (chrono::Utc::now() + chrono::Duration::seconds(offset_s))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut proof = a.timestamp_proof();
        proof["timestamp"] = json!(ts);
        proof["timestampSignature"] = json!(a.sign(ts.as_bytes()));
        proof
    };
    let (s, v) = env.post("/v1/filteredAllApprovalTask", &at(30));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(404)), "{v}");
    for offset in [-5, -590] {
        let (s, v) = env.post("/v1/filteredAllApprovalTask", &at(offset));
        assert_eq!(s, 200, "{offset} s: {v}");
    }
    // Both limits are configurable, as on the TSB.
    let env = start_with(tsb_emulator::EmulatorConfig {
        max_timestamp_future: Duration::from_secs(60),
        max_timestamp_age: Duration::from_secs(60),
        ..Default::default()
    });
    let (s, v) = env.post("/v1/filteredAllApprovalTask", &at(30));
    assert_eq!(s, 200, "{v}");
    let (s, v) = env.post("/v1/filteredAllApprovalTask", &at(-120));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(404)), "{v}");
}

/// With `scheduler_interval` (the TSB's `hsmRequestsTimerServiceInterval`, 60 s in its
/// configuration template, S2 `tsb/Download/release_notes.md` 1.18.0), an approved request stays
/// APPROVED and a timed-out one PENDING until the scheduler runs.
#[test]
fn scheduler_interval_delays_execution_and_expiry() {
    let env = start_with(EmulatorConfig {
        test_controls: true,
        scheduler_interval: Duration::from_secs(3600),
        ..EmulatorConfig::default()
    });
    let a = Approver::ec();
    env.ec_key("k", use_policy(vec![token(0, 60, vec![(1, vec![&a])])]));
    let done = env.sign_async("k");
    env.approve(&a, &done);
    let late = env.sign_async("k");
    assert_eq!(env.state(&done), "APPROVED");
    env.emu.advance_clock(Duration::from_secs(120));
    assert_eq!(
        env.state(&late),
        "PENDING",
        "expiry waits for the scheduler"
    );
    assert_eq!(env.state(&done), "APPROVED");
    // The test control runs it (as Emulator::run_scheduler does).
    let (s, v) = env.post("/_emulator/scheduler/run", &json!({}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(env.state(&done), "EXECUTED");
    assert_eq!(env.state(&late), "EXPIRED");
    // A short interval: the scheduler executes by itself.
    let env = start_with(EmulatorConfig {
        scheduler_interval: Duration::from_millis(100),
        ..EmulatorConfig::default()
    });
    env.ec_key("k", use_policy(vec![token(0, 0, vec![(1, vec![&a])])]));
    let id = env.sign_async("k");
    env.approve(&a, &id);
    assert_eq!(env.wait_state(&id, "EXECUTED")["status"], "EXECUTED");
}

/// Deleting a request that already ended: Securosys' Go client treats a 404 and a 500 of
/// `DELETE /v1/request/{id}` as "already gone" (S1 `requests.go` `RemoveRequest`), so a TSB
/// answers one of them there; the emulator answers 500 for an ended request (which one a TSB
/// gives in which case is not documented) and 404 errorCode 651 for an unknown id.
#[test]
fn deleting_an_ended_request_is_a_500() {
    let env = start();
    env.ec_key("k", json!(null));
    let id = env.sign_async("k");
    assert_eq!(env.state(&id), "EXECUTED");
    let (s, v) = env.delete(&format!("/v1/request/{id}"), None);
    assert_eq!(s, 500, "{v}");
    assert!(v["errorCode"].is_i64(), "{v}");
    assert_eq!(env.state(&id), "EXECUTED");
}
