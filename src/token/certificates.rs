//! The vendor extension's certificates (`include/tsb_pkcs11.h`): self-signed certificates, stored
//! with their key on the TSB, and certificates issued for a CSR with a CA key held in the TSB.
//! Approval-gated exactly like C_Sign (same wait, progress, resume and return codes), and never
//! sent twice: a length query is answered with an upper bound without a request, and a finished
//! result that did not fit is kept in the session for the retry. Also the path that CSRs share
//! ([`Module::produce`]).

use super::attributes::ObjClass;
use super::objects::ObjRef;
use super::operation::Output;
use super::results;
use super::session::Session;
use super::{Module, Slot};
use crate::error::{Error, Result};
use crate::mechanism::Family;
use crate::tsb::body_of;
use crate::tsb::key::{CertInfo, KeyInfo};
use crate::tsb::requests::{fingerprint, Caller};
use cryptoki_sys::*;
use std::sync::Arc;
use tsb_models::{SelfSignRequest, SignCertificateRequest};

/// A CSR or certificate to make on the TSB: what it is (for the fingerprint and the messages),
/// with which key and algorithm, the request body, and the output format asked for.
pub(crate) struct Document<'a> {
    pub(crate) what: &'a str,
    pub(crate) key: &'a KeyInfo,
    pub(crate) algorithm: &'a str,
    pub(crate) body: Vec<u8>,
    pub(crate) as_der: bool,
}

/// Certificate parameters (self-sign and issue).
#[derive(Debug, Clone, Default)]
pub(crate) struct CertSpec {
    /// TSB signature algorithm; None picks one by key type.
    pub(crate) signature_algorithm: Option<String>,
    /// Days; 0 = a year.
    pub(crate) validity_days: u32,
    /// Subject CN (issue: None keeps the CSR's).
    pub(crate) common_name: Option<String>,
    pub(crate) certificate_authority: bool,
    /// keyUsage names.
    pub(crate) key_usage: Vec<String>,
    /// extendedKeyUsage names.
    pub(crate) extended_key_usage: Vec<String>,
    /// DER instead of PEM (issue).
    pub(crate) der: bool,
}

/// The usual signature algorithm of CSRs and certificates for a key.
pub(crate) fn default_signature_algorithm(family: Family) -> &'static str {
    match family {
        Family::Rsa => tsb_models::algorithms::name::SHA256_WITH_RSA,
        Family::Ec => tsb_models::algorithms::name::SHA256_WITH_ECDSA,
        Family::Ed => tsb_models::algorithms::name::EDDSA,
        // Never sent: certificates with post-quantum keys are refused (`pqc::refuse_certificates`).
        Family::Pqc(f) => crate::mechanism::pqc::tsb_name(f),
    }
}

/// Validity in days; 0 asks for the default of a year.
pub(crate) fn validity(days: u32) -> u32 {
    if days == 0 {
        365
    } else {
        days
    }
}

/// Split comma-separated usage names, dropping blanks.
pub(crate) fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_ascii_uppercase())
        .filter(|x| !x.is_empty())
        .collect()
}

/// Accept a CSR as PEM (either header) or DER: the PEM the TSB wants, the CSR's public key
/// (DER SubjectPublicKeyInfo), which the issued certificate must carry, and its subject's CN.
pub(crate) fn read_csr(csr: &[u8]) -> Result<(String, Vec<u8>, Option<String>)> {
    let text = std::str::from_utf8(csr)
        .ok()
        .map(|t| t.trim_matches(char::from(0)).trim())
        .filter(|t| t.starts_with("-----BEGIN"));
    let der = match text {
        Some(t) => crate::der::pem_decode(t),
        None => Some(csr.to_vec()),
    };
    let cn = der.as_deref().and_then(crate::der::csr_common_name);
    let spki = der
        .as_deref()
        .and_then(crate::der::csr_public_key)
        .ok_or_else(|| {
            Error::ck(
                CKR_ARGUMENTS_BAD,
                "the CSR is not a PKCS#10 certification request (PEM or DER)",
            )
        })?;
    let pem = match text {
        Some(t) => t.to_string() + "\n",
        None => crate::der::pem_encode("CERTIFICATE REQUEST", csr),
    };
    Ok((pem, spki, cn))
}

/// The DER of a PEM from the TSB.
pub(crate) fn pem_to_der(pem: &str) -> Result<Vec<u8>> {
    crate::der::pem_decode(pem)
        .ok_or_else(|| Error::BadResult("the TSB returned a PEM that is not base64".into()))
}

impl Module {
    /// Serve a kept result, or answer a length query with the estimate; None = run it.
    pub(crate) fn kept_output(
        &self,
        session: &Session,
        fp: &str,
        cap: Option<usize>,
    ) -> Option<Output> {
        let mut st = session.state.lock();
        if let Some((kept_fp, bytes)) = st.kept_output.take() {
            if kept_fp == fp {
                let (o, keep) = Output::serve_kept(bytes, cap);
                st.kept_output = keep.map(|b| (kept_fp, b));
                return Some(o);
            }
            st.kept_output = Some((kept_fp, bytes));
        }
        match cap {
            None => Some(Output::Len(crate::vendor::TSB_OUTPUT_ESTIMATE)),
            Some(_) => None,
        }
    }

    /// What TSB_CreateCSR and TSB_IssueCertificate share: a kept result, or the estimate for
    /// a length query, without sending anything; otherwise `make` runs on the TSB and `check`
    /// verifies its result (the DER of the PEM it answers) before the result is delivered, or
    /// kept for the retry when it does not fit `cap`.
    pub(crate) fn produce(
        &self,
        session: &Session,
        doc: Document,
        cap: Option<usize>,
        make: impl FnOnce(&Slot, &Caller) -> Result<String>,
        check: impl FnOnce(&[u8]) -> Result<()>,
    ) -> Result<Output> {
        let key = doc.key;
        let fp = fingerprint(
            session.slot,
            &key.tsb_label,
            doc.what,
            doc.algorithm,
            &doc.body,
        );
        let fp = format!("{fp}:{}", doc.as_der);
        if let Some(o) = self.kept_output(session, &fp, cap) {
            return Ok(o);
        }
        let cap = cap.unwrap_or(0);
        let slot = self.slot_of(session);
        slot.check_access()?;
        let pem = session.as_caller(|caller| make(slot, caller))?;
        let checked = pem_to_der(&pem).and_then(|der| check(&der).map(|_| (pem, der)));
        let (pem, der) = self.log_refusal(session, key, doc.what, checked)?;
        let bytes = if doc.as_der { der } else { pem.into_bytes() };
        Ok(if bytes.len() > cap {
            let n = bytes.len();
            session.state.lock().kept_output = Some((fp, bytes));
            Output::TooSmall(n)
        } else {
            Output::Data(bytes)
        })
    }

    /// The private key behind `h`, which must be allowed to sign (CSRs and certificates are
    /// signatures) and not be blocked, and the signature algorithm to use with it.
    pub(crate) fn signing_key(
        &self,
        session: &Session,
        h: CK_OBJECT_HANDLE,
        algorithm: &Option<String>,
    ) -> Result<(Arc<KeyInfo>, String)> {
        let key = self.key_object(session, h, ObjClass::Private)?;
        super::pqc::refuse_certificates(&key)?;
        let Some(family) = key.public.family() else {
            return Err(Error::ck(
                CKR_KEY_TYPE_INCONSISTENT,
                format!("key {} is a secret key: no CSR or certificate", key.label),
            ));
        };
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
            .unwrap_or_else(|| default_signature_algorithm(family).into());
        Ok((key, alg))
    }

    /// TSB_SelfSignCertificate: the certificate is stored with the key on the TSB; returns the
    /// handle of the new certificate object.
    pub(crate) fn self_sign(
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
            signature_algorithm: alg,
            common_name: cn,
            certificate_authority: spec.certificate_authority,
            key_usage: spec.key_usage.clone(),
            extended_key_usage: spec.extended_key_usage.clone(),
            meta_data: None,
            meta_data_signature: None,
        };
        let slot = self.slot_of(session);
        slot.check_access()?;
        let der = session.as_caller(|caller| slot.tsb.self_sign(&key, &req, caller))?;
        let checked = CertInfo::from_der(der)
            .ok_or_else(|| Error::BadResult("an unreadable certificate".into()))
            .and_then(|cert| results::certificate(&cert, &key.spki, &key).map(|_| cert));
        let cert = self.log_refusal(session, &key, "self-signed certificate", checked)?;
        slot.tsb
            .remember_certificate(&key.tsb_label, Arc::new(cert));
        Ok(self.handle_for(ObjRef {
            slot: slot.id,
            label: key.tsb_label.clone(),
            class: ObjClass::Certificate,
        }))
    }

    /// TSB_IssueCertificate: a certificate for `csr` (PEM or DER) signed by the CA key.
    pub(crate) fn issue_certificate(
        &self,
        session: &Session,
        ca_key: CK_OBJECT_HANDLE,
        csr: &[u8],
        spec: &CertSpec,
        cap: Option<usize>,
    ) -> Result<Output> {
        let (key, alg) = self.signing_key(session, ca_key, &spec.signature_algorithm)?;
        let (csr_pem, subject, csr_cn) = read_csr(csr)?;
        // The issue-certificate DTO of every release up to 2.2.0 requires `commonName` and has
        // no `validity` (S3 `dto/tsb/request/SignCertificateRequestDto.java`, unknown properties
        // refused); only the newer DTO copies (S6, see `TsbVersion::has_newer_certificate_dtos`)
        // make the CN optional and take a validity. An unknown version gets the old shape, which
        // the newer DTO takes too.
        let newer = self
            .slot_of(session)
            .tsb
            .version()
            .is_some_and(|v| v.has_newer_certificate_dtos());
        let common_name = spec
            .common_name
            .clone()
            .filter(|c| !c.is_empty())
            .or(csr_cn);
        if common_name.is_none() && !newer {
            return Err(Error::user(
                CKR_ARGUMENTS_BAD,
                "the TSB needs a commonName for the certificate and the CSR's subject has none: \
                 give commonName",
            ));
        }
        if spec.validity_days != 0 && !newer {
            return Err(Error::user(
                CKR_ARGUMENTS_BAD,
                "this TSB sets the validity of issued certificates itself (no validity up to \
                 TSB 2.2.0): give validityDays 0 (or set tsb_version if the TSB is newer)",
            ));
        }
        let req = SignCertificateRequest {
            sign_key_name: key.tsb_label.clone(),
            key_password: None,
            signature_algorithm: alg,
            common_name,
            certificate_authority: spec.certificate_authority,
            certificate_signing_request: csr_pem,
            key_usage: spec.key_usage.clone(),
            extended_key_usage: spec.extended_key_usage.clone(),
            validity: newer.then(|| validity(spec.validity_days)),
            meta_data: None,
            meta_data_signature: None,
        };
        let doc = Document {
            what: "certificate",
            key: &key,
            algorithm: &req.signature_algorithm,
            body: body_of(&req)?,
            as_der: spec.der,
        };
        self.produce(
            session,
            doc,
            cap,
            |slot, caller| slot.tsb.issue_certificate(&key, &req, caller),
            |der| {
                let cert = CertInfo::from_der(der.to_vec())
                    .ok_or_else(|| Error::BadResult("an unreadable certificate".into()))?;
                results::certificate(&cert, &subject, &key)
            },
        )
    }
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
        // SEQUENCE { SEQUENCE { INTEGER 0, SEQUENCE {}, SEQUENCE { NULL } }, SEQUENCE { OID 1.2 },
        // BIT STRING 0 }: shaped like a CSR, its public key the SEQUENCE { NULL }.
        let der = [
            0x30, 0x14, 0x30, 0x09, 0x02, 0x01, 0x00, 0x30, 0x00, 0x30, 0x02, 0x05, 0x00, 0x30,
            0x03, 0x06, 0x01, 0x2a, 0x03, 0x02, 0x00, 0x00,
        ];
        let (pem, spki, cn) = read_csr(&der).unwrap();
        assert_eq!(cn, None);
        assert!(pem.starts_with(
            "-----BEGIN CERTIFICATE REQUEST-----\nMBQwCQIBADAAMAIFADADBgEqAwIAAA==\n"
        ));
        assert_eq!(spki, vec![0x30, 0x02, 0x05, 0x00]);
        let (again, _, _) =
            read_csr(pem.replace("CERTIFICATE", "NEW CERTIFICATE").as_bytes()).unwrap();
        assert!(again.starts_with("-----BEGIN NEW CERTIFICATE REQUEST-----"));
        assert_eq!(read_csr(b"junk").unwrap_err().rv(), CKR_ARGUMENTS_BAD);
        assert!(read_csr(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
    }
}
