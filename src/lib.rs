//! tsb-pkcs11: a PKCS#11 module for keys in a Securosys CloudHSM reached through the Transaction
//! Security Broker (TSB) REST API, including keys with Smart Key Attributes whose every use waits
//! for m-of-n approvals. An approval-gated C_Sign blocks (with a configurable wait) until the
//! approvers decide.
//!
//! Layers, data flowing one way: [`ffi`] (the C ABI) -> `token` (PKCS#11 semantics) -> `tsb`
//! (the TSB behind one facade per slot) -> `tsb_models` (the protocol). `mechanism` is the table
//! of mechanisms, `config` the configuration (read by every layer, reading none), `error` the one
//! error type with its one mapping to `CK_RV`, and [`vendor`] the constants of the vendor
//! extension. Only the C ABI, the vendor constants and [`doctor::run`] (the `tsb-pkcs11-doctor`
//! program, which checks a configuration with the module's own loader and client) are public:
//! the Rust items below them are the module's own.

#![warn(missing_docs)]

mod alloc;
mod config;
mod der;
pub mod doctor;
mod error;
pub mod ffi;
mod log;
mod mechanism;
mod panic_hook;
mod pkcs11_v32;
mod token;
mod tsb;
mod util;
pub mod vendor;

use cryptoki_sys::*;
use error::{Error, Result};
use parking_lot::RwLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// CK_INFO.manufacturerID.
pub(crate) const MANUFACTURER: &str = "tsb-pkcs11";
/// CK_INFO.libraryDescription.
pub(crate) const LIBRARY_DESCRIPTION: &str = "Securosys TSB PKCS#11 module";

static MODULE: RwLock<Option<Arc<token::Module>>> = RwLock::new(None);

/// The process that called C_Initialize for [`MODULE`]: a forked child sees the parent's module
/// and the parent's pid here.
static INITIALIZED_BY: AtomicU32 = AtomicU32::new(0);

/// The initialized module, or CKR_CRYPTOKI_NOT_INITIALIZED.
pub(crate) fn module() -> Result<Arc<token::Module>> {
    MODULE.read().clone().ok_or_else(|| {
        Error::ck(
            CKR_CRYPTOKI_NOT_INITIALIZED,
            "C_Initialize has not been called",
        )
    })
}

/// C_Initialize after argument checks: read the configuration and set up the slots. Local work
/// only; the TSB is first contacted when an object or operation needs it.
pub(crate) fn initialize() -> Result<()> {
    let mut g = MODULE.write();
    let pid = std::process::id();
    if g.is_some() {
        if INITIALIZED_BY.load(Ordering::Acquire) == pid {
            return Err(Error::ck(
                CKR_CRYPTOKI_ALREADY_INITIALIZED,
                "already initialized",
            ));
        }
        // A forked child of an initialized process: PKCS#11 (v2.40 section 5.5.1, "Applications
        // and processes") makes it another application that must call C_Initialize itself. The
        // parent's module is forgotten, not finalized or dropped: its sessions and logins are
        // the parent's, its HTTP client threads do not exist here, and its session keys are the
        // parent's to delete. A child that never calls C_Initialize still reaches the inherited
        // module (the standard leaves that undefined); its HTTP client is rebuilt for the child
        // (tsb::client) and it deletes no key of the parent's (token::session_keys).
        if let Some(inherited) = g.take() {
            std::mem::forget(inherited);
        }
    }
    log::init(None, None);
    // A config error is one line naming the file, the line and the field, written by the C
    // boundary (log::report) like every other failure.
    let config = config::Config::load()?;
    log::init(config.log_level.as_deref(), config.log_file.as_deref());
    crate::log!(
        log::Level::Debug,
        "initialized from {} with {} slot(s)",
        config.source,
        config.slots.len()
    );
    let m = token::Module::new(config)?;
    *g = Some(Arc::new(m));
    INITIALIZED_BY.store(pid, Ordering::Release);
    Ok(())
}

/// C_Finalize: forget the module. Waits in progress on other threads are cancelled; nothing is
/// joined, so this is safe from an atexit handler after main returned.
pub(crate) fn finalize() -> Result<()> {
    let m = MODULE
        .write()
        .take()
        .ok_or_else(|| Error::ck(CKR_CRYPTOKI_NOT_INITIALIZED, "not initialized"))?;
    m.shutdown();
    Ok(())
}

/// The process exits, or the module is unloaded, without C_Finalize: this process's session keys
/// are deleted (bounded in time: `token::session::SHUTDOWN_BOUND`), so no normal exit leaves a key
/// behind in the HSM. A destructor of the shared object (`.fini_array`), not `atexit`: it runs at
/// `exit` after the application's own `atexit` handlers (which may still call C_Finalize, leaving
/// nothing to do here) and at `dlclose`, while the module's code is still mapped. The lock is
/// only tried for a moment: a thread stopped inside the module must not hang the exit.
extern "C" fn at_unload() {
    let _ = std::panic::catch_unwind(|| {
        let taken = MODULE
            .try_write_for(std::time::Duration::from_millis(500))
            .and_then(|mut g| g.take());
        if let Some(m) = taken {
            m.shutdown();
        }
    });
}

#[used]
#[link_section = ".fini_array"]
static AT_UNLOAD: extern "C" fn() = at_unload;

/// The library version from Cargo.
pub(crate) fn library_version() -> CK_VERSION {
    let major = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap_or(0);
    let minor = env!("CARGO_PKG_VERSION_MINOR").parse().unwrap_or(0);
    CK_VERSION { major, minor }
}
