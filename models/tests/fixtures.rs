//! The seed's real JSON bodies must parse into the shared models and survive a round trip, so a
//! field name that the module, the emulator and the approver all got wrong the same way is caught.

use std::path::PathBuf;
use tsb_models::*;

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn create_key_request_parses() {
    let raw = fixture("create-key-request.json");
    let req: CreateKeyRequest = serde_json::from_str(&raw).unwrap();
    assert_eq!(req.label, "SUB.approver.securosys.com");
    assert_eq!(req.algorithm.as_deref(), Some("RSA"));
    assert_eq!(req.key_size, Some(2048));
    assert_eq!(req.attributes.sign, Some(true));
    assert_eq!(req.attributes.decrypt, Some(false));
    let policy = req.policy.as_ref().unwrap();
    let token = &policy.rule_use.as_ref().unwrap().tokens[0];
    assert_eq!((token.timelock, token.timeout), (0, 600));
    let group = &token.groups.as_ref().unwrap()[0];
    assert_eq!(group.quorum, 1);
    assert_eq!(group.approvals[0].kind, "public_key");
    assert!(group.approvals[0]
        .value
        .as_ref()
        .unwrap()
        .starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"));
    assert_eq!(policy.key_status.as_ref().map(|s| s.blocked), Some(false));
    // The seed's policy passes the one validator, and names a known algorithm.
    assert_eq!(policy.validate(), Ok(()));
    assert_eq!(
        KeyAlgorithm::from_name_or_oid(req.algorithm.as_deref().unwrap()),
        Some(KeyAlgorithm::Rsa)
    );
    // Round trip keeps every field the seed sends.
    let back: serde_json::Value = serde_json::to_value(&req).unwrap();
    let orig: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(back, orig);
}

#[test]
fn csr_request_and_response_parse() {
    let req: CsrEnvelope = serde_json::from_str(&fixture("csr-request.json")).unwrap();
    let csr = &req.csr_sign_request;
    assert_eq!(csr.sign_key_name, "sub.approver.securosys.com");
    assert_eq!(csr.key_password, None);
    assert_eq!(csr.signature_algorithm, "SHA256_WITH_RSA");
    assert_eq!(csr.validity, Some(365));
    assert_eq!(
        csr.standard_certificate_attributes.common_name,
        "Approver-Intermediate-SUB"
    );
    assert_eq!(csr.key_usage, vec!["DIGITAL_SIGNATURE"]);
    assert_eq!(csr.extended_key_usage, vec!["CODE_SIGNING"]);
    assert!(algorithms::certificate_signature_algorithm(&csr.signature_algorithm).is_some());
    let raw = serde_json::from_str(&fixture("csr-request.json")).unwrap();
    // The body's inner object is where the request-type table says.
    let inner = serde_json::Value::get(
        &raw,
        RequestType::CertificateSigningRequest.envelope_field(),
    )
    .unwrap();
    assert_eq!(
        inner[RequestType::CertificateSigningRequest.key_name_field()],
        "sub.approver.securosys.com"
    );
    let resp: SignRequestId = serde_json::from_str(&fixture("csr-response.json")).unwrap();
    assert_eq!(resp.sign_request_id, "60ac4e54-be5a-4521-8cb2-3be8d452bb0e");
    let raw: serde_json::Value = serde_json::from_str(&fixture("csr-response.json")).unwrap();
    assert_eq!(
        request_id_in(&raw),
        Some("60ac4e54-be5a-4521-8cb2-3be8d452bb0e")
    );
}

#[test]
fn executed_status_parses() {
    let st: RequestStatus = serde_json::from_str(&fixture("request-status-executed.json")).unwrap();
    assert_eq!(st.status, RequestState::Executed);
    assert_eq!(st.approved_by.len(), 1);
    assert!(st.not_yet_approved_by.is_empty() && st.rejected_by.is_empty());
    assert!(st
        .result
        .unwrap()
        .starts_with("-----BEGIN NEW CERTIFICATE REQUEST-----\n"));
    assert_eq!(st.execution_time.as_deref(), Some("2024-01-23T11:27:12Z"));
}
