//! The emulator's state: keys (with a lowercase index for case-insensitive look-up), SKA requests
//! and approval tasks, and its JSON persistence (`--state FILE`).

use crate::material::Material;
use crate::ska::EngineRule;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{self, Write};
use std::path::Path;
use tsb_models::{KeyFlags, Policy, RequestState, RequestType};

/// The rules of a key's policy in engine form, plus how to print each approver.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct KeyRules {
    pub(crate) use_rule: EngineRule,
    pub(crate) block: EngineRule,
    pub(crate) unblock: EngineRule,
    /// Canonical approver id -> the string `approvedBy` shows (the policy `value` for
    /// `public_key` approvers, the certificate's SPKI for `certificate` approvers).
    pub(crate) display: BTreeMap<String, String>,
}

/// One key.
#[derive(Clone)]
pub(crate) struct KeyEntry {
    pub(crate) label: String,
    pub(crate) id: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) material: Material,
    /// The private material for the state file (`Material::persisted`: the algorithm, `None`
    /// for PKCS#8, and base64), computed once at creation so persisting needs no crypto under
    /// the lock.
    pub(crate) persisted: (Option<String>, String),
    /// Base64 DER SubjectPublicKeyInfo; `None` for secret keys.
    pub(crate) public_key: Option<String>,
    pub(crate) attributes: KeyFlags,
    pub(crate) policy: Option<Policy>,
    pub(crate) rules: KeyRules,
    pub(crate) blocked: bool,
    pub(crate) create_time: String,
    /// PEM certificate attached to the key.
    pub(crate) certificate: Option<String>,
}

/// Kind of an asynchronous request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum RequestKind {
    Sign,
    Decrypt,
    Csr,
    SelfSign,
    SignCertificate,
    Block,
    Unblock,
    Unwrap,
}

impl RequestKind {
    /// The TSB's name for this kind of request.
    pub(crate) fn request_type(self) -> RequestType {
        match self {
            RequestKind::Sign => RequestType::Sign,
            RequestKind::Decrypt => RequestType::Decrypt,
            RequestKind::Csr => RequestType::CertificateSigningRequest,
            RequestKind::SelfSign => RequestType::SelfSignCertificate,
            RequestKind::SignCertificate => RequestType::Certificate,
            RequestKind::Block => RequestType::Block,
            RequestKind::Unblock => RequestType::Unblock,
            RequestKind::Unwrap => RequestType::Unwrap,
        }
    }
}

/// One SKA request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RequestRecord {
    pub(crate) id: String,
    pub(crate) seq: u64,
    pub(crate) kind: RequestKind,
    pub(crate) key_label: String,
    /// The original outer request JSON, e.g. `{"signRequest": {...}}`.
    pub(crate) request: Value,
    pub(crate) created_ms: i64,
    pub(crate) status: RequestState,
    pub(crate) rule: EngineRule,
    pub(crate) display: BTreeMap<String, String>,
    /// Approver id -> emulated time of the approval.
    pub(crate) approvals: BTreeMap<String, i64>,
    pub(crate) rejections: BTreeSet<String>,
    pub(crate) not_yet_approved: Vec<String>,
    pub(crate) result: Option<String>,
    pub(crate) execution_ms: Option<i64>,
    /// Claimed by a thread that runs the operation (never persisted: a restart re-runs it).
    #[serde(skip)]
    pub(crate) executing: bool,
}

/// One approval task (one per approver and request).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TaskRecord {
    pub(crate) id: String,
    pub(crate) seq: u64,
    pub(crate) request_id: String,
    /// Canonical approver id.
    pub(crate) approver: String,
    /// Base64 bytes to sign.
    pub(crate) approval_to_be_signed: String,
}

/// All mutable state, behind one mutex in `Shared`.
#[derive(Default)]
pub(crate) struct Store {
    pub(crate) keys: HashMap<String, KeyEntry>,
    /// Lowercase label -> label. Labels are unique case-insensitively, so this is 1:1.
    pub(crate) lower: HashMap<String, String>,
    /// Lowercase labels of keys being generated (reserved so concurrent creates conflict).
    pub(crate) reserved: HashSet<String>,
    pub(crate) requests: HashMap<String, RequestRecord>,
    /// Ids of requests that are not terminal (what the scheduler looks at).
    pub(crate) active: BTreeSet<String>,
    pub(crate) tasks: HashMap<String, TaskRecord>,
    pub(crate) seq: u64,
    /// Bumped on every mutation; persistence writes only newer generations.
    pub(crate) generation: u64,
}

impl Store {
    /// Resolve a key name: exact label first, then case-insensitively.
    pub(crate) fn resolve(&self, name: &str) -> Option<&KeyEntry> {
        self.keys.get(name).or_else(|| {
            self.lower
                .get(&name.to_lowercase())
                .and_then(|l| self.keys.get(l))
        })
    }

    pub(crate) fn resolve_mut(&mut self, name: &str) -> Option<&mut KeyEntry> {
        let label = if self.keys.contains_key(name) {
            name.to_string()
        } else {
            self.lower.get(&name.to_lowercase())?.clone()
        };
        self.keys.get_mut(&label)
    }

    /// Whether a label is taken (exactly or case-insensitively) or being created.
    pub(crate) fn label_taken(&self, label: &str) -> bool {
        let lower = label.to_lowercase();
        self.keys.contains_key(label)
            || self.lower.contains_key(&lower)
            || self.reserved.contains(&lower)
    }

    pub(crate) fn insert_key(&mut self, key: KeyEntry) {
        self.lower
            .insert(key.label.to_lowercase(), key.label.clone());
        self.keys.insert(key.label.clone(), key);
        self.touch();
    }

    /// Remove a key; its pending requests become CANCELLED and their tasks go away.
    pub(crate) fn remove_key(&mut self, label: &str) -> Option<KeyEntry> {
        let key = self.keys.remove(label)?;
        self.lower.remove(&label.to_lowercase());
        let affected: Vec<String> = self
            .active
            .iter()
            .filter(|id| self.requests.get(*id).is_some_and(|r| r.key_label == label))
            .cloned()
            .collect();
        for id in affected {
            self.finish(&id, RequestState::Cancelled);
        }
        self.touch();
        Some(key)
    }

    /// Move a request to a terminal state and drop its tasks.
    pub(crate) fn finish(&mut self, id: &str, state: RequestState) {
        if let Some(r) = self.requests.get_mut(id) {
            r.status = state;
            r.not_yet_approved.clear();
        }
        self.active.remove(id);
        self.tasks.retain(|_, t| t.request_id != id);
        self.touch();
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub(crate) fn touch(&mut self) {
        self.generation += 1;
    }

    /// Serialise everything for the state file.
    pub(crate) fn snapshot(&self) -> Result<Vec<u8>, String> {
        let mut keys = Vec::with_capacity(self.keys.len());
        for k in self.keys.values() {
            keys.push(PersistedKey {
                label: k.label.clone(),
                id: k.id.clone(),
                password: k.password.clone(),
                algorithm: k.persisted.0.clone(),
                pkcs8: k.persisted.1.clone(),
                attributes: k.attributes.clone(),
                policy: k.policy.clone(),
                rules: k.rules.clone(),
                blocked: k.blocked,
                create_time: k.create_time.clone(),
                certificate: k.certificate.clone(),
            });
        }
        keys.sort_by(|a, b| a.label.cmp(&b.label));
        let mut requests: Vec<&RequestRecord> = self.requests.values().collect();
        requests.sort_by_key(|r| r.seq);
        let mut tasks: Vec<&TaskRecord> = self.tasks.values().collect();
        tasks.sort_by_key(|t| t.seq);
        let state = PersistedStateRef {
            version: 1,
            seq: self.seq,
            keys,
            requests,
            tasks,
        };
        serde_json::to_vec_pretty(&state).map_err(|e| e.to_string())
    }

    /// Load a state file; a missing file is an empty store.
    pub(crate) fn load(path: &Path) -> io::Result<Store> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Store::default()),
            Err(e) => return Err(e),
        };
        let bad = |m: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {m}", path.display()),
            )
        };
        let state: PersistedState =
            serde_json::from_slice(&data).map_err(|e| bad(e.to_string()))?;
        let mut store = Store {
            seq: state.seq,
            ..Store::default()
        };
        for k in state.keys {
            let material = Material::from_persisted(k.algorithm.as_deref(), &k.pkcs8)
                .map_err(|e| bad(format!("key {}: {e}", k.label)))?;
            let public_key = material.public_key_spki_der().map(|d| B64.encode(d));
            store.insert_key(KeyEntry {
                label: k.label,
                id: k.id,
                password: k.password,
                material,
                persisted: (k.algorithm, k.pkcs8),
                public_key,
                attributes: k.attributes,
                policy: k.policy,
                rules: k.rules,
                blocked: k.blocked,
                create_time: k.create_time,
                certificate: k.certificate,
            });
        }
        for r in state.requests {
            if !r.status.is_terminal() {
                store.active.insert(r.id.clone());
            }
            store.requests.insert(r.id.clone(), r);
        }
        for t in state.tasks {
            store.tasks.insert(t.id.clone(), t);
        }
        Ok(store)
    }
}

/// Write `data` to `path` atomically: `path.tmp`, fsync, rename.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersistedKey {
    label: String,
    id: Option<String>,
    password: Option<String>,
    /// `None`: `pkcs8` is a PKCS#8 private key; else the key type of the raw material in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    algorithm: Option<String>,
    /// Base64 private key material.
    pkcs8: String,
    attributes: KeyFlags,
    policy: Option<Policy>,
    rules: KeyRules,
    blocked: bool,
    create_time: String,
    certificate: Option<String>,
}

#[derive(Serialize)]
struct PersistedStateRef<'a> {
    version: u32,
    seq: u64,
    keys: Vec<PersistedKey>,
    requests: Vec<&'a RequestRecord>,
    tasks: Vec<&'a TaskRecord>,
}

#[derive(Deserialize)]
struct PersistedState {
    #[allow(dead_code)]
    version: u32,
    seq: u64,
    keys: Vec<PersistedKey>,
    requests: Vec<RequestRecord>,
    tasks: Vec<TaskRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{KeyMaterial, KeySpec};

    fn entry(label: &str, material: &KeyMaterial) -> KeyEntry {
        KeyEntry {
            label: label.into(),
            id: None,
            password: None,
            material: Material::Asym(material.clone()),
            persisted: (None, String::new()),
            public_key: None,
            attributes: KeyFlags::default(),
            policy: None,
            rules: KeyRules::default(),
            blocked: false,
            create_time: String::new(),
            certificate: None,
        }
    }

    #[test]
    fn ten_thousand_keys_resolve_without_scanning() {
        let material = KeyMaterial::generate(KeySpec::Ed25519).unwrap();
        let mut st = Store::default();
        for i in 0..10_000 {
            st.insert_key(entry(&format!("Key-{i}"), &material));
        }
        let t = std::time::Instant::now();
        for i in 0..10_000 {
            assert_eq!(
                st.resolve(&format!("KEY-{i}")).map(|k| k.label.as_str()),
                Some(format!("Key-{i}").as_str())
            );
        }
        // A scan per look-up would be ~10^8 comparisons; the index makes this milliseconds.
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
        assert!(st.label_taken("key-9999") && !st.label_taken("key-10000"));
        assert!(st.resolve("nope").is_none());
        st.remove_key("Key-5");
        assert!(st.resolve("key-5").is_none() && !st.label_taken("KEY-5"));
    }
}
