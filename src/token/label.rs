//! Which key labels C_GenerateKeyPair sends to the TSB.
//!
//! No Securosys source states the TSB's rule: `CreateKeyDto.label` is only `@NotEmpty`
//! (securosys-com/vault-code-executable-examples `dto/tsb/request/CreateKeyDto.java`), and the TSB
//! answers names it refuses with errorCode 610 `res.error.invalid.key.name` (`BusinessReason`)
//! without saying which. What the sources do show is where labels travel, and this rule keeps a
//! label safe on every one of those paths (a choice of this module, not a documented TSB limit):
//!
//! - printable ASCII only (0x20..=0x7E): the label is also the HSM object's name, and no source
//!   says how non-ASCII names are stored or compared (the TSB matches labels case-insensitively);
//! - none of `/` (labels with `/` are key derivation paths on the TSB, and break
//!   `GET /v1/certificate/{label}`), `%`, `?`, `#` (they change what a URL path means), `\` and
//!   `"` (Securosys' own Go client writes labels into JSON without escaping:
//!   securosys-com/tsb-client-go `key.go`);
//! - no space at either end (servers and tools trim them, so the key would be found under another
//!   name);
//! - at most [`MAX_LABEL_LEN`] bytes, prefix included.
//!
//! Keys that already exist on the TSB under other labels are still found, shown and destroyed:
//! the rule only decides what the module creates.

use crate::error::{Error, Result};
use cryptoki_sys::CKR_ATTRIBUTE_VALUE_INVALID;

/// Longest label (with the slot's prefix) the module creates. No source gives the TSB's limit;
/// 128 bytes leaves room for descriptive names and stays short in URL paths and logs.
pub(crate) const MAX_LABEL_LEN: usize = 128;

/// Characters never allowed in a created label (see the module docs for why).
const FORBIDDEN: &[char] = &['/', '\\', '%', '?', '#', '"'];

/// Check the full TSB label (prefix + CKA_LABEL) of a key about to be created.
pub(crate) fn validate(tsb_label: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::ck(
            CKR_ATTRIBUTE_VALUE_INVALID,
            format!(
                "CKA_LABEL {:?} is not accepted: {why}",
                crate::util::short(tsb_label)
            ),
        )
    };
    if tsb_label.trim().is_empty() {
        return Err(bad("it is empty"));
    }
    if tsb_label.len() > MAX_LABEL_LEN {
        return Err(bad(&format!(
            "it is longer than {MAX_LABEL_LEN} bytes (prefix included)"
        )));
    }
    if let Some(c) = tsb_label.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(bad(&format!(
            "{c:?} is not printable ASCII (letters, digits, space and punctuation)"
        )));
    }
    if let Some(c) = tsb_label.chars().find(|c| FORBIDDEN.contains(c)) {
        return Err(bad(&format!(
            "{c:?} is not allowed (nor any of / \\ % ? # \")"
        )));
    }
    if tsb_label.starts_with(' ') || tsb_label.ends_with(' ') {
        return Err(bad("it starts or ends with a space"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_rule() {
        for ok in [
            "SUB.approver.securosys.com",
            "Release key 2026 (CI)",
            "a.b-c_d:e@f+g=h,i;j'k*l!m~n[o]p{q}r^s$t&u|v`w<x>y",
            &"y".repeat(128),
        ] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "   ",
            "a/b",
            "50%",
            "x?y",
            "x#y",
            "back\\slash",
            "quo\"te",
            "tab\there",
            "new\nline",
            "nul\0",
            " leading",
            "trailing ",
            "Schl\u{fc}ssel",
            &"y".repeat(129),
        ] {
            let e = validate(bad).unwrap_err();
            assert_eq!(e.rv(), CKR_ATTRIBUTE_VALUE_INVALID, "{bad:?}");
        }
    }
}
