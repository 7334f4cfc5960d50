//! The C ABI and nothing else: the function lists and interfaces, and one thin shim per C_ (and
//! TSB_) function. A shim checks and converts the C arguments (`args`), calls the layer below
//! (`token`), writes the results back, maps `Error` to `CK_RV`, and never lets a panic cross the
//! boundary: every entry point runs inside `guard`. Calls on a session go through
//! `session_call` or `operation_call`, so every one records the session's `ulDeviceError` in
//! the one place that does (`token::Module::with_session`).

// The safety contract of every entry point is the PKCS#11 specification itself: the caller passes
// pointers valid for the lengths it gives. Each shim still checks for NULL and absurd lengths.
#![allow(clippy::missing_safety_doc)]
#![allow(non_snake_case)]
#![deny(unsafe_op_in_unsafe_fn)]

/// `cryptoki_fn!(fn C_X(a: T, ...) { body })`: an exported entry point whose body returns
/// `Result<()>`, run inside [`guard`].
macro_rules! cryptoki_fn {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $t:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        #[doc = concat!("PKCS#11 `", stringify!($name), "`.")]
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $t),*) -> CK_RV {
            $crate::ffi::guard(stringify!($name), || -> $crate::error::Result<()> { $body })
        }
    };
}

/// An entry point the module does not offer: CKR_FUNCTION_NOT_SUPPORTED (never a NULL slot in a
/// function list, which would crash callers that do not check), after the checks the standard
/// puts first: CKR_CRYPTOKI_NOT_INITIALIZED, then, for a function on a session, an unknown
/// session (CKR_SESSION_HANDLE_INVALID). `session` marks functions whose first argument is a
/// session handle.
macro_rules! not_supported {
    ($(session $name:ident($($t:ty),*);)*) => {
        $(
            #[doc = concat!("PKCS#11 `", stringify!($name), "`: not offered (CKR_FUNCTION_NOT_SUPPORTED).")]
            #[no_mangle]
            pub unsafe extern "C" fn $name(hSession: CK_SESSION_HANDLE $(, _: $t)*) -> CK_RV {
                $crate::ffi::guard(stringify!($name), || {
                    $crate::module()?.session(hSession)?;
                    Err($crate::error::Error::ck(
                        CKR_FUNCTION_NOT_SUPPORTED,
                        "not offered by this module",
                    ))
                })
            }
        )*
    };
}

mod args;
pub mod crypto;
pub mod general;
pub mod interfaces;
pub mod message;
pub mod objects;
pub mod sessions;
pub mod slots;
pub mod vendor;

use crate::error::Result;
use crate::log::Level;
use crate::token::{Module, OpKind, Session};
use cryptoki_sys::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Run an entry point's body: map its error to a CK_RV and turn a panic into CKR_GENERAL_ERROR.
pub(crate) fn guard(name: &str, f: impl FnOnce() -> Result<()>) -> CK_RV {
    // A panic's text goes to the module's log, not to the host's stderr (crate::panic_hook).
    crate::panic_hook::install();
    match catch_unwind(AssertUnwindSafe(|| crate::panic_hook::scope(f))) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(e)) => {
            // The one line of a failure the person must fix; the caller's own errors (probes,
            // small buffers, wrong states) only at debug level (see log::report).
            crate::log::report(name, &e);
            e.rv()
        }
        Err(_) => {
            crate::log!(
                Level::Error,
                "{name}: internal error (panic caught at the C boundary; the line before says where)"
            );
            CKR_GENERAL_ERROR
        }
    }
}

/// The body of an entry point that works on a session: the initialized module, the session, and
/// the outcome recorded as the session's ulDeviceError.
fn session_call<T>(
    h: CK_SESSION_HANDLE,
    f: impl FnOnce(&Module, &Session) -> Result<T>,
) -> Result<T> {
    let m = crate::module()?;
    m.with_session(h, |s| f(&m, s))
}

/// [`session_call`] for C_X, C_XUpdate and C_XFinal of an operation family: any error but
/// CKR_BUFFER_TOO_SMALL, argument errors and panics included, ends the operation.
fn operation_call<T>(
    h: CK_SESSION_HANDLE,
    kind: OpKind,
    f: impl FnOnce(&Module, &Session) -> Result<T>,
) -> Result<T> {
    let m = crate::module()?;
    m.with_operation(h, kind, |s| f(&m, s))
}
