//! C_FindObjectsInit / C_FindObjects / C_FindObjectsFinal: the whole search is evaluated at Init
//! (a find by label asks the TSB for that one key, other finds use the cached listing), and the
//! handles are handed out in portions.

use super::attributes::{AttrValue, ObjClass, ObjectView};
use super::objects::ObjRef;
use super::session::Session;
use super::session_keys;
use super::slot::Slot;
use super::template::Template;
use super::Module;
use crate::error::Result;
use crate::log::Level;
use crate::tsb::cache::Listed;
use cryptoki_sys::*;
use std::sync::atomic::Ordering;

/// An active find: the handles found, and how many were handed out.
pub(crate) struct FindOp {
    results: Vec<CK_OBJECT_HANDLE>,
    pos: usize,
}

impl FindOp {
    pub(crate) fn new(results: Vec<CK_OBJECT_HANDLE>) -> FindOp {
        FindOp { results, pos: 0 }
    }
}

impl Module {
    /// C_FindObjectsInit: CKR_OPERATION_ACTIVE when a find is active, else the search, now.
    pub(crate) fn find_init(&self, session: &Session, template: &Template) -> Result<()> {
        self.start(session, || Ok(FindOp::new(self.find(session, template)?)))
    }

    /// C_FindObjects: the next handles, at most `max`.
    pub(crate) fn find_next(&self, session: &Session, max: usize) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let mut st = session.state.lock();
        let f = st.ops.get::<FindOp>()?;
        let n = (f.results.len() - f.pos).min(max);
        let out = f.results[f.pos..f.pos + n].to_vec();
        f.pos += n;
        Ok(out)
    }

    /// C_FindObjectsFinal.
    pub(crate) fn find_final(&self, session: &Session) -> Result<()> {
        session
            .state
            .lock()
            .ops
            .take::<FindOp>()
            .map(|_| ())
            .ok_or_else(super::operation::not_initialized)
    }

    /// The handles of every object of the session's slot that matches `template`: its session
    /// objects (those of every session of this application) and the token objects. Values are
    /// compared as bytes, so a value of the wrong size (a CKA_CLASS of 3 bytes) matches nothing.
    pub(crate) fn find(
        &self,
        session: &Session,
        template: &Template,
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let slot = self.slot_of(session);
        if slot.login_required() && !slot.logged_in() {
            // Every object is private on such a slot; without a login none is visible.
            return Ok(Vec::new());
        }
        let private_objects = slot.login_required();
        let matches = |view: &ObjectView| {
            template
                .iter()
                .all(|a| view.attribute(a.ty, private_objects) == AttrValue::Value(a.value.clone()))
        };
        let token = match template.get(CKA_TOKEN).map(|a| a.as_bool()) {
            Some(Err(_)) => return Ok(Vec::new()),
            Some(Ok(t)) => Some(t),
            None => None,
        };
        let mut out = Vec::new();
        if token != Some(true) {
            for (h, o) in self.session_objects_of(slot.id) {
                if matches(&ObjectView::Session(o)) {
                    out.push(h);
                }
            }
        }
        if token == Some(false) {
            // Only session objects: the TSB is not asked.
            return Ok(out);
        }
        out.extend(self.find_token_objects(session, template, &matches)?);
        Ok(out)
    }

    /// The token objects of [`Self::find`].
    fn find_token_objects(
        &self,
        session: &Session,
        template: &Template,
        matches: &dyn Fn(&ObjectView) -> bool,
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let slot = self.slot_of(session);
        let prefix = &slot.config.label_prefix;
        let class = match template.get(CKA_CLASS).map(|a| a.as_ulong()) {
            Some(Err(_)) => return Ok(Vec::new()),
            Some(Ok(c)) => Some(c),
            None => None,
        };
        let want = |c: CK_OBJECT_CLASS| class.map(|x| x == c).unwrap_or(true);
        let want_keys = want(CKO_PRIVATE_KEY) || want(CKO_PUBLIC_KEY) || want(CKO_SECRET_KEY);
        let want_certs = want(CKO_CERTIFICATE);
        if !want_keys && !want_certs {
            return Ok(Vec::new());
        }
        let keys: Vec<Listed> = match template.get(CKA_LABEL).map(|a| a.as_utf8()) {
            // A label that is not UTF-8 names no TSB key.
            Some(Err(_)) => return Ok(Vec::new()),
            // A find by label asks for that one key (and its certificate), without listing; a
            // session key's label names no token object.
            Some(Ok(l)) => {
                let l = format!("{prefix}{l}");
                if session_keys::is_session_label(prefix, &l) {
                    vec![]
                } else {
                    match slot.tsb.key(&l)? {
                        Some(key) => {
                            let cert = match want_certs {
                                true => slot.tsb.cert_or_skip(&l)?,
                                false => None,
                            };
                            vec![Listed {
                                label: l,
                                key,
                                cert,
                            }]
                        }
                        None => vec![],
                    }
                }
            }
            // One bad key is skipped, not fatal (tsb::cache::KeyCache::listing); session keys
            // are not token objects (session_keys.rs). Certificates are fetched with the keys,
            // in parallel, only when the template can match one.
            None => {
                // The listing (cached for the slot's TTL) is read once: leftovers first.
                let labels = slot.tsb.labels(false)?;
                self.reap_leftovers(slot, &labels);
                slot.tsb
                    .listing(&|l| !session_keys::is_session_label(prefix, l), want_certs)?
            }
        };
        let mut out = Vec::new();
        let mut found = |label: &str, class: ObjClass| {
            out.push(self.handle_for(ObjRef {
                slot: slot.id,
                label: label.to_string(),
                class,
            }))
        };
        for Listed { label, key, cert } in &keys {
            // A secret key is one object, with no public half and no certificate.
            if key.is_secret() {
                if want_keys && matches(&ObjectView::Private(key.clone())) {
                    found(label, ObjClass::Private);
                }
                continue;
            }
            if want_keys {
                for (class, view) in [
                    (ObjClass::Private, ObjectView::Private(key.clone())),
                    (ObjClass::Public, ObjectView::Public(key.clone())),
                ] {
                    if matches(&view) {
                        found(label, class);
                    }
                }
            }
            if let Some(cert) = cert {
                if matches(&ObjectView::Certificate(key.clone(), cert.clone())) {
                    found(label, ObjClass::Certificate);
                }
            }
        }
        if want_certs {
            for (i, (l, c)) in slot.ca_certs.iter().enumerate() {
                if matches(&ObjectView::CaCertificate(l.clone(), c.clone())) {
                    found(l, ObjClass::CaCertificate(i));
                }
            }
        }
        Ok(out)
    }

    /// The first listing of a slot deletes the session keys that crashed processes of this host
    /// left behind (and, with `session_key_max_age_s`, old ones of other hosts): see
    /// session_keys.rs. Once per slot and module; a failure is logged and the find goes on.
    fn reap_leftovers(&self, slot: &Slot, labels: &[String]) {
        if slot.reaped.swap(true, Ordering::Relaxed) {
            return;
        }
        let prefix = &slot.config.label_prefix;
        let now = session_keys::now();
        let max_age = slot.config.token_settings.session_key_max_age;
        for l in labels.iter() {
            if let Some(why) = session_keys::reapable(prefix, l, max_age, now) {
                match slot.tsb.delete_key(l) {
                    Ok(()) => crate::log!(Level::Info, "deleted leftover session key {l}: {why}"),
                    Err(e) => crate::log!(
                        Level::Warn,
                        "leftover session key {l} ({why}) could not be deleted: {e}"
                    ),
                }
            }
        }
    }
}
