//! Logging to stderr or a file, level from `TSB_PKCS11_LOG` (off, error, warn, info, debug,
//! trace; default warn), file from `TSB_PKCS11_LOG_FILE` or the config's `log_file`. Never
//! stdout: programs print their machine-readable output there.
//!
//! No secret is ever passed to these functions: tokens, API keys, PINs and key passwords are held in
//! types whose `Debug` redacts them, and REST calls log only method, path, status, time and request id.

use once_cell::sync::OnceCell;
use parking_lot::Mutex;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

/// Log levels, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl Level {
    /// Parse a level name (case-insensitive).
    pub(crate) fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Warn as u8);
static SINK: OnceCell<Mutex<Option<std::fs::File>>> = OnceCell::new();

/// (Re)configure from the environment and an optional file from the config. Called by C_Initialize;
/// never fails (a log file that cannot be opened falls back to stderr with one warning).
pub(crate) fn init(config_level: Option<&str>, config_file: Option<&str>) {
    let env_level = std::env::var("TSB_PKCS11_LOG").ok();
    let level = match env_level.as_deref().or(config_level) {
        Some(s) if matches!(s.trim().to_ascii_lowercase().as_str(), "off" | "none") => 0,
        Some(s) => Level::parse(s).unwrap_or(Level::Warn) as u8,
        None => Level::Warn as u8,
    };
    LEVEL.store(level, Ordering::Relaxed);
    let file = std::env::var("TSB_PKCS11_LOG_FILE")
        .ok()
        .or_else(|| config_file.map(str::to_owned));
    let sink = SINK.get_or_init(|| Mutex::new(None));
    let mut guard = sink.lock();
    *guard = None;
    if let Some(path) = file {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(f) => *guard = Some(f),
            Err(e) => {
                drop(guard);
                log(
                    Level::Warn,
                    &format!("cannot open log file {path}: {e}; logging to stderr"),
                );
            }
        }
    }
}

/// Set the level (None: off), whatever the environment and the config say: for a program that
/// links the crate and keeps its own output to itself (`tsb-pkcs11-doctor`).
pub(crate) fn set_level(level: Option<Level>) {
    LEVEL.store(level.map_or(0, |l| l as u8), Ordering::Relaxed);
}

/// Whether messages of `level` are written.
pub(crate) fn enabled(level: Level) -> bool {
    (level as u8) <= LEVEL.load(Ordering::Relaxed)
}

/// Write one line (a message with line breaks still makes one line: they become spaces).
pub(crate) fn log(level: Level, msg: &str) {
    if !enabled(level) {
        return;
    }
    let msg = if msg.contains(['\n', '\r']) {
        std::borrow::Cow::Owned(msg.replace(['\n', '\r'], " "))
    } else {
        std::borrow::Cow::Borrowed(msg)
    };
    let line = format!(
        "tsb-pkcs11[{}] {}: {}\n",
        std::process::id(),
        level.name(),
        msg
    );
    #[cfg(test)]
    if CAPTURED
        .with(|c| c.borrow_mut().as_mut().map(|v| v.push(line.clone())))
        .is_some()
    {
        return;
    }
    if let Some(sink) = SINK.get() {
        let mut g = sink.lock();
        if let Some(f) = g.as_mut() {
            let _ = f.write_all(line.as_bytes());
            return;
        }
    }
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The one line of a failed call, written where the call returns to the application (the C
/// boundary, `ffi::guard`) and nowhere else, so that every failure the person must fix is told
/// exactly once: what failed (`function` and the error, with the TSB's `errorCode` and `reason`
/// when there is one) and what to do ([`Error::remedy`]). The layers below return errors and do
/// not log them (only what they recover from, at most once). Failures that are the calling
/// program's own business (a wrong state, a small buffer, a probe) go to the debug level.
pub(crate) fn report(function: &str, e: &crate::error::Error) {
    if e.is_for_the_user() {
        if enabled(Level::Error) {
            let remedy = e.remedy().map(|r| format!("; {r}")).unwrap_or_default();
            log(Level::Error, &format!("{function}: {e}{remedy}"));
        }
    } else {
        crate::log!(Level::Debug, "{function}: {e}");
    }
}

#[cfg(test)]
thread_local! {
    static CAPTURED: std::cell::RefCell<Option<Vec<String>>> = const { std::cell::RefCell::new(None) };
}

/// Run `f` and return the lines it logged on this thread (at the enabled levels, warnings and
/// errors by default) instead of writing them: tests that run side by side in one process each
/// see their own lines.
#[cfg(test)]
pub(crate) fn capture<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let before = CAPTURED.with(|c| c.borrow_mut().replace(Vec::new()));
    let r = f();
    let lines = CAPTURED.with(|c| std::mem::replace(&mut *c.borrow_mut(), before));
    (r, lines.unwrap_or_default())
}

/// `log!(Level::Info, "x {}", y)`: formats only when the level is enabled.
#[macro_export]
macro_rules! log {
    ($lvl:expr, $($arg:tt)*) => {
        if $crate::log::enabled($lvl) {
            $crate::log::log($lvl, &format!($($arg)*));
        }
    };
}
