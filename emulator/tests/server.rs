//! Server behaviour: auth, fault injection, request counts, bad input, concurrency, persistence,
//! TLS, and the binary.

mod common;
use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tsb_emulator::{EmulatorConfig, Fault, FaultAction, Role, TsbVersion};

fn raw(env: &Env, request: &str) -> String {
    let mut s = TcpStream::connect(env.emu.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn version_license_statistics() {
    let env = start();
    // The profile's version (the newest by default), as a TSB writes it.
    assert_eq!(
        env.get("/v1/versionInfo"),
        (
            200,
            json!({"Version": TsbVersion::LATEST_RELEASE.to_string()})
        )
    );
    let old = start_with(EmulatorConfig {
        tsb_version: TsbVersion::V1_18_0,
        ..EmulatorConfig::default()
    });
    assert_eq!(old.get("/v1/versionInfo").1, json!({"Version": "1.18.0"}));
    let (s, v) = env.get("/v1/licenseInfo");
    assert_eq!(s, 200);
    assert!(v["clientFlags"]
        .as_array()
        .unwrap()
        .contains(&json!("TSB_ENGINE")));
    let (s, v) = env.get("/v1/keystore/statistics");
    assert_eq!(s, 200);
    assert!(v["keyStoreStatistics"].is_string());
}

#[test]
fn bearer_token_and_api_keys() {
    let env = start_with(EmulatorConfig {
        bearer_token: Some("jwt".into()),
        api_keys: vec![
            (Role::Service, "svc1".into()),
            (Role::Service, "svc2".into()),
        ],
        ..EmulatorConfig::default()
    });
    let (s, v) = env.get("/v1/versionInfo");
    assert_eq!((s, v["errorCode"].as_i64()), (401, Some(406)), "{v}");
    let get = |auth: Option<&str>, key: Option<&str>| {
        let mut rb = env.http.get(env.url("/v1/versionInfo"));
        if let Some(a) = auth {
            rb = rb.header("Authorization", a);
        }
        if let Some(k) = key {
            rb = rb.header("X-API-KEY", k);
        }
        parse(rb.send().unwrap())
    };
    let (s, v) = get(Some("Bearer nope"), Some("svc1"));
    assert_eq!((s, v["errorCode"].as_i64()), (401, Some(617)), "{v}");
    let (s, v) = get(Some("Bearer jwt"), None);
    assert_eq!(
        (s, v["errorCode"].as_i64(), v["reason"].as_str()),
        (401, Some(631), Some("res.error.invalid.api.key"))
    );
    let (s, _) = get(Some("Bearer jwt"), Some("wrong"));
    assert_eq!(s, 401);
    assert_eq!(get(Some("Bearer jwt"), Some("svc2")).0, 200);
    // A role without keys needs none; approver paths ignore the JWT.
    let (s, v) = parse(
        env.http
            .get(env.url("/v1/key"))
            .header("Authorization", "Bearer jwt")
            .send()
            .unwrap(),
    );
    assert_eq!((s, v), (200, json!([])));
    let a = Approver::ec();
    let (s, v) = env.tasks(&a, "filteredAllApprovalTask", json!({}));
    assert_eq!((s, v), (200, json!({"tasks": []})));
}

/// API-key rollover (TSB 2.0.1, S2 release notes: "multiple API-Keys in list format"): every key
/// of a role works; a key revoked at runtime answers 631 (what the official client rolls over on,
/// S1 `tsb_client.go` `doRequest`) while the others keep working.
#[test]
fn api_key_rollover_and_revocation() {
    let env = start_with(EmulatorConfig {
        test_controls: true,
        api_keys: vec![
            (Role::KeyOperation, "old".into()),
            (Role::KeyOperation, "new".into()),
            (Role::Service, "svc".into()),
        ],
        ..EmulatorConfig::default()
    });
    let random = |key: &str| {
        parse(
            env.http
                .get(env.url("/v1/generateRandom/8"))
                .header("X-API-KEY", key)
                .send()
                .unwrap(),
        )
    };
    assert_eq!(random("old").0, 200);
    assert_eq!(random("new").0, 200);
    env.emu.revoke_api_key("old");
    let (s, v) = random("old");
    assert_eq!((s, v["errorCode"].as_i64()), (401, Some(631)), "{v}");
    assert_eq!(random("new").0, 200);
    // The same over the test control; a key of another role is not a key of this one.
    let (s, _) = env.post("/_emulator/apiKeys/revoke", &json!({"key": "new"}));
    assert_eq!(s, 200);
    assert_eq!(random("new").0, 401);
    assert_eq!(random("svc").0, 401);
}

#[test]
fn faults_through_the_library() {
    let env = start();
    env.emu.inject_fault(Fault {
        path: "/v1/versionInfo".into(),
        method: Some("GET".into()),
        count: 2,
        action: FaultAction::Status {
            status: 503,
            error_code: Some(701),
        },
    });
    let (s, v) = env.get("/v1/versionInfo");
    assert_eq!((s, v["errorCode"].as_i64()), (503, Some(701)));
    assert_eq!(env.get("/v1/versionInfo").0, 503);
    assert_eq!(env.get("/v1/versionInfo").0, 200);

    env.emu.inject_fault(Fault {
        path: "/v1/version".into(),
        method: None,
        count: 1,
        action: FaultAction::Drop,
    });
    assert!(env.http.get(env.url("/v1/versionInfo")).send().is_err());
    assert_eq!(env.get("/v1/versionInfo").0, 200);

    env.emu.inject_fault(Fault {
        path: "/v1/versionInfo".into(),
        method: None,
        count: 1,
        action: FaultAction::Malformed,
    });
    let resp = env.http.get(env.url("/v1/versionInfo")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(serde_json::from_str::<Value>(&resp.text().unwrap()).is_err());

    env.emu.inject_fault(Fault {
        path: "/v1/versionInfo".into(),
        method: None,
        count: 1,
        action: FaultAction::Delay { ms: 300 },
    });
    let t = Instant::now();
    assert_eq!(env.get("/v1/versionInfo").0, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    // A method filter that does not match leaves the request alone.
    env.emu.inject_fault(Fault {
        path: "/v1/versionInfo".into(),
        method: Some("POST".into()),
        count: 1,
        action: FaultAction::Drop,
    });
    assert_eq!(env.get("/v1/versionInfo").0, 200);
    env.emu.clear_faults();
    // Every request above was counted, faulted or not.
    assert_eq!(env.emu.request_count("GET", "/v1/versionInfo"), 8);
}

#[test]
fn hostile_server_faults() {
    let env = start();
    let no_redirects = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    env.emu.inject_fault(Fault {
        path: "/v1/key".into(),
        method: Some("GET".into()),
        count: 1,
        action: FaultAction::Redirect {
            status: 307,
            location: "http://127.0.0.1:9/elsewhere".into(),
        },
    });
    let resp = no_redirects.get(env.url("/v1/key")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 307);
    assert_eq!(
        resp.headers()["location"].to_str().unwrap(),
        "http://127.0.0.1:9/elsewhere"
    );
    // The same connection serves the next request.
    assert_eq!(env.get("/v1/key"), (200, json!([])));

    // Flood with Content-Length: announced in full, body streamed until the client stops.
    let (s, _) = env.post(
        "/_emulator/faults",
        &json!({"path": "/v1/key", "action": {"kind": "flood", "bytes": 1u64 << 30}}),
    );
    assert_eq!(s, 200);
    let mut resp = no_redirects.get(env.url("/v1/key")).send().unwrap();
    assert_eq!(resp.content_length(), Some(1 << 30));
    let mut head = [0u8; 20];
    resp.read_exact(&mut head).unwrap();
    assert_eq!(&head, br#"{"signature":"AAAAAA"#);
    drop(resp);
    // Chunked: exactly `bytes` bytes, no Content-Length.
    env.post(
        "/_emulator/faults",
        &json!({"path": "/v1/key", "action": {"kind": "flood", "bytes": 200000, "chunked": true}}),
    );
    let resp = no_redirects.get(env.url("/v1/key")).send().unwrap();
    assert_eq!(resp.content_length(), None);
    assert_eq!(resp.headers()["transfer-encoding"], "chunked");
    assert_eq!(resp.bytes().unwrap().len(), 200000);

    // Black hole: no answer at all until the client gives up.
    env.post(
        "/_emulator/faults",
        &json!({"path": "/v1/key", "action": {"kind": "blackhole"}}),
    );
    let t = Instant::now();
    let e = no_redirects
        .get(env.url("/v1/key"))
        .timeout(Duration::from_millis(300))
        .send()
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));

    // Handle then drop: the key is created, the client never hears of it.
    env.post(
        "/_emulator/faults",
        &json!({"path": "/v1/key", "method": "POST", "action": {"kind": "handle_then_drop"}}),
    );
    let e = no_redirects
        .post(env.url("/v1/key"))
        .json(
            &json!({"label": "lost-answer", "algorithm": "EC", "curveOid": "1.2.840.10045.3.1.7",
                       "attributes": {"sign": true, "decrypt": false, "unwrap": false}}),
        )
        .send()
        .unwrap_err();
    assert!(!e.is_timeout(), "{e}");
    assert_eq!(env.get("/v1/key"), (200, json!(["lost-answer"])));
    assert_eq!(env.emu.request_count("POST", "/v1/key"), 1);
}

#[test]
fn faults_clock_and_counts_over_http() {
    let env = start();
    let (s, _) = env.post("/_emulator/faults", &json!({"path": "/v1/sign", "method": "POST", "count": 1, "action": {"kind": "status", "status": 500, "errorCode": 701}}));
    assert_eq!(s, 200);
    let (s, v) = env.post("/v1/sign", &sign_body("x", "SHA256_WITH_ECDSA"));
    assert_eq!((s, v["errorCode"].as_i64()), (500, Some(701)));
    let (s, v) = env.post("/v1/sign", &sign_body("x", "SHA256_WITH_ECDSA"));
    assert_eq!((s, v["errorCode"].as_i64()), (404, Some(650)));
    env.post(
        "/_emulator/faults",
        &json!({"path": "/v1/", "count": 1, "action": {"kind": "drop"}}),
    );
    assert!(env.http.get(env.url("/v1/key")).send().is_err());
    env.post(
        "/_emulator/faults",
        &json!({"path": "/v1/key", "count": 1, "action": {"kind": "malformed"}}),
    );
    let (s, v) = env.get("/v1/key");
    assert_eq!(s, 200);
    assert!(v.is_string(), "not JSON: {v}");
    env.post(
        "/_emulator/faults",
        &json!({"path": "/v1/key", "count": 1, "action": {"kind": "delay", "ms": 200}}),
    );
    let t = Instant::now();
    assert_eq!(env.get("/v1/key"), (200, json!([])));
    assert!(t.elapsed() >= Duration::from_millis(200));
    let (s, v) = env.post(
        "/_emulator/faults",
        &json!({"path": "/v1/key", "action": {"kind": "explode"}}),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(600)));

    let (_, c) = env.get("/_emulator/counts");
    assert_eq!(c["POST /v1/sign"], 2);
    assert_eq!(c["GET /v1/key"], 3);
    assert!(c.get("GET /_emulator/counts").is_none());
    let counts = env.emu.request_counts();
    assert_eq!(counts.get("POST /v1/sign"), Some(&2));
    let (s, _) = env.post("/_emulator/counts/reset", &json!({}));
    assert_eq!(s, 200);
    assert_eq!(env.get("/_emulator/counts"), (200, json!({})));
    env.get("/v1/key");
    env.emu.reset_counts();
    assert_eq!(env.emu.request_count("GET", "/v1/key"), 0);

    let (_, before) = env.get("/_emulator/clock");
    let (s, after) = env.post("/_emulator/clock", &json!({"advanceSeconds": 3600}));
    assert_eq!(s, 200);
    assert!(after["nowMs"].as_i64().unwrap() - before["nowMs"].as_i64().unwrap() >= 3_600_000);
    assert!(after["now"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn test_controls_are_404_when_off() {
    let env = start_with(EmulatorConfig::default());
    let (s, v) = env.get("/_emulator/counts");
    assert_eq!(s, 404);
    assert!(v["message"].is_string());
}

#[test]
fn bad_input_never_crashes() {
    let env = start();
    let (s, v) = env.post_raw("/v1/key", "{not json");
    assert_eq!(
        (s, v["errorCode"].as_i64(), v["reason"].as_str()),
        (400, Some(621), Some("res.error.invalid.json"))
    );
    let (s, v) = env.post_raw("/v1/synchronousSign", r#"{"signRequest": {"payload": []}}"#);
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(600)), "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("signRequest.payload"),
        "{v}"
    );
    let (s, v) = env.post(
        "/v1/synchronousSign",
        &sign_body("nope", "SHA256_WITH_ECDSA"),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (404, Some(650)));
    env.ec_key("k", json!(null));
    // A name outside the enum is a validation failure (audit divergence #12); a known name the
    // key cannot do is 607.
    let (s, v) = env.post("/v1/synchronousSign", &sign_body("k", "SHA256_WITH_ROT13"));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(600)));
    let (s, v) = env.post("/v1/synchronousSign", &sign_body("k", "SHA256_WITH_RSA"));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(607)), "{v}");
    let mut b = sign_body("k", "SHA256_WITH_ECDSA");
    b["signRequest"]["payload"] = json!("%%%");
    let (s, v) = env.post("/v1/synchronousSign", &b);
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(600)));
    let (s, v) = env.get("/v1/nothing");
    assert_eq!(s, 404);
    assert!(v["message"].is_string());
    let (s, v) = env.get("/v1/sign");
    assert_eq!(s, 405);
    assert!(v["message"].is_string());
    let (s, v) = env.get("/v1/generateRandom/0");
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(600)));
    let (s, _) = env.get("/v1/generateRandom/abc");
    assert_eq!(s, 400);
    let (s, v) = env.get("/v1/generateRandom/32");
    assert_eq!(s, 200);
    assert_eq!(v["random"].as_str().unwrap().len(), 44);
    let (s, v) = env.get("/v1/request/unknown");
    assert_eq!((s, v["errorCode"].as_i64()), (404, Some(651)));
    let (s, v) = env.get("/v1/certificate/k");
    assert_eq!((s, v["errorCode"].as_i64()), (404, Some(650)));
    // Oversized body: 413 with a TSB body, before the body is read.
    let big = "x".repeat(1024 * 1024 + 1);
    let (s, v) = env.post_raw("/v1/synchronousSign", &big);
    assert_eq!((s, v["errorCode"].as_i64()), (413, Some(600)));
    // Chunked bodies: 411 with a body.
    let out = raw(&env, "POST /v1/key HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 411"), "{out}");
    assert!(out.contains("errorCode"));
    // Garbage instead of HTTP.
    let out = raw(&env, "\x01\x02 garbage\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    // Non-UTF-8 and weird paths.
    let out = raw(
        &env,
        "GET /v1/key/%FF%FE/attributes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    // Still alive.
    assert_eq!(env.get("/v1/versionInfo").0, 200);
}

#[test]
fn key_creation_rules() {
    let env = start();
    let rsa = |label: &str, size: u32| json!({"label": label, "algorithm": "RSA", "keySize": size, "attributes": {"sign": true, "decrypt": false, "unwrap": false}});
    let cases = vec![
        // A missing label fails @NotEmpty (600); a blank one is the TSB's own check (610).
        (
            json!({"algorithm": "RSA", "keySize": 2048, "attributes": {"sign": true, "decrypt": false, "unwrap": false}}),
            600,
        ),
        (
            json!({"label": " ", "algorithm": "RSA", "keySize": 2048, "attributes": {"sign": true, "decrypt": false, "unwrap": false}}),
            610,
        ),
        (rsa("a", 1536), 603),
        (
            json!({"label": "a", "algorithm": "RSA", "keySize": 2048, "attributes": {"sign": false, "decrypt": false, "unwrap": false, "encrypt": true}}),
            606,
        ),
        (
            json!({"label": "a", "algorithm": "FOO", "attributes": {"sign": true, "decrypt": false, "unwrap": false}}),
            607,
        ),
        (
            json!({"label": "a", "algorithm": "EC", "curveOid": "1.2.3", "attributes": {"sign": true, "decrypt": false, "unwrap": false}}),
            603,
        ),
        (
            json!({"label": "a", "algorithm": "ED", "curveOid": "1.2.3", "attributes": {"sign": true, "decrypt": false, "unwrap": false}}),
            603,
        ),
        (
            json!({"label": "a", "algorithm": "EC", "curveOid": "1.2.840.10045.3.1.7", "attributes": {"sign": true, "decrypt": false, "unwrap": false},
                "policy": use_policy(vec![json!({"name": "t", "timelock": 30, "timeout": 0, "groups": null})])}),
            600,
        ),
        (
            json!({"label": "a", "algorithm": "EC", "curveOid": "1.2.840.10045.3.1.7", "attributes": {"sign": true, "decrypt": false, "unwrap": false},
                "policy": use_policy(vec![json!({"name": "t", "timelock": 0, "timeout": 0, "groups": [
                    {"name": "g", "quorum": 1, "approvals": [{"type": "public_key", "name": "x", "value": "***"}]}]})])}),
            601,
        ),
        (
            json!({"label": "a", "algorithm": "RSA", "keySize": "big", "attributes": {"sign": true, "decrypt": false, "unwrap": false}}),
            600,
        ),
    ];
    for (body, code) in cases {
        let (s, v) = env.post("/v1/key", &body);
        assert_eq!(
            (s, v["errorCode"].as_i64()),
            (400, Some(code)),
            "{body}: {v}"
        );
    }
    let v = env.create_key(json!({"label": "Ed", "algorithmOid": "1.3.101.112", "id": "0102", "attributes": {"sign": true, "decrypt": false, "unwrap": false}}));
    assert_eq!(v["json"]["algorithm"], "ED");
    assert_eq!(v["json"]["id"], "0102");
    assert_eq!(v["json"]["attributes"]["neverExtractable"], true);
    let v = env.create_key(json!({"label": "k1", "algorithm": "EC", "curveOid": "1.3.132.0.10", "attributes": {"sign": true, "decrypt": false, "unwrap": false, "extractable": true, "sensitive": false}}));
    assert_eq!(v["json"]["curveOid"], "1.3.132.0.10");
    assert_eq!(v["json"]["attributes"]["extractable"], true);
    assert_eq!(v["json"]["attributes"]["sensitive"], false);
    let spki = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        v["json"]["publicKey"].as_str().unwrap(),
    )
    .unwrap();
    assert!(openssl::pkey::PKey::public_key_from_der(&spki).is_ok());
    // Duplicate label, exactly or case-insensitively.
    for label in ["k1", "K1"] {
        let (s, v) = env.post(
            "/v1/key",
            &json!({"label": label, "algorithm": "ED", "attributes": {"sign": true, "decrypt": false, "unwrap": false}}),
        );
        assert_eq!((s, v["errorCode"].as_i64()), (400, Some(608)), "{label}");
    }
    // Look-up: exact, then case-insensitive; deprecated GET variant.
    let (s, v) = env.get("/v1/key/K1/attributes");
    assert_eq!((s, v["json"]["label"].as_str()), (200, Some("k1")));
    let (s, v) = env.get("/v1/key/nope/attributes");
    assert_eq!((s, v["errorCode"].as_i64()), (404, Some(650)));
    assert_eq!(env.get("/v1/key"), (200, json!(["Ed", "k1"])));
    // A key password is checked.
    env.create_key(json!({"label": "pw", "algorithm": "ED", "password": ["s", "e", "c"], "attributes": {"sign": true, "decrypt": false, "unwrap": false}}));
    let (s, v) = env.post(
        "/v1/key/attributes",
        &json!({"label": "pw", "password": "nope"}),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(620)));
    let (s, _) = env.post(
        "/v1/key/attributes",
        &json!({"label": "pw", "password": "sec"}),
    );
    assert_eq!(s, 200);
}

#[test]
fn certificate_import_get_delete() {
    let env = start();
    env.rsa_key("k", json!(null));
    let (s, v) = env.post(
        "/v1/certificate/synchronous/selfsign",
        &json!({
        "signKeyName": "K", "signatureAlgorithm": "SHA256_WITH_RSA", "commonName": "k"}),
    );
    assert_eq!(s, 200, "{v}");
    let pem = v["certificate"].as_str().unwrap().to_string();
    let (s, v) = env.get("/v1/certificate/k");
    assert_eq!((s, v["certificate"].as_str()), (200, Some(pem.as_str())));
    let (s, _) = env.delete("/v1/certificate/k", None);
    assert_eq!(s, 200);
    assert_eq!(env.get("/v1/certificate/k").0, 404);
    // Import: base64 DER, PEM armour tolerated (line breaks are not: @Base64Encoded); the key
    // must exist.
    let der = openssl::x509::X509::from_pem(pem.as_bytes())
        .unwrap()
        .to_der()
        .unwrap();
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der);
    let (s, v) = env.post(
        "/v1/certificate/import/plain",
        &json!({"label": "k", "certificate": b64}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["certificate"], pem);
    let armoured = format!("-----BEGIN CERTIFICATE-----{b64}-----END CERTIFICATE-----");
    let (s, v) = env.post(
        "/v1/certificate/import/plain",
        &json!({"label": "k", "certificate": armoured}),
    );
    assert_eq!(s, 200, "{v}");
    let (s, v) = env.post(
        "/v1/certificate/import/plain",
        &json!({"label": "k", "certificate": pem}),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(600)));
    let (s, v) = env.post(
        "/v1/certificate/import/plain",
        &json!({"label": "none", "certificate": b64}),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (404, Some(650)));
    // Sync CSR attaches no new certificate when one exists; the sync sign issues from a CSR.
    let (s, v) = env.post("/v1/certificate/synchronous/request", &json!({
        "signKeyName": "k", "signatureAlgorithm": "SHA256_WITH_RSA", "standardCertificateAttributes": {"commonName": "c"}}));
    assert_eq!(s, 200, "{v}");
    let csr = v["certificateSigningRequest"].as_str().unwrap().to_string();
    assert_eq!(env.get("/v1/certificate/k").1["certificate"], pem);
    let (s, v) = env.post("/v1/certificate/synchronous/sign", &json!({
        "signKeyName": "k", "signatureAlgorithm": "SHA256_WITH_RSA", "certificateSigningRequest": csr, "commonName": "issued"}));
    assert_eq!((s, v["label"].as_str()), (200, Some("k")), "{v}");
    let (s, v) = env.post("/v1/certificate/synchronous/sign", &json!({
        "signKeyName": "k", "signatureAlgorithm": "SHA256_WITH_RSA", "certificateSigningRequest": "garbage", "commonName": "x"}));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(628)), "{v}");
    // Deleting the key removes its certificate.
    env.delete("/v1/key/k", None);
    env.rsa_key("k", json!(null));
    assert_eq!(env.get("/v1/certificate/k").0, 404);
}

#[test]
fn sixteen_concurrent_clients() {
    let env = start();
    env.ec_key("k", json!(null));
    let base = env.emu.base_url();
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let base = base.clone();
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                for _ in 0..10 {
                    let r = http
                        .post(format!("{base}/v1/synchronousSign"))
                        .json(&sign_body("k", "SHA256_WITH_ECDSA"))
                        .send()
                        .unwrap();
                    assert_eq!(r.status().as_u16(), 200);
                }
            })
        })
        .collect();
    // Keep-alive connections that stay open do not block anyone else.
    let idle: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(env.emu.local_addr()).unwrap())
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(idle);
    assert_eq!(env.emu.request_count("POST", "/v1/synchronousSign"), 160);
}

#[test]
fn latency_and_requests_in_flight() {
    let env = start();
    // One at a time: never more than one in flight.
    for _ in 0..3 {
        assert_eq!(env.get("/v1/versionInfo").0, 200);
    }
    assert_eq!(env.emu.max_in_flight(), 1);
    env.emu.reset_counts();
    assert_eq!(env.emu.max_in_flight(), 0);
    // With latency, four clients that start together overlap: four in flight at once. The
    // latency is what every request waits (a lower bound on its time).
    env.emu.set_latency(Duration::from_millis(500));
    let base = env.emu.base_url();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (base, barrier) = (base.clone(), barrier.clone());
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                barrier.wait();
                let t = Instant::now();
                let r = http.get(format!("{base}/v1/versionInfo")).send().unwrap();
                assert_eq!(r.status().as_u16(), 200);
                t.elapsed()
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap() >= Duration::from_millis(500));
    }
    assert_eq!(env.emu.max_in_flight(), 4);
    assert_eq!(env.emu.request_count("GET", "/v1/versionInfo"), 4);
    // After a reset the mark starts again from what is in flight now (nothing).
    env.emu.set_latency(Duration::ZERO);
    env.emu.reset_counts();
    assert_eq!(env.get("/v1/versionInfo").0, 200);
    assert_eq!(env.emu.max_in_flight(), 1);
}

#[test]
fn key_generation_does_not_block_other_clients() {
    let env = start();
    let base = env.emu.base_url();
    let gen = std::thread::spawn(move || {
        let http = reqwest::blocking::Client::new();
        let r = http
            .post(format!("{base}/v1/key"))
            .json(&json!({"label": "big", "algorithm": "RSA", "keySize": 4096, "attributes": {"sign": true, "decrypt": false, "unwrap": false}}))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    });
    // While it generates, other requests are served (and the label is reserved).
    let t = Instant::now();
    assert_eq!(env.get("/v1/versionInfo").0, 200);
    assert!(t.elapsed() < Duration::from_secs(2));
    gen.join().unwrap();
    let (s, v) = env.post(
        "/v1/key",
        &json!({"label": "BIG", "algorithm": "ED", "attributes": {"sign": true, "decrypt": false, "unwrap": false}}),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(608)));
}

#[test]
fn state_persists_across_restart() {
    let dir = std::env::temp_dir().join(format!(
        "tsb-emu-state-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("state.json");
    let _ = std::fs::remove_file(&file);
    let cfg = || EmulatorConfig {
        state_file: Some(file.clone()),
        test_controls: true,
        ..EmulatorConfig::default()
    };
    let a = Approver::ec();
    let (spki, id, sig) = {
        let env = start_with(cfg());
        let v = env.ec_key("Keep", use_policy(vec![token(0, 0, vec![(1, vec![&a])])]));
        env.rsa_key("plain", json!(null));
        env.post("/v1/certificate/synchronous/selfsign", &json!({"signKeyName": "plain", "signatureAlgorithm": "SHA256_WITH_RSA", "commonName": "p"}));
        let id = env.sign_async("Keep");
        let (_, s) = env.post(
            "/v1/synchronousSign",
            &sign_body("plain", "SHA256_WITH_RSA"),
        );
        let out = (v["json"]["publicKey"].clone(), id, s["signature"].clone());
        env.emu.shutdown();
        out
    };
    assert!(!dir.join("state.json.tmp").exists());
    let env = start_with(cfg());
    let (s, v) = env.get("/v1/key/keep/attributes");
    assert_eq!(s, 200);
    assert_eq!(v["json"]["publicKey"], spki);
    assert_eq!(env.state(&id), "PENDING");
    env.approve(&a, &id);
    assert_eq!(env.state(&id), "EXECUTED");
    assert_eq!(env.get("/v1/certificate/plain").0, 200);
    // The restored RSA key verifies a signature made before the restart.
    let (_, v) = env.post("/v1/verify", &json!({"verifySignatureRequest": {"signKeyName": "plain", "signatureAlgorithm": "SHA256_WITH_RSA",
        "payload": sign_body("x", "y")["signRequest"]["payload"], "signature": sig}}));
    assert_eq!(v["signatureValid"], true);
    drop(env);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn https_with_tls_files() {
    let dir = std::env::temp_dir().join(format!("tsb-emu-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, cert) = self_signed("localhost");
    std::fs::write(dir.join("cert.pem"), cert.to_pem().unwrap()).unwrap();
    std::fs::write(dir.join("key.pem"), key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let env = start_with(EmulatorConfig {
        tls: Some(tsb_emulator::TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }),
        ..EmulatorConfig::default()
    });
    assert!(env.emu.base_url().starts_with("https://127.0.0.1:"));
    let mut c = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls_client()).unwrap();
    c.set_verify(openssl::ssl::SslVerifyMode::NONE);
    let tcp = TcpStream::connect(env.emu.local_addr()).unwrap();
    let mut tls = c.build().connect("localhost", tcp).unwrap();
    assert!(tls.ssl().version2().is_some());
    tls.write_all(b"GET /v1/versionInfo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = tls.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains(r#"{"Version":"2.2.0"}"#), "{out}");
    drop(env);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn binary_prints_its_url_first() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tsb-emulator"))
        .args(["--listen", "127.0.0.1:0", "--test-controls"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {line}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with('/'));
    let http = reqwest::blocking::Client::new();
    let v: Value = http
        .get(format!("{url}/v1/versionInfo"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["Version"], TsbVersion::LATEST_RELEASE.to_string());
    assert_eq!(
        http.get(format!("{url}/_emulator/counts"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    child.kill().unwrap();
    let _ = child.wait();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("GET /v1/versionInfo 200 "), "{err}");
}

#[test]
fn binary_rejects_bad_flags() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tsb-emulator"))
        .arg("--nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tsb-emulator"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--test-controls"));
}

#[test]
fn many_keys_over_http() {
    // 10,000 keys are covered by the store's unit test; over HTTP 1,000 keep the suite fast.
    let env = start();
    for i in 0..1_000 {
        let (s, v) = env.post(
            "/v1/key",
            &json!({"label": format!("Key-{i}"), "algorithm": "ED", "attributes": {"sign": true, "decrypt": false, "unwrap": false}}),
        );
        assert_eq!(s, 201, "{v}");
    }
    for i in (0..1_000).step_by(100) {
        let (s, _) = env.post(
            "/v1/synchronousSign",
            &sign_body(&format!("key-{i}"), "EDDSA"),
        );
        assert_eq!(s, 200);
    }
    let (s, v) = env.get("/v1/key");
    assert_eq!((s, v.as_array().map(Vec::len)), (200, Some(1_000)));
}

#[test]
fn keep_alive_pipelining_and_expect_continue() {
    let env = start();
    // Two pipelined requests on one connection, the second closes it.
    let out = raw(
        &env,
        "GET /v1/versionInfo HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/key HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
    assert!(out.ends_with("[]"), "{out}");
    // Expect: 100-continue gets an interim response before the body is sent.
    let mut s = TcpStream::connect(env.emu.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = r#"{"requestStatusList":[]}"#;
    s.write_all(
        format!(
            "POST /v1/filteredRequests HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(body.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with(r#"{"requests":[]}"#), "{out}");
    // HTTP/1.0 without keep-alive closes after the response.
    let out = raw(&env, "GET /v1/versionInfo HTTP/1.0\r\n\r\n");
    assert!(out.contains("Connection: close"), "{out}");
}

#[test]
fn too_many_headers_and_fault_clearing() {
    let env = start();
    let headers: String = (0..70).map(|i| format!("X-H{i}: v\r\n")).collect();
    let out = raw(
        &env,
        &format!("GET /v1/versionInfo HTTP/1.1\r\nHost: x\r\n{headers}\r\n"),
    );
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    assert!(out.contains("errorCode"));
    env.post(
        "/_emulator/faults",
        &json!({"path": "/v1/versionInfo", "count": 5, "action": {"kind": "drop"}}),
    );
    let (s, _) = env.delete("/_emulator/faults", None);
    assert_eq!(s, 200);
    assert_eq!(env.get("/v1/versionInfo").0, 200);
}

/// A key created with a `password` (a `char[]`: an array of characters or a string, S3
/// `CreateKeyDto.java`) needs it on every use (S2 release notes 1.11.0, 1.14.0): `keyPassword`
/// of sign, decrypt, certificates, block; `password` of `POST /v1/key/attributes` and
/// `/v1/key/deleteKey`; `masterKeyPassword` of verify. A wrong or missing one is errorCode 620
/// `res.error.key.password.mismatch`. The path-only endpoints (`GET /v1/key/{name}/attributes`,
/// `DELETE /v1/key/{name}`) cannot carry one and are refused for such a key.
#[test]
fn key_password_on_every_use() {
    let env = start();
    env.create_key(
        json!({"label": "pw", "algorithm": "EC", "curveOid": "1.2.840.10045.3.1.7",
        "password": "secret", "attributes": {"sign": true, "decrypt": false, "unwrap": false}}),
    );
    let mismatch = |r: (u16, Value)| {
        assert_eq!(
            (r.0, r.1["errorCode"].as_i64(), r.1["reason"].as_str()),
            (400, Some(620), Some("res.error.key.password.mismatch")),
            "{}",
            r.1
        )
    };
    let mut body = sign_body("pw", "SHA256_WITH_ECDSA");
    mismatch(env.post("/v1/synchronousSign", &body));
    body["signRequest"]["keyPassword"] = json!("wrong");
    mismatch(env.post("/v1/synchronousSign", &body));
    body["signRequest"]["keyPassword"] = json!(["s", "e", "c", "r", "e", "t"]);
    let (s, sig) = env.post("/v1/synchronousSign", &body);
    assert_eq!(s, 200, "{sig}");
    body["signRequest"]["keyPassword"] = json!("secret");
    assert_eq!(env.post("/v1/synchronousSign", &body).0, 200);
    // Certificates.
    let csr = json!({"signKeyName": "pw", "signatureAlgorithm": "SHA256_WITH_ECDSA",
                     "standardCertificateAttributes": {"commonName": "pw"}});
    mismatch(env.post("/v1/certificate/synchronous/request", &csr));
    let mut csr = csr;
    csr["keyPassword"] = json!("secret");
    assert_eq!(env.post("/v1/certificate/synchronous/request", &csr).0, 200);
    // Verify: masterKeyPassword.
    let mut verify = json!({"verifySignatureRequest": {"signKeyName": "pw",
        "signatureAlgorithm": "SHA256_WITH_ECDSA", "payload": body["signRequest"]["payload"],
        "signature": sig["signature"]}});
    mismatch(env.post("/v1/verify", &verify));
    verify["verifySignatureRequest"]["masterKeyPassword"] = json!("secret");
    let (s, v) = env.post("/v1/verify", &verify);
    assert_eq!((s, v["signatureValid"].as_bool()), (200, Some(true)), "{v}");
    // Attributes and deletion.
    mismatch(env.post("/v1/key/attributes", &json!({"label": "pw"})));
    assert_eq!(
        env.post(
            "/v1/key/attributes",
            &json!({"label": "pw", "password": "secret"})
        )
        .0,
        200
    );
    mismatch(env.get("/v1/key/pw/attributes"));
    mismatch(env.delete("/v1/key/pw", None));
    mismatch(env.post(
        "/v1/key/deleteKey",
        &json!({"label": "pw", "password": "nope"}),
    ));
    let (s, _) = env.post(
        "/v1/key/deleteKey",
        &json!({"label": "pw", "password": "secret"}),
    );
    assert_eq!(s, 200);
    assert_eq!(env.get("/v1/key").1, json!([]));
}

/// Key names with `/` (audit divergence #14). In a body, "append the full derivation path to the
/// key name, e.g. MyKey/1/2/3" (S3 `dto/tsb/request/KeyLabelWithPasswordDto.java`): a name that is
/// no key's label but starts with one is a derived key, which the emulator does not offer (611);
/// in a URL path a raw `/` separates segments (no such endpoint: 404) and "encode the keyname
/// [that] contains '/'" (S3 `SignedSynchronousSignRequestDto.java`): `%2F` is a literal slash.
#[test]
fn names_with_slashes() {
    let env = start();
    env.ec_key("master", json!(null));
    let (s, v) = env.post(
        "/v1/synchronousSign",
        &sign_body("master/0/1", "SHA256_WITH_ECDSA"),
    );
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(611)), "{v}");
    let (s, v) = env.post("/v1/key/attributes", &json!({"label": "master/44'/0'"}));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(611)), "{v}");
    let (s, v) = env.post("/v1/key/attributes", &json!({"label": "nokey/0"}));
    assert_eq!((s, v["errorCode"].as_i64()), (404, Some(650)), "{v}");
    // URL paths.
    env.ec_key("a/b", json!(null));
    assert_eq!(env.get("/v1/key/a/b/attributes").0, 404);
    assert_eq!(env.delete("/v1/key/a/b", None).0, 404);
    assert_eq!(env.get("/v1/key/a%2Fb/attributes").0, 200);
    assert_eq!(env.get("/v1/certificate/master/0").0, 404);
    assert_eq!(env.delete("/v1/key/a%2Fb", None).0, 200);
}
