//! Per-slot cache of TSB keys and certificates. A find by label asks the TSB for that one key;
//! other finds use the key list, cached for the slot's TTL, and fetch each key's attributes at most
//! once per TTL. No lock is held while a request is in flight: look, release, fetch, then insert.
//!
//! One bad key never fails a listing (issue 10): a key whose attributes cannot be fetched or read,
//! or whose certificate cannot, is skipped with one log line and every other key is still shown.
//! Only what concerns every key fails it: the listing itself, refused credentials, or every key of
//! the listing failing (the TSB is broken, not one key).

use super::key::{CertInfo, KeyInfo};
use super::parallel::{self, Bound};
use super::{api, Client};
use crate::error::{Error, Result};
use crate::log::Level;
use crate::util::short;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
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
pub(crate) struct KeyCache {
    ttl: Duration,
    prefix: String,
    keys: Mutex<HashMap<String, KeyEntry>>,
    certs: Mutex<HashMap<String, CertEntry>>,
    listing: Mutex<Option<(Arc<Vec<String>>, Instant)>>,
    /// Labels of the keys this process imported (`POST /v1/key/import/plain`): CKA_LOCAL false,
    /// which the TSB's attributes cannot say ([`KeyInfo::local`]).
    imported: Mutex<std::collections::HashSet<String>>,
    /// The bound on the requests in flight of all the slot's listings together.
    bound: Bound,
}

impl KeyCache {
    /// Empty cache; its listings have at most `concurrency` requests in flight.
    pub(crate) fn new(ttl: Duration, prefix: String, concurrency: usize) -> KeyCache {
        KeyCache {
            bound: Bound::new(concurrency),
            ttl,
            prefix,
            keys: Mutex::new(HashMap::new()),
            certs: Mutex::new(HashMap::new()),
            listing: Mutex::new(None),
            imported: Mutex::new(Default::default()),
        }
    }

    /// Remember that this process imported the key `tsb_label` (see [`KeyCache::imported`]).
    pub(crate) fn mark_imported(&self, tsb_label: &str) {
        self.imported.lock().insert(tsb_label.to_string());
    }

    fn fresh(&self, at: Instant) -> bool {
        at.elapsed() < self.ttl
    }

    /// The key with this TSB label: from the cache when found within the TTL, else from the TSB.
    /// `Ok(None)`: no such key, or one this module cannot represent (symmetric, PQC).
    ///
    /// Absence is never served from the cache here: a key another client makes under a label
    /// that was just looked up in vain is found by the next look-up, not a TTL later (a find by
    /// label asks the TSB; the listing, which is cached as a whole, keeps its negative entries).
    pub(crate) fn key(&self, client: &Client, tsb_label: &str) -> Result<Option<Arc<KeyInfo>>> {
        if let Some(Some(key)) = self.fresh_key(tsb_label) {
            return Ok(Some(key));
        }
        self.fetch_key(client, tsb_label)
    }

    /// Fetch from the TSB and cache, ignoring what is cached.
    pub(crate) fn fetch_key(
        &self,
        client: &Client,
        tsb_label: &str,
    ) -> Result<Option<Arc<KeyInfo>>> {
        let attrs = api::key_attributes(client, tsb_label)?;
        let key = match attrs {
            Some(a) => match KeyInfo::from_tsb(&a, &self.prefix) {
                Ok(mut k) => {
                    k.local = !self.imported.lock().contains(tsb_label);
                    Some(Arc::new(k))
                }
                Err(e) => {
                    // A key of a type the module does not offer (AES, PQC, ...) is simply not
                    // shown; a key of a type it offers whose data cannot be read is a bad key:
                    // skipped, with a warning.
                    let offered = a.algorithm.as_deref().is_some_and(|alg| {
                        matches!(
                            tsb_models::KeyType::from_name_or_oid(alg),
                            Some(tsb_models::KeyType::Asymmetric(_) | tsb_models::KeyType::Pqc(_))
                        )
                    });
                    let level = if offered { Level::Warn } else { Level::Debug };
                    crate::log!(level, "key {} is skipped: {e}", short(tsb_label));
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
    pub(crate) fn cached_key(&self, tsb_label: &str) -> Option<Arc<KeyInfo>> {
        self.keys.lock().get(tsb_label).and_then(|e| e.key.clone())
    }

    /// Record a key just created or read.
    pub(crate) fn insert_key(&self, key: Arc<KeyInfo>) {
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
    pub(crate) fn remove_key(&self, tsb_label: &str) {
        self.keys.lock().insert(
            tsb_label.to_string(),
            KeyEntry {
                key: None,
                at: Instant::now(),
            },
        );
        self.certs.lock().remove(tsb_label);
        self.imported.lock().remove(tsb_label);
        if let Some((list, _)) = self.listing.lock().as_mut() {
            Arc::make_mut(list).retain(|l| l != tsb_label);
        }
    }

    /// The key's certificate (cached per TTL, absence too).
    pub(crate) fn cert(&self, client: &Client, tsb_label: &str) -> Result<Option<Arc<CertInfo>>> {
        if let Some(e) = self.certs.lock().get(tsb_label).cloned() {
            if self.fresh(e.at) {
                return Ok(e.cert);
            }
        }
        // `GET /v1/certificate/{label}` carries the label in the URL path. A label so long that
        // its path would exceed what HTTP servers accept in a request line (Tomcat, in front of
        // the TSB, allows 8 KiB for the whole head by default) is not sent: its certificate is
        // not shown, with a log line, and the key itself still is.
        if api::encode_segment(tsb_label).len() > MAX_LABEL_IN_PATH {
            crate::log!(
                Level::Warn,
                "the certificate of key {} is skipped: its label is too long for GET /v1/certificate/{{label}}",
                short(tsb_label)
            );
            self.set_cert(tsb_label, None);
            return Ok(None);
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
    pub(crate) fn cached_cert(&self, tsb_label: &str) -> Option<Arc<CertInfo>> {
        self.certs
            .lock()
            .get(tsb_label)
            .and_then(|e| e.cert.clone())
    }

    /// Record a certificate imported or removed.
    pub(crate) fn set_cert(&self, tsb_label: &str, cert: Option<Arc<CertInfo>>) {
        self.certs.lock().insert(
            tsb_label.to_string(),
            CertEntry {
                cert,
                at: Instant::now(),
            },
        );
    }

    /// Forget the cached key list: the next [`Self::labels`] asks the TSB.
    pub(crate) fn forget_listing(&self) {
        *self.listing.lock() = None;
    }

    /// TSB labels of this slot's keys (with the prefix), cached per TTL.
    pub(crate) fn labels(&self, client: &Client) -> Result<Arc<Vec<String>>> {
        if let Some((l, at)) = self.listing.lock().clone() {
            if self.fresh(at) {
                return Ok(l);
            }
        }
        // Under the slot's bound too: a listing's key list counts among its requests in flight
        // (two listings at once must not exceed the bound while one lists and one fetches).
        let all = self.bound.run(|| api::list_keys(client))?;
        let mine: Vec<String> = all
            .into_iter()
            .filter(|l| l.starts_with(&self.prefix))
            .collect();
        let mine = Arc::new(mine);
        *self.listing.lock() = Some((mine.clone(), Instant::now()));
        Ok(mine)
    }

    /// The cached key when it was fetched within the TTL (`Some(None)`: known not to be shown).
    fn fresh_key(&self, tsb_label: &str) -> Option<Option<Arc<KeyInfo>>> {
        let keys = self.keys.lock();
        let e = keys.get(tsb_label)?;
        self.fresh(e.at).then(|| e.key.clone())
    }

    /// The cached certificate when it was fetched within the TTL (`Some(None)`: none).
    fn fresh_cert(&self, tsb_label: &str) -> Option<Option<Arc<CertInfo>>> {
        let certs = self.certs.lock();
        let e = certs.get(tsb_label)?;
        self.fresh(e.at).then(|| e.cert.clone())
    }

    /// Every key of the listing that the module can show, and with `certs` its certificate.
    /// `show` picks the labels to read (the others are neither fetched nor returned).
    ///
    /// The TSB's key list gives labels only (`GET /v1/key` → `["k1","k2"]`, S1 `key.go`
    /// `GetKeys`), and a key's attributes do not carry its certificate (S3
    /// `dto/tsb/response/KeyAttributesDto.java`: no certificate field), so a listing costs one
    /// request per key for the attributes, and one more for the certificate when certificates
    /// are asked for, each at most once per TTL. They are sent by up to `listing_concurrency`
    /// workers, each request under the slot's [`Bound`], so the slot never has more than that
    /// many listing requests in flight, however many listings run at once.
    ///
    /// A key or certificate that cannot be fetched or read is skipped with one log line; see
    /// the module docs for what fails the whole listing.
    pub(crate) fn listing(
        &self,
        client: &Client,
        show: &dyn Fn(&str) -> bool,
        certs: bool,
    ) -> Result<Vec<Listed>> {
        let all = self.labels(client)?;
        let labels: Vec<&String> = all.iter().filter(|l| show(l)).collect();
        let results: Vec<Mutex<Option<Got>>> = labels.iter().map(|_| Mutex::new(None)).collect();
        let refused = AtomicBool::new(false);
        let indices: Vec<usize> = (0..labels.len()).collect();
        parallel::for_each(&indices, self.bound.max(), &|i: &usize| {
            if refused.load(Ordering::Relaxed) {
                // Every further request would be refused too.
                return;
            }
            let l = labels[*i];
            let key = match self.fresh_key(l) {
                Some(k) => Ok(k),
                None => self.bound.run(|| self.fetch_key(client, l)),
            };
            let cert = match (&key, certs) {
                // A secret key has no certificate: nothing to ask.
                (Ok(Some(k)), true) if !k.is_secret() => Some(match self.fresh_cert(l) {
                    Some(c) => Ok(c),
                    None => self.bound.run(|| self.cert(client, l)),
                }),
                _ => None,
            };
            let fatal = |r: Option<&Error>| r.is_some_and(|e| !skippable(e));
            if fatal(key.as_ref().err()) || fatal(cert.as_ref().and_then(|c| c.as_ref().err())) {
                refused.store(true, Ordering::Relaxed);
            }
            *results[*i].lock() = Some(Got { key, cert });
        });
        let mut out = Vec::with_capacity(labels.len());
        let mut first_error = None;
        let mut read = 0usize;
        for (l, got) in labels.iter().zip(results) {
            // Not run because a request was refused: that refusal is stored too, and returned
            // when the loop reaches it.
            let Some(got) = got.into_inner() else {
                continue;
            };
            match got.key {
                Ok(Some(key)) => {
                    read += 1;
                    let cert = match got.cert {
                        None | Some(Ok(None)) => None,
                        Some(Ok(Some(c))) => Some(c),
                        Some(Err(e)) if skippable(&e) => {
                            crate::log!(
                                Level::Warn,
                                "the certificate of key {} is skipped: it could not be fetched: {e}",
                                short(l)
                            );
                            None
                        }
                        Some(Err(e)) => return Err(e),
                    };
                    out.push(Listed {
                        label: l.to_string(),
                        key,
                        cert,
                    });
                }
                Ok(None) => read += 1,
                Err(e) if skippable(&e) => {
                    crate::log!(
                        Level::Warn,
                        "key {} is skipped: its attributes could not be read: {e}",
                        short(l)
                    );
                    first_error.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        match first_error {
            // Not one key could be read: the TSB is failing, not one of its keys.
            Some(e) if read == 0 => Err(e),
            _ => Ok(out),
        }
    }

    /// [`Self::listing`] without certificates, as (listing label, key).
    pub(crate) fn all_keys(
        &self,
        client: &Client,
        show: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(String, Arc<KeyInfo>)>> {
        Ok(self
            .listing(client, show, false)?
            .into_iter()
            .map(|k| (k.label, k.key))
            .collect())
    }

    /// The key's certificate for a listing: a certificate that cannot be fetched or read is
    /// skipped (None) with one log line, unless the credentials were refused.
    pub(crate) fn cert_or_skip(
        &self,
        client: &Client,
        tsb_label: &str,
    ) -> Result<Option<Arc<CertInfo>>> {
        match self.cert(client, tsb_label) {
            Err(e) if skippable(&e) => {
                crate::log!(
                    Level::Warn,
                    "the certificate of key {} is skipped: it could not be fetched: {e}",
                    short(tsb_label)
                );
                Ok(None)
            }
            r => r,
        }
    }
}

/// One key of a listing ([`KeyCache::listing`]).
pub(crate) struct Listed {
    /// Its TSB label (with the slot's prefix).
    pub(crate) label: String,
    /// Its attributes.
    pub(crate) key: Arc<KeyInfo>,
    /// Its certificate, when the listing asked for certificates and the key has a readable one.
    pub(crate) cert: Option<Arc<CertInfo>>,
}

/// What a listing's worker got for one label: the key (`Ok(None)`: none by that label, or one
/// the module does not show) and, when asked and the key is shown, its certificate.
struct Got {
    key: Result<Option<Arc<KeyInfo>>>,
    cert: Option<Result<Option<Arc<CertInfo>>>>,
}

/// Longest percent-encoded label sent in a URL path (see [`KeyCache::cert`]).
pub(crate) const MAX_LABEL_IN_PATH: usize = 2048;

/// Whether an error concerns one key only (skip the key) rather than every request (refused
/// credentials: fail).
fn skippable(e: &Error) -> bool {
    !e.credentials_refused()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_credentials_are_not_one_bad_key() {
        let refused = Error::Tsb {
            status: 401,
            code: Some(631),
            reason: String::new(),
            message: String::new(),
            call: "POST /v1/key/attributes".into(),
            hint: None,
        };
        assert!(!skippable(&refused));
        assert!(skippable(&Error::Transport("unreadable answer".into())));
    }
}
