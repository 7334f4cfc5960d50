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

use common::cexamples::make;
use common::tools::{run_until, tool};
use common::{direct, module_path, temp_dir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tsb_emulator::{Emulator, EmulatorConfig};

/// `make` the C programs into `out` (never into the source tree); the path of `hostile`.
fn build(out: &Path) -> PathBuf {
    let log = make(out, &out.join("hostile").display().to_string());
    assert!(
        log.contains("-Wall -Wextra -Werror"),
        "hostile.c must be built with -Wall -Wextra -Werror:\n{log}"
    );
    out.join("hostile")
}

#[test]
fn hostile_calls_get_their_ck_rv_and_valgrind_finds_no_error() {
    tool("valgrind", "valgrind");
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
        let r = run_until(cmd(valgrind), Duration::from_secs(600));
        let (ok, stdout, stderr) = (r.status.success(), r.stdout, r.stderr);
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
