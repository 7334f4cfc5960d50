//! How an operation ends, in one place (PKCS#11 3.0 §5.2 and the descriptions of C_Encrypt,
//! C_Decrypt, C_Digest, C_Sign, C_Verify and their Update/Final calls in §5.8-§5.13):
//!
//! - C_X, C_XUpdate and C_XFinal end the active operation on every error except
//!   CKR_BUFFER_TOO_SMALL; a successful length query (NULL output) does not end it. That includes
//!   errors found in the arguments before any work (a NULL length pointer: CKR_ARGUMENTS_BAD) and
//!   a panic caught at the C boundary.
//! - An operation is finished either by the single-part call or by Update.../Final, never by a
//!   mix: "C_Digest cannot be used to terminate a multi-part operation, and must be called after
//!   C_DigestInit without intervening C_DigestUpdate calls" (§5.12, and the same for the other
//!   families). A length query counts as a call: after `C_Digest(pDigest = NULL)` the operation is
//!   committed to C_Digest, and a C_DigestUpdate or C_DigestFinal is refused with
//!   CKR_OPERATION_ACTIVE, which (being an error of those calls) ends the operation. A digest of
//!   nothing is therefore never returned as the "final" of a single-part digest.
//! - One exception, for approval-gated operations: a call made while the same session's operation
//!   is running on another thread (waiting for approvers) gets CKR_OPERATION_ACTIVE and leaves that
//!   operation alone; it belongs to the waiting call, which ends it.

use super::Session;
use crate::error::{Error, Result};
use cryptoki_sys::*;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// The operation families of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// C_Sign*.
    Sign,
    /// C_Verify*.
    Verify,
    /// C_Encrypt*.
    Encrypt,
    /// C_Decrypt*.
    Decrypt,
    /// C_Digest*.
    Digest,
}

/// Which way an active operation is being finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Only the Init call so far.
    #[default]
    Fresh,
    /// The single-part call (C_Sign, C_Digest, ...) was made, perhaps only as a length query.
    Single,
    /// An Update or Final call was made.
    Multi,
}

impl Mode {
    /// Move to `to` (Single for C_X, Multi for C_XUpdate and C_XFinal), or CKR_OPERATION_ACTIVE
    /// when the operation is already committed to the other way. `single`/`multi` name the calls
    /// for the message, e.g. "C_Digest" and "C_DigestUpdate/C_DigestFinal".
    pub fn enter(&mut self, to: Mode, single: &str, multi: &str) -> Result<()> {
        match (*self, to) {
            (Mode::Single, Mode::Multi) => Err(Error::ck(
                CKR_OPERATION_ACTIVE,
                format!("{single} was called (a length query included): {multi} cannot finish this operation"),
            )),
            (Mode::Multi, Mode::Single) => Err(Error::ck(
                CKR_OPERATION_ACTIVE,
                format!("{multi} was called: {single} cannot finish this operation"),
            )),
            _ => {
                *self = to;
                Ok(())
            }
        }
    }
}

/// Run one C_X, C_XUpdate or C_XFinal call, argument checks included, with the rule above: any
/// error but CKR_BUFFER_TOO_SMALL, and any panic, ends the session's `kind` operation (unless it
/// is running on another thread). The panic is passed on to the C boundary's guard, which logs it
/// and answers CKR_GENERAL_ERROR.
pub fn ending_on_error<T>(
    session: &Session,
    kind: OpKind,
    call: impl FnOnce() -> Result<T>,
) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            if e.rv() != CKR_BUFFER_TOO_SMALL {
                session.state.lock().end_unless_running(kind);
            }
            Err(e)
        }
        Err(panic) => {
            session.state.lock().end_unless_running(kind);
            resume_unwind(panic)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_commits_to_one_way() {
        let mut m = Mode::default();
        assert!(m.enter(Mode::Single, "C_Digest", "C_DigestFinal").is_ok());
        assert!(m.enter(Mode::Single, "C_Digest", "C_DigestFinal").is_ok());
        let e = m
            .enter(Mode::Multi, "C_Digest", "C_DigestFinal")
            .unwrap_err();
        assert_eq!(e.rv(), CKR_OPERATION_ACTIVE);
        let mut m = Mode::default();
        assert!(m.enter(Mode::Multi, "C_Sign", "C_SignUpdate").is_ok());
        assert!(m.enter(Mode::Multi, "C_Sign", "C_SignUpdate").is_ok());
        assert_eq!(
            m.enter(Mode::Single, "C_Sign", "C_SignUpdate")
                .unwrap_err()
                .rv(),
            CKR_OPERATION_ACTIVE
        );
    }
}
