//! Issue 15: a listing (a find without CKA_LABEL) reads each key's attributes, and with them its
//! certificate when certificates are asked for, at most once per key, with never more than the
//! slot's `listing_concurrency` requests in flight. Checked with the emulator's request counters
//! and its high-water mark of requests handled at once (`Emulator::max_in_flight`), with some
//! latency so the fetches overlap as across a network.

use super::*;
use crate::token::attributes::AttrValue;

/// Keys made on the emulator: `n` P-256 keys `k0`..`k{n-1}`, every third with a self-signed
/// certificate.
fn keys(w: &World, n: usize) -> usize {
    let mut certs = 0;
    for i in 0..n {
        let label = format!("k{i}");
        direct::create_key(&w.emu, &label, "p256", None);
        if i % 3 == 0 {
            direct::self_sign(&w.emu, &label, "SHA256_WITH_ECDSA");
            certs += 1;
        }
    }
    certs
}

/// Requests the emulator saw whose `METHOD /path` starts with `prefix`.
fn count_prefix(w: &World, prefix: &str) -> u64 {
    w.emu
        .request_counts()
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, n)| n)
        .sum()
}

fn find(w: &World, s: CK_SESSION_HANDLE, template: Vec<Attr>) -> Vec<CK_OBJECT_HANDLE> {
    let t = Template::new(template);
    w.m.with_session(s, |sess| w.m.find(sess, &t))
        .expect("find")
}

/// The value of one attribute of an object.
fn attr(w: &World, s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Vec<u8> {
    w.m.with_session(s, |sess| {
        let (_, view) = w.m.object(sess, h)?;
        Ok(match view.attribute(ty, false) {
            AttrValue::Value(v) => v,
            other => panic!("attribute {ty:#x}: {other:?}"),
        })
    })
    .expect("object")
}

#[test]
fn a_full_listing_is_bounded_and_asks_twice_per_key_at_most() {
    let n = 24;
    let w = World::new(serde_json::json!({ "listing_concurrency": 3 }));
    let certs = keys(&w, n);
    let s = w.session();
    w.emu.reset_counts();
    // Each request waits 20 ms, so the fetches overlap and the bound is what limits them.
    w.emu.set_latency(Duration::from_millis(20));
    // What pkcs11-tool -O does: every object, then its attributes.
    let all = find(&w, s, vec![]);
    assert_eq!(all.len(), 2 * n + certs);
    for h in &all {
        attr(&w, s, *h, CKA_LABEL);
        attr(&w, s, *h, CKA_ID);
    }
    assert_eq!(w.count("GET", "/v1/key"), 1);
    assert_eq!(w.count("POST", "/v1/key/attributes"), n as u64);
    assert_eq!(count_prefix(&w, "GET /v1/certificate/"), n as u64);
    let total: u64 = w.emu.request_counts().values().sum();
    assert_eq!(total, 1 + 2 * n as u64, "{:?}", w.emu.request_counts());
    let most = w.emu.max_in_flight();
    assert!(
        most <= 3,
        "{most} requests in flight at once, the bound is 3"
    );
    // Not one after the other: with 48 requests of 20 ms each, three workers overlap.
    assert!(most >= 2, "the fetches did not overlap");
    // Within the TTL a second listing asks nothing.
    w.emu.reset_counts();
    assert_eq!(find(&w, s, vec![]).len(), 2 * n + certs);
    assert_eq!(w.emu.request_counts().values().sum::<u64>(), 0);
}

#[test]
fn a_key_only_listing_asks_once_per_key_and_no_certificate() {
    let n = 12;
    let w = World::new(serde_json::json!({ "listing_concurrency": 2 }));
    keys(&w, n);
    let s = w.session();
    w.emu.reset_counts();
    w.emu.set_latency(Duration::from_millis(10));
    // A class-only find reading CKA_LABEL, CKA_ID and CKA_KEY_TYPE of each key.
    let found = find(
        &w,
        s,
        vec![Attr::new(CKA_CLASS, CKO_PRIVATE_KEY.to_ne_bytes().to_vec())],
    );
    assert_eq!(found.len(), n);
    for h in &found {
        attr(&w, s, *h, CKA_LABEL);
        attr(&w, s, *h, CKA_ID);
        assert_eq!(attr(&w, s, *h, CKA_KEY_TYPE), CKK_EC.to_ne_bytes());
    }
    assert_eq!(w.count("POST", "/v1/key/attributes"), n as u64);
    assert_eq!(count_prefix(&w, "GET /v1/certificate/"), 0);
    assert!(w.emu.max_in_flight() <= 2, "{}", w.emu.max_in_flight());
}

#[test]
fn two_listings_at_once_share_the_bound() {
    let n = 16;
    let w = World::new(serde_json::json!({ "listing_concurrency": 2, "cache_ttl_s": 0 }));
    keys(&w, n);
    w.emu.reset_counts();
    w.emu.set_latency(Duration::from_millis(10));
    let (a, b) = (w.session(), w.session());
    std::thread::scope(|sc| {
        for s in [a, b] {
            let w = &w;
            sc.spawn(move || {
                let t = vec![Attr::new(CKA_CLASS, CKO_PUBLIC_KEY.to_ne_bytes().to_vec())];
                assert_eq!(find(w, s, t).len(), n);
            });
        }
    });
    // Each listing asks for every key (no cache: TTL 0), but both together stay within 2.
    assert!(w.emu.max_in_flight() <= 2, "{}", w.emu.max_in_flight());
    assert_eq!(w.count("POST", "/v1/key/attributes"), 2 * n as u64);
}

#[test]
fn a_full_listing_asks_no_certificate_of_a_secret_key() {
    let w = World::new(serde_json::json!({}));
    direct::create_key(&w.emu, "pair", "p256", None);
    let s = w.session();
    let t = Template::new(vec![
        Attr::new(CKA_VALUE_LEN, (32 as CK_ULONG).to_ne_bytes().to_vec()),
        Attr::new(CKA_TOKEN, vec![1]),
        Attr::new(CKA_LABEL, b"aes".to_vec()),
    ]);
    w.m.with_session(s, |sess| w.m.generate_key(sess, CKM_AES_KEY_GEN, &t))
        .expect("AES keygen");
    // A fresh module: nothing cached.
    let m = w.rerun(false);
    let s = open_session(&m);
    w.emu.reset_counts();
    let all = m
        .with_session(s, |sess| m.find(sess, &Template::default()))
        .expect("find");
    // The key pair's two objects and the secret key's one.
    assert_eq!(all.len(), 3);
    assert_eq!(w.count("POST", "/v1/key/attributes"), 2);
    // The key pair's certificate is asked for; the secret key has none to ask.
    assert_eq!(
        count_prefix(&w, "GET /v1/certificate/"),
        1,
        "{:?}",
        w.emu.request_counts()
    );
}

/// A find by label asks the TSB each time it found nothing: a key that another client makes
/// under that label is found at once, not after `cache_ttl_s` (the README's promise). A key
/// found is still served from the cache within the TTL.
#[test]
fn a_find_by_label_that_found_nothing_asks_again() {
    let w = World::new(serde_json::json!({ "cache_ttl_s": 3600 }));
    let s = w.session();
    let by_label = || {
        find(
            &w,
            s,
            vec![
                Attr::new(CKA_CLASS, CKO_PRIVATE_KEY.to_ne_bytes().to_vec()),
                Attr::new(CKA_LABEL, b"later".to_vec()),
            ],
        )
    };
    assert!(by_label().is_empty());
    // Another client makes the key.
    direct::create_key(&w.emu, "later", "p256", None);
    w.emu.reset_counts();
    assert_eq!(by_label().len(), 1, "the new key is found at once");
    assert_eq!(w.count("POST", "/v1/key/attributes"), 1);
    assert_eq!(by_label().len(), 1);
    assert_eq!(
        w.count("POST", "/v1/key/attributes"),
        1,
        "a key found is served from the cache within the TTL"
    );
}
