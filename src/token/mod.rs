//! PKCS#11 semantics with no C types and no HTTP: slots and their tokens, sessions and login
//! state, object handles and attributes, find, typed templates, one operation registry per
//! session, key generation, and the vendor extension's CSRs and certificates. The `ffi` layer
//! converts C arguments into calls here; everything here returns `Result`. The TSB is reached only
//! through each slot's facade ([`crate::tsb::Tsb`]), so all of it runs in-process against the
//! in-process emulator (`tests`).

mod attributes;
mod certificates;
mod csr;
mod decrypt;
mod derive;
mod digest;
mod encrypt;
mod find;
mod kbkdf;
mod keygen;
mod label;
mod local;
mod login;
mod message;
mod objects;
mod operation;
mod pin;
mod plain_keys;
mod pqc;
mod random;
mod remote;
mod requests;
mod results;
mod secret_keys;
mod session;
mod session_keys;
mod session_objects;
mod sign;
mod slot;
mod symmetric;
mod template;
mod verifier;
mod verify;
mod wrap;

#[cfg(test)]
mod tests;

pub(crate) use attributes::AttrValue;
pub(crate) use certificates::{split_list, CertSpec};
pub(crate) use csr::CsrSpec;
pub(crate) use message::MessageOutput;
pub(crate) use operation::{OpKind, Output};
pub(crate) use session::Session;
pub(crate) use slot::Slot;
pub(crate) use symmetric::{Decrypt, Encrypt};
pub(crate) use template::{Attr, Template};
pub(crate) use verifier::VerifyKey;

use crate::config::Config;
use crate::error::Result;
use crate::tsb::requests::Requests;
use crate::tsb::Tsb;
use cryptoki_sys::{CK_OBJECT_HANDLE, CK_SESSION_HANDLE};
use objects::HandleTable;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// The module: its slots, open sessions and object handles. Built from a [`Config`]; the C ABI
/// keeps one in a global between C_Initialize and C_Finalize, tests build as many as they like.
pub(crate) struct Module {
    /// Slots, id = index.
    pub(crate) slots: Vec<Slot>,
    sessions: Mutex<HashMap<CK_SESSION_HANDLE, Arc<Session>>>,
    handles: Mutex<HandleTable>,
    /// Session objects (session_objects.rs), by handle.
    session_objects: Mutex<HashMap<CK_OBJECT_HANDLE, Arc<session_objects::SessionObject>>>,
}

impl Module {
    /// Build from a config. Local work only (files named by the config are read); no network I/O.
    pub(crate) fn new(config: Config) -> Result<Module> {
        // One journal for the module: the first slot that names one.
        let journal = config.slots.iter().find_map(|s| s.journal.clone());
        let requests = Arc::new(Requests::new(journal, config.forget_unknown));
        let slots = config
            .slots
            .into_iter()
            .enumerate()
            .map(|(id, sc)| {
                let tsb = Tsb::new(id, &sc, requests.clone());
                Slot::new(id, sc, tsb)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Module {
            slots,
            sessions: Mutex::new(HashMap::new()),
            handles: Mutex::new(HandleTable::default()),
            session_objects: Mutex::new(HashMap::new()),
        })
    }
}
