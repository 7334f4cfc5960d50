//! The keys the module shows: the key list (filtered by the slot's `label_prefix`, as the
//! module's cache filters it), and for the first ones their type, size or curve, what they may
//! do, and whether their use waits for approvers, with a one-line summary of the policy. Each key
//! is read as the module reads it (`tsb::api::key_attributes` with the slot's key passwords,
//! `tsb::key::KeyInfo::from_tsb`).

use super::report::{Report, Verdict};
use super::x509::printable;
use super::Budget;
use crate::config::SlotConfig;
use crate::error::Error;
use crate::tsb::api;
use crate::tsb::client::Client;
use crate::tsb::key::{Curve, KeyInfo, PublicKey};
use tsb_models::{codes, Policy};

/// Report the keys of `labels` (the TSB's whole list), the first `max` of them in detail.
pub(super) fn check(
    r: &mut Report,
    slot: &SlotConfig,
    client: &Client,
    labels: &[String],
    max: usize,
    budget: &Budget,
) {
    let prefix = &slot.label_prefix;
    let shown: Vec<&String> = labels.iter().filter(|l| l.starts_with(prefix)).collect();
    let filter = if prefix.is_empty() {
        String::new()
    } else {
        format!(" with the label_prefix \"{}\"", printable(prefix))
    };
    if shown.is_empty() && !labels.is_empty() {
        r.check(
            Verdict::Warn,
            &format!(
                "keys: the TSB lists {} keys, none{filter}: the module shows none",
                labels.len()
            ),
            Some("check `label_prefix` in the slot's config"),
        );
        return;
    }
    let of_them = if prefix.is_empty() {
        String::new()
    } else {
        format!(", {} of them{filter}", shown.len())
    };
    r.check(
        Verdict::Ok,
        &format!(
            "keys: the TSB lists {} key{}{of_them}{}",
            labels.len(),
            if labels.len() == 1 { "" } else { "s" },
            if shown.is_empty() {
                " (none yet: C_GenerateKeyPair creates them)"
            } else {
                ""
            }
        ),
        None,
    );
    for (n, label) in shown.iter().enumerate() {
        if n == max {
            r.detail(&format!(
                "and {} more (--keys {} lists them all)",
                shown.len() - max,
                shown.len()
            ));
            break;
        }
        if budget.out_of_time() {
            r.check(
                Verdict::Skip,
                &format!("keys: {} more not read: out of time", shown.len() - n),
                None,
            );
            break;
        }
        key_line(r, client, label, prefix);
    }
}

/// One key's line.
fn key_line(r: &mut Report, client: &Client, tsb_label: &str, prefix: &str) {
    let at = format!(
        "key \"{}\"",
        printable(tsb_label.strip_prefix(prefix).unwrap_or(tsb_label))
    );
    let attrs = match api::key_attributes(client, tsb_label) {
        Ok(Some(a)) => a,
        Ok(None) => {
            r.check(
                Verdict::Skip,
                &format!("{at}: gone since the list was read"),
                None,
            );
            return;
        }
        Err(e) => {
            let password = matches!(
                e,
                Error::Tsb {
                    code: Some(codes::KEY_PASSWORD_MISMATCH),
                    ..
                }
            );
            // A key that cannot be read is skipped by the module (one bad key never fails a
            // listing); one whose password is missing or wrong cannot be used at all.
            r.check(
                if password {
                    Verdict::Fail
                } else {
                    Verdict::Warn
                },
                &format!("{at}: cannot be read, the module skips it: {e}"),
                e.remedy().as_deref(),
            );
            return;
        }
    };
    let key = match KeyInfo::from_tsb(&attrs, prefix) {
        Ok(k) => k,
        Err(e) => {
            let algorithm = attrs.algorithm.as_deref().unwrap_or("an unknown algorithm");
            let offered = tsb_models::KeyAlgorithm::ALL
                .iter()
                .any(|o| o.name().eq_ignore_ascii_case(algorithm));
            if offered {
                r.check(
                    Verdict::Warn,
                    &format!("{at}: the module skips it: {e}"),
                    Some("see the TSB's attributes of this key; recreate it if it is broken"),
                );
            } else {
                let size = attrs.key_size.map(|s| format!(" {s}")).unwrap_or_default();
                r.check(
                    Verdict::Skip,
                    &format!(
                        "{at}: {}{size}, a type the module does not show",
                        printable(algorithm)
                    ),
                    None,
                );
            }
            return;
        }
    };
    let mut can = Vec::new();
    for (yes, what) in [
        (key.sign, "sign"),
        (key.decrypt, "decrypt"),
        (key.unwrap, "unwrap"),
    ] {
        if yes {
            can.push(what);
        }
    }
    let can = if can.is_empty() {
        "no use the module offers".to_string()
    } else {
        can.join(", ")
    };
    let line = format!(
        "{at}: {}, {can}; {}",
        key_type(&key.public),
        policy_summary(&key)
    );
    if key.blocked {
        r.check(
            Verdict::Warn,
            &format!("{line}; blocked: every use is refused"),
            Some("unblock it on the TSB (POST /v1/unblock, approved by its ruleUnblock)"),
        );
    } else {
        r.check(Verdict::Ok, &line, None);
    }
}

/// `RSA 2048`, `EC P-256`, `Ed25519`, `ML-DSA-65`, `AES 256`.
fn key_type(p: &PublicKey) -> String {
    match p {
        PublicKey::Rsa { bits, .. } => format!("RSA {bits}"),
        PublicKey::Ec { curve, .. } => format!(
            "EC {}",
            match curve {
                Curve::P256 => "P-256",
                Curve::P384 => "P-384",
                Curve::P521 => "P-521",
                Curve::Secp256k1 => "secp256k1",
            }
        ),
        PublicKey::Ed25519 { .. } => "Ed25519".into(),
        PublicKey::Pqc { set, .. } => set.name().into(),
        PublicKey::Secret(k) => format!("{} {}", k.algorithm.name(), k.bits),
    }
}

/// Seconds as the doctor shows a policy's times.
fn duration(secs: u64) -> String {
    match secs {
        0 => "none".into(),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Whether using the key waits for approvers, and its ruleUse in one line: each token (any one
/// suffices) with its groups (all of them) and their quorum of approvers, timelock and timeout.
fn policy_summary(key: &KeyInfo) -> String {
    if !key.approval_required {
        return "no approvals".into();
    }
    let tokens = key
        .policy
        .as_ref()
        .and_then(|p: &Policy| p.rule_use.as_ref())
        .map(|r| r.tokens.as_slice())
        .unwrap_or_default();
    let mut parts = Vec::new();
    for t in tokens.iter().take(3) {
        let groups: Vec<String> = t
            .groups
            .iter()
            .flatten()
            .map(|g| {
                format!(
                    "group \"{}\" {} of {}",
                    printable(&g.name),
                    g.quorum,
                    g.approvals.len()
                )
            })
            .collect();
        parts.push(format!(
            "token \"{}\": {}, timelock {}, timeout {}",
            printable(&t.name),
            if groups.is_empty() {
                "no approvers".to_string()
            } else {
                groups.join(" and ")
            },
            duration(t.timelock),
            duration(t.timeout)
        ));
    }
    if tokens.len() > 3 {
        parts.push(format!("{} more tokens", tokens.len() - 3));
    }
    format!(
        "needs {} approval{} ({})",
        key.approvals_needed.unwrap_or(0),
        if key.approvals_needed == Some(1) {
            ""
        } else {
            "s"
        },
        parts.join(" or ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(0), "none");
        assert_eq!(duration(600), "10 min");
        assert_eq!(duration(7200), "2 h");
        assert_eq!(duration(90), "90 s");
    }
}
