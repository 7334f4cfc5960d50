//! API-key roles and the paths each one guards.
//!
//! Source: S2 `tsb/Concepts/authentication/authentication.md` ("API Key Roles Overview"), since
//! TSB 2.0.0. The API key travels in the `X-API-KEY` header; a TSB with keys configured for a role
//! refuses a path of that role without one of them (errorCode 631, HTTP 401: S1 `tsb_client.go`
//! `doRequest`). The documented patterns are Spring (Ant) path patterns: `/x/**` covers `/x` and
//! everything below it, `/v1/filtered**ApprovalTask` one path segment.

use crate::paths;

/// The header that carries an API key (S1 `tsb_client.go` `doRequest`).
pub const API_KEY_HEADER: &str = "X-API-KEY";

/// An API-key role of the TSB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `keyManagementToken`: create, modify, delete keys.
    KeyManagement,
    /// `keyOperationToken`: sign, decrypt, certificates, requests, random.
    KeyOperation,
    /// `approverToken`: approval tasks and approvals.
    Approver,
    /// `serviceToken`: version, licence, statistics, HSM log.
    Service,
    /// `approverKeyManagementToken`: the approver management of the Authorization App.
    ApproverKeyManagement,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::KeyManagement,
        Role::KeyOperation,
        Role::Approver,
        Role::Service,
        Role::ApproverKeyManagement,
    ];

    /// Parse the TSB's role name (`keyManagementToken`, ...).
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The TSB's role name.
    pub fn name(self) -> &'static str {
        match self {
            Role::KeyManagement => "keyManagementToken",
            Role::KeyOperation => "keyOperationToken",
            Role::Approver => "approverToken",
            Role::Service => "serviceToken",
            Role::ApproverKeyManagement => "approverKeyManagementToken",
        }
    }
}

/// Paths matched exactly, with their role.
const EXACT: &[(&str, Role)] = &[
    ("/v1/importedKey", Role::KeyManagement),
    ("/v1/derivedKey", Role::KeyManagement),
    (paths::MODIFY, Role::KeyManagement),
    (paths::SYNCHRONOUS_MODIFY, Role::KeyManagement),
    (paths::SYNCHRONOUS_UNWRAP, Role::KeyOperation),
    (paths::SYNCHRONOUS_UNBLOCK, Role::KeyOperation),
    (paths::SYNCHRONOUS_SIGN, Role::KeyOperation),
    ("/v1/synchronousFileDecrypt", Role::KeyOperation),
    (paths::SYNCHRONOUS_DECRYPT, Role::KeyOperation),
    (paths::SYNCHRONOUS_BLOCK, Role::KeyOperation),
    (paths::SYNCHRONOUS_HMAC, Role::KeyOperation),
    ("/v1/fileEncrypt", Role::KeyOperation),
    (paths::WRAP, Role::KeyOperation),
    (paths::VERIFY, Role::KeyOperation),
    (paths::ENCRYPT, Role::KeyOperation),
    ("/v1/createRfcTimestamp", Role::KeyOperation),
    (paths::UNWRAP, Role::KeyOperation),
    (paths::UNBLOCK, Role::KeyOperation),
    (paths::SIGN, Role::KeyOperation),
    (paths::DECRYPT, Role::KeyOperation),
    (paths::BLOCK, Role::KeyOperation),
    (paths::FILTERED_REQUESTS, Role::KeyOperation),
    (paths::APPROVAL, Role::Approver),
    (paths::TASK, Role::Approver),
    ("/v1/approver/onboard", Role::Approver),
    (paths::VERSION_INFO, Role::Service),
    (paths::LICENSE_INFO, Role::Service),
    (paths::KEYSTORE_STATISTICS, Role::Service),
];

/// `/prefix/**` patterns: the prefix itself and everything below it. Audit divergence #13: the
/// clients disagree with this table for two of them (S1 `random.go` sends the `serviceToken` key
/// to `/v1/generateRandom`, S5 and S6 the key-management key to `/v1/certificate/**`); the TSB's
/// own documentation (above) is followed.
const SUBTREES: &[(&str, Role)] = &[
    (paths::KEY, Role::KeyManagement),
    ("/v1/dataObject", Role::KeyManagement),
    ("/v1/attestation", Role::KeyManagement),
    (paths::CERTIFICATE, Role::KeyOperation),
    (paths::GENERATE_RANDOM, Role::KeyOperation),
    (paths::REQUEST, Role::KeyOperation),
    ("/v1/hsm/log", Role::Service),
    ("/v1/approverManagement", Role::ApproverKeyManagement),
];

/// Whether `path` (without query) is one of the task lists `/v1/filtered<X>ApprovalTask`.
pub fn is_approval_task_path(path: &str) -> bool {
    path.strip_prefix("/v1/filtered")
        .is_some_and(|rest| rest.ends_with("ApprovalTask") && !rest.contains('/'))
}

/// The role whose API key a path needs; `None` for a path that no role guards (not documented).
/// A query string is ignored.
pub fn role_for_path(path: &str) -> Option<Role> {
    let p = path.split('?').next().unwrap_or(path);
    if let Some((_, role)) = EXACT.iter().find(|(e, _)| *e == p) {
        return Some(*role);
    }
    let under = |prefix: &str| {
        p.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if let Some((_, role)) = SUBTREES.iter().find(|(prefix, _)| under(prefix)) {
        return Some(*role);
    }
    is_approval_task_path(p).then_some(Role::Approver)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path of the documented table (S2 authentication.md), with a concrete path for each
    /// pattern, and paths that no pattern covers.
    #[test]
    fn every_documented_path_has_its_role() {
        use Role::*;
        let table: &[(&str, Option<Role>)] = &[
            ("/v1/key", Some(KeyManagement)),
            ("/v1/key/attributes", Some(KeyManagement)),
            ("/v1/key/my-key/attributes", Some(KeyManagement)),
            ("/v1/key/deleteKey", Some(KeyManagement)),
            ("/v1/key/my-key", Some(KeyManagement)),
            ("/v1/importedKey", Some(KeyManagement)),
            ("/v1/derivedKey", Some(KeyManagement)),
            ("/v1/dataObject", Some(KeyManagement)),
            ("/v1/dataObject/blob", Some(KeyManagement)),
            ("/v1/attestation/key", Some(KeyManagement)),
            ("/v1/modify", Some(KeyManagement)),
            ("/v1/synchronousModify", Some(KeyManagement)),
            ("/v1/certificate/request", Some(KeyOperation)),
            ("/v1/certificate/synchronous/request", Some(KeyOperation)),
            ("/v1/certificate/my-key", Some(KeyOperation)),
            ("/v1/synchronousUnwrap", Some(KeyOperation)),
            ("/v1/synchronousUnblock", Some(KeyOperation)),
            ("/v1/synchronousSign", Some(KeyOperation)),
            ("/v1/synchronousFileDecrypt", Some(KeyOperation)),
            ("/v1/synchronousDecrypt", Some(KeyOperation)),
            ("/v1/synchronousBlock", Some(KeyOperation)),
            ("/v1/synchronousHmac", Some(KeyOperation)),
            ("/v1/fileEncrypt", Some(KeyOperation)),
            ("/v1/wrap", Some(KeyOperation)),
            ("/v1/verify", Some(KeyOperation)),
            ("/v1/encrypt", Some(KeyOperation)),
            ("/v1/createRfcTimestamp", Some(KeyOperation)),
            ("/v1/generateRandom/32", Some(KeyOperation)),
            ("/v1/unwrap", Some(KeyOperation)),
            ("/v1/unblock", Some(KeyOperation)),
            ("/v1/sign", Some(KeyOperation)),
            ("/v1/decrypt", Some(KeyOperation)),
            ("/v1/block", Some(KeyOperation)),
            ("/v1/request/abc", Some(KeyOperation)),
            ("/v1/filteredRequests", Some(KeyOperation)),
            ("/v1/filteredAllApprovalTask", Some(Approver)),
            ("/v1/filteredSignApprovalTask", Some(Approver)),
            ("/v1/filteredUnblockKeyApprovalTask", Some(Approver)),
            ("/v1/approval", Some(Approver)),
            ("/v1/task", Some(Approver)),
            ("/v1/approver/onboard", Some(Approver)),
            ("/v1/versionInfo", Some(Service)),
            ("/v1/licenseInfo", Some(Service)),
            ("/v1/keystore/statistics", Some(Service)),
            ("/v1/hsm/log", Some(Service)),
            ("/v1/hsm/log/today", Some(Service)),
            ("/v1/approverManagement", Some(ApproverKeyManagement)),
            (
                "/v1/approverManagement/approver/x",
                Some(ApproverKeyManagement),
            ),
            // A query string does not change the role.
            ("/v1/request/abc?x=1", Some(KeyOperation)),
            // Not documented, and not covered by a pattern.
            ("/v1/nothing", None),
            ("/v1/keystore", None),
            ("/v1/keys", None),
            ("/v1/importedKeyX", None),
            ("/v1/taskforce", None),
            ("/v1/approver", None),
            ("/v1/filtered/AllApprovalTask", None),
            ("/v2/key", None),
        ];
        for (path, role) in table {
            assert_eq!(role_for_path(path), *role, "{path}");
        }
    }

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::from_name(r.name()), Some(r));
        }
        assert_eq!(Role::from_name("adminToken"), None);
    }
}
