//! Per-slot cache of TSB keys and certificates. A find by label asks the TSB for that one key;
//! other finds use the key list, cached for the slot's TTL, and fetch each key's attributes at most
//! once per TTL. No lock is held while a request is in flight: look, release, fetch, then insert.

use super::object::{CertInfo, KeyInfo};
use crate::error::Result;
use crate::log::Level;
use crate::tsb::{api, Client};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone)]
struct KeyEntry {
    key: Option<Arc<KeyInfo>>,
    at: Instant,
}

#[derive(Clone)]
struct CertEntry {
    cert: Option<Arc<CertInfo>>,
    at: Instant,
}

/// The cache of one slot.
pub struct KeyCache {
    ttl: Duration,
    prefix: String,
    keys: Mutex<HashMap<String, KeyEntry>>,
    certs: Mutex<HashMap<String, CertEntry>>,
    listing: Mutex<Option<(Arc<Vec<String>>, Instant)>>,
}

impl KeyCache {
    /// Empty cache.
    pub fn new(ttl: Duration, prefix: String) -> KeyCache {
        KeyCache {
            ttl,
            prefix,
            keys: Mutex::new(HashMap::new()),
            certs: Mutex::new(HashMap::new()),
            listing: Mutex::new(None),
        }
    }

    fn fresh(&self, at: Instant) -> bool {
        at.elapsed() < self.ttl
    }

    /// The key with this TSB label: from the cache when fetched within the TTL, else from the TSB.
    /// `Ok(None)`: no such key, or one this module cannot represent (symmetric, PQC).
    pub fn key(&self, client: &Client, tsb_label: &str) -> Result<Option<Arc<KeyInfo>>> {
        if let Some(e) = self.keys.lock().get(tsb_label).cloned() {
            if self.fresh(e.at) {
                return Ok(e.key);
            }
        }
        self.fetch_key(client, tsb_label)
    }

    /// Fetch from the TSB and cache, ignoring what is cached.
    pub fn fetch_key(&self, client: &Client, tsb_label: &str) -> Result<Option<Arc<KeyInfo>>> {
        let attrs = api::key_attributes(client, tsb_label)?;
        let key = match attrs {
            Some(a) => match KeyInfo::from_tsb(&a, &self.prefix) {
                Ok(k) => Some(Arc::new(k)),
                Err(e) => {
                    crate::log!(Level::Debug, "key {tsb_label} is not shown: {e}");
                    None
                }
            },
            None => None,
        };
        self.keys.lock().insert(
            tsb_label.to_string(),
            KeyEntry {
                key: key.clone(),
                at: Instant::now(),
            },
        );
        Ok(key)
    }

    /// Whatever is cached for this label, however old (for reading attributes of an object whose
    /// handle the caller already holds).
    pub fn cached_key(&self, tsb_label: &str) -> Option<Arc<KeyInfo>> {
        self.keys.lock().get(tsb_label).and_then(|e| e.key.clone())
    }

    /// Record a key just created or read.
    pub fn insert_key(&self, key: Arc<KeyInfo>) {
        let label = key.tsb_label.clone();
        self.keys.lock().insert(
            label.clone(),
            KeyEntry {
                key: Some(key),
                at: Instant::now(),
            },
        );
        // A new key has no certificate yet; remember that instead of asking.
        self.certs.lock().insert(
            label.clone(),
            CertEntry {
                cert: None,
                at: Instant::now(),
            },
        );
        if let Some((list, _)) = self.listing.lock().as_mut() {
            if !list.contains(&label) {
                Arc::make_mut(list).push(label);
            }
        }
    }

    /// Forget a deleted key.
    pub fn remove_key(&self, tsb_label: &str) {
        self.keys.lock().insert(
            tsb_label.to_string(),
            KeyEntry {
                key: None,
                at: Instant::now(),
            },
        );
        self.certs.lock().remove(tsb_label);
        if let Some((list, _)) = self.listing.lock().as_mut() {
            Arc::make_mut(list).retain(|l| l != tsb_label);
        }
    }

    /// The key's certificate (cached per TTL, absence too).
    pub fn cert(&self, client: &Client, tsb_label: &str) -> Result<Option<Arc<CertInfo>>> {
        if let Some(e) = self.certs.lock().get(tsb_label).cloned() {
            if self.fresh(e.at) {
                return Ok(e.cert);
            }
        }
        let der = api::get_certificate(client, tsb_label)?;
        let cert = der.and_then(|d| {
            let c = CertInfo::from_der(d);
            if c.is_none() {
                crate::log!(Level::Warn, "the certificate of key {tsb_label} is not a readable X.509 certificate; not shown");
            }
            c.map(Arc::new)
        });
        self.set_cert(tsb_label, cert.clone());
        Ok(cert)
    }

    /// Cached certificate however old.
    pub fn cached_cert(&self, tsb_label: &str) -> Option<Arc<CertInfo>> {
        self.certs
            .lock()
            .get(tsb_label)
            .and_then(|e| e.cert.clone())
    }

    /// Record a certificate imported or removed.
    pub fn set_cert(&self, tsb_label: &str, cert: Option<Arc<CertInfo>>) {
        self.certs.lock().insert(
            tsb_label.to_string(),
            CertEntry {
                cert,
                at: Instant::now(),
            },
        );
    }

    /// TSB labels of this slot's keys (with the prefix), cached per TTL.
    pub fn labels(&self, client: &Client) -> Result<Arc<Vec<String>>> {
        if let Some((l, at)) = self.listing.lock().clone() {
            if self.fresh(at) {
                return Ok(l);
            }
        }
        let all = api::list_keys(client)?;
        let mine: Vec<String> = all
            .into_iter()
            .filter(|l| l.starts_with(&self.prefix))
            .collect();
        let mine = Arc::new(mine);
        *self.listing.lock() = Some((mine.clone(), Instant::now()));
        Ok(mine)
    }

    /// Make sure every label has fresh attributes, fetching the missing ones a few at a time in
    /// parallel (a listing of thousands of keys would otherwise take thousands of round trips in a row).
    pub fn prefetch(&self, client: &Client, labels: &[String]) -> Result<()> {
        let missing: Vec<&String> = {
            let keys = self.keys.lock();
            labels
                .iter()
                .filter(|l| keys.get(*l).map(|e| !self.fresh(e.at)).unwrap_or(true))
                .collect()
        };
        if missing.len() <= 1 {
            for l in missing {
                self.fetch_key(client, l)?;
            }
            return Ok(());
        }
        let workers = missing.len().min(8);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let first_err: Mutex<Option<crate::error::Error>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    crate::panic_hook::scope(|| loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(l) = missing.get(i) else { break };
                        if first_err.lock().is_some() {
                            break;
                        }
                        if let Err(e) = self.fetch_key(client, l) {
                            first_err.lock().get_or_insert(e);
                        }
                    })
                });
            }
        });
        match first_err.into_inner() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
