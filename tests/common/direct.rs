//! Talking to the emulator directly over HTTP, behind the module's back: keys the module did not
//! create (odd labels, other algorithms), SKA policies for them, and canned answers from fault
//! injection. Shared by the `.so` tests and the module's in-process tests (`src/token/tests`).

use tsb_emulator::{Emulator, Fault, FaultAction};

/// Create a key on the emulator with `POST /v1/key`. `kind`: `rsa` (2048, sign + decrypt),
/// `p256`, `p384`, `p521`, `k256`, `ed`. `policy`: an SKA policy (approval-gated key).
/// Panics unless the emulator answers 201.
pub fn create_key(emu: &Emulator, label: &str, kind: &str, policy: Option<&serde_json::Value>) {
    create_key_with(
        &reqwest::blocking::Client::new(),
        emu,
        label,
        kind,
        policy,
        &[],
    );
}

/// [`create_key`] through `http` (an HTTPS emulator's client trusts its CA) with these request
/// headers (an emulator that wants a bearer token or a `keyManagementToken` API key).
pub fn create_key_with(
    http: &reqwest::blocking::Client,
    emu: &Emulator,
    label: &str,
    kind: &str,
    policy: Option<&serde_json::Value>,
    headers: &[(&str, &str)],
) {
    let mut body = match kind {
        "rsa" => serde_json::json!({"algorithm": "RSA", "keySize": 2048,
            "attributes": {"sign": true, "decrypt": true, "unwrap": false, "destroyable": true}}),
        "ed" => serde_json::json!({"algorithm": "ED", "curveOid": "1.3.101.112",
            "attributes": {"sign": true, "decrypt": false, "unwrap": false, "destroyable": true}}),
        ec => {
            let oid = match ec {
                "p256" => "1.2.840.10045.3.1.7",
                "p384" => "1.3.132.0.34",
                "p521" => "1.3.132.0.35",
                "k256" => "1.3.132.0.10",
                other => panic!("unknown key kind {other}"),
            };
            serde_json::json!({"algorithm": "EC", "curveOid": oid,
                "attributes": {"sign": true, "decrypt": false, "unwrap": false, "destroyable": true}})
        }
    };
    body["label"] = label.into();
    if let Some(p) = policy {
        body["policy"] = p.clone();
    }
    let mut req = http.post(format!("{}/v1/key", emu.base_url())).json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().expect("POST /v1/key");
    assert_eq!(r.status().as_u16(), 201, "{:?}", r.text());
}

/// Whether the emulator still has a key with exactly this label.
pub fn key_exists(emu: &Emulator, label: &str) -> bool {
    let labels: Vec<String> = reqwest::blocking::Client::new()
        .get(format!("{}/v1/key", emu.base_url()))
        .send()
        .expect("GET /v1/key")
        .json()
        .expect("key list");
    labels.iter().any(|l| l == label)
}

/// The next `count` requests to `path` (and `method`) are answered with `status` and `body`.
pub fn respond(emu: &Emulator, method: &str, path: &str, count: u32, status: u16, body: String) {
    emu.inject_fault(Fault {
        path: path.into(),
        method: Some(method.into()),
        count,
        action: FaultAction::Respond { status, body },
    });
}

/// Give a key a self-signed certificate on the emulator (`POST /v1/certificate/synchronous/selfsign`).
pub fn self_sign(emu: &Emulator, label: &str, algorithm: &str) {
    let r = reqwest::blocking::Client::new()
        .post(format!(
            "{}/v1/certificate/synchronous/selfsign",
            emu.base_url()
        ))
        .json(&serde_json::json!({"signKeyName": label, "validity": 30,
            "signatureAlgorithm": algorithm, "commonName": "odd", "certificateAuthority": false,
            "keyUsage": ["DIGITAL_SIGNATURE"], "extendedKeyUsage": []}))
        .send()
        .expect("POST selfsign");
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text());
}

/// A policy: one token with one group of these approvers.
pub fn policy_for(approvers: &[String], quorum: u32, timeout: u64) -> serde_json::Value {
    let approvals: Vec<_> = approvers
        .iter()
        .enumerate()
        .map(|(i, v)| serde_json::json!({"type": "public_key", "name": format!("approver{i}"), "value": v}))
        .collect();
    serde_json::json!({
        "ruleUse": {"tokens": [{"name": "t", "timelock": 0, "timeout": timeout,
            "groups": [{"name": "g", "quorum": quorum, "approvals": approvals}]}]},
        "keyStatus": {"blocked": false}
    })
}
