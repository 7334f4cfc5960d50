//! The few DER structures the module reads or writes itself: X.509 fields for certificate
//! objects, ECDSA signatures (DER <-> r||s), DigestInfo, and OCTET STRING / OID wrappers.

/// One parsed TLV: tag, the full encoding, and the contents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    /// Tag byte (single-byte tags only, which is all these structures use).
    pub(crate) tag: u8,
    /// The whole TLV.
    pub(crate) raw: &'a [u8],
    /// The value.
    pub(crate) value: &'a [u8],
}

/// Read one TLV from the front of `input`; returns it and the rest.
pub(crate) fn read_tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)? as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *input.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    if end > input.len() {
        return None;
    }
    Some((
        Tlv {
            tag,
            raw: &input[..end],
            value: &input[hdr..end],
        },
        &input[end..],
    ))
}

/// Encode a length.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Encode a TLV.
pub(crate) fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    push_len(&mut out, value.len());
    out.extend_from_slice(value);
    out
}

/// DER OCTET STRING.
pub(crate) fn octet_string(v: &[u8]) -> Vec<u8> {
    tlv(0x04, v)
}

/// If `v` is a DER OCTET STRING, its contents.
pub(crate) fn unwrap_octet_string(v: &[u8]) -> Option<&[u8]> {
    let (t, rest) = read_tlv(v)?;
    (t.tag == 0x04 && rest.is_empty()).then_some(t.value)
}

/// Encode a dotted OID as DER.
pub(crate) fn oid(dotted: &str) -> Option<Vec<u8>> {
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(|a| a.parse().ok())
        .collect::<Option<_>>()?;
    if arcs.len() < 2 || arcs[0] > 2 {
        return None;
    }
    let mut body = Vec::new();
    let mut enc = |mut v: u64| {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        tmp.reverse();
        body.extend(tmp);
    };
    enc(arcs[0].checked_mul(40)?.checked_add(arcs[1])?);
    for a in &arcs[2..] {
        enc(*a);
    }
    Some(tlv(0x06, &body))
}

/// Decode DER OID contents (without tag/length) to dotted form.
pub(crate) fn oid_to_string(contents: &[u8]) -> Option<String> {
    let mut arcs = Vec::new();
    let mut v: u64 = 0;
    for (i, b) in contents.iter().enumerate() {
        v = v.checked_mul(128)? | (b & 0x7f) as u64;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = if v < 80 { v / 40 } else { 2 };
                arcs.push(first);
                arcs.push(v - first * 40);
            } else {
                arcs.push(v);
            }
            v = 0;
        } else if i == contents.len() - 1 {
            return None;
        }
    }
    Some(
        arcs.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` to fixed-width `r || s` (PKCS#11's ECDSA format).
pub(crate) fn ecdsa_der_to_raw(der: &[u8], field_len: usize) -> Option<Vec<u8>> {
    let (seq, rest) = read_tlv(der)?;
    if seq.tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (r, rest) = read_tlv(seq.value)?;
    let (s, rest) = read_tlv(rest)?;
    if r.tag != 0x02 || s.tag != 0x02 || !rest.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(2 * field_len);
    for int in [r.value, s.value] {
        let trimmed: &[u8] = {
            let skip = int.iter().take_while(|b| **b == 0).count();
            &int[skip..]
        };
        if trimmed.len() > field_len {
            return None;
        }
        out.extend(std::iter::repeat_n(0, field_len - trimmed.len()));
        out.extend_from_slice(trimmed);
    }
    Some(out)
}

/// Parse an X.509 certificate far enough for the PKCS#11 certificate attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertFields {
    /// DER of the serial number INTEGER (full TLV, as CKA_SERIAL_NUMBER wants).
    pub(crate) serial: Vec<u8>,
    /// DER of the issuer Name.
    pub(crate) issuer: Vec<u8>,
    /// DER of the subject Name.
    pub(crate) subject: Vec<u8>,
    /// DER SubjectPublicKeyInfo.
    pub(crate) spki: Vec<u8>,
}

/// Read serial, issuer, subject and SPKI from a DER certificate.
pub(crate) fn parse_certificate(der: &[u8]) -> Option<CertFields> {
    let (cert, rest) = read_tlv(der)?;
    if cert.tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (tbs, _) = read_tlv(cert.value)?;
    if tbs.tag != 0x30 {
        return None;
    }
    let mut cur = tbs.value;
    let (first, r) = read_tlv(cur)?;
    // Optional [0] EXPLICIT version.
    let (serial, r) = if first.tag == 0xa0 {
        read_tlv(r)?
    } else {
        (first, r)
    };
    cur = r;
    if serial.tag != 0x02 {
        return None;
    }
    let (_sig_alg, r) = read_tlv(cur)?;
    let (issuer, r) = read_tlv(r)?;
    let (_validity, r) = read_tlv(r)?;
    let (subject, r) = read_tlv(r)?;
    let (spki, _) = read_tlv(r)?;
    if issuer.tag != 0x30 || subject.tag != 0x30 || spki.tag != 0x30 {
        return None;
    }
    Some(CertFields {
        serial: serial.raw.to_vec(),
        issuer: issuer.raw.to_vec(),
        subject: subject.raw.to_vec(),
        spki: spki.raw.to_vec(),
    })
}

/// A signed structure (a certificate, a CSR): `SEQUENCE { signed, AlgorithmIdentifier,
/// BIT STRING }`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signed<'a> {
    /// The DER of what was signed (tbsCertificate, certificationRequestInfo), whole TLV.
    pub(crate) signed: Tlv<'a>,
    /// The contents of the signature algorithm's OBJECT IDENTIFIER.
    pub(crate) algorithm: &'a [u8],
    /// The signature bits (the BIT STRING without its unused-bits byte).
    pub(crate) signature: &'a [u8],
}

/// Split a signed structure into its parts; `None` unless it is exactly one such SEQUENCE.
pub(crate) fn read_signed(der: &[u8]) -> Option<Signed<'_>> {
    let (outer, rest) = read_tlv(der)?;
    if outer.tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (signed, r) = read_tlv(outer.value)?;
    let (alg, r) = read_tlv(r)?;
    let (bits, r) = read_tlv(r)?;
    if signed.tag != 0x30 || alg.tag != 0x30 || bits.tag != 0x03 || !r.is_empty() {
        return None;
    }
    let (oid, _) = read_tlv(alg.value)?;
    let (&unused, signature) = bits.value.split_first()?;
    if oid.tag != 0x06 || unused != 0 {
        return None;
    }
    Some(Signed {
        signed,
        algorithm: oid.value,
        signature,
    })
}

/// The DER SubjectPublicKeyInfo of a PKCS#10 certification request (RFC 2986:
/// `certificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, [0] attributes }`).
pub(crate) fn csr_public_key(der: &[u8]) -> Option<Vec<u8>> {
    let info = read_signed(der)?.signed;
    let (version, r) = read_tlv(info.value)?;
    let (subject, r) = read_tlv(r)?;
    let (spki, _) = read_tlv(r)?;
    (version.tag == 0x02 && subject.tag == 0x30 && spki.tag == 0x30).then(|| spki.raw.to_vec())
}

/// The subject's common name (2.5.4.3, the last one) of a PKCS#10 certification request, if it
/// has one as a UTF8String, PrintableString or IA5String.
pub(crate) fn csr_common_name(der: &[u8]) -> Option<String> {
    let info = read_signed(der)?.signed;
    let (_version, r) = read_tlv(info.value)?;
    let (subject, _) = read_tlv(r)?;
    let mut rdns = subject.value;
    let mut cn = None;
    while !rdns.is_empty() {
        let (set, rest) = read_tlv(rdns)?;
        rdns = rest;
        let mut atvs = set.value;
        while !atvs.is_empty() {
            let (atv, rest) = read_tlv(atvs)?;
            atvs = rest;
            let (oid, r) = read_tlv(atv.value)?;
            let (value, _) = read_tlv(r)?;
            if oid.tag == 0x06
                && oid.value == [0x55, 0x04, 0x03]
                && matches!(value.tag, 0x0c | 0x13 | 0x16)
            {
                cn = std::str::from_utf8(value.value).ok().map(str::to_string);
            }
        }
    }
    cn
}

/// The DER inside PEM armour (any label, or bare base64), tolerating missing padding.
pub(crate) fn pem_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(str::chars)
        .filter(|c| !c.is_whitespace())
        .collect();
    let b64 = &base64::engine::general_purpose::STANDARD;
    b64.decode(&body)
        .or_else(|_| {
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(body.trim_end_matches('='))
        })
        .ok()
}

/// `der` in PEM armour with `label` (e.g. "CERTIFICATE REQUEST"), 64 characters a line.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_round_trip() {
        let d = oid("1.2.840.10045.3.1.7").unwrap();
        assert_eq!(
            d,
            vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]
        );
        assert_eq!(oid_to_string(&d[2..]).unwrap(), "1.2.840.10045.3.1.7");
        assert_eq!(
            oid("1.3.101.112").unwrap(),
            vec![0x06, 0x03, 0x2b, 0x65, 0x70]
        );
    }

    #[test]
    fn ecdsa_conversion_pads_and_strips() {
        // r = 0x00ff.. (leading zero for sign), s = 0x01
        let der = [0x30, 0x07, 0x02, 0x02, 0x00, 0xff, 0x02, 0x01, 0x01];
        assert_eq!(
            ecdsa_der_to_raw(&der, 2).unwrap(),
            vec![0x00, 0xff, 0x00, 0x01]
        );
        assert!(ecdsa_der_to_raw(&der[..5], 2).is_none());
        assert!(ecdsa_der_to_raw(&[0x30, 0x80], 2).is_none());
    }

    #[test]
    fn long_lengths() {
        let v = vec![7u8; 300];
        let enc = tlv(0x04, &v);
        assert_eq!(&enc[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(unwrap_octet_string(&enc).unwrap(), &v[..]);
    }

    #[test]
    fn pem_round_trip() {
        let der = vec![0x30, 0x03, 0x02, 0x01, 0x01];
        let pem = pem_encode("CERTIFICATE REQUEST", &der);
        assert_eq!(
            pem,
            "-----BEGIN CERTIFICATE REQUEST-----\nMAMCAQE=\n-----END CERTIFICATE REQUEST-----\n"
        );
        assert_eq!(pem_decode(&pem), Some(der.clone()));
        assert_eq!(pem_decode("MAMCAQE"), Some(der));
        assert_eq!(pem_decode("-----BEGIN X-----\n!!\n-----END X-----"), None);
    }
}
