//! Session objects (issue 12 items 1-4): CKA_TOKEN absent means a session object; session key
//! pairs live in the TSB only as long as their session (or this process); the leftovers of dead
//! processes are deleted and nobody else's; C_CreateObject, C_CopyObject, C_GetObjectSize and
//! C_SetAttributeValue on session objects; generated labels; the TSB's RSA sizes.

use super::*;
use crate::token::session_keys::{self, Owner};
use crate::token::AttrValue;

fn ul(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Attr {
    Attr::new(ty, v.to_ne_bytes().to_vec())
}
fn a(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Attr {
    Attr::new(ty, v.to_vec())
}
fn t(attrs: &[Attr]) -> Template {
    Template::new(attrs.to_vec())
}

/// C_GenerateKeyPair with these templates.
fn keygen(
    w: &World,
    s: CK_SESSION_HANDLE,
    mech: CK_MECHANISM_TYPE,
    public: &[Attr],
    private: &[Attr],
) -> Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
    w.m.with_session(s, |sess| {
        w.m.generate_key_pair(sess, mech, &t(public), &t(private))
    })
}

fn rsa(
    w: &World,
    s: CK_SESSION_HANDLE,
    bits: CK_ULONG,
    private: &[Attr],
) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
    keygen(
        w,
        s,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        &[ul(CKA_MODULUS_BITS, bits)],
        private,
    )
    .expect("keygen")
}

fn attr(w: &World, s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> AttrValue {
    w.m.with_session(s, |sess| w.m.attributes(sess, h, &[ty]))
        .expect("attributes")
        .remove(0)
}

fn value(w: &World, s: CK_SESSION_HANDLE, h: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Vec<u8> {
    match attr(w, s, h, ty) {
        AttrValue::Value(v) => v,
        other => panic!("attribute 0x{ty:x}: {other:?}"),
    }
}

fn find(w: &World, s: CK_SESSION_HANDLE, template: &[Attr]) -> Vec<CK_OBJECT_HANDLE> {
    w.m.with_session(s, |sess| w.m.find(sess, &t(template)))
        .expect("find")
}

/// Sign and verify `data` with the pair, through the module (CKM_SHA256_RSA_PKCS, ECDSA or EdDSA
/// by the key's type).
fn sign_and_verify(
    w: &World,
    s: CK_SESSION_HANDLE,
    public: CK_OBJECT_HANDLE,
    private: CK_OBJECT_HANDLE,
) -> Vec<u8> {
    let sig = data(w.sign(s, private, b"data", Some(1024)).expect("sign"));
    let mech = match value(w, s, public, CKA_KEY_TYPE) {
        v if v == CKK_RSA.to_ne_bytes() => CKM_SHA256_RSA_PKCS,
        v if v == CKK_EC_EDWARDS.to_ne_bytes() => CKM_EDDSA,
        _ => CKM_ECDSA_SHA256,
    };
    w.m.with_session(s, |sess| {
        w.m.verify_init(sess, mech, &MechParams::None, public)
    })
    .expect("verify init");
    w.m.with_operation(s, OpKind::Verify, |sess| {
        w.m.verify(sess, Some(b"data"), &sig)
    })
    .expect("the signature verifies");
    sig
}

#[test]
fn keygen_without_cka_token_makes_a_session_key_pair_deleted_with_its_session() {
    let w = World::new(serde_json::json!({"label_prefix": "t-"}));
    let s = w.session();
    let other = w.session();
    let (public, private) = rsa(&w, s, 2048, &[a(CKA_LABEL, b"mine"), a(CKA_ID, &[7])]);
    // Generated in the TSB (never in software), under a session key label of this process.
    let labels = w.tsb_labels();
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert!(session_keys::is_mine("t-", &labels[0]), "{labels:?}");
    assert_eq!(w.count("POST", "/v1/key"), 1);
    // A session object: CKA_TOKEN false, the application's label and id.
    assert_eq!(value(&w, s, private, CKA_TOKEN), vec![CK_FALSE]);
    assert_eq!(value(&w, s, private, CKA_LABEL), b"mine".to_vec());
    assert_eq!(
        value(&w, s, public, CKA_LABEL),
        Vec::<u8>::new(),
        "each half has its template's"
    );
    assert_eq!(value(&w, s, private, CKA_ID), vec![7]);
    assert_eq!(
        attr(&w, s, private, CKA_PRIVATE_EXPONENT),
        AttrValue::Sensitive
    );
    // Usable, and visible to the application's other sessions (PKCS#11 3.0 §4.4).
    sign_and_verify(&w, other, public, private);
    let found = find(&w, other, &[a(CKA_LABEL, b"mine")]);
    assert_eq!(found, vec![private]);
    // Never a token object: a token find neither shows nor fetches it.
    w.emu.reset_counts();
    assert!(find(&w, s, &[a(CKA_TOKEN, &[1])]).is_empty());
    assert_eq!(w.count("GET", "/v1/key"), 1);
    assert_eq!(
        w.count("POST", "/v1/key/attributes"),
        0,
        "session keys are not read as token keys"
    );
    // CKA_TOKEN false in the template: only session objects, and the TSB is not asked.
    w.emu.reset_counts();
    assert_eq!(find(&w, s, &[a(CKA_TOKEN, &[0])]).len(), 2);
    assert!(
        w.emu.request_counts().is_empty(),
        "{:?}",
        w.emu.request_counts()
    );
    // Gone with the session that made it: the objects and the key in the TSB.
    w.m.close_session(s).unwrap();
    assert!(w.tsb_labels().is_empty());
    assert_eq!(
        rv(w.m.with_session(other, |sess| w.m.attributes(sess, private, &[CKA_CLASS]))),
        CKR_OBJECT_HANDLE_INVALID
    );
    // CKA_TOKEN false said explicitly is the same; C_Finalize deletes what is left.
    let s = w.session();
    rsa(&w, s, 2048, &[a(CKA_TOKEN, &[0])]);
    keygen(
        &w,
        s,
        CKM_EC_KEY_PAIR_GEN,
        &[a(
            CKA_EC_PARAMS,
            &crate::der::oid("1.2.840.10045.3.1.7").unwrap(),
        )],
        &[],
    )
    .unwrap();
    assert_eq!(w.tsb_labels().len(), 2);
    w.m.shutdown();
    assert!(
        w.tsb_labels().is_empty(),
        "C_Finalize deletes every session key"
    );
}

#[test]
fn destroying_a_session_key_pair_deletes_its_key_with_the_last_object() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let (public, private) = rsa(&w, s, 2048, &[]);
    let copy =
        w.m.with_session(s, |sess| w.m.copy_object(sess, private, &t(&[])))
            .unwrap();
    w.m.with_session(s, |sess| w.m.destroy_object(sess, private))
        .unwrap();
    w.m.with_session(s, |sess| w.m.destroy_object(sess, public))
        .unwrap();
    assert_eq!(w.tsb_labels().len(), 1, "the copy still uses the key");
    // The copy still signs.
    let sig = data(w.sign(s, copy, b"x", Some(512)).unwrap());
    assert_eq!(sig.len(), 256);
    w.m.with_session(s, |sess| w.m.destroy_object(sess, copy))
        .unwrap();
    assert!(w.tsb_labels().is_empty());
}

#[test]
fn leftovers_of_dead_processes_are_deleted_and_nobody_elses() {
    let w = World::new(serde_json::json!({"label_prefix": "t-", "session_key_max_age_s": 3600}));
    let me = Owner::me();
    let label = |o: &Owner, created: u64| {
        format!(
            "t-{}{}.{}.{}.{created}.1.{}",
            session_keys::MARKER,
            o.host_id,
            o.pid,
            o.start,
            o.hostname
        )
    };
    let now = session_keys::now();
    let live = Owner {
        pid: 1,
        start: session_keys::start_time(1).expect("pid 1"),
        ..me.clone()
    };
    // A child process that has ended: its pid and start time are a dead process's.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let child_pid = child.id();
    child.wait().unwrap();
    let dead = Owner {
        pid: child_pid,
        start: 1,
        ..me.clone()
    };
    let foreign_new = Owner {
        host_id: "000000000000".into(),
        ..dead.clone()
    };
    let keys = [
        ("t-release", false),
        (&*label(&live, now), false),
        (&*label(&dead, now), true),
        (&*label(&foreign_new, now), false),
        (&*label(&foreign_new, now - 7200), true),
    ];
    for (l, _) in &keys {
        direct::create_key(&w.emu, l, "p256", None);
    }
    let s = w.session();
    // Only the first listing of the slot looks for leftovers, and a find by label does not list.
    assert_eq!(
        find(
            &w,
            s,
            &[a(CKA_LABEL, b"release"), ul(CKA_CLASS, CKO_PRIVATE_KEY)]
        )
        .len(),
        1
    );
    assert_eq!(w.tsb_labels().len(), 5);
    let found = find(&w, s, &[ul(CKA_CLASS, CKO_PRIVATE_KEY)]);
    assert_eq!(found.len(), 1, "session keys are not token objects");
    let left = w.tsb_labels();
    for (l, reaped) in &keys {
        assert_eq!(!left.contains(&l.to_string()), *reaped, "{l}: {left:?}");
    }
}

#[test]
fn create_object_makes_session_public_keys_that_verify_and_encrypt_locally() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    for (kind, label) in [("rsa", "k-rsa"), ("p256", "k-ec"), ("ed", "k-ed")] {
        direct::create_key(&w.emu, label, kind, None);
        let private = private_key(&w.m, s, label);
        let token_public = find(
            &w,
            s,
            &[
                a(CKA_LABEL, label.as_bytes()),
                ul(CKA_CLASS, CKO_PUBLIC_KEY),
            ],
        )[0];
        let mut template = vec![ul(CKA_CLASS, CKO_PUBLIC_KEY), a(CKA_LABEL, b"imported")];
        let kt = value(&w, s, token_public, CKA_KEY_TYPE);
        template.push(a(CKA_KEY_TYPE, &kt));
        for ty in match kind {
            "rsa" => vec![CKA_MODULUS, CKA_PUBLIC_EXPONENT],
            _ => vec![CKA_EC_PARAMS, CKA_EC_POINT],
        } {
            template.push(a(ty, &value(&w, s, token_public, ty)));
        }
        let h =
            w.m.with_session(s, |sess| w.m.create_object(sess, &t(&template)))
                .unwrap();
        assert_eq!(value(&w, s, h, CKA_TOKEN), vec![CK_FALSE]);
        assert_eq!(
            value(&w, s, h, CKA_PUBLIC_KEY_INFO),
            value(&w, s, token_public, CKA_PUBLIC_KEY_INFO),
            "{kind}"
        );
        w.emu.reset_counts();
        sign_and_verify(&w, s, h, private);
        if kind == "rsa" {
            // Encrypt with the imported key, decrypt with the TSB's private key.
            w.m.with_session(s, |sess| {
                w.m.encrypt_init(sess, CKM_RSA_PKCS, &MechParams::None, h)
            })
            .unwrap();
            let c = match w
                .m
                .with_operation(s, OpKind::Encrypt, |sess| {
                    w.m.encrypt(sess, b"secret", Some(512))
                })
                .unwrap()
            {
                Output::Data(c) => c,
                o => panic!("{o:?}"),
            };
            w.m.with_session(s, |sess| {
                w.m.decrypt_init(sess, CKM_RSA_PKCS, &MechParams::None, private)
            })
            .unwrap();
            let p =
                w.m.with_operation(s, OpKind::Decrypt, |sess| w.m.decrypt(sess, &c, Some(512)))
                    .unwrap();
            assert_eq!(p, Output::Data(b"secret".to_vec()));
        }
        // An imported public key cannot sign.
        assert_eq!(rv(sign_init(&w.m, s, h)), CKR_KEY_TYPE_INCONSISTENT);
    }
    // A public key without its material, and a private key without its material (private
    // keys are imported with it: plain_keys.rs).
    let bad = [ul(CKA_CLASS, CKO_PUBLIC_KEY), ul(CKA_KEY_TYPE, CKK_RSA)];
    assert_eq!(
        rv(w.m.with_session(s, |sess| w.m.create_object(sess, &t(&bad)))),
        CKR_TEMPLATE_INCOMPLETE
    );
    let private = [ul(CKA_CLASS, CKO_PRIVATE_KEY), ul(CKA_KEY_TYPE, CKK_RSA)];
    assert_eq!(
        rv(w.m.with_session(s, |sess| w.m.create_object(sess, &t(&private)))),
        CKR_TEMPLATE_INCOMPLETE
    );
    // A token public key cannot be stored: the TSB keeps key pairs.
    let token = [a(CKA_TOKEN, &[1]), ul(CKA_CLASS, CKO_PUBLIC_KEY)];
    assert_eq!(
        rv(w.m.with_session(s, |sess| w.m.create_object(sess, &t(&token)))),
        CKR_TEMPLATE_INCONSISTENT
    );
}

#[test]
fn data_objects_copy_size_and_set_attributes_as_the_standard_says() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let create = |attrs: &[Attr]| {
        w.m.with_session(s, |sess| w.m.create_object(sess, &t(attrs)))
    };
    let h = create(&[
        ul(CKA_CLASS, CKO_DATA),
        a(CKA_LABEL, b"d"),
        a(CKA_APPLICATION, b"app"),
        a(CKA_VALUE, b"12345"),
    ])
    .unwrap();
    assert_eq!(value(&w, s, h, CKA_VALUE), b"12345".to_vec());
    assert_eq!(value(&w, s, h, CKA_OBJECT_ID), Vec::<u8>::new());
    assert_eq!(attr(&w, s, h, CKA_MODULUS), AttrValue::Invalid);
    let size =
        w.m.with_session(s, |sess| w.m.object_size(sess, h))
            .unwrap();
    assert!(size >= 9, "the bytes of its attributes: {size}");
    // Changeable: label, value of a data object. Read-only: class, token.
    let set = |h, attrs: &[Attr]| {
        w.m.with_session(s, |sess| w.m.set_attributes(sess, h, &t(attrs)))
    };
    set(h, &[a(CKA_LABEL, b"renamed"), a(CKA_VALUE, b"6")]).unwrap();
    assert_eq!(value(&w, s, h, CKA_LABEL), b"renamed".to_vec());
    assert_eq!(rv(set(h, &[a(CKA_TOKEN, &[1])])), CKR_ATTRIBUTE_READ_ONLY);
    assert_eq!(
        rv(set(h, &[ul(CKA_CLASS, CKO_CERTIFICATE)])),
        CKR_ATTRIBUTE_READ_ONLY
    );
    // A copy with changes; CKA_TOKEN true is refused.
    let copy = |h, attrs: &[Attr]| {
        w.m.with_session(s, |sess| w.m.copy_object(sess, h, &t(attrs)))
    };
    let c = copy(h, &[a(CKA_LABEL, b"copy"), a(CKA_MODIFIABLE, &[0])]).unwrap();
    assert_eq!(value(&w, s, c, CKA_LABEL), b"copy".to_vec());
    assert_eq!(value(&w, s, c, CKA_VALUE), b"6".to_vec());
    assert_eq!(
        rv(copy(h, &[a(CKA_TOKEN, &[1])])),
        CKR_TEMPLATE_INCONSISTENT
    );
    // Not modifiable: C_SetAttributeValue is prohibited.
    assert_eq!(rv(set(c, &[a(CKA_LABEL, b"x")])), CKR_ACTION_PROHIBITED);
    // Session keys: what the TSB key decides is read-only, the label is not; narrowing is fine.
    let (_, private) = rsa(&w, s, 2048, &[]);
    set(private, &[a(CKA_LABEL, b"k"), a(CKA_EXTRACTABLE, &[0])]).unwrap();
    assert_eq!(
        rv(set(private, &[a(CKA_SIGN, &[0])])),
        CKR_ATTRIBUTE_READ_ONLY
    );
    assert_eq!(
        rv(set(private, &[a(CKA_EXTRACTABLE, &[1])])),
        CKR_ATTRIBUTE_READ_ONLY
    );
    // Session objects may be made and destroyed in a read-only session.
    let ro = w.m.open_session(0, CKF_SERIAL_SESSION).unwrap();
    let d =
        w.m.with_session(ro, |sess| {
            w.m.create_object(sess, &t(&[ul(CKA_CLASS, CKO_DATA)]))
        })
        .unwrap();
    w.m.with_session(ro, |sess| w.m.destroy_object(sess, d))
        .unwrap();
    // Token objects answer what the standard says for objects that cannot be changed.
    direct::create_key(&w.emu, "token", "p256", None);
    let k = private_key(&w.m, s, "token");
    assert_eq!(rv(copy(k, &[])), CKR_ACTION_PROHIBITED);
    assert_eq!(rv(set(k, &[a(CKA_LABEL, b"x")])), CKR_ACTION_PROHIBITED);
    assert_eq!(
        w.m.with_session(s, |sess| w.m.object_size(sess, k))
            .unwrap(),
        CK_UNAVAILABLE_INFORMATION
    );
    // The session's objects end with it.
    w.m.close_session(s).unwrap();
    let s2 = w.session();
    assert!(find(&w, s2, &[ul(CKA_CLASS, CKO_DATA)]).is_empty());
}

#[test]
fn token_keys_without_a_label_get_a_generated_one_and_rsa_sizes_are_the_tsbs() {
    let w = World::new(serde_json::json!({"label_prefix": "t-"}));
    let s = w.session();
    let token = [a(CKA_TOKEN, &[1])];
    let (public, private) = keygen(
        &w,
        s,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        &[ul(CKA_MODULUS_BITS, 1024), a(CKA_TOKEN, &[1])],
        &token,
    )
    .unwrap();
    let label = value(&w, s, private, CKA_LABEL);
    let label = String::from_utf8(label).unwrap();
    assert!(label.starts_with("p11-") && label.len() == 20, "{label}");
    assert_eq!(w.tsb_labels(), vec![format!("t-{label}")]);
    assert_eq!(
        value(&w, s, public, CKA_MODULUS_BITS),
        (1024 as CK_ULONG).to_ne_bytes().to_vec()
    );
    sign_and_verify(&w, s, public, private);
    // Sizes the TSB does not generate are refused before any request.
    w.emu.reset_counts();
    let e = keygen(
        &w,
        s,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        &[ul(CKA_MODULUS_BITS, 1536)],
        &token,
    );
    assert_eq!(rv(e), CKR_KEY_SIZE_RANGE);
    assert_eq!(w.count("POST", "/v1/key"), 0);
    // A token key pair in a read-only session is refused; a session key pair is fine.
    let ro = w.m.open_session(0, CKF_SERIAL_SESSION).unwrap();
    let e = keygen(
        &w,
        ro,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        &[ul(CKA_MODULUS_BITS, 2048)],
        &token,
    );
    assert_eq!(rv(e), CKR_SESSION_READ_ONLY);
    keygen(
        &w,
        ro,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        &[ul(CKA_MODULUS_BITS, 2048)],
        &[],
    )
    .unwrap();
}
