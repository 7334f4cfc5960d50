//! The TSB's version as the module will know it (the slot's `tsb_version`, or
//! `GET /v1/versionInfo`, which the module asks only with a `serviceToken` key when it uses API
//! keys: `tsb::version`), and what the module does differently because of it. The choices are
//! the module's own functions asked with that version, not a description of them.

use super::report::{Report, Verdict};
use crate::config::{FullData, SlotConfig};
use crate::error::Error;
use crate::mechanism::{full_data, Hash, SignScheme};
use tsb_models::algorithms::{self, name};
use tsb_models::{Role, TsbVersion};

/// Report the version of `slot`'s TSB; `read` is what `GET /v1/versionInfo` answered (None: not
/// asked).
pub(super) fn check(r: &mut Report, slot: &SlotConfig, read: Option<&Result<TsbVersion, Error>>) {
    let module_asks = slot.api_keys.is_empty() || slot.api_keys.contains_key(Role::Service.name());
    let answered = read.and_then(|v| v.as_ref().ok()).copied();
    let used = match (slot.tsb_version, answered) {
        (Some(c), Some(a)) if c != a => {
            r.check(
                Verdict::Warn,
                &format!(
                    "TSB version: the slot's tsb_version is {c}, but the TSB says {a}; the module \
                     uses {c}"
                ),
                Some(&format!(
                    "set `tsb_version` to \"{a}\" (or remove it{})",
                    if module_asks {
                        ", and the module reads it from the TSB"
                    } else {
                        ""
                    }
                )),
            );
            Some(c)
        }
        (Some(c), a) => {
            let said = match a {
                Some(_) => " (the TSB says the same)".to_string(),
                None => String::new(),
            };
            r.check(
                Verdict::Ok,
                &format!("TSB version: {c}, the slot's tsb_version{said}"),
                None,
            );
            Some(c)
        }
        (None, Some(a)) if module_asks => {
            r.check(
                Verdict::Ok,
                &format!("TSB version: {a} (GET /v1/versionInfo, which the module asks too)"),
                None,
            );
            Some(a)
        }
        (None, None) if module_asks && read.is_none_or(|v| v.as_ref().is_err_and(refused)) => {
            // Not asked (out of time), or refused with the rest: said above.
            r.check(
                Verdict::Skip,
                "TSB version: not read (the credentials were refused, or time ran out: see above)",
                None,
            );
            None
        }
        (None, a) => {
            let why = if !module_asks {
                "the module does not ask it: GET /v1/versionInfo needs a serviceToken API key, \
                 and the slot has none"
                    .to_string()
            } else {
                match read {
                    Some(Err(e)) => e.to_string(),
                    _ => "not asked".to_string(),
                }
            };
            let told = a
                .map(|a| format!(" (without a key, the TSB says {a})"))
                .unwrap_or_default();
            r.check(
                Verdict::Warn,
                &format!(
                    "TSB version: unknown to the module ({why}){told}: it uses what works on \
                     every version"
                ),
                Some(&match a {
                    Some(a) => format!("set `tsb_version`: \"{a}\" in the slot's config"),
                    None => "set `tsb_version` (e.g. \"2.2.0\") in the slot's config, or \
                             `api_keys.serviceToken`"
                        .to_string(),
                }),
            );
            None
        }
    };
    if let Some(v) = used {
        if !v.has_api_keys() && !slot.api_keys.is_empty() {
            r.check(
                Verdict::Warn,
                &format!("api_keys: TSB {v} has no API keys (they came with 2.0.0)"),
                Some("remove `api_keys`, or correct `tsb_version`"),
            );
        } else if !v.has_api_key_rollover() && slot.api_keys.values().any(|k| k.len() > 1) {
            r.check(
                Verdict::Warn,
                &format!("api_keys: TSB {v} has one key per role (rollover came with 2.0.1)"),
                Some("give one key per role, or correct `tsb_version`"),
            );
        }
    }
    for line in behaviours(used, slot.sign_full_data) {
        r.detail(&line);
    }
}

/// Whether the TSB refused the credentials (which the credential lines report).
fn refused(e: &Error) -> bool {
    e.credentials_refused()
}

/// What the module does that depends on the version, at version `v` (None: unknown).
pub(super) fn behaviours(v: Option<TsbVersion>, mode: FullData) -> Vec<String> {
    let sends = |scheme: SignScheme, gated: bool| match full_data(scheme, gated, mode, || v) {
        Ok(true) => "the data",
        Ok(false) => "a digest made here",
        Err(_) => "nothing: refused",
    };
    let sha256 = Some(Hash::Sha256);
    let certificate_algorithms: Vec<&str> = match v {
        Some(v) => algorithms::CERTIFICATE_SIGNATURE_ALGORITHMS
            .iter()
            .copied()
            .filter(|a| algorithms::certificate_signature_algorithm_in(a, v).is_some())
            .collect(),
        None => algorithms::CERTIFICATE_SIGNATURE_ALGORITHMS.to_vec(),
    };
    let eddsa_certificates = certificate_algorithms.contains(&name::EDDSA);
    vec![
        format!(
            "the module, for this version{}:",
            if v.is_none() { " (unknown)" } else { "" }
        ),
        format!(
            "- signing on an approval-gated key (what its approvers see): CKM_SHA256_RSA_PKCS sends \
             {}, CKM_ECDSA_SHA256 {}; CKM_SHA256_RSA_PKCS_PSS sends {} (sign_full_data {})",
            sends(SignScheme::RsaPkcs1 { hash: sha256 }, true),
            sends(SignScheme::Ecdsa { hash: sha256 }, true),
            sends(
                SignScheme::RsaPss {
                    hash: Hash::Sha256,
                    prehashed: false
                },
                true
            ),
            match mode {
                FullData::Auto => "\"auto\"",
                FullData::Always => "true",
                FullData::Never => "false",
            }
        ),
        format!(
            "- PKCS#1 v1.5 decryption is sent as {}",
            if v.is_some_and(TsbVersion::has_rsa_padding_pkcs) {
                "RSA_PADDING_PKCS"
            } else {
                "RSA"
            }
        ),
        match v {
            Some(_) if eddsa_certificates => "- CSRs and certificates with RSA, ECDSA and EDDSA \
                 (the newer certificate DTOs), synchronously"
                .to_string(),
            Some(_) => "- CSRs and certificates with RSA and ECDSA; an Ed25519 key's CSR goes \
                 through the asynchronous endpoint, its certificates are refused here"
                .to_string(),
            None => "- certificates with every algorithm asked (a refusal comes from the TSB); \
                 an Ed25519 key's CSR goes through the asynchronous endpoint"
                .to_string(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines come from the module's own choices: the data on approval-gated RSA keys before
    /// 2.1.1 (and when the version is unknown), a digest from then on; the PKCS#1 v1.5 cipher
    /// name from 2.2.0; EDDSA certificates only with the newer DTOs.
    #[test]
    fn behaviours_follow_the_version() {
        let at = |v| behaviours(v, FullData::Auto).join("\n");
        let old = at(Some(TsbVersion::V2_1_0));
        assert!(old.contains("CKM_SHA256_RSA_PKCS sends the data"), "{old}");
        assert!(old.contains("decryption is sent as RSA\n"), "{old}");
        let new = at(Some(TsbVersion::V2_2_0));
        assert!(
            new.contains("CKM_SHA256_RSA_PKCS sends a digest made here"),
            "{new}"
        );
        assert!(new.contains("sent as RSA_PADDING_PKCS"), "{new}");
        assert!(new.contains("with RSA and ECDSA;"), "{new}");
        assert!(at(Some(TsbVersion::V2_3_0)).contains("RSA, ECDSA and EDDSA"));
        assert!(at(None).contains("CKM_SHA256_RSA_PKCS sends the data"));
        let always = behaviours(Some(TsbVersion::V2_2_0), FullData::Always).join("\n");
        assert!(always.contains("CKM_ECDSA_SHA256 the data"), "{always}");
    }
}
