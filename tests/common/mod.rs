//! Shared harness of the module's integration tests: the built `.so` loaded through the `cryptoki`
//! crate against an in-process `tsb-emulator` on a free loopback port.
//!
//! PKCS#11 state is per process (the configuration is read at C_Initialize), so every test runs in
//! a child process of its own: the `isolated!` macro re-runs the test binary for just that test
//! with a marker in the environment, and the parent asserts that the child passed.

#![allow(dead_code)]

pub mod cexamples;
pub mod direct;
pub mod doors;
pub mod interop;
pub mod pe;
pub mod tls;
pub mod tools;
pub mod vectors;
pub mod vendor;

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use std::path::{Path, PathBuf};
use std::process::Command;
use tsb_approve::{Approver, ApproverKey, KeyKind};
use tsb_emulator::{Emulator, EmulatorConfig};

/// The module under test: `TSB_PKCS11_MODULE` when set (CI points it at the installed
/// package's module), else the one cargo built for this test run.
pub fn module_path() -> PathBuf {
    if let Some(m) = std::env::var_os("TSB_PKCS11_MODULE") {
        let m = PathBuf::from(m);
        assert!(
            m.is_file(),
            "TSB_PKCS11_MODULE={} is not a file",
            m.display()
        );
        return m;
    }
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps dir");
    for cand in [
        deps.join("libtsb_pkcs11.so"),
        deps.parent().expect("target dir").join("libtsb_pkcs11.so"),
    ] {
        if cand.exists() {
            return cand;
        }
    }
    panic!("libtsb_pkcs11.so not found next to {}", exe.display());
}

const CHILD_VAR: &str = "TSB_PKCS11_TEST_CHILD";

/// Run `body` in a child process (see the module docs). In the child, runs it directly.
pub fn run_isolated(name: &str, body: fn()) {
    if std::env::var(CHILD_VAR).ok().as_deref() == Some(name) {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let child = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, name)
        .env_remove("TSB_PKCS11_CONFIG")
        .env_remove("TSB_PKCS11_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn child test");
    // A hang (say, in C_Finalize) must fail the test, not stall the run.
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(std::time::Duration::from_secs(180)) {
        Ok(out) => out.expect("wait for child test"),
        Err(_) => {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("isolated test {name} did not finish within 180 s");
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "isolated test {name} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}

/// `isolated!(fn name() { ... })`: a #[test] that runs in its own process.
#[macro_export]
macro_rules! isolated {
    ($(#[$m:meta])* fn $name:ident() $body:block) => {
        $(#[$m])*
        #[test]
        fn $name() {
            fn body() $body
            common::run_isolated(stringify!($name), body);
        }
    };
}

/// A running emulator and the module configured for it (inside an isolated child).
pub struct Env {
    pub emu: Emulator,
    pub pkcs11: Pkcs11,
    pub slot: Slot,
    pub dir: PathBuf,
    pub approver: Approver,
}

/// How to configure the module.
#[derive(Default)]
pub struct Opts {
    /// Extra JSON fields for the slot (merged into the config file).
    pub slot_json: Option<serde_json::Value>,
    /// Extra environment variables set before C_Initialize.
    pub env: Vec<(String, String)>,
    /// Use the environment-only configuration instead of a file.
    pub env_only: bool,
    /// Emulator config tweaks.
    pub emulator: Option<EmulatorConfig>,
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tsb-pkcs11-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

impl Env {
    pub fn new(opts: Opts) -> Env {
        let mut cfg = opts.emulator.unwrap_or_default();
        cfg.test_controls = true;
        let emu = Emulator::start(cfg).expect("start emulator");
        let dir = temp_dir("env");
        // Only this test's thread and the emulator's threads exist in this child process, and the
        // emulator never reads the environment, so setting variables here races with nothing.
        if opts.env_only {
            std::env::set_var("TSB_PKCS11_URL", emu.base_url());
            std::env::set_var("TSB_PKCS11_ALLOW_HTTP", "1");
        } else {
            let mut slot = serde_json::json!({
                "label": "test-tsb",
                "url": emu.base_url(),
                "allow_http": true,
                "progress": false,
                "poll_interval_ms": 20,
                "poll_max_interval_ms": 100,
            });
            if let Some(serde_json::Value::Object(extra)) = opts.slot_json {
                for (k, v) in extra {
                    slot[k] = v;
                }
            }
            let path = dir.join("config.json");
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&serde_json::json!({"slots": [slot]})).unwrap(),
            )
            .unwrap();
            std::env::set_var("TSB_PKCS11_CONFIG", &path);
        }
        for (k, v) in &opts.env {
            std::env::set_var(k, v);
        }
        let pkcs11 = Pkcs11::new(module_path()).expect("load module");
        pkcs11
            .initialize(CInitializeArgs::OsThreads)
            .expect("C_Initialize");
        let slot = pkcs11.get_slots_with_token().expect("slots")[0];
        let approver = Approver::new(&emu.base_url(), ApproverKey::generate(KeyKind::EcP256));
        Env {
            emu,
            pkcs11,
            slot,
            dir,
            approver,
        }
    }

    pub fn session(&self) -> Session {
        self.pkcs11
            .open_rw_session(self.slot)
            .expect("open session")
    }

    /// A policy with one token, one group, quorum 1 of this env's approver; timeout in seconds.
    pub fn policy(&self, timeout: u64) -> serde_json::Value {
        policy_for(&[self.approver.key().public_key_b64()], 1, timeout)
    }

    /// Approve every task of the next `n` requests as they appear (background thread).
    pub fn auto_approve(
        &self,
        n: usize,
    ) -> std::thread::JoinHandle<Result<tsb_approve::WatchOutcome, tsb_approve::ApproveError>> {
        self.approver.spawn_auto_approve(
            Default::default(),
            Some(n),
            Some(std::time::Duration::from_secs(60)),
        )
    }

    pub fn count(&self, method: &str, path: &str) -> u64 {
        self.emu.request_count(method, path)
    }
}

pub use direct::policy_for;

#[allow(unused_imports)] // not every test binary has vectors
pub use vectors::hex;

/// The CK_RV of a cryptoki error.
pub fn rv(e: cryptoki::error::Error) -> cryptoki::error::RvError {
    match e {
        cryptoki::error::Error::Pkcs11(rv, _) => rv,
        other => panic!("not a PKCS#11 error: {other:?}"),
    }
}

/// CKA_EC_PARAMS for a curve OID (DER OBJECT IDENTIFIER).
pub fn ec_params(oid: &str) -> Vec<u8> {
    let obj = openssl::asn1::Asn1Object::from_str(oid).unwrap();
    let mut v = vec![0x06, obj.as_slice().len() as u8];
    v.extend_from_slice(obj.as_slice());
    v
}

/// Write bytes to a file in `dir` and return its path.
pub fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// Run the openssl CLI; panics with its output on failure.
pub fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {:?} failed: {}{}",
        args,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Raw access to the module's C functions, for what the `cryptoki` crate hides (exact vendor
/// CK_RVs, short buffers, NULL pointers). Shares the module instance cryptoki loaded (same path,
/// same dlopen handle).
pub mod raw {
    use cryptoki_sys::*;

    pub fn fns() -> &'static CK_FUNCTION_LIST {
        let path = std::ffi::CString::new(super::module_path().to_str().unwrap()).unwrap();
        unsafe {
            let h = libc::dlopen(path.as_ptr(), libc::RTLD_NOW);
            assert!(!h.is_null(), "dlopen module");
            let sym = libc::dlsym(h, c"C_GetFunctionList".as_ptr());
            assert!(!sym.is_null());
            let get: unsafe extern "C" fn(*mut *mut CK_FUNCTION_LIST) -> CK_RV =
                std::mem::transmute(sym);
            let mut list = std::ptr::null_mut();
            assert_eq!(get(&mut list), CKR_OK);
            &*list
        }
    }

    pub fn open_session(slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
        let f = fns();
        let mut h = 0;
        let rv = unsafe {
            f.C_OpenSession.unwrap()(
                slot,
                CKF_SERIAL_SESSION | CKF_RW_SESSION,
                std::ptr::null_mut(),
                None,
                &mut h,
            )
        };
        assert_eq!(rv, CKR_OK);
        h
    }

    pub fn find_one(s: CK_SESSION_HANDLE, label: &str, class: CK_OBJECT_CLASS) -> CK_OBJECT_HANDLE {
        let f = fns();
        let mut class = class;
        let mut t = [
            CK_ATTRIBUTE {
                type_: CKA_LABEL,
                pValue: label.as_ptr() as *mut _,
                ulValueLen: label.len() as CK_ULONG,
            },
            CK_ATTRIBUTE {
                type_: CKA_CLASS,
                pValue: &mut class as *mut _ as *mut _,
                ulValueLen: std::mem::size_of::<CK_ULONG>() as CK_ULONG,
            },
        ];
        unsafe {
            assert_eq!(f.C_FindObjectsInit.unwrap()(s, t.as_mut_ptr(), 2), CKR_OK);
            let mut h = 0;
            let mut n = 0;
            assert_eq!(f.C_FindObjects.unwrap()(s, &mut h, 1, &mut n), CKR_OK);
            assert_eq!(f.C_FindObjectsFinal.unwrap()(s), CKR_OK);
            assert_eq!(n, 1, "key {label} not found");
            h
        }
    }

    /// C_SignInit + C_Sign with an output buffer of `cap` bytes (None = length query).
    pub fn sign(
        s: CK_SESSION_HANDLE,
        key: CK_OBJECT_HANDLE,
        mech: CK_MECHANISM_TYPE,
        data: &[u8],
        cap: Option<usize>,
    ) -> (CK_RV, Vec<u8>, CK_ULONG) {
        let f = fns();
        let mut m = CK_MECHANISM {
            mechanism: mech,
            pParameter: std::ptr::null_mut(),
            ulParameterLen: 0,
        };
        unsafe {
            let rv = f.C_SignInit.unwrap()(s, &mut m, key);
            if rv != CKR_OK {
                return (rv, vec![], 0);
            }
        }
        sign_again(s, data, cap)
    }

    /// C_Sign on an already initialized operation.
    pub fn sign_again(
        s: CK_SESSION_HANDLE,
        data: &[u8],
        cap: Option<usize>,
    ) -> (CK_RV, Vec<u8>, CK_ULONG) {
        let f = fns();
        let mut buf = vec![0u8; cap.unwrap_or(0)];
        let mut len = cap.unwrap_or(0) as CK_ULONG;
        let out = if cap.is_some() {
            buf.as_mut_ptr()
        } else {
            std::ptr::null_mut()
        };
        let rv = unsafe {
            f.C_Sign.unwrap()(
                s,
                data.as_ptr() as *mut _,
                data.len() as CK_ULONG,
                out,
                &mut len,
            )
        };
        if rv == CKR_OK && cap.is_some() {
            buf.truncate(len as usize);
        }
        (rv, buf, len)
    }

    pub fn device_error(s: CK_SESSION_HANDLE) -> CK_ULONG {
        let f = fns();
        let mut info = CK_SESSION_INFO {
            slotID: 0,
            state: 0,
            flags: 0,
            ulDeviceError: 0,
        };
        assert_eq!(unsafe { f.C_GetSessionInfo.unwrap()(s, &mut info) }, CKR_OK);
        info.ulDeviceError
    }
}

/// A function of the loaded module by name (not the copy linked into the test binary, whose
/// global state is separate).
pub fn module_symbol(name: &str) -> *mut std::ffi::c_void {
    let path = std::ffi::CString::new(module_path().to_str().unwrap()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    unsafe {
        let h = libc::dlopen(path.as_ptr(), libc::RTLD_NOW);
        assert!(!h.is_null());
        let s = libc::dlsym(h, name.as_ptr());
        assert!(!s.is_null(), "symbol missing");
        s
    }
}
