//! Issue 10: `c-examples/hostile.c` calls every entry point of the module (the 2.40 function
//! list, the PKCS#11 3.0 interface and the vendor TSB_ functions) with hostile arguments: NULL
//! pointers, zero and huge lengths, invalid handles, wrong states, before C_Initialize and after
//! C_Finalize, double initialization and finalization, length queries then too-small buffers; it
//! checks the CK_RV of each call. It runs against an in-process emulator, once plainly and once
//! under valgrind (`--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite`), which
//! must report no error.
//!
//! Tools: cc, make, pkg-config + libp11-kit-dev (pkcs11.h), valgrind. A missing tool fails the test
//! with the Debian package to install.

mod common;

use common::{direct, module_path, temp_dir};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tsb_emulator::{Emulator, EmulatorConfig};

fn require(tool: &str, package: &str) {
    if let Err(e) = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        panic!(
            "{tool} is needed by this test and could not be run ({e}): apt-get install {package}"
        );
    }
}

/// `make` the C programs into `out` (never into the source tree); the path of `hostile`.
fn build(out: &Path) -> PathBuf {
    require("cc", "gcc");
    require("make", "make");
    require("pkg-config", "pkg-config");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new("make")
        .arg("-C")
        .arg(root.join("c-examples"))
        .arg(format!("O={}", out.display()))
        .arg(format!("TSB_INCLUDE={}", root.join("include").display()))
        .arg(out.join("hostile"))
        .output()
        .expect("run make");
    assert!(
        o.status.success(),
        "make hostile failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("-Wall -Wextra -Werror"),
        "hostile.c must be built with -Wall -Wextra -Werror"
    );
    out.join("hostile")
}

/// Exit success, stdout, stderr of a command run with a deadline (killed and failed after it).
fn run(mut cmd: Command, timeout: Duration) -> (bool, String, String) {
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
            panic!(
                "{cmd:?} did not finish in {timeout:?}\n{}{}",
                t_out.join().unwrap(),
                t_err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.success(),
        t_out.join().unwrap(),
        t_err.join().unwrap(),
    )
}

#[test]
fn hostile_calls_get_their_ck_rv_and_valgrind_finds_no_error() {
    require("valgrind", "valgrind");
    let dir = temp_dir("hostile");
    let bin = build(&dir.join("build"));
    let emu = Emulator::start(EmulatorConfig::default()).expect("start emulator");
    direct::create_key(&emu, "hostile-ec", "p256", None);
    direct::create_key(&emu, "hostile-rsa", "rsa", None);
    let log = dir.join("module.log");
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "slots": [{"label": "hostile", "url": emu.base_url(), "allow_http": true,
                       "progress": false}],
            "log_level": "debug",
            "log_file": log,
        })
        .to_string(),
    )
    .unwrap();
    let cmd = |valgrind: bool| {
        let mut c = if valgrind {
            let mut c = Command::new("valgrind");
            c.args([
                "--error-exitcode=1",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--quiet",
            ])
            .arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        c.arg("-m")
            .arg(module_path())
            .env("TSB_PKCS11_CONFIG", &config)
            .env_remove("TSB_PKCS11_URL")
            .env_remove("TSB_PKCS11_LOG")
            .env_remove("TSB_PKCS11_LOG_FILE");
        c
    };
    for valgrind in [false, true] {
        let started = Instant::now();
        let (ok, stdout, stderr) = run(cmd(valgrind), Duration::from_secs(600));
        let what = if valgrind { "under valgrind" } else { "plain" };
        let all = format!("--- stdout\n{stdout}--- stderr\n{stderr}");
        let summary = stdout
            .lines()
            .find(|l| l.starts_with("hostile: "))
            .unwrap_or_else(|| panic!("hostile {what} printed no summary:\n{all}"));
        assert!(
            summary.ends_with(" 0 unexpected"),
            "hostile {what}: {summary}\n{all}"
        );
        let checked: u64 = summary
            .trim_start_matches("hostile: ")
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(checked > 400, "only {checked} calls checked:\n{all}");
        assert!(
            ok,
            "hostile {what} failed (valgrind errors or leaks):\n{all}"
        );
        assert!(
            !stderr.contains("definitely lost") && !stderr.contains("Invalid read"),
            "{all}"
        );
        eprintln!("hostile {what}: {summary} in {:?}", started.elapsed());
    }
    emu.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
