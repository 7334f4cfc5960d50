//! `tsb-pkcs11-doctor` (issue 14, "First contact") against the emulator, each failure injected:
//! a wrong bearer token, an untrusted TLS certificate (no `ca_file`, a wrong one), a certificate
//! for another name, an unreachable URL, a missing API key of a role, a refused one, a config
//! error, and the all-good case. Each test asserts on the verdict lines and the exit code, and
//! that no secret of the configuration appears anywhere in the output (stdout and stderr).
//!
//! The doctor runs as a process of its own (the built binary, or `TSB_PKCS11_DOCTOR` when set:
//! CI points it at the installed package's), with an environment of the test's making only.

mod common;

use common::direct::create_key_with;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tsb_approve::{ApproverKey, KeyKind};
use tsb_emulator::{Emulator, EmulatorConfig, Fault, FaultAction, Role, TlsFiles};

const TOKEN: &str = "jwt-doctor-secret-0123456789";
const KM_KEY: &str = "km-secret-key-4711";
const KO_KEY: &str = "ko-secret-key-4712";
const SVC_KEY: &str = "svc-secret-key-4713";
const AP_KEY: &str = "ap-secret-key-4714";
const KEY_PASSWORD: &str = "key-password-secret-4715";
const SECRETS: [&str; 6] = [TOKEN, KM_KEY, KO_KEY, SVC_KEY, AP_KEY, KEY_PASSWORD];

/// The doctor under test.
fn doctor_path() -> PathBuf {
    match std::env::var_os("TSB_PKCS11_DOCTOR") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_tsb-pkcs11-doctor")),
    }
}

/// What one run printed, and its exit code.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The line with this verdict that contains every one of `words`; fails the test otherwise.
    fn line(&self, verdict: &str, words: &[&str]) -> &str {
        self.stdout
            .lines()
            .find(|l| {
                l.starts_with(&format!("{verdict:<5} ")) && words.iter().all(|w| l.contains(w))
            })
            .unwrap_or_else(|| panic!("no {verdict} line with {words:?} in:\n{}", self.stdout))
    }

    /// The `fix:` line right under the line with this verdict and these words.
    fn fix(&self, verdict: &str, words: &[&str]) -> &str {
        let line = self.line(verdict, words);
        let mut lines = self.stdout.lines().skip_while(|l| *l != line);
        lines.next();
        lines
            .next()
            .filter(|l| l.trim_start().starts_with("fix: "))
            .unwrap_or_else(|| panic!("no fix under {line:?} in:\n{}", self.stdout))
    }

    /// The verdicts of every check line, in order.
    fn verdicts(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| matches!(*w, "OK" | "WARN" | "FAIL" | "SKIP"))
            .collect()
    }

    /// No secret anywhere in the output.
    fn no_secrets(&self) {
        for s in SECRETS {
            assert!(
                !self.stdout.contains(s) && !self.stderr.contains(s),
                "secret {s:?} printed:\n{}\n{}",
                self.stdout,
                self.stderr
            );
        }
    }

    fn exit(&self, code: i32) {
        assert_eq!(self.code, code, "exit code; output:\n{}", self.stdout);
    }
}

/// Run the doctor with `config` (a file, through TSB_PKCS11_CONFIG), the environment `env` and
/// the arguments `args`; nothing else of the test's environment reaches it.
fn doctor(config: Option<&Path>, env: &[(&str, &str)], args: &[&str]) -> Run {
    let home = common::temp_dir("doctor-home");
    let mut cmd = Command::new(doctor_path());
    cmd.env_clear().env("HOME", &home).args(args);
    if let Some(c) = config {
        cmd.env("TSB_PKCS11_CONFIG", c);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run tsb-pkcs11-doctor");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    run.no_secrets();
    run
}

/// A config file with one slot (`slot` merged into `{"label": "doctor"}`).
fn config(dir: &Path, slot: serde_json::Value) -> PathBuf {
    let mut s = serde_json::json!({"label": "doctor"});
    if let serde_json::Value::Object(extra) = slot {
        for (k, v) in extra {
            s[k] = v;
        }
    }
    common::write(
        dir,
        "config.json",
        serde_json::to_string_pretty(&serde_json::json!({ "slots": [s] }))
            .unwrap()
            .as_bytes(),
    )
}

/// An emulator with a bearer token and an API key per role the module uses (and the approvers').
fn guarded(tls: Option<TlsFiles>) -> Emulator {
    Emulator::start(EmulatorConfig {
        tls,
        bearer_token: Some(TOKEN.into()),
        api_keys: vec![
            (Role::KeyManagement, KM_KEY.into()),
            (Role::KeyOperation, KO_KEY.into()),
            (Role::Service, SVC_KEY.into()),
            (Role::Approver, AP_KEY.into()),
        ],
        test_controls: true,
        ..Default::default()
    })
    .expect("start emulator")
}

/// The slot settings for [`guarded`]'s credentials: the token in a file, the keys in the
/// environment ([`key_env`]).
fn credentials(dir: &Path) -> serde_json::Value {
    let token = common::write(dir, "jwt", TOKEN.as_bytes());
    serde_json::json!({
        "token": {"file": token},
        "api_keys": {
            "keyManagementToken": {"env": "KM"},
            "keyOperationToken": {"env": "KO"},
            "serviceToken": {"env": "SVC"},
            "approverToken": {"env": "AP"},
        },
        "key_password": {"env": "KEY_PW"},
    })
}

fn key_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("KM", KM_KEY),
        ("KO", KO_KEY),
        ("SVC", SVC_KEY),
        ("AP", AP_KEY),
        ("KEY_PW", KEY_PASSWORD),
    ]
}

/// `slot` with these extra fields.
fn with(mut slot: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let serde_json::Value::Object(m) = extra {
        for (k, v) in m {
            slot[k] = v;
        }
    }
    slot
}

/// An HTTPS emulator ([`guarded`]) whose certificate a fresh test CA issued for `names`:
/// (emulator, the CA's PEM file).
fn https(dir: &Path, names: &[&str], days: u32) -> (Emulator, PathBuf) {
    let (ca, cert, key) = common::tls::tls_files_valid(names, days);
    let tls = TlsFiles {
        cert: common::write(dir, "cert.pem", &cert),
        key: common::write(dir, "key.pem", &key),
    };
    (guarded(Some(tls)), common::write(dir, "ca.pem", &ca))
}

#[test]
fn all_good_every_line_ok() {
    let dir = common::temp_dir("doctor-good");
    let (emu, ca) = https(&dir, &["localhost", "127.0.0.1"], 365);
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .build()
        .unwrap();
    let auth = format!("Bearer {TOKEN}");
    let headers = [("Authorization", auth.as_str()), ("X-API-KEY", KM_KEY)];
    let approver = ApproverKey::generate(KeyKind::EcP256);
    let policy = common::policy_for(&[approver.public_key_b64()], 1, 600);
    create_key_with(&http, &emu, "plain-signer", "p256", None, &headers);
    create_key_with(&http, &emu, "release", "rsa", Some(&policy), &headers);
    let journal = dir.join("journal.jsonl");
    let cfg = config(
        &dir,
        with(
            credentials(&dir),
            serde_json::json!({"url": emu.base_url(), "ca_file": ca, "journal": journal}),
        ),
    );
    let run = doctor(Some(&cfg), &key_env(), &["--debug"]);
    run.exit(0);
    assert!(
        run.verdicts().iter().all(|v| *v == "OK"),
        "every line OK:\n{}",
        run.stdout
    );
    let url = emu.base_url();
    run.line("OK", &["config:", cfg.to_str().unwrap(), "valid, 1 slot"]);
    run.line("OK", &[&url, "TCP connect"]);
    run.line(
        "OK",
        &[
            &url,
            "TLS certificate trusted",
            "ca_file",
            "subject CN=localhost",
            "issuer CN=test CA",
        ],
    );
    run.line(
        "OK",
        &[&url, "TLS host name 127.0.0.1 matches", "IP:127.0.0.1"],
    );
    run.line("OK", &[&url, "TLS certificate valid from", "days left"]);
    run.line("OK", &["bearer token: accepted"]);
    run.line(
        "OK",
        &["api_keys.keyManagementToken: accepted", "GET /v1/key"],
    );
    run.line(
        "OK",
        &[
            "api_keys.keyOperationToken: accepted",
            "GET /v1/generateRandom/1",
        ],
    );
    run.line(
        "OK",
        &["api_keys.serviceToken: accepted", "GET /v1/versionInfo"],
    );
    run.line(
        "OK",
        &["api_keys.approverToken: passed the TSB's API-key check"],
    );
    run.line("OK", &["TSB version: 2.2.0"]);
    assert!(run
        .stdout
        .contains("PKCS#1 v1.5 decryption is sent as RSA_PADDING_PKCS"));
    run.line("OK", &["keys: the TSB lists 2 keys"]);
    run.line(
        "OK",
        &["key \"plain-signer\": EC P-256, sign; no approvals"],
    );
    run.line(
        "OK",
        &[
            "key \"release\": RSA 2048, sign, decrypt; needs 1 approval",
            "1 of 1",
            "timeout 10 min",
        ],
    );
    run.line("OK", &["journal", "no requests remembered"]);
    assert!(
        run.stdout.contains("summary: ")
            && run
                .stdout
                .contains("0 WARN, 0 FAIL, 0 SKIP: all is well (exit 0)")
    );
    // --debug: the module's own log lines on stderr, without a secret (checked by `doctor`).
    assert!(run.stderr.contains("GET /v1/key -> 200"), "{}", run.stderr);
    // --keys: at most that many keys in detail.
    let run = doctor(Some(&cfg), &key_env(), &["--keys", "1"]);
    run.exit(0);
    run.line("OK", &["key \"plain-signer\""]);
    assert!(!run.stdout.contains("key \"release\""), "{}", run.stdout);
    assert!(
        run.stdout.contains("and 1 more (--keys 2 lists them all)"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_wrong_bearer_token() {
    let dir = common::temp_dir("doctor-token");
    let emu = guarded(None);
    let mut slot = credentials(&dir);
    common::write(&dir, "jwt", b"not-the-token");
    slot = with(
        slot,
        serde_json::json!({"url": emu.base_url(), "allow_http": true}),
    );
    let run = doctor(Some(&config(&dir, slot)), &key_env(), &[]);
    run.exit(2);
    run.line("OK", &["plain http:// to a loopback address"]);
    run.line("FAIL", &["bearer token: refused", "errorCode 617"]);
    assert!(run
        .fix("FAIL", &["bearer token: refused"])
        .contains("renew `token`"));
    run.line(
        "SKIP",
        &[
            "api_keys.keyManagementToken",
            "refused the bearer token first",
        ],
    );
    run.line("SKIP", &["TSB version: not read"]);
    run.line("SKIP", &["keys: not read"]);
    assert!(run.stdout.contains("(exit 2)"));
}

#[test]
fn no_bearer_token_where_the_tsb_wants_one() {
    let dir = common::temp_dir("doctor-notoken");
    let emu = guarded(None);
    let slot = credentials(&dir);
    let mut slot = with(
        slot,
        serde_json::json!({"url": emu.base_url(), "allow_http": true}),
    );
    slot.as_object_mut().unwrap().remove("token");
    let run = doctor(Some(&config(&dir, slot)), &key_env(), &[]);
    run.exit(2);
    run.line(
        "FAIL",
        &[
            "bearer token: none configured, and the TSB wants one",
            "errorCode 406",
        ],
    );
    assert!(run
        .fix("FAIL", &["bearer token"])
        .contains("TSB_PKCS11_TOKEN"));
}

#[test]
fn an_untrusted_certificate_without_or_with_a_wrong_ca_file() {
    let dir = common::temp_dir("doctor-ca");
    let (emu, _ca) = https(&dir, &["localhost", "127.0.0.1"], 365);
    let other_dir = common::temp_dir("doctor-ca-other");
    let (other_ca, _, _) = common::tls::tls_files(&["localhost"]);
    let wrong = common::write(&other_dir, "other-ca.pem", &other_ca);
    for ca_file in [None, Some(wrong)] {
        let mut slot = with(
            credentials(&dir),
            serde_json::json!({"url": emu.base_url()}),
        );
        if let Some(c) = &ca_file {
            slot["ca_file"] = serde_json::json!(c);
        }
        let run = doctor(Some(&config(&dir, slot)), &key_env(), &[]);
        run.exit(2);
        let line = run.line(
            "FAIL",
            &[
                "TLS certificate not trusted",
                "subject CN=localhost",
                "issuer CN=test CA",
            ],
        );
        // Without a ca_file no root has the issuer's name; the other CA has the same name and
        // another key, so its signature does not verify.
        match &ca_file {
            None => assert!(line.contains("UnknownIssuer"), "{line}"),
            Some(_) => assert!(
                line.contains("other-ca.pem") && line.contains("BadSignature"),
                "{line}"
            ),
        }
        assert!(run
            .fix("FAIL", &["TLS certificate not trusted"])
            .contains("add the TSB's CA with `ca_file`"));
        // The host name is still told, on its own.
        run.line("OK", &["TLS host name 127.0.0.1 matches"]);
        run.line("SKIP", &["credentials, TSB version and keys: not checked"]);
    }
}

#[test]
fn a_certificate_for_another_name_and_about_to_expire() {
    let dir = common::temp_dir("doctor-name");
    let (emu, ca) = https(&dir, &["tsb.example"], 10);
    let slot = with(
        credentials(&dir),
        serde_json::json!({"url": emu.base_url(), "ca_file": ca}),
    );
    let run = doctor(Some(&config(&dir, slot)), &key_env(), &[]);
    run.exit(2);
    run.line(
        "OK",
        &["TLS certificate chain trusted", "subject CN=tsb.example"],
    );
    run.line(
        "FAIL",
        &[
            "TLS host name 127.0.0.1 is not in the certificate",
            "DNS:tsb.example",
        ],
    );
    assert!(run
        .fix("FAIL", &["TLS host name"])
        .contains("use the name its certificate was issued for"));
    run.line("WARN", &["TLS certificate expires in", "days (valid from"]);
    assert!(run
        .fix("WARN", &["TLS certificate expires"])
        .contains("renewed"));
}

#[test]
fn an_unreachable_url() {
    let dir = common::temp_dir("doctor-down");
    // A loopback port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = format!("http://{closed}");
    let slot = serde_json::json!({"url": down, "allow_http": true});
    let run = doctor(Some(&config(&dir, slot)), &[], &[]);
    run.exit(2);
    run.line("OK", &[&down, "an IP address: no DNS"]);
    run.line("FAIL", &[&down, "TCP connect failed", "refused"]);
    assert!(run
        .fix("FAIL", &["TCP connect failed"])
        .contains("check that the TSB is running"));
    run.line("SKIP", &["credentials, TSB version and keys: not checked"]);

    // With a second URL that works: the first still fails, the rest is checked through the
    // second (the module fails over to it).
    let emu = guarded(None);
    let slot = with(
        credentials(&dir),
        serde_json::json!({"url": [down, emu.base_url()], "allow_http": true}),
    );
    let run = doctor(Some(&config(&dir, slot)), &key_env(), &[]);
    run.exit(2);
    run.line("FAIL", &[&down, "TCP connect failed"]);
    run.line("OK", &["bearer token: accepted"]);
    run.line("OK", &["keys: the TSB lists 0 keys"]);
}

#[test]
fn a_missing_and_a_refused_role_key() {
    let dir = common::temp_dir("doctor-role");
    let emu = guarded(None);
    // No keyOperationToken key, where the TSB wants one.
    let mut slot = with(
        credentials(&dir),
        serde_json::json!({"url": emu.base_url(), "allow_http": true}),
    );
    slot["api_keys"]
        .as_object_mut()
        .unwrap()
        .remove("keyOperationToken");
    let run = doctor(Some(&config(&dir, slot.clone())), &key_env(), &[]);
    run.exit(2);
    run.line("OK", &["bearer token: accepted"]);
    run.line("OK", &["api_keys.keyManagementToken: accepted"]);
    run.line(
        "FAIL",
        &[
            "keyOperationToken: no API key configured, but the TSB wants one",
            "errorCode 631",
        ],
    );
    assert!(run
        .fix("FAIL", &["keyOperationToken"])
        .contains("add `api_keys.keyOperationToken`"));

    // A wrong key for it: refused. With the right one as its spare: a warning (the module rolls
    // over to the spare, after a refusal in every process).
    slot["api_keys"]["keyOperationToken"] = serde_json::json!([{"env": "WRONG"}, {"env": "KO"}]);
    let mut env = key_env();
    env.push(("WRONG", "wrong-api-key"));
    let run = doctor(Some(&config(&dir, slot.clone())), &env, &[]);
    run.exit(1);
    run.line(
        "WARN",
        &["api_keys.keyOperationToken[0]: refused", "errorCode 631"],
    );
    run.line("OK", &["api_keys.keyOperationToken[1]: accepted"]);
    slot["api_keys"]["keyOperationToken"] = serde_json::json!({"env": "WRONG"});
    let run = doctor(Some(&config(&dir, slot)), &env, &[]);
    run.exit(2);
    run.line(
        "FAIL",
        &["api_keys.keyOperationToken: refused", "errorCode 631"],
    );
    assert!(run
        .fix("FAIL", &["api_keys.keyOperationToken"])
        .contains("`api_keys.keyOperationToken`"));
}

#[test]
fn a_version_the_module_cannot_read_is_a_warning() {
    let dir = common::temp_dir("doctor-version");
    let emu = guarded(None);
    let mut slot = with(
        credentials(&dir),
        serde_json::json!({"url": emu.base_url(), "allow_http": true}),
    );
    slot["api_keys"]
        .as_object_mut()
        .unwrap()
        .remove("serviceToken");
    let run = doctor(Some(&config(&dir, slot.clone())), &key_env(), &[]);
    run.exit(1);
    run.line(
        "WARN",
        &["TSB version: unknown to the module", "serviceToken"],
    );
    assert!(run.fix("WARN", &["TSB version"]).contains("tsb_version"));
    assert!(run
        .stdout
        .contains("PKCS#1 v1.5 decryption is sent as RSA\n"));
    // Given in the config: known, and checked against nothing (the TSB cannot be asked).
    slot["tsb_version"] = serde_json::json!("2.1.1");
    let run = doctor(Some(&config(&dir, slot)), &key_env(), &[]);
    run.exit(0);
    run.line("OK", &["TSB version: 2.1.1, the slot's tsb_version"]);
}

#[test]
fn remembered_requests_with_their_age() {
    let dir = common::temp_dir("doctor-journal");
    let emu = guarded(None);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let journal = common::write(
        &dir,
        "journal.jsonl",
        format!(
            "{{\"fingerprint\":\"a\",\"state\":\"pending\",\"requestId\":\"req-pending-1\",\"since\":{},\"what\":\"signature with key release\"}}\n\
             {{\"fingerprint\":\"b\",\"state\":\"unknown\",\"since\":{},\"until\":{},\"what\":\"CSR with key web\"}}\n\
             not an entry\n",
            now - 720,
            now - 7200,
            now + 600
        )
        .as_bytes(),
    );
    let slot = with(
        credentials(&dir),
        serde_json::json!({"url": emu.base_url(), "allow_http": true, "journal": journal}),
    );
    let run = doctor(Some(&config(&dir, slot)), &key_env(), &[]);
    run.exit(1);
    run.line(
        "OK",
        &["journal", "2 remembered: 1 pending, 1 outcome unknown"],
    );
    run.line("WARN", &["1 line(s) are not entries"]);
    run.line(
        "WARN",
        &[
            "request req-pending-1 (signature with key release) pending since",
            "(12 min ago)",
        ],
    );
    assert!(run
        .fix("WARN", &["req-pending-1"])
        .contains("tsb-approve list"));
    run.line(
        "WARN",
        &[
            "(CSR with key web) outcome unknown since",
            "(2 h ago)",
            "refused until",
        ],
    );
    assert!(run
        .fix("WARN", &["CSR with key web"])
        .contains("TSB_PKCS11_FORGET_UNKNOWN=1"));
    // The TSB was not asked about them (a fetch-once result would be used up).
    assert_eq!(emu.request_count("GET", "/v1/request/req-pending-1"), 0);
}

#[test]
fn a_config_error_names_file_line_and_field() {
    let dir = common::temp_dir("doctor-config");
    let cfg = common::write(
        &dir,
        "config.json",
        b"{\n  \"slots\": [\n    {\n      \"url\": \"http://10.1.2.3:8080\",\n      \"allow_http\": true\n    }\n  ]\n}\n",
    );
    let run = doctor(Some(&cfg), &[], &[]);
    run.exit(2);
    let line = run.line(
        "FAIL",
        &[
            "config: config error in",
            "line 4: slots[0].url",
            "loopback",
        ],
    );
    assert!(line.contains(cfg.to_str().unwrap()), "{line}");
    assert!(run
        .fix("FAIL", &["config:"])
        .contains("C_Initialize fails with this same line"));
    assert_eq!(run.verdicts(), ["FAIL"]);

    // A token written into the file itself is refused without being repeated.
    let cfg = common::write(
        &dir,
        "inline.json",
        format!("{{\"slots\": [{{\"url\": \"https://tsb.example\",\n \"token\": \"{TOKEN}\"}}]}}")
            .as_bytes(),
    );
    let run = doctor(Some(&cfg), &[], &[]);
    run.exit(2);
    run.line(
        "FAIL",
        &["line 2", "a secret is never written in the config itself"],
    );

    // No configuration at all.
    let run = doctor(None, &[], &[]);
    run.exit(2);
    run.line("FAIL", &["config: no configuration"]);
    assert!(run
        .fix("FAIL", &["no configuration"])
        .contains("/etc/tsb-pkcs11/config.json"));
    // A wrong command line.
    assert_eq!(doctor(None, &[], &["--bogus"]).code, 64);
}

#[test]
fn the_environment_alone_and_its_token() {
    // No file: TSB_PKCS11_URL and TSB_PKCS11_TOKEN, as a CI job configures the module.
    let emu = Emulator::start(EmulatorConfig {
        bearer_token: Some(TOKEN.into()),
        ..Default::default()
    })
    .unwrap();
    let run = doctor(
        None,
        &[
            ("TSB_PKCS11_URL", &emu.base_url()),
            ("TSB_PKCS11_ALLOW_HTTP", "1"),
            ("TSB_PKCS11_TOKEN", TOKEN),
        ],
        &[],
    );
    run.exit(0);
    run.line("OK", &["config: environment (no file"]);
    assert!(
        run.stdout.contains("TSB_PKCS11_TOKEN"),
        "the variable's name is shown"
    );
    run.line("OK", &["bearer token: accepted"]);
    run.line(
        "OK",
        &["keyManagementToken: no API key configured, and the TSB asks for none"],
    );
}

#[test]
fn the_pin_as_the_token_cannot_be_checked_without_it() {
    let dir = common::temp_dir("doctor-pin");
    let emu = Emulator::start(EmulatorConfig {
        bearer_token: Some(TOKEN.into()),
        ..Default::default()
    })
    .unwrap();
    let slot = serde_json::json!({"url": emu.base_url(), "allow_http": true, "pin_is_token": true});
    let cfg = config(&dir, slot);
    let run = doctor(Some(&cfg), &[], &[]);
    run.exit(1);
    run.line(
        "WARN",
        &["not checked", "the PIN given to C_Login (pin_is_token)"],
    );
    assert!(run
        .fix("WARN", &["pin_is_token"])
        .contains("TSB_PKCS11_TOKEN_FILE"));
    // With the token given for the run, the TSB is asked.
    let run = doctor(Some(&cfg), &[("TSB_PKCS11_TOKEN", TOKEN)], &[]);
    run.exit(0);
    run.line("OK", &["bearer token: accepted"]);
}

#[test]
fn time_is_bounded_when_the_tsb_does_not_answer() {
    let dir = common::temp_dir("doctor-slow");
    let emu = guarded(None);
    // The key list is read and never answered.
    emu.inject_fault(Fault {
        path: "/v1/key".into(),
        method: Some("GET".into()),
        count: 100,
        action: FaultAction::Blackhole,
    });
    let slot = with(
        credentials(&dir),
        serde_json::json!({"url": emu.base_url(), "allow_http": true}),
    );
    let started = Instant::now();
    let run = doctor(Some(&config(&dir, slot)), &key_env(), &["--timeout", "3"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    run.exit(2);
    run.line("FAIL", &["api_keys.keyManagementToken", "out of time"]);
}
