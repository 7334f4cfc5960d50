//! Several TSB URLs per slot: reads move on to the next URL after a failed connection or a 5xx
//! answer; a call that creates a request for approvers moves only when it provably did not reach
//! the server (no connection); a request's status is read where the request was made; and a
//! failover says so once, at warn level.

use super::*;
use crate::error::Error;

/// A loopback URL where nothing listens (connections are refused).
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

fn second_emulator() -> Emulator {
    Emulator::start(emulator(TsbVersion::V2_2_0)).expect("second emulator")
}

#[test]
fn reads_and_unsent_requests_move_to_the_next_url() {
    let other = second_emulator();
    let dead = dead_url();
    let dir = temp_dir("failover");
    let tsb = facade(
        &dir,
        "unused",
        serde_json::json!({ "urls": [dead, other.base_url()] }),
    );
    direct::create_key(&other, "k", "p256", None);
    // A read: the dead URL, then the live one; one warn line naming both.
    let (keys, lines) = crate::log::capture(|| tsb.all_keys(&|_| true));
    assert_eq!(keys.expect("listed").len(), 1);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("failover")
            && lines[0].contains(&dead)
            && lines[0].contains(&other.base_url()),
        "{}",
        lines[0]
    );
    // From now on the live URL is asked first: no more failover lines.
    let key = tsb.key("k").expect("read").expect("exists");
    let (r, lines) = crate::log::capture(|| sign(&tsb, &key));
    r.expect("signed");
    assert!(lines.is_empty(), "{lines:?}");
    // A creating call that cannot connect to the first URL goes to the second: nothing was sent.
    // (A fresh facade, whose first call is the creating one; the key as the first one read it.)
    direct::create_key(&other, "gated", "p256", Some(&policy_of(&other)));
    let gated = tsb.key("gated").expect("read").expect("exists");
    let dead = dead_url();
    let fresh = facade(
        &temp_dir("failover-create"),
        "unused",
        serde_json::json!({ "urls": [dead, other.base_url()] }),
    );
    let approver = Approver::new(&other.base_url(), approver_key());
    let bg =
        approver.spawn_auto_approve(Default::default(), Some(1), Some(Duration::from_secs(60)));
    let (r, lines) = crate::log::capture(|| sign(&fresh, &gated));
    r.expect("approved on the second URL");
    bg.join().unwrap().unwrap();
    assert_eq!(other.request_count("POST", "/v1/sign"), 1);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("failover: POST /v1/sign") && lines[0].contains(&dead),
        "{}",
        lines[0]
    );
}

/// One approver key for the tests of this file (its policies name it).
fn approver_key() -> ApproverKey {
    static KEY: std::sync::OnceLock<ApproverKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| ApproverKey::generate(KeyKind::EcP256))
        .clone()
}

fn policy_of(_emu: &Emulator) -> serde_json::Value {
    direct::policy_for(&[approver_key().public_key_b64()], 1, 600)
}

#[test]
fn a_5xx_moves_reads_but_not_creating_calls() {
    let first = Bed::new(emulator(TsbVersion::V2_2_0), serde_json::json!({}));
    let second = second_emulator();
    let tsb = facade(
        &first.dir,
        "unused",
        serde_json::json!({ "urls": [first.emu.base_url(), second.base_url()] }),
    );
    direct::create_key(&second, "only-on-second", "p256", None);
    first.fault(
        "/v1/key",
        "GET",
        1,
        FaultAction::Status {
            status: 503,
            error_code: None,
        },
    );
    let keys = tsb.all_keys(&|_| true).expect("listed by the second URL");
    assert_eq!(keys[0].0, "only-on-second");
    assert_eq!(first.count("GET", "/v1/key"), 1);
    assert_eq!(second.request_count("GET", "/v1/key"), 1);
    // A creating call answered 503 by the URL it went to (the second, now current) may have
    // been handled there: it is not sent to the first.
    direct::create_key(&second, "gated", "p256", Some(&policy_of(&second)));
    let gated = tsb.key("gated").expect("read").expect("exists");
    second.inject_fault(Fault {
        path: "/v1/sign".into(),
        method: Some("POST".into()),
        count: 1,
        action: FaultAction::Status {
            status: 503,
            error_code: None,
        },
    });
    let e = sign(&tsb, &gated).expect_err("refused by the second URL");
    assert!(matches!(e, Error::Tsb { status: 503, .. }), "{e:?}");
    assert_eq!(second.request_count("POST", "/v1/sign"), 1);
    assert_eq!(first.count("POST", "/v1/sign"), 0);
    // And one whose answer was lost after sending is not sent anywhere else either.
    second.inject_fault(Fault {
        path: "/v1/sign".into(),
        method: Some("POST".into()),
        count: 1,
        action: FaultAction::HandleThenDrop,
    });
    let e = sign(&tsb, &gated).expect_err("outcome unknown");
    assert!(matches!(e, Error::OutcomeUnknown(_)), "{e:?}");
    assert_eq!(first.count("POST", "/v1/sign"), 0);
}

/// The status of a request is read at the URL that created it, even after a failover moved
/// the slot to another URL.
#[test]
fn a_request_is_polled_where_it_was_made() {
    let a = Bed::new(emulator(TsbVersion::V2_2_0), serde_json::json!({}));
    let b = second_emulator();
    let tsb = facade(
        &a.dir,
        "unused",
        serde_json::json!({ "urls": [a.emu.base_url(), b.base_url()] }),
    );
    let status_503 = FaultAction::Status {
        status: 503,
        error_code: None,
    };
    // A read fails on A: the slot moves to B, where the request is made.
    a.fault("/v1/key", "GET", 1, status_503.clone());
    tsb.all_keys(&|_| true).expect("listed");
    direct::create_key(&b, "gated", "p256", Some(&policy_of(&b)));
    let gated = tsb.key("gated").expect("read").expect("exists");
    let digest = crate::mechanism::Hash::Sha256.digest(b"artifact");
    let id = crate::tsb::api::sign_async(&tsb.client, &gated.tsb_label, "NONE_WITH_ECDSA", &digest)
        .expect("created on B");
    // A read fails on B: the slot moves back to A, which knows nothing of the request.
    b.inject_fault(Fault {
        path: "/v1/key".into(),
        method: Some("GET".into()),
        count: 1,
        action: status_503,
    });
    tsb.all_keys(&|_| true).expect("listed");
    let st = tsb.request_status(&id).expect("read at B");
    assert_eq!(st.id, id);
    assert_eq!(a.count("GET", &format!("/v1/request/{id}")), 0);
}
