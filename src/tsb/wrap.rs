//! Key wrapping on the TSB: `POST /v1/wrap` (200 `{wrappedKey}`), `POST /v1/synchronousUnwrap`
//! (201, no documented body) and `POST /v1/unwrap` (201 `{unwrapRequestId}`, waits for the
//! approvers of the unwrapping key's policy). Bodies and sources: `models/src/wrap.rs`,
//! emulator/README.md ("Wrapping").

use super::api::{self, b64, unb64};
use super::client::Idempotency;
use super::key::KeyInfo;
use super::requests::{Caller, RemoteCall};
use super::Tsb;
use crate::error::{Error, Result};
use crate::log::Level;
use reqwest::Method;
use std::sync::Arc;
use tsb_models::paths;
use tsb_models::wrap::{
    UnwrapKeyEnvelope, UnwrapKeyRequest, UnwrapRequestId, WrapKeyEnvelope, WrapKeyRequest,
    WrapKeyResponse,
};
use tsb_models::KeyFlags;

impl Tsb {
    /// `key` wrapped by `wrapping` with `method` (a `wrapMethod`). Synchronous in every source;
    /// sent once.
    pub(crate) fn wrap_key(
        &self,
        wrapping: &KeyInfo,
        key: &KeyInfo,
        method: &str,
    ) -> Result<Vec<u8>> {
        let c = &self.client;
        let inner = WrapKeyRequest {
            key_to_be_wrapped: key.tsb_label.clone(),
            key_to_be_wrapped_password: c.key_password(&key.tsb_label),
            wrap_key_name: wrapping.tsb_label.clone(),
            wrap_key_password: c.key_password(&wrapping.tsb_label),
            wrap_method: method.to_string(),
        };
        let body = WrapKeyEnvelope {
            request_signature: c.request_signature(&inner)?,
            wrap_key_request: inner,
        };
        let r: WrapKeyResponse =
            c.call(Method::POST, paths::WRAP, Some(&body), Idempotency::Once)?;
        unb64(&r.wrapped_key, "wrappedKey")
    }

    /// Unwrap `wrapped` with `unwrapping` into a new key labelled `label` with `flags`: the
    /// synchronous endpoint, or for an unwrapping key whose policy needs approvals the
    /// asynchronous one and the wait. The new key, read back from the TSB: its existence is what
    /// says the unwrap happened (the executed request's `result` is null, and the synchronous
    /// answer has no documented body).
    pub(crate) fn unwrap_key(
        &self,
        unwrapping: &KeyInfo,
        wrapped: &[u8],
        label: &str,
        flags: &KeyFlags,
        method: &str,
        caller: &Caller,
    ) -> Result<Arc<KeyInfo>> {
        let c = &self.client;
        let request = |meta: Option<api::Meta>| {
            let (meta_data, meta_data_signature) = match meta {
                Some(m) => (Some(m.data), m.signature),
                None => (None, None),
            };
            UnwrapKeyRequest {
                wrapped_key: b64(wrapped),
                label: label.to_string(),
                attributes: flags.clone(),
                unwrap_key_name: unwrapping.tsb_label.clone(),
                unwrap_key_password: c.key_password(&unwrapping.tsb_label),
                wrap_method: method.to_string(),
                policy: None,
                meta_data,
                meta_data_signature,
            }
        };
        let sync = || -> Result<String> {
            let inner = request(None);
            let body = UnwrapKeyEnvelope {
                request_signature: c.request_signature(&inner)?,
                unwrap_key_request: inner,
            };
            // 201 with no documented body (S1 `wrap_test.go` checks the status only).
            c.call_raw(
                Method::POST,
                paths::SYNCHRONOUS_UNWRAP,
                Some(&body),
                Idempotency::Once,
            )
        };
        let create = || -> Result<String> {
            let meta = api::meta_data(
                c,
                "UnWrap",
                &[
                    ("wrapMethod", method.to_string()),
                    ("label", label.to_string()),
                ],
            );
            let inner = request(Some(meta));
            let body = UnwrapKeyEnvelope {
                request_signature: c.request_signature(&inner)?,
                unwrap_key_request: inner,
            };
            let r: UnwrapRequestId =
                c.call(Method::POST, paths::UNWRAP, Some(&body), Idempotency::Once)?;
            Ok(r.unwrap_request_id)
        };
        let mut payload = label.as_bytes().to_vec();
        payload.push(0);
        payload.extend_from_slice(wrapped);
        let call = RemoteCall {
            kind: "unwrap",
            algorithm: method,
            payload: &payload,
            sync: &sync,
            create: &create,
            force_async: false,
        };
        let ran = self.run(unwrapping, call, caller);
        // An approved unwrap's request has no result (emulator/README.md: "`result` is null
        // when EXECUTED; the new key exists then"): the wait reports that as an unknown
        // outcome, which the new key's existence settles.
        let outcome_unknown = match ran {
            Ok(_) => None,
            Err(Error::OutcomeUnknown(m)) => Some(m),
            Err(e) => return Err(e),
        };
        self.cache.forget_listing();
        match self.key(label)? {
            Some(k) => {
                if outcome_unknown.is_some() {
                    crate::log!(
                        Level::Debug,
                        "unwrap into {label}: executed, the key exists"
                    );
                }
                Ok(k)
            }
            None => Err(match outcome_unknown {
                Some(m) => Error::OutcomeUnknown(m),
                None => Error::BadResult(format!(
                    "the TSB answered the unwrap into {label} with success, but has no such key"
                )),
            }),
        }
    }
}
