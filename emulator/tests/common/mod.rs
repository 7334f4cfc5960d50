//! Helpers shared by the integration tests: an emulator per test, a JSON client, and approvers
//! that sign with OpenSSL directly (independently of the emulator's own crypto code).
#![allow(dead_code)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tsb_emulator::{Emulator, EmulatorConfig};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");

pub fn fixture(name: &str) -> Value {
    let p = format!("{FIXTURES}/{name}");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// An emulator with test controls on, and a client for it.
pub struct Env {
    pub emu: Emulator,
    pub http: reqwest::blocking::Client,
}

pub fn start() -> Env {
    start_with(EmulatorConfig {
        test_controls: true,
        ..EmulatorConfig::default()
    })
}

pub fn start_with(cfg: EmulatorConfig) -> Env {
    let emu = Emulator::start(cfg).expect("emulator starts");
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    Env { emu, http }
}

/// Status and JSON body (Null when empty; a non-JSON body is returned as a string).
pub fn parse(resp: reqwest::blocking::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.emu.base_url(), path)
    }
    pub fn get(&self, path: &str) -> (u16, Value) {
        parse(self.http.get(self.url(path)).send().unwrap())
    }
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        parse(self.http.post(self.url(path)).json(body).send().unwrap())
    }
    pub fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        parse(
            self.http
                .post(self.url(path))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .unwrap(),
        )
    }
    pub fn delete(&self, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut rb = self.http.delete(self.url(path));
        if let Some(b) = body {
            rb = rb.json(b);
        }
        parse(rb.send().unwrap())
    }

    /// Create a key; panics unless 201.
    pub fn create_key(&self, body: Value) -> Value {
        let (s, v) = self.post("/v1/key", &body);
        assert_eq!(s, 201, "create key: {v}");
        v
    }

    /// An RSA-2048 sign key with `policy` (Null for a plain key).
    pub fn rsa_key(&self, label: &str, policy: Value) -> Value {
        self.create_key(json!({
            "label": label, "algorithm": "RSA", "keySize": 2048,
            "attributes": {"sign": true, "decrypt": true, "unwrap": false}, "policy": policy
        }))
    }

    /// An EC P-256 sign key (fast to generate) with `policy`.
    pub fn ec_key(&self, label: &str, policy: Value) -> Value {
        self.create_key(json!({
            "label": label, "algorithm": "EC", "curveOid": "1.2.840.10045.3.1.7",
            "attributes": {"sign": true, "decrypt": false, "unwrap": false}, "policy": policy
        }))
    }

    pub fn sign_async(&self, key: &str) -> String {
        let (s, v) = self.post("/v1/sign", &sign_body(key, "SHA256_WITH_ECDSA"));
        assert_eq!(s, 201, "{v}");
        v["signRequestId"].as_str().unwrap().to_string()
    }

    pub fn status(&self, id: &str) -> Value {
        let (s, v) = self.get(&format!("/v1/request/{id}"));
        assert_eq!(s, 200, "{v}");
        v
    }

    pub fn state(&self, id: &str) -> String {
        self.status(id)["status"].as_str().unwrap().to_string()
    }

    /// Poll until the request has `state` (the scheduler runs every 200 ms).
    pub fn wait_state(&self, id: &str, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.status(id);
            if v["status"] == state {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "request {id} never reached {state}: {v}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn tasks(&self, approver: &Approver, endpoint: &str, extra: Value) -> (u16, Value) {
        let mut body = approver.timestamp_proof();
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.post(&format!("/v1/{endpoint}"), &body)
    }

    /// The approver's pending tasks (all kinds), level 1.
    pub fn task_list(&self, approver: &Approver) -> Vec<Value> {
        let (s, v) = self.tasks(approver, "filteredAllApprovalTask", json!({}));
        assert_eq!(s, 200, "{v}");
        v["tasks"].as_array().unwrap().clone()
    }

    /// Approve every task of `approver` for request `request_id`.
    pub fn approve(&self, approver: &Approver, request_id: &str) {
        let (s, v) = self.tasks(
            approver,
            "filteredAllApprovalTask",
            json!({"requestId": request_id}),
        );
        assert_eq!(s, 200, "{v}");
        let tasks = v["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 1, "one task per approver and request: {v}");
        let (s, v) = self.post("/v1/approval", &approver.approval(&tasks[0]));
        assert_eq!(s, 200, "approval: {v}");
    }

    /// Reject the approver's task of `request_id`.
    pub fn reject(&self, approver: &Approver, request_id: &str) {
        let (_, v) = self.tasks(
            approver,
            "filteredAllApprovalTask",
            json!({"requestId": request_id}),
        );
        let task_id = v["tasks"][0]["id"]
            .as_str()
            .expect("a task to reject")
            .to_string();
        let mut body = approver.timestamp_proof();
        body["id"] = json!(task_id);
        let (s, v) = self.delete("/v1/task", Some(&body));
        assert_eq!(s, 200, "reject: {v}");
    }
}

pub fn sign_body(key: &str, alg: &str) -> Value {
    json!({"signRequest": {"payload": B64.encode(b"hello"), "signKeyName": key, "signatureAlgorithm": alg}})
}

/// An approver key pair (EC P-256 by default, RSA for the seed test).
pub struct Approver {
    pub key: PKey<Private>,
}

impl Approver {
    pub fn ec() -> Approver {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        Approver {
            key: PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap(),
        }
    }
    pub fn rsa() -> Approver {
        Approver {
            key: PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap(),
        }
    }
    /// Base64 DER SubjectPublicKeyInfo: the policy `value`.
    pub fn spki(&self) -> String {
        B64.encode(self.key.public_key_to_der().unwrap())
    }
    pub fn sign(&self, data: &[u8]) -> String {
        let mut s = Signer::new(MessageDigest::sha256(), &self.key).unwrap();
        s.update(data).unwrap();
        B64.encode(s.sign_to_vec().unwrap())
    }
    /// Body of a filtered*ApprovalTask call: a signed fresh timestamp.
    pub fn timestamp_proof(&self) -> Value {
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        json!({
            "timestamp": ts, "timestampSignature": self.sign(ts.as_bytes()),
            "timestampDigestAlgorithm": "SHA-256", "approverPublicKey": self.spki()
        })
    }
    /// Body of POST /v1/approval for `task`.
    pub fn approval(&self, task: &Value) -> Value {
        let tbs = task["approvalToBeSigned"].as_str().unwrap();
        json!({
            "id": task["id"], "approvalToBeSigned": tbs,
            "signature": self.sign(&B64.decode(tbs).unwrap()),
            "approvalDigestAlgorithm": "SHA-256", "approverPublicKey": self.spki()
        })
    }
}

/// A fresh RSA-2048 key and a self-signed certificate for it, valid for a day.
pub fn self_signed(cn: &str) -> (PKey<Private>, openssl::x509::X509) {
    let key = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut b = openssl::x509::X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (key, b.build())
}

/// A `public_key` approval entry.
pub fn approval_entry(a: &Approver) -> Value {
    json!({"type": "public_key", "name": "approver", "value": a.spki()})
}

pub fn token(timelock: u64, timeout: u64, groups: Vec<(u32, Vec<&Approver>)>) -> Value {
    let groups: Vec<Value> = groups
        .into_iter()
        .enumerate()
        .map(|(i, (quorum, members))| {
            json!({"name": format!("Group{i}"), "quorum": quorum,
                   "approvals": members.into_iter().map(approval_entry).collect::<Vec<_>>()})
        })
        .collect();
    json!({"name": "Token", "timelock": timelock, "timeout": timeout, "groups": groups})
}

/// A policy whose use rule has these tokens (block/unblock/modify rules empty).
pub fn use_policy(tokens: Vec<Value>) -> Value {
    json!({"ruleUse": {"tokens": tokens}, "ruleBlock": null, "ruleUnblock": null, "ruleModify": null,
           "keyStatus": {"blocked": false}})
}
