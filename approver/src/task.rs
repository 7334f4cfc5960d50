//! Tasks as the approver sees them: what a task is about (from its parsed request and from the
//! bytes it signs), and filters over them.

use crate::key::decode_b64;
use crate::Task;
use serde_json::Value;
use tsb_models::tlv::{self, ApprovalToBeSigned};
use tsb_models::RequestType;

/// The operations that a task can be about, as returned by [`Task::operation_and_key`].
pub const OPERATIONS: [&str; 9] = RequestType::OPERATIONS;

/// Canonical spelling of an operation name given in any case (`sign` -> `Sign`), or `None` if it
/// is not one of [`OPERATIONS`].
pub fn canonical_operation(name: &str) -> Option<&'static str> {
    RequestType::from_operation(name).map(RequestType::operation)
}

/// Which tasks to look at. All set fields must match. Applied on the client with
/// [`Task::operation_and_key`] (so the tasks are fetched with `detailLevel` `level3`); `request_id`
/// is also sent to the server as the `requestId` filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Key label; an exact match, or else a case-insensitive one (the TSB itself looks labels up
    /// case-insensitively, see the seed).
    pub key_label: Option<String>,
    /// Operation, case-insensitive: one of [`OPERATIONS`].
    pub operation: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
}

impl TaskFilter {
    /// Whether a pending task passes this filter. A task whose operation or key cannot be
    /// determined fails a label or operation filter: approving blind is never what a filter means.
    pub fn matches(&self, task: &PendingTask) -> bool {
        let same_label = |a: &str, b: &str| a == b || a.to_lowercase() == b.to_lowercase();
        if let Some(want) = &self.key_label {
            match &task.key_label {
                Some(l) if same_label(l, want) => {}
                _ => return false,
            }
            // What the approver actually signs names the key too; the server's JSON view must
            // not be able to steer an approval to another key.
            if let Some(signed) = &task.signed_key_label {
                if !same_label(signed, want) {
                    return false;
                }
            }
        }
        if let Some(want) = &self.operation {
            match task.operation {
                Some(op) if op.eq_ignore_ascii_case(want) => {}
                _ => return false,
            }
            if let Some(code) = task.signed_operation_code {
                if !operation_fits_code(want, code) {
                    return false;
                }
            }
        }
        if let (Some(want), Some(have)) = (&self.request_id, &task.request_id) {
            // When the task carries no request id the server-side filter is relied upon.
            if want != have {
                return false;
            }
        }
        true
    }
}

/// Whether an operation name fits the EkaOperation code signed in `approvalToBeSigned`. Only the
/// documented codes are relied on (1 a use of the key, 4 a modification): an operation with a
/// documented code needs exactly that code; an unwrap, which uses the unwrap key under its use
/// rule (no source gives its code), needs the use code too, so a filter for unwraps never
/// approves a modification or a block; any other operation (block, unblock, whose codes are only
/// inferred) needs a code that is neither.
fn operation_fits_code(operation: &str, code: u32) -> bool {
    match RequestType::from_operation(operation) {
        Some(t) if t.eka_operation_documented() || t == RequestType::Unwrap => {
            code == t.eka_operation()
        }
        _ => !matches!(code, tlv::operation::USE | tlv::operation::MODIFY),
    }
}

/// The EkaOperation code and key label inside an `approvalToBeSigned` ([`tsb_models::tlv`]);
/// `None` fields when the bytes do not follow the layout.
fn parse_approval_tlv(bytes: &[u8]) -> (Option<u32>, Option<String>) {
    match ApprovalToBeSigned::decode(bytes) {
        Ok(a) => (a.operation, a.key_label),
        Err(_) => (None, None),
    }
}

/// A task together with what could be read from it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingTask {
    /// The task as received.
    pub task: Task,
    /// The request id, when the task JSON carries one (`requestId`; not part of the documented
    /// TSB task, but emitted by some servers).
    pub request_id: Option<String>,
    /// Operation (`Sign`, `Decrypt`, ...), from the level-3 parsed request.
    pub operation: Option<&'static str>,
    /// Key label, from the level-3 parsed request.
    pub key_label: Option<String>,
    /// Key label inside `approvalToBeSigned` (the bytes the approver signs), when they follow the
    /// documented TLV layout. A label filter must match this too.
    pub signed_key_label: Option<String>,
    /// EkaOperation code inside `approvalToBeSigned` (1 use, 4 modify), when parseable.
    pub signed_operation_code: Option<u32>,
}

impl PendingTask {
    pub(crate) fn from_json(v: Value) -> Result<PendingTask, String> {
        let request_id = v
            .get("requestId")
            .or_else(|| v.get(RequestType::Sign.request_id_field()))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let task: Task = serde_json::from_value(v).map_err(|e| e.to_string())?;
        let (operation, key_label) = match task.operation_and_key() {
            Some((op, k)) => (Some(op), Some(k)),
            None => (None, None),
        };
        let (signed_operation_code, signed_key_label) = decode_b64(&task.approval_to_be_signed)
            .map(|b| parse_approval_tlv(&b))
            .unwrap_or((None, None));
        Ok(PendingTask {
            task,
            request_id,
            operation,
            key_label,
            signed_key_label,
            signed_operation_code,
        })
    }

    /// The metadata as text: base64-decoded when it decodes to UTF-8, else as received.
    pub fn metadata_text(&self) -> Option<String> {
        let m = self.task.meta_data.as_deref()?;
        if m.is_empty() {
            return None;
        }
        Some(
            decode_b64(m)
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_else(|| m.to_owned()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyKind;
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine as _;

    fn pending(op: &str, label: &str, rid: Option<&str>) -> PendingTask {
        let inner = match op {
            "Sign" => {
                serde_json::json!({"signedSignRequest": {"signRequest": {"signKeyName": label}}})
            }
            _ => {
                serde_json::json!({"signedDecryptRequest": {"decryptRequest": {"decryptKeyName": label}}})
            }
        };
        let mut v = serde_json::json!({"id": "t", "approvalToBeSigned": "AAAA",
            "metaData": B64.encode("build #42")});
        for (k, val) in inner.as_object().unwrap() {
            v[k] = val.clone();
        }
        if let Some(r) = rid {
            v["requestId"] = r.into();
        }
        PendingTask::from_json(v).unwrap()
    }

    #[test]
    fn filter_matching() {
        let t = pending("Sign", "Code-Key", Some("r1"));
        assert_eq!(t.operation, Some("Sign"));
        assert_eq!(t.key_label.as_deref(), Some("Code-Key"));
        assert_eq!(t.metadata_text().as_deref(), Some("build #42"));
        let f = |l: Option<&str>, o: Option<&str>, r: Option<&str>| TaskFilter {
            key_label: l.map(Into::into),
            operation: o.map(Into::into),
            request_id: r.map(Into::into),
        };
        assert!(f(None, None, None).matches(&t));
        assert!(f(Some("code-key"), Some("sign"), Some("r1")).matches(&t));
        assert!(!f(Some("other"), None, None).matches(&t));
        assert!(!f(None, Some("Decrypt"), None).matches(&t));
        assert!(!f(None, None, Some("r2")).matches(&t));
        let blind =
            PendingTask::from_json(serde_json::json!({"id":"t","approvalToBeSigned":"AA=="}))
                .unwrap();
        assert!(f(None, None, None).matches(&blind));
        assert!(!f(Some("code-key"), None, None).matches(&blind));
        assert!(!f(None, Some("sign"), None).matches(&blind));
        assert!(pending("Decrypt", "k", None).operation == Some("Decrypt"));
    }

    /// approvalToBeSigned in the documented layout (what the HSM and the emulator produce).
    fn tlv(op: u32, label: &str) -> String {
        let bytes = ApprovalToBeSigned {
            operation: Some(op),
            key_label: Some(label.into()),
            payload: Some(tlv::ApprovalPayload::Usage(b"payload".to_vec())),
            ..ApprovalToBeSigned::default()
        }
        .encode();
        B64.encode(bytes)
    }

    #[test]
    fn signed_bytes_must_agree_with_filter() {
        let mut t = pending("Sign", "Code-Key", None);
        t.task.approval_to_be_signed = tlv(1, "code-key");
        let t = PendingTask::from_json(serde_json::to_value(&t.task).unwrap()).unwrap();
        assert_eq!(t.signed_key_label.as_deref(), Some("code-key"));
        assert_eq!(t.signed_operation_code, Some(1));
        let by_label = TaskFilter {
            key_label: Some("Code-Key".into()),
            operation: Some("sign".into()),
            ..TaskFilter::default()
        };
        assert!(by_label.matches(&t));

        // The JSON says Code-Key, the signed bytes another key: a label filter refuses it.
        let mut evil = t.clone();
        evil.task.approval_to_be_signed = tlv(1, "prod-root-ca");
        let evil = PendingTask::from_json(serde_json::to_value(&evil.task).unwrap()).unwrap();
        assert!(!by_label.matches(&evil));
        // ...and a modify disguised as a sign does not pass an operation filter.
        let mut modify = t.clone();
        modify.task.approval_to_be_signed = tlv(4, "Code-Key");
        let modify = PendingTask::from_json(serde_json::to_value(&modify.task).unwrap()).unwrap();
        assert!(!by_label.matches(&modify));

        // Bytes in an unknown layout are not held against the task.
        assert_eq!(
            parse_approval_tlv(b"\x10\x00\x00\x00\x02\x10\xff\x00"),
            (None, None)
        );
        assert_eq!(parse_approval_tlv(b""), (None, None));
        assert!(operation_fits_code("UnBlock", 3) && !operation_fits_code("Block", 1));
        // An unwrap is a use of the unwrap key: only the use code fits it.
        assert!(operation_fits_code("UnWrap", tlv::operation::USE));
        assert!(!operation_fits_code("unwrap", tlv::operation::MODIFY));
        assert!(!operation_fits_code("UnWrap", tlv::operation::BLOCK));
        assert_eq!(canonical_operation("unwrap"), Some("UnWrap"));
    }

    #[test]
    fn operations_canonicalise() {
        assert_eq!(canonical_operation("unblock"), Some("UnBlock"));
        assert_eq!(canonical_operation("SIGN"), Some("Sign"));
        assert_eq!(
            canonical_operation("certificatesigningrequest"),
            Some("CertificateSigningRequest")
        );
        assert_eq!(canonical_operation("nope"), None);
        assert_eq!(KeyKind::parse("EC"), Some(KeyKind::EcP256));
        assert_eq!(KeyKind::parse("dsa"), None);
    }
}
