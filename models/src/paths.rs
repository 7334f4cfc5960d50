//! Endpoint paths of the TSB REST API, relative to the TSB's base URL, each with the Securosys
//! source that uses it (S1 is `securosys-com/tsb-client-go`; see the crate docs for the others).
//! The API-key role that guards each path is in [`crate::roles`], the task lists of the approver
//! in [`crate::TaskList`].
//!
//! Paths that carry a value (a key label, a request id) are built with the functions below, which
//! percent-encode the value as one path segment.

/// The version prefix of every path: a base URL written with it is the same TSB.
pub const PREFIX: &str = "/v1";

/// `GET`: the TSB's version, `{"Version": "2.1.0"}` (S2 `tsb/Quickstart/cloud-quickstart.md`);
/// guarded by the `serviceToken` API key (S2 `tsb/Concepts/authentication/authentication.md`).
pub const VERSION_INFO: &str = "/v1/versionInfo";

/// `GET`: every key label; `POST`: create a key. S1 `key.go` (`GetKeys`, `CreateOrUpdateKey`).
pub const KEY: &str = "/v1/key";
/// `POST`: a key's attributes, the label in the body. S1 `key.go` (`GetKey`).
pub const KEY_ATTRIBUTES: &str = "/v1/key/attributes";
/// `POST`: delete a key, the label in the body. S1 `key.go` (`RemoveKey`).
pub const KEY_DELETE: &str = "/v1/key/deleteKey";
/// `POST`: import a key's material in plain (`KeyImportDto`). S1 `key.go` (`ImportKey`).
pub const KEY_IMPORT_PLAIN: &str = "/v1/key/import/plain";
/// `POST`: a non-sensitive, extractable key's material in plain (`KeyExportDto`). S1 `key.go`
/// (`ExportKey`).
pub const KEY_EXPORT_PLAIN: &str = "/v1/key/export/plain";

/// `POST`: sign at once (keys whose use needs no approval). S1 `sign.go`.
pub const SYNCHRONOUS_SIGN: &str = "/v1/synchronousSign";
/// `POST`: create a signing request for the approvers; answers `signRequestId`. S1 `sign.go`.
pub const SIGN: &str = "/v1/sign";
/// `POST`: decrypt at once. S1 `encrypt.go`.
pub const SYNCHRONOUS_DECRYPT: &str = "/v1/synchronousDecrypt";
/// `POST`: create a decryption request; answers `decryptRequestId`. S1 `encrypt.go`.
pub const DECRYPT: &str = "/v1/decrypt";
/// `POST`: block a key at once. S1 `block.go`.
pub const SYNCHRONOUS_BLOCK: &str = "/v1/synchronousBlock";
/// `POST`: create a block request. S1 `block.go`.
pub const BLOCK: &str = "/v1/block";
/// `POST`: unblock a key at once. S1 `unblock.go`.
pub const SYNCHRONOUS_UNBLOCK: &str = "/v1/synchronousUnblock";
/// `POST`: create an unblock request. S1 `unblock.go`.
pub const UNBLOCK: &str = "/v1/unblock";
/// `POST`: modify a key's policy at once. S1 `modify.go`.
pub const SYNCHRONOUS_MODIFY: &str = "/v1/synchronousModify";
/// `POST`: create a modify request. S1 `modify.go`.
pub const MODIFY: &str = "/v1/modify";

/// `POST`: verify a signature (or, with `verifyHmacRequest`, an HMAC). S1 `sign.go` (`Verify`);
/// S2 `tsb/Tutorials/Mac/hmac.md`.
pub const VERIFY: &str = "/v1/verify";
/// `POST`: encrypt with a key (no approvals). S1 `encrypt.go`.
pub const ENCRYPT: &str = "/v1/encrypt";
/// `POST`: an HMAC at once (TSB 2.0.1 and later). S2 `tsb/Tutorials/Mac/hmac.md`.
pub const SYNCHRONOUS_HMAC: &str = "/v1/synchronousHmac";
/// `POST`: wrap a key with another. S1 `wrap.go`.
pub const WRAP: &str = "/v1/wrap";
/// `POST`: unwrap a key at once. S1 `wrap.go`.
pub const SYNCHRONOUS_UNWRAP: &str = "/v1/synchronousUnwrap";
/// `POST`: create an unwrap request; answers `unwrapRequestId`. S1 `wrap.go`.
pub const UNWRAP: &str = "/v1/unwrap";

/// `GET`: the licence's client flags. S2 `AuthorizationApp/Concepts/Prerequisites.md`.
pub const LICENSE_INFO: &str = "/v1/licenseInfo";
/// `GET`: key store statistics; S1 `health.go` (`CheckConnection`) uses it as the health check.
pub const KEYSTORE_STATISTICS: &str = "/v1/keystore/statistics";

/// `GET /v1/generateRandom/{n}`: n random bytes. S1 `random.go`.
pub const GENERATE_RANDOM: &str = "/v1/generateRandom";
/// `GET`/`DELETE /v1/request/{id}`: a request's status, or its removal. S1 `requests.go`.
pub const REQUEST: &str = "/v1/request";
/// `POST`: requests filtered by status and key. S2 `authentication.md` (keyOperationToken).
pub const FILTERED_REQUESTS: &str = "/v1/filteredRequests";

/// `GET`/`DELETE /v1/certificate/{label}`: a key's certificate. S1 `certs.go` (`GetCertificate`,
/// `DeleteCertificate`).
pub const CERTIFICATE: &str = "/v1/certificate";
/// `POST`: attach a certificate to its key. S1 `certs.go` (`ImportCertificate`).
pub const CERTIFICATE_IMPORT_PLAIN: &str = "/v1/certificate/import/plain";
/// `POST`: a CSR at once. S1 `certs.go` (`CreateCertificate`).
pub const CERTIFICATE_SYNCHRONOUS_REQUEST: &str = "/v1/certificate/synchronous/request";
/// `POST`: create a CSR request; answers `signRequestId`. S1 `certs.go` (`AsyncCreateCertificate`).
pub const CERTIFICATE_REQUEST: &str = "/v1/certificate/request";
/// `POST`: a self-signed certificate at once. S1 `certs.go` (`CreateSelfSignedCertificate`).
pub const CERTIFICATE_SYNCHRONOUS_SELFSIGN: &str = "/v1/certificate/synchronous/selfsign";
/// `POST`: create a self-sign request. S1 `certs.go` (`AsyncSelfSignedCertificate`).
pub const CERTIFICATE_SELFSIGN: &str = "/v1/certificate/selfsign";
/// `POST`: issue a certificate for a CSR at once. S1 `certs.go` (`SignCertificate`).
pub const CERTIFICATE_SYNCHRONOUS_SIGN: &str = "/v1/certificate/synchronous/sign";
/// `POST`: create a request to issue a certificate. S1 `certs.go` (`AsyncSignCertificate`).
pub const CERTIFICATE_SIGN: &str = "/v1/certificate/sign";

/// `POST`: an approver's decision on a task. S4 `testHelpers/test_client_tsb.go`.
pub const APPROVAL: &str = "/v1/approval";
/// `DELETE`: reject a task. S2 lists the path under approverToken; no source gives the method
/// (fidelity audit divergence 9).
pub const TASK: &str = "/v1/task";

/// The asynchronous endpoints: each creates a request for the approvers and answers its id, so a
/// client must never send one twice for the same operation. The S1 functions above that call
/// them all read a request id from the answer.
pub const CREATES_REQUEST: &[&str] = &[
    SIGN,
    DECRYPT,
    BLOCK,
    UNBLOCK,
    MODIFY,
    UNWRAP,
    CERTIFICATE_REQUEST,
    CERTIFICATE_SIGN,
    CERTIFICATE_SELFSIGN,
];

/// Percent-encode `s` as one path segment (key labels may contain anything, `/` included).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `/v1/key/{label}` (`DELETE`: a key without a password; S1 `key.go` uses the POST form).
pub fn key(label: &str) -> String {
    format!("{KEY}/{}", segment(label))
}

/// `/v1/key/{label}/attributes` (`GET`: the attributes of a key without a password; deprecated
/// since TSB 1.14.0 for the POST form, S2 release notes).
pub fn key_attributes(label: &str) -> String {
    format!("{KEY}/{}/attributes", segment(label))
}

/// `/v1/certificate/{label}`.
pub fn certificate(label: &str) -> String {
    format!("{CERTIFICATE}/{}", segment(label))
}

/// The one path segment after `prefix` + `/` in `path` (still percent-encoded), or `None` when
/// `path` is not `prefix/{value}` (for servers that route these paths).
pub fn value_after<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let v = path.strip_prefix(prefix)?.strip_prefix('/')?;
    (!v.is_empty() && !v.contains('/')).then_some(v)
}

/// `/v1/request/{id}`.
pub fn request(id: &str) -> String {
    format!("{REQUEST}/{}", segment(id))
}

/// `/v1/generateRandom/{n}`.
pub fn generate_random(n: usize) -> String {
    format!("{GENERATE_RANDOM}/{n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_one_segment() {
        assert_eq!(certificate("a/b c%"), "/v1/certificate/a%2Fb%20c%25");
        assert_eq!(key("a/b"), "/v1/key/a%2Fb");
        assert_eq!(key_attributes("a/b"), "/v1/key/a%2Fb/attributes");
        assert_eq!(request("r-1_x.y~z"), "/v1/request/r-1_x.y~z");
        assert_eq!(generate_random(32), "/v1/generateRandom/32");
        assert_eq!(key_attributes("a/b"), "/v1/key/a%2Fb/attributes");
        assert_eq!(value_after("/v1/request/r%201", REQUEST), Some("r%201"));
        assert_eq!(value_after("/v1/request/", REQUEST), None);
        assert_eq!(value_after("/v1/request/a/b", REQUEST), None);
        assert_eq!(value_after("/v1/requests/a", REQUEST), None);
    }

    #[test]
    fn every_creating_path_has_a_role() {
        for p in CREATES_REQUEST {
            assert!(crate::role_for_path(p).is_some(), "{p}");
        }
    }
}
