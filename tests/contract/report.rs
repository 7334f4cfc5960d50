//! The run's report: one line per case (`PASS`, `FAIL`, `SKIP`), the details of each failure
//! under it, and a summary. Each case runs under `catch_unwind`, so one failing case (a panic
//! from an assertion) never stops the others, and the cleanup at the end always runs.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;
use std::time::Instant;

thread_local! {
    /// Whether this thread is running a case (its panics are reported by the case's FAIL line).
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic of a case happened.
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic hook that, on a thread running a case, only records where the panic happened (the
/// FAIL line says it, without a backtrace in the middle of the report); any other panic goes to
/// the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CASE.with(Cell::get) {
                let at = info.location().map(ToString::to_string);
                PANIC_AT.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// How a case ended when it did not fail.
pub enum Verdict {
    /// Passed; the text says what was checked.
    Pass(String),
    /// Not run; the text says why.
    Skip(String),
}

/// Shorthand for a case's result: `Err` is a failure with its explanation.
pub type Outcome = Result<Verdict, String>;

/// Counts and the failure list.
#[derive(Default)]
pub struct Report {
    pub passed: usize,
    pub failed: Vec<String>,
    pub skipped: usize,
}

impl Report {
    /// Print a line of the report (stdout, so it is seen with `--nocapture`).
    pub fn line(&self, s: &str) {
        println!("{s}");
    }

    /// Record a skip that is not a case of this run (a test family left out of contract mode).
    pub fn skip(&mut self, name: &str, reason: &str) {
        self.skipped += 1;
        println!("SKIP  {name}: {reason}");
    }

    /// Run one case and record its outcome.
    pub fn case(&mut self, name: &str, f: impl FnOnce() -> Outcome) -> bool {
        install_panic_hook();
        let start = Instant::now();
        IN_CASE.with(|c| c.set(true));
        let out = catch_unwind(AssertUnwindSafe(f));
        IN_CASE.with(|c| c.set(false));
        let out = match out {
            Ok(o) => o,
            Err(p) => {
                let at = PANIC_AT.with(|a| a.borrow_mut().take());
                Err(match at {
                    Some(at) => format!("{}\n(at {at})", panic_text(&p)),
                    None => panic_text(&p),
                })
            }
        };
        let ms = start.elapsed().as_millis();
        match out {
            Ok(Verdict::Pass(what)) => {
                self.passed += 1;
                println!("PASS  {name} ({ms} ms){}", detail(&what));
                true
            }
            Ok(Verdict::Skip(why)) => {
                self.skipped += 1;
                println!("SKIP  {name}: {why}");
                false
            }
            Err(why) => {
                self.failed.push(name.to_string());
                println!("FAIL  {name} ({ms} ms)");
                for l in why.lines() {
                    println!("      {l}");
                }
                false
            }
        }
    }

    /// The closing line.
    pub fn summary(&self, secs: f64) -> String {
        format!(
            "contract: {} passed, {} failed, {} skipped in {secs:.1} s{}",
            self.passed,
            self.failed.len(),
            self.skipped,
            if self.failed.is_empty() {
                String::new()
            } else {
                format!(" (failed: {})", self.failed.join(", "))
            }
        )
    }
}

fn detail(what: &str) -> String {
    if what.is_empty() {
        String::new()
    } else {
        format!(": {what}")
    }
}

/// The message of a panic payload.
pub fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "panicked".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_case_is_a_failure_and_the_next_case_still_runs() {
        let mut r = Report::default();
        assert!(!r.case("boom", || panic!("assertion in the case")));
        assert!(r.case("fine", || Ok(Verdict::Pass("checked".into()))));
        assert!(!r.case("later", || Ok(Verdict::Skip("not here".into()))));
        assert!(!r.case("err", || Err("explained".into())));
        assert_eq!(r.passed, 1);
        assert_eq!(r.skipped, 1);
        assert_eq!(r.failed, vec!["boom".to_string(), "err".to_string()]);
        // The hook recorded where the case panicked, and panics outside cases are untouched.
        assert!(!IN_CASE.with(Cell::get));
        assert!(r.summary(1.0).contains("1 passed, 2 failed, 1 skipped"));
        assert!(r.summary(1.0).contains("(failed: boom, err)"));
    }
}
