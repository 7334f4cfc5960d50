//! The requests a slot's journal remembers (`tsb::journal`): whether the module can write the
//! journal where the config says, and each entry with its age and what to do about it.
//!
//! The TSB is not asked about them: reading the status of a request whose result the TSB hands
//! out once (the fetch-once option of TSB 2.1.0) would use that result up, and the rerun of the
//! command that asked for it would then find it gone.

use super::report::{Report, Verdict};
use super::x509::printable;
use crate::tsb::journal::{self, Entry, State};
use std::path::Path;

/// The most entries shown one by one.
const MAX_SHOWN: usize = 20;

/// `secs` as `12 min`, `3 h`, `2 days`.
fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// `since 2026-01-02T03:04:05Z (12 min ago)`, or nothing when the entry does not say.
fn since(e: &Entry, now: u64) -> String {
    e.since
        .map(|s| {
            format!(
                " since {} ({} ago)",
                crate::util::rfc3339(s),
                age(now.saturating_sub(s))
            )
        })
        .unwrap_or_default()
}

/// Whether this process may create files in `dir`.
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path; access() only reads it.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// Report the journal at `path`.
pub(super) fn check(r: &mut Report, path: &Path) {
    let at = format!("journal {}", path.display());
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => std::path::PathBuf::from("."),
    };
    if !dir.is_dir() {
        r.check(
            Verdict::Fail,
            &format!(
                "{at}: the directory {} does not exist: the module cannot keep the journal and \
                 remembers requests in each process only",
                dir.display()
            ),
            Some("create the directory, writable by every user that signs"),
        );
        return;
    }
    if !writable(&dir) {
        r.check(
            Verdict::Fail,
            &format!(
                "{at}: this user cannot write in {} (the journal is replaced by rename, and its \
                 lock file lives beside it): the module remembers requests in memory only",
                dir.display()
            ),
            Some("make the directory writable by every user that signs (or use another path)"),
        );
        return;
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            r.check(
                Verdict::Ok,
                &format!("{at}: no requests remembered (the file is created when needed)"),
                None,
            );
            return;
        }
        Err(e) => {
            r.check(
                Verdict::Fail,
                &format!("{at}: cannot be read: {e}"),
                Some("give every user that signs read and write access to it"),
            );
            return;
        }
    };
    let entries = match journal::read(path) {
        Ok(m) => m.into_values().collect::<Vec<_>>(),
        Err(e) => {
            r.check(Verdict::Fail, &format!("{at}: cannot be read: {e}"), None);
            return;
        }
    };
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    if entries.is_empty() && lines == 0 {
        r.check(Verdict::Ok, &format!("{at}: no requests remembered"), None);
        return;
    }
    let count = |s: State| entries.iter().filter(|e| e.state == s).count();
    r.check(
        Verdict::Ok,
        &format!(
            "{at}: {} remembered: {} pending, {} outcome unknown, {} being sent",
            entries.len(),
            count(State::Pending),
            count(State::Unknown),
            count(State::Sending)
        ),
        None,
    );
    if lines > entries.len() {
        r.check(
            Verdict::Warn,
            &format!(
                "{at}: {} line(s) are not entries; the module ignores them",
                lines - entries.len()
            ),
            Some("delete those lines (one JSON object per line is an entry)"),
        );
    }
    let now = journal::unix_now();
    let mut sorted = entries;
    sorted.sort_by_key(|e| e.since.unwrap_or(0));
    for e in sorted.iter().take(MAX_SHOWN) {
        entry_line(r, e, now);
    }
    if sorted.len() > MAX_SHOWN {
        r.detail(&format!("and {} more", sorted.len() - MAX_SHOWN));
    }
}

/// One remembered request.
fn entry_line(r: &mut Report, e: &Entry, now: u64) {
    let what = printable(e.what.as_deref().unwrap_or("an operation"));
    let id = e
        .request_id
        .as_deref()
        .map(|i| format!("request {} ", printable(i)))
        .unwrap_or_default();
    let gone_by = |until: Option<u64>| match until {
        Some(u) if now >= u => " (it has expired on the TSB by now)".to_string(),
        Some(u) => format!(" (it expires on the TSB by {})", crate::util::rfc3339(u)),
        None => String::new(),
    };
    match e.state {
        State::Pending => r.check(
            Verdict::Warn,
            &format!(
                "{id}({what}) pending{}{}: the same operation run again waits on it instead of \
                 asking the approvers again",
                since(e, now),
                gone_by(e.until)
            ),
            Some(
                "have it approved (`tsb-approve list`, then approve) and run the same command \
                 again; or delete its line to forget it",
            ),
        ),
        State::Unknown => {
            let until = match e.until {
                Some(u) if now >= u => {
                    "no longer (its time is over: the next run asks anew)".into()
                }
                Some(u) => format!("until {}", crate::util::rfc3339(u)),
                None => "until it is forgotten (its key's policy never expires)".into(),
            };
            r.check(
                Verdict::Warn,
                &format!(
                    "{id}({what}) outcome unknown{}: the TSB may have made a request for the \
                     approvers whose answer was lost; the same operation is refused {until}",
                    since(e, now)
                ),
                Some(
                    "look for it in the approvers' task list (`tsb-approve list`) and decide it; \
                     then run once with TSB_PKCS11_FORGET_UNKNOWN=1 (or delete its line)",
                ),
            );
        }
        State::Sending => {
            let alive = e.pid.is_some_and(journal::process_alive);
            if alive {
                r.check(
                    Verdict::Ok,
                    &format!(
                        "({what}) being sent now by process {}{}",
                        e.pid.unwrap_or(0),
                        since(e, now)
                    ),
                    None,
                );
            } else {
                r.check(
                    Verdict::Warn,
                    &format!(
                        "({what}) was being sent by process {}, which is gone{}: the module \
                         treats it as outcome unknown",
                        e.pid.map_or("?".into(), |p| p.to_string()),
                        since(e, now)
                    ),
                    Some(
                        "look for its request in the approvers' task list (`tsb-approve list`); \
                         then run once with TSB_PKCS11_FORGET_UNKNOWN=1 (or delete its line)",
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(age(5), "5 s");
        assert_eq!(age(600), "10 min");
        assert_eq!(age(3 * 3600), "3 h");
        assert_eq!(age(5 * 86_400), "5 days");
    }
}
