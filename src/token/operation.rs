//! One registry of operations per session ([`Operations`]), and how every operation starts and
//! ends, in one place (PKCS#11 3.0 §5.2 and the descriptions of C_Encrypt, C_Decrypt, C_Digest,
//! C_Sign, C_Verify and their Update/Final calls in §5.8-§5.13):
//!
//! - Every *_Init starts through [`Module::start`]: CKR_OPERATION_ACTIVE when the session has one
//!   of that kind, then the mechanism and key checks, then (for operations that may wait for
//!   approvers) the session's cancel token is reset.
//! - C_X, C_XUpdate and C_XFinal end the active operation on every error except
//!   CKR_BUFFER_TOO_SMALL; a successful length query (NULL output) does not end it. That includes
//!   errors found in the arguments before any work (a NULL length pointer: CKR_ARGUMENTS_BAD) and
//!   a panic caught at the C boundary ([`ending_on_error`]).
//! - An operation is finished either by the single-part call or by Update.../Final, never by a
//!   mix: "C_Digest cannot be used to terminate a multi-part operation, and must be called after
//!   C_DigestInit without intervening C_DigestUpdate calls" (§5.12, and the same for the other
//!   families). A length query counts as a call: after `C_Digest(pDigest = NULL)` the operation is
//!   committed to C_Digest, and a C_DigestUpdate or C_DigestFinal is refused with
//!   CKR_OPERATION_ACTIVE, which (being an error of those calls) ends the operation ([`Mode`]).
//! - One exception, for approval-gated operations: a call made while the same session's operation
//!   is running on another thread (waiting for approvers) gets CKR_OPERATION_ACTIVE and leaves that
//!   operation alone; it belongs to the waiting call, which ends it.
//!
//! A new operation touches this file only: a field of [`Operations`], its [`Operation`] impl and
//! its arm in [`Operations::end_unless_running`].

use super::attributes::ObjClass;
use super::decrypt::DecryptOp;
use super::digest::DigestOp;
use super::encrypt::EncryptOp;
use super::find::FindOp;
use super::message::{MessageDecryptOp, MessageEncryptOp};
use super::session::Session;
use super::sign::SignOp;
use super::symmetric::{MacSignOp, MacVerifyOp, SecretDecryptOp, SecretEncryptOp};
use super::verify::VerifyOp;
use super::Module;
use crate::error::{Error, Result};
use crate::mechanism::{Family, Hash, Hasher};
use crate::tsb::key::KeyInfo;
use cryptoki_sys::*;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// The operation families of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    Sign,
    Verify,
    Encrypt,
    Decrypt,
    Digest,
    Find,
    /// The message-based encryption (message.rs): an error ends the message in progress, not
    /// the operation.
    MessageEncrypt,
    /// The message-based decryption, as [`OpKind::MessageEncrypt`].
    MessageDecrypt,
}

impl OpKind {
    /// The CKF_* flag that names this kind in C_SessionCancel.
    pub(crate) const fn flag(self) -> CK_FLAGS {
        match self {
            OpKind::Sign => CKF_SIGN,
            OpKind::Verify => CKF_VERIFY,
            OpKind::Encrypt => CKF_ENCRYPT,
            OpKind::Decrypt => CKF_DECRYPT,
            OpKind::Digest => CKF_DIGEST,
            OpKind::Find => CKF_FIND_OBJECTS,
            OpKind::MessageEncrypt => CKF_MESSAGE_ENCRYPT,
            OpKind::MessageDecrypt => CKF_MESSAGE_DECRYPT,
        }
    }
}

/// One kind of operation, with its place in the session's [`Operations`].
pub(crate) trait Operation: Sized {
    /// What it is, for messages ("a signature").
    const WHAT: &'static str;
    /// Whether it may wait for the TSB (and so for approvers): its start resets the session's
    /// cancel token.
    const REMOTE: bool = false;
    /// Its slot in the registry.
    fn slot(ops: &mut Operations) -> &mut Option<Self>;
    /// A call on another thread is running it on the TSB right now.
    fn running(&self) -> bool {
        false
    }
    /// Whether the session has an operation of this family already (the asymmetric and the
    /// secret-key form of a family share it: one encryption at a time, of either kind).
    fn busy(ops: &mut Operations) -> bool {
        Self::slot(ops).is_some()
    }
}

/// The active operations of one session: at most one of each kind.
#[derive(Default)]
pub(crate) struct Operations {
    sign: Option<SignOp>,
    verify: Option<VerifyOp>,
    encrypt: Option<EncryptOp>,
    decrypt: Option<DecryptOp>,
    digest: Option<DigestOp>,
    find: Option<FindOp>,
    // The secret-key forms of four families (symmetric.rs).
    secret_encrypt: Option<SecretEncryptOp>,
    secret_decrypt: Option<SecretDecryptOp>,
    mac_sign: Option<MacSignOp>,
    mac_verify: Option<MacVerifyOp>,
    // The message-based API of PKCS#11 3.0 (message.rs).
    message_encrypt: Option<MessageEncryptOp>,
    message_decrypt: Option<MessageDecryptOp>,
}

/// The [`Operation`] impl of a secret-key operation, which shares its family with `$twin`.
macro_rules! secret_operation {
    ($op:ty, $field:ident, $twin:ident, $what:literal) => {
        impl Operation for $op {
            const WHAT: &'static str = $what;
            const REMOTE: bool = true;
            fn slot(ops: &mut Operations) -> &mut Option<Self> {
                &mut ops.$field
            }
            fn running(&self) -> bool {
                self.in_flight()
            }
            fn busy(ops: &mut Operations) -> bool {
                ops.$field.is_some() || ops.$twin.is_some()
            }
        }
    };
}

secret_operation!(SecretEncryptOp, secret_encrypt, encrypt, "an encryption");
secret_operation!(SecretDecryptOp, secret_decrypt, decrypt, "a decryption");
secret_operation!(MacSignOp, mac_sign, sign, "a signature");
secret_operation!(MacVerifyOp, mac_verify, verify, "a verification");

/// The [`Operation`] impl of a message-based operation: a family of its own (an encryption
/// and a message-based encryption may be active together, as SoftHSM's and Kryoptic's are).
macro_rules! message_operation {
    ($op:ty, $field:ident, $what:literal) => {
        impl Operation for $op {
            const WHAT: &'static str = $what;
            const REMOTE: bool = true;
            fn slot(ops: &mut Operations) -> &mut Option<Self> {
                &mut ops.$field
            }
            fn running(&self) -> bool {
                self.in_flight()
            }
        }
    };
}

message_operation!(
    MessageEncryptOp,
    message_encrypt,
    "a message-based encryption"
);
message_operation!(
    MessageDecryptOp,
    message_decrypt,
    "a message-based decryption"
);

impl Operation for SignOp {
    const WHAT: &'static str = "a signature";
    const REMOTE: bool = true;
    fn slot(ops: &mut Operations) -> &mut Option<Self> {
        &mut ops.sign
    }
    fn running(&self) -> bool {
        self.in_flight
    }
    fn busy(ops: &mut Operations) -> bool {
        ops.sign.is_some() || ops.mac_sign.is_some()
    }
}

impl Operation for DecryptOp {
    const WHAT: &'static str = "a decryption";
    const REMOTE: bool = true;
    fn slot(ops: &mut Operations) -> &mut Option<Self> {
        &mut ops.decrypt
    }
    fn running(&self) -> bool {
        self.in_flight
    }
    fn busy(ops: &mut Operations) -> bool {
        ops.decrypt.is_some() || ops.secret_decrypt.is_some()
    }
}

impl Operation for VerifyOp {
    const WHAT: &'static str = "a verification";
    fn slot(ops: &mut Operations) -> &mut Option<Self> {
        &mut ops.verify
    }
    fn busy(ops: &mut Operations) -> bool {
        ops.verify.is_some() || ops.mac_verify.is_some()
    }
}

impl Operation for EncryptOp {
    const WHAT: &'static str = "an encryption";
    fn slot(ops: &mut Operations) -> &mut Option<Self> {
        &mut ops.encrypt
    }
    fn busy(ops: &mut Operations) -> bool {
        ops.encrypt.is_some() || ops.secret_encrypt.is_some()
    }
}

impl Operation for DigestOp {
    const WHAT: &'static str = "a digest";
    fn slot(ops: &mut Operations) -> &mut Option<Self> {
        &mut ops.digest
    }
}

impl Operation for FindOp {
    const WHAT: &'static str = "a find";
    fn slot(ops: &mut Operations) -> &mut Option<Self> {
        &mut ops.find
    }
}

impl Operations {
    /// The active operation of type `O`, or CKR_OPERATION_NOT_INITIALIZED.
    pub(crate) fn get<O: Operation>(&mut self) -> Result<&mut O> {
        O::slot(self).as_mut().ok_or_else(not_initialized)
    }

    /// Whether any operation that uses a key is active (CKU_CONTEXT_SPECIFIC logins are for
    /// those).
    pub(crate) fn any_active(&self) -> bool {
        self.sign.is_some()
            || self.verify.is_some()
            || self.encrypt.is_some()
            || self.decrypt.is_some()
            || self.secret_encrypt.is_some()
            || self.secret_decrypt.is_some()
            || self.mac_sign.is_some()
            || self.mac_verify.is_some()
            || self.message_encrypt.is_some()
            || self.message_decrypt.is_some()
    }

    /// Whether an operation of type `O` is active.
    pub(crate) fn is_active<O: Operation>(&mut self) -> bool {
        O::slot(self).is_some()
    }

    /// End the operation of type `O`, returning it.
    pub(crate) fn take<O: Operation>(&mut self) -> Option<O> {
        O::slot(self).take()
    }

    /// End the operation of type `O`.
    pub(crate) fn end<O: Operation>(&mut self) {
        *O::slot(self) = None;
    }

    /// Put a new operation in its place, unless one is active (CKR_OPERATION_ACTIVE).
    fn put<O: Operation>(&mut self, op: O) -> Result<()> {
        if O::busy(self) {
            return Err(active::<O>());
        }
        *O::slot(self) = Some(op);
        Ok(())
    }

    /// End the `O` operation unless a call on another thread is running it (that call ends it).
    fn end_idle<O: Operation>(&mut self) {
        let slot = O::slot(self);
        if slot.as_ref().is_some_and(|o| !o.running()) {
            *slot = None;
        }
    }

    /// End the operation of `kind`, unless a call on another thread is running it.
    pub(crate) fn end_unless_running(&mut self, kind: OpKind) {
        match kind {
            OpKind::Sign => {
                self.end_idle::<SignOp>();
                self.end_idle::<MacSignOp>()
            }
            OpKind::Verify => {
                self.end_idle::<VerifyOp>();
                self.end_idle::<MacVerifyOp>()
            }
            OpKind::Encrypt => {
                self.end_idle::<EncryptOp>();
                self.end_idle::<SecretEncryptOp>()
            }
            OpKind::Decrypt => {
                self.end_idle::<DecryptOp>();
                self.end_idle::<SecretDecryptOp>()
            }
            OpKind::Digest => self.end_idle::<DigestOp>(),
            OpKind::Find => self.end_idle::<FindOp>(),
            OpKind::MessageEncrypt => self.end_idle_message::<MessageEncryptOp>(),
            OpKind::MessageDecrypt => self.end_idle_message::<MessageDecryptOp>(),
        }
    }

    /// End the message in progress of a message-based operation (not the operation), unless a
    /// call on another thread is running it.
    fn end_idle_message<O: Operation + EndsMessages>(&mut self) {
        if let Some(op) = O::slot(self).as_mut().filter(|o| !o.running()) {
            op.end_message();
        }
    }

    /// C_SessionCancel: end the operations named by `flags` (CKF_SIGN, CKF_DECRYPT, ...). One whose
    /// call is in flight is ended by that call itself when it sees the cancel.
    pub(crate) fn cancel(&mut self, flags: CK_FLAGS) {
        for kind in [
            OpKind::Sign,
            OpKind::Verify,
            OpKind::Encrypt,
            OpKind::Decrypt,
            OpKind::Digest,
            OpKind::Find,
        ] {
            if flags & kind.flag() != 0 {
                self.end_unless_running(kind);
            }
        }
        // The message-based operations end whole (their error rule ends only a message).
        if flags & CKF_MESSAGE_ENCRYPT != 0 {
            self.end_idle::<MessageEncryptOp>();
        }
        if flags & CKF_MESSAGE_DECRYPT != 0 {
            self.end_idle::<MessageDecryptOp>();
        }
    }
}

impl Module {
    /// Every *_Init: CKR_OPERATION_ACTIVE when the session has an `O` already; otherwise `make`
    /// (mechanism and key checks; it runs without the session's lock, since looking a key up may
    /// ask the TSB), the cancel token reset for an operation that may wait, and the new operation
    /// in its place.
    pub(crate) fn start<O: Operation>(
        &self,
        session: &Session,
        make: impl FnOnce() -> Result<O>,
    ) -> Result<()> {
        if O::busy(&mut session.state.lock().ops) {
            return Err(active::<O>());
        }
        let op = make()?;
        if O::REMOTE {
            session.cancel.reset();
        }
        session.state.lock().ops.put(op)
    }
}

/// An operation made of messages, whose errors end the message in progress.
pub(crate) trait EndsMessages {
    fn end_message(&mut self);
}

impl<D> EndsMessages for super::message::MessageOp<D> {
    fn end_message(&mut self) {
        super::message::MessageOp::end_message(self)
    }
}

/// What an operation does with its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyUse {
    Sign,
    Verify,
    Encrypt,
    Decrypt,
}

impl KeyUse {
    /// The object the operation takes: the private key signs and decrypts; verify and encrypt
    /// take the public key (or the private key's handle, whose public half is known).
    fn class(self) -> ObjClass {
        match self {
            KeyUse::Sign | KeyUse::Decrypt => ObjClass::Private,
            KeyUse::Verify | KeyUse::Encrypt => ObjClass::Public,
        }
    }

    /// Whether the key allows this use, and the attribute that says so (for the message).
    fn allowed(self, key: &KeyInfo) -> (bool, &'static str) {
        match self {
            KeyUse::Sign => (key.sign, "CKA_SIGN"),
            // Verification with a public key is always allowed: it proves nothing about the key.
            KeyUse::Verify => (true, "CKA_VERIFY"),
            KeyUse::Encrypt => (key.decrypt, "CKA_ENCRYPT"),
            KeyUse::Decrypt => (key.decrypt, "CKA_DECRYPT"),
        }
    }

    fn verb(self) -> &'static str {
        match self {
            KeyUse::Sign => "sign",
            KeyUse::Verify => "verify",
            KeyUse::Encrypt => "encrypt",
            KeyUse::Decrypt => "decrypt",
        }
    }
}

impl Module {
    /// The key of an operation, checked the same way for every *_Init before anything is sent:
    /// the object behind `h` (CKR_KEY_HANDLE_INVALID), of the mechanism's family
    /// (CKR_KEY_TYPE_INCONSISTENT), allowed this use and not blocked on the TSB
    /// (CKR_KEY_FUNCTION_NOT_PERMITTED).
    pub(crate) fn operation_key(
        &self,
        session: &Session,
        h: CK_OBJECT_HANDLE,
        family: Family,
        usage: KeyUse,
    ) -> Result<Arc<KeyInfo>> {
        let key = self.key_object(session, h, usage.class())?;
        let verb = usage.verb();
        if key.public.family() != Some(family) {
            return Err(Error::ck(
                CKR_KEY_TYPE_INCONSISTENT,
                format!("the mechanism does not fit key {} ({verb})", key.label),
            ));
        }
        let (allowed, attribute) = usage.allowed(&key);
        if !allowed {
            return Err(Error::ck(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                format!(
                    "key {} is not allowed to {verb} ({attribute} false)",
                    key.label
                ),
            ));
        }
        if key.blocked {
            return Err(Error::ck(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                format!("key {} is blocked on the TSB", key.label),
            ));
        }
        Ok(key)
    }
}

/// Run one C_X, C_XUpdate or C_XFinal call, argument checks included, with the rule above: any
/// error but CKR_BUFFER_TOO_SMALL, and any panic, ends the session's `kind` operation (unless it
/// is running on another thread). The panic is passed on to the C boundary's guard, which logs it
/// and answers CKR_GENERAL_ERROR.
pub(crate) fn ending_on_error<T>(
    session: &Session,
    kind: OpKind,
    call: impl FnOnce() -> Result<T>,
) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            if e.rv() != CKR_BUFFER_TOO_SMALL {
                session.state.lock().ops.end_unless_running(kind);
            }
            Err(e)
        }
        Err(panic) => {
            session.state.lock().ops.end_unless_running(kind);
            resume_unwind(panic)
        }
    }
}

/// Which way an active operation is being finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Mode {
    /// Only the Init call so far.
    #[default]
    Fresh,
    /// The single-part call (C_Sign, C_Digest, ...) was made, perhaps only as a length query.
    Single,
    /// An Update or Final call was made.
    Multi,
}

impl Mode {
    /// The mode a call enters: Single for C_X (which has data), Multi for C_XUpdate and C_XFinal.
    pub(crate) fn of_call(single_part_data: Option<&[u8]>) -> Mode {
        if single_part_data.is_some() {
            Mode::Single
        } else {
            Mode::Multi
        }
    }

    /// Move to `to` (Single for C_X, Multi for C_XUpdate and C_XFinal), or CKR_OPERATION_ACTIVE
    /// when the operation is already committed to the other way. `single`/`multi` name the calls
    /// for the message, e.g. "C_Digest" and "C_DigestUpdate/C_DigestFinal".
    pub(crate) fn enter(&mut self, to: Mode, single: &str, multi: &str) -> Result<()> {
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

/// What an output call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    /// Length query answered (nothing ran).
    Len(usize),
    /// The result; the operation is finished.
    Data(Vec<u8>),
    /// The result is ready but larger than the buffer; it is kept for the retry.
    TooSmall(usize),
}

impl Output {
    /// Bytes already at hand, with the standard's buffer semantics (nothing is kept).
    pub(crate) fn serve(bytes: Vec<u8>, cap: Option<usize>) -> Output {
        match cap {
            None => Output::Len(bytes.len()),
            Some(c) if c < bytes.len() => Output::TooSmall(bytes.len()),
            Some(_) => Output::Data(bytes),
        }
    }

    /// A result kept from an earlier call (that did not fit), served again: `Some` is what is
    /// left to keep (the buffer is still too small, or this was a length query).
    pub(crate) fn serve_kept(kept: Vec<u8>, cap: Option<usize>) -> (Output, Option<Vec<u8>>) {
        let n = kept.len();
        match cap {
            None => (Output::Len(n), Some(kept)),
            Some(c) if c < n => (Output::TooSmall(n), Some(kept)),
            Some(_) => (Output::Data(kept), None),
        }
    }
}

/// A finished result for a buffer of `cap` bytes: the output, and the result to keep when it did
/// not fit (CKR_BUFFER_TOO_SMALL keeps the operation and its result for the retry).
pub(crate) fn finish_output(result: Vec<u8>, cap: usize) -> (Output, Option<Vec<u8>>) {
    if result.len() > cap {
        let n = result.len();
        (Output::TooSmall(n), Some(result))
    } else {
        (Output::Data(result), None)
    }
}

/// Input collected by Update calls: hashed as it comes, or buffered for raw mechanisms.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // one per active operation; boxing buys nothing
pub(crate) enum Accum {
    /// Hash-then-sign mechanisms hash locally, so large inputs never cross the network.
    Hash(Hasher),
    /// Raw mechanisms take the whole input.
    Buffer(Vec<u8>),
    /// Hashing mechanisms that send the data itself (`mechanism::full_data`), at most this many
    /// bytes (the slot's `sign_full_data_max_bytes`).
    Data(Vec<u8>, usize),
}

impl Accum {
    pub(crate) fn new(hash: Option<Hash>) -> Accum {
        match hash {
            Some(h) => Accum::Hash(h.hasher()),
            None => Accum::Buffer(Vec::new()),
        }
    }

    pub(crate) fn update(&mut self, d: &[u8]) -> Result<()> {
        match self {
            Accum::Hash(h) => h.update(d),
            Accum::Buffer(b) => {
                // Raw inputs are digests or short messages; refuse to buffer something absurd.
                if b.len() + d.len() > 16 * 1024 * 1024 {
                    return Err(Error::ck(
                        CKR_DATA_LEN_RANGE,
                        "input too large for a raw mechanism",
                    ));
                }
                b.extend_from_slice(d)
            }
            Accum::Data(b, max) => {
                if b.len().saturating_add(d.len()) > *max {
                    return Err(Error::user(
                        CKR_DATA_LEN_RANGE,
                        format!(
                            "the data to sign is longer than the {max} bytes a signature that \
                             sends the data to the TSB may have (sign_full_data_max_bytes; the \
                             data is sent because the TSB refuses a digest here, or \
                             sign_full_data is true)"
                        ),
                    ));
                }
                b.extend_from_slice(d)
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            Accum::Hash(h) => h.finish(),
            Accum::Buffer(b) | Accum::Data(b, _) => b,
        }
    }
}

fn active<O: Operation>() -> Error {
    Error::ck(
        CKR_OPERATION_ACTIVE,
        format!("{} is already active in this session", O::WHAT),
    )
}

pub(crate) fn not_initialized() -> Error {
    Error::ck(CKR_OPERATION_NOT_INITIALIZED, "operation not initialized")
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

    #[test]
    fn output_keeps_result_when_too_small() {
        let (o, keep) = finish_output(vec![1, 2, 3], 2);
        assert_eq!(o, Output::TooSmall(3));
        assert_eq!(keep, Some(vec![1, 2, 3]));
        let (o, keep) = finish_output(vec![1, 2, 3], 3);
        assert_eq!(o, Output::Data(vec![1, 2, 3]));
        assert!(keep.is_none());
        let (o, keep) = Output::serve_kept(vec![1, 2], None);
        assert_eq!((o, keep), (Output::Len(2), Some(vec![1, 2])));
        let (o, keep) = Output::serve_kept(vec![1, 2], Some(2));
        assert_eq!((o, keep), (Output::Data(vec![1, 2]), None));
    }

    #[test]
    fn cancel_ends_the_named_idle_operations() {
        let mut ops = Operations::default();
        ops.put(FindOp::new(vec![1, 2])).unwrap();
        assert_eq!(
            ops.put(FindOp::new(vec![])).unwrap_err().rv(),
            CKR_OPERATION_ACTIVE
        );
        ops.cancel(CKF_SIGN);
        assert!(ops.is_active::<FindOp>());
        ops.cancel(CKF_FIND_OBJECTS);
        assert!(!ops.is_active::<FindOp>());
        assert_eq!(
            ops.get::<FindOp>().err().map(|e| e.rv()),
            Some(CKR_OPERATION_NOT_INITIALIZED)
        );
    }
}
