//! A creating call whose answer is lost (the TSB may have created the request): the module says so
//! (its own ulDeviceError, one log line with what to do), and the same operation, in this module
//! or the next one reading the journal, is refused instead of asking the approvers again, until
//! the marker is cleared (TSB_PKCS11_FORGET_UNKNOWN).

use super::*;
use crate::vendor;

#[test]
fn a_lost_answer_is_not_asked_twice() {
    let journal = temp_dir("lost-answer").join("journal.jsonl");
    let w = World::new(serde_json::json!({ "journal": journal }));
    let s = w.session();
    let k = w.key(s, "lost", "p256", Some(&w.policy(600)));
    w.fault("/v1/sign", "POST", 1, FaultAction::HandleThenDrop);
    let (r, first) = crate::log::capture(|| w.sign(s, k, b"artifact", Some(64)));
    assert_eq!(rv(r), CKR_DEVICE_ERROR);
    assert_eq!(w.device_error(s), vendor::TSB_DEVERR_OUTCOME_UNKNOWN);
    assert_eq!(w.count("POST", "/v1/sign"), 1);
    // The application retries at once: refused, nothing sent.
    let (r, second) = crate::log::capture(|| w.sign(s, k, b"artifact", Some(64)));
    assert_eq!(rv(r), CKR_DEVICE_ERROR);
    assert_eq!(w.device_error(s), vendor::TSB_DEVERR_OUTCOME_UNKNOWN);
    assert_eq!(w.count("POST", "/v1/sign"), 1, "asked twice");
    // One line per failed call, saying what happened and what to do.
    for lines in [&first, &second] {
        assert_eq!(lines.len(), 1, "{lines:?}");
        let l = &lines[0];
        assert!(l.contains("may have created") && l.contains("lost"), "{l}");
        assert!(l.contains("TSB_PKCS11_FORGET_UNKNOWN"), "{l}");
        assert!(l.contains(&journal.display().to_string()), "{l}");
    }
    // Other data is another operation: asked normally. (The approver also approves the request
    // whose answer was lost: it is real, and first in its list.)
    let bg = w.auto_approve(2);
    assert!(w.sign(s, k, b"other", Some(64)).is_ok());
    bg.join().unwrap().unwrap();
    assert_eq!(w.count("POST", "/v1/sign"), 2);
    // A rerun of the command is refused too: the journal keeps the marker.
    let m2 = w.rerun(false);
    let s2 = open_session(&m2);
    let k2 = private_key(&m2, s2, "lost");
    sign_init(&m2, s2, k2).unwrap();
    assert_eq!(
        rv(sign_again(&m2, s2, b"artifact", Some(64))),
        CKR_DEVICE_ERROR
    );
    assert_eq!(w.count("POST", "/v1/sign"), 2);
    // The user checked the approvers' list and clears the marker: asked again.
    let m3 = w.rerun(true);
    let s3 = open_session(&m3);
    let k3 = private_key(&m3, s3, "lost");
    let bg = w.auto_approve(1);
    sign_init(&m3, s3, k3).unwrap();
    assert!(sign_again(&m3, s3, b"artifact", Some(64)).is_ok());
    bg.join().unwrap().unwrap();
    assert_eq!(w.count("POST", "/v1/sign"), 3);
}

#[test]
fn a_lost_answer_without_a_journal_is_remembered_by_the_module() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let k = w.key(s, "lost", "p256", Some(&w.policy(600)));
    w.fault("/v1/sign", "POST", 1, FaultAction::HandleThenDrop);
    let (r, lines) = crate::log::capture(|| w.sign(s, k, b"artifact", Some(64)));
    assert_eq!(rv(r), CKR_DEVICE_ERROR);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("restart the application"), "{}", lines[0]);
    // Another session of the same module is refused as well.
    let s2 = w.session();
    let k2 = private_key(&w.m, s2, "lost");
    sign_init(&w.m, s2, k2).unwrap();
    assert_eq!(
        rv(sign_again(&w.m, s2, b"artifact", Some(64))),
        CKR_DEVICE_ERROR
    );
    assert_eq!(w.device_error(s2), vendor::TSB_DEVERR_OUTCOME_UNKNOWN);
    assert_eq!(w.count("POST", "/v1/sign"), 1);
}
