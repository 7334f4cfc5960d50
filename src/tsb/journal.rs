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
pub struct Entry {
    /// The operation's fingerprint (slot, key, kind, algorithm, input).
    pub fingerprint: String,
    /// The TSB request made for it.
    pub request_id: String,
}

/// How long a writer waits for the lock before giving up on the file (the change stays in memory
/// and a warning says so). The lock is only ever held for one small read-modify-write.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The journal of one module instance.
pub struct Journal {
    path: Option<PathBuf>,
    /// This process's entries: the whole truth without a file, and the fallback when the file
    /// cannot be read or written.
    mem: Mutex<BTreeMap<String, Entry>>,
}

impl Journal {
    /// A journal kept in `path` (created on the first change), or in memory only.
    pub fn new(path: Option<PathBuf>) -> Journal {
        Journal {
            path,
            mem: Mutex::new(BTreeMap::new()),
        }
    }

    /// The entry for this fingerprint: from the file as it is now (another process may have
    /// written it), else from memory.
    pub fn get(&self, fingerprint: &str) -> Option<Entry> {
        if let Some(p) = &self.path {
            match read(p) {
                Ok(m) => return m.get(fingerprint).cloned(),
                Err(e) => crate::log!(Level::Warn, "cannot read journal {}: {e}", p.display()),
            }
        }
        self.mem.lock().get(fingerprint).cloned()
    }

    /// Record `entry` (replacing any entry for its fingerprint).
    pub fn put(&self, entry: Entry) {
        self.update(&|m: &mut BTreeMap<String, Entry>| {
            m.insert(entry.fingerprint.clone(), entry.clone());
        });
    }

    /// Forget the entry for this fingerprint.
    pub fn remove(&self, fingerprint: &str) {
        self.update(&|m: &mut BTreeMap<String, Entry>| {
            m.remove(fingerprint);
        });
    }

    /// Apply `change` to memory and, under the lock, to the file.
    fn update(&self, change: &dyn Fn(&mut BTreeMap<String, Entry>)) {
        change(&mut self.mem.lock());
        let Some(p) = &self.path else { return };
        if let Err(e) = locked_update(p, change) {
            crate::log!(
                Level::Warn,
                "cannot update journal {}: {e}; the change is kept in this process only",
                p.display()
            );
        }
    }
}

/// Parse a journal file; a missing file is empty, a line that is not an entry is skipped.
fn read(path: &Path) -> std::io::Result<BTreeMap<String, Entry>> {
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
    change: &dyn Fn(&mut BTreeMap<String, Entry>),
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
        Entry {
            fingerprint: fp.into(),
            request_id: id.into(),
        }
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
