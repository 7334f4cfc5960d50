//! Panics on the module's own code paths are caught at the C boundary (`ffi::guard`) and answered
//! with CKR_GENERAL_ERROR. Their text must not be printed on the host's stderr by Rust's default
//! hook ("thread 'main' panicked at ..., note: run with RUST_BACKTRACE=1"): inside the module it
//! goes through the module's logger, at error level, to wherever the log goes.
//!
//! The hook is installed once, chained to the hook that was there before, and acts only for panics
//! raised while module code runs on the panicking thread ([`scope`]: every C entry point, and the
//! threads the module starts for a large find). Any other panic goes to the previous hook, so a Rust
//! program that links this crate as an rlib keeps its own panic output. (In the `cdylib` the
//! module has its own copy of the standard library, so its hook never sees the host's panics.)
//!
//! A deterministic panic for the tests of all this is [`panic_point`].

use crate::log::Level;
use std::cell::Cell;
use std::sync::Once;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

static INSTALL: Once = Once::new();

/// Install the hook (once per process; cheap afterwards).
pub(crate) fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if in_module() {
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".into());
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                crate::log!(Level::Error, "internal error (panic): {msg}{at}");
            } else {
                previous(info);
            }
        }));
    });
}

/// Run `f` as module code: a panic raised in it is reported through the module's logger only.
pub(crate) fn scope<T>(f: impl FnOnce() -> T) -> T {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            let _ = DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
        }
    }
    let _ = DEPTH.try_with(|d| d.set(d.get() + 1));
    let _leave = Leave;
    f()
}

fn in_module() -> bool {
    DEPTH.try_with(|d| d.get() > 0).unwrap_or(false)
}

/// A test seam: panic here when the environment variable `TSB_PKCS11_PANIC_AT` names `point`.
///
/// It exists only in builds with debug assertions (`cargo build`, `cargo test`); in a release
/// build (`cargo build --release`, what is installed and shipped) this function is empty and the
/// variable is never read, so no production module has a way to be made to panic. It lets the
/// tests of the `.so` provoke a panic deterministically at a chosen point of a real call (for
/// example while a signature is in flight), which no input from outside can do once the bugs that
/// panicked are fixed. Points: `remote-op` (a sign or decrypt on the TSB, after its input was
/// taken), `digest` (inside C_Digest/C_DigestFinal, with the session locked).
#[inline]
pub(crate) fn panic_point(point: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("TSB_PKCS11_PANIC_AT").is_some_and(|v| v == point) {
        panic!("injected panic at {point} (TSB_PKCS11_PANIC_AT)");
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_nests_and_unwinds() {
        assert!(!in_module());
        scope(|| {
            assert!(in_module());
            scope(|| assert!(in_module()));
            assert!(in_module());
        });
        assert!(!in_module());
        install();
        let r = std::panic::catch_unwind(|| scope(panic_point_always));
        assert!(r.is_err());
        assert!(!in_module(), "a panic must leave the scope");
    }

    fn panic_point_always() {
        panic!("test panic inside the module scope");
    }
}
