//! Issue 10 item 6: one bad key on the TSB never fails a whole find. Keys with odd labels (very
//! long, with `/`, `%`, spaces), a key whose attributes cannot be read and a certificate that
//! fails to fetch are created or provoked directly on the emulator, behind the module's back;
//! every other key is still found (C_FindObjects and `pkcs11-tool -O`), and every key the TSB lists
//! can be destroyed. Labels given to C_GenerateKeyPair are checked before any request.

mod common;

use common::{direct, Env, Opts};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use std::process::Command;
use tsb_emulator::{Fault, FaultAction};

fn long_label() -> String {
    format!("long-{}", "L".repeat(70_000))
}

fn odd_labels() -> Vec<String> {
    vec![
        "with/slash".into(),
        "a/b/c/".into(),
        "50%done".into(),
        "%2F".into(),
        "sp ace".into(),
        long_label(),
    ]
}

fn log_env(tag: &str) -> (std::path::PathBuf, Vec<(String, String)>) {
    let log = std::env::temp_dir().join(format!("tsb-odd-{tag}-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    (
        log.clone(),
        vec![("TSB_PKCS11_LOG_FILE".into(), log.display().to_string())],
    )
}

fn private_labels(s: &cryptoki::session::Session) -> Vec<String> {
    let found = s
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .expect("find private keys");
    let mut labels: Vec<String> = found
        .iter()
        .map(
            |h| match s.get_attributes(*h, &[cryptoki::object::AttributeType::Label]) {
                Ok(mut v) => match v.pop() {
                    Some(Attribute::Label(l)) => String::from_utf8(l).unwrap(),
                    other => panic!("{other:?}"),
                },
                Err(e) => panic!("label of a found key: {e}"),
            },
        )
        .collect();
    labels.sort();
    labels
}

isolated!(
    /// Odd labels: found by an unfiltered find and by label, listed by pkcs11-tool -O, and
    /// destroyed through the module.
    fn odd_labels_are_found_listed_and_destroyed() {
        let env = Env::new(Opts::default());
        direct::create_key(&env.emu, "plain-ec", "p256", None);
        direct::create_key(&env.emu, "plain-rsa", "rsa", None);
        direct::self_sign(&env.emu, "plain-ec", "SHA256_WITH_ECDSA");
        for l in odd_labels() {
            direct::create_key(&env.emu, &l, "p256", None);
        }
        let s = env.session();
        // Unfiltered: every key (private + public) and the one certificate.
        let all = s.find_objects(&[]).expect("unfiltered C_FindObjects");
        assert_eq!(all.len(), 2 * 8 + 1);
        let mut want: Vec<String> = odd_labels();
        want.extend(["plain-ec".to_string(), "plain-rsa".to_string()]);
        want.sort();
        assert_eq!(private_labels(&s), want);
        // By label, each one.
        for l in odd_labels() {
            let found = s
                .find_objects(&[
                    Attribute::Label(l.clone().into_bytes()),
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                ])
                .expect("find by label");
            assert_eq!(found.len(), 1, "{}", &l[..l.len().min(20)]);
        }
        // pkcs11-tool -O lists them all (another process, same configuration).
        let out = Command::new("pkcs11-tool")
            .arg("--module")
            .arg(common::module_path())
            .arg("-O")
            .output()
            .expect("pkcs11-tool is needed: apt-get install opensc");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "pkcs11-tool -O failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            text.matches("Private Key Object").count(),
            8,
            "{}",
            &text[..text.len().min(4000)]
        );
        for l in ["with/slash", "50%done", "sp ace", "plain-rsa"] {
            assert!(text.contains(&format!("label:      {l}")), "{l} missing");
        }
        // Destroy every odd key through the module.
        for l in odd_labels() {
            let h = s
                .find_objects(&[
                    Attribute::Label(l.clone().into_bytes()),
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                ])
                .unwrap()[0];
            s.destroy_object(h)
                .expect("C_DestroyObject of an odd label");
            assert!(
                !direct::key_exists(&env.emu, &l),
                "{} still on the TSB",
                &l[..l.len().min(20)]
            );
        }
        assert_eq!(private_labels(&s), vec!["plain-ec", "plain-rsa"]);
    }
);

isolated!(
    /// A key whose attributes cannot be read, and a certificate that fails to fetch: skipped,
    /// each with a log line; the next find (with fresh data) shows them again.
    fn a_bad_key_or_certificate_is_skipped_not_fatal() {
        let (log, vars) = log_env("bad");
        let env = Env::new(Opts {
            env: vars,
            slot_json: Some(serde_json::json!({"cache_ttl_s": 0})),
            ..Default::default()
        });
        for l in ["k1", "k2", "k3", "k4"] {
            direct::create_key(&env.emu, l, "p256", None);
            direct::self_sign(&env.emu, l, "SHA256_WITH_ECDSA");
        }
        let s = env.session();
        // One attribute answer is garbage (which key gets it depends on the parallel fetch).
        direct::respond(
            &env.emu,
            "POST",
            "/v1/key/attributes",
            1,
            200,
            r#"{"json": 42}"#.into(),
        );
        assert_eq!(private_labels(&s).len(), 3);
        // One certificate fails to fetch (HTTP 500, not retried).
        env.emu.inject_fault(Fault {
            path: "/v1/certificate/".into(),
            method: Some("GET".into()),
            count: 1,
            action: FaultAction::Status {
                status: 500,
                error_code: Some(701),
            },
        });
        let certs = s
            .find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE)])
            .expect("certificate find");
        assert_eq!(certs.len(), 3);
        // With fresh answers everything is back.
        assert_eq!(private_labels(&s), vec!["k1", "k2", "k3", "k4"]);
        let certs = s
            .find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE)])
            .unwrap();
        assert_eq!(certs.len(), 4);
        // Attributes that parse, of a key type the module offers, with a public key that is no
        // key: skipped too (a key type the module does not know is skipped quietly).
        direct::respond(
            &env.emu,
            "POST",
            "/v1/key/attributes",
            1,
            200,
            serde_json::json!({"json": {"label": "k9", "algorithm": "EC",
                "publicKey": "AAAA", "attributes": {"sign": true}}})
            .to_string(),
        );
        assert_eq!(private_labels(&s).len(), 3);
        let text = std::fs::read_to_string(&log).unwrap();
        let skipped: Vec<&str> = text.lines().filter(|l| l.contains("skipped")).collect();
        assert_eq!(skipped.len(), 3, "{text}");
        assert!(
            skipped.iter().any(|l| l.contains("certificate of key k")),
            "{text}"
        );
        assert!(
            skipped.iter().any(|l| l.contains("unusable public key")),
            "{text}"
        );
        // A TSB that refuses the credentials is not "one bad key": that fails the find.
        env.emu.inject_fault(Fault {
            path: "/v1/key/attributes".into(),
            method: Some("POST".into()),
            count: 100,
            action: FaultAction::Status {
                status: 401,
                error_code: Some(631),
            },
        });
        let e = s
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
            .unwrap_err();
        assert_eq!(common::rv(e), cryptoki::error::RvError::UserNotLoggedIn);
        env.emu.clear_faults();
    }
);

isolated!(
    /// Labels are checked at C_GenerateKeyPair, before any request: too long, `/`, `%`, `\`, `"`,
    /// control characters, non-ASCII, surrounding spaces. Allowed punctuation passes.
    fn generate_key_pair_refuses_labels_the_tsb_cannot_take() {
        let env = Env::new(Opts::default());
        let s = env.session();
        let gen = |label: &[u8]| {
            s.generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[Attribute::EcParams(common::ec_params(
                    "1.2.840.10045.3.1.7",
                ))],
                &[Attribute::Label(label.to_vec()), Attribute::Sign(true)],
            )
        };
        let too_long = [b'x'; 129];
        for bad in [
            &too_long[..],
            b"a/b",
            b"50%",
            b"back\\slash",
            b"quo\"te",
            b"tab\there",
            b"new\nline",
            b" leading",
            b"trailing ",
            "Schl\u{fc}ssel".as_bytes(),
            b"q?x",
            b"h#x",
        ] {
            let e = gen(bad).expect_err("an invalid label was accepted");
            assert_eq!(
                common::rv(e),
                cryptoki::error::RvError::AttributeValueInvalid,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(env.count("POST", "/v1/key"), 0, "a request was sent");
        for good in [
            &[b'y'; 128][..],
            b"Release key 2026 (CI)",
            b"a.b-c_d:e@f+g=h,i",
        ] {
            gen(good).expect("a valid label was refused");
        }
        assert_eq!(env.count("POST", "/v1/key"), 3);
    }
);
