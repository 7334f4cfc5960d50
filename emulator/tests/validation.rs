//! Request bodies are checked as the TSB's published DTOs declare them (Securosys
//! `vault-code-executable-examples`, `src/main/java/com/securosys/tee/dto/tsb/**`): bean validation
//! (`@NotNull`, `@NotEmpty`, `@Valid`, `@Base64Encoded`, `@ISO8601Timestamp`, `@Min`), enum
//! names, and unknown properties, which the TSB's Jackson refuses (`FAIL_ON_UNKNOWN_PROPERTIES`,
//! named in the comment of `SynchronousSignRequestDto.java`). Every refusal is HTTP 400 with
//! errorCode 600 `res.error.input.validation.failed`; syntactically invalid JSON stays 621.

mod common;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};

/// The answer must be 400 / 600 with the validation reason.
fn refused(env: &Env, path: &str, body: &Value) {
    let (s, v) = env.post(path, body);
    assert_eq!(
        (s, v["errorCode"].as_i64(), v["reason"].as_str()),
        (400, Some(600), Some("res.error.input.validation.failed")),
        "{path} {body}: {v}"
    );
}

fn sign(inner: Value) -> Value {
    json!({ "signRequest": inner })
}

fn good_sign(key: &str) -> Value {
    json!({"payload": B64.encode(b"hello"), "signKeyName": key,
           "signatureAlgorithm": "SHA256_WITH_ECDSA"})
}

fn with(mut base: Value, field: &str, value: Value) -> Value {
    base[field] = value;
    base
}

fn without(mut base: Value, field: &str) -> Value {
    base.as_object_mut().unwrap().remove(field);
    base
}

#[test]
fn sign_bodies_follow_the_dto() {
    let env = start();
    env.ec_key("k", json!(null));
    for path in ["/v1/synchronousSign", "/v1/sign"] {
        // Unknown properties, inside and around the request.
        refused(&env, path, &sign(with(good_sign("k"), "foo", json!(1))));
        refused(&env, path, &with(sign(good_sign("k")), "bar", json!(true)));
        // Enum names: not in the enum (also as the TSB had it: no NONESHA1_WITH_RSA_PSS).
        for alg in [
            "SHA256_WITH_FOO",
            "NONESHA1_WITH_RSA_PSS",
            "sha256_with_ecdsa",
            "",
        ] {
            refused(
                &env,
                path,
                &sign(with(good_sign("k"), "signatureAlgorithm", json!(alg))),
            );
        }
        refused(
            &env,
            path,
            &sign(with(good_sign("k"), "payloadType", json!("FOO"))),
        );
        refused(
            &env,
            path,
            &sign(with(good_sign("k"), "signatureAlgorithm", json!(5))),
        );
        // @NotNull / @NotEmpty.
        refused(
            &env,
            path,
            &sign(without(good_sign("k"), "signatureAlgorithm")),
        );
        refused(
            &env,
            path,
            &sign(with(good_sign("k"), "payload", json!(""))),
        );
        refused(
            &env,
            path,
            &sign(with(good_sign("k"), "signKeyName", json!(""))),
        );
        refused(&env, path, &json!({ "signRequest": null }));
        refused(&env, path, &json!({}));
        // @Base64Encoded: the strict alphabet, no line breaks.
        refused(
            &env,
            path,
            &sign(with(good_sign("k"), "payload", json!("aGVs\nbG8="))),
        );
        refused(
            &env,
            path,
            &sign(with(good_sign("k"), "metaData", json!("not base64!"))),
        );
        // char[]: one character per element.
        refused(
            &env,
            path,
            &sign(with(good_sign("k"), "keyPassword", json!(["ab"]))),
        );
        // A wrong JSON type.
        refused(
            &env,
            path,
            &sign(with(good_sign("k"), "payload", json!({"x": 1}))),
        );
        refused(&env, path, &json!([good_sign("k")]));
        // The right body still works.
        let (s, v) = env.post(
            path,
            &sign(with(good_sign("k"), "payloadType", json!("PDF"))),
        );
        assert!(s == 200 || s == 201, "{path}: {v}");
    }
    // A synchronous sign has no `context` before TSB 2.2.0 ... but has `signedApprovals` and
    // `signKeyObject`, which the asynchronous one does not.
    refused(
        &env,
        "/v1/sign",
        &sign(with(good_sign("k"), "signedApprovals", json!([]))),
    );
    let (s, v) = env.post(
        "/v1/synchronousSign",
        &sign(with(good_sign("k"), "signedApprovals", json!([]))),
    );
    assert_eq!(s, 200, "{v}");
    // Invalid JSON is another error: 621.
    let (s, v) = env.post_raw("/v1/synchronousSign", "{\"signRequest\": ");
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(621)), "{v}");
}

#[test]
fn key_creation_follows_the_dto() {
    let env = start();
    let good = json!({"label": "k", "algorithm": "EC", "curveOid": "1.2.840.10045.3.1.7",
                      "attributes": {"sign": true, "decrypt": false, "unwrap": false}});
    // AttributesDto: decrypt, sign and unwrap are @NotNull; attributes itself is @NotNull.
    for missing in ["decrypt", "sign", "unwrap"] {
        let mut body = good.clone();
        body["attributes"].as_object_mut().unwrap().remove(missing);
        refused(&env, "/v1/key", &body);
    }
    refused(&env, "/v1/key", &without(good.clone(), "attributes"));
    refused(&env, "/v1/key", &with(good.clone(), "label", json!("")));
    refused(&env, "/v1/key", &with(good.clone(), "colour", json!("red")));
    refused(
        &env,
        "/v1/key",
        &with(good.clone(), "password", json!(["pw"])),
    );
    refused(
        &env,
        "/v1/key",
        &with(good.clone(), "keySize", json!("big")),
    );
    let mut body = good.clone();
    body["attributes"]["sign"] = json!("yes");
    refused(&env, "/v1/key", &body);
    // PolicyDto: keyStatus is @NotNull; approval types are an enum; timelock is @NotNull.
    let a = Approver::ec();
    let rule = json!({"tokens": [{"name": "t", "timelock": 0, "timeout": 0, "groups": [
        {"name": "g", "quorum": 1, "approvals": [approval_entry(&a)]}]}]});
    let policy = json!({"ruleUse": rule, "keyStatus": {"blocked": false}});
    refused(
        &env,
        "/v1/key",
        &with(good.clone(), "policy", without(policy.clone(), "keyStatus")),
    );
    let mut bad = policy.clone();
    bad["ruleUse"]["tokens"][0]["groups"][0]["approvals"][0]["type"] = json!("fingerprint");
    refused(&env, "/v1/key", &with(good.clone(), "policy", bad));
    let mut bad = policy.clone();
    bad["ruleUse"]["tokens"][0]
        .as_object_mut()
        .unwrap()
        .remove("timelock");
    refused(&env, "/v1/key", &with(good.clone(), "policy", bad));
    let mut bad = policy.clone();
    bad["ruleUse"]["tokens"][0]["weight"] = json!(1);
    refused(&env, "/v1/key", &with(good.clone(), "policy", bad));
    // The conforming bodies: a plain key (password as a string or as chars) and an SKA key.
    let (s, v) = env.post("/v1/key", &with(good.clone(), "password", json!("pw")));
    assert_eq!(s, 201, "{v}");
    let body = with(
        with(good.clone(), "label", json!("k2")),
        "password",
        json!(["p", "w"]),
    );
    assert_eq!(env.post("/v1/key", &body).0, 201);
    let body = with(with(good, "label", json!("k3")), "policy", policy);
    let (s, v) = env.post("/v1/key", &body);
    assert_eq!(s, 201, "{v}");
    // KeyLabelWithPasswordDto.
    refused(&env, "/v1/key/attributes", &json!({"label": ""}));
    refused(
        &env,
        "/v1/key/attributes",
        &json!({"label": "k2", "pin": "x"}),
    );
}

#[test]
fn decrypt_and_certificate_bodies_follow_the_dto() {
    let env = start();
    env.rsa_key("r", json!(null));
    let dec = json!({"encryptedPayload": B64.encode([1u8; 256]), "decryptKeyName": "r",
                     "cipherAlgorithm": "RSA_PADDING_OAEP_WITH_SHA256"});
    refused(
        &env,
        "/v1/synchronousDecrypt",
        &json!({"decryptRequest": with(dec.clone(), "cipherAlgorithm", json!("ROT13"))}),
    );
    // SynchronousDecryptRequestDto has no metaData (the asynchronous one has).
    refused(
        &env,
        "/v1/synchronousDecrypt",
        &json!({"decryptRequest": with(dec.clone(), "metaData", json!("AAAA"))}),
    );
    // Certificates: KeyUsage / ExtendedKeyUsage are enums, the CSR attributes are a DTO.
    let csr = json!({"signKeyName": "r", "signatureAlgorithm": "SHA256_WITH_RSA", "validity": 30,
                     "standardCertificateAttributes": {"commonName": "x"},
                     "keyUsage": ["DIGITAL_SIGNATURE"], "extendedKeyUsage": ["CODE_SIGNING"]});
    let path = "/v1/certificate/synchronous/request";
    refused(
        &env,
        path,
        &with(csr.clone(), "keyUsage", json!(["SIGN_EVERYTHING"])),
    );
    refused(
        &env,
        path,
        &with(csr.clone(), "extendedKeyUsage", json!(["ANY"])),
    );
    refused(
        &env,
        path,
        &with(csr.clone(), "keyUsage", json!("DIGITAL_SIGNATURE")),
    );
    refused(
        &env,
        path,
        &with(
            csr.clone(),
            "standardCertificateAttributes",
            json!({"cn": "x"}),
        ),
    );
    refused(
        &env,
        path,
        &without(csr.clone(), "standardCertificateAttributes"),
    );
    // The certificate endpoints take KeytoolSignatureAlgorithm: no SHA-1, no PSS.
    refused(
        &env,
        path,
        &with(csr.clone(), "signatureAlgorithm", json!("SHA1_WITH_RSA")),
    );
    refused(
        &env,
        path,
        &with(
            csr.clone(),
            "signatureAlgorithm",
            json!("SHA256_WITH_RSA_PSS"),
        ),
    );
    let (s, v) = env.post(path, &csr);
    assert_eq!(s, 200, "{v}");
    // Import: @Base64Encoded certificate (PEM armour is tolerated, line breaks are not).
    refused(
        &env,
        "/v1/certificate/import/plain",
        &json!({"label": "r", "certificate": "MIIB\nAAAA"}),
    );
}

#[test]
fn approver_bodies_follow_the_dto() {
    let env = start();
    let a = Approver::ec();
    let mut proof = a.timestamp_proof();
    // @ISO8601Timestamp is bean validation: 600, not the freshness error 404.
    let bad_ts = with(proof.clone(), "timestamp", json!("yesterday"));
    refused(&env, "/v1/filteredAllApprovalTask", &bad_ts);
    refused(
        &env,
        "/v1/filteredAllApprovalTask",
        &with(proof.clone(), "timestamp", json!("2026-01-01 10:00:00Z")),
    );
    refused(
        &env,
        "/v1/filteredAllApprovalTask",
        &with(proof.clone(), "foo", json!(1)),
    );
    refused(
        &env,
        "/v1/filteredAllApprovalTask",
        &without(proof.clone(), "timestampDigestAlgorithm"),
    );
    refused(
        &env,
        "/v1/filteredAllApprovalTask",
        &with(
            proof.clone(),
            "paging",
            json!({"pageNumber": -1, "pageSize": 5, "sortOrder": "CREATION_DATE_ASC"}),
        ),
    );
    // DeleteTaskRequestDto: id is @NotEmpty.
    proof["id"] = json!("");
    let (s, v) = env.delete("/v1/task", Some(&proof));
    assert_eq!((s, v["errorCode"].as_i64()), (400, Some(600)), "{v}");
    // SendApprovalDto.
    let approval = json!({"id": "t", "approvalToBeSigned": "AAAA", "signature": "AAAA",
                          "approvalDigestAlgorithm": "SHA-256", "approverPublicKey": a.spki()});
    refused(
        &env,
        "/v1/approval",
        &with(approval.clone(), "comment", json!("ok")),
    );
    refused(
        &env,
        "/v1/approval",
        &with(approval.clone(), "signature", json!("")),
    );
    refused(
        &env,
        "/v1/approval",
        &with(approval, "approvalToBeSigned", json!("%%%")),
    );
}
