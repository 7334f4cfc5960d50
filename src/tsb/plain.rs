//! Keys in plain: `POST /v1/key/import/plain` (a key's material into the TSB) and `POST
//! /v1/key/export/plain` (a non-sensitive, extractable key's material out of it). Bodies and
//! sources: `tsb_models::{KeyImportRequest, KeyExportResponse}` (S3 `KeyImportDto.java`,
//! `KeyExportDto.java`; S1 securosys-com/tsb-client-go `key.go` `ImportKey`, `ExportKey`). Both
//! paths are under `/v1/key/**`, the key-management role's (`tsb_models::role_for_path`).
//!
//! Key material is a secret: the request is zeroized after it is sent (the JSON body the client
//! builds is `Zeroizing`, `client::Client::call_raw`; the copy the HTTP stack holds is wiped by the
//! module's allocator when freed, `crate::alloc`), the exported bytes are returned in
//! `Zeroizing`, and neither is ever logged.

use super::api::unb64;
use super::client::Idempotency;
use super::key::KeyInfo;
use super::Tsb;
use crate::error::{Error, Result};
use reqwest::Method;
use std::sync::Arc;
use tsb_models::{paths, KeyExportResponse, KeyImportRequest, KeyLabelRequest};
use zeroize::{Zeroize, Zeroizing};

impl Tsb {
    /// Import a key (`req` is zeroized whatever happens) and read it back: the new key as the TSB
    /// describes it, remembered as imported (CKA_LOCAL false).
    pub(crate) fn import_key(&self, mut req: KeyImportRequest) -> Result<Arc<KeyInfo>> {
        let label = req.label.clone();
        // Sent once: a second import of the same label would be refused (608) even when the
        // first one worked.
        let sent = self.client.call_raw(
            Method::POST,
            paths::KEY_IMPORT_PLAIN,
            Some(&req),
            Idempotency::Once,
        );
        req.private_key.zeroize();
        req.secret_key.zeroize();
        // The answer's body is not documented (tsb-api.md §2.3): the key is read back.
        sent?;
        self.cache.mark_imported(&label);
        self.cache.forget_listing();
        self.cache.fetch_key(&self.client, &label)?.ok_or_else(|| {
            Error::BadResult(format!(
                "the TSB answered the import of {label} with success, but has no such key"
            ))
        })
    }

    /// The bytes of a secret key that is extractable and not sensitive, checked against the
    /// key's known length (`len` bytes): an answer of another length is an error, never returned.
    pub(crate) fn export_secret_key(
        &self,
        key: &KeyInfo,
        len: usize,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let body = KeyLabelRequest {
            label: key.tsb_label.clone(),
            password: self.client.key_password(&key.tsb_label),
        };
        // A read: safe to repeat.
        let mut r: KeyExportResponse = self.client.call(
            Method::POST,
            paths::KEY_EXPORT_PLAIN,
            Some(&body),
            Idempotency::Retry,
        )?;
        r.private_key.zeroize();
        let b64 = Zeroizing::new(r.secret_key.take().unwrap_or_default());
        let bytes = Zeroizing::new(unb64(&b64, "secretKey")?);
        if bytes.len() != len {
            return Err(Error::BadResult(format!(
                "the TSB exported {} bytes for the {len}-byte key {}",
                bytes.len(),
                key.tsb_label
            )));
        }
        Ok(bytes)
    }
}
