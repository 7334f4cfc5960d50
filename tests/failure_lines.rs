//! Issue 17: every failure whose cause the person must fix prints exactly one line on stderr at
//! the default log level, naming what failed, the TSB's errorCode and reason when there is one,
//! and what to do; normal operation (a signature, a length query, a CKR_BUFFER_TOO_SMALL retry)
//! prints nothing, and stdout never gets module text. Each test runs the built module in a
//! process of its own with the real file descriptors 1 and 2 redirected around the calls.

mod common;

use common::{raw, Env, Opts};
use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki_sys::*;
use std::io::Read;
use std::path::Path;
use tsb_emulator::{EmulatorConfig, FaultAction, TlsFiles};

/// What the process wrote on stdout and stderr while `f` ran.
struct Written {
    stdout: String,
    stderr: String,
}

impl Written {
    /// The module's lines on stderr.
    fn lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("tsb-pkcs11["))
            .collect()
    }

    /// Exactly one module line, at ERROR, containing every one of `words`; nothing on stdout.
    fn one_line(&self, words: &[&str]) -> String {
        let lines = self.lines();
        assert_eq!(lines.len(), 1, "stderr:\n{}", self.stderr);
        let l = lines[0];
        assert!(l.contains(" ERROR: "), "{l}");
        for w in words {
            assert!(l.contains(w), "{w:?} missing in: {l}");
        }
        self.nothing_on_stdout();
        // The line as a person sees it (shown with --nocapture).
        println!("the one line: {l}");
        l.to_string()
    }

    fn nothing(&self) {
        assert!(self.lines().is_empty(), "stderr:\n{}", self.stderr);
        self.nothing_on_stdout();
    }

    fn nothing_on_stdout(&self) {
        assert!(
            !self.stdout.contains("tsb-pkcs11"),
            "module text on stdout:\n{}",
            self.stdout
        );
    }
}

/// Run `f` with file descriptors 1 and 2 going to files; what it wrote, and its result.
fn written<T>(f: impl FnOnce() -> T) -> (T, Written) {
    let dir = common::temp_dir("written");
    let (out_path, err_path) = (dir.join("stdout"), dir.join("stderr"));
    let out = std::fs::File::create(&out_path).unwrap();
    let err = std::fs::File::create(&err_path).unwrap();
    use std::os::fd::AsRawFd;
    let (saved_out, saved_err) = unsafe { (libc::dup(1), libc::dup(2)) };
    assert!(saved_out >= 0 && saved_err >= 0);
    unsafe {
        libc::dup2(out.as_raw_fd(), 1);
        libc::dup2(err.as_raw_fd(), 2);
    }
    let r = f();
    unsafe {
        libc::dup2(saved_out, 1);
        libc::dup2(saved_err, 2);
        libc::close(saved_out);
        libc::close(saved_err);
    }
    let read = |p: &Path| {
        let mut s = String::new();
        std::fs::File::open(p)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        s
    };
    let w = Written {
        stdout: read(&out_path),
        stderr: read(&err_path),
    };
    (r, w)
}

/// C_FindObjectsInit + C_FindObjects + C_FindObjectsFinal over every object (what
/// `pkcs11-tool -O` does first); the CK_RV of the init.
fn list_objects() -> CK_RV {
    let f = raw::fns();
    let s = raw::open_session(0);
    unsafe {
        let rv = f.C_FindObjectsInit.unwrap()(s, std::ptr::null_mut(), 0);
        if rv == CKR_OK {
            let mut h = 0;
            let mut n = 0;
            f.C_FindObjects.unwrap()(s, &mut h, 1, &mut n);
            f.C_FindObjectsFinal.unwrap()(s);
        }
        rv
    }
}

fn gen_p256(s: &cryptoki::session::Session, label: &str, policy: Option<serde_json::Value>) {
    let mut private = vec![Attribute::Label(label.into()), Attribute::Sign(true)];
    if let Some(p) = policy {
        private.push(Attribute::VendorDefined((
            cryptoki::object::AttributeType::VendorDefined(0xD453_0001),
            p.to_string().into_bytes(),
        )));
    }
    s.generate_key_pair(
        &Mechanism::EccKeyPairGen,
        &[
            Attribute::EcParams(common::ec_params("1.2.840.10045.3.1.7")),
            Attribute::Label(label.into()),
        ],
        &private,
    )
    .expect("C_GenerateKeyPair");
}

isolated!(
    fn no_bearer_token() {
        let env = Env::new(Opts {
            emulator: Some(EmulatorConfig {
                bearer_token: Some("the-right-jwt".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        let _ = &env;
        let (rv, w) = written(list_objects);
        assert_eq!(rv, CKR_USER_NOT_LOGGED_IN);
        w.one_line(&[
            "C_FindObjectsInit",
            "errorCode 406",
            "res.error.missing.access.token",
            "set `token`",
            "TSB_PKCS11_TOKEN",
        ]);
    }
);

isolated!(
    fn a_wrong_bearer_token() {
        let env = Env::new(Opts {
            emulator: Some(EmulatorConfig {
                bearer_token: Some("the-right-jwt".into()),
                ..Default::default()
            }),
            env: vec![("TSB_PKCS11_TOKEN".into(), "a-wrong-jwt".into())],
            ..Default::default()
        });
        let s = env.session();
        let (r, w) = written(|| {
            s.generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[Attribute::EcParams(common::ec_params(
                    "1.2.840.10045.3.1.7",
                ))],
                &[Attribute::Label("k".into()), Attribute::Sign(true)],
            )
        });
        assert_eq!(
            common::rv(r.unwrap_err()),
            cryptoki::error::RvError::UserNotLoggedIn
        );
        let l = w.one_line(&[
            "C_GenerateKeyPair",
            "errorCode 617",
            "res.error.invalid.access.token",
            "renew `token`",
        ]);
        assert!(
            !l.contains("a-wrong-jwt"),
            "the token itself is never logged: {l}"
        );
    }
);

isolated!(
    fn a_default_policy_with_an_invalid_approver_key() {
        let emu = tsb_emulator::Emulator::start(EmulatorConfig::default()).unwrap();
        let dir = common::temp_dir("bad-policy");
        let config = dir.join("config.json");
        let policy = common::policy_for(&["bm90IGEga2V5".into()], 1, 600);
        std::fs::write(
            &config,
            serde_json::to_string_pretty(&serde_json::json!({"slots": [{
                "url": emu.base_url(), "allow_http": true, "default_policy": policy
            }]}))
            .unwrap(),
        )
        .unwrap();
        std::env::set_var("TSB_PKCS11_CONFIG", &config);
        let pkcs11 = Pkcs11::new(common::module_path()).unwrap();
        let (r, w) = written(|| pkcs11.initialize(CInitializeArgs::OsThreads));
        assert_eq!(
            common::rv(r.unwrap_err()),
            cryptoki::error::RvError::GeneralError
        );
        w.one_line(&[
            "C_Initialize",
            &config.display().to_string(),
            "slots[0].default_policy",
            "the approver key is not valid base64 SPKI",
        ]);
    }
);

isolated!(
    fn the_tsb_is_down() {
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
        };
        let env = Env::new(Opts {
            env: vec![("TSB_PKCS11_URL".into(), dead.clone())],
            ..Default::default()
        });
        let _ = &env;
        let (rv, w) = written(list_objects);
        assert_eq!(rv, CKR_DEVICE_ERROR);
        w.one_line(&[
            "C_FindObjectsInit",
            "TSB unreachable",
            &dead,
            "after 3 attempts",
            "check that the TSB is running",
        ]);
    }
);

/// An HTTPS emulator with a certificate for `names`; the slot trusts its CA when `trust`.
fn tls_env(names: &[&str], trust: bool) -> Env {
    let dir = common::temp_dir("tls");
    let (ca, cert, key) = common::tls::tls_files(names);
    let ca_path = common::write(&dir, "ca.pem", &ca);
    let tls = TlsFiles {
        cert: common::write(&dir, "cert.pem", &cert),
        key: common::write(&dir, "key.pem", &key),
    };
    Env::new(Opts {
        slot_json: Some(if trust {
            serde_json::json!({ "ca_file": ca_path })
        } else {
            serde_json::json!({})
        }),
        emulator: Some(EmulatorConfig {
            tls: Some(tls),
            ..Default::default()
        }),
        ..Default::default()
    })
}

isolated!(
    fn an_untrusted_tsb_certificate() {
        let env = tls_env(&["localhost", "127.0.0.1"], false);
        assert!(env.emu.base_url().starts_with("https://"));
        let (rv, w) = written(list_objects);
        assert_eq!(rv, CKR_DEVICE_ERROR);
        w.one_line(&["C_FindObjectsInit", "add the TSB's CA with `ca_file`"]);
    }
);

isolated!(
    fn a_tsb_certificate_for_another_name() {
        let env = tls_env(&["tsb.example"], true);
        let _ = &env;
        let (rv, w) = written(list_objects);
        assert_eq!(rv, CKR_DEVICE_ERROR);
        w.one_line(&["C_FindObjectsInit", "not valid for the host name", "`url`"]);
    }
);

isolated!(
    fn a_rejected_and_an_expired_approval() {
        let env = Env::new(Opts::default());
        let s = env.session();
        gen_p256(&s, "gated", Some(env.policy(600)));
        let key = raw::find_one(raw::open_session(0), "gated", CKO_PRIVATE_KEY);
        // Rejected by the approver.
        let approver = env.approver.clone();
        let bg = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let tasks = approver.tasks(&Default::default()).unwrap();
                if let Some(t) = tasks.first() {
                    approver.reject(&t.id).unwrap();
                    return;
                }
                assert!(std::time::Instant::now() < deadline);
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
        let rs = raw::open_session(0);
        let ((rv, _, _), w) =
            written(|| raw::sign(rs, key, CKM_ECDSA_SHA256, b"rejected", Some(256)));
        bg.join().unwrap();
        assert_eq!(rv, CKR_FUNCTION_REJECTED);
        w.one_line(&[
            "C_Sign",
            "was rejected by the approvers",
            "ask the approvers",
        ]);
        // Expired on the TSB: its clock passes the policy's timeout while the module waits.
        let advance = {
            let count = env.count("POST", "/v1/sign");
            let emu = &env.emu;
            move || {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                while emu.request_count("POST", "/v1/sign") == count {
                    assert!(std::time::Instant::now() < deadline);
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                emu.advance_clock(std::time::Duration::from_secs(700));
            }
        };
        let ((rv, _, _), w) = std::thread::scope(|sc| {
            sc.spawn(advance);
            written(|| raw::sign(rs, key, CKM_ECDSA_SHA256, b"expired", Some(256)))
        });
        assert_eq!(rv, tsb_pkcs11::vendor::CKR_TSB_APPROVAL_EXPIRED as CK_RV);
        w.one_line(&["C_Sign", "expired on the TSB", "in time"]);
    }
);

isolated!(
    fn a_tsb_error_with_its_code_and_reason() {
        let env = Env::new(Opts::default());
        let s = env.session();
        gen_p256(&s, "k", None);
        let key = raw::find_one(raw::open_session(0), "k", CKO_PRIVATE_KEY);
        env.emu.inject_fault(tsb_emulator::Fault {
            path: "/v1/synchronousSign".into(),
            method: Some("POST".into()),
            count: 1,
            action: FaultAction::Status {
                status: 500,
                error_code: Some(701),
            },
        });
        let rs = raw::open_session(0);
        let ((rv, _, _), w) = written(|| raw::sign(rs, key, CKM_ECDSA_SHA256, b"x", Some(256)));
        assert_eq!(rv, CKR_DEVICE_ERROR);
        w.one_line(&[
            "C_Sign",
            "POST /v1/synchronousSign",
            "HTTP 500",
            "errorCode 701",
            "res.error.in.hsm",
        ]);
    }
);

isolated!(
    fn a_refused_template() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let (r, w) = written(|| {
            s.generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[Attribute::EcParams(common::ec_params(
                    "1.2.840.10045.3.1.7",
                ))],
                &[
                    Attribute::Label("release/key".into()),
                    Attribute::Sign(true),
                ],
            )
        });
        assert_eq!(
            common::rv(r.unwrap_err()),
            cryptoki::error::RvError::AttributeValueInvalid
        );
        w.one_line(&["C_GenerateKeyPair", "release/key"]);
        // A policy in the template whose approver key is no SPKI: refused before the TSB.
        let policy = common::policy_for(&["bm90IGEga2V5".into()], 1, 600);
        let (r, w) = written(|| {
            s.generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[Attribute::EcParams(common::ec_params(
                    "1.2.840.10045.3.1.7",
                ))],
                &[
                    Attribute::Label("gated".into()),
                    Attribute::Sign(true),
                    Attribute::VendorDefined((
                        cryptoki::object::AttributeType::VendorDefined(0xD453_0001),
                        policy.to_string().into_bytes(),
                    )),
                ],
            )
        });
        assert_eq!(
            common::rv(r.unwrap_err()),
            cryptoki::error::RvError::AttributeValueInvalid
        );
        w.one_line(&[
            "C_GenerateKeyPair",
            "CKA_TSB_POLICY",
            "not valid base64 SPKI",
        ]);
        assert_eq!(env.count("POST", "/v1/key"), 0);
    }
);

isolated!(
    fn nothing_for_normal_operation() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let (_, w) = written(|| gen_p256(&s, "k", None));
        w.nothing();
        let key = raw::find_one(raw::open_session(0), "k", CKO_PRIVATE_KEY);
        let rs = raw::open_session(0);
        let ((rv, sig, _), w) = written(|| {
            // A length query, a buffer too small, the retry, then a plain signature.
            let (rv, _, len) = raw::sign(rs, key, CKM_ECDSA_SHA256, b"data", None);
            assert_eq!((rv, len), (CKR_OK, 64));
            let (rv, _, _) = raw::sign_again(rs, b"data", Some(10));
            assert_eq!(rv, CKR_BUFFER_TOO_SMALL);
            let (rv, sig, _) = raw::sign_again(rs, b"data", Some(64));
            assert_eq!(rv, CKR_OK);
            assert_eq!(sig.len(), 64);
            raw::sign(rs, key, CKM_ECDSA_SHA256, b"more", Some(64))
        });
        assert_eq!(rv, CKR_OK);
        assert_eq!(sig.len(), 64);
        w.nothing();
        // Probing an attribute the object does not have is the program's business.
        let (r, w) = written(|| {
            s.get_attributes(
                s.find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
                    .unwrap()[0],
                &[cryptoki::object::AttributeType::Modulus],
            )
        });
        let _ = r;
        w.nothing();
    }
);

isolated!(
    fn level_off_and_a_log_file() {
        let log = common::temp_dir("log-file").join("module.log");
        let env = Env::new(Opts {
            env: vec![("TSB_PKCS11_LOG_FILE".into(), log.display().to_string())],
            emulator: Some(EmulatorConfig {
                bearer_token: Some("jwt".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        let _ = &env;
        // With a log file, the line goes there and stderr stays empty.
        let (rv, w) = written(list_objects);
        assert_eq!(rv, CKR_USER_NOT_LOGGED_IN);
        w.nothing();
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("set `token`"), "{text}");
    }
);

isolated!(
    fn level_off_is_silent() {
        let env = Env::new(Opts {
            env: vec![("TSB_PKCS11_LOG".into(), "off".into())],
            emulator: Some(EmulatorConfig {
                bearer_token: Some("jwt".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        let _ = &env;
        let (rv, w) = written(list_objects);
        assert_eq!(rv, CKR_USER_NOT_LOGGED_IN);
        assert!(w.stderr.is_empty(), "{}", w.stderr);
    }
);

isolated!(
    fn level_off_silences_the_progress_of_a_wait_too() {
        let env = Env::new(Opts {
            env: vec![("TSB_PKCS11_LOG".into(), "off".into())],
            slot_json: Some(serde_json::json!({ "progress": true })),
            ..Default::default()
        });
        let s = env.session();
        gen_p256(&s, "gated", Some(env.policy(600)));
        let key = s
            .find_objects(&[
                Attribute::Label("gated".into()),
                Attribute::Class(ObjectClass::PRIVATE_KEY),
            ])
            .unwrap()[0];
        // Approved only after the wait has polled (and would have shown its progress).
        let (r, w) = std::thread::scope(|sc| {
            sc.spawn(|| {
                let polls = || {
                    env.emu
                        .request_counts()
                        .iter()
                        .filter(|(k, _)| k.starts_with("GET /v1/request/"))
                        .map(|(_, n)| *n)
                        .sum::<u64>()
                };
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                while polls() < 3 {
                    assert!(std::time::Instant::now() < deadline);
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                env.auto_approve(1).join().unwrap().unwrap();
            });
            written(|| s.sign(&Mechanism::EcdsaSha256, key, b"quiet"))
        });
        r.expect("approved");
        assert!(w.stderr.is_empty(), "{}", w.stderr);
    }
);
