//! TSB 2.2.0 request-signature whitelisting (`allowedRequestCertificates`, S2
//! `tsb/Download/release_notes.md`: "Whitelisted certificates are required to sign requests if
//! enabled"). The signature is the `requestSignature` of the `Signed*RequestDto` envelopes (S3
//! `dto/tsb/request/SignatureDto.java`: `signature`, `digestAlgorithm`, `publicKey`), made as
//! Securosys' Go client makes it (S1 `tsb_client.go` `GenerateRequestSignature`): SHA-256 with
//! RSA PKCS#1 v1.5 over the inner request's JSON text with the whitespace between tokens removed
//! (Go's `json.Compact`: the order and escapes of the text as sent).

mod common;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::*;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use serde_json::{json, Value};
use tsb_emulator::{EmulatorConfig, TsbVersion};

/// An application key and its self-signed certificate (DER).
fn app_key() -> (PKey<Private>, Vec<u8>) {
    let (key, cert) = self_signed("app");
    (key, cert.to_der().unwrap())
}

/// `{"<field>": <inner as written>, "requestSignature": ...}` as S1 builds it: the inner text is
/// kept as written (with its line breaks), the signature covers its compact form.
fn signed_body(field: &str, inner_text: &str, key: &PKey<Private>) -> String {
    let compact = serde_json::to_string(&serde_json::from_str::<Value>(inner_text).unwrap());
    // serde_json keeps no order, so build the compact text by hand for this test's inner texts,
    // which have no whitespace inside strings: drop every space and line break.
    let compact_text: String = inner_text.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(compact_text.len(), compact.unwrap().len());
    let mut s = Signer::new(MessageDigest::sha256(), key).unwrap();
    s.update(compact_text.as_bytes()).unwrap();
    let sig = B64.encode(s.sign_to_vec().unwrap());
    let public = B64.encode(key.public_key_to_der().unwrap());
    format!(
        "{{\"{field}\": {inner_text},\n \"requestSignature\": {{\"signature\": \"{sig}\", \
         \"digestAlgorithm\": \"SHA-256\", \"publicKey\": \"{public}\"}}}}"
    )
}

fn inner_sign(key: &str) -> String {
    format!(
        "{{\n  \"signKeyName\": \"{key}\",\n  \"payload\": \"{}\",\n  \
         \"signatureAlgorithm\": \"SHA256_WITH_ECDSA\"\n}}",
        B64.encode(b"hello")
    )
}

fn code(r: (u16, Value)) -> (u16, Option<i64>) {
    (r.0, r.1["errorCode"].as_i64())
}

#[test]
fn whitelisted_request_signatures() {
    let (app, cert) = app_key();
    let (stranger, _) = app_key();
    let env = start_with(EmulatorConfig {
        tsb_version: TsbVersion::V2_2_0,
        allowed_request_certificates: vec![cert],
        ..EmulatorConfig::default()
    });
    env.ec_key("k", json!(null));
    // Unsigned: refused, errorCode 415 res.error.request.signer.not.allowed.
    let (s, v) = env.post("/v1/sign", &sign_body("k", "SHA256_WITH_ECDSA"));
    assert_eq!(
        (s, v["errorCode"].as_i64(), v["reason"].as_str()),
        (400, Some(415), Some("res.error.request.signer.not.allowed")),
        "{v}"
    );
    assert_eq!(
        code(env.post("/v1/synchronousSign", &sign_body("k", "SHA256_WITH_ECDSA"))),
        (400, Some(415))
    );
    // Signed by the whitelisted key, over the compact inner JSON: accepted.
    for path in ["/v1/sign", "/v1/synchronousSign"] {
        let body = signed_body("signRequest", &inner_sign("k"), &app);
        let (s, v) = env.post_raw(path, &body);
        assert!(s == 200 || s == 201, "{path}: {v}");
    }
    // By a key no whitelisted certificate holds: 415.
    let body = signed_body("signRequest", &inner_sign("k"), &stranger);
    assert_eq!(code(env.post_raw("/v1/sign", &body)), (400, Some(415)));
    // Over other data (the inner request changed after signing): 403 invalid signature.
    let body = signed_body("signRequest", &inner_sign("k"), &app).replace("\"k\"", "\"K\"");
    assert_eq!(code(env.post_raw("/v1/sign", &body)), (400, Some(403)));
    // Bodies without a requestSignature field in their DTO (the synchronous certificate
    // endpoints) and non-request endpoints need none.
    let csr = json!({"signKeyName": "k", "signatureAlgorithm": "SHA256_WITH_ECDSA",
                     "standardCertificateAttributes": {"commonName": "k"}});
    assert_eq!(env.post("/v1/certificate/synchronous/request", &csr).0, 200);
    assert_eq!(env.get("/v1/key").0, 200);
    // Block: another envelope.
    let inner = "{\"blockKeyName\": \"k\"}";
    assert_eq!(
        code(env.post_raw(
            "/v1/synchronousBlock",
            &format!("{{\"blockRequest\": {inner}}}")
        )),
        (400, Some(415))
    );
    let (s, v) = env.post_raw(
        "/v1/synchronousBlock",
        &signed_body("blockRequest", inner, &app),
    );
    assert_eq!(s, 200, "{v}");
}

#[test]
fn without_whitelist_signatures_are_relayed_unchecked() {
    let (stranger, _) = app_key();
    let env = start_with(EmulatorConfig {
        tsb_version: TsbVersion::V2_2_0,
        ..EmulatorConfig::default()
    });
    env.ec_key("k", json!(null));
    assert_eq!(
        env.post("/v1/sign", &sign_body("k", "SHA256_WITH_ECDSA")).0,
        201
    );
    let body = signed_body("signRequest", &inner_sign("k"), &stranger);
    assert_eq!(env.post_raw("/v1/sign", &body).0, 201);
}
