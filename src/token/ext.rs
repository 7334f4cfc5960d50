//! The vendor extension behind `include/tsb_pkcs11.h`: CSRs, self-signed and issued certificates,
//! request status and cancellation. Approval-gated exactly like C_Sign (same wait, progress,
//! resume and return codes), and never sent twice: a length query is answered with an upper bound
//! without a request, and a finished result that did not fit is kept in the session for the retry.

use super::object::{CertInfo, KeyInfo, ObjClass};
use super::ops::Output;
use super::{Module, ObjRef, Session};
use crate::error::{Error, Result};
use crate::mechanism::Family;
use crate::tsb::{body_of, requests::fingerprint};
use cryptoki_sys::*;
use std::sync::Arc;
use tsb_models::{
    CsrRequest, RequestStatus, SelfSignRequest, SignCertificateRequest,
    StandardCertificateAttributes,
};

/// Upper bound returned by a length query for a CSR or certificate (the real size is only known
/// once the TSB made it, and making it may need approvals). PEM of an RSA-4096 certificate with
/// long names stays well below this.
pub const TSB_OUTPUT_ESTIMATE: usize = 16 * 1024;

/// CSR parameters.
#[derive(Debug, Clone, Default)]
pub struct CsrSpec {
    /// TSB signature algorithm; None picks one by key type.
    pub signature_algorithm: Option<String>,
    /// Days.
    pub validity_days: u32,
    /// Subject.
    pub subject: StandardCertificateAttributes,
    /// keyUsage names.
    pub key_usage: Vec<String>,
    /// extendedKeyUsage names.
    pub extended_key_usage: Vec<String>,
    /// DER instead of PEM.
    pub der: bool,
}

/// Certificate parameters (self-sign and issue).
#[derive(Debug, Clone, Default)]
pub struct CertSpec {
    /// TSB signature algorithm; None picks one by key type.
    pub signature_algorithm: Option<String>,
    /// Days.
    pub validity_days: u32,
    /// Subject CN (issue: None keeps the CSR's).
    pub common_name: Option<String>,
    /// CA flag.
    pub certificate_authority: bool,
    /// keyUsage names.
    pub key_usage: Vec<String>,
    /// extendedKeyUsage names.
    pub extended_key_usage: Vec<String>,
    /// DER instead of PEM (issue).
    pub der: bool,
}

/// The usual signature algorithm for a key.
pub fn default_signature_algorithm(family: Family) -> &'static str {
    match family {
        Family::Rsa => tsb_models::algorithms::name::SHA256_WITH_RSA,
        Family::Ec => tsb_models::algorithms::name::SHA256_WITH_ECDSA,
        Family::Ed => tsb_models::algorithms::name::EDDSA,
    }
}

/// Validity in days; 0 asks for the default of a year.
fn validity(days: u32) -> u32 {
    if days == 0 {
        365
    } else {
        days
    }
}

/// Split comma-separated usage names, dropping blanks.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_ascii_uppercase())
        .filter(|x| !x.is_empty())
        .collect()
}

fn pem_to_der(pem: &str) -> Result<Vec<u8>> {
    crate::der::pem_decode(pem)
        .ok_or_else(|| Error::BadResult("the TSB returned a PEM that is not base64".into()))
}

impl Module {
    /// Serve a kept result, or answer a length query with the estimate; None = run it.
    fn kept_output(&self, session: &Session, fp: &str, cap: Option<usize>) -> Option<Output> {
        let mut st = session.state.lock();
        if let Some((kept_fp, bytes)) = &st.kept_output {
            if kept_fp == fp {
                let n = bytes.len();
                return Some(match cap {
                    None => Output::Len(n),
                    Some(c) if c < n => Output::TooSmall(n),
                    Some(_) => {
                        let out = st.kept_output.take().map(|(_, b)| b).unwrap_or_default();
                        Output::Data(out)
                    }
                });
            }
        }
        match cap {
            None => Some(Output::Len(TSB_OUTPUT_ESTIMATE)),
            Some(_) => None,
        }
    }

    /// The PEM a TSB call produced, as PEM or DER, through [`Self::deliver`].
    fn deliver_pem(
        &self,
        session: &Session,
        pem: String,
        der: bool,
        fp: String,
        cap: usize,
    ) -> Result<Output> {
        let bytes = if der {
            pem_to_der(&pem)?
        } else {
            pem.into_bytes()
        };
        Ok(self.deliver(session, fp, bytes, cap))
    }

    fn deliver(&self, session: &Session, fp: String, bytes: Vec<u8>, cap: usize) -> Output {
        if bytes.len() > cap {
            let n = bytes.len();
            session.state.lock().kept_output = Some((fp, bytes));
            Output::TooSmall(n)
        } else {
            Output::Data(bytes)
        }
    }

    /// The private key behind `h`, which must be allowed to sign (CSRs and certificates are
    /// signatures), and the signature algorithm to use with it.
    fn signing_key(
        &self,
        session: &Session,
        h: CK_OBJECT_HANDLE,
        algorithm: &Option<String>,
    ) -> Result<(Arc<KeyInfo>, String)> {
        let key = self.key_object(session, h, ObjClass::Private)?;
        if !key.sign {
            return Err(Error::ck(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                format!("key {} cannot sign (CKA_SIGN false)", key.label),
            ));
        }
        if key.blocked {
            return Err(Error::ck(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                format!("key {} is blocked on the TSB", key.tsb_label),
            ));
        }
        let alg = algorithm
            .clone()
            .unwrap_or_else(|| default_signature_algorithm(key.public.family()).into());
        Ok((key, alg))
    }

    /// TSB_CreateCSR.
    pub fn create_csr(
        &self,
        session: &Session,
        key: CK_OBJECT_HANDLE,
        spec: &CsrSpec,
        cap: Option<usize>,
    ) -> Result<Output> {
        let (key, alg) = self.signing_key(session, key, &spec.signature_algorithm)?;
        if spec.subject.common_name.is_empty() {
            return Err(Error::ck(CKR_ARGUMENTS_BAD, "commonName is required"));
        }
        let req = CsrRequest {
            sign_key_name: key.tsb_label.clone(),
            key_password: None,
            signature_algorithm: alg.clone(),
            validity: Some(validity(spec.validity_days)),
            standard_certificate_attributes: spec.subject.clone(),
            key_usage: spec.key_usage.clone(),
            extended_key_usage: spec.extended_key_usage.clone(),
            meta_data: None,
            meta_data_signature: None,
        };
        let fp = fingerprint(session.slot, &key.tsb_label, "csr", &alg, &body_of(&req)?);
        let out_fp = format!("{fp}:{}", spec.der);
        if let Some(o) = self.kept_output(session, &out_fp, cap) {
            return Ok(o);
        }
        let cap = cap.unwrap_or(0);
        let slot = &self.slots[session.slot];
        slot.check_access()?;
        let r = session.as_caller(|caller| slot.tsb.csr(&key, &req, caller));
        self.note_result(session, &r);
        self.deliver_pem(session, r?, spec.der, out_fp, cap)
    }

    /// TSB_SelfSignCertificate: the certificate is stored with the key on the TSB; returns the
    /// handle of the new certificate object.
    pub fn self_sign(
        &self,
        session: &Session,
        key: CK_OBJECT_HANDLE,
        spec: &CertSpec,
    ) -> Result<CK_OBJECT_HANDLE> {
        let (key, alg) = self.signing_key(session, key, &spec.signature_algorithm)?;
        let cn = spec
            .common_name
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Error::ck(CKR_ARGUMENTS_BAD, "commonName is required"))?;
        let req = SelfSignRequest {
            sign_key_name: key.tsb_label.clone(),
            key_password: None,
            validity: Some(validity(spec.validity_days)),
            signature_algorithm: alg.clone(),
            common_name: cn.clone(),
            certificate_authority: spec.certificate_authority,
            key_usage: spec.key_usage.clone(),
            extended_key_usage: spec.extended_key_usage.clone(),
            meta_data: None,
            meta_data_signature: None,
        };
        let slot = &self.slots[session.slot];
        slot.check_access()?;
        let r = session.as_caller(|caller| slot.tsb.self_sign(&key, &req, caller));
        self.note_result(session, &r);
        let cert = CertInfo::from_der(r?)
            .ok_or_else(|| Error::Transport("TSB returned an unreadable certificate".into()))?;
        slot.tsb
            .remember_certificate(&key.tsb_label, Arc::new(cert));
        Ok(self.handle_for(ObjRef {
            slot: slot.id,
            label: key.tsb_label.clone(),
            class: ObjClass::Certificate,
        }))
    }

    /// TSB_IssueCertificate: a certificate for `csr` (PEM or DER) signed by the CA key.
    pub fn issue_certificate(
        &self,
        session: &Session,
        ca_key: CK_OBJECT_HANDLE,
        csr: &[u8],
        spec: &CertSpec,
        cap: Option<usize>,
    ) -> Result<Output> {
        let (key, alg) = self.signing_key(session, ca_key, &spec.signature_algorithm)?;
        let csr_pem = csr_to_pem(csr)?;
        let req = SignCertificateRequest {
            sign_key_name: key.tsb_label.clone(),
            key_password: None,
            signature_algorithm: alg.clone(),
            common_name: spec.common_name.clone().filter(|c| !c.is_empty()),
            certificate_authority: spec.certificate_authority,
            certificate_signing_request: csr_pem,
            key_usage: spec.key_usage.clone(),
            extended_key_usage: spec.extended_key_usage.clone(),
            validity: Some(validity(spec.validity_days)),
            meta_data: None,
            meta_data_signature: None,
        };
        let fp = fingerprint(
            session.slot,
            &key.tsb_label,
            "certificate",
            &alg,
            &body_of(&req)?,
        );
        let out_fp = format!("{fp}:{}", spec.der);
        if let Some(o) = self.kept_output(session, &out_fp, cap) {
            return Ok(o);
        }
        let cap = cap.unwrap_or(0);
        let slot = &self.slots[session.slot];
        slot.check_access()?;
        let r = session.as_caller(|caller| slot.tsb.issue_certificate(&key, &req, caller));
        self.note_result(session, &r);
        self.deliver_pem(session, r?, spec.der, out_fp, cap)
    }

    /// TSB_GetRequestStatus.
    pub fn request_status(&self, session: &Session, id: &str) -> Result<RequestStatus> {
        let slot = &self.slots[session.slot];
        slot.check_access()?;
        slot.tsb.request_status(id)
    }

    /// TSB_CancelRequest.
    pub fn cancel_request(&self, session: &Session, id: &str) -> Result<()> {
        let slot = &self.slots[session.slot];
        slot.check_access()?;
        slot.tsb.cancel_request(id)
    }
}

/// Accept a CSR as PEM (either header) or DER; the TSB wants PEM.
pub fn csr_to_pem(csr: &[u8]) -> Result<String> {
    if let Ok(text) = std::str::from_utf8(csr) {
        let t = text.trim_matches(char::from(0)).trim();
        if t.starts_with("-----BEGIN") {
            return Ok(t.to_string() + "\n");
        }
    }
    if crate::der::read_tlv(csr)
        .map(|(t, rest)| t.tag == 0x30 && rest.is_empty())
        .unwrap_or(false)
    {
        let pem = crate::der::pem_encode("CERTIFICATE REQUEST", csr);
        return Ok(pem);
    }
    Err(Error::ck(
        CKR_ARGUMENTS_BAD,
        "the CSR is neither PEM nor DER",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_csr_forms() {
        assert_eq!(
            split_list(" digital_signature, CODE_SIGNING ,"),
            vec!["DIGITAL_SIGNATURE", "CODE_SIGNING"]
        );
        let pem = csr_to_pem(&[0x30, 0x03, 0x02, 0x01, 0x01]).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----\nMAMCAQE=\n"));
        assert!(csr_to_pem(b"junk").is_err());
        assert_eq!(csr_to_pem(b"-----BEGIN NEW CERTIFICATE REQUEST-----\nAA\n-----END NEW CERTIFICATE REQUEST-----").unwrap().lines().count(), 3);
    }
}
