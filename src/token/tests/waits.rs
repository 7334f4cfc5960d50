//! The approval wait and each of its ends: approved (also after a timelock), rejected (and
//! remembered), expired, deleted on the TSB, our own timeout (and the resume of the pending
//! request by the same operation asked again), C_SessionCancel, C_CloseSession and C_Finalize
//! from another thread (also while a status poll hangs), and polls that fail for a while.

use super::*;
use crate::vendor;
use std::time::Instant;

#[test]
fn approval_gated_sign_runs_once_approved() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let k = w.key(s, "ska-rsa", "rsa", Some(&w.policy(600)));
    w.emu.reset_counts();
    let bg = w.auto_approve(1);
    sign_init(&w.m, s, k).unwrap();
    // The length query cryptoki makes first sends nothing.
    assert_eq!(
        sign_again(&w.m, s, b"release-1.0.tar.gz", None).unwrap(),
        Output::Len(256)
    );
    assert_eq!(w.count("POST", "/v1/sign"), 0);
    let sig = data(sign_again(&w.m, s, b"release-1.0.tar.gz", Some(256)).unwrap());
    // The signature verifies with the key's public key (as the TSB holds it).
    let spki =
        w.m.with_session(s, |sess| w.m.attributes(sess, k, &[CKA_PUBLIC_KEY_INFO]))
            .unwrap();
    let super::super::AttrValue::Value(spki) = &spki[0] else {
        panic!("no public key info")
    };
    let pk = openssl::pkey::PKey::public_key_from_der(spki).unwrap();
    let mut v = openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &pk).unwrap();
    assert!(v.verify_oneshot(&sig, b"release-1.0.tar.gz").unwrap());
    assert_eq!(w.count("POST", "/v1/sign"), 1);
    assert_eq!(w.count("POST", "/v1/synchronousSign"), 0);
    assert_eq!(bg.join().unwrap().unwrap().handled, 1);
    assert_eq!(w.device_error(s), 0);
}

#[test]
fn a_rejection_ends_the_wait_and_answers_the_same_operation_again() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let k = w.key(s, "ska", "p256", Some(&w.policy(600)));
    let approver = w.approver.clone();
    let t = std::thread::spawn(move || loop {
        if let Some(task) = approver.tasks(&Default::default()).unwrap().first() {
            approver.reject(&task.id).unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    });
    let r = w.sign(s, k, b"one", Some(64));
    t.join().unwrap();
    assert_eq!(rv(r), CKR_FUNCTION_REJECTED);
    assert_eq!(w.device_error(s), vendor::TSB_DEVERR_REJECTED);
    // The same operation asked again at once (as tools retry) is answered from that rejection:
    // the approvers are not asked twice.
    let sent = w.count("POST", "/v1/sign");
    assert_eq!(rv(w.sign(s, k, b"one", Some(64))), CKR_FUNCTION_REJECTED);
    assert_eq!(w.count("POST", "/v1/sign"), sent);
    // Other data is another operation.
    let bg = w.auto_approve(1);
    assert_eq!(data(w.sign(s, k, b"two", Some(64)).unwrap()).len(), 64);
    bg.join().unwrap().unwrap();
    assert_eq!(w.count("POST", "/v1/sign"), sent + 1);
}

#[test]
fn expiry_on_the_tsb_ends_the_wait() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let k = w.key(s, "ska", "p256", Some(&w.policy(600)));
    std::thread::scope(|sc| {
        sc.spawn(|| {
            w.wait_for_request("PENDING");
            w.emu.advance_clock(Duration::from_secs(601));
        });
        assert_eq!(
            rv(w.sign(s, k, b"two", Some(64))),
            vendor::CKR_TSB_APPROVAL_EXPIRED
        );
    });
    assert_eq!(w.device_error(s), vendor::TSB_DEVERR_EXPIRED);
}

#[test]
fn a_request_deleted_on_the_tsb_ends_the_wait() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let k = w.key(s, "ska", "p256", Some(&w.policy(600)));
    std::thread::scope(|sc| {
        sc.spawn(|| {
            let id = w.wait_for_request("PENDING");
            reqwest::blocking::Client::new()
                .delete(format!("{}/v1/request/{id}", w.emu.base_url()))
                .send()
                .unwrap();
        });
        assert_eq!(rv(w.sign(s, k, b"three", Some(64))), CKR_FUNCTION_CANCELED);
    });
    assert_eq!(w.device_error(s), vendor::TSB_DEVERR_CANCELLED);
}

#[test]
fn our_timeout_then_the_same_operation_resumes_without_a_second_request() {
    let journal = temp_dir("journal").join("journal.jsonl");
    let w = World::new(serde_json::json!({"approval_timeout_s": 1, "journal": journal}));
    let s = w.session();
    let k = w.key(s, "ska", "p256", Some(&w.policy(600)));
    assert_eq!(
        rv(w.sign(s, k, b"payload", Some(64))),
        vendor::CKR_TSB_APPROVAL_TIMEOUT
    );
    assert_eq!(w.device_error(s), vendor::TSB_DEVERR_TIMEOUT);
    assert_eq!(w.count("POST", "/v1/sign"), 1);
    assert!(
        std::fs::read_to_string(&journal)
            .unwrap()
            .contains("requestId"),
        "journaled"
    );
    // A rerun of the same command (a new module reading the same journal): the same operation
    // resumes the pending request, which the approver approves meanwhile.
    let m2 = w.rerun(false);
    let s2 = open_session(&m2);
    let k2 = private_key(&m2, s2, "ska");
    let bg = w.auto_approve(1);
    sign_init(&m2, s2, k2).unwrap();
    assert_eq!(
        data(sign_again(&m2, s2, b"payload", Some(64)).unwrap()).len(),
        64
    );
    bg.join().unwrap().unwrap();
    assert_eq!(w.count("POST", "/v1/sign"), 1, "resumed, not asked twice");
    assert!(
        !std::fs::read_to_string(&journal)
            .unwrap()
            .contains("requestId"),
        "done: removed from the journal"
    );
    // Different data is a different operation.
    let bg = w.auto_approve(1);
    sign_init(&m2, s2, k2).unwrap();
    assert!(sign_again(&m2, s2, b"other payload", Some(64)).is_ok());
    bg.join().unwrap().unwrap();
    assert_eq!(w.count("POST", "/v1/sign"), 2);
}

#[test]
fn session_cancel_from_another_thread_deletes_the_request() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let k = w.key(s, "ska", "p256", Some(&w.policy(600)));
    let started = Instant::now();
    let id = std::thread::scope(|sc| {
        let canceller = sc.spawn(|| {
            let id = w.wait_for_request("PENDING");
            w.m.with_session(s, |sess| w.m.session_cancel(sess, CKF_SIGN))
                .unwrap();
            id
        });
        assert_eq!(
            rv(w.sign(s, k, b"cancel me", Some(64))),
            CKR_FUNCTION_CANCELED
        );
        canceller.join().unwrap()
    });
    assert!(started.elapsed() < Duration::from_secs(10));
    let st: serde_json::Value =
        reqwest::blocking::get(format!("{}/v1/request/{id}", w.emu.base_url()))
            .unwrap()
            .json()
            .unwrap();
    assert_eq!(st["status"], "CANCELLED", "deleted on the TSB");
    // The session is usable again.
    sign_init(&w.m, s, k).unwrap();
    assert_eq!(sign_again(&w.m, s, b"x", None).unwrap(), Output::Len(64));
}

#[test]
fn approved_under_timelock_keeps_waiting_until_executed() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let mut policy = w.policy(600);
    policy["ruleUse"]["tokens"][0]["timelock"] = serde_json::json!(120);
    let k = w.key(s, "locked", "p256", Some(&policy));
    std::thread::scope(|sc| {
        sc.spawn(|| {
            // Approve, see the request APPROVED (timelock running), then move the clock past it.
            let task = loop {
                if let Some(t) = w.approver.tasks(&Default::default()).unwrap().pop() {
                    break t;
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            w.approver.approve(&task).unwrap();
            w.wait_for_request("APPROVED");
            // The module keeps polling in that state: wait until it has polled three more times.
            let seen = w.polls();
            let deadline = Instant::now() + Duration::from_secs(30);
            while w.polls() < seen + 3 {
                assert!(
                    Instant::now() < deadline,
                    "the module stopped polling while APPROVED"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            w.emu.advance_clock(Duration::from_secs(121));
        });
        let sig = data(w.sign(s, k, b"after the timelock", Some(64)).unwrap());
        assert_eq!(sig.len(), 64);
    });
    assert!(w.polls() >= 3, "kept polling through APPROVED");
}

#[test]
fn one_404_or_a_dropped_poll_does_not_end_a_wait() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let k = w.key(s, "patient", "p256", Some(&w.policy(600)));
    for action in [
        FaultAction::Status {
            status: 404,
            error_code: Some(651),
        },
        FaultAction::Status {
            status: 404,
            error_code: Some(701),
        },
        FaultAction::Status {
            status: 404,
            error_code: Some(651),
        },
        FaultAction::Drop,
    ] {
        w.fault("/v1/request/", "GET", 1, action);
    }
    let bg = w.auto_approve(1);
    assert_eq!(data(w.sign(s, k, b"artifact", Some(64)).unwrap()).len(), 64);
    bg.join().unwrap().unwrap();
    assert_eq!(w.count("POST", "/v1/sign"), 1);
    assert!(w.polls() >= 5, "every fault was met: {} polls", w.polls());
}

/// How a hung wait is ended.
#[derive(Clone, Copy, Debug)]
enum End {
    SessionCancel,
    CloseSession,
    Finalize,
    Deadline,
}

/// C_Sign on an approval-gated key while the TSB black-holes every status poll; end the wait
/// with `end` once a poll is in flight, and return how long C_Sign took to return after that
/// (for the deadline: after the approval timeout passed) and its CK_RV.
fn hung_poll(end: End) -> (Duration, CK_RV) {
    // Before issue 10 a hung poll took 3 x request_timeout_ms to give up.
    let w = World::new(serde_json::json!({"request_timeout_ms": 5000, "approval_timeout_s": 1}));
    let s = w.session();
    let k = w.key(s, "hung", "p256", Some(&w.policy(600)));
    w.fault("/v1/request/", "GET", 1000, FaultAction::Blackhole);
    std::thread::scope(|sc| {
        let signer = sc.spawn(|| {
            let started = Instant::now();
            let r = w.sign(s, k, b"artifact", Some(64));
            (r, started, Instant::now())
        });
        // Until the first status poll is in flight (and hanging).
        let in_flight = Instant::now();
        while w.polls() == 0 {
            assert!(in_flight.elapsed() < Duration::from_secs(10), "no poll");
            std::thread::yield_now();
        }
        let asked = Instant::now();
        match end {
            End::SessionCancel => {
                w.m.with_session(s, |sess| w.m.session_cancel(sess, CKF_SIGN))
                    .unwrap()
            }
            End::CloseSession => w.m.close_session(s).unwrap(),
            // C_Finalize: the module is taken out of the global, then shut down.
            End::Finalize => w.m.shutdown(),
            End::Deadline => {}
        }
        let (r, started, returned) = signer.join().unwrap();
        let from = match end {
            // The approval timeout (1 s) runs from the start of the wait.
            End::Deadline => started + Duration::from_secs(1),
            _ => asked,
        };
        (returned.saturating_duration_since(from), rv(r))
    })
}

#[test]
fn session_cancel_ends_a_hung_poll() {
    let (took, r) = hung_poll(End::SessionCancel);
    assert_eq!(r, CKR_FUNCTION_CANCELED);
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn close_session_ends_a_hung_poll() {
    let (took, r) = hung_poll(End::CloseSession);
    assert_eq!(r, CKR_FUNCTION_CANCELED);
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn finalize_ends_a_hung_poll() {
    let (took, r) = hung_poll(End::Finalize);
    assert_eq!(r, CKR_FUNCTION_CANCELED);
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn deadline_ends_a_hung_poll() {
    let (took, r) = hung_poll(End::Deadline);
    assert_eq!(r, vendor::CKR_TSB_APPROVAL_TIMEOUT);
    assert!(took < Duration::from_secs(1), "{took:?}");
}
