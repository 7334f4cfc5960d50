//! Smart Key Attributes policies (`PolicyDto`) and the one validator of them,
//! used by the module (before it sends a policy, and for the default policy of its config) and by
//! the emulator (when a key is created).
//!
//! Sources: S3 `dto/tsb/PolicyDto.java` and its rule/token/group
//! classes (`@DivisibleBy60` on `timelock` and `timeout`, the approval types), S2
//! `tsb/Concepts/SmartKeyAttributes/**` (rules, tokens OR-ed, groups AND-ed, quorum) and S2
//! `tsb/Download/release_notes.md` 2.0.1 ("Allowed never fulfillable RuleModify, RuleBlock, and
//! RuleUnblock on SKA-Keys").

use crate::service::TsbVersion;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// The `type` values of a policy approval.
pub mod approval_type {
    /// `value` is a base64 DER SubjectPublicKeyInfo.
    pub const PUBLIC_KEY: &str = "public_key";
    /// `value` is a base64 DER X.509 certificate.
    pub const CERTIFICATE: &str = "certificate";
    /// An approver onboarded with the Securosys Authorization App, named by `name` (TSB 2.0.1).
    pub const ONBOARDED_APPROVER_CERTIFICATE: &str = "onboarded_approver_certificate";
    /// All of them.
    pub const ALL: [&str; 3] = [PUBLIC_KEY, CERTIFICATE, ONBOARDED_APPROVER_CERTIFICATE];
}

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

/// Why a policy is refused: where (`ruleUse.tokens[0].groups[1]`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// Path of the offending element inside the policy.
    pub at: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.problem)
    }
}

impl std::error::Error for PolicyError {}

impl Policy {
    /// The rules with their JSON names.
    pub fn rules(&self) -> [(&'static str, Option<&Rule>); 4] {
        [
            ("ruleUse", self.rule_use.as_ref()),
            ("ruleBlock", self.rule_block.as_ref()),
            ("ruleUnblock", self.rule_unblock.as_ref()),
            ("ruleModify", self.rule_modify.as_ref()),
        ]
    }

    /// Check the policy as the TSB does, so that a mistake is reported before any request:
    /// - `timelock` and `timeout` are multiples of 60 (S3 `@DivisibleBy60`);
    /// - every approval has a known `type`, and `public_key`/`certificate` approvals a `value`;
    /// - in `ruleUse`, every group's quorum can be met: it is at most the number of distinct
    ///   approvers of the group. A `ruleModify`, `ruleBlock` or `ruleUnblock` may never be
    ///   fulfillable (TSB 2.0.1, S2 release notes): that freezes the policy or the block state.
    ///   Counting distinct approvers (an approver listed twice counts once) is this project's
    ///   reading; no source says how the TSB counts.
    ///
    /// Whether a `value` decodes (base64, DER) is checked where the crypto is (the emulator).
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.validate_for(TsbVersion::NEWEST)
    }

    /// [`Policy::validate`] as TSB `v` does it: before 2.0.1 every rule's quorum must be
    /// reachable, `ruleModify`, `ruleBlock` and `ruleUnblock` included
    /// ([`TsbVersion::allows_never_fulfillable_management_rules`]).
    pub fn validate_for(&self, v: TsbVersion) -> Result<(), PolicyError> {
        let frozen_ok = v.allows_never_fulfillable_management_rules();
        for (name, rule) in self.rules() {
            let Some(rule) = rule else { continue };
            for (ti, t) in rule.tokens.iter().enumerate() {
                let at = format!("{name}.tokens[{ti}]");
                if t.timelock % 60 != 0 || t.timeout % 60 != 0 {
                    return Err(PolicyError {
                        at,
                        problem: "timelock and timeout must be multiples of 60 seconds".into(),
                    });
                }
                for (gi, g) in t.groups.iter().flatten().enumerate() {
                    let at = format!("{at}.groups[{gi}]");
                    for (ai, a) in g.approvals.iter().enumerate() {
                        a.validate().map_err(|problem| PolicyError {
                            at: format!("{at}.approvals[{ai}]"),
                            problem,
                        })?;
                    }
                    let distinct = g
                        .approvals
                        .iter()
                        .map(|a| (&a.kind, a.value.as_ref().or(a.name.as_ref())))
                        .collect::<BTreeSet<_>>()
                        .len();
                    if (name == "ruleUse" || !frozen_ok) && g.quorum as usize > distinct {
                        return Err(PolicyError {
                            at,
                            problem: format!(
                                "quorum {} can never be met by its {distinct} distinct approvers",
                                g.quorum
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

impl Rule {
    /// Whether an operation under this rule needs approvals: some token has a non-empty group.
    /// Such a key is used through the asynchronous endpoints (`/v1/sign`, ...); the synchronous
    /// ones refuse it. The decision rule of Securosys' own clients (S4
    /// `backend/path_hsm_operations.go`); a token without groups is satisfied at once (S2 "Empty
    /// Policy").
    pub fn needs_approvals(&self) -> bool {
        self.tokens
            .iter()
            .any(|t| t.groups.as_ref().is_some_and(|g| !g.is_empty()))
    }
}

impl Approval {
    fn validate(&self) -> Result<(), String> {
        if !approval_type::ALL.contains(&self.kind.as_str()) {
            return Err(format!(
                "unknown type {:?} (one of {})",
                self.kind,
                approval_type::ALL.join(", ")
            ));
        }
        if self.kind != approval_type::ONBOARDED_APPROVER_CERTIFICATE
            && self.value.as_deref().unwrap_or("").is_empty()
        {
            return Err(format!("an approval of type {} needs a value", self.kind));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval(value: &str) -> Approval {
        Approval {
            kind: approval_type::PUBLIC_KEY.into(),
            name: Some("a".into()),
            value: Some(value.into()),
        }
    }

    fn rule(quorum: u32, approvals: Vec<Approval>, timelock: u64) -> Option<Rule> {
        Some(Rule {
            tokens: vec![Token {
                name: "t".into(),
                timelock,
                timeout: 600,
                groups: Some(vec![Group {
                    name: "g".into(),
                    quorum,
                    approvals,
                }]),
            }],
        })
    }

    #[test]
    fn rules_that_need_approvals() {
        assert!(rule(1, vec![approval("A")], 0).unwrap().needs_approvals());
        let mut empty = rule(1, vec![], 0).unwrap();
        assert!(
            empty.needs_approvals(),
            "a group, even an empty one, asks for approvals"
        );
        empty.tokens[0].groups = Some(vec![]);
        assert!(!empty.needs_approvals());
        empty.tokens[0].groups = None;
        assert!(!empty.needs_approvals());
        assert!(!Rule::default().needs_approvals());
    }

    #[test]
    fn valid_and_invalid_policies() {
        let ok = Policy {
            rule_use: rule(2, vec![approval("A"), approval("B")], 60),
            key_status: Some(KeyStatus::default()),
            ..Policy::default()
        };
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(Policy::default().validate(), Ok(()));

        let mut p = ok.clone();
        p.rule_block = rule(1, vec![approval("A")], 30);
        assert_eq!(p.validate().unwrap_err().at, "ruleBlock.tokens[0]");

        // Never fulfillable: refused in ruleUse (also with a duplicated approver) ...
        let mut p = ok.clone();
        p.rule_use = rule(2, vec![approval("A"), approval("A")], 0);
        let e = p.validate().unwrap_err();
        assert_eq!(e.at, "ruleUse.tokens[0].groups[0]");
        assert!(e.to_string().contains("quorum 2"), "{e}");
        // ... allowed in the other rules (TSB 2.0.1).
        let mut p = ok.clone();
        p.rule_modify = rule(3, vec![approval("A")], 0);
        p.rule_block = rule(3, vec![approval("A")], 0);
        p.rule_unblock = rule(3, vec![], 0);
        assert_eq!(p.validate(), Ok(()));

        let mut p = ok.clone();
        p.rule_use = rule(1, vec![approval("")], 0);
        assert_eq!(
            p.validate().unwrap_err().at,
            "ruleUse.tokens[0].groups[0].approvals[0]"
        );
        let mut p = ok.clone();
        let mut odd = approval("A");
        odd.kind = "password".into();
        p.rule_modify = rule(1, vec![odd], 0);
        assert!(p.validate().unwrap_err().problem.contains("unknown type"));
        let mut p = ok;
        p.rule_use = rule(
            1,
            vec![Approval {
                kind: approval_type::ONBOARDED_APPROVER_CERTIFICATE.into(),
                name: Some("alice@example.com".into()),
                value: None,
            }],
            0,
        );
        assert_eq!(p.validate(), Ok(()));
    }
}
