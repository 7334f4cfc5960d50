//! Issue 10, the transport side of the trust boundary: a TSB (or anything in between) that
//! redirects elsewhere, floods, never answers, loses the answer to a request it did create, or
//! hands out absurd numbers; proxies; several processes sharing a journal; the bearer token left
//! in memory. (Lost answers, unconfirmed 404s and the hung polls that cancel, close, finalize and
//! the deadline end are tested in-process: `src/token/tests`.) Each test drives the built module (through `cryptoki` or its raw C functions)
//! against an emulator with the matching fault injected; some run helper processes of this same
//! test binary (see `spawn_role`).

mod common;

use common::{ec_params, raw, rv, Env, Opts};
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::*;
use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tsb_emulator::{EmulatorConfig, Fault, FaultAction, Role};

const CKA_TSB_POLICY: u64 = 0xD453_0001;

/// Generate a P-256 key pair; `policy` JSON makes it approval-gated. Returns the private key.
fn gen_p256(s: &Session, label: &str, policy: Option<&serde_json::Value>) -> ObjectHandle {
    let mut private = vec![
        Attribute::Token(true),
        Attribute::Label(label.into()),
        Attribute::Sign(true),
    ];
    if let Some(p) = policy {
        private.push(Attribute::VendorDefined((
            AttributeType::VendorDefined(CKA_TSB_POLICY),
            p.to_string().into_bytes(),
        )));
    }
    let public = vec![
        Attribute::Token(true),
        Attribute::EcParams(ec_params("1.2.840.10045.3.1.7")),
        Attribute::Label(label.into()),
    ];
    s.generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
        .expect("generate key pair")
        .1
}

fn fault(path: &str, method: &str, count: u32, action: FaultAction) -> Fault {
    Fault {
        path: path.into(),
        method: Some(method.into()),
        count,
        action,
    }
}

/// A second loopback origin that records whatever reaches it.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<u8>>>,
    connections: Arc<Mutex<u32>>,
}

impl Recorder {
    fn start() -> Recorder {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (s, c) = (seen.clone(), connections.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut conn) = conn else { continue };
                *c.lock().unwrap() += 1;
                conn.set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    s.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            }
        });
        Recorder {
            port,
            seen,
            connections,
        }
    }
}

/// Send the module's log to a file of this test (TSB_PKCS11_LOG_FILE); returns its path.
fn log_env(env: &mut Vec<(String, String)>) -> std::path::PathBuf {
    let log = common::temp_dir("hostile-log").join("module.log");
    env.push(("TSB_PKCS11_LOG_FILE".into(), log.display().to_string()));
    log
}

isolated!(
    /// Item 1: a 307 to another origin is never followed, and no credential reaches it, for a
    /// signature and for a key listing; one log line names the status and the other origin.
    fn redirect_to_another_origin_is_refused() {
        let mut vars = vec![
            ("TSB_PKCS11_TOKEN".to_string(), "redirect-jwt-1".to_string()),
            ("TEST_OP_KEY".into(), "op-key-2".into()),
            ("TEST_MGMT_KEY".into(), "mgmt-key-3".into()),
        ];
        let log = log_env(&mut vars);
        let env = Env::new(Opts {
            slot_json: Some(serde_json::json!({
                "api_keys": {"keyOperationToken": {"env": "TEST_OP_KEY"},
                             "keyManagementToken": {"env": "TEST_MGMT_KEY"}}
            })),
            env: vars,
            emulator: Some(EmulatorConfig {
                bearer_token: Some("redirect-jwt-1".into()),
                api_keys: vec![
                    (Role::KeyOperation, "op-key-2".into()),
                    (Role::KeyManagement, "mgmt-key-3".into()),
                ],
                ..Default::default()
            }),
            ..Default::default()
        });
        let elsewhere = Recorder::start();
        let location = format!("http://127.0.0.1:{}/v1/elsewhere", elsewhere.port);
        let s = env.session();
        let key = gen_p256(&s, "redirected", None);
        env.emu.inject_fault(fault(
            "/v1/synchronousSign",
            "POST",
            1,
            FaultAction::Redirect {
                status: 307,
                location: location.clone(),
            },
        ));
        let e = s.sign(&Mechanism::EcdsaSha256, key, b"data").unwrap_err();
        assert_eq!(rv(e), RvError::DeviceError);
        env.emu.inject_fault(fault(
            "/v1/key",
            "GET",
            3,
            FaultAction::Redirect {
                status: 308,
                location: location.clone(),
            },
        ));
        let e = s.find_objects(&[]).unwrap_err();
        assert_eq!(rv(e), RvError::DeviceError);
        env.emu.clear_faults();
        // Give a request that was (wrongly) sent time to arrive.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(*elsewhere.connections.lock().unwrap(), 0);
        assert!(elsewhere.seen.lock().unwrap().is_empty());
        assert_eq!(env.count("POST", "/v1/synchronousSign"), 1);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let origin = format!("http://127.0.0.1:{}", elsewhere.port);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("redirect") && (l.contains("WARN") || l.contains("ERROR")))
            .collect();
        assert_eq!(lines.len(), 2, "one line per refused redirect:\n{text}");
        assert!(
            lines[0].contains("307") && lines[0].contains(&origin),
            "{text}"
        );
        assert!(
            lines[1].contains("308") && lines[1].contains(&origin),
            "{text}"
        );
        assert!(
            !text.contains("/v1/elsewhere"),
            "only the origin is logged: {text}"
        );
        for secret in ["redirect-jwt-1", "op-key-2", "mgmt-key-3"] {
            assert!(!text.contains(secret), "{secret} in the log");
        }
    }
);

isolated!(
    /// Item 2: proxy variables never take the plain-http (loopback) traffic, whose bearer token
    /// a proxy would read; the emulator is reached directly and the proxy sees nothing.
    fn proxies_never_see_plain_http() {
        let proxy = Recorder::start();
        let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
        let env = Env::new(Opts {
            env: vec![
                ("TSB_PKCS11_TOKEN".into(), "proxy-jwt-4".into()),
                ("HTTP_PROXY".into(), proxy_url.clone()),
                ("http_proxy".into(), proxy_url.clone()),
                ("ALL_PROXY".into(), proxy_url.clone()),
                ("all_proxy".into(), proxy_url.clone()),
                ("NO_PROXY".into(), String::new()),
                ("no_proxy".into(), String::new()),
            ],
            emulator: Some(EmulatorConfig {
                bearer_token: Some("proxy-jwt-4".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        let s = env.session();
        let key = gen_p256(&s, "direct", None);
        s.sign(&Mechanism::EcdsaSha256, key, b"data").unwrap();
        assert_eq!(env.count("POST", "/v1/synchronousSign"), 1);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(*proxy.connections.lock().unwrap(), 0);
    }
);

isolated!(
    /// Item 2: `localhost` is accepted for plain http and reaches the loopback emulator.
    fn localhost_url_reaches_loopback() {
        // A free port for the emulator, known before the module is configured.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let env = Env::new(Opts {
            slot_json: Some(serde_json::json!({"url": format!("http://localhost:{port}")})),
            emulator: Some(EmulatorConfig {
                listen: ([127, 0, 0, 1], port).into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        let s = env.session();
        s.find_objects(&[]).unwrap();
        assert_eq!(env.count("GET", "/v1/key"), 1);
    }
);

/// Peak resident set size of this process (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

isolated!(
    /// Item 4: a 1 GiB answer (announced by Content-Length, or chunked) to a signature and to the
    /// key listing fails at once with CKR_DEVICE_ERROR and leaves the peak RSS nearly unchanged.
    fn endless_bodies_are_cut_off() {
        let mut vars = vec![];
        let log = log_env(&mut vars);
        let env = Env::new(Opts {
            slot_json: Some(serde_json::json!({"max_list_bytes": 1048576, "cache_ttl_s": 0})),
            env: vars,
            ..Default::default()
        });
        let s = env.session();
        let key = gen_p256(&s, "flooded", None);
        // Warm up: the client, its runtime and the first buffers exist before measuring.
        s.sign(&Mechanism::EcdsaSha256, key, b"data").unwrap();
        s.find_objects(&[]).unwrap();
        let before = peak_rss_kib();
        let gib = 1u64 << 30;
        for chunked in [false, true] {
            let flood = FaultAction::Flood {
                bytes: gib,
                chunked,
            };
            env.emu
                .inject_fault(fault("/v1/synchronousSign", "POST", 1, flood.clone()));
            let t = Instant::now();
            let e = s.sign(&Mechanism::EcdsaSha256, key, b"data").unwrap_err();
            assert_eq!(rv(e), RvError::DeviceError);
            assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
            // A listing is retried: flood every attempt.
            env.emu.inject_fault(fault("/v1/key", "GET", 3, flood));
            let t = Instant::now();
            let e = s.find_objects(&[]).unwrap_err();
            assert_eq!(rv(e), RvError::DeviceError);
            assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
            env.emu.clear_faults();
        }
        let grown = peak_rss_kib().saturating_sub(before);
        eprintln!("peak RSS grew by {grown} KiB");
        assert!(grown < 6 * 1024, "peak RSS grew by {grown} KiB");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let limits: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect();
        assert_eq!(limits.len(), 4, "one line per failed call:\n{text}");
        assert!(limits.iter().all(|l| l.contains("larger than")), "{text}");
        // Still usable afterwards.
        s.sign(&Mechanism::EcdsaSha256, key, b"data").unwrap();
    }
);

isolated!(
    /// Item 7: a policy timeout of 2^64-1 seconds (a key made by another tool; the module's own
    /// policy check wants multiples of 60, so it comes in through the emulator's state file) is
    /// arithmetic the module saturates, not a panic after POST /v1/sign was sent: the signature
    /// arrives once approved.
    fn huge_policy_timeout_does_not_overflow() {
        use tsb_approve::{Approver, ApproverKey, KeyKind};
        let dir = common::temp_dir("huge-timeout");
        let state = dir.join("state.json");
        let approver_key = ApproverKey::generate(KeyKind::EcP256);
        let policy = common::policy_for(&[approver_key.public_key_b64()], 1, 600);
        {
            let emu = tsb_emulator::Emulator::start(EmulatorConfig {
                state_file: Some(state.clone()),
                ..Default::default()
            })
            .unwrap();
            let body = serde_json::json!({
                "label": "forever", "algorithm": "EC", "curveOid": "1.2.840.10045.3.1.7",
                "attributes": {"sign": true, "decrypt": false, "unwrap": false}, "policy": policy
            });
            let resp = reqwest::blocking::Client::new()
                .post(format!("{}/v1/key", emu.base_url()))
                .json(&body)
                .send()
                .unwrap();
            assert_eq!(resp.status().as_u16(), 201);
            emu.shutdown();
        }
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        v["keys"][0]["policy"]["ruleUse"]["tokens"][0]["timeout"] = u64::MAX.into();
        std::fs::write(&state, v.to_string()).unwrap();
        let env = Env::new(Opts {
            emulator: Some(EmulatorConfig {
                state_file: Some(state),
                ..Default::default()
            }),
            ..Default::default()
        });
        let s = env.session();
        let key = s
            .find_objects(&[
                Attribute::Label("forever".into()),
                Attribute::Class(ObjectClass::PRIVATE_KEY),
            ])
            .unwrap()[0];
        let approver = Approver::new(&env.emu.base_url(), approver_key).spawn_auto_approve(
            Default::default(),
            Some(1),
            Some(Duration::from_secs(60)),
        );
        let sig = s.sign(&Mechanism::EcdsaSha256, key, b"data").unwrap();
        assert_eq!(sig.len(), 64);
        approver.join().unwrap().unwrap();
        assert_eq!(env.count("POST", "/v1/sign"), 1);
    }
);

// ---- the journal shared by processes --------------------------------------------------------

const ROLE_VAR: &str = "TSB_PKCS11_TEST_ROLE";
const CKR_TSB_APPROVAL_TIMEOUT: CK_RV = 0xD453_0002;

/// Run the test `test` again in a child process playing `role` (see [`play_role`]), with the
/// module configured by `config`.
fn spawn_role(test: &str, role: &str, config: &std::path::Path) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("TSB_PKCS11_TEST_CHILD", test)
        .env(ROLE_VAR, role)
        .env("TSB_PKCS11_CONFIG", config)
        .env_remove("TSB_PKCS11_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// In a role child: `sign LABEL PAYLOAD...` signs each payload with the key LABEL and prints
/// `rv <CK_RV>` per signature; with `wait` first, it initializes, prints `ready` and waits for a
/// line on stdin before signing. Returns true when this process is a role child.
fn play_role() -> bool {
    let Ok(role) = std::env::var(ROLE_VAR) else {
        return false;
    };
    let words: Vec<&str> = role.split(' ').collect();
    if words[0] == "serve" {
        // An emulator in a process of its own, until stdin closes.
        let emu = tsb_emulator::Emulator::start(EmulatorConfig::default()).unwrap();
        println!("\nurl {}", emu.base_url());
        let mut rest = String::new();
        let _ = std::io::stdin().read_to_string(&mut rest);
        return true;
    }
    let (wait, words) = match words.first() {
        Some(&"wait") => (true, &words[1..]),
        _ => (false, &words[..]),
    };
    assert_eq!(words[0], "sign", "{role}");
    let pkcs11 = cryptoki::context::Pkcs11::new(common::module_path()).unwrap();
    pkcs11
        .initialize(cryptoki::context::CInitializeArgs::OsThreads)
        .unwrap();
    let slot = pkcs11.get_slots_with_token().unwrap()[0];
    // Through the raw functions: cryptoki folds the vendor CK_RVs into GeneralError.
    let s = raw::open_session(slot.id());
    let key = raw::find_one(s, words[1], CKO_PRIVATE_KEY);
    if wait {
        println!("\nready");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
    }
    for payload in &words[2..] {
        let (rv, _, _) = raw::sign(s, key, CKM_ECDSA_SHA256, payload.as_bytes(), Some(64));
        // A fresh line: libtest's "test name ... " may be on the current one.
        println!("\nrv {rv:#x}");
    }
    true
}

/// Wait for a role child; its `rv` lines.
fn role_result(child: std::process::Child) -> Vec<CK_RV> {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "role child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("rv 0x"))
        .map(|v| CK_RV::from_str_radix(v, 16).unwrap())
        .collect()
}

/// A config for role children: this emulator, a journal, a one-second approval timeout.
fn role_config(env: &Env, journal: &std::path::Path) -> std::path::PathBuf {
    let config = env.dir.join("role-config.json");
    let slot = serde_json::json!({
        "url": env.emu.base_url(), "allow_http": true, "progress": false,
        "poll_interval_ms": 20, "poll_max_interval_ms": 100,
        "approval_timeout_s": 1, "journal": journal,
    });
    std::fs::write(&config, serde_json::json!({"slots": [slot]}).to_string()).unwrap();
    config
}

/// The journal's entries: fingerprint -> request id.
fn journal_entries(journal: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(journal)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            Some((
                v["fingerprint"].as_str()?.to_string(),
                v["requestId"].as_str()?.to_string(),
            ))
        })
        .collect()
}

isolated!(
    /// Item 9: four processes time out on three signatures each at the same moments; the shared
    /// journal keeps all twelve pending requests.
    fn journal_shared_by_processes_loses_nothing() {
        if play_role() {
            return;
        }
        let env = Env::new(Opts::default());
        let s = env.session();
        let policy = env.policy(600);
        gen_p256(&s, "journaled", Some(&policy));
        let journal = env.dir.join("journal.jsonl");
        let config = role_config(&env, &journal);
        let children: Vec<_> = (0..4)
            .map(|p| {
                let role = format!("sign journaled p{p}a p{p}b p{p}c");
                spawn_role("journal_shared_by_processes_loses_nothing", &role, &config)
            })
            .collect();
        for c in children {
            assert_eq!(role_result(c), vec![CKR_TSB_APPROVAL_TIMEOUT; 3]);
        }
        assert_eq!(env.count("POST", "/v1/sign"), 12);
        let entries = journal_entries(&journal);
        assert_eq!(entries.len(), 12, "{entries:?}");
    }
);

isolated!(
    /// Item 9, the scenario: process B starts, process A times out on a signature, B times
    /// out on another; A's rerun resumes A's request instead of sending a new POST /v1/sign.
    fn rerun_resumes_after_another_process_wrote_the_journal() {
        if play_role() {
            return;
        }
        let env = Env::new(Opts::default());
        let s = env.session();
        let policy = env.policy(600);
        gen_p256(&s, "shared", Some(&policy));
        let journal = env.dir.join("journal.jsonl");
        let config = role_config(&env, &journal);
        let test = "rerun_resumes_after_another_process_wrote_the_journal";
        let mut b = spawn_role(test, "wait sign shared from-b", &config);
        let mut b_out = std::io::BufReader::new(b.stdout.take().unwrap());
        let mut line = String::new();
        while line.trim() != "ready" {
            line.clear();
            assert!(std::io::BufRead::read_line(&mut b_out, &mut line).unwrap() > 0);
        }
        let a = spawn_role(test, "sign shared from-a", &config);
        assert_eq!(role_result(a), vec![CKR_TSB_APPROVAL_TIMEOUT]);
        std::io::Write::write_all(b.stdin.as_mut().unwrap(), b"go\n").unwrap();
        let mut rest = String::new();
        b_out.read_to_string(&mut rest).unwrap();
        assert!(b.wait().unwrap().success());
        assert!(rest.contains("rv 0xd4530002"), "{rest}");
        assert_eq!(env.count("POST", "/v1/sign"), 2);
        // The approver approves both pending requests; A's rerun picks its signature up.
        let tasks = env.approver.tasks(&Default::default()).unwrap();
        assert_eq!(tasks.len(), 2);
        for t in &tasks {
            env.approver.approve(t).unwrap();
        }
        let a2 = spawn_role(test, "sign shared from-a", &config);
        assert_eq!(role_result(a2), vec![CKR_OK]);
        assert_eq!(
            env.count("POST", "/v1/sign"),
            2,
            "the rerun sent a new request"
        );
    }
);

// ---- lost answers ---------------------------------------------------------------------------

const TSB_DEVERR_TRANSPORT: CK_ULONG = 10006;

/// A relayed client connection and the thread copying what it sends.
type Relayed = (std::net::TcpStream, std::thread::JoinHandle<()>);

/// A TCP relay to the emulator that can go down (connections closed, port refusing) and come
/// back on the same port: a TSB that is unreachable, with nothing sent.
struct Relay {
    port: u16,
    target: std::net::SocketAddr,
    up: Arc<std::sync::atomic::AtomicBool>,
    clients: Arc<Mutex<Vec<Relayed>>>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    fn start(target: std::net::SocketAddr) -> Relay {
        let mut r = Relay {
            port: 0,
            target,
            up: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            clients: Arc::new(Mutex::new(Vec::new())),
            acceptor: None,
        };
        r.listen(TcpListener::bind("127.0.0.1:0").unwrap());
        r
    }

    fn listen(&mut self, l: TcpListener) {
        use std::sync::atomic::Ordering;
        self.port = l.local_addr().unwrap().port();
        self.up.store(true, Ordering::SeqCst);
        let (up, clients, target) = (self.up.clone(), self.clients.clone(), self.target);
        self.acceptor = Some(std::thread::spawn(move || {
            for conn in l.incoming() {
                if !up.load(Ordering::SeqCst) {
                    return; // the listener closes here
                }
                let Ok(client) = conn else { continue };
                let server = std::net::TcpStream::connect(target).unwrap();
                let (mut c_in, mut s_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (mut s_in, mut c_out) = (server, client.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_in, &mut c_out);
                });
                // Ends when the client closes its side.
                let upstream = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_in, &mut s_out);
                    let _ = s_out.shutdown(std::net::Shutdown::Both);
                });
                clients.lock().unwrap().push((client, upstream));
            }
        }));
    }

    /// Refuse connections and close the open ones; returns once the client closed each of them
    /// (so no pooled connection is left to carry a request).
    fn down(&mut self) {
        use std::sync::atomic::Ordering;
        self.up.store(false, Ordering::SeqCst);
        // Wake the acceptor so it drops the listener.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        self.acceptor.take().unwrap().join().unwrap();
        for (c, upstream) in self.clients.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Write);
            upstream.join().unwrap();
        }
    }

    fn up(&mut self) {
        self.listen(TcpListener::bind(("127.0.0.1", self.port)).unwrap());
    }
}

isolated!(
    /// Item 10: a connection refused proves nothing was sent: the error is a plain transport
    /// error and the retry asks the approvers (once) when the TSB is back.
    fn refused_connection_may_ask_again() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let emu_addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let mut relay = Relay::start(emu_addr);
        let env = Env::new(Opts {
            slot_json: Some(serde_json::json!({"url": format!("http://127.0.0.1:{}", relay.port)})),
            emulator: Some(EmulatorConfig {
                listen: emu_addr,
                ..Default::default()
            }),
            ..Default::default()
        });
        let s = env.session();
        gen_p256(&s, "down", Some(&env.policy(600)));
        let rs = raw::open_session(0);
        let k = raw::find_one(rs, "down", CKO_PRIVATE_KEY);
        relay.down();
        let (r, _, _) = raw::sign(rs, k, CKM_ECDSA_SHA256, b"artifact", Some(64));
        assert_eq!(r, CKR_DEVICE_ERROR);
        assert_eq!(raw::device_error(rs), TSB_DEVERR_TRANSPORT);
        assert_eq!(env.count("POST", "/v1/sign"), 0);
        relay.up();
        let bg = env.auto_approve(1);
        let (r, _, _) = raw::sign(rs, k, CKM_ECDSA_SHA256, b"artifact", Some(64));
        assert_eq!(r, CKR_OK);
        bg.join().unwrap().unwrap();
        assert_eq!(env.count("POST", "/v1/sign"), 1);
    }
);

// ---- secrets in memory ----------------------------------------------------------------------

/// Every place in this process's readable memory where `needle` occurs. The needle is given
/// masked (each byte XOR 0x5A) so that the scan's own copy of it is not a hit.
fn memory_hits(masked: &[u8]) -> Vec<String> {
    use std::io::{Seek, SeekFrom};
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mut mem = std::fs::File::open("/proc/self/mem").unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut hits = Vec::new();
    let first = masked[0] ^ 0x5A;
    for line in maps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if !f[1].starts_with('r') || line.contains("[vvar") || line.contains("[vsyscall]") {
            continue;
        }
        let (a, b) = f[0].split_once('-').unwrap();
        let (start, end) = (
            u64::from_str_radix(a, 16).unwrap(),
            u64::from_str_radix(b, 16).unwrap(),
        );
        let mut pos = start;
        while pos < end {
            // Overlap chunks by the needle's length so a hit across a boundary is seen.
            let want = ((end - pos) as usize).min(buf.len());
            if mem.seek(SeekFrom::Start(pos)).is_err() {
                break;
            }
            let n = match mem.read(&mut buf[..want]) {
                Ok(n) if n > 0 => n,
                _ => break,
            };
            let chunk = &buf[..n];
            for i in 0..n.saturating_sub(masked.len() - 1) {
                if chunk[i] == first
                    && chunk[i..i + masked.len()]
                        .iter()
                        .zip(masked)
                        .all(|(c, m)| *c == m ^ 0x5A)
                {
                    let ctx = String::from_utf8_lossy(&chunk[i.saturating_sub(200)..i]).to_string();
                    hits.push(format!(
                        "{:#x} in {} after {ctx:?}",
                        pos + i as u64,
                        f.get(5).unwrap_or(&"[anon]")
                    ));
                }
            }
            if n <= masked.len() {
                break;
            }
            pos += (n - (masked.len() - 1)) as u64;
        }
    }
    hits
}

/// Overwrite `b` so the compiler cannot skip it.
fn wipe(b: &mut [u8]) {
    for x in b.iter_mut() {
        // SAFETY: a valid, exclusive reference.
        unsafe { std::ptr::write_volatile(x, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

isolated!(
    /// Item 3: with pin_is_token, the bearer token given to C_Login is nowhere in the process's
    /// memory after C_Logout and C_Finalize (the emulator, which receives it, runs in another
    /// process; the test's own copies are wiped before the scan).
    fn token_gone_from_memory_after_logout_and_finalize() {
        if play_role() {
            return;
        }
        let test = "token_gone_from_memory_after_logout_and_finalize";
        let dir = common::temp_dir("memscan");
        let mut server = spawn_role(test, "serve", std::path::Path::new("/nonexistent"));
        let mut out = std::io::BufReader::new(server.stdout.take().unwrap());
        let mut line = String::new();
        let url = loop {
            line.clear();
            assert!(std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0);
            if let Some(u) = line.trim().strip_prefix("url ") {
                break u.to_string();
            }
        };
        // A key made directly on the emulator, which wants no token.
        let resp = reqwest::blocking::Client::new()
            .post(format!("{url}/v1/key"))
            .json(&serde_json::json!({"label": "k", "algorithm": "EC",
                "curveOid": "1.2.840.10045.3.1.7", "attributes": {"sign": true, "decrypt": false, "unwrap": false}}))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        drop(resp);
        let config = dir.join("config.json");
        std::fs::write(
            &config,
            serde_json::json!({"slots": [{"url": url, "allow_http": true, "pin_is_token": true,
                "progress": false}]})
            .to_string(),
        )
        .unwrap();
        std::env::set_var("TSB_PKCS11_CONFIG", &config);
        // The token: random, built in place, never in a String.
        let mut rnd = [0u8; 24];
        std::fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut rnd)
            .unwrap();
        let mut token = Vec::with_capacity(64);
        token.extend_from_slice(b"tsbtok-");
        for b in rnd {
            token.push(b"0123456789abcdef"[usize::from(b >> 4)]);
            token.push(b"0123456789abcdef"[usize::from(b & 15)]);
        }
        let masked: Vec<u8> = token.iter().map(|b| b ^ 0x5A).collect();
        wipe(&mut rnd);
        let f = raw::fns();
        unsafe {
            assert_eq!(f.C_Initialize.unwrap()(std::ptr::null_mut()), CKR_OK);
        }
        let s = raw::open_session(0);
        unsafe {
            assert_eq!(
                f.C_Login.unwrap()(s, CKU_USER, token.as_mut_ptr(), token.len() as CK_ULONG),
                CKR_OK
            );
        }
        wipe(&mut token);
        drop(token);
        let k = raw::find_one(s, "k", CKO_PRIVATE_KEY);
        for _ in 0..3 {
            let (r, _, _) = raw::sign(s, k, CKM_ECDSA_SHA256, b"data", Some(64));
            assert_eq!(r, CKR_OK);
        }
        assert!(
            !memory_hits(&masked).is_empty(),
            "the scan finds the token while logged in"
        );
        unsafe {
            assert_eq!(f.C_Logout.unwrap()(s), CKR_OK);
        }
        let after_logout = memory_hits(&masked);
        unsafe {
            assert_eq!(f.C_Finalize.unwrap()(std::ptr::null_mut()), CKR_OK);
        }
        let after_finalize = memory_hits(&masked);
        eprintln!("after C_Logout: {after_logout:?}\nafter C_Finalize: {after_finalize:?}");
        drop(server.stdin.take());
        server.wait().unwrap();
        assert!(
            after_logout.is_empty(),
            "token after C_Logout: {after_logout:?}"
        );
        assert!(
            after_finalize.is_empty(),
            "token after C_Finalize: {after_finalize:?}"
        );
    }
);
