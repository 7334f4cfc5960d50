//! Keys with a password (`keyPassword`, S2 release notes 1.11.0 and 1.14.0; S3
//! `dto/tsb/request/CreateKeyDto.java` `password`): the slot's `key_passwords` (by label) or
//! `key_password` go with every call on such a key, including its creation; the POST forms
//! carry them. And labels with `/`, which go into URL paths where a body would read them as a
//! derivation path.

use super::credentials::{p256, secret_file};
use super::*;
use cryptoki_sys::CKR_PIN_INCORRECT;

#[test]
fn every_call_on_a_key_with_a_password_carries_it() {
    let dir = temp_dir("passwords");
    let slot = serde_json::json!({
        "key_passwords": {
            "pw-plain": secret_file(&dir, "a", "first secret"),
            "pw-gated": secret_file(&dir, "b", "second secret"),
        }
    });
    let bed = Bed::new(emulator(TsbVersion::V2_2_0), slot);
    // Created with its password (the emulator refuses every later call without it).
    let plain = bed
        .tsb
        .create_key(&p256("pw-plain", None), "")
        .expect("key");
    let gated = bed
        .tsb
        .create_key(&p256("pw-gated", Some(&bed.policy(600))), "")
        .expect("key");
    // Read again (POST /v1/key/attributes with the password), signed, CSR'd, deleted.
    let fresh = facade(
        &dir,
        &bed.emu.base_url(),
        serde_json::json!({
            "key_passwords": {"pw-plain": secret_file(&dir, "a", "first secret")}
        }),
    );
    assert!(fresh
        .key("pw-plain")
        .expect("read with the password")
        .is_some());
    sign(&bed.tsb, &plain).expect("signed with the password");
    let bg = bed.auto_approve(2);
    sign(&bed.tsb, &gated).expect("approved, with the password");
    let req = csr_request("pw-gated", "SHA256_WITH_ECDSA");
    let (csr, _) = as_caller(|caller| bed.tsb.csr(&gated, &req, caller));
    csr.expect("CSR with the password");
    bg.join().unwrap().unwrap();
    bed.tsb
        .delete_key("pw-plain")
        .expect("deleted with the password");
    // Without the password: the TSB's 620, PIN-like, and the remedy names the config keys.
    let without = facade(&dir, &bed.emu.base_url(), serde_json::json!({}));
    let e = without.key("pw-gated").expect_err("refused");
    assert_eq!(e.rv(), CKR_PIN_INCORRECT);
    let remedy = e.remedy().unwrap_or_default();
    assert!(
        remedy.contains("key_passwords") && remedy.contains("key_password"),
        "{remedy}"
    );
    // The slot's default password works for every key without its own.
    let default = facade(
        &dir,
        &bed.emu.base_url(),
        serde_json::json!({
            "key_password": secret_file(&dir, "c", "second secret")
        }),
    );
    assert!(default.key("pw-gated").expect("read").is_some());
}

/// A label with `/` names a derived key in a JSON body (S3 `KeyLabelWithPasswordDto.java`), so
/// the attributes and the deletion of such a key go through the path forms, percent-encoded.
#[test]
fn labels_with_a_slash_go_into_the_path() {
    let bed = Bed::new(emulator(TsbVersion::V2_2_0), serde_json::json!({}));
    direct::create_key(&bed.emu, "team", "p256", None);
    direct::create_key(&bed.emu, "team/release", "p256", None);
    let key = bed
        .tsb
        .key("team/release")
        .expect("read")
        .expect("the key itself, not one derived from team");
    assert_eq!(key.tsb_label, "team/release");
    assert_eq!(bed.count("GET", "/v1/key/team%2Frelease/attributes"), 1);
    assert_eq!(bed.count("POST", "/v1/key/attributes"), 0);
    bed.tsb.delete_key("team/release").expect("deleted");
    assert_eq!(bed.count("DELETE", "/v1/key/team%2Frelease"), 1);
    assert!(!direct::key_exists(&bed.emu, "team/release"));
    assert!(direct::key_exists(&bed.emu, "team"));
    // Labels without `/` use the POST forms.
    bed.tsb.key("team").expect("read").expect("exists");
    assert_eq!(bed.count("POST", "/v1/key/attributes"), 1);
}
