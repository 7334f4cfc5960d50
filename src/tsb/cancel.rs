//! A cancellation flag that wakes a waiting thread at once: set by C_SessionCancel,
//! C_CloseSession and C_Finalize, and also the signal a helper thread gives when an HTTP call it
//! runs has finished (so one wait covers "answered", "cancelled" and "deadline").

use parking_lot::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// A cancellation flag that wakes a waiting thread at once.
#[derive(Default)]
pub(crate) struct CancelToken {
    cancelled: Mutex<bool>,
    cv: Condvar,
}

/// Why [`CancelToken::wait_until`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The condition became true.
    Done,
    /// Cancel was asked.
    Cancelled,
    /// The deadline passed.
    Deadline,
}

impl CancelToken {
    /// Ask the waiting operation to stop.
    pub(crate) fn cancel(&self) {
        *self.cancelled.lock() = true;
        self.cv.notify_all();
    }
    /// Clear before a new operation.
    pub(crate) fn reset(&self) {
        *self.cancelled.lock() = false;
    }
    /// Whether cancel was asked.
    pub(crate) fn is_cancelled(&self) -> bool {
        *self.cancelled.lock()
    }
    /// Sleep up to `d`; returns true when cancelled (immediately if already cancelled).
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let deadline = crate::util::instant_after(Instant::now(), d);
        self.wait_until(deadline, || false) == Wake::Cancelled
    }
    /// Wait until `done()` is true, cancel is asked, or `deadline` passes, whichever is first.
    /// `done` is checked under the token's lock, so a [`CancelToken::notify`] made after `done`
    /// became true is never missed.
    pub(crate) fn wait_until(&self, deadline: Instant, done: impl Fn() -> bool) -> Wake {
        let mut g = self.cancelled.lock();
        loop {
            if *g {
                return Wake::Cancelled;
            }
            if done() {
                return Wake::Done;
            }
            if self.cv.wait_until(&mut g, deadline).timed_out() {
                return if *g {
                    Wake::Cancelled
                } else if done() {
                    Wake::Done
                } else {
                    Wake::Deadline
                };
            }
        }
    }
    /// Wake the waiters so they check their condition again.
    pub(crate) fn notify(&self) {
        let _g = self.cancelled.lock();
        self.cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn cancel_wakes_sleeper() {
        let t = Arc::new(CancelToken::default());
        let t2 = t.clone();
        let h = std::thread::spawn(move || t2.sleep(Duration::from_secs(30)));
        t.cancel();
        assert!(h.join().unwrap());
        t.reset();
        assert!(!t.sleep(Duration::from_millis(1)));
    }

    #[test]
    fn wait_until_done_cancelled_or_deadline() {
        let t = Arc::new(CancelToken::default());
        let flag = Arc::new(AtomicBool::new(false));
        let (t2, f2) = (t.clone(), flag.clone());
        let h = std::thread::spawn(move || {
            f2.store(true, Ordering::SeqCst);
            t2.notify();
        });
        let far = Instant::now() + Duration::from_secs(30);
        assert_eq!(
            t.wait_until(far, || flag.load(Ordering::SeqCst)),
            Wake::Done
        );
        h.join().unwrap();
        let soon = Instant::now() + Duration::from_millis(5);
        assert_eq!(t.wait_until(soon, || false), Wake::Deadline);
        t.cancel();
        assert_eq!(t.wait_until(far, || true), Wake::Cancelled);
    }
}
