//! Results that did not fit the caller's buffer are kept for the retry, and length queries are
//! answered without sending anything: an approval-gated operation is never sent twice.

use super::*;
use crate::token::CsrSpec;

#[test]
fn length_query_and_short_buffer_never_send_twice() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let k = w.key(s, "ska-ec", "p256", Some(&w.policy(600)));
    w.emu.reset_counts();
    // Length query: answered from the key, nothing sent.
    sign_init(&w.m, s, k).unwrap();
    assert_eq!(sign_again(&w.m, s, b"data", None).unwrap(), Output::Len(64));
    assert_eq!(w.count("POST", "/v1/sign"), 0);
    // A buffer too small after the approval: the result is kept for the retry.
    let bg = w.auto_approve(1);
    assert_eq!(
        sign_again(&w.m, s, b"data", Some(10)).unwrap(),
        Output::TooSmall(64)
    );
    bg.join().unwrap().unwrap();
    // A length query in between is answered from the kept result.
    assert_eq!(sign_again(&w.m, s, b"data", None).unwrap(), Output::Len(64));
    assert_eq!(
        data(sign_again(&w.m, s, b"data", Some(64)).unwrap()).len(),
        64
    );
    assert_eq!(
        w.count("POST", "/v1/sign"),
        1,
        "one request for the whole sequence"
    );
    // The operation is finished now.
    assert_eq!(
        rv(sign_again(&w.m, s, b"data", Some(64))),
        CKR_OPERATION_NOT_INITIALIZED
    );
}

#[test]
fn csr_length_query_and_short_buffer_on_an_ska_key() {
    let w = World::new(serde_json::json!({}));
    let s = w.session();
    let key = w.key(s, "SUB.approver.securosys.com", "rsa", Some(&w.policy(600)));
    let spec = CsrSpec {
        subject: vec![("commonName", "Approver-Intermediate-SUB".into())],
        key_usage: vec!["DIGITAL_SIGNATURE".into()],
        extended_key_usage: vec!["CODE_SIGNING".into()],
        validity_days: 365,
        ..Default::default()
    };
    let csr = |cap| {
        w.m.with_session(s, |sess| w.m.create_csr(sess, key, &spec, cap))
    };
    w.emu.reset_counts();
    let Output::Len(bound) = csr(None).unwrap() else {
        panic!("a length query")
    };
    assert!(bound >= 2048, "an upper bound");
    assert_eq!(
        w.count("POST", "/v1/certificate/request"),
        0,
        "a length query sends nothing"
    );
    let bg = w.auto_approve(1);
    let Output::TooSmall(n) = csr(Some(16)).unwrap() else {
        panic!("too small")
    };
    bg.join().unwrap().unwrap();
    let pem = data(csr(Some(n)).unwrap());
    assert_eq!(pem.len(), n);
    assert_eq!(
        w.count("POST", "/v1/certificate/request"),
        1,
        "kept for the retry, not asked twice"
    );
    let text = String::from_utf8(pem.clone()).unwrap();
    assert!(text.starts_with("-----BEGIN NEW CERTIFICATE REQUEST-----"));
    let req = openssl::x509::X509Req::from_pem(&pem).unwrap();
    assert!(req.verify(&req.public_key().unwrap()).unwrap());
    let cn = req
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .unwrap()
        .data()
        .as_slice()
        .to_vec();
    let cn = String::from_utf8(cn).unwrap();
    assert_eq!(cn, "Approver-Intermediate-SUB");
    let dump = String::from_utf8(req.to_text().unwrap()).unwrap();
    assert!(
        dump.contains("Code Signing") && dump.contains("Digital Signature"),
        "{dump}"
    );
    // The session remembers the request id, and its status has the CSR as its result.
    let id =
        w.m.with_session(s, |sess| w.m.last_request_id(sess))
            .unwrap();
    let st =
        w.m.with_session(s, |sess| w.m.request_status(sess, &id))
            .unwrap();
    assert_eq!(
        (st.status, st.approvals_given),
        (crate::vendor::TSB_REQUEST_EXECUTED, 1)
    );
    assert_eq!(st.result.map(|r| r.len()), Some(pem.len()));
}
