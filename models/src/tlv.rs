//! The binary layout of a task's `approvalToBeSigned` (the bytes an approver signs, after base64
//! decoding): one encoder (the emulator builds tasks with it) and one decoder (the approver checks
//! what it signs with it).
//!
//! Source: S3 `dto/tsb/response/GetTasksResponseDto.java` (the
//! swagger text of `approvalToBeSigned`) and the decoded samples of S2
//! `tsb/Tutorials/Blockchain/slip10.md`; confirmed by the fidelity audit. Little-endian: a `u32`
//! length of what follows, then items `u16 type, u16 length, value`, each padded with zeros to a
//! multiple of 4 bytes:
//!
//! - [`tag::EKA_OPERATION`]: `u32`, what the request does ([`operation`]);
//! - [`tag::KEY_LABEL`]: the key label, UTF-8;
//! - [`tag::EKA_TIMESTAMP`]: nested, again `u32 length` + items: the payload, [`tag::TIME_SECONDS`]
//!   (`u64` seconds since the epoch, the request's creation) and the label of the HSM's timestamp
//!   key;
//! - [`tag::TIMESTAMP_SIGNATURE`]: the HSM timestamp key's signature over the EkaTimeStamp;
//! - the payload again: [`tag::USAGE_PAYLOAD`] for a use of the key, [`tag::MODIFY_PAYLOAD`] for a
//!   policy modification.

/// Item types.
pub mod tag {
    /// EkaOperation, a `u32`.
    pub const EKA_OPERATION: u16 = 0x003B;
    /// A key label (the key's, or inside the EkaTimeStamp the timestamp key's).
    pub const KEY_LABEL: u16 = 0x1002;
    /// The nested EkaTimeStamp.
    pub const EKA_TIMESTAMP: u16 = 0x1054;
    /// The HSM's signature over the EkaTimeStamp (DER).
    pub const TIMESTAMP_SIGNATURE: u16 = 0x1056;
    /// The payload of a use of the key (sign, decrypt, certificates).
    pub const USAGE_PAYLOAD: u16 = 0x1057;
    /// The payload of a modification (the encoded new policy).
    pub const MODIFY_PAYLOAD: u16 = 0x1058;
    /// Seconds since the Unix epoch, a `u64`.
    pub const TIME_SECONDS: u16 = 0x0107;
}

/// EkaOperation values.
pub mod operation {
    /// A use of the key: sign, decrypt, CSR, certificates (decoded samples, S2).
    pub const USE: u32 = 1;
    /// Block. Inferred: no source gives the value.
    pub const BLOCK: u32 = 2;
    /// Unblock. Inferred: no source gives the value.
    pub const UNBLOCK: u32 = 3;
    /// A policy modification (decoded samples, S2).
    pub const MODIFY: u32 = 4;
}

/// Longest value an item can carry (its length is a `u16`).
pub const MAX_VALUE_LEN: usize = u16::MAX as usize;

/// Longest payload that fits: the EkaTimeStamp item carries the payload plus its own small items,
/// and must itself stay within [`MAX_VALUE_LEN`]. A longer payload has to be replaced by a digest
/// before encoding (the encoder would otherwise truncate it).
pub const MAX_PAYLOAD_LEN: usize = MAX_VALUE_LEN - 64;

/// The payload item: which of the two payload types it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalPayload {
    /// [`tag::USAGE_PAYLOAD`].
    Usage(Vec<u8>),
    /// [`tag::MODIFY_PAYLOAD`].
    Modify(Vec<u8>),
}

impl ApprovalPayload {
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            ApprovalPayload::Usage(b) | ApprovalPayload::Modify(b) => b,
        }
    }

    fn tag(&self) -> u16 {
        match self {
            ApprovalPayload::Usage(_) => tag::USAGE_PAYLOAD,
            ApprovalPayload::Modify(_) => tag::MODIFY_PAYLOAD,
        }
    }

    fn from_item(ty: u16, data: &[u8]) -> Option<ApprovalPayload> {
        match ty {
            tag::USAGE_PAYLOAD => Some(ApprovalPayload::Usage(data.to_vec())),
            tag::MODIFY_PAYLOAD => Some(ApprovalPayload::Modify(data.to_vec())),
            _ => None,
        }
    }
}

/// The nested EkaTimeStamp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EkaTimestamp {
    /// The payload.
    pub payload: Option<ApprovalPayload>,
    /// Creation time of the request, seconds since the epoch.
    pub seconds: Option<u64>,
    /// Label of the HSM's timestamp key.
    pub key_label: Option<String>,
}

/// The items of an `approvalToBeSigned`. Encoding writes the present items in the documented
/// order; decoding fills in what it finds (the first item of each type), so bytes from a TSB that
/// adds or omits items still yield what they do carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalToBeSigned {
    /// EkaOperation ([`operation`]).
    pub operation: Option<u32>,
    /// The key label.
    pub key_label: Option<String>,
    /// The EkaTimeStamp.
    pub timestamp: Option<EkaTimestamp>,
    /// The HSM's signature over the EkaTimeStamp.
    pub timestamp_signature: Option<Vec<u8>>,
    /// The payload.
    pub payload: Option<ApprovalPayload>,
}

/// Why bytes are not in the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotTheLayout;

impl std::fmt::Display for NotTheLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bytes do not follow the approvalToBeSigned layout")
    }
}

impl std::error::Error for NotTheLayout {}

fn push_item(out: &mut Vec<u8>, ty: u16, data: &[u8]) {
    // Callers keep values within MAX_VALUE_LEN; truncating is a last line of defence, never a
    // panic.
    let data = &data[..data.len().min(MAX_VALUE_LEN)];
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(4) * 4, 0);
}

fn with_length(body: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// The items of `u32 length` + items, as `(type, value)`; `Err` when an item runs past the end.
/// A length prefix larger than the bytes is tolerated (the items present are read).
fn items(bytes: &[u8]) -> Result<Vec<(u16, &[u8])>, NotTheLayout> {
    let total = bytes
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(NotTheLayout)?;
    let end = (total as usize).saturating_add(4).min(bytes.len());
    let mut pos = 4usize;
    let mut out = Vec::new();
    while pos + 4 <= end {
        let ty = u16::from_le_bytes([bytes[pos], bytes[pos + 1]]);
        let len = u16::from_le_bytes([bytes[pos + 2], bytes[pos + 3]]) as usize;
        let data = bytes.get(pos + 4..pos + 4 + len).ok_or(NotTheLayout)?;
        out.push((ty, data));
        pos = (pos + 4 + len).div_ceil(4) * 4;
    }
    Ok(out)
}

fn u32_of(data: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(data.try_into().ok()?))
}

fn u64_of(data: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(data.try_into().ok()?))
}

impl EkaTimestamp {
    fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        if let Some(p) = &self.payload {
            push_item(&mut body, p.tag(), p.bytes());
        }
        if let Some(s) = self.seconds {
            push_item(&mut body, tag::TIME_SECONDS, &s.to_le_bytes());
        }
        if let Some(l) = &self.key_label {
            push_item(&mut body, tag::KEY_LABEL, l.as_bytes());
        }
        with_length(body)
    }

    fn decode(bytes: &[u8]) -> Result<EkaTimestamp, NotTheLayout> {
        let mut ts = EkaTimestamp::default();
        for (ty, data) in items(bytes)? {
            match ty {
                tag::USAGE_PAYLOAD | tag::MODIFY_PAYLOAD if ts.payload.is_none() => {
                    ts.payload = ApprovalPayload::from_item(ty, data);
                }
                tag::TIME_SECONDS if ts.seconds.is_none() => ts.seconds = u64_of(data),
                tag::KEY_LABEL if ts.key_label.is_none() => {
                    ts.key_label = String::from_utf8(data.to_vec()).ok();
                }
                _ => {}
            }
        }
        Ok(ts)
    }
}

impl ApprovalToBeSigned {
    /// The bytes (before base64).
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        if let Some(op) = self.operation {
            push_item(&mut body, tag::EKA_OPERATION, &op.to_le_bytes());
        }
        if let Some(l) = &self.key_label {
            push_item(&mut body, tag::KEY_LABEL, l.as_bytes());
        }
        if let Some(ts) = &self.timestamp {
            push_item(&mut body, tag::EKA_TIMESTAMP, &ts.encode());
        }
        if let Some(sig) = &self.timestamp_signature {
            push_item(&mut body, tag::TIMESTAMP_SIGNATURE, sig);
        }
        if let Some(p) = &self.payload {
            push_item(&mut body, p.tag(), p.bytes());
        }
        with_length(body)
    }

    /// Read the items of `bytes` (after base64). `Err` when the bytes do not follow the layout (an
    /// item runs past the end): then nothing read from them can be trusted. An EkaTimeStamp that
    /// is not in the layout is left out.
    pub fn decode(bytes: &[u8]) -> Result<ApprovalToBeSigned, NotTheLayout> {
        let mut a = ApprovalToBeSigned::default();
        for (ty, data) in items(bytes)? {
            match ty {
                tag::EKA_OPERATION if a.operation.is_none() => a.operation = u32_of(data),
                tag::KEY_LABEL if a.key_label.is_none() => {
                    a.key_label = String::from_utf8(data.to_vec()).ok();
                }
                tag::EKA_TIMESTAMP if a.timestamp.is_none() => {
                    a.timestamp = EkaTimestamp::decode(data).ok();
                }
                tag::TIMESTAMP_SIGNATURE if a.timestamp_signature.is_none() => {
                    a.timestamp_signature = Some(data.to_vec());
                }
                tag::USAGE_PAYLOAD | tag::MODIFY_PAYLOAD if a.payload.is_none() => {
                    a.payload = ApprovalPayload::from_item(ty, data);
                }
                _ => {}
            }
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(payload: ApprovalPayload) -> ApprovalToBeSigned {
        ApprovalToBeSigned {
            operation: Some(operation::USE),
            key_label: Some("key".into()),
            timestamp: Some(EkaTimestamp {
                payload: Some(payload.clone()),
                seconds: Some(1_700_000_000),
                key_label: Some("timestamp-key".into()),
            }),
            timestamp_signature: Some(b"nonce-1".to_vec()),
            payload: Some(payload),
        }
    }

    #[test]
    fn round_trip() {
        for payload in [
            ApprovalPayload::Usage(b"payload".to_vec()),
            ApprovalPayload::Modify(vec![1, 2, 3, 4, 5]),
            ApprovalPayload::Usage(Vec::new()),
        ] {
            let a = sample(payload);
            let bytes = a.encode();
            assert_eq!(bytes.len() % 4, 0);
            assert_eq!(ApprovalToBeSigned::decode(&bytes), Ok(a));
        }
        let empty = ApprovalToBeSigned::default();
        assert_eq!(empty.encode(), vec![0, 0, 0, 0]);
        assert_eq!(ApprovalToBeSigned::decode(&empty.encode()), Ok(empty));
    }

    #[test]
    fn bytes_follow_the_documented_layout() {
        let a = sample(ApprovalPayload::Usage(b"payload".to_vec())).encode();
        let total = u32::from_le_bytes([a[0], a[1], a[2], a[3]]) as usize;
        assert_eq!(total, a.len() - 4);
        assert_eq!(&a[4..6], &0x003Bu16.to_le_bytes());
        assert_eq!(&a[6..8], &4u16.to_le_bytes());
        assert_eq!(&a[8..12], &1u32.to_le_bytes());
        assert_eq!(&a[12..14], &0x1002u16.to_le_bytes());
        assert_eq!(&a[14..16], &3u16.to_le_bytes());
        assert_eq!(&a[16..19], b"key");
        // Padded to 4 bytes, then the EkaTimeStamp, whose first item is the payload.
        assert_eq!(a[19], 0);
        assert_eq!(&a[20..22], &0x1054u16.to_le_bytes());
        assert_eq!(&a[28..30], &0x1057u16.to_le_bytes());
        // The last item is the payload again.
        assert_eq!(&a[a.len() - 12..a.len() - 10], &0x1057u16.to_le_bytes());
        assert_eq!(&a[a.len() - 8..a.len() - 1], b"payload");
    }

    #[test]
    fn malformed_bytes_are_refused() {
        assert_eq!(ApprovalToBeSigned::decode(b""), Err(NotTheLayout));
        assert_eq!(ApprovalToBeSigned::decode(b"\x01\x00"), Err(NotTheLayout));
        // An item claiming 255 bytes where there are none.
        assert_eq!(
            ApprovalToBeSigned::decode(b"\x10\x00\x00\x00\x02\x10\xff\x00"),
            Err(NotTheLayout)
        );
        // A garbled EkaTimeStamp does not hide the items around it.
        let mut body = Vec::new();
        push_item(&mut body, tag::EKA_OPERATION, &4u32.to_le_bytes());
        push_item(&mut body, tag::EKA_TIMESTAMP, b"\xff");
        push_item(&mut body, tag::KEY_LABEL, b"k");
        let a = ApprovalToBeSigned::decode(&with_length(body)).unwrap();
        assert_eq!(a.operation, Some(operation::MODIFY));
        assert_eq!(a.key_label.as_deref(), Some("k"));
        assert_eq!(a.timestamp, None);
    }

    #[test]
    fn oversized_values_are_truncated_not_panicking() {
        let a = ApprovalToBeSigned {
            payload: Some(ApprovalPayload::Usage(vec![7; MAX_VALUE_LEN + 10])),
            ..Default::default()
        };
        let d = ApprovalToBeSigned::decode(&a.encode()).unwrap();
        assert_eq!(d.payload.unwrap().bytes().len(), MAX_VALUE_LEN);
    }
}
