//! CSRs and certificates (OpenSSL).
//!
//! INTERFACE CONTRACT (owned by the crypto work; the server code calls only these items).

use crate::crypto::{self, internal, CryptoError, KeyMaterial};
use base64::Engine as _;
use openssl::asn1::{Asn1Integer, Asn1Time, Asn1Type};
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKeyRef, Private};
use openssl::stack::Stack;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{
    X509Builder, X509Extension, X509Name, X509NameBuilder, X509Req, X509ReqBuilder, X509,
};
use tsb_models::algorithms::{self, Input, Scheme};
use tsb_models::StandardCertificateAttributes;

/// The armour the real TSB puts around CSRs.
const NEW_CSR_BEGIN: &str = "-----BEGIN NEW CERTIFICATE REQUEST-----";
const NEW_CSR_END: &str = "-----END NEW CERTIFICATE REQUEST-----";
/// The armour OpenSSL writes.
const CSR_BEGIN: &str = "-----BEGIN CERTIFICATE REQUEST-----";
const CSR_END: &str = "-----END CERTIFICATE REQUEST-----";

/// DER contents of the keyUsage / extendedKeyUsage extension OIDs (2.5.29.15 / 2.5.29.37).
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];

/// Build a PKCS#10 CSR, PEM with the header `-----BEGIN NEW CERTIFICATE REQUEST-----` like the
/// real TSB. Subject from every field of `subject` (CN as PrintableString where possible); an
/// extensionRequest with keyUsage (critical), extendedKeyUsage (critical) — each only when the list
/// is non-empty — and subjectKeyIdentifier. `signature_algorithm`: `SHA224/256/384/512_WITH_RSA`,
/// `SHA256/384/512_WITH_ECDSA`, `EDDSA` (and the `_PSS` RSA variants if easy). Usage names are the
/// TSB enums (`DIGITAL_SIGNATURE`, `CODE_SIGNING`, ...); a comma-joined single string is tolerated.
///
/// The `_PSS` variants are not supported (the `openssl` crate cannot set PSS parameters on a
/// request signature): they yield `AlgorithmNotSupportedByKey`. Unknown usage names and subject
/// values OpenSSL refuses yield `InvalidPayload`.
pub fn create_csr(
    key: &KeyMaterial,
    signature_algorithm: &str,
    subject: &StandardCertificateAttributes,
    key_usage: &[String],
    extended_key_usage: &[String],
) -> Result<String, CryptoError> {
    let md = signature_digest(&key.pkey, signature_algorithm)?;
    let name = subject_name(subject)?;
    let eku = extended_key_usage_ext(extended_key_usage, true)?;
    let ku = key_usage_ext(key_usage)?;

    let mut builder = X509ReqBuilder::new().map_err(internal)?;
    // PKCS#10 v1 is encoded as version 0.
    builder.set_version(0).map_err(internal)?;
    builder.set_subject_name(&name).map_err(internal)?;
    builder.set_pubkey(&key.pkey).map_err(internal)?;
    let ski = SubjectKeyIdentifier::new()
        .build(&builder.x509v3_context(None))
        .map_err(internal)?;
    // Same order as the TSB's own CSRs: EKU, KU, SKI.
    let mut exts = Stack::new().map_err(internal)?;
    for ext in [eku, ku, Some(ski)].into_iter().flatten() {
        exts.push(ext).map_err(internal)?;
    }
    builder.add_extensions(&exts).map_err(internal)?;
    builder.sign(&key.pkey, md).map_err(internal)?;
    let pem = builder.build().to_pem().map_err(internal)?;
    let pem = String::from_utf8(pem).map_err(|e| CryptoError::Internal(e.to_string()))?;
    Ok(pem
        .replace(CSR_BEGIN, NEW_CSR_BEGIN)
        .replace(CSR_END, NEW_CSR_END))
}

/// Self-signed certificate, PEM `-----BEGIN CERTIFICATE-----`; subject CN = `common_name`;
/// basicConstraints CA flag (critical) when `is_ca`; key usages as above (not critical for EKU);
/// subjectKeyIdentifier and authorityKeyIdentifier; random positive 16-byte serial;
/// notBefore = now, notAfter = now + `validity_days`.
///
/// notBefore is backdated by 60 s so that a verifier with a slightly late clock accepts the
/// certificate right away.
pub fn self_sign(
    key: &KeyMaterial,
    signature_algorithm: &str,
    common_name: &str,
    validity_days: u32,
    is_ca: bool,
    key_usage: &[String],
    extended_key_usage: &[String],
) -> Result<String, CryptoError> {
    let md = signature_digest(&key.pkey, signature_algorithm)?;
    let mut nb = X509NameBuilder::new().map_err(internal)?;
    append_text(&mut nb, Nid::COMMONNAME, common_name)?;
    let name = nb.build();
    let ku = key_usage_ext(key_usage)?;
    let eku = extended_key_usage_ext(extended_key_usage, false)?;

    let mut builder = cert_builder(&name, &name, &key.pkey, validity_days)?;
    if is_ca {
        builder
            .append_extension(
                BasicConstraints::new()
                    .critical()
                    .ca()
                    .build()
                    .map_err(internal)?,
            )
            .map_err(internal)?;
    }
    for ext in [ku, eku].into_iter().flatten() {
        builder.append_extension(ext).map_err(internal)?;
    }
    let ski = SubjectKeyIdentifier::new()
        .build(&builder.x509v3_context(None, None))
        .map_err(internal)?;
    builder.append_extension(ski).map_err(internal)?;
    // The issuer is the certificate itself: its SKI (appended above) becomes the AKI keyid.
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&builder.x509v3_context(None, None))
        .map_err(internal)?;
    builder.append_extension(aki).map_err(internal)?;
    builder.sign(&key.pkey, md).map_err(internal)?;
    cert_pem(builder.build())
}

/// Issue a certificate for `csr_pem` (either PEM header accepted; the CSR signature is verified)
/// with the CA key. Issuer = subject of `ca_cert_pem` when given, else CN=<ca_label>. Subject = the
/// CSR's subject, with CN replaced by `common_name` when given. Extensions: basicConstraints from
/// `is_ca`, key usages from the request or else copied from the CSR's extensionRequest, SKI, AKI.
/// `openssl verify -CAfile ca.pem cert.pem` must accept it when `ca_cert_pem` is the CA's cert.
///
/// Details: each of `key_usage` / `extended_key_usage` that is empty is replaced by the CSR's
/// requested extension of that kind (with the CSR's criticality); given lists produce a critical
/// keyUsage and a non-critical extendedKeyUsage as in `self_sign`. basicConstraints (critical,
/// CA:TRUE) is only added when `is_ca`. The AKI needs the CA certificate and is left out without
/// it. Errors: `InvalidCsr` (unparsable CSR or bad CSR signature), `InvalidPayload` (unparsable
/// CA certificate or one of another key, unknown usage names), `AlgorithmNotSupportedByKey` (algorithm vs. CA key).
#[allow(clippy::too_many_arguments)]
pub fn issue_from_csr(
    ca_key: &KeyMaterial,
    ca_cert_pem: Option<&str>,
    ca_label: &str,
    csr_pem: &str,
    signature_algorithm: &str,
    common_name: Option<&str>,
    is_ca: bool,
    key_usage: &[String],
    extended_key_usage: &[String],
    validity_days: u32,
) -> Result<String, CryptoError> {
    let md = signature_digest(&ca_key.pkey, signature_algorithm)?;
    let req = parse_csr(csr_pem)?;
    let req_key = req
        .public_key()
        .map_err(|e| CryptoError::InvalidCsr(format!("CSR public key: {e}")))?;
    if !req.verify(&req_key).unwrap_or(false) {
        return Err(CryptoError::InvalidCsr(
            "the CSR signature does not verify".into(),
        ));
    }
    let ca_cert = match ca_cert_pem {
        Some(pem) => {
            let der = certificate_to_der(pem)?;
            Some(
                X509::from_der(&der)
                    .map_err(|e| CryptoError::InvalidPayload(format!("CA certificate: {e}")))?,
            )
        }
        None => None,
    };
    if let Some(c) = &ca_cert {
        // A certificate of another key would yield certificates that never verify.
        let matches = c
            .public_key()
            .map(|k| k.public_eq(&ca_key.pkey))
            .unwrap_or(false);
        if !matches {
            return Err(CryptoError::InvalidPayload(
                "the CA certificate does not belong to the CA key".into(),
            ));
        }
    }
    let issuer = match &ca_cert {
        Some(c) => c.subject_name().to_owned().map_err(internal)?,
        None => {
            let mut nb = X509NameBuilder::new().map_err(internal)?;
            append_text(&mut nb, Nid::COMMONNAME, ca_label)?;
            nb.build()
        }
    };
    let subject = match common_name {
        Some(cn) => replace_common_name(req.subject_name(), cn)?,
        None => req.subject_name().to_owned().map_err(internal)?,
    };

    let ku = key_usage_ext(key_usage)?;
    let eku = extended_key_usage_ext(extended_key_usage, false)?;
    // Requested extensions, only consulted for the usage lists the request left empty.
    let requested = req.extensions().ok();

    let mut builder = cert_builder(&subject, &issuer, &req_key, validity_days)?;
    if is_ca {
        builder
            .append_extension(
                BasicConstraints::new()
                    .critical()
                    .ca()
                    .build()
                    .map_err(internal)?,
            )
            .map_err(internal)?;
    }
    for (given, oid) in [(ku, OID_KEY_USAGE), (eku, OID_EXT_KEY_USAGE)] {
        match given {
            Some(ext) => builder.append_extension(ext).map_err(internal)?,
            None => {
                let copied = requested
                    .iter()
                    .flat_map(|s| s.iter())
                    .find(|ext| ext.to_der().ok().as_deref().and_then(extension_oid) == Some(oid));
                if let Some(ext) = copied {
                    builder.append_extension2(ext).map_err(internal)?;
                }
            }
        }
    }
    let ski = SubjectKeyIdentifier::new()
        .build(&builder.x509v3_context(None, None))
        .map_err(internal)?;
    builder.append_extension(ski).map_err(internal)?;
    if let Some(ca) = &ca_cert {
        // keyid only (not "always"): a CA certificate without an SKI just yields no AKI keyid.
        if let Ok(aki) = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&builder.x509v3_context(Some(ca), None))
        {
            builder.append_extension(aki).map_err(internal)?;
        }
    }
    builder.sign(&ca_key.pkey, md).map_err(internal)?;
    cert_pem(builder.build())
}

/// PEM -> DER for a certificate (accepts base64 DER without armour too).
///
/// Anything that is not a parsable certificate is `InvalidPayload`.
pub fn certificate_to_der(cert: &str) -> Result<Vec<u8>, CryptoError> {
    let bad = |e: String| CryptoError::InvalidPayload(format!("certificate: {e}"));
    // PEM armour is ignored, as the TSB's base64 validator strips it (Securosys
    // `vault-code-executable-examples` `validation/tsb/Base64EncodedValidator.java`).
    let body = cert
        .replace("-----BEGIN CERTIFICATE-----", "")
        .replace("-----END CERTIFICATE-----", "");
    let der = decode_base64(&body).map_err(bad)?;
    let x509 = X509::from_der(&der).map_err(|e| bad(e.to_string()))?;
    x509.to_der().map_err(internal)
}

/// DER -> PEM `-----BEGIN CERTIFICATE-----` with 64-column lines.
///
/// The DER must parse as a certificate (`InvalidPayload` otherwise).
pub fn certificate_der_to_pem(der: &[u8]) -> Result<String, CryptoError> {
    let x509 = X509::from_der(der)
        .map_err(|e| CryptoError::InvalidPayload(format!("certificate: {e}")))?;
    cert_pem(x509)
}

/// Base64 with any whitespace (line breaks) removed.
fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| e.to_string())
}

fn cert_pem(cert: X509) -> Result<String, CryptoError> {
    let pem = cert.to_pem().map_err(internal)?;
    String::from_utf8(pem).map_err(|e| CryptoError::Internal(e.to_string()))
}

/// A CSR in PEM (either header) or bare base64 DER.
fn parse_csr(csr: &str) -> Result<X509Req, CryptoError> {
    let bad = |e: String| CryptoError::InvalidCsr(format!("CSR: {e}"));
    if csr.contains("-----BEGIN") {
        // OpenSSL reads the NEW armour too, but normalising keeps us independent of that.
        let pem = csr
            .replace(NEW_CSR_BEGIN, CSR_BEGIN)
            .replace(NEW_CSR_END, CSR_END);
        X509Req::from_pem(pem.as_bytes()).map_err(|e| bad(e.to_string()))
    } else {
        let der = decode_base64(csr).map_err(bad)?;
        X509Req::from_der(&der).map_err(|e| bad(e.to_string()))
    }
}

/// Digest for a certificate/CSR `signatureAlgorithm`
/// ([`algorithms::CERTIFICATE_SIGNATURE_ALGORITHMS`]), checked against the signing key's type.
fn signature_digest(key: &PKeyRef<Private>, algorithm: &str) -> Result<MessageDigest, CryptoError> {
    let unsupported = || {
        CryptoError::AlgorithmNotSupportedByKey(format!(
            "{algorithm} is not supported for certificates and CSRs"
        ))
    };
    let a = algorithms::certificate_signature_algorithm(algorithm).ok_or_else(unsupported)?;
    let (md, id) = match (a.scheme, a.input) {
        (Scheme::RsaPkcs1, Input::Hash(d)) => (crypto::message_digest(d), Id::RSA),
        (Scheme::Ecdsa, Input::Hash(d)) => (crypto::message_digest(d), Id::EC),
        // Ed25519 signs the message itself: OpenSSL wants "no digest" here.
        (Scheme::EdDsa, _) => (MessageDigest::null(), Id::ED25519),
        _ => return Err(unsupported()),
    };
    if key.id() != id {
        return Err(CryptoError::AlgorithmNotSupportedByKey(format!(
            "{algorithm} does not fit a {:?} key",
            key.id()
        )));
    }
    Ok(md)
}

/// Usage names from the request, tolerating `["A,B"]` and stray blanks.
fn usage_names(list: &[String]) -> Vec<String> {
    list.iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// keyUsage (always critical), None for an empty list.
fn key_usage_ext(list: &[String]) -> Result<Option<X509Extension>, CryptoError> {
    let names = usage_names(list);
    if names.is_empty() {
        return Ok(None);
    }
    let mut ku = KeyUsage::new();
    ku.critical();
    for name in &names {
        match name.as_str() {
            "DIGITAL_SIGNATURE" => ku.digital_signature(),
            "CONTENT_COMMITMENT" | "NON_REPUDIATION" => ku.non_repudiation(),
            "KEY_ENCIPHERMENT" => ku.key_encipherment(),
            "DATA_ENCIPHERMENT" => ku.data_encipherment(),
            "KEY_AGREEMENT" => ku.key_agreement(),
            "KEY_CERT_SIGN" => ku.key_cert_sign(),
            "CRL_SIGN" => ku.crl_sign(),
            "ENCIPHER_ONLY" => ku.encipher_only(),
            "DECIPHER_ONLY" => ku.decipher_only(),
            other => {
                return Err(CryptoError::InvalidPayload(format!(
                    "unknown key usage {other}"
                )))
            }
        };
    }
    ku.build().map(Some).map_err(internal)
}

/// extendedKeyUsage, None for an empty list.
fn extended_key_usage_ext(
    list: &[String],
    critical: bool,
) -> Result<Option<X509Extension>, CryptoError> {
    let names = usage_names(list);
    if names.is_empty() {
        return Ok(None);
    }
    let mut eku = ExtendedKeyUsage::new();
    if critical {
        eku.critical();
    }
    for name in &names {
        match name.as_str() {
            "ANY_EXTENDED_KEY_USAGE" => eku.other("anyExtendedKeyUsage"),
            "SERVER_AUTH" => eku.server_auth(),
            "CLIENT_AUTH" => eku.client_auth(),
            "CODE_SIGNING" => eku.code_signing(),
            "EMAIL_PROTECTION" => eku.email_protection(),
            "TIME_STAMPING" => eku.time_stamping(),
            "OCSP_SIGNING" => eku.other("OCSPSigning"),
            other => {
                return Err(CryptoError::InvalidPayload(format!(
                    "unknown extended key usage {other}"
                )))
            }
        };
    }
    eku.build().map(Some).map_err(internal)
}

/// PrintableString alphabet (X.680): letters, digits, space and `'()+,-./:=?`.
fn is_printable(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c))
}

/// Append a directory string: PrintableString when the value allows it (as the TSB encodes
/// its CN), UTF8String otherwise.
fn append_text(nb: &mut X509NameBuilder, nid: Nid, value: &str) -> Result<(), CryptoError> {
    let ty = if is_printable(value) {
        Asn1Type::PRINTABLESTRING
    } else {
        Asn1Type::UTF8STRING
    };
    nb.append_entry_by_nid_with_type(nid, value, ty)
        .map_err(|e| {
            CryptoError::InvalidPayload(format!("subject {}: {e}", nid.short_name().unwrap_or("?")))
        })
}

/// Subject DN from the TSB attributes, most significant RDN first (C, ST, L, O, ...), the
/// order a Java `X500Name` built from "CN=..., O=..., C=..." is encoded in; emailAddress last
/// as OpenSSL tools put it.
fn subject_name(s: &StandardCertificateAttributes) -> Result<X509Name, CryptoError> {
    fn present(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }
    let cn = Some(s.common_name.trim()).filter(|v| !v.is_empty());
    let mut nb = X509NameBuilder::new().map_err(internal)?;
    let fields: [(Nid, Option<&str>); 12] = [
        (Nid::COUNTRYNAME, present(&s.country)),
        (Nid::STATEORPROVINCENAME, present(&s.state_or_province_name)),
        (Nid::LOCALITYNAME, present(&s.locality)),
        (Nid::ORGANIZATIONNAME, present(&s.organization_name)),
        (Nid::UNDEF, present(&s.organization_identifier)),
        (
            Nid::ORGANIZATIONALUNITNAME,
            present(&s.organization_unit_name),
        ),
        (Nid::TITLE, present(&s.title)),
        (Nid::SURNAME, present(&s.surname)),
        (Nid::GIVENNAME, present(&s.given_name)),
        (Nid::INITIALS, present(&s.initials)),
        (Nid::GENERATIONQUALIFIER, present(&s.generation_qualifier)),
        (Nid::PSEUDONYM, present(&s.pseudonym)),
    ];
    for (nid, value) in fields {
        let Some(v) = value else { continue };
        if nid == Nid::UNDEF {
            // organizationIdentifier (2.5.4.97) has no constant in the openssl crate.
            let ty = if is_printable(v) {
                Asn1Type::PRINTABLESTRING
            } else {
                Asn1Type::UTF8STRING
            };
            nb.append_entry_by_text_with_type("2.5.4.97", v, ty)
                .map_err(|e| {
                    CryptoError::InvalidPayload(format!("subject organizationIdentifier: {e}"))
                })?;
        } else {
            append_text(&mut nb, nid, v)?;
        }
    }
    if let Some(cn) = cn {
        append_text(&mut nb, Nid::COMMONNAME, cn)?;
    }
    if let Some(email) = present(&s.email) {
        // emailAddress is an IA5String: ASCII only.
        if !email.is_ascii() {
            return Err(CryptoError::InvalidPayload(
                "subject email must be ASCII".into(),
            ));
        }
        nb.append_entry_by_nid_with_type(Nid::PKCS9_EMAILADDRESS, email, Asn1Type::IA5STRING)
            .map_err(|e| CryptoError::InvalidPayload(format!("subject emailAddress: {e}")))?;
    }
    Ok(nb.build())
}

/// Copy of `name` with its CN replaced by `cn` (appended when it has none).
fn replace_common_name(
    name: &openssl::x509::X509NameRef,
    cn: &str,
) -> Result<X509Name, CryptoError> {
    let mut nb = X509NameBuilder::new().map_err(internal)?;
    let mut replaced = false;
    for entry in name.entries() {
        if entry.object().nid() == Nid::COMMONNAME {
            if !replaced {
                append_text(&mut nb, Nid::COMMONNAME, cn)?;
                replaced = true;
            }
        } else {
            nb.append_entry(entry).map_err(internal)?;
        }
    }
    if !replaced {
        append_text(&mut nb, Nid::COMMONNAME, cn)?;
    }
    Ok(nb.build())
}

/// A v3 certificate skeleton: names, key, random serial, validity.
fn cert_builder<T: openssl::pkey::HasPublic>(
    subject: &X509Name,
    issuer: &X509Name,
    key: &PKeyRef<T>,
    validity_days: u32,
) -> Result<X509Builder, CryptoError> {
    let mut b = X509Builder::new().map_err(internal)?;
    // Version 3 is encoded as 2.
    b.set_version(2).map_err(internal)?;
    let serial = random_serial()?;
    b.set_serial_number(&serial).map_err(internal)?;
    b.set_subject_name(subject).map_err(internal)?;
    b.set_issuer_name(issuer).map_err(internal)?;
    b.set_pubkey(key).map_err(internal)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| CryptoError::Internal(e.to_string()))?
        .as_secs() as i64;
    let not_after = now.saturating_add(i64::from(validity_days).saturating_mul(86_400));
    let not_before = Asn1Time::from_unix(now - 60).map_err(internal)?;
    let not_after = Asn1Time::from_unix(not_after).map_err(internal)?;
    b.set_not_before(&not_before).map_err(internal)?;
    b.set_not_after(&not_after).map_err(internal)?;
    Ok(b)
}

/// 16 random bytes, top bit clear (positive), second-highest bit set so the DER INTEGER
/// always has exactly 16 bytes.
fn random_serial() -> Result<Asn1Integer, CryptoError> {
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes).map_err(internal)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    let bn = BigNum::from_slice(&bytes).map_err(internal)?;
    bn.to_asn1_integer().map_err(internal)
}

/// One DER TLV: (tag, contents, rest). Only what extension parsing needs (definite lengths).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The OID contents of a DER `Extension ::= SEQUENCE { extnID OID, ... }`.
fn extension_oid(der: &[u8]) -> Option<&[u8]> {
    let (tag, seq, _) = der_tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, oid, _) = der_tlv(seq)?;
    (tag == 0x06).then_some(oid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_reader_survives_garbage() {
        // Extension ::= SEQUENCE { OID 2.5.29.15, BOOLEAN TRUE, OCTET STRING {03 02 07 80} }
        let ku = [
            0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x01, 0x01, 0xff, 0x04, 0x04, 0x03, 0x02,
            0x07, 0x80,
        ];
        assert_eq!(extension_oid(&ku), Some(OID_KEY_USAGE));
        for cut in 0..ku.len() {
            assert_eq!(extension_oid(&ku[..cut]), None, "{cut}");
        }
        for junk in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 1, 2, 3, 4, 5],
            &[0x30, 0xff],
            &[0x04, 0x00],
            &[0x30, 0x02, 0x04, 0x00],
        ] {
            assert_eq!(extension_oid(junk), None);
        }
        let long = [0x30, 0x81, 0x05, 0x06, 0x03, 0x55, 0x1d, 0x25];
        assert_eq!(extension_oid(&long), Some(OID_EXT_KEY_USAGE));
    }

    #[test]
    fn usage_names_tolerate_commas_and_blanks() {
        let list = vec![
            "DIGITAL_SIGNATURE, key_cert_sign".to_string(),
            " ".to_string(),
            "CRL_SIGN,".to_string(),
        ];
        assert_eq!(
            usage_names(&list),
            ["DIGITAL_SIGNATURE", "KEY_CERT_SIGN", "CRL_SIGN"]
        );
        assert!(is_printable("Approver-Intermediate-SUB"));
        assert!(!is_printable("a@b"));
        assert!(!is_printable("Zürich"));
    }
}
