//! Certificates stored on keys: import, read, delete.

use super::keys::key_not_found;
use super::{empty_ok, json_response, parse, persist, ApiError, ApiResult};
use crate::{x509, Shared};
use tsb_models::codes;
use tsb_models::*;

pub(super) fn import_certificate(shared: &Shared, body: &[u8]) -> ApiResult {
    let r: CertificateBody = parse(body)?;
    let der = x509::certificate_to_der(&r.certificate)?;
    let pem = x509::certificate_der_to_pem(&der)?;
    let label = {
        let mut st = shared.store.lock();
        let k = st
            .resolve_mut(&r.label)
            .ok_or_else(|| key_not_found(&r.label))?;
        k.certificate = Some(pem.clone());
        let label = k.label.clone();
        st.touch();
        label
    };
    persist(shared);
    json_response(
        200,
        &CertificateBody {
            label,
            certificate: pem,
        },
    )
}

pub(super) fn get_certificate(shared: &Shared, name: &str) -> ApiResult {
    let st = shared.store.lock();
    let k = st.resolve(name).ok_or_else(|| key_not_found(name))?;
    let cert = k.certificate.clone().ok_or_else(|| {
        ApiError::new(
            codes::KEY_NOT_EXISTENT,
            format!("key {} has no certificate", k.label),
        )
    })?;
    let body = CertificateBody {
        label: k.label.clone(),
        certificate: cert,
    };
    drop(st);
    json_response(200, &body)
}

pub(super) fn delete_certificate(shared: &Shared, name: &str) -> ApiResult {
    {
        let mut st = shared.store.lock();
        let k = st.resolve_mut(name).ok_or_else(|| key_not_found(name))?;
        if k.certificate.take().is_none() {
            return Err(ApiError::new(
                codes::KEY_NOT_EXISTENT,
                format!("key {} has no certificate", k.label),
            ));
        }
        st.touch();
    }
    persist(shared);
    empty_ok()
}
