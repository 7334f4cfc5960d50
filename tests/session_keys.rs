//! Session key pairs across processes, through the `.so`: a process that exits without
//! C_Finalize deletes its session keys (the module's destructor); a crashed process's keys are
//! deleted by the next process that lists the slot, while a live process's keys never are.
//! Each role runs in a child process of this test binary, against one emulator in the parent.

mod common;

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use tsb_emulator::{Emulator, EmulatorConfig};

const ROLE: &str = "TSB_SESSION_KEYS_ROLE";

/// What a child does (see the module docs); run by [`child_main`].
fn child_main(role: &str) {
    let pkcs11 = Pkcs11::new(common::module_path()).expect("load module");
    pkcs11
        .initialize(CInitializeArgs::OsThreads)
        .expect("C_Initialize");
    let slot = pkcs11.get_slots_with_token().unwrap()[0];
    let s = pkcs11.open_rw_session(slot).unwrap();
    if role == "list" {
        // Any listing of the slot: the first one looks for leftovers.
        let keys = s
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
            .unwrap();
        println!("listed {}", keys.len());
        drop(s);
        pkcs11.finalize();
        return;
    }
    // No CKA_TOKEN: a session key pair, generated in the TSB.
    let (_, private) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(common::ec_params(
                "1.2.840.10045.3.1.7",
            ))],
            &[Attribute::Sign(true)],
        )
        .unwrap();
    s.sign(&Mechanism::EcdsaSha256, private, b"data").unwrap();
    println!("ready");
    std::io::stdout().flush().unwrap();
    match role {
        // Exit without C_Finalize and without closing anything (std::process::exit runs no
        // destructors of ours: cryptoki's would call C_Finalize).
        "exit" => std::process::exit(0),
        "crash" => unsafe { libc::kill(libc::getpid(), libc::SIGKILL) },
        // Hold the key until the parent closes our stdin, then exit without C_Finalize.
        "hold" => {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            std::process::exit(0)
        }
        other => panic!("unknown role {other}"),
    };
}

/// Spawn this binary in `role` with the module configured for `config`; returns it once it
/// printed its first line.
fn spawn(role: &str, config: &std::path::Path) -> (std::process::Child, String) {
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args([
            "session_keys_outlive_no_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env("TSB_PKCS11_CONFIG", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(c.stdout.take().unwrap());
    let mut first = String::new();
    loop {
        first.clear();
        assert!(out.read_line(&mut first).unwrap() > 0, "{role}: no output");
        // The test harness prints its own text first, on the same line too.
        if let Some(i) = first.find("ready").or_else(|| first.find("listed")) {
            first = first[i..].trim().to_string();
            break;
        }
    }
    std::thread::spawn(move || for _ in out.lines() {});
    (c, first)
}

fn labels(emu: &Emulator) -> Vec<String> {
    reqwest::blocking::Client::new()
        .get(format!("{}/v1/key", emu.base_url()))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn session_keys_outlive_no_process() {
    if let Ok(role) = std::env::var(ROLE) {
        child_main(&role);
        return;
    }
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let dir = common::temp_dir("session-keys");
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({"slots": [{"url": emu.base_url(), "allow_http": true, "progress": false}]})
            .to_string(),
    )
    .unwrap();
    // 1. Exit without C_Finalize: the destructor deletes the key.
    let (mut c, _) = spawn("exit", &config);
    assert!(c.wait().unwrap().success());
    assert!(labels(&emu).is_empty(), "{:?}", labels(&emu));
    // 2. A live process's key survives another process's listing.
    let (mut holder, _) = spawn("hold", &config);
    assert_eq!(labels(&emu).len(), 1);
    let (mut lister, line) = spawn("list", &config);
    assert_eq!(line, "listed 0", "a session key is no token object");
    assert!(lister.wait().unwrap().success());
    assert_eq!(labels(&emu).len(), 1, "the live process's key is kept");
    // 3. A crash leaves the key behind; the next listing deletes it (same host, process gone).
    let (mut crasher, _) = spawn("crash", &config);
    let _ = crasher.wait();
    assert_eq!(labels(&emu).len(), 2);
    let (mut lister, _) = spawn("list", &config);
    assert!(lister.wait().unwrap().success());
    assert_eq!(
        labels(&emu).len(),
        1,
        "the crashed process's key is gone, the holder's kept"
    );
    // 4. The holder exits (without C_Finalize): its key goes with it.
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    assert!(labels(&emu).is_empty(), "{:?}", labels(&emu));
}
