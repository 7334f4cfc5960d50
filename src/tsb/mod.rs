//! Everything about the TSB, behind one facade per slot ([`Tsb`]): the HTTP transport with auth,
//! TLS, retries and logging ([`client`]), the read limits ([`limits`]), typed endpoints ([`api`]),
//! the key and certificate cache ([`cache`]), what a TSB key is ([`key`]), running an operation
//! with or without approvers and the requests remembered so that none is sent twice
//! ([`requests`], [`journal`]), and the approval wait ([`wait`], [`cancel`]). No PKCS#11 types in
//! here: `token` reaches the TSB only through [`Tsb`].

pub(crate) mod api;
pub(crate) mod cache;
pub(crate) mod cancel;
pub(crate) mod client;
pub(crate) mod journal;
pub(crate) mod key;
pub(crate) mod limits;
pub(crate) mod parallel;
mod plain;
mod pqc;
pub(crate) mod requests;
pub(crate) mod symmetric;
pub(crate) mod version;
pub(crate) mod wait;
pub(crate) mod wrap;

use crate::config::{Secret, SlotConfig};
use crate::error::{Error, Result};
use cache::KeyCache;
use client::{Client, ClientSettings};
use key::{CertInfo, KeyInfo};
use requests::{Caller, Ran, RemoteCall, Requests};
use std::sync::Arc;
use std::time::Duration;
use tsb_models::algorithms;
use tsb_models::SignCertificateRequest;
use tsb_models::{CreateKeyRequest, CsrRequest, RequestStatus, SelfSignRequest, TsbVersion};
use version::VersionCache;

/// The slot's settings of the approval wait.
#[derive(Debug, Clone)]
struct WaitSettings {
    approval_timeout: Duration,
    poll_interval: Duration,
    poll_max_interval: Duration,
    progress: bool,
    /// Timeout of one HTTP request (a creating call gets three times this).
    request_timeout: Duration,
    /// How long past a policy timeout the wait keeps polling for the TSB's EXPIRED.
    expiry_grace: Duration,
}

/// One slot's TSB: its REST client, its key and certificate cache, the approval wait with its
/// settings, and (shared by the module's slots) the requests remembered by fingerprint.
pub(crate) struct Tsb {
    slot: usize,
    client: Client,
    cache: KeyCache,
    requests: Arc<Requests>,
    wait: WaitSettings,
    version: VersionCache,
}

impl Tsb {
    /// The TSB of slot `slot`. Local work only: nothing is connected before the first call.
    pub(crate) fn new(slot: usize, config: &SlotConfig, requests: Arc<Requests>) -> Tsb {
        Tsb {
            slot,
            client: Client::new(ClientSettings::from(config)),
            cache: KeyCache::new(
                config.cache_ttl,
                config.label_prefix.clone(),
                config.listing_concurrency,
            ),
            requests,
            wait: WaitSettings {
                approval_timeout: config.approval_timeout,
                poll_interval: config.poll_interval,
                poll_max_interval: config.poll_max_interval,
                progress: config.progress,
                request_timeout: config.request_timeout,
                expiry_grace: config.expiry_grace,
            },
            version: VersionCache::new(config.tsb_version),
        }
    }

    /// The TSB's version: configured, or read from the TSB on first need (see [`version`]);
    /// None when unknown (then every choice takes what works on every version).
    pub(crate) fn version(&self) -> Option<TsbVersion> {
        self.version.get(&self.client)
    }

    /// The version known without asking the TSB (configured, or read earlier); None otherwise.
    pub(crate) fn known_version(&self) -> Option<TsbVersion> {
        self.version.known()
    }

    /// Set or clear the bearer token given through C_Login (see [`Client::set_login_token`]).
    pub(crate) fn set_login_token(&self, token: Option<Secret>) {
        self.client.set_login_token(token)
    }

    // ---- keys ------------------------------------------------------------------------------

    /// The key with this TSB label, from the cache while fresh; `Ok(None)`: no such key, or one
    /// the module does not show.
    pub(crate) fn key(&self, tsb_label: &str) -> Result<Option<Arc<KeyInfo>>> {
        self.cache.key(&self.client, tsb_label)
    }

    /// Whatever is cached for this label, however old.
    pub(crate) fn cached_key(&self, tsb_label: &str) -> Option<Arc<KeyInfo>> {
        self.cache.cached_key(tsb_label)
    }

    /// Every key of this slot whose label `show` picks, as (TSB label, key); one bad key is
    /// skipped (see [`cache`]).
    pub(crate) fn all_keys(
        &self,
        show: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(String, Arc<KeyInfo>)>> {
        self.cache.all_keys(&self.client, show)
    }

    /// Every key of this slot whose label `show` picks, and with `certs` their certificates,
    /// fetched a few at a time (see [`KeyCache::listing`]).
    pub(crate) fn listing(
        &self,
        show: &dyn Fn(&str) -> bool,
        certs: bool,
    ) -> Result<Vec<cache::Listed>> {
        self.cache.listing(&self.client, show, certs)
    }

    /// The labels of this slot's keys (with the prefix): from the cache while fresh, or asked of
    /// the TSB now (`fresh`).
    pub(crate) fn labels(&self, fresh: bool) -> Result<Arc<Vec<String>>> {
        if fresh {
            self.cache.forget_listing();
        }
        self.cache.labels(&self.client)
    }

    /// Create a key (`POST /v1/key`) and remember it.
    pub(crate) fn create_key(&self, req: &CreateKeyRequest, prefix: &str) -> Result<Arc<KeyInfo>> {
        let attrs = api::create_key(&self.client, req)?;
        let key = Arc::new(KeyInfo::from_tsb(&attrs, prefix)?);
        self.cache.insert_key(key.clone());
        Ok(key)
    }

    /// Delete a key and forget it.
    pub(crate) fn delete_key(&self, tsb_label: &str) -> Result<()> {
        api::delete_key(&self.client, tsb_label)?;
        self.cache.remove_key(tsb_label);
        Ok(())
    }

    // ---- certificates ----------------------------------------------------------------------

    /// The key's certificate, from the cache while fresh (absence too).
    pub(crate) fn cert(&self, tsb_label: &str) -> Result<Option<Arc<CertInfo>>> {
        self.cache.cert(&self.client, tsb_label)
    }

    /// The cached certificate however old.
    pub(crate) fn cached_cert(&self, tsb_label: &str) -> Option<Arc<CertInfo>> {
        self.cache.cached_cert(tsb_label)
    }

    /// The key's certificate for a listing: one that cannot be fetched is skipped.
    pub(crate) fn cert_or_skip(&self, tsb_label: &str) -> Result<Option<Arc<CertInfo>>> {
        self.cache.cert_or_skip(&self.client, tsb_label)
    }

    /// Attach a certificate to its key on the TSB and remember it.
    pub(crate) fn import_certificate(&self, tsb_label: &str, cert: Arc<CertInfo>) -> Result<()> {
        api::import_certificate(&self.client, tsb_label, &cert.der)?;
        self.cache.set_cert(tsb_label, Some(cert));
        Ok(())
    }

    /// Delete a key's certificate and remember that it has none.
    pub(crate) fn delete_certificate(&self, tsb_label: &str) -> Result<()> {
        api::delete_certificate(&self.client, tsb_label)?;
        self.cache.set_cert(tsb_label, None);
        Ok(())
    }

    /// Remember a certificate the TSB made for a key (self-signed).
    pub(crate) fn remember_certificate(&self, tsb_label: &str, cert: Arc<CertInfo>) {
        self.cache.set_cert(tsb_label, Some(cert));
    }

    // ---- operations ------------------------------------------------------------------------

    /// A signature of `payload` with `algorithm` (a TSB `signatureAlgorithm`), as the TSB encodes
    /// it; approval-gated keys wait (see [`requests`]).
    pub(crate) fn sign(
        &self,
        key: &KeyInfo,
        algorithm: &str,
        payload: &[u8],
        caller: &Caller,
    ) -> Result<Vec<u8>> {
        let (client, label) = (&self.client, key.tsb_label.as_str());
        let call = RemoteCall {
            kind: "signature",
            algorithm,
            payload,
            sync: &|| api::sign_sync(client, label, algorithm, payload),
            create: &|| api::sign_async(client, label, algorithm, payload),
            force_async: false,
        };
        self.run_binary(key, call, caller)
    }

    /// The plaintext of `data` with `algorithm` (a TSB `cipherAlgorithm`).
    pub(crate) fn decrypt(
        &self,
        key: &KeyInfo,
        algorithm: &str,
        data: &[u8],
        caller: &Caller,
    ) -> Result<Vec<u8>> {
        let (client, label) = (&self.client, key.tsb_label.as_str());
        // PKCS#1 v1.5: `RSA_PADDING_PKCS` where the TSB has it (2.2.0, "PKCS1.5 Cipher
        // Algorithm", S2 release notes; S1 `helpers/consts.go`), `RSA` before, the only PKCS#1
        // v1.5 name older TSBs know (S3 `enums/tsb/CipherAlgorithm.java`); what `RSA` means on a
        // 2.2.0 TSB is not documented (audit divergence #7), so the explicit name is sent there.
        let explicit = algorithms::cipher_algorithm_for(algorithms::Cipher::RsaPkcs1)
            == Some(algorithm)
            && self.version().is_some_and(TsbVersion::has_rsa_padding_pkcs);
        let algorithm = if explicit {
            "RSA_PADDING_PKCS"
        } else {
            algorithm
        };
        let call = RemoteCall {
            kind: "decryption",
            algorithm,
            payload: data,
            sync: &|| api::decrypt_sync(client, label, algorithm, data),
            create: &|| api::decrypt_async(client, label, algorithm, data),
            force_async: false,
        };
        self.run_binary(key, call, caller)
    }

    /// A CSR for the request's key (PEM).
    ///
    /// The synchronous CSR endpoint takes only the certificate algorithms
    /// (`KeytoolSignatureAlgorithm`: no `EDDSA` up to TSB 2.2.0), the asynchronous one every
    /// `SignatureAlgorithm` (S3 `dto/tsb/request/SynchronousCertificateRequestRequestDto.java`,
    /// `CsrSignRequestDto.java`). So a key without approvals whose algorithm the synchronous
    /// endpoint of this TSB version (or, when the version is unknown, of some version) refuses
    /// gets its CSR through the asynchronous endpoint and the wait, which executes at once.
    pub(crate) fn csr(&self, key: &KeyInfo, req: &CsrRequest, caller: &Caller) -> Result<String> {
        let client = &self.client;
        let cn = &req.standard_certificate_attributes.common_name;
        let meta = api::meta_data(
            client,
            "CertificateSigningRequest",
            &[("commonName", cn.clone())],
        );
        let async_req = CsrRequest {
            meta_data: Some(meta.data),
            meta_data_signature: meta.signature,
            ..req.clone()
        };
        let v = self.version().unwrap_or(TsbVersion::V1_18_0);
        let force_async =
            algorithms::certificate_signature_algorithm_in(&req.signature_algorithm, v).is_none();
        let body = body_of(req)?;
        let call = RemoteCall {
            kind: "CSR",
            algorithm: &req.signature_algorithm,
            payload: &body,
            sync: &|| api::csr_sync(client, req),
            create: &|| api::csr_async(client, &async_req),
            force_async,
        };
        self.run_text(key, call, caller)
    }

    /// Refuse a certificate algorithm the TSB's certificate endpoints do not take
    /// (`KeytoolSignatureAlgorithm`, S3 `enums/tsb/KeytoolSignatureAlgorithm.java`: RSA and
    /// ECDSA; `EDDSA` only in the newer DTOs of S6, see [`TsbVersion::has_newer_certificate_dtos`]).
    /// An unknown version is asked anyway (its refusal is CKR_MECHANISM_INVALID too).
    fn check_certificate_algorithm(&self, algorithm: &str, what: &str) -> Result<()> {
        match self.version() {
            Some(v) if algorithms::certificate_signature_algorithm_in(algorithm, v).is_none() => {
                Err(Error::Unsupported(format!(
                    "TSB {v} cannot make a {what} with {algorithm}: its certificate endpoints take \
                     {}",
                    algorithms::CERTIFICATE_SIGNATURE_ALGORITHMS
                        .iter()
                        .filter(|a| algorithms::certificate_signature_algorithm_in(a, v).is_some())
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
            _ => Ok(()),
        }
    }

    /// A self-signed certificate for the request's key, which the TSB stores with the key (DER).
    pub(crate) fn self_sign(
        &self,
        key: &KeyInfo,
        req: &SelfSignRequest,
        caller: &Caller,
    ) -> Result<Vec<u8>> {
        self.check_certificate_algorithm(&req.signature_algorithm, "self-signed certificate")?;
        let client = &self.client;
        let meta = api::meta_data(
            client,
            "SelfSignCertificate",
            &[("commonName", req.common_name.clone())],
        );
        let async_req = SelfSignRequest {
            meta_data: Some(meta.data),
            meta_data_signature: meta.signature,
            ..req.clone()
        };
        let body = body_of(req)?;
        let call = RemoteCall {
            kind: "self-signed certificate",
            algorithm: &req.signature_algorithm,
            payload: &body,
            sync: &|| api::selfsign_sync(client, req),
            create: &|| api::selfsign_async(client, &async_req),
            force_async: false,
        };
        let result = self.run_text(key, call, caller)?;
        // The synchronous endpoint returns the PEM; the asynchronous one returns "true" and the
        // certificate is read from the key.
        if result.contains("BEGIN CERTIFICATE") {
            api::pem_or_b64_to_der(&result)
        } else {
            api::get_certificate(client, &key.tsb_label)?.ok_or_else(|| {
                Error::Transport(format!(
                    "self-signed certificate of {} not found after success",
                    key.tsb_label
                ))
            })
        }
    }

    /// A certificate for the request's CSR, signed by the key (PEM).
    pub(crate) fn issue_certificate(
        &self,
        key: &KeyInfo,
        req: &SignCertificateRequest,
        caller: &Caller,
    ) -> Result<String> {
        self.check_certificate_algorithm(&req.signature_algorithm, "certificate")?;
        let client = &self.client;
        let meta = api::meta_data(client, "Certificate", &[]);
        let async_req = SignCertificateRequest {
            meta_data: Some(meta.data),
            meta_data_signature: meta.signature,
            ..req.clone()
        };
        let body = body_of(req)?;
        let call = RemoteCall {
            kind: "certificate",
            algorithm: &req.signature_algorithm,
            payload: &body,
            sync: &|| api::sign_certificate_sync(client, req),
            create: &|| api::sign_certificate_async(client, &async_req),
            force_async: false,
        };
        self.run_text(key, call, caller)
    }

    /// [`Self::run`] for a result of bytes: the synchronous endpoint answers them, an approved
    /// request's `result` is their base64 (which must decode, or the result is bad).
    fn run_binary(
        &self,
        key: &KeyInfo,
        call: RemoteCall<Vec<u8>>,
        caller: &Caller,
    ) -> Result<Vec<u8>> {
        let kind = call.kind;
        match self.run(key, call, caller)? {
            Ran::Now(bytes) => Ok(bytes),
            Ran::Approved(result) => {
                api::unb64(&result, kind).map_err(|e| Error::BadResult(e.to_string()))
            }
        }
    }

    /// [`Self::run`] for a result of text (a PEM), the same from both endpoints.
    fn run_text(&self, key: &KeyInfo, call: RemoteCall<String>, caller: &Caller) -> Result<String> {
        Ok(match self.run(key, call, caller)? {
            Ran::Now(text) | Ran::Approved(text) => text,
        })
    }

    /// `n` random bytes from the HSM, asked in chunks (the TSB caps one call).
    pub(crate) fn random(&self, n: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let chunk = (n - out.len()).min(4096);
            let r = api::generate_random(&self.client, chunk)?;
            if r.len() != chunk {
                return Err(Error::Transport(format!(
                    "asked the TSB for {chunk} random bytes, got {}",
                    r.len()
                )));
            }
            out.extend(r);
        }
        Ok(out)
    }

    /// A request's status.
    pub(crate) fn request_status(&self, id: &str) -> Result<RequestStatus> {
        api::request_status(&self.client, id)
    }

    /// Delete a request (an unknown one counts as gone).
    pub(crate) fn cancel_request(&self, id: &str) -> Result<()> {
        api::cancel_request(&self.client, id)
    }
}

/// The JSON of a request body, the input of its fingerprint.
pub(crate) fn body_of(req: &impl serde::Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(req).map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests;
