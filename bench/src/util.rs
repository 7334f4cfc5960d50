//! Small helpers shared by the parent (orchestration, report) and the child scenarios.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A boxed error with a message; the benchmark reports errors, it does not recover from them.
pub type Res<T> = Result<T, String>;

/// Attach context to any displayable error.
pub fn ctx<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Res<T> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// The `p`-th percentile (0..=100) of `v` by nearest rank; `v` need not be sorted. NaN if empty.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

/// Arithmetic mean; NaN if empty.
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Resident set size of this process in KiB (`VmRSS` of `/proc/self/status`).
pub fn vm_rss_kib() -> Res<u64> {
    let s = ctx(
        std::fs::read_to_string("/proc/self/status"),
        "read /proc/self/status",
    )?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS in /proc/self/status".into())
}

/// An HTTP client for the benchmark's own calls (key creation, the direct baseline): keep-alive
/// and TCP_NODELAY like the module's client, so the baseline is not handicapped by Nagle.
pub fn http_client() -> Res<reqwest::blocking::Client> {
    ctx(
        reqwest::blocking::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(60))
            .no_proxy()
            .build(),
        "build HTTP client",
    )
}

/// Key types the benchmark creates on the emulator.
#[derive(Debug, Clone, Copy)]
pub enum KeyKind {
    /// RSA 2048.
    Rsa2048,
    /// ECDSA P-256.
    EcP256,
}

/// A TSB SKA policy: one token, one group, quorum 1 of this approver (base64 SPKI), 10 min timeout.
pub fn one_approver_policy(approver_spki_b64: &str) -> Value {
    json!({
        "ruleUse": {"tokens": [{"name": "t", "timelock": 0, "timeout": 600,
            "groups": [{"name": "g", "quorum": 1,
                "approvals": [{"type": "public_key", "name": "bench", "value": approver_spki_b64}]}]}]},
        "keyStatus": {"blocked": false}
    })
}

/// Create a key with `POST /v1/key` (as any TSB client would; the module is not involved).
pub fn create_key(
    http: &reqwest::blocking::Client,
    url: &str,
    label: &str,
    kind: KeyKind,
    policy: Option<&Value>,
) -> Res<()> {
    let mut body = json!({
        "label": label,
        "attributes": {"sign": true, "decrypt": false, "unwrap": false, "sensitive": true,
            "extractable": false, "modifiable": true, "destroyable": true, "copyable": false,
            "derive": false},
        "policy": policy.cloned().unwrap_or(Value::Null),
    });
    match kind {
        KeyKind::Rsa2048 => {
            body["algorithm"] = json!("RSA");
            body["keySize"] = json!(2048);
        }
        KeyKind::EcP256 => {
            body["algorithm"] = json!("EC");
            body["curveOid"] = json!("1.2.840.10045.3.1.7");
        }
    }
    let r = ctx(
        http.post(format!("{url}/v1/key")).json(&body).send(),
        "POST /v1/key",
    )?;
    if !r.status().is_success() {
        let st = r.status();
        return Err(format!(
            "POST /v1/key {label}: {st}: {}",
            r.text().unwrap_or_default()
        ));
    }
    Ok(())
}

/// One `POST /v1/synchronousSign` with exactly the body the module sends (see
/// `src/tsb/api.rs::sign_sync`), decoding the signature as the module does.
pub fn direct_sign(
    http: &reqwest::blocking::Client,
    sign_url: &str,
    label: &str,
    algorithm: &str,
    payload: &[u8],
) -> Res<Vec<u8>> {
    let body = json!({"signRequest": {
        "payload": B64.encode(payload),
        "payloadType": "UNSPECIFIED",
        "signKeyName": label,
        "signatureAlgorithm": algorithm,
    }});
    let bytes = ctx(serde_json::to_vec(&body), "encode")?;
    let r = ctx(
        http.post(sign_url)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .body(bytes)
            .send(),
        "POST /v1/synchronousSign",
    )?;
    let status = r.status();
    let text = ctx(r.text(), "read body")?;
    if !status.is_success() {
        return Err(format!("synchronousSign: {status}: {text}"));
    }
    let v: Value = ctx(serde_json::from_str(&text), "decode JSON")?;
    let sig = v["signature"].as_str().ok_or("no signature in answer")?;
    ctx(B64.decode(sig), "decode signature")
}

/// Write a module config with one slot labelled `bench` for `url`, plus `extra` slot fields.
/// Poll settings are left at the module's defaults unless `extra` sets them.
pub fn write_module_config(dir: &Path, name: &str, url: &str, extra: &Value) -> Res<PathBuf> {
    let mut slot = json!({
        "label": "bench",
        "url": url,
        "allow_http": true,
        "progress": false,
    });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            slot[k] = v.clone();
        }
    }
    let path = dir.join(format!("{name}.json"));
    ctx(
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&json!({"slots": [slot]})).unwrap_or_default(),
        ),
        "write module config",
    )?;
    Ok(path)
}

/// A tiny xorshift generator for jitter (no statistical quality needed, no extra dependency).
pub struct XorShift(u64);

impl XorShift {
    /// Seeded from the clock.
    pub fn from_time() -> XorShift {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9);
        XorShift(t | 1)
    }
    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}
