//! The approver keys of a policy, checked before the policy is sent: a `public_key` approver's
//! `value` must be a base64 DER SubjectPublicKeyInfo of an RSA, EC or Ed25519 key, and a
//! `certificate` approver's a base64 DER X.509 certificate (S3 `dto/tsb/PolicyDto.java` and the
//! approval DTOs; S2 `tsb/Concepts/SmartKeyAttributes`). Otherwise the TSB refuses the key
//! creation with an error that does not say which approver is wrong, and the person who wrote
//! the policy learns nothing; here the message names the approver.

use crate::der;
use base64::Engine;
use tsb_models::policy::approval_type;
use tsb_models::{KeyAlgorithm, Policy};

/// `Err(where and what)` for the first approver whose key or certificate is unusable.
pub(crate) fn check_approver_keys(policy: &Policy) -> Result<(), String> {
    for (rule_name, rule) in policy.rules() {
        let Some(rule) = rule else { continue };
        for (t, token) in rule.tokens.iter().enumerate() {
            for (g, group) in token.groups.iter().flatten().enumerate() {
                for (a, approval) in group.approvals.iter().enumerate() {
                    let at = || {
                        let who = approval
                            .name
                            .as_deref()
                            .map(|n| format!(" ({n:?})"))
                            .unwrap_or_default();
                        format!("{rule_name}.tokens[{t}].groups[{g}].approvals[{a}]{who}")
                    };
                    let value = approval.value.as_deref().unwrap_or_default();
                    match approval.kind.as_str() {
                        approval_type::PUBLIC_KEY => {
                            check_spki(value).map_err(|m| {
                                format!(
                                    "{}: the approver key is not valid base64 SPKI ({m}); give \
                                     the approver's public key as base64 DER SubjectPublicKeyInfo \
                                     (what `tsb-approve pubkey` prints)",
                                    at()
                                )
                            })?;
                        }
                        approval_type::CERTIFICATE => {
                            let der_bytes = decode(value).map_err(|m| {
                                format!("{}: the approver certificate is not base64 ({m})", at())
                            })?;
                            if der::parse_certificate(&der_bytes).is_none() {
                                return Err(format!(
                                    "{}: the approver certificate is not a DER X.509 certificate",
                                    at()
                                ));
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(())
}

fn decode(value: &str) -> Result<Vec<u8>, String> {
    if value.is_empty() {
        return Err("empty".into());
    }
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| e.to_string())
}

/// A DER `SEQUENCE { SEQUENCE { OID, params }, BIT STRING }` with a key algorithm the TSB takes
/// for approvers.
fn check_spki(value: &str) -> Result<(), String> {
    let spki = decode(value)?;
    let not_spki = || "not a DER SubjectPublicKeyInfo".to_string();
    let (seq, rest) = der::read_tlv(&spki).ok_or_else(not_spki)?;
    if seq.tag != 0x30 || !rest.is_empty() {
        return Err(not_spki());
    }
    let (alg, rest) = der::read_tlv(seq.value).ok_or_else(not_spki)?;
    let (bits, _) = der::read_tlv(rest).ok_or_else(not_spki)?;
    let (oid, _) = der::read_tlv(alg.value).ok_or_else(not_spki)?;
    if alg.tag != 0x30 || bits.tag != 0x03 || oid.tag != 0x06 {
        return Err(not_spki());
    }
    let oid = der::oid_to_string(oid.value).ok_or_else(not_spki)?;
    KeyAlgorithm::from_oid(&oid)
        .map(|_| ())
        .ok_or_else(|| format!("key algorithm {oid} is not RSA, EC or Ed25519"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_with(kind: &str, value: &str) -> Policy {
        serde_json::from_value(serde_json::json!({
            "ruleUse": {"tokens": [{"name": "t", "timelock": 0, "timeout": 0, "groups": [
                {"name": "g", "quorum": 1, "approvals": [
                    {"type": kind, "name": "alice", "value": value}]}]}]}
        }))
        .unwrap()
    }

    #[test]
    fn approver_keys_must_be_spki() {
        // A P-256 SPKI.
        let good =
            "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE5DTLzrqFsNag3eI4+CgdSqoFA4kQ9CtbsQri9pBN71ED\
                    F/OXVfmmSYvtfdrG2FtaAMKm6G121ZVExpOwahsXqg==";
        assert!(check_approver_keys(&policy_with("public_key", good)).is_ok());
        for bad in ["not base64!", "AAAA", ""] {
            let e = check_approver_keys(&policy_with("public_key", bad)).unwrap_err();
            assert!(
                e.contains("ruleUse.tokens[0].groups[0].approvals[0] (\"alice\")")
                    && e.contains("not valid base64 SPKI"),
                "{e}"
            );
        }
        let e = check_approver_keys(&policy_with("certificate", good)).unwrap_err();
        assert!(e.contains("not a DER X.509 certificate"), "{e}");
    }
}
