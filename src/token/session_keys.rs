//! Session key pairs (`CKA_TOKEN` false in C_GenerateKeyPair) are generated in the TSB, like
//! every key, and deleted when their session closes, at C_Finalize and when the process exits.
//! Their TSB label says whose they are, so that a key a crashed process left behind can be told
//! from a key another process still uses:
//!
//! ```text
//! {label_prefix}.p11s.{host id}.{pid}.{start}.{created}.{n}.{hostname}
//! ```
//!
//! - `host id`: 12 hex digits of SHA-256 over the kernel's boot id, the pid namespace, the
//!   machine id and the host name. Two processes have the same host id only when they run under
//!   the same kernel boot in the same pid namespace, the one case in which one of them can see
//!   whether the other is alive (`/proc/{pid}`). A container, another machine or the same
//!   machine after a reboot has another host id.
//! - `pid` and `start`: the owning process and its start time (`/proc/{pid}/stat` field 22, clock
//!   ticks since boot), so a pid used again by a new process is not taken for the owner.
//! - `created`: Unix seconds, for the age rule below; `n`: a counter within the process;
//!   `hostname`: for people reading a key list (not used to decide anything).
//!
//! What happens to such a key:
//!
//! - Its own process deletes it when the session closes (C_CloseSession, C_CloseAllSessions),
//!   at C_Finalize, and at process exit or unload of the module without C_Finalize (a
//!   destructor, bounded in time: [`crate::token::Module::delete_all_session_keys`]). A process
//!   only ever deletes keys whose label carries its own pid and start time, so a forked child
//!   never deletes its parent's keys.
//! - Keys of the same host id whose process is gone (no `/proc/{pid}`, or another start time)
//!   are leftovers of a crash: deleted lazily, the first time a slot lists its keys (never in
//!   C_Initialize, which sends nothing), or at C_InitToken.
//! - Keys of a live process, or whose owner cannot be checked, are never deleted, except by the
//!   slot's `session_key_max_age_s` (off by default): keys of another host id older than that are
//!   deleted too. Without it, leftovers of other hosts (or from before a reboot) stay until that
//!   rule or an administrator removes them (README, "Session objects").
//! - No session key is ever shown as a token object, to this process or another.

use crate::mechanism::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// What follows the slot's label prefix in every session key label.
pub(crate) const MARKER: &str = ".p11s.";

/// Longest host name kept in a label (it is for people only).
const MAX_HOSTNAME: usize = 24;

/// A process that owns session keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    /// See the module docs.
    pub(crate) host_id: String,
    pub(crate) pid: u32,
    /// Start time in clock ticks since boot (0 when unknown).
    pub(crate) start: u64,
    /// Host name, reduced to `[a-z0-9-]` (for people).
    pub(crate) hostname: String,
}

impl Owner {
    /// This process (computed once per process; a forked child computes its own, see
    /// [`Owner::me`]).
    pub(crate) fn me() -> Owner {
        static ME: OnceLock<(u32, Owner)> = OnceLock::new();
        let pid = std::process::id();
        match ME.get() {
            Some((p, o)) if *p == pid => o.clone(),
            // After fork() the child is another owner: never the parent's keys.
            _ => {
                let o = Owner::compute(pid);
                let _ = ME.set((pid, o.clone()));
                o
            }
        }
    }

    fn compute(pid: u32) -> Owner {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let pidns = std::fs::read_link("/proc/self/ns/pid")
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let boot = read("/proc/sys/kernel/random/boot_id");
        let hostname = read("/proc/sys/kernel/hostname").trim().to_string();
        let host_id = if boot.trim().is_empty() {
            // Without a boot id no other process could ever check this one: a random id, so
            // nobody takes these keys for a dead process's (only the age rule removes them).
            let mut b = [0u8; 6];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
            hex(&b)
        } else {
            let material = format!(
                "{}\0{pidns}\0{}\0{hostname}",
                boot.trim(),
                read("/etc/machine-id").trim()
            );
            hex(&Hash::Sha256.digest(material.as_bytes())[..6])
        };
        Owner {
            host_id,
            pid,
            start: start_time(pid).unwrap_or(0),
            hostname: hostname
                .to_ascii_lowercase()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .take(MAX_HOSTNAME)
                .collect(),
        }
    }

    /// Whether this owner is a process running now, as far as this process can tell: `Some(true)`
    /// alive, `Some(false)` gone (no such pid, or a pid used again by a process that started at
    /// another time), `None` cannot tell (another host id, or /proc unreadable).
    pub(crate) fn alive(&self) -> Option<bool> {
        if self.host_id != Owner::me().host_id {
            return None;
        }
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(false),
            Err(_) => None,
            Ok(stat) => parse_start(&stat).map(|s| s == self.start),
        }
    }
}

/// A session key's label, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionLabel {
    pub(crate) owner: Owner,
    /// Unix seconds.
    pub(crate) created: u64,
}

/// Whether a TSB label (with the slot's prefix) is a session key's: such keys are never shown as
/// token objects (an unreadable one neither).
pub(crate) fn is_session_label(prefix: &str, tsb_label: &str) -> bool {
    tsb_label
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with(MARKER))
}

/// A new session key label for this process.
pub(crate) fn new_label(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    let me = Owner::me();
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let head = format!(
        "{prefix}{MARKER}{}.{}.{}.{created}.{n}.",
        me.host_id, me.pid, me.start
    );
    // The host name is for people: cut so the label stays within the module's label rule.
    let room = super::label::MAX_LABEL_LEN.saturating_sub(head.len());
    let host: String = me.hostname.chars().take(room).collect();
    format!("{head}{host}")
}

/// Parse a session key label (None: not one, or not readable).
pub(crate) fn parse(prefix: &str, tsb_label: &str) -> Option<SessionLabel> {
    let rest = tsb_label.strip_prefix(prefix)?.strip_prefix(MARKER)?;
    let mut parts = rest.splitn(6, '.');
    let host_id = parts.next()?.to_string();
    if host_id.len() != 12 || !host_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let pid = parts.next()?.parse().ok()?;
    let start = parts.next()?.parse().ok()?;
    let created = parts.next()?.parse().ok()?;
    let _n: u64 = parts.next()?.parse().ok()?;
    let hostname = parts.next().unwrap_or("").to_string();
    Some(SessionLabel {
        owner: Owner {
            host_id,
            pid,
            start,
            hostname,
        },
        created,
    })
}

/// Whether this process owns the key of this label (it created it, and it is not a forked copy).
pub(crate) fn is_mine(prefix: &str, tsb_label: &str) -> bool {
    parse(prefix, tsb_label).is_some_and(|l| l.owner == Owner::me())
}

/// Why a leftover may be deleted by this process, or None when it must stay: its own keys
/// (deleted by their sessions), keys of a live process, and keys whose owner cannot be checked
/// unless `max_age` says they are old enough.
pub(crate) fn reapable(
    prefix: &str,
    tsb_label: &str,
    max_age: Option<std::time::Duration>,
    now: u64,
) -> Option<&'static str> {
    let l = parse(prefix, tsb_label)?;
    if l.owner == Owner::me() {
        return None;
    }
    match l.owner.alive() {
        Some(true) => None,
        Some(false) => Some("its process is gone"),
        None => {
            let age = now.saturating_sub(l.created);
            match max_age {
                Some(max) if age > max.as_secs() => {
                    Some("its owner cannot be checked and it is older than session_key_max_age_s")
                }
                _ => None,
            }
        }
    }
}

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The start time of process `pid` (`/proc/{pid}/stat` field 22).
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    parse_start(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Field 22 of a `/proc/{pid}/stat` line. The command name (field 2) may hold spaces and
/// parentheses, so the fields are counted after its last `)`.
fn parse_start(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // After ")": field 3 (state) is the first; field 22 is the 20th.
    after.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_are_recognised() {
        let l = new_label("ci-");
        assert!(l.starts_with("ci-.p11s."), "{l}");
        assert!(l.len() <= super::super::label::MAX_LABEL_LEN);
        super::super::label::validate(&l).expect("a label the module may create");
        assert!(is_session_label("ci-", &l));
        assert!(!is_session_label("other-", &l));
        assert!(!is_session_label("ci-", "ci-release-key"));
        let p = parse("ci-", &l).expect("parse");
        assert_eq!(p.owner, Owner::me());
        assert!(is_mine("ci-", &l));
        assert_ne!(new_label("ci-"), l, "unique");
        // A long prefix shortens only the host name.
        let long = "p".repeat(60);
        let l = new_label(&long);
        assert!(l.len() <= super::super::label::MAX_LABEL_LEN, "{}", l.len());
        assert!(parse(&long, &l).is_some());
    }

    #[test]
    fn stat_start_time_is_field_22_even_with_odd_command_names() {
        let stat = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 123456 19 20";
        assert_eq!(parse_start(stat), Some(123456));
        assert!(start_time(std::process::id()).is_some_and(|s| s > 0));
    }

    #[test]
    fn only_dead_processes_and_old_foreign_keys_are_reapable() {
        let me = Owner::me();
        let label = |o: &Owner, created: u64| {
            format!(
                "x{MARKER}{}.{}.{}.{created}.1.{}",
                o.host_id, o.pid, o.start, o.hostname
            )
        };
        let now = now();
        // Mine: never (my sessions delete them).
        assert_eq!(reapable("x", &label(&me, 0), None, now), None);
        // A live process (pid 1 with its real start time): never.
        let init = Owner {
            pid: 1,
            start: start_time(1).expect("pid 1"),
            ..me.clone()
        };
        assert_eq!(reapable("x", &label(&init, 0), None, now), None);
        // The same pid with another start time: the pid was used again, the owner is gone.
        let reused = Owner {
            start: init.start + 1,
            ..init.clone()
        };
        assert!(reapable("x", &label(&reused, now), None, now).is_some());
        // A pid that does not exist.
        let gone = Owner {
            pid: u32::MAX - 1,
            ..me.clone()
        };
        assert!(reapable("x", &label(&gone, now), None, now).is_some());
        // Another host: only by age, and only with the age rule on.
        let foreign = Owner {
            host_id: "000000000000".into(),
            pid: u32::MAX - 1,
            ..me.clone()
        };
        let day = std::time::Duration::from_secs(86400);
        assert_eq!(reapable("x", &label(&foreign, 0), None, now), None);
        assert_eq!(reapable("x", &label(&foreign, now), Some(day), now), None);
        assert!(reapable("x", &label(&foreign, now - 2 * 86400), Some(day), now).is_some());
        // Not a session label at all: never.
        assert_eq!(reapable("x", "x-release", Some(day), now), None);
    }
}
