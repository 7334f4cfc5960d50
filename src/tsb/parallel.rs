//! Requests sent a few at a time: a counting bound shared by everything that uses it (the slot's
//! listings, see [`super::cache`]), and a scoped pool of workers that works through a list.
//!
//! The bound is not a lock around the request: a permit is a count taken under a short lock and
//! given back when the request has returned; no lock is held while it is in flight.

use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicUsize, Ordering};

/// At most `max` holders at once.
pub(crate) struct Bound {
    max: usize,
    used: Mutex<usize>,
    freed: Condvar,
}

impl Bound {
    /// A bound of `max` (at least 1).
    pub(crate) fn new(max: usize) -> Bound {
        Bound {
            max: max.max(1),
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// The bound.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Run `f` once fewer than `max` others run under this bound, counted among them.
    pub(crate) fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        {
            let mut used = self.used.lock();
            while *used >= self.max {
                self.freed.wait(&mut used);
            }
            *used += 1;
        }
        // Given back however `f` ends (a panic included), so the bound never shrinks.
        let _permit = Permit(self);
        f()
    }
}

struct Permit<'a>(&'a Bound);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.used.lock() -= 1;
        self.0.freed.notify_one();
    }
}

/// Call `f` on every item, on up to `workers` threads of this scope (none when there is at
/// most one item, or one worker); returns when every call has. A worker that panics stops, the
/// others go on, and the panic is raised again here once they are done (`std::thread::scope`),
/// for the C boundary to catch.
pub(crate) fn for_each<T: Sync>(items: &[T], workers: usize, f: &(dyn Fn(&T) + Sync)) {
    let workers = workers.min(items.len());
    if workers <= 1 {
        items.iter().for_each(f);
        return;
    }
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                crate::panic_hook::scope(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    f(item);
                })
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn the_bound_holds_and_every_item_is_done_once() {
        let bound = Bound::new(3);
        let now = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let done: Vec<AtomicUsize> = (0..50).map(|_| AtomicUsize::new(0)).collect();
        let items: Vec<usize> = (0..50).collect();
        for_each(&items, 8, &|i| {
            bound.run(|| {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                std::thread::yield_now();
                now.fetch_sub(1, Ordering::SeqCst);
            });
            done[*i].fetch_add(1, Ordering::SeqCst);
        });
        assert!(most.load(Ordering::SeqCst) <= 3);
        assert!(done.iter().all(|d| d.load(Ordering::SeqCst) == 1));
    }

    #[test]
    fn workers_run_side_by_side() {
        // Four items that each wait for all four: done only if four workers run at once.
        let barrier = Barrier::new(4);
        let items = [0, 1, 2, 3];
        for_each(&items, 4, &|_| {
            barrier.wait();
        });
    }

    #[test]
    fn a_permit_comes_back_after_a_panic() {
        let bound = Bound::new(1);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            bound.run(|| panic!("boom"));
        }));
        assert!(r.is_err());
        assert_eq!(bound.run(|| 7), 7);
    }
}
