//! End-to-end tests of the library and the binary against an in-process `tsb-emulator`.
//!
//! Each test starts its own emulator on a free loopback port, creates an SKA key whose policy
//! names a freshly generated approver key, creates a request with `POST /v1/sign`, and then
//! plays the approver.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use tsb_approve::{ApproveError, Approver, ApproverKey, Event, KeyKind, RequestState, TaskFilter};
use tsb_emulator::{Emulator, EmulatorConfig, Fault, FaultAction, Role};
use tsb_models::RequestStatus;

const BIN: &str = env!("CARGO_BIN_EXE_tsb-approve");

fn start() -> Emulator {
    Emulator::start(EmulatorConfig::default()).expect("start emulator")
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A fresh private directory for key files.
fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "tsb-approve-it-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Create an EC P-256 SKA key whose every rule needs `quorum` of `approvers`.
fn create_ska_key(url: &str, label: &str, approvers: &[&ApproverKey], quorum: u32) {
    let approvals: Vec<Value> = approvers
        .iter()
        .enumerate()
        .map(|(i, k)| serde_json::to_value(k.policy_approval(&format!("approver{i}"))).unwrap())
        .collect();
    let rule = json!({"tokens": [{"name": "Token1", "timelock": 0, "timeout": 600,
        "groups": [{"name": "Group1", "quorum": quorum, "approvals": approvals}]}]});
    let body = json!({
        "label": label,
        "algorithm": "EC",
        "curveOid": "1.2.840.10045.3.1.7",
        "attributes": {"sign": true, "decrypt": false, "unwrap": false, "derive": false,
                       "bip32": false, "extractable": false, "modifiable": true, "destroyable": true},
        "policy": {"ruleUse": rule, "ruleBlock": rule, "ruleUnblock": rule, "ruleModify": rule,
                   "keyStatus": {"blocked": false}}
    });
    let r = http()
        .post(format!("{url}/v1/key"))
        .json(&body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    assert!(
        status == 201 || status == 200,
        "create key: {status} {}",
        r.text().unwrap_or_default()
    );
}

/// `POST /v1/sign` on an SKA key; returns the request id.
fn sign_request(url: &str, label: &str, metadata: &str) -> String {
    let body = json!({"signRequest": {
        "payload": B64.encode(b"hello approver"),
        "payloadType": "UNSPECIFIED",
        "signKeyName": label,
        "signatureAlgorithm": "SHA256_WITH_ECDSA",
        "metaData": B64.encode(metadata.as_bytes()),
    }});
    let r = http()
        .post(format!("{url}/v1/sign"))
        .json(&body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    assert!(status == 201 || status == 200, "sign: {status} {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["signRequestId"].as_str().unwrap().to_owned()
}

fn status(url: &str, rid: &str) -> RequestStatus {
    let r = http()
        .get(format!("{url}/v1/request/{rid}"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().unwrap()
}

/// Poll the request until it reaches `want` (a decision may be executed by a scheduler).
fn wait_status(url: &str, rid: &str, want: RequestState) -> RequestStatus {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let s = status(url, rid);
        if s.status == want || Instant::now() > end {
            assert_eq!(s.status, want, "{s:?}");
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn write_key(dir: &Path, key: &ApproverKey) -> PathBuf {
    let p = dir.join("approver.pem");
    std::fs::write(&p, key.to_pem()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    p
}

fn run_bin(args: &[&str], url: &str, key_file: &Path) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("TSB_URL", url)
        .env("TSB_APPROVER_KEY", key_file)
        .env_remove("TSB_APPROVER_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_child(&mut child, Duration::from_secs(60))
}

/// Wait for a child with a deadline (a hung approver must fail the test, not hang it).
fn wait_child(child: &mut Child, limit: Duration) -> Output {
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tsb-approve did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut o) = child.stdout.take() {
        o.read_to_end(&mut stdout).unwrap();
    }
    if let Some(mut e) = child.stderr.take() {
        e.read_to_end(&mut stderr).unwrap();
    }
    Output {
        status,
        stdout,
        stderr,
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn tasks_then_approve_executes_for_each_key_type() {
    let emu = start();
    let url = emu.base_url();
    for (i, kind) in [KeyKind::EcP256, KeyKind::Rsa2048, KeyKind::Ed25519]
        .into_iter()
        .enumerate()
    {
        let key = ApproverKey::generate(kind);
        let pk = key.public_key_b64();
        let label = format!("Code-Signing-{i}");
        create_ska_key(&url, &label, &[&key], 1);
        let rid = sign_request(&url, &label, "release v1.2.3");
        let approver = Approver::new(&url, key);

        let tasks = approver.tasks(&TaskFilter::default()).unwrap();
        assert_eq!(tasks.len(), 1, "{kind:?}: {tasks:?}");
        let (op, k) = tasks[0].operation_and_key().expect("level3 task");
        assert_eq!(op, "Sign");
        assert_eq!(k, label);
        let pending = approver.pending(&TaskFilter::default()).unwrap();
        // The emulator's approvalToBeSigned follows the HSM layout: its label is checked too.
        assert_eq!(pending[0].signed_key_label.as_deref(), Some(label.as_str()));
        assert_eq!(pending[0].signed_operation_code, Some(1));
        assert_eq!(
            pending[0].metadata_text().as_deref(),
            Some("release v1.2.3")
        );

        approver.approve(&tasks[0]).unwrap();
        let s = wait_status(&url, &rid, RequestState::Executed);
        assert_eq!(s.approved_by, vec![pk.clone()], "{kind:?}");
        assert!(s.result.is_some());
        assert!(approver.tasks(&TaskFilter::default()).unwrap().is_empty());
        // The library's own status call agrees.
        assert_eq!(
            approver.request_status(&rid).unwrap().status,
            RequestState::Executed
        );
    }
}

#[test]
fn reject_makes_request_rejected() {
    let emu = start();
    let url = emu.base_url();
    let key = ApproverKey::generate(KeyKind::EcP256);
    let pk = key.public_key_b64();
    create_ska_key(&url, "reject-me", &[&key], 1);
    let rid = sign_request(&url, "reject-me", "do not sign");
    let approver = Approver::new(&url, key);
    let tasks = approver.tasks(&TaskFilter::default()).unwrap();
    assert_eq!(tasks.len(), 1);
    approver.reject(&tasks[0].id).unwrap();
    let s = wait_status(&url, &rid, RequestState::Rejected);
    assert_eq!(s.rejected_by, vec![pk]);
    // The task is gone: approving it now is a 4xx naming the task.
    let e = approver.approve(&tasks[0]).unwrap_err();
    assert_eq!(e.status().map(|s| s / 100), Some(4), "{e}");
}

#[test]
fn stale_or_forged_timestamp_is_refused() {
    let emu = start();
    let url = emu.base_url();
    let key = ApproverKey::generate(KeyKind::EcP256);
    let stale = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut body = key.timestamp_proof_at(&stale).unwrap();
    body.detail_level = Some("level3".into());
    let r = http()
        .post(format!("{url}/v1/filteredAllApprovalTask"))
        .json(&body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let err: tsb_models::ErrorBody = r.json().unwrap();
    assert!((400..500).contains(&status), "{status}");
    assert_eq!(
        err.error_code,
        Some(tsb_models::codes::TIMESTAMP_OFF),
        "{err:?}"
    );

    // A fresh timestamp signed by another key does not pass either.
    let other = ApproverKey::generate(KeyKind::EcP256);
    let mut forged = key.timestamp_proof().unwrap();
    forged.timestamp_signature = other
        .timestamp_proof_at(&forged.timestamp)
        .unwrap()
        .timestamp_signature;
    let r = http()
        .post(format!("{url}/v1/filteredAllApprovalTask"))
        .json(&forged)
        .send()
        .unwrap();
    assert!(r.status().is_client_error());
    let err: tsb_models::ErrorBody = r.json().unwrap();
    assert_eq!(
        err.error_code,
        Some(tsb_models::codes::INVALID_SIGNATURE),
        "{err:?}"
    );
}

#[test]
fn filters_and_request_id_lookup() {
    let emu = start();
    let url = emu.base_url();
    let key = ApproverKey::generate(KeyKind::EcP256);
    create_ska_key(&url, "Alpha", &[&key], 1);
    create_ska_key(&url, "Beta", &[&key], 1);
    let ra = sign_request(&url, "Alpha", "a");
    let rb = sign_request(&url, "Beta", "b");
    let approver = Approver::new(&url, key);

    let all = approver.pending(&TaskFilter::default()).unwrap();
    assert_eq!(all.len(), 2);
    let by_label = approver
        .pending(&TaskFilter {
            key_label: Some("alpha".into()),
            ..TaskFilter::default()
        })
        .unwrap();
    assert_eq!(by_label.len(), 1);
    assert_eq!(by_label[0].key_label.as_deref(), Some("Alpha"));
    let decrypts = approver
        .pending(&TaskFilter {
            operation: Some("decrypt".into()),
            ..TaskFilter::default()
        })
        .unwrap();
    assert!(decrypts.is_empty());
    let by_req = approver
        .pending(&TaskFilter {
            request_id: Some(rb.clone()),
            ..TaskFilter::default()
        })
        .unwrap();
    assert_eq!(by_req.len(), 1);
    assert_eq!(by_req[0].key_label.as_deref(), Some("Beta"));

    // watch: a filter that matches nothing approves nothing and reports the deadline.
    let none = TaskFilter {
        key_label: Some("Gamma".into()),
        ..TaskFilter::default()
    };
    let out = approver
        .watch(
            &none,
            true,
            Some(1),
            Duration::from_millis(50),
            Some(Duration::from_millis(500)),
            |_| {},
        )
        .unwrap();
    assert_eq!((out.handled, out.count_reached), (0, false));

    // find_task accepts a task id or a request id.
    let t = approver.find_task(&ra).unwrap();
    assert_eq!(t.key_label.as_deref(), Some("Alpha"));
    let same = approver.find_task(&t.task.id).unwrap();
    assert_eq!(same.task.id, t.task.id);
    assert!(matches!(
        approver.find_task("no-such-id"),
        Err(ApproveError::NotFound(_))
    ));

    // watch approves only what the filter selects, each task once.
    let beta = TaskFilter {
        key_label: Some("Beta".into()),
        ..TaskFilter::default()
    };
    let mut approved = Vec::new();
    let out = approver
        .watch(
            &beta,
            true,
            Some(1),
            Duration::from_millis(50),
            Some(Duration::from_secs(20)),
            |ev| {
                if let Event::Approved(t) = ev {
                    approved.push(t.task.id.clone());
                }
            },
        )
        .unwrap();
    assert_eq!((out.handled, out.count_reached), (1, true));
    assert_eq!(approved.len(), 1);
    wait_status(&url, &rb, RequestState::Executed);
    assert_eq!(status(&url, &ra).status, RequestState::Pending);
}

#[test]
fn bin_watch_without_auto_approve_only_prints() {
    let emu = start();
    let url = emu.base_url();
    let dir = temp_dir();
    let key = ApproverKey::generate(KeyKind::EcP256);
    let key_file = write_key(&dir, &key);
    create_ska_key(&url, "look-only", &[&key], 1);
    let rid = sign_request(&url, "look-only", "just looking");
    let out = run_bin(
        &["watch", "--count", "1", "--timeout", "30"],
        &url,
        &key_file,
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.starts_with("new task "), "{stdout}");
    assert!(stdout.contains("(Sign on look-only)"), "{stdout}");
    assert!(stdout.contains("just looking"), "{stdout}");
    assert_eq!(status(&url, &rid).status, RequestState::Pending);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn api_key_is_sent_and_checked() {
    let emu = Emulator::start(EmulatorConfig {
        api_keys: vec![(Role::Approver, "approver-secret".into())],
        ..EmulatorConfig::default()
    })
    .unwrap();
    let url = emu.base_url();
    let key = ApproverKey::generate(KeyKind::EcP256);
    let without = Approver::new(&url, key.clone());
    let e = without.tasks(&TaskFilter::default()).unwrap_err();
    assert_eq!(e.status(), Some(401), "{e}");
    assert_eq!(
        e.tsb_error_code(),
        Some(tsb_models::codes::INVALID_API_KEY),
        "{e}"
    );
    assert!(!e.to_string().contains("approver-secret"));
    let with = Approver::new(&url, key).api_key("approver-secret");
    assert!(with.tasks(&TaskFilter::default()).unwrap().is_empty());
}

#[test]
fn bin_watch_auto_approves_one() {
    let emu = start();
    let url = emu.base_url();
    let dir = temp_dir();
    let key = ApproverKey::generate(KeyKind::Ed25519);
    let key_file = write_key(&dir, &key);
    create_ska_key(&url, "ci-key", &[&key], 1);

    // The watcher runs first; the request appears while it polls.
    let mut child = Command::new(BIN)
        .args([
            "watch",
            "--auto-approve",
            "--count",
            "1",
            "--timeout",
            "60",
            "--poll-ms",
            "100",
            "--key-label",
            "CI-KEY",
            "--operation",
            "sign",
        ])
        .env("TSB_URL", &url)
        .env("TSB_APPROVER_KEY", &key_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let rid = sign_request(&url, "ci-key", "pipeline 7");
    let out = wait_child(&mut child, Duration::from_secs(60));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(lines[0].starts_with("approved task "), "{stdout}");
    assert!(lines[0].contains("(Sign on ci-key)"), "{stdout}");
    wait_status(&url, &rid, RequestState::Executed);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bin_watch_times_out_with_exit_1() {
    let emu = start();
    let dir = temp_dir();
    let key_file = write_key(&dir, &ApproverKey::generate(KeyKind::EcP256));
    let out = run_bin(
        &["watch", "--auto-approve", "--count", "1", "--timeout", "1"],
        &emu.base_url(),
        &key_file,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("timed out"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bin_list_approve_reject() {
    let emu = start();
    let url = emu.base_url();
    let dir = temp_dir();
    let key = ApproverKey::generate(KeyKind::Rsa2048);
    let key_file = write_key(&dir, &key);
    create_ska_key(&url, "table-key", &[&key], 1);
    let r1 = sign_request(&url, "table-key", "first build");
    let r2 = sign_request(&url, "table-key", "second build");

    let out = run_bin(&["list"], &url, &key_file);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.starts_with("TASK ID"), "{stdout}");
    assert!(stdout.contains("table-key"), "{stdout}");
    assert!(stdout.contains("Sign"), "{stdout}");
    assert!(stdout.contains("first build"), "{stdout}");
    assert!(stdout.contains("second build"), "{stdout}");
    assert_eq!(stdout.lines().count(), 3, "{stdout}");

    let out = run_bin(&["list", "--operation", "Decrypt"], &url, &key_file);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).lines().count(), 1);

    // approve by request id, reject by task id
    let out = run_bin(&["approve", &r1], &url, &key_file);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("approved task "),
        "{}",
        text(&out.stdout)
    );
    wait_status(&url, &r1, RequestState::Executed);

    let approver = Approver::new(&url, key);
    let task2 = approver.find_task(&r2).unwrap();
    let out = run_bin(&["reject", &task2.task.id], &url, &key_file);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with(&format!("rejected task {}", task2.task.id)));
    wait_status(&url, &r2, RequestState::Rejected);

    // Nothing left: approving again is an operational failure naming the server.
    let out = run_bin(&["approve", &r1], &url, &key_file);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&url), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bin_failures_exit_1_and_usage_exit_2() {
    let dir = temp_dir();
    let key_file = write_key(&dir, &ApproverKey::generate(KeyKind::EcP256));
    let out = run_bin(&["list"], "http://127.0.0.1:1", &key_file);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("http://127.0.0.1:1/v1/filteredAllApprovalTask"));
    let out = run_bin(&["list"], "http://127.0.0.1:1", &dir.join("missing.pem"));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.pem"));
    let out = run_bin(&["list", "--bogus"], "http://127.0.0.1:1", &key_file);
    assert_eq!(out.status.code(), Some(2));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = run_bin(&["pubkey"], "", &key_file);
        assert!(out.status.success());
        assert!(
            text(&out.stderr).contains("chmod 600"),
            "{}",
            text(&out.stderr)
        );
    }

    // keygen + pubkey agree, and the key file is private.
    let k = dir.join("new.pem");
    let out = run_bin(
        &["keygen", "--type", "ec", "--out", k.to_str().unwrap()],
        "",
        &key_file,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let spki = text(&out.stdout).trim().to_owned();
    let out = run_bin(&["pubkey", "--key", k.to_str().unwrap()], "", &key_file);
    assert_eq!(text(&out.stdout).trim(), spki);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&k).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A CA and a server certificate for 127.0.0.1 signed by it, as PEM files in `dir`.
fn tls_files(dir: &Path) -> (PathBuf, tsb_emulator::TlsFiles) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectAlternativeName};
    use openssl::x509::{X509Builder, X509NameBuilder};

    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let ca_key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let leaf_key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let name = |cn: &str| {
        let mut n = X509NameBuilder::new().unwrap();
        n.append_entry_by_text("CN", cn).unwrap();
        n.build()
    };
    let build = |serial: u32, subject: &str, key: &PKey<openssl::pkey::Private>, ca: bool| {
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_serial_number(&BigNum::from_u32(serial).unwrap().to_asn1_integer().unwrap())
            .unwrap();
        b.set_subject_name(&name(subject)).unwrap();
        b.set_issuer_name(&name("tsb-approve test CA")).unwrap();
        b.set_pubkey(key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        if ca {
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
            b.append_extension(KeyUsage::new().critical().key_cert_sign().build().unwrap())
                .unwrap();
        } else {
            let san = SubjectAlternativeName::new()
                .ip("127.0.0.1")
                .build(&b.x509v3_context(None, None))
                .unwrap();
            b.append_extension(san).unwrap();
        }
        b.sign(&ca_key, MessageDigest::sha256()).unwrap();
        b.build()
    };
    let ca = build(1, "tsb-approve test CA", &ca_key, true);
    let leaf = build(2, "127.0.0.1", &leaf_key, false);
    let ca_file = dir.join("ca.pem");
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    std::fs::write(&ca_file, ca.to_pem().unwrap()).unwrap();
    std::fs::write(&cert, leaf.to_pem().unwrap()).unwrap();
    std::fs::write(&key, leaf_key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    (ca_file, tsb_emulator::TlsFiles { cert, key })
}

#[test]
fn https_with_ca_file_and_verification_always_on() {
    let dir = temp_dir();
    let (ca_file, files) = tls_files(&dir);
    let emu = Emulator::start(EmulatorConfig {
        tls: Some(files),
        ..EmulatorConfig::default()
    })
    .unwrap();
    let url = emu.base_url();
    assert!(url.starts_with("https://"));
    let key = ApproverKey::generate(KeyKind::EcP256);

    // Unknown CA: refused, as a transport error naming the URL.
    let e = Approver::new(&url, key.clone())
        .tasks(&TaskFilter::default())
        .unwrap_err();
    assert!(matches!(e, ApproveError::Transport { .. }), "{e}");
    assert!(e.to_string().contains(&url), "{e}");

    // With the CA: works.
    let ok = Approver::new(&url, key.clone()).ca_file(&ca_file);
    assert!(ok.tasks(&TaskFilter::default()).unwrap().is_empty());

    // The binary too.
    let key_file = write_key(&dir, &key);
    let out = run_bin(
        &["list", "--ca-file", ca_file.to_str().unwrap()],
        &url,
        &key_file,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run_bin(&["list"], &url, &key_file);
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn watch_rides_out_transient_faults_and_stops_on_4xx() {
    let emu = start();
    let url = emu.base_url();
    let key = ApproverKey::generate(KeyKind::EcP256);
    create_ska_key(&url, "flaky", &[&key], 1);
    let rid = sign_request(&url, "flaky", "m");
    let fault = |path: &str, action: FaultAction| Fault {
        path: path.into(),
        method: None,
        count: 1,
        action,
    };
    let list = "/v1/filteredAllApprovalTask";
    emu.inject_fault(fault(
        list,
        FaultAction::Status {
            status: 503,
            error_code: None,
        },
    ));
    emu.inject_fault(fault(list, FaultAction::Drop));
    emu.inject_fault(fault(list, FaultAction::Malformed));
    emu.inject_fault(fault(
        "/v1/approval",
        FaultAction::Status {
            status: 500,
            error_code: Some(701),
        },
    ));
    let approver = Approver::new(&url, key.clone());
    let (mut poll_failures, mut approve_failures, mut approved) = (0, 0, 0);
    let out = approver
        .watch(
            &TaskFilter::default(),
            true,
            Some(1),
            Duration::from_millis(20),
            Some(Duration::from_secs(20)),
            |ev| match ev {
                Event::PollFailed(_) => poll_failures += 1,
                Event::ApproveFailed(_, e) => {
                    assert_eq!(e.tsb_error_code(), Some(701), "{e}");
                    approve_failures += 1
                }
                Event::Approved(_) => approved += 1,
                Event::Seen(_) => {}
            },
        )
        .unwrap();
    assert!(out.count_reached);
    assert_eq!((poll_failures, approve_failures, approved), (3, 1, 1));
    wait_status(&url, &rid, RequestState::Executed);

    // A 4xx on the listing (here a rejected API key) ends the watch with that error.
    emu.inject_fault(fault(
        list,
        FaultAction::Status {
            status: 401,
            error_code: Some(631),
        },
    ));
    let e = approver
        .watch(
            &TaskFilter::default(),
            true,
            Some(1),
            Duration::from_millis(20),
            Some(Duration::from_secs(20)),
            |_| {},
        )
        .unwrap_err();
    assert_eq!(e.status(), Some(401), "{e}");
    assert!(e.to_string().contains("631"), "{e}");
}

#[test]
fn spawn_auto_approve_unblocks_a_waiting_client() {
    let emu = start();
    let url = emu.base_url();
    let key = ApproverKey::generate(KeyKind::EcP256);
    create_ska_key(&url, "bg", &[&key], 1);
    let approver = Approver::new(&url, key);
    let bg = approver.spawn_auto_approve(
        TaskFilter {
            key_label: Some("bg".into()),
            ..TaskFilter::default()
        },
        Some(1),
        Some(Duration::from_secs(30)),
    );
    // The "client": create the request, then block until it is done.
    let rid = sign_request(&url, "bg", "m");
    wait_status(&url, &rid, RequestState::Executed);
    let outcome = bg.join().unwrap().unwrap();
    assert!(outcome.count_reached);
}

/// Every emulator profile (TSB 1.18 to the newest): listing, approving, rejecting, the request-id
/// lookup and the binary work. Before TSB 2.0.1 there is no `/v1/filteredAllApprovalTask` (S2
/// `tsb/Download/release_notes.md` 2.0.1), so the approver falls back on the per-type lists.
#[test]
fn every_tsb_profile() {
    for v in tsb_emulator::TsbVersion::PROFILES {
        let emu = Emulator::start(EmulatorConfig {
            tsb_version: v,
            ..EmulatorConfig::default()
        })
        .unwrap();
        let url = emu.base_url();
        let key = ApproverKey::generate(KeyKind::EcP256);
        create_ska_key(&url, "k", &[&key], 1);
        let approver = Approver::new(&url, key.clone());
        // Approve.
        let rid = sign_request(&url, "k", "approve me");
        let tasks = approver.tasks(&TaskFilter::default()).unwrap();
        assert_eq!(tasks.len(), 1, "{v}: {tasks:?}");
        assert_eq!(
            approver.find_task(&rid).unwrap().task.id,
            tasks[0].id,
            "{v}"
        );
        approver.approve(&tasks[0]).unwrap();
        wait_status(&url, &rid, RequestState::Executed);
        // Reject.
        let rid = sign_request(&url, "k", "reject me");
        let task = approver.find_task(&rid).unwrap();
        approver.reject(&task.task.id).unwrap();
        wait_status(&url, &rid, RequestState::Rejected);
        assert!(
            approver.tasks(&TaskFilter::default()).unwrap().is_empty(),
            "{v}"
        );
        // The binary lists and approves.
        let dir = temp_dir();
        let key_file = write_key(&dir, &key);
        let rid = sign_request(&url, "k", "binary");
        let out = run_bin(&["approve", &rid], &url, &key_file);
        assert!(out.status.success(), "{v}: {}", text(&out.stderr));
        wait_status(&url, &rid, RequestState::Executed);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// An unwrap request on an SKA RSA unwrap key (`POST /v1/unwrap`): the approver sees it as an
/// `UnWrap` of that key (listed by `filteredAllApprovalTask`, or by
/// `filteredUnwrapKeyApprovalTask` on a TSB before 2.0.1), a filter for unwraps approves it, and
/// the key it carries is created.
#[test]
fn unwrap_task_is_listed_filtered_and_approved() {
    use tsb_emulator::TsbVersion;
    for version in [TsbVersion::NEWEST, TsbVersion::V1_18_0] {
        let emu = Emulator::start(EmulatorConfig {
            tsb_version: version,
            ..EmulatorConfig::default()
        })
        .unwrap();
        let url = emu.base_url();
        let key = ApproverKey::generate(KeyKind::EcP256);
        let rule = json!({"tokens": [{"name": "T", "timelock": 0, "timeout": 0, "groups": [
            {"name": "G", "quorum": 1, "approvals": [key.policy_approval("a")]}]}]});
        let created: Value = http()
            .post(format!("{url}/v1/key"))
            .json(
                &json!({"label": "unwrapper", "algorithm": "RSA", "keySize": 2048,
                "attributes": {"sign": false, "decrypt": false, "unwrap": true},
                "policy": {"ruleUse": rule, "keyStatus": {"blocked": false}}}),
            )
            .send()
            .unwrap()
            .json()
            .unwrap();
        let pk = openssl::rsa::Rsa::public_key_from_der(
            &B64.decode(created["json"]["publicKey"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        let mut wrapped = vec![0u8; pk.size() as usize];
        pk.public_encrypt(&[9u8; 16], &mut wrapped, openssl::rsa::Padding::PKCS1)
            .unwrap();
        let v: Value = http()
            .post(format!("{url}/v1/unwrap"))
            .json(
                &json!({"unwrapKeyRequest": {"wrappedKey": B64.encode(wrapped), "label": "new",
                "attributes": {"sign": false, "decrypt": true, "unwrap": false},
                "unwrapKeyName": "unwrapper", "wrapMethod": "RSA_WRAP_PAD"}}),
            )
            .send()
            .unwrap()
            .json()
            .unwrap();
        let rid = v["unwrapRequestId"]
            .as_str()
            .expect("unwrapRequestId")
            .to_owned();
        let approver = Approver::new(&url, key);
        let filter = TaskFilter {
            operation: Some("unwrap".into()),
            key_label: Some("unwrapper".into()),
            ..TaskFilter::default()
        };
        let pending = approver.pending(&filter).unwrap();
        assert_eq!(pending.len(), 1, "{version}: {pending:?}");
        assert_eq!(pending[0].operation, Some("UnWrap"));
        assert_eq!(pending[0].signed_key_label.as_deref(), Some("unwrapper"));
        let sign_only = TaskFilter {
            operation: Some("Sign".into()),
            ..TaskFilter::default()
        };
        assert!(approver.pending(&sign_only).unwrap().is_empty());
        approver.approve(&pending[0].task).unwrap();
        wait_status(&url, &rid, RequestState::Executed);
        assert_eq!(emu.secret_key_bytes("new"), Some(vec![9u8; 16]));
    }
}
