//! The ends of a wait as a real TSB produces them: a result handed out once (TSB 2.1.0) whose
//! answer was lost, an EXPIRED that the TSB's scheduler says late, and the deletion of a request
//! that has already ended.

use super::*;
use crate::error::{ApprovalEnd, Error};
use crate::tsb::{api, wait};

/// The id and state of every request the emulator holds (`filteredRequests` carries no result,
/// so reading it takes nothing from a fetch-once request).
fn states(emu: &Emulator) -> Vec<(String, String)> {
    let r: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/v1/filteredRequests", emu.base_url()))
        .json(&serde_json::json!({}))
        .send()
        .expect("filteredRequests")
        .json()
        .expect("filteredRequests body");
    r["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            (
                x["id"].as_str().unwrap_or_default().to_string(),
                x["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn polls(emu: &Emulator) -> u64 {
    emu.request_counts()
        .iter()
        .filter(|(k, _)| k.starts_with("GET /v1/request/"))
        .map(|(_, n)| n)
        .sum()
}

/// Wait (polling the emulator, no sleeps beyond 10 ms) until `f` holds.
fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} never happened"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// TSB 2.1.0 can hand a request's `result` out once. When the status read that carried it is
/// lost, the next read says EXECUTED without a result: the module must say so (outcome unknown,
/// a message naming the request) and must not ask the approvers again, neither silently nor when
/// the same operation is asked again.
#[test]
fn a_result_lost_in_transit_is_not_asked_for_again() {
    let cfg = EmulatorConfig {
        fetch_result_once: true,
        ..emulator(TsbVersion::V2_1_0)
    };
    let bed = Bed::new(cfg, serde_json::json!({}));
    let key = bed.key("once", "p256", Some(&bed.policy(600)));
    // Every status read is handled and its answer dropped, until the one that carried the
    // result has been made.
    bed.fault(
        "/v1/request/",
        "GET",
        1_000_000,
        FaultAction::HandleThenDrop,
    );
    let bg = bed.auto_approve(1);
    let (r, ids) = std::thread::scope(|s| {
        let signing = s.spawn(|| {
            as_caller(|c| {
                let digest = crate::mechanism::Hash::Sha256.digest(b"artifact");
                bed.tsb.sign(&key, "NONE_WITH_ECDSA", &digest, c)
            })
        });
        until("the request executed", || {
            states(&bed.emu).iter().any(|(_, st)| st == "EXECUTED")
        });
        // One more status read (dropped) after the execution took the result.
        let seen = polls(&bed.emu);
        until("a read after the execution", || polls(&bed.emu) > seen);
        bed.emu.clear_faults();
        signing.join().expect("signing thread")
    });
    bg.join().unwrap().unwrap();
    let e = r.expect_err("the result is gone");
    assert!(matches!(e, Error::OutcomeUnknown(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&ids[0]) && text.contains("EXECUTED") && text.contains("once"),
        "{text}"
    );
    assert_eq!(bed.count("POST", "/v1/sign"), 1);
    // The same operation asked again: refused, nothing sent.
    let (again, _) = as_caller(|c| {
        let digest = crate::mechanism::Hash::Sha256.digest(b"artifact");
        bed.tsb.sign(&key, "NONE_WITH_ECDSA", &digest, c)
    });
    let again = again.expect_err("refused");
    assert!(matches!(again, Error::OutcomeUnknown(_)), "{again:?}");
    assert!(again.to_string().contains(&ids[0]), "{again}");
    assert_eq!(
        bed.count("POST", "/v1/sign"),
        1,
        "asked the approvers twice"
    );
}

/// A TSB turns a request EXPIRED only when its request scheduler runs (every 60 s by default):
/// the wait keeps polling past the policy's timeout for `expiry_grace`, so what it reports is the
/// TSB's EXPIRED, not a timeout of its own.
#[test]
fn a_late_expired_is_the_tsbs_expired() {
    let cfg = EmulatorConfig {
        // The scheduler runs only when the test says so.
        scheduler_interval: Duration::from_secs(3600),
        ..emulator(TsbVersion::V2_2_0)
    };
    let bed = Bed::new(cfg, serde_json::json!({}));
    let key = bed.key("late", "p256", Some(&bed.policy(60)));
    let digest = crate::mechanism::Hash::Sha256.digest(b"artifact");
    let id = api::sign_async(&bed.tsb.client, &key.tsb_label, "NONE_WITH_ECDSA", &digest)
        .expect("request created");
    // Past the policy's timeout on the TSB's clock; EXPIRED once the scheduler runs.
    bed.emu.advance_clock(Duration::from_secs(120));
    let params = wait::WaitParams {
        approval_timeout: Duration::from_secs(60),
        poll_interval: Duration::from_millis(50),
        poll_max_interval: Duration::from_millis(100),
        fast_phase: Duration::from_secs(30),
        first_poll_delay: Duration::ZERO,
        // As if the policy's timeout had just passed for us too.
        policy_timeout: Some(Duration::from_millis(100)),
        expiry_grace: Duration::from_secs(20),
        approvals_needed: Some(1),
        key_label: key.tsb_label.clone(),
        what: "signature".into(),
        progress: false,
    };
    let cancel = Arc::new(CancelToken::default());
    let r = std::thread::scope(|s| {
        let waiting = s.spawn(|| wait::wait_for(&bed.tsb.client, &id, &params, &cancel));
        // Later than the module used to wait past a policy timeout (5 s).
        std::thread::sleep(Duration::from_millis(5500));
        bed.emu.run_scheduler();
        waiting.join().expect("waiting thread")
    });
    match r {
        Err(Error::Approval {
            end: ApprovalEnd::Expired,
            request_id,
        }) => assert_eq!(request_id, id),
        other => panic!("{other:?}"),
    }
}

/// Deleting a request that has already ended: the emulator answers 500 (as S1
/// `requests.go` `RemoveRequest` expects of a TSB, treating 404 and 500 as "already removed").
#[test]
fn deleting_an_ended_request_counts_as_gone() {
    let bed = Bed::new(emulator(TsbVersion::V2_2_0), serde_json::json!({}));
    let key = bed.key("ended", "p256", Some(&bed.policy(600)));
    let bg = bed.auto_approve(1);
    let (r, ids) = as_caller(|c| {
        let digest = crate::mechanism::Hash::Sha256.digest(b"artifact");
        bed.tsb.sign(&key, "NONE_WITH_ECDSA", &digest, c)
    });
    bg.join().unwrap().unwrap();
    r.expect("signed");
    bed.tsb
        .cancel_request(&ids[0])
        .expect("an ended request is gone");
    assert_eq!(bed.count("DELETE", &format!("/v1/request/{}", ids[0])), 1);
}
