//! ML-DSA / SLH-DSA signatures with a context string. The TSB takes a `context` only on the
//! asynchronous `POST /v1/sign` (S3 `dto/tsb/request/SignRequestDto.java` @08bfdf25, "context
//! bytes for ML-DSA & SLH-DSA"; `SynchronousSignRequestDto.java` has no such field), so a signature
//! with a context always goes there, with or without approvals; a key without approvals gets its
//! request executed at once and the wait reads the result on its first poll.

use super::key::KeyInfo;
use super::requests::{Caller, RemoteCall};
use super::{api, Tsb};
use crate::error::Result;

/// What identifies the operation for the journal: the context bound into the input, so the same
/// message with another context is another operation (never resumed as this one). The
/// context's length comes first, so no two (context, payload) pairs give the same bytes.
fn fingerprint_input(context: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + context.len() + payload.len());
    v.extend_from_slice(&(context.len() as u64).to_be_bytes());
    v.extend_from_slice(context);
    v.extend_from_slice(payload);
    v
}

impl Tsb {
    /// A signature of `payload` with `algorithm` (`ML_DSA`, `SLH_DSA`) bound to `context`
    /// (non-empty: without one, [`Tsb::sign`] is the call), as the TSB encodes it.
    pub(crate) fn sign_with_context(
        &self,
        key: &KeyInfo,
        algorithm: &str,
        payload: &[u8],
        context: &[u8],
        caller: &Caller,
    ) -> Result<Vec<u8>> {
        let (client, label) = (&self.client, key.tsb_label.as_str());
        let fingerprinted = fingerprint_input(context, payload);
        let call = RemoteCall {
            kind: "signature",
            algorithm,
            payload: &fingerprinted,
            // Never used: force_async.
            sync: &|| {
                Err(crate::error::Error::Unsupported(
                    "the TSB's synchronous signature takes no context".into(),
                ))
            },
            create: &|| {
                api::sign_async_with_context(client, label, algorithm, payload, Some(context))
            },
            force_async: true,
        };
        self.run_binary(key, call, caller)
    }
}

#[cfg(test)]
mod tests {
    use super::fingerprint_input;

    #[test]
    fn the_context_is_part_of_the_operation() {
        assert_ne!(
            fingerprint_input(b"a", b"bc"),
            fingerprint_input(b"ab", b"c")
        );
        assert_ne!(fingerprint_input(b"", b"m"), fingerprint_input(b"x", b"m"));
        assert_eq!(fingerprint_input(b"x", b"m"), fingerprint_input(b"x", b"m"));
    }
}
