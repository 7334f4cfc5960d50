//! An operation that runs on the TSB (C_Sign, C_Decrypt), with the rules that keep an
//! approval-gated operation from ever being sent twice:
//! - a length query (NULL output) is answered from the key (modulus, curve), without a request;
//! - a result that did not fit the caller's buffer is kept for the retry;
//! - while one call runs it (maybe waiting for approvers, with no lock held), another call on the
//!   session gets CKR_OPERATION_ACTIVE and leaves it alone;
//! - a request still pending when our timeout ends is remembered (`tsb::requests`), so the same
//!   operation asked again resumes waiting on it.

use super::operation::{finish_output, Accum, Mode, Operation, Output};
use super::session::Session;
use super::Module;
use crate::error::{Error, Result};
use crate::tsb::key::KeyInfo;
use cryptoki_sys::*;
use std::sync::Arc;

/// What a remote operation does: sign or decrypt, with its mechanism.
pub(crate) trait RemoteMech: Copy
where
    RemoteOp<Self>: Operation,
{
    /// The single-part call, for messages ("C_Sign").
    const SINGLE: &'static str;
    /// The multi-part calls, for messages ("C_SignUpdate/C_SignFinal").
    const MULTI: &'static str;
    /// The length of the result, known from the key: length queries are answered with it.
    fn output_len(&self, key: &KeyInfo) -> usize;
    /// Run it on the TSB (no lock held; may wait for approvers).
    fn run(&self, m: &Module, session: &Session, key: &KeyInfo, input: &[u8]) -> Result<Vec<u8>>;
}

/// An active remote operation.
pub(crate) struct RemoteOp<M> {
    key: Arc<KeyInfo>,
    mech: M,
    /// The input so far; taken when a call starts running it.
    accum: Option<Accum>,
    /// Set once the TSB produced the result; kept after CKR_BUFFER_TOO_SMALL.
    result: Option<Vec<u8>>,
    /// Single-part or multi-part (see [`Mode`]).
    mode: Mode,
    /// A call is running it on the TSB right now (its input taken, maybe waiting for approvers).
    pub(super) in_flight: bool,
}

impl<M: RemoteMech> RemoteOp<M>
where
    RemoteOp<M>: Operation,
{
    pub(crate) fn new(key: Arc<KeyInfo>, mech: M, accum: Accum) -> Self {
        RemoteOp {
            key,
            mech,
            accum: Some(accum),
            result: None,
            mode: Mode::Fresh,
            in_flight: false,
        }
    }
}

/// A second call on a session whose operation is running on another thread.
pub(super) fn running() -> Error {
    Error::ck(
        CKR_OPERATION_ACTIVE,
        "this session's operation is running in another call (waiting for the TSB)",
    )
}

/// Ends a remote operation whose call unwinds from a panic while it is in flight (every later
/// Init would answer CKR_OPERATION_ACTIVE otherwise, even after C_SessionCancel).
struct EndOnPanic<'a, M>
where
    RemoteOp<M>: Operation,
{
    session: &'a Session,
    _mech: std::marker::PhantomData<M>,
}

impl<M> Drop for EndOnPanic<'_, M>
where
    RemoteOp<M>: Operation,
{
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.session.state.lock().ops.end::<RemoteOp<M>>();
        }
    }
}

impl Module {
    /// C_SignUpdate: more input (hashed locally for the hashing mechanisms).
    pub(crate) fn remote_update<M: RemoteMech>(&self, session: &Session, data: &[u8]) -> Result<()>
    where
        RemoteOp<M>: Operation,
    {
        let mut st = session.state.lock();
        let op = st.ops.get::<RemoteOp<M>>()?;
        if op.in_flight {
            return Err(running());
        }
        op.mode.enter(Mode::Multi, M::SINGLE, M::MULTI)?;
        match op.accum.as_mut() {
            Some(a) => a.update(data),
            None => Err(Error::ck(
                CKR_OPERATION_ACTIVE,
                format!("the result is already computed; finish with {}", M::MULTI),
            )),
        }
    }

    /// C_Sign / C_Decrypt (`data` Some) or C_SignFinal. `cap` None = length query.
    pub(crate) fn remote_finish<M: RemoteMech>(
        &self,
        session: &Session,
        data: Option<&[u8]>,
        cap: Option<usize>,
    ) -> Result<Output>
    where
        RemoteOp<M>: Operation,
    {
        let (key, mech, input, cap) = {
            let mut st = session.state.lock();
            let op = st.ops.get::<RemoteOp<M>>()?;
            if op.in_flight {
                return Err(running());
            }
            op.mode.enter(Mode::of_call(data), M::SINGLE, M::MULTI)?;
            // A result from an earlier call whose buffer was too small, or a length query.
            if let Some(r) = op.result.take() {
                let (o, keep) = Output::serve_kept(r, cap);
                match keep {
                    Some(r) => op.result = Some(r),
                    None => st.ops.end::<RemoteOp<M>>(),
                }
                return Ok(o);
            }
            let Some(cap) = cap else {
                // Length query: answered from the key, never by running the operation.
                return Ok(Output::Len(op.mech.output_len(&op.key)));
            };
            let Some(mut accum) = op.accum.take() else {
                // Neither input nor result: cannot happen outside a call in flight.
                return Err(Error::ck(CKR_OPERATION_ACTIVE, "operation in progress"));
            };
            if let Some(d) = data {
                accum.update(d)?;
            }
            op.in_flight = true;
            (op.key.clone(), op.mech, accum.finish(), cap)
        };
        // From here the operation belongs to this call: it ends it, whatever happens.
        let _unwinding = EndOnPanic::<M> {
            session,
            _mech: std::marker::PhantomData,
        };
        // No lock held from here: the TSB call (and maybe a long approval wait).
        let result = mech.run(self, session, &key, &input);
        let mut st = session.state.lock();
        match result {
            Ok(out) => {
                let (o, keep) = finish_output(out, cap);
                match (keep, st.ops.get::<RemoteOp<M>>()) {
                    (Some(r), Ok(op)) => {
                        op.result = Some(r);
                        op.in_flight = false;
                    }
                    _ => st.ops.end::<RemoteOp<M>>(),
                }
                Ok(o)
            }
            Err(e) => {
                // Any error but CKR_BUFFER_TOO_SMALL ends the operation (PKCS#11 §5.2).
                st.ops.end::<RemoteOp<M>>();
                Err(e)
            }
        }
    }
}
