//! The doctor's report: one line per check with its verdict, a line of what to do under every
//! WARN and FAIL, the counts, and the exit code. Every line passes through [`Report::redact`]
//! first, so no secret of the configuration (bearer token, API keys, key passwords) is ever
//! written, whatever a server or an error message put into the text.

use std::io::Write;

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Checked, and as it should be.
    Ok,
    /// Works, but deserves attention (a certificate about to expire, a version the module cannot
    /// read, a request waiting for approvers).
    Warn,
    /// Does not work as configured.
    Fail,
    /// Not checked: an earlier check failed, time ran out, or the module does not use it.
    Skip,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
        }
    }
}

/// Exit code: every check OK (SKIP lines allowed).
pub(crate) const EXIT_OK: i32 = 0;
/// Exit code: warnings, no failure.
pub(crate) const EXIT_WARN: i32 = 1;
/// Exit code: at least one failure (a config error included).
pub(crate) const EXIT_FAIL: i32 = 2;
/// Exit code: the command line is wrong (BSD `EX_USAGE`).
pub(crate) const EXIT_USAGE: i32 = 64;

/// Where the lines go, and what they must never contain.
pub(crate) struct Report<'a> {
    out: &'a mut dyn Write,
    secrets: Vec<String>,
    counts: [usize; 4],
}

impl<'a> Report<'a> {
    /// A report written to `out`.
    pub(crate) fn new(out: &'a mut dyn Write) -> Report<'a> {
        Report {
            out,
            secrets: Vec::new(),
            counts: [0; 4],
        }
    }

    /// Never write `secret` (nor any text containing it): it is replaced by `***`.
    pub(crate) fn never_show(&mut self, secret: &str) {
        if !secret.is_empty() && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
            // Longest first, so that a secret containing another is replaced whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    fn redact(&self, text: &str) -> String {
        let mut t = text.replace(['\n', '\r'], " ");
        for s in &self.secrets {
            if t.contains(s.as_str()) {
                t = t.replace(s.as_str(), "***");
            }
        }
        t
    }

    fn write(&mut self, line: &str) {
        let line = self.redact(line);
        // A closed stdout (`doctor | head`) ends nothing here: the exit code still tells.
        let _ = writeln!(self.out, "{}", line.trim_end());
    }

    /// A line of its own (the report's first), without a verdict.
    pub(crate) fn title(&mut self, text: &str) {
        self.write(text);
    }

    /// A heading (a slot), without a verdict.
    pub(crate) fn heading(&mut self, text: &str) {
        self.write("");
        self.write(&format!("== {text}"));
    }

    /// One check: its verdict, `what` was found, and for a WARN or FAIL `fix`, what to do.
    pub(crate) fn check(&mut self, v: Verdict, what: &str, fix: Option<&str>) {
        self.counts[v as usize] += 1;
        self.write(&format!("{:<5} {what}", v.word()));
        if let (Verdict::Warn | Verdict::Fail, Some(fix)) = (v, fix) {
            self.write(&format!("      fix: {fix}"));
        }
    }

    /// A line that belongs to the check above it (details, no verdict of its own).
    pub(crate) fn detail(&mut self, text: &str) {
        self.write(&format!("      {text}"));
    }

    /// How many checks had verdict `v`.
    pub(crate) fn count(&self, v: Verdict) -> usize {
        self.counts[v as usize]
    }

    /// The summary line; returns the exit code.
    pub(crate) fn finish(&mut self) -> i32 {
        let (ok, warn, fail, skip) = (
            self.count(Verdict::Ok),
            self.count(Verdict::Warn),
            self.count(Verdict::Fail),
            self.count(Verdict::Skip),
        );
        let (code, what) = if fail > 0 {
            (EXIT_FAIL, "the module will not work as configured")
        } else if warn > 0 {
            (EXIT_WARN, "the module works; see the warnings")
        } else {
            (EXIT_OK, "all is well")
        };
        self.write("");
        self.write(&format!(
            "summary: {ok} OK, {warn} WARN, {fail} FAIL, {skip} SKIP: {what} (exit {code})"
        ));
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_fixes_counts_and_exit_codes() {
        let mut out = Vec::new();
        let mut r = Report::new(&mut out);
        r.check(Verdict::Ok, "fine", Some("never shown"));
        r.check(Verdict::Skip, "not used", Some("never shown"));
        assert_eq!(r.finish(), EXIT_OK);
        r.check(Verdict::Warn, "soon", Some("renew it"));
        assert_eq!(r.finish(), EXIT_WARN);
        r.check(Verdict::Fail, "broken", Some("repair it"));
        assert_eq!(r.finish(), EXIT_FAIL);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("OK    fine\n"), "{text}");
        assert!(!text.contains("never shown"), "{text}");
        assert!(text.contains("WARN  soon\n      fix: renew it\n"), "{text}");
        assert!(
            text.contains("FAIL  broken\n      fix: repair it\n"),
            "{text}"
        );
        assert!(
            text.contains("summary: 1 OK, 1 WARN, 1 FAIL, 1 SKIP"),
            "{text}"
        );
    }

    #[test]
    fn secrets_are_never_written() {
        let mut out = Vec::new();
        let mut r = Report::new(&mut out);
        r.never_show("abc");
        r.never_show("abcdef-token");
        r.never_show("");
        r.check(
            Verdict::Fail,
            "the server said: abcdef-token is wrong, and abc\ntoo",
            Some("not abc"),
        );
        r.detail("abcabc");
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("abc"), "{text}");
        assert!(text.contains("said: *** is wrong, and *** too"), "{text}");
        assert!(text.contains("fix: not ***"), "{text}");
    }
}
