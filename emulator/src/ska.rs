//! The Smart Key Attributes (SKA) engine: pure decision logic, no I/O, no locks, no crypto.
//!
//! A policy rule is converted once (when the key is created) into an [`EngineRule`] whose approvers
//! are identified by a canonical string (base64 of the approver's DER SubjectPublicKeyInfo). The
//! server then asks [`evaluate`] what state a request is in, given the approvals and rejections
//! recorded so far and the emulated time. Times are milliseconds since the Unix epoch.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use tsb_models::tlv::{self, ApprovalPayload, ApprovalToBeSigned, EkaTimestamp};

/// A rule: its tokens are OR-ed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineRule {
    /// Alternatives.
    pub tokens: Vec<EngineToken>,
}

/// A token: its groups are AND-ed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineToken {
    /// Milliseconds after creation before the request may execute.
    pub timelock_ms: i64,
    /// Milliseconds after creation when the token stops accepting approvals (0 = never).
    pub timeout_ms: i64,
    /// Groups; empty means the token needs no approval.
    pub groups: Vec<EngineGroup>,
}

/// A group of approvers with a quorum.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineGroup {
    /// Approvals needed.
    pub quorum: u32,
    /// Canonical approver ids (deduplicated when counted).
    pub approvers: Vec<String>,
}

impl EngineRule {
    /// Whether any token needs at least one approval ("SKA-gated": the synchronous endpoints
    /// refuse such keys). A token with null/empty groups needs none. The rule of
    /// [`tsb_models::Rule::needs_approvals`], on the engine form (checked against it in the tests
    /// of the key handlers).
    pub fn is_gated(&self) -> bool {
        self.tokens.iter().any(|t| !t.groups.is_empty())
    }

    /// Every distinct approver of the rule, in policy order: one task is created per entry.
    pub fn approvers(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for a in self
            .tokens
            .iter()
            .flat_map(|t| t.groups.iter())
            .flat_map(|g| g.approvers.iter())
        {
            if seen.insert(a.as_str()) {
                out.push(a.clone());
            }
        }
        out
    }
}

/// What the rule says about a request right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// More approvals are needed and can still come.
    Pending,
    /// A token's quorum is met but its timelock has not passed yet.
    Approved,
    /// A token is satisfied and unlocked: execute now.
    Ready,
    /// No token can be satisfied any more, at least one because its timeout passed.
    Expired,
    /// No token can be satisfied any more because of rejections.
    Rejected,
}

/// Result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The verdict.
    pub verdict: Verdict,
    /// Approvers that could still approve (only while pending), in policy order.
    pub not_yet_approved: Vec<String>,
}

/// Per-token facts used by [`evaluate`].
struct TokenState {
    satisfied: bool,
    unlocked: bool,
    timed_out: bool,
    /// Some group cannot reach its quorum because of rejections (but could without them).
    dead_by_rejection: bool,
    /// Some group has fewer distinct approvers than its quorum: never satisfiable.
    dead_by_structure: bool,
}

fn distinct(v: &[String]) -> BTreeSet<&str> {
    v.iter().map(String::as_str).collect()
}

fn token_state(
    tok: &EngineToken,
    created_ms: i64,
    now_ms: i64,
    approvals: &BTreeMap<String, i64>,
    rejections: &BTreeSet<String>,
) -> TokenState {
    let deadline = (tok.timeout_ms > 0).then(|| created_ms.saturating_add(tok.timeout_ms));
    // An approval counts for this token only if it arrived before the token's deadline.
    let counted = |a: &str| {
        approvals
            .get(a)
            .is_some_and(|&t| deadline.iter().all(|&d| t < d))
    };
    let mut satisfied = true;
    let mut dead_by_rejection = false;
    let mut dead_by_structure = false;
    for g in &tok.groups {
        let members = distinct(&g.approvers);
        let quorum = g.quorum as usize;
        if members.iter().filter(|a| counted(a)).count() < quorum {
            satisfied = false;
        }
        if members.len() < quorum {
            dead_by_structure = true;
        } else if members.iter().filter(|a| !rejections.contains(**a)).count() < quorum {
            dead_by_rejection = true;
        }
    }
    TokenState {
        satisfied,
        unlocked: now_ms >= created_ms.saturating_add(tok.timelock_ms),
        timed_out: deadline.is_some_and(|d| now_ms >= d),
        dead_by_rejection,
        dead_by_structure,
    }
}

/// Evaluate `rule` for a request created at `created_ms`, at time `now_ms`, with `approvals`
/// (approver id -> time of the approval) and `rejections`.
///
/// - tokens are OR-ed; a token is satisfied when every group has at least `quorum` approvals
///   (given before the token's timeout) from its own approvers; no groups = satisfied;
/// - a satisfied token executes once `now >= created + timelock`, until then: `Approved`;
/// - `Rejected` when every token is impossible because of rejections (or by construction, quorum
///   larger than the group) and at least one because of rejections;
/// - `Expired` when every token is impossible and at least one because its timeout passed;
/// - a rule without tokens executes at once.
pub fn evaluate(
    rule: &EngineRule,
    created_ms: i64,
    now_ms: i64,
    approvals: &BTreeMap<String, i64>,
    rejections: &BTreeSet<String>,
) -> Evaluation {
    if rule.tokens.is_empty() {
        return Evaluation {
            verdict: Verdict::Ready,
            not_yet_approved: Vec::new(),
        };
    }
    let states: Vec<TokenState> = rule
        .tokens
        .iter()
        .map(|t| token_state(t, created_ms, now_ms, approvals, rejections))
        .collect();
    let pending = |v| Evaluation {
        verdict: v,
        not_yet_approved: Vec::new(),
    };
    if states.iter().any(|s| s.satisfied && s.unlocked) {
        return pending(Verdict::Ready);
    }
    if states.iter().any(|s| s.satisfied) {
        return pending(Verdict::Approved);
    }
    let possible = |s: &TokenState| !(s.timed_out || s.dead_by_rejection || s.dead_by_structure);
    if states.iter().any(possible) {
        let mut seen = BTreeSet::new();
        let mut not_yet = Vec::new();
        for (tok, _) in rule.tokens.iter().zip(&states).filter(|(_, s)| possible(s)) {
            for a in tok.groups.iter().flat_map(|g| g.approvers.iter()) {
                if !approvals.contains_key(a) && !rejections.contains(a) && seen.insert(a.as_str())
                {
                    not_yet.push(a.clone());
                }
            }
        }
        return Evaluation {
            verdict: Verdict::Pending,
            not_yet_approved: not_yet,
        };
    }
    let all_rejected = states
        .iter()
        .all(|s| s.dead_by_rejection || s.dead_by_structure);
    if all_rejected && states.iter().any(|s| s.dead_by_rejection) {
        return pending(Verdict::Rejected);
    }
    if states.iter().any(|s| s.timed_out) {
        return pending(Verdict::Expired);
    }
    // Only structurally impossible tokens without a timeout: nothing will ever change, but the
    // request stays visible as pending (it can be cancelled) rather than inventing a state.
    pending(Verdict::Pending)
}

/// Build the bytes of an `approvalToBeSigned` (before base64) in the HSM's layout
/// ([`tsb_models::tlv`]): EkaOperation `op`, key label, an EkaTimeStamp (payload, creation time in
/// seconds, timestamp-key label), a stand-in for the HSM's timestamp signature (`nonce`, which
/// makes every task unique), and the payload again. A payload longer than the layout can hold is
/// replaced by its SHA-256 digest.
pub(crate) fn approval_to_be_signed(
    op: u32,
    key_label: &str,
    payload: &[u8],
    created_secs: u64,
    nonce: &[u8],
) -> Vec<u8> {
    let payload = if payload.len() > tlv::MAX_PAYLOAD_LEN {
        openssl::sha::sha256(payload).to_vec()
    } else {
        payload.to_vec()
    };
    let payload = ApprovalPayload::Usage(payload);
    ApprovalToBeSigned {
        operation: Some(op),
        key_label: Some(key_label.to_owned()),
        timestamp: Some(EkaTimestamp {
            payload: Some(payload.clone()),
            seconds: Some(created_secs),
            key_label: Some("timestamp-key".into()),
        }),
        timestamp_signature: Some(nonce.to_vec()),
        payload: Some(payload),
    }
    .encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(quorum: u32, approvers: &[&str]) -> EngineGroup {
        EngineGroup {
            quorum,
            approvers: approvers.iter().map(|s| s.to_string()).collect(),
        }
    }
    fn token(timelock_s: i64, timeout_s: i64, groups: Vec<EngineGroup>) -> EngineToken {
        EngineToken {
            timelock_ms: timelock_s * 1000,
            timeout_ms: timeout_s * 1000,
            groups,
        }
    }
    fn approvals(list: &[(&str, i64)]) -> BTreeMap<String, i64> {
        list.iter().map(|(a, t)| (a.to_string(), *t)).collect()
    }
    fn rejections(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }
    fn verdict(rule: &EngineRule, now: i64, a: &[(&str, i64)], r: &[&str]) -> Verdict {
        evaluate(rule, 0, now, &approvals(a), &rejections(r)).verdict
    }

    #[test]
    fn empty_rule_and_token_without_groups_execute_at_once() {
        assert_eq!(verdict(&EngineRule::default(), 0, &[], &[]), Verdict::Ready);
        let rule = EngineRule {
            tokens: vec![token(0, 0, vec![])],
        };
        assert!(!rule.is_gated());
        assert_eq!(verdict(&rule, 0, &[], &[]), Verdict::Ready);
    }

    #[test]
    fn quorum_two_of_three() {
        let rule = EngineRule {
            tokens: vec![token(0, 0, vec![group(2, &["a", "b", "c"])])],
        };
        assert!(rule.is_gated());
        let e = evaluate(&rule, 0, 5, &approvals(&[("a", 1)]), &BTreeSet::new());
        assert_eq!(e.verdict, Verdict::Pending);
        assert_eq!(e.not_yet_approved, vec!["b", "c"]);
        assert_eq!(
            verdict(&rule, 5, &[("a", 1), ("c", 2)], &[]),
            Verdict::Ready
        );
        // One rejection leaves 2 possible approvers: still pending; two make it impossible.
        assert_eq!(verdict(&rule, 5, &[("a", 1)], &["b"]), Verdict::Pending);
        assert_eq!(
            verdict(&rule, 5, &[("a", 1)], &["b", "c"]),
            Verdict::Rejected
        );
    }

    #[test]
    fn groups_are_anded_tokens_are_ored() {
        let anded = EngineRule {
            tokens: vec![token(0, 0, vec![group(1, &["a"]), group(1, &["b"])])],
        };
        assert_eq!(verdict(&anded, 5, &[("a", 1)], &[]), Verdict::Pending);
        assert_eq!(
            verdict(&anded, 5, &[("a", 1), ("b", 1)], &[]),
            Verdict::Ready
        );
        let ored = EngineRule {
            tokens: vec![
                token(0, 0, vec![group(1, &["a"])]),
                token(0, 0, vec![group(1, &["b"])]),
            ],
        };
        assert_eq!(verdict(&ored, 5, &[("b", 1)], &[]), Verdict::Ready);
        // One token rejected, the other still possible.
        assert_eq!(verdict(&ored, 5, &[], &["a"]), Verdict::Pending);
        assert_eq!(verdict(&ored, 5, &[], &["a", "b"]), Verdict::Rejected);
    }

    #[test]
    fn timelock_gives_approved_then_ready() {
        let rule = EngineRule {
            tokens: vec![token(120, 0, vec![group(1, &["a"])])],
        };
        assert_eq!(verdict(&rule, 1000, &[("a", 500)], &[]), Verdict::Approved);
        assert_eq!(
            verdict(&rule, 119_999, &[("a", 500)], &[]),
            Verdict::Approved
        );
        assert_eq!(verdict(&rule, 120_000, &[("a", 500)], &[]), Verdict::Ready);
    }

    #[test]
    fn timeout_expires_and_late_approvals_do_not_count() {
        let rule = EngineRule {
            tokens: vec![token(0, 60, vec![group(1, &["a"])])],
        };
        assert_eq!(verdict(&rule, 59_999, &[], &[]), Verdict::Pending);
        assert_eq!(verdict(&rule, 60_000, &[], &[]), Verdict::Expired);
        assert_eq!(
            verdict(&rule, 70_000, &[("a", 61_000)], &[]),
            Verdict::Expired
        );
        // An approval in time stays valid after the timeout.
        assert_eq!(verdict(&rule, 70_000, &[("a", 1_000)], &[]), Verdict::Ready);
        // A second token without timeout keeps the request alive.
        let two = EngineRule {
            tokens: vec![
                token(0, 60, vec![group(1, &["a"])]),
                token(0, 0, vec![group(1, &["b"])]),
            ],
        };
        assert_eq!(verdict(&two, 70_000, &[], &[]), Verdict::Pending);
        // Timed out and rejected tokens: expired.
        assert_eq!(verdict(&two, 70_000, &[], &["b"]), Verdict::Expired);
    }

    #[test]
    fn structurally_impossible_rule_stays_pending_without_rejection() {
        let rule = EngineRule {
            tokens: vec![token(0, 0, vec![group(2, &["a"])])],
        };
        assert_eq!(verdict(&rule, 5, &[], &[]), Verdict::Pending);
        assert_eq!(verdict(&rule, 5, &[("a", 1)], &[]), Verdict::Pending);
    }

    #[test]
    fn approvers_are_distinct_in_policy_order() {
        let rule = EngineRule {
            tokens: vec![
                token(0, 0, vec![group(1, &["b", "a"])]),
                token(0, 0, vec![group(1, &["a", "c"])]),
            ],
        };
        assert_eq!(rule.approvers(), vec!["b", "a", "c"]);
    }

    #[test]
    fn approval_bytes_are_unique_and_decode() {
        let a = approval_to_be_signed(
            tlv::operation::USE,
            "key",
            b"payload",
            1_700_000_000,
            b"n-1",
        );
        let b = approval_to_be_signed(
            tlv::operation::USE,
            "key",
            b"payload",
            1_700_000_000,
            b"n-2",
        );
        assert_ne!(a, b);
        let d = ApprovalToBeSigned::decode(&a).unwrap();
        assert_eq!(d.operation, Some(tlv::operation::USE));
        assert_eq!(d.key_label.as_deref(), Some("key"));
        assert_eq!(d.payload, Some(ApprovalPayload::Usage(b"payload".to_vec())));
        assert_eq!(d.timestamp.and_then(|t| t.seconds), Some(1_700_000_000));
        // A huge payload is digested, never truncated into an invalid layout.
        let big = approval_to_be_signed(tlv::operation::USE, "key", &vec![7u8; 200_000], 0, b"n");
        assert!(big.len() < 1000);
        let d = ApprovalToBeSigned::decode(&big).unwrap();
        assert_eq!(d.payload.map(|p| p.bytes().len()), Some(32));
    }
}
