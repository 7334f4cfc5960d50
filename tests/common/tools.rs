//! Running the tools the tests drive: finding them (a missing tool fails the test with the Debian
//! package to install; `scripts/test.sh` installs them all), and running them with and without a
//! deadline.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Find `name` in PATH, or fail naming the Debian package that provides it.
pub fn tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let cand = dir.join(name);
        if cand.is_file() {
            return cand;
        }
    }
    panic!(
        "`{name}` is not installed: install the Debian package `{package}` \
         (scripts/test.sh installs every package the tests need)"
    );
}

/// The libp11 engine for OpenSSL 3 (`pkcs11.so` in the engines-3 directory).
pub fn engine_path() -> PathBuf {
    let out = Command::new("dpkg")
        .args(["-L", "libengine-pkcs11-openssl"])
        .output();
    if let Ok(out) = out {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.ends_with("/engines-3/pkcs11.so") && Path::new(line).exists() {
                return PathBuf::from(line);
            }
        }
    }
    for cand in [
        "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so",
        "/usr/lib/aarch64-linux-gnu/engines-3/pkcs11.so",
        "/usr/lib64/engines-3/pkcs11.so",
    ] {
        if Path::new(cand).exists() {
            return PathBuf::from(cand);
        }
    }
    panic!(
        "the OpenSSL 3 pkcs11 engine (engines-3/pkcs11.so) is not installed: install the Debian \
         package `libengine-pkcs11-openssl`"
    );
}

/// `tsb-approve`: `TSB_APPROVE_BIN` when set (CI points it at the installed package's), else
/// the one `cargo test --workspace` builds next to the test binaries.
pub fn approve_bin() -> PathBuf {
    if let Some(b) = std::env::var_os("TSB_APPROVE_BIN") {
        let b = PathBuf::from(b);
        assert!(b.is_file(), "TSB_APPROVE_BIN={} is not a file", b.display());
        return b;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let bin = target.join("tsb-approve");
    assert!(
        bin.is_file(),
        "{} is missing: the interop tests run the tsb-approve binary; build it with \
         `cargo build -p tsb-approve` (cargo test --workspace does)",
        bin.display()
    );
    bin
}

/// Output of a finished command as text, for assertions and failure messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Run to completion; panic with the command and its whole output unless it succeeded.
pub fn run_output(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        text(&out)
    );
    out
}

/// [`run_output`], stdout and stderr as one text.
pub fn run(cmd: &mut Command) -> String {
    text(&run_output(cmd))
}

/// A background process killed when dropped, so a failing test leaves nothing behind.
pub struct Bg {
    child: Option<Child>,
    what: String,
}

impl Bg {
    /// Watch `child`; `what` names it in failure messages.
    pub fn new(child: Child, what: &str) -> Bg {
        Bg {
            child: Some(child),
            what: what.into(),
        }
    }

    /// Wait for the process to exit by itself (bounded), returning its output.
    pub fn finish(mut self, limit: Duration) -> Output {
        let mut child = self.child.take().expect("child");
        let deadline = Instant::now() + limit;
        loop {
            if child.try_wait().expect("try_wait").is_some() {
                return child.wait_with_output().expect("output");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "{} did not finish within {limit:?}:\n{}",
                    self.what,
                    text(&out)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What a finished example printed.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }

    pub fn assert_ok(&self, what: &str) {
        assert!(self.status.success(), "{what} failed:\n{}", self.all());
    }
}

/// Run a command with a deadline; kills it and fails the test when the deadline passes.
pub fn run_until(mut cmd: Command, timeout: Duration) -> Run {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let end = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            let (o, e) = (t_out.join().unwrap(), t_err.join().unwrap());
            panic!("{cmd:?} did not finish in {timeout:?}\n--- stdout\n{o}--- stderr\n{e}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}
