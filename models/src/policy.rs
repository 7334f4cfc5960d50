//! Smart Key Attributes policies (`PolicyDto`, `tsb-api.md` §2.1).

use serde::{Deserialize, Serialize};

/// Smart Key Attributes policy (`PolicyDto`). `policy: null` on a key means a plain key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Rule that gates every use of the key (sign, decrypt, CSR, certificates).
    #[serde(default)]
    pub rule_use: Option<Rule>,
    /// Rule that gates blocking the key.
    #[serde(default)]
    pub rule_block: Option<Rule>,
    /// Rule that gates unblocking the key.
    #[serde(default)]
    pub rule_unblock: Option<Rule>,
    /// Rule that gates modifying the policy.
    #[serde(default)]
    pub rule_modify: Option<Rule>,
    /// Whether the key is blocked (required by the TSB on create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_status: Option<KeyStatus>,
}

/// `keyStatus` of a policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyStatus {
    /// A blocked key refuses every use.
    #[serde(default)]
    pub blocked: bool,
}

/// A rule: its tokens are OR-ed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Alternatives; any one satisfied token satisfies the rule.
    #[serde(default)]
    pub tokens: Vec<Token>,
}

/// A token: its groups are AND-ed; `timelock` and `timeout` are seconds from request creation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Seconds after creation before approvals take effect (multiple of 60, 0 = none).
    #[serde(default)]
    pub timelock: u64,
    /// Seconds after creation when the request expires (multiple of 60, 0 = never).
    #[serde(default)]
    pub timeout: u64,
    /// Groups, all of which must reach their quorum.
    #[serde(default)]
    pub groups: Option<Vec<Group>>,
}

/// A group of approvers with a quorum.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Approvals needed from this group.
    #[serde(default)]
    pub quorum: u32,
    /// The approvers.
    #[serde(default)]
    pub approvals: Vec<Approval>,
}

/// One approver in a group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// `public_key`, `certificate` or `onboarded_approver_certificate`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Display name of the approver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Base64 DER SubjectPublicKeyInfo (`public_key`) or X.509 certificate (`certificate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}
