//! Logins, PINs and C_InitToken (issue 12 items 5 and 6).

use super::*;
use crate::token::pin::PinHash;
use tsb_emulator::EmulatorConfig;

/// A PHC hash of `pin`, as `scripts/tsb-pin-hash` writes it.
fn hash(pin: &str) -> String {
    PinHash::new(pin.as_bytes()).to_phc()
}

fn login(m: &Module, s: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &str) -> Result<()> {
    m.login(s, user, Some(pin.as_bytes()))
}

fn ro_session(m: &Module) -> CK_SESSION_HANDLE {
    m.open_session(0, CKF_SERIAL_SESSION).unwrap()
}

#[test]
fn a_user_pin_makes_the_token_need_a_login_and_a_wrong_pin_is_incorrect() {
    let w = World::new(serde_json::json!({"user_pin": hash("1234")}));
    let info = w.m.token_info(0).unwrap();
    assert_ne!(info.flags & CKF_LOGIN_REQUIRED, 0);
    assert_ne!(info.flags & CKF_USER_PIN_INITIALIZED, 0);
    let s = w.session();
    direct::create_key(&w.emu, "k", "p256", None);
    // Nothing is visible or usable before the login.
    let none =
        w.m.with_session(s, |sess| w.m.find(sess, &Template::default()))
            .unwrap();
    assert!(none.is_empty());
    assert_eq!(rv(login(&w.m, s, CKU_USER, "4321")), CKR_PIN_INCORRECT);
    assert_eq!(rv(w.m.login(s, CKU_USER, None)), CKR_PIN_INCORRECT);
    login(&w.m, s, CKU_USER, "1234").unwrap();
    assert_eq!(
        rv(login(&w.m, s, CKU_USER, "1234")),
        CKR_USER_ALREADY_LOGGED_IN
    );
    assert_eq!(w.m.session_info(s).unwrap().state, CKS_RW_USER_FUNCTIONS);
    let k = private_key(&w.m, s, "k");
    // CKU_CONTEXT_SPECIFIC is for an operation in progress only, and checks the PIN.
    assert_eq!(
        rv(login(&w.m, s, CKU_CONTEXT_SPECIFIC, "1234")),
        CKR_OPERATION_NOT_INITIALIZED
    );
    sign_init(&w.m, s, k).unwrap();
    assert_eq!(
        rv(login(&w.m, s, CKU_CONTEXT_SPECIFIC, "0000")),
        CKR_PIN_INCORRECT
    );
    login(&w.m, s, CKU_CONTEXT_SPECIFIC, "1234").unwrap();
    assert_eq!(data(sign_again(&w.m, s, b"x", Some(64)).unwrap()).len(), 64);
    w.m.logout(s).unwrap();
    assert_eq!(rv(w.m.logout(s)), CKR_USER_NOT_LOGGED_IN);
}

#[test]
fn without_a_pin_any_pin_logs_in_and_context_specific_still_needs_an_operation() {
    let w = World::new(serde_json::json!({}));
    assert_eq!(w.m.token_info(0).unwrap().flags & CKF_LOGIN_REQUIRED, 0);
    let s = w.session();
    assert_eq!(
        rv(login(&w.m, s, CKU_CONTEXT_SPECIFIC, "x")),
        CKR_OPERATION_NOT_INITIALIZED
    );
    login(&w.m, s, CKU_USER, "anything").unwrap();
    // No SO on a slot without an SO PIN.
    w.m.logout(s).unwrap();
    assert_eq!(rv(login(&w.m, s, CKU_SO, "x")), CKR_PIN_INCORRECT);
    assert_eq!(rv(login(&w.m, s, 7, "x")), CKR_USER_TYPE_INVALID);
}

#[test]
fn pin_is_token_checks_the_token_with_one_request_at_login() {
    let w = World::with_emulator(
        EmulatorConfig {
            bearer_token: Some("right-token".into()),
            ..Default::default()
        },
        serde_json::json!({"pin_is_token": true}),
    );
    let s = w.session();
    w.emu.reset_counts();
    assert_eq!(
        rv(login(&w.m, s, CKU_USER, "wrong-token")),
        CKR_PIN_INCORRECT
    );
    assert_eq!(
        w.count("POST", "/v1/key/attributes"),
        1,
        "one harmless request"
    );
    assert!(!w.m.slots[0].logged_in());
    login(&w.m, s, CKU_USER, "right-token").unwrap();
    direct_key_via_module(&w, s);
}

/// With the right token, the module reaches the TSB.
fn direct_key_via_module(w: &World, s: CK_SESSION_HANDLE) {
    let found =
        w.m.with_session(s, |sess| w.m.find(sess, &Template::default()))
            .unwrap();
    assert!(found.is_empty(), "no keys, and no error: the token works");
}

#[test]
fn security_officer_logins_follow_the_session_states() {
    let w = World::new(serde_json::json!({"so_pin": hash("so-pin"), "user_pin": hash("1234")}));
    let rw = w.session();
    let ro = ro_session(&w.m);
    assert_eq!(
        rv(login(&w.m, rw, CKU_SO, "so-pin")),
        CKR_SESSION_READ_ONLY_EXISTS
    );
    w.m.close_session(ro).unwrap();
    assert_eq!(rv(login(&w.m, rw, CKU_SO, "nope")), CKR_PIN_INCORRECT);
    login(&w.m, rw, CKU_SO, "so-pin").unwrap();
    assert_eq!(w.m.session_info(rw).unwrap().state, CKS_RW_SO_FUNCTIONS);
    assert_eq!(
        rv(login(&w.m, rw, CKU_SO, "so-pin")),
        CKR_USER_ALREADY_LOGGED_IN
    );
    assert_eq!(
        rv(login(&w.m, rw, CKU_USER, "1234")),
        CKR_USER_ANOTHER_ALREADY_LOGGED_IN
    );
    assert_eq!(
        rv(w.m.open_session(0, CKF_SERIAL_SESSION)),
        CKR_SESSION_READ_WRITE_SO_EXISTS
    );
    w.m.logout(rw).unwrap();
    login(&w.m, rw, CKU_USER, "1234").unwrap();
    assert_eq!(
        rv(login(&w.m, rw, CKU_SO, "so-pin")),
        CKR_USER_ANOTHER_ALREADY_LOGGED_IN
    );
}

#[test]
fn init_token_only_where_allowed_deleting_only_under_the_prefix() {
    let state = temp_dir("init-token").join("state.json");
    let slot = serde_json::json!({
        "label_prefix": "ci-",
        "so_pin": hash("abcdef"),
        "allow_init_token": true,
        "state_file": state,
    });
    let w = World::new(slot.clone());
    // Keys under the prefix, one outside it, and a live process's session key (pid 1).
    for l in ["ci-a", "ci-b", "prod-release"] {
        direct::create_key(&w.emu, l, "p256", None);
    }
    let me = crate::token::session_keys::Owner::me();
    let live = format!(
        "ci-{}{}.1.{}.{}.1.x",
        crate::token::session_keys::MARKER,
        me.host_id,
        crate::token::session_keys::start_time(1).unwrap(),
        crate::token::session_keys::now()
    );
    direct::create_key(&w.emu, &live, "p256", None);
    // A session open: refused.
    let s = w.session();
    assert_eq!(rv(w.m.init_token(0, Some(b"abcdef"))), CKR_SESSION_EXISTS);
    w.m.close_session(s).unwrap();
    assert_eq!(rv(w.m.init_token(0, Some(b"wrong"))), CKR_PIN_INCORRECT);
    assert_eq!(w.tsb_labels().len(), 4, "nothing deleted on a refusal");
    w.m.init_token(0, Some(b"abcdef")).unwrap();
    let mut want = vec![live.clone(), "prod-release".to_string()];
    want.sort();
    assert_eq!(w.tsb_labels(), want);
    // The user PIN is not initialized until the SO sets it.
    let info = w.m.token_info(0).unwrap();
    assert_ne!(info.flags & CKF_LOGIN_REQUIRED, 0);
    assert_eq!(info.flags & CKF_USER_PIN_INITIALIZED, 0);
    let s = w.session();
    assert_eq!(
        rv(login(&w.m, s, CKU_USER, "fedcba")),
        CKR_USER_PIN_NOT_INITIALIZED
    );
    let init_pin = |pin: &[u8]| w.m.with_session(s, |sess| w.m.init_pin(sess, Some(pin)));
    assert_eq!(rv(init_pin(b"fedcba")), CKR_USER_NOT_LOGGED_IN);
    login(&w.m, s, CKU_SO, "abcdef").unwrap();
    assert_eq!(rv(init_pin(b"")), CKR_PIN_LEN_RANGE);
    init_pin(b"fedcba").unwrap();
    w.m.logout(s).unwrap();
    login(&w.m, s, CKU_USER, "fedcba").unwrap();
    // C_SetPIN: the old PIN must be right; the new one is kept in the state file.
    let set_pin = |old: &[u8], new: &[u8]| {
        w.m.with_session(s, |sess| w.m.set_pin(sess, Some(old), Some(new)))
    };
    assert_eq!(rv(set_pin(b"nope", b"123456")), CKR_PIN_INCORRECT);
    set_pin(b"fedcba", b"123456").unwrap();
    w.m.logout(s).unwrap();
    // Another process (a new module with the same configuration) reads the state file.
    let again = w.rerun(false);
    let s2 = open_session(&again);
    assert_eq!(rv(login(&again, s2, CKU_USER, "fedcba")), CKR_PIN_INCORRECT);
    login(&again, s2, CKU_USER, "123456").unwrap();
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(
        !text.contains("123456") && text.contains("$pbkdf2-sha256$"),
        "only hashes: {text}"
    );
}

#[test]
fn a_slot_without_allow_init_token_is_never_wiped() {
    let w = World::new(serde_json::json!({"label_prefix": "ci-", "so_pin": hash("abcdef")}));
    direct::create_key(&w.emu, "ci-a", "p256", None);
    assert_eq!(
        rv(w.m.init_token(0, Some(b"abcdef"))),
        CKR_FUNCTION_NOT_SUPPORTED
    );
    assert_eq!(w.tsb_labels(), vec!["ci-a".to_string()]);
    // And the configuration cannot allow it without a prefix, an SO PIN and a state file.
    let dir = temp_dir("no-init");
    for slot in [
        serde_json::json!({"url": "http://127.0.0.1:9", "allow_http": true, "allow_init_token": true, "so_pin": hash("x"), "state_file": dir.join("s")}),
        serde_json::json!({"url": "http://127.0.0.1:9", "allow_http": true, "allow_init_token": true, "label_prefix": "p", "state_file": dir.join("s")}),
        serde_json::json!({"url": "http://127.0.0.1:9", "allow_http": true, "allow_init_token": true, "label_prefix": "p", "so_pin": hash("x")}),
        serde_json::json!({"url": "http://127.0.0.1:9", "allow_http": true, "user_pin": "1234"}),
    ] {
        let text = serde_json::json!({"slots": [slot]}).to_string();
        let e = Config::parse(&text, &dir.join("c.json"), &|_| None).unwrap_err();
        assert!(e.to_string().contains("config error"), "{e}");
    }
}
