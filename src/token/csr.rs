//! The vendor extension's CSRs (TSB_CreateCSR): a certificate signing request for a key held in
//! the TSB, made by the TSB (approval-gated like C_Sign); output handling as for certificates
//! ([`super::certificates`]).

use super::certificates::{validity, Document};
use super::operation::Output;
use super::results;
use super::session::Session;
use super::Module;
use crate::error::{Error, Result};
use crate::tsb::body_of;
use cryptoki_sys::*;
use tsb_models::{CsrRequest, StandardCertificateAttributes};

/// CSR parameters.
#[derive(Debug, Clone, Default)]
pub(crate) struct CsrSpec {
    /// TSB signature algorithm; None picks one by key type.
    pub(crate) signature_algorithm: Option<String>,
    /// Days; 0 = a year.
    pub(crate) validity_days: u32,
    /// The subject's fields that are set, by their name in `standardCertificateAttributes`
    /// (`commonName`, `country`, ...: the C parameters use the same names).
    pub(crate) subject: Vec<(&'static str, String)>,
    /// keyUsage names.
    pub(crate) key_usage: Vec<String>,
    /// extendedKeyUsage names.
    pub(crate) extended_key_usage: Vec<String>,
    /// DER instead of PEM.
    pub(crate) der: bool,
}

/// The TSB's subject from named fields; `commonName` is required.
fn subject(fields: &[(&'static str, String)]) -> Result<StandardCertificateAttributes> {
    let map: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
        .collect();
    let s: StandardCertificateAttributes =
        serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| Error::ck(CKR_ARGUMENTS_BAD, format!("CSR subject: {e}")))?;
    if s.common_name.is_empty() {
        return Err(Error::ck(CKR_ARGUMENTS_BAD, "commonName is required"));
    }
    Ok(s)
}

impl Module {
    /// TSB_CreateCSR. `cap` None = length query (an upper bound, nothing sent).
    pub(crate) fn create_csr(
        &self,
        session: &Session,
        key: CK_OBJECT_HANDLE,
        spec: &CsrSpec,
        cap: Option<usize>,
    ) -> Result<Output> {
        let subject = subject(&spec.subject)?;
        let (key, alg) = self.signing_key(session, key, &spec.signature_algorithm)?;
        let req = CsrRequest {
            sign_key_name: key.tsb_label.clone(),
            key_password: None,
            signature_algorithm: alg,
            validity: Some(validity(spec.validity_days)),
            standard_certificate_attributes: subject,
            key_usage: spec.key_usage.clone(),
            extended_key_usage: spec.extended_key_usage.clone(),
            meta_data: None,
            meta_data_signature: None,
        };
        let doc = Document {
            what: "CSR",
            key: &key,
            algorithm: &req.signature_algorithm,
            body: body_of(&req)?,
            as_der: spec.der,
        };
        self.produce(
            session,
            doc,
            cap,
            |slot, caller| slot.tsb.csr(&key, &req, caller),
            |der| results::csr(&key, der),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_fields_by_their_wire_names() {
        let s = subject(&[
            ("commonName", "build".into()),
            ("organizationUnitName", "CI".into()),
            ("country", String::new()),
        ])
        .unwrap();
        assert_eq!(s.common_name, "build");
        assert_eq!(s.organization_unit_name.as_deref(), Some("CI"));
        assert_eq!(s.country, None);
        assert_eq!(
            subject(&[("country", "CH".into())]).unwrap_err().rv(),
            CKR_ARGUMENTS_BAD
        );
    }
}
