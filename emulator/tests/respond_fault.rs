//! The `respond` fault: a canned answer (status and body exactly as given), so the module's tests
//! can play a TSB that answers well-formed JSON with a wrong value in it (a zero-filled signature,
//! a bogus request result).

mod common;

use common::{parse, start};
use serde_json::json;
use tsb_emulator::{Fault, FaultAction};

#[test]
fn respond_answers_the_canned_body_then_serves_normally() {
    let env = start();
    env.emu.inject_fault(Fault {
        path: "/v1/versionInfo".into(),
        method: Some("GET".into()),
        count: 1,
        action: FaultAction::Respond {
            status: 200,
            body: r#"{"version":"canned"}"#.into(),
        },
    });
    let (s, v) = parse(env.http.get(env.url("/v1/versionInfo")).send().unwrap());
    assert_eq!((s, v), (200, json!({"version": "canned"})));
    let (s, v) = parse(env.http.get(env.url("/v1/versionInfo")).send().unwrap());
    assert_eq!(s, 200);
    assert_ne!(v["version"], "canned");
    // The request was counted like any other.
    assert_eq!(env.emu.request_count("GET", "/v1/versionInfo"), 2);
}

#[test]
fn respond_over_http_with_any_status_and_a_non_json_body() {
    let env = start();
    let (s, _) = parse(
        env.http
            .post(env.url("/_emulator/faults"))
            .json(&json!({"path": "/v1/key", "method": "GET", "count": 2,
                "action": {"kind": "respond", "status": 502, "body": "not json"}}))
            .send()
            .unwrap(),
    );
    assert_eq!(s, 200);
    for _ in 0..2 {
        let r = env.http.get(env.url("/v1/key")).send().unwrap();
        assert_eq!(r.status().as_u16(), 502);
        assert_eq!(r.text().unwrap(), "not json");
    }
    let (s, v) = parse(env.http.get(env.url("/v1/key")).send().unwrap());
    assert_eq!((s, v), (200, json!([])));
}
