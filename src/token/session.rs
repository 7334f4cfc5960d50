//! Sessions: their handles, state and operations, and the one place where a call's outcome
//! becomes the session's `ulDeviceError` ([`Module::with_session`]).

use super::operation::{ending_on_error, OpKind, Operations};
use super::Module;
use crate::error::{Error, Result};
use crate::tsb::cancel::CancelToken;
use crate::tsb::requests::Caller;
use cryptoki_sys::*;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Session handles come from a process-wide counter, not from the [`Module`]: after C_Finalize
/// and C_Initialize a handle an application kept from before must be invalid, never a new
/// session that happens to get the same number. 2^64 handles are never used up.
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// How long C_Finalize (or process exit) waits for this process's session keys to be deleted.
/// A TSB that does not answer in that time must not hang the exit; keys it did not delete are
/// deleted later as a dead process's leftovers (session_keys.rs).
pub(crate) const SHUTDOWN_BOUND: std::time::Duration = std::time::Duration::from_secs(10);

/// An open session.
pub(crate) struct Session {
    /// Its handle.
    pub(crate) handle: CK_SESSION_HANDLE,
    pub(crate) slot: usize,
    /// A read/write session.
    pub(crate) rw: bool,
    /// Operations and results; never locked across an HTTP call.
    pub(crate) state: Mutex<SessionState>,
    /// Set by C_SessionCancel (and C_CloseSession, C_Finalize) from another thread to stop an
    /// approval wait.
    pub(crate) cancel: Arc<CancelToken>,
    /// Set once by C_CloseSession, C_CloseAllSessions and C_Finalize: an operation made of many
    /// requests (a mode or MAC computed around the TSB's block cipher, one request per block)
    /// that is running on another thread stops at its next request ([`Session::still_open`]).
    /// Not the cancel token: that one is reset by every Init and set by C_SessionCancel for
    /// operations that wait, so it cannot say that the session is gone.
    closed: AtomicBool,
    /// The CKF_* flags of C_SessionCancel calls since the running operations of those kinds
    /// began ([`Session::begin_run`]): an operation made of many requests stops at its next one.
    cancel_requested: AtomicU64,
}

/// What a session holds between calls.
#[derive(Default)]
pub(crate) struct SessionState {
    /// The active operations.
    pub(crate) ops: Operations,
    /// ulDeviceError: TSB errorCode (or TSB_DEVERR_*) of the last call, 0 after a success.
    pub(crate) device_error: CK_ULONG,
    /// The id of the TSB request the last approval-gated operation created or resumed.
    pub(crate) last_request_id: Option<String>,
    /// A finished vendor-extension result (CSR, certificate) that did not fit the caller's buffer,
    /// with the fingerprint of the call that made it.
    pub(crate) kept_output: Option<(String, Vec<u8>)>,
}

/// C_GetSessionInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionInfo {
    pub(crate) slot: CK_SLOT_ID,
    pub(crate) state: CK_STATE,
    pub(crate) flags: CK_FLAGS,
    pub(crate) device_error: CK_ULONG,
}

impl Session {
    /// CKR_SESSION_READ_ONLY unless this is a read/write session, for an operation that writes a
    /// token object (`what`, for the message). Session objects may be made and destroyed in
    /// read-only sessions (PKCS#11 3.0 §5.7).
    pub(crate) fn writes_token_objects(&self, what: &str) -> Result<()> {
        if self.rw {
            return Ok(());
        }
        Err(Error::ck(
            CKR_SESSION_READ_ONLY,
            format!("{what} needs a read/write session"),
        ))
    }

    /// `request` (one TSB request) as a step of an operation of this session made of many (one
    /// per block, one per PRF call), of the kind C_SessionCancel names `flag`: each step first
    /// asks [`Session::still_wanted`], so closing the session, C_Finalize or C_SessionCancel
    /// with `flag` stops the operation at its next request. Made when the operation starts to
    /// run ([`Session::begin_run`]).
    pub(crate) fn each_request<'a, T: 'a>(
        &'a self,
        flag: CK_FLAGS,
        mut request: impl FnMut(&[u8]) -> Result<T> + 'a,
    ) -> impl FnMut(&[u8]) -> Result<T> + 'a {
        self.begin_run(flag);
        move |input| {
            self.still_wanted(flag)?;
            request(input)
        }
    }

    /// CKR_SESSION_CLOSED once the session was closed (or the module finalized) while a call on
    /// it runs: asked before each request of an operation made of many (PKCS#11: "the session
    /// was closed during the execution of the function").
    fn still_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::ck(
                CKR_SESSION_CLOSED,
                "the session was closed while the operation ran; the rest was not sent",
            ));
        }
        Ok(())
    }

    /// An operation of the kind C_SessionCancel names `flag` starts to run: a cancel asked
    /// before it began (when no such operation ran, or for one that was idle and so already
    /// ended) is forgotten.
    fn begin_run(&self, flag: CK_FLAGS) {
        self.cancel_requested.fetch_and(!flag, Ordering::AcqRel);
    }

    /// [`Session::still_open`], and CKR_FUNCTION_CANCELED once C_SessionCancel named `flag`
    /// while the operation ran: asked before each request of an operation made of many.
    fn still_wanted(&self, flag: CK_FLAGS) -> Result<()> {
        self.still_open()?;
        if self.cancel_requested.load(Ordering::Acquire) & flag != 0 {
            return Err(Error::ck(
                CKR_FUNCTION_CANCELED,
                "C_SessionCancel stopped the operation; the rest was not sent",
            ));
        }
        Ok(())
    }

    /// Mark the session closed and stop what waits in it (C_CloseSession, C_CloseAllSessions,
    /// C_Finalize).
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.cancel.cancel();
    }

    /// Run `f` with this session as the caller of a TSB operation: its cancel token ends a wait,
    /// and the id of a request created or resumed becomes its last request id at once.
    pub(crate) fn as_caller<T>(&self, f: impl FnOnce(&Caller) -> T) -> T {
        let note = |id: &str| self.state.lock().last_request_id = Some(id.to_string());
        f(&Caller {
            cancel: &self.cancel,
            on_request: &note,
        })
    }

    /// Record the outcome of a call as ulDeviceError: the TSB's errorCode or a TSB_DEVERR_* of a
    /// failure that has one, 0 otherwise.
    fn record<T>(&self, r: &Result<T>) {
        let dev = match r {
            Ok(_) => 0,
            Err(e) => e.device_error().unwrap_or(0),
        };
        self.state.lock().device_error = dev;
    }
}

impl Module {
    /// C_OpenSession.
    pub(crate) fn open_session(
        &self,
        slot: CK_SLOT_ID,
        flags: CK_FLAGS,
    ) -> Result<CK_SESSION_HANDLE> {
        let sl = self.slot(slot)?;
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(Error::ck(
                CKR_SESSION_PARALLEL_NOT_SUPPORTED,
                "CKF_SERIAL_SESSION must be set",
            ));
        }
        if flags & CKF_RW_SESSION == 0 && *sl.login.lock() == Some(CKU_SO) {
            return Err(Error::ck(
                CKR_SESSION_READ_WRITE_SO_EXISTS,
                "the security officer is logged in: only read/write sessions",
            ));
        }
        let handle = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
        let s = Arc::new(Session {
            handle,
            slot: slot as usize,
            rw: flags & CKF_RW_SESSION != 0,
            state: Mutex::new(SessionState::default()),
            cancel: Arc::new(CancelToken::default()),
            closed: AtomicBool::new(false),
            cancel_requested: AtomicU64::new(0),
        });
        self.sessions.lock().insert(handle, s);
        Ok(handle)
    }

    /// Look a session up.
    pub(crate) fn session(&self, h: CK_SESSION_HANDLE) -> Result<Arc<Session>> {
        self.sessions
            .lock()
            .get(&h)
            .cloned()
            .ok_or_else(|| Error::ck(CKR_SESSION_HANDLE_INVALID, format!("no session {h}")))
    }

    /// Every call on a session (but C_GetSessionInfo, which reads it, and C_CloseSession) runs
    /// here: the session is looked up, `f` runs, and its outcome becomes the session's
    /// ulDeviceError. This is the one place that records it.
    pub(crate) fn with_session<T>(
        &self,
        h: CK_SESSION_HANDLE,
        f: impl FnOnce(&Session) -> Result<T>,
    ) -> Result<T> {
        let s = self.session(h)?;
        let r = f(&s);
        s.record(&r);
        r
    }

    /// [`Self::with_session`] for C_X, C_XUpdate and C_XFinal of an operation family: any error
    /// but CKR_BUFFER_TOO_SMALL, and any panic, ends the operation (see [`super::operation`]).
    pub(crate) fn with_operation<T>(
        &self,
        h: CK_SESSION_HANDLE,
        kind: OpKind,
        f: impl FnOnce(&Session) -> Result<T>,
    ) -> Result<T> {
        self.with_session(h, |s| ending_on_error(s, kind, || f(s)))
    }

    /// C_CloseSession. A wait in progress on another thread is cancelled.
    pub(crate) fn close_session(&self, h: CK_SESSION_HANDLE) -> Result<()> {
        let s = self
            .sessions
            .lock()
            .remove(&h)
            .ok_or_else(|| Error::ck(CKR_SESSION_HANDLE_INVALID, format!("no session {h}")))?;
        s.close();
        self.drop_session_objects(h);
        self.after_session_closed(s.slot);
        Ok(())
    }

    /// C_CloseAllSessions.
    pub(crate) fn close_all_sessions(&self, slot: CK_SLOT_ID) -> Result<()> {
        self.slot(slot)?;
        let closed: Vec<Arc<Session>> = {
            let mut map = self.sessions.lock();
            let ids: Vec<_> = map
                .iter()
                .filter(|(_, s)| s.slot == slot as usize)
                .map(|(h, _)| *h)
                .collect();
            ids.into_iter().filter_map(|h| map.remove(&h)).collect()
        };
        for s in &closed {
            s.close();
            self.drop_session_objects(s.handle);
        }
        self.after_session_closed(slot as usize);
        Ok(())
    }

    /// Cancel every session's wait, delete this process's session keys (within
    /// [`SHUTDOWN_BOUND`]) and forget the login tokens (C_Finalize, and process exit or unload
    /// without it).
    pub(crate) fn shutdown(&self) {
        let all: Vec<Arc<Session>> = self.sessions.lock().drain().map(|(_, s)| s).collect();
        for s in all {
            s.close();
        }
        self.delete_all_session_keys(SHUTDOWN_BOUND);
        for sl in &self.slots {
            sl.tsb.set_login_token(None);
        }
    }

    fn after_session_closed(&self, slot: usize) {
        // The login state ends with the last session of the token (PKCS#11 §5.6).
        let any = self.sessions.lock().values().any(|s| s.slot == slot);
        if !any {
            if let Some(sl) = self.slots.get(slot) {
                sl.end_login();
            }
        }
    }

    /// Number of sessions (all, read/write) for a slot.
    pub(crate) fn session_counts(&self, slot: usize) -> (usize, usize) {
        let m = self.sessions.lock();
        let all = m.values().filter(|s| s.slot == slot).count();
        let rw = m.values().filter(|s| s.slot == slot && s.rw).count();
        (all, rw)
    }

    /// C_GetSessionInfo.
    pub(crate) fn session_info(&self, h: CK_SESSION_HANDLE) -> Result<SessionInfo> {
        let s = self.session(h)?;
        let login = *self.slots[s.slot].login.lock();
        let state = match (s.rw, login) {
            (_, Some(CKU_SO)) => CKS_RW_SO_FUNCTIONS,
            (false, None) => CKS_RO_PUBLIC_SESSION,
            (true, None) => CKS_RW_PUBLIC_SESSION,
            (false, Some(_)) => CKS_RO_USER_FUNCTIONS,
            (true, Some(_)) => CKS_RW_USER_FUNCTIONS,
        };
        let flags = CKF_SERIAL_SESSION | if s.rw { CKF_RW_SESSION } else { 0 };
        let device_error = s.state.lock().device_error;
        Ok(SessionInfo {
            slot: s.slot as CK_SLOT_ID,
            state,
            flags,
            device_error,
        })
    }

    /// C_SessionCancel: stop a waiting operation (its call returns CKR_FUNCTION_CANCELED and the
    /// request is deleted on the TSB) and end the operations named by `flags`.
    pub(crate) fn session_cancel(&self, session: &Session, flags: CK_FLAGS) -> Result<()> {
        if flags & (CKF_SIGN | CKF_DECRYPT | CKF_MESSAGE_DECRYPT) != 0 {
            session.cancel.cancel();
        }
        // An operation of those kinds running on another thread (one request per block) stops
        // at its next request ([`Session::still_wanted`]).
        session.cancel_requested.fetch_or(flags, Ordering::AcqRel);
        session.state.lock().ops.cancel(flags);
        Ok(())
    }

    /// TSB_GetLastRequestId: the id of the request the session's last approval-gated operation
    /// created or resumed.
    pub(crate) fn last_request_id(&self, session: &Session) -> Result<String> {
        session.state.lock().last_request_id.clone().ok_or_else(|| {
            Error::ck(
                CKR_FUNCTION_FAILED,
                "no approval request in this session yet",
            )
        })
    }
}
