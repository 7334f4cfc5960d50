//! The seed's flow with its bodies unchanged: create `SUB.approver.securosys.com` with the
//! fixture's SKA policy (approver swapped for a test key), ask for the CSR of the lower-case
//! label, approve through the approval API, and check the PEM CSR with the openssl CLI.

mod common;
use common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::process::Command;

fn swap_approver(v: &mut Value, spki: &str) {
    match v {
        Value::Object(m) => {
            if m.get("type") == Some(&json!("public_key")) {
                m.insert("value".into(), json!(spki));
            }
            for x in m.values_mut() {
                swap_approver(x, spki);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| swap_approver(x, spki)),
        _ => {}
    }
}

#[test]
fn seed_csr_with_ska_key() {
    let env = start();
    let approver = Approver::rsa();
    let mut create = fixture("create-key-request.json");
    swap_approver(&mut create, &approver.spki());
    let key = env.create_key(create);
    assert_eq!(key["json"]["label"], "SUB.approver.securosys.com");
    assert_eq!(key["json"]["attributes"]["extractable"], false);
    assert_eq!(key["json"]["attributes"]["sensitive"], true);
    assert_eq!(key["json"]["policy"]["keyStatus"]["blocked"], false);
    assert_eq!(key["attestationKeyName"], "attestation-key");
    assert!(key["xml"].as_str().unwrap().starts_with("<private_key>"));

    // The seed's CSR request, unchanged (lower-case label).
    let (s, v) = env.post("/v1/certificate/request", &fixture("csr-request.json"));
    assert_eq!(s, 201, "{v}");
    let id = v["signRequestId"].as_str().unwrap().to_string();
    let st = env.status(&id);
    assert_eq!(st["status"], "PENDING");
    assert_eq!(st["notYetApprovedBy"], json!([approver.spki()]));

    // Certificate requests are listed by the Sign and All task paths, not by Decrypt.
    let (_, v) = env.tasks(&approver, "filteredDecryptApprovalTask", json!({}));
    assert_eq!(v["tasks"], json!([]));
    let (s, v) = env.tasks(
        &approver,
        "filteredSignApprovalTask",
        json!({"detailLevel": "level3"}),
    );
    assert_eq!(s, 200, "{v}");
    let task = &v["tasks"][0];
    assert_eq!(task["approverPublicKey"], approver.spki());
    assert_eq!(
        task["signedCertificateRequestRequest"],
        fixture("csr-request.json")
    );
    assert_eq!(task["payloadType"], "UNSPECIFIED");
    let (s, v) = env.post("/v1/approval", &approver.approval(task));
    assert_eq!(s, 200, "{v}");

    let st = env.wait_state(&id, "EXECUTED");
    assert_eq!(st["approvedBy"], json!([approver.spki()]));
    assert_eq!(st["notYetApprovedBy"], json!([]));
    assert_eq!(st["rejectedBy"], json!([]));
    assert!(st["executionTime"].as_str().unwrap().ends_with('Z'));
    let pem = st["result"].as_str().unwrap();
    assert!(
        pem.starts_with("-----BEGIN NEW CERTIFICATE REQUEST-----\n"),
        "{pem}"
    );

    // The CSR verifies and names the requested CN; its key is the SKA key.
    let dir = std::env::temp_dir().join(format!("tsb-emu-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sub.csr");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(pem.as_bytes())
        .unwrap();
    let out = Command::new("openssl")
        .args(["req", "-in"])
        .arg(&path)
        .args(["-verify", "-noout", "-subject"])
        .output()
        .expect("openssl CLI");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("verify OK") || text.contains("Certificate request self-signature verify OK"),
        "{text}"
    );
    assert!(
        text.contains("CN=Approver-Intermediate-SUB")
            || text.contains("CN = Approver-Intermediate-SUB"),
        "{text}"
    );
    let csr = openssl::x509::X509Req::from_pem(pem.as_bytes()).unwrap();
    let spki = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        csr.public_key().unwrap().public_key_to_der().unwrap(),
    );
    assert_eq!(key["json"]["publicKey"], spki);
    let _ = std::fs::remove_dir_all(&dir);

    // Since TSB 1.16.1 the key also got a self-signed certificate.
    let (s, v) = env.get("/v1/certificate/sub.approver.securosys.com");
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["label"], "SUB.approver.securosys.com");
    assert!(v["certificate"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
}
