//! Direct REST calls to the TSB under test, with the same credentials the module gets (bearer
//! token, the API key of the role that guards each path, CA file, client certificate): the
//! independent view of what the module did (keys listed, public keys), the fidelity probes, and
//! the final sweep.

use crate::target::Target;
use base64::Engine;
use openssl::pkey::{PKey, Public};
use std::io::Read;
use std::time::Duration;
use tsb_models::Role;
use tsb_models::{paths, role_for_path, API_KEY_HEADER};

/// The most of an answer that is read (a key list on a busy account can be large).
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body as text (lossy UTF-8).
    pub text: String,
    /// The body as JSON, when it is JSON.
    pub json: Option<serde_json::Value>,
}

/// A REST client of one TSB.
pub struct Rest {
    base: String,
    client: reqwest::blocking::Client,
    token: Option<String>,
    api_keys: Vec<(Role, String)>,
}

impl Rest {
    /// A client with the target's credentials.
    pub fn for_target(t: &Target) -> Rest {
        let s = &t.spec;
        let mut b = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10));
        if let Some(ca) = &s.ca_file {
            let pem = std::fs::read(ca).expect("read the CA file");
            for c in reqwest::Certificate::from_pem_bundle(&pem).expect("CA file: PEM certificates")
            {
                b = b.add_root_certificate(c);
            }
        }
        if let Some((cert, key)) = &s.client_cert {
            let mut pem = std::fs::read(cert).expect("read the client certificate");
            pem.push(b'\n');
            pem.extend(std::fs::read(key).expect("read the client key"));
            b = b.identity(reqwest::Identity::from_pem(&pem).expect("client certificate and key"));
        }
        Rest {
            base: s.url.clone(),
            client: b.build().expect("HTTP client"),
            token: s.token.as_ref().map(|t| t.value()),
            api_keys: s
                .api_keys
                .iter()
                .map(|(r, sec)| (*r, sec.value()))
                .collect(),
        }
    }

    /// A client without credentials (the reference emulator of the fidelity probes).
    pub fn plain(base: &str) -> Rest {
        Rest {
            base: base.to_string(),
            client: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
            token: None,
            api_keys: Vec::new(),
        }
    }

    /// Send a request; the transport error as `Err`.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, String> {
        let m = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = self.client.request(m, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(role) = role_for_path(path) {
            if let Some((_, k)) = self.api_keys.iter().find(|(r, _)| *r == role) {
                req = req.header(API_KEY_HEADER, k);
            }
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .map_err(|e| format!("{method} {path}: {}", error_chain(&e)))?;
        let status = resp.status().as_u16();
        let mut bytes = Vec::new();
        resp.take(MAX_ANSWER)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{method} {path}: reading the answer: {e}"))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).ok();
        Ok(Answer { status, text, json })
    }

    /// `GET /v1/key`: every label.
    pub fn labels(&self) -> Vec<String> {
        let a = self.send("GET", paths::KEY, None).expect("GET /v1/key");
        assert_eq!(a.status, 200, "GET /v1/key: {}", a.text);
        serde_json::from_str(&a.text)
            .unwrap_or_else(|e| panic!("GET /v1/key is not a list of labels ({e}): {}", a.text))
    }

    /// The labels under `prefix`.
    pub fn labels_under(&self, prefix: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .labels()
            .into_iter()
            .filter(|l| l.starts_with(prefix))
            .collect();
        v.sort();
        v
    }

    /// `POST /v1/key/attributes`: the key's attributes (`json` of SignedKeyAttributes).
    pub fn key_attributes(&self, label: &str) -> serde_json::Value {
        let a = self
            .send(
                "POST",
                paths::KEY_ATTRIBUTES,
                Some(&serde_json::json!({ "label": label })),
            )
            .expect("POST /v1/key/attributes");
        assert_eq!(a.status, 200, "attributes of {label}: {}", a.text);
        a.json
            .and_then(|j| j.get("json").cloned())
            .unwrap_or_else(|| panic!("attributes of {label}: no \"json\": {}", a.text))
    }

    /// The key's public key as the TSB reports it (`publicKey`, a base64 SubjectPublicKeyInfo).
    pub fn public_key(&self, label: &str) -> PKey<Public> {
        let attrs = self.key_attributes(label);
        let b64 = attrs["publicKey"]
            .as_str()
            .unwrap_or_else(|| panic!("{label}: no publicKey in {attrs}"));
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_else(|e| panic!("{label}: publicKey is not base64: {e}"));
        PKey::public_key_from_der(&der)
            .unwrap_or_else(|e| panic!("{label}: publicKey is not a SubjectPublicKeyInfo: {e}"))
    }

    /// `POST /v1/key/deleteKey`.
    pub fn delete_key(&self, label: &str) -> Result<(), String> {
        let a = self.send(
            "POST",
            paths::KEY_DELETE,
            Some(&serde_json::json!({ "label": label })),
        )?;
        if (200..300).contains(&a.status) {
            Ok(())
        } else {
            Err(format!("deleting {label}: HTTP {} {}", a.status, a.text))
        }
    }
}

/// Delete every key whose label starts with `prefix`, then list again. Returns the labels deleted
/// and those still there (with why).
pub fn sweep(rest: &Rest, prefix: &str) -> (Vec<String>, Vec<String>) {
    let mut deleted = Vec::new();
    let mut problems = Vec::new();
    for l in rest.labels_under(prefix) {
        match rest.delete_key(&l) {
            Ok(()) => deleted.push(l),
            Err(e) => problems.push(e),
        }
    }
    let left = rest.labels_under(prefix);
    if !left.is_empty() {
        problems.push(format!("still on the TSB: {}", left.join(", ")));
    }
    (deleted, problems)
}

/// An error and its causes, `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}
