//! The journal: what this module knows about approval requests, by operation fingerprint, kept in
//! memory and, when the slot names a `journal` file, in that file, shared by every process and
//! thread that uses it. Several processes (a build running signing tools in parallel) must never
//! erase each other's entries, so every change is a locked read-modify-write:
//!
//! 1. take an exclusive `flock` on the sidecar lock file `<journal>.lock` (the journal itself is
//!    replaced by rename, so its inode cannot carry the lock);
//! 2. read the journal as it is now;
//! 3. apply the change;
//! 4. write the result to a temporary file in the same directory, fsync it, rename it over the
//!    journal (readers see the old or the new file, never half of one), fsync the directory;
//! 5. unlock (closing the lock file).
//!
//! Readers need no lock: a rename is atomic. One JSON object per line, so a person can read it and
//! delete a line to make the module forget an entry.

use crate::log::Level;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Entry {
    /// The operation's fingerprint (slot, key, kind, algorithm, input).
    pub(crate) fingerprint: String,
    /// What is known about the operation's request.
    #[serde(default)]
    pub(crate) state: State,
    /// The TSB request made for it (state `pending`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) request_id: Option<String>,
    /// The process that is sending (or sent) the creating call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pid: Option<u32>,
    /// When the creating call was started, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) since: Option<u64>,
    /// When a request that may have been created has certainly expired on the TSB (seconds since
    /// the epoch); none when the key's policy never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) until: Option<u64>,
    /// The key's TSB label and the operation, for the person reading the journal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) what: Option<String>,
}

/// What the journal knows about an operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    /// The request exists (`requestId`) and was still pending when last seen: the same operation
    /// asked again resumes waiting on it. Lines of older versions have no state and mean this.
    #[default]
    Pending,
    /// The creating call is being sent by process `pid`.
    Sending,
    /// The creating call was sent but its answer was lost: the TSB may have created a request
    /// that no one knows the id of. The same operation is refused until `until`, or until the
    /// user clears it.
    Unknown,
}

impl Entry {
    /// A pending request.
    pub(crate) fn pending(fingerprint: &str, request_id: &str) -> Entry {
        Entry {
            fingerprint: fingerprint.to_string(),
            state: State::Pending,
            request_id: Some(request_id.to_string()),
            pid: None,
            since: None,
            until: None,
            what: None,
        }
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether process `pid` exists (it may be a reuse of the id; callers also bound the age).
pub(crate) fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks for existence and permission.
    unsafe { libc::kill(pid, 0) == 0 || *libc::__errno_location() == libc::EPERM }
}

/// How long a writer waits for the lock before giving up on the file (the change stays in memory
/// and a warning says so). The lock is only ever held for one small read-modify-write.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The journal of one module instance.
pub(crate) struct Journal {
    path: Option<PathBuf>,
    /// This process's entries: the whole truth without a file, and the fallback when the file
    /// cannot be read or written.
    mem: Mutex<BTreeMap<String, Entry>>,
}

impl Journal {
    /// A journal kept in `path` (created on the first change), or in memory only.
    pub(crate) fn new(path: Option<PathBuf>) -> Journal {
        Journal {
            path,
            mem: Mutex::new(BTreeMap::new()),
        }
    }

    /// The entry for this fingerprint: from the file as it is now (another process may have
    /// written it), else from memory.
    #[cfg(test)]
    pub(crate) fn get(&self, fingerprint: &str) -> Option<Entry> {
        if let Some(p) = &self.path {
            match read(p) {
                Ok(m) => return m.get(fingerprint).cloned(),
                Err(e) => crate::log!(Level::Warn, "cannot read journal {}: {e}", p.display()),
            }
        }
        self.mem.lock().get(fingerprint).cloned()
    }

    /// Record `entry` (replacing any entry for its fingerprint).
    pub(crate) fn put(&self, entry: Entry) {
        self.update(|m| {
            m.insert(entry.fingerprint.clone(), entry.clone());
        });
    }

    /// Forget the entry for this fingerprint.
    pub(crate) fn remove(&self, fingerprint: &str) {
        self.update(|m| {
            m.remove(fingerprint);
        });
    }

    /// Apply `change` to the journal as it is now, atomically with respect to every other process
    /// and thread using it (so a check and a change made together cannot race), and return what
    /// `change` returned. Without a file, or when the file cannot be written, the change is made
    /// in memory.
    pub(crate) fn update<R>(&self, mut change: impl FnMut(&mut BTreeMap<String, Entry>) -> R) -> R {
        let mut mem = self.mem.lock();
        if let Some(p) = &self.path {
            let mut out = None;
            match locked_update(p, &mut |m| out = Some((change(m), m.clone()))) {
                Ok(()) => {
                    if let Some((r, m)) = out {
                        // Keep the memory copy in step with the file.
                        *mem = m;
                        return r;
                    }
                }
                Err(e) => crate::log!(
                    Level::Warn,
                    "cannot update journal {}: {e}; the change is kept in this process only",
                    p.display()
                ),
            }
        }
        change(&mut mem)
    }

    /// The journal file, if any.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

/// What to do about an operation before sending the call that creates its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Send it: nothing is known, or an outcome-unknown marker ran out (given, for the log).
    /// The journal now says `sending` for this process.
    Send(Option<Entry>),
    /// A request exists: wait on it.
    Resume(String),
    /// Another thread or process is sending this very operation now: look again shortly.
    Busy(Entry),
    /// A request may exist that no one knows the id of: refuse, with this marker.
    Refuse(Entry),
}

impl Journal {
    /// Decide what to do about `mark.fingerprint` and, when the answer is [`Claim::Send`], write
    /// `mark` (state `sending`) in the same atomic update, so two senders cannot both claim it.
    /// `now` in seconds since the epoch; a `sending` marker older than `sending_for` seconds, or
    /// of a process that is gone, is stale and counts as unknown.
    pub(crate) fn claim(&self, mark: &Entry, now: u64, sending_for: u64) -> Claim {
        self.update(|m| decide(m, mark, now, sending_for))
    }

    /// The creating call of `mark` (this process's `sending` marker) answered with a request
    /// id: the entry becomes pending, and keeps when the request was asked for, until when it
    /// can exist and what it is, for the person reading the journal.
    pub(crate) fn created(&self, mark: &Entry, request_id: &str) {
        self.put(Entry {
            since: mark.since,
            until: mark.until,
            what: mark.what.clone(),
            ..Entry::pending(&mark.fingerprint, request_id)
        });
    }

    /// The creating call's answer was lost: `mark` becomes an outcome-unknown marker.
    pub(crate) fn lost(&self, mark: &Entry) {
        let mut u = mark.clone();
        u.state = State::Unknown;
        self.put(u);
    }

    /// The creating call certainly created nothing: drop this process's `sending` marker.
    pub(crate) fn not_created(&self, fingerprint: &str) {
        let me = std::process::id();
        self.update(|m| {
            if m.get(fingerprint)
                .is_some_and(|e| e.state == State::Sending && e.pid == Some(me))
            {
                m.remove(fingerprint);
            }
        });
    }

    /// Forget every outcome-unknown and sending marker (the user checked the approvers' list);
    /// returns how many.
    pub(crate) fn forget_unknown(&self) -> usize {
        self.update(|m| {
            let before = m.len();
            m.retain(|_, e| e.state == State::Pending);
            before - m.len()
        })
    }
}

fn decide(m: &mut BTreeMap<String, Entry>, mark: &Entry, now: u64, sending_for: u64) -> Claim {
    let fp = &mark.fingerprint;
    let ran_out = |e: Entry| {
        if e.until.is_some_and(|u| now >= u) {
            Claim::Send(Some(e))
        } else {
            Claim::Refuse(e)
        }
    };
    let claim = match m.get(fp).cloned() {
        None => Claim::Send(None),
        Some(e) => match e.state {
            State::Pending => match &e.request_id {
                Some(id) => Claim::Resume(id.clone()),
                None => Claim::Send(None),
            },
            State::Sending => {
                let fresh = e.since.is_some_and(|s| now < s.saturating_add(sending_for));
                if fresh && e.pid.is_some_and(process_alive) {
                    Claim::Busy(e)
                } else {
                    // The sender died or hung past its timeout: its request may exist.
                    let mut u = e;
                    u.state = State::Unknown;
                    m.insert(fp.clone(), u.clone());
                    ran_out(u)
                }
            }
            State::Unknown => ran_out(e),
        },
    };
    if matches!(claim, Claim::Send(_)) {
        m.insert(fp.clone(), mark.clone());
    }
    claim
}

/// Parse a journal file; a missing file is empty, a line that is not an entry is skipped.
pub(crate) fn read(path: &Path) -> std::io::Result<BTreeMap<String, Entry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Entry>(l).ok())
        .map(|e| (e.fingerprint.clone(), e))
        .collect())
}

fn locked_update(
    path: &Path,
    change: &mut dyn FnMut(&mut BTreeMap<String, Entry>),
) -> std::io::Result<()> {
    let lock_path = sidecar(path, ".lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)?;
    flock_exclusive(&lock)?;
    let mut m = read(path)?;
    change(&mut m);
    let mut text = String::new();
    for e in m.values() {
        text.push_str(&serde_json::to_string(e).unwrap_or_default());
        text.push('\n');
    }
    let tmp = sidecar(
        path,
        &format!(
            ".tmp.{}.{:?}",
            std::process::id(),
            std::thread::current().id()
        ),
    );
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename itself survives a crash only once the directory is on disk.
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    // Closing the lock file releases the lock.
    drop(lock);
    written
}

/// `<journal><suffix>` in the journal's directory.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Take an exclusive flock, waiting at most [`LOCK_WAIT`].
fn flock_exclusive(f: &std::fs::File) -> std::io::Result<()> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        // SAFETY: flock on a descriptor this function's caller owns for the call's duration.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK)
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            return Err(e);
        }
        if started.elapsed() >= LOCK_WAIT {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the lock was held by another process for {LOCK_WAIT:?}"),
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fp: &str, id: &str) -> Entry {
        Entry::pending(fp, id)
    }

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tsb-journal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("j.jsonl")
    }

    #[test]
    fn round_trip_and_old_lines() {
        let p = temp("rt");
        // A line written by an older version reads the same.
        std::fs::write(
            &p,
            "{\"fingerprint\":\"old\",\"requestId\":\"r0\"}\nnot json\n",
        )
        .unwrap();
        let j = Journal::new(Some(p.clone()));
        assert_eq!(j.get("old"), Some(entry("old", "r0")));
        j.put(entry("fp1", "req-1"));
        let j2 = Journal::new(Some(p.clone()));
        assert_eq!(j2.get("fp1"), Some(entry("fp1", "req-1")));
        j2.remove("fp1");
        assert_eq!(j.get("fp1"), None);
        assert_eq!(j.get("old"), Some(entry("old", "r0")));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
    }

    fn mark(fp: &str, now: u64, until: Option<u64>) -> Entry {
        Entry {
            fingerprint: fp.into(),
            state: State::Sending,
            request_id: None,
            pid: Some(std::process::id()),
            since: Some(now),
            until,
            what: Some("signature with key k".into()),
        }
    }

    #[test]
    fn claims() {
        let j = Journal::new(Some(temp("claims")));
        let m = mark("a", 1000, Some(2000));
        assert_eq!(j.claim(&m, 1000, 60), Claim::Send(None));
        // The same operation from another thread while this one is sending.
        assert!(matches!(j.claim(&m, 1010, 60), Claim::Busy(_)));
        // A sending marker past its time is stale: outcome unknown, refused until `until`.
        assert!(matches!(j.claim(&m, 1061, 60), Claim::Refuse(e) if e.state == State::Unknown));
        // ... and asked again after it.
        let m2 = mark("a", 2000, Some(3000));
        assert!(matches!(j.claim(&m2, 2000, 60), Claim::Send(Some(_))));
        j.created(&m2, "req-a");
        assert_eq!(j.claim(&m2, 2001, 60), Claim::Resume("req-a".into()));
        // A lost answer with a policy that never expires: refused until forgotten.
        let m3 = mark("b", 1000, None);
        assert_eq!(j.claim(&m3, 1000, 60), Claim::Send(None));
        j.lost(&m3);
        assert!(matches!(j.claim(&m3, u64::MAX, 60), Claim::Refuse(_)));
        // A sender that is gone (no such process) left a stale marker.
        let mut dead = mark("c", 1000, Some(5000));
        dead.pid = Some(u32::MAX);
        j.put(dead.clone());
        assert!(matches!(j.claim(&dead, 1001, 60), Claim::Refuse(_)));
        // Nothing created: the marker goes.
        let m4 = mark("d", 1000, None);
        assert_eq!(j.claim(&m4, 1000, 60), Claim::Send(None));
        j.not_created("d");
        assert_eq!(j.get("d"), None);
        assert_eq!(j.forget_unknown(), 2);
        assert_eq!(j.get("b"), None);
        assert_eq!(
            j.get("a").and_then(|e| e.request_id),
            Some("req-a".to_string())
        );
    }

    /// A pending request keeps when it was asked for, until when it can exist and what it is,
    /// so that a person reading the journal (or `tsb-pkcs11-doctor`) sees its age and operation.
    #[test]
    fn a_created_request_keeps_its_time_and_operation() {
        let j = Journal::new(Some(temp("created")));
        let m = mark("e", 1000, Some(2000));
        assert_eq!(j.claim(&m, 1000, 60), Claim::Send(None));
        j.created(&m, "req-e");
        let e = j.get("e").unwrap();
        assert_eq!(e.state, State::Pending);
        assert_eq!(e.request_id.as_deref(), Some("req-e"));
        assert_eq!((e.since, e.until), (Some(1000), Some(2000)));
        assert_eq!(e.what.as_deref(), Some("signature with key k"));
        assert_eq!(e.pid, None);
        assert_eq!(j.claim(&m, 1001, 60), Claim::Resume("req-e".into()));
    }

    #[test]
    fn memory_only_without_a_file() {
        let j = Journal::new(None);
        j.put(entry("a", "1"));
        assert_eq!(j.get("a"), Some(entry("a", "1")));
        j.remove("a");
        assert_eq!(j.get("a"), None);
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let p = temp("threads");
        // Separate instances, as separate processes would have.
        std::thread::scope(|s| {
            for t in 0..8 {
                let p = p.clone();
                s.spawn(move || {
                    let j = Journal::new(Some(p));
                    for i in 0..10 {
                        j.put(entry(&format!("t{t}-{i}"), "r"));
                    }
                });
            }
        });
        assert_eq!(read(&p).unwrap().len(), 80);
    }
}
