//! What the doctor shows of a TLS certificate: subject, issuer, validity and the names it is
//! issued for, read with the crate's DER reader (`crate::der`). Text from the certificate is
//! shown with control characters replaced: a certificate is data from the network.

use crate::der::{oid_to_string, read_tlv, Tlv};

/// The parts of a certificate the doctor shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertSummary {
    /// `CN=..., O=...`, in the order of the certificate.
    pub(crate) subject: String,
    /// The issuer's name, the same way.
    pub(crate) issuer: String,
    /// notBefore, seconds since the Unix epoch.
    pub(crate) not_before: i64,
    /// notAfter, seconds since the Unix epoch.
    pub(crate) not_after: i64,
    /// The subjectAltName entries it is valid for (`DNS:tsb.example`, `IP:10.0.0.1`).
    pub(crate) names: Vec<String>,
}

/// Read a DER certificate; None when it is not one.
pub(crate) fn summary(der: &[u8]) -> Option<CertSummary> {
    let (cert, _) = read_tlv(der)?;
    let (tbs, _) = read_tlv(cert.value)?;
    let mut fields = Vec::new();
    let mut rest = tbs.value;
    while let Some((t, r)) = read_tlv(rest) {
        fields.push(t);
        rest = r;
    }
    // [0] version is optional; then serial, signature, issuer, validity, subject, SPKI, and the
    // optional [1], [2], [3] (extensions).
    let skip = usize::from(fields.first()?.tag == 0xa0);
    let issuer = fields.get(skip + 2)?;
    let validity = fields.get(skip + 3)?;
    let subject = fields.get(skip + 4)?;
    let (nb, r) = read_tlv(validity.value)?;
    let (na, _) = read_tlv(r)?;
    let names = fields
        .iter()
        .skip(skip + 6)
        .find(|t| t.tag == 0xa3)
        .map(|ext| alt_names(ext.value))
        .unwrap_or_default();
    Some(CertSummary {
        subject: name_text(subject.value),
        issuer: name_text(issuer.value),
        not_before: time(nb)?,
        not_after: time(na)?,
        names,
    })
}

/// Short names of the usual attribute types.
fn attribute_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    })
}

/// A Name's contents as `CN=x, O=y`.
fn name_text(mut rdns: &[u8]) -> String {
    let mut parts = Vec::new();
    while let Some((set, r)) = read_tlv(rdns) {
        rdns = r;
        let mut atvs = set.value;
        while let Some((atv, r)) = read_tlv(atvs) {
            atvs = r;
            let Some((oid, r)) = read_tlv(atv.value) else {
                continue;
            };
            let Some(oid) = oid_to_string(oid.value) else {
                continue;
            };
            let value = read_tlv(r)
                .map(|(v, _)| string_value(&v))
                .unwrap_or_default();
            let ty = attribute_name(&oid).map(str::to_string).unwrap_or(oid);
            parts.push(format!("{ty}={value}"));
        }
    }
    if parts.is_empty() {
        "(empty)".into()
    } else {
        parts.join(", ")
    }
}

/// A directory string's text, control characters replaced.
fn string_value(v: &Tlv) -> String {
    let text = match v.tag {
        // BMPString: UTF-16BE.
        0x1e => {
            let units: Vec<u16> = v
                .value
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        // TeletexString: read as Latin-1, what it holds in practice.
        0x14 => v.value.iter().map(|b| char::from(*b)).collect(),
        _ => String::from_utf8_lossy(v.value).into_owned(),
    };
    printable(&text)
}

/// `s` with control characters (a terminal's escape sequences included) shown as `?`.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The subjectAltName entries among the extensions (`[3] { SEQUENCE OF Extension }`).
fn alt_names(ext: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let Some((list, _)) = read_tlv(ext) else {
        return out;
    };
    let mut rest = list.value;
    while let Some((e, r)) = read_tlv(rest) {
        rest = r;
        let Some((oid, mut body)) = read_tlv(e.value) else {
            continue;
        };
        if oid_to_string(oid.value).as_deref() != Some("2.5.29.17") {
            continue;
        }
        // An optional BOOLEAN (critical), then the OCTET STRING holding GeneralNames.
        while let Some((t, r)) = read_tlv(body) {
            body = r;
            if t.tag != 0x04 {
                continue;
            }
            let Some((names, _)) = read_tlv(t.value) else {
                continue;
            };
            let mut n = names.value;
            while let Some((g, r)) = read_tlv(n) {
                n = r;
                match g.tag {
                    0x82 => out.push(format!(
                        "DNS:{}",
                        printable(&String::from_utf8_lossy(g.value))
                    )),
                    0x87 => {
                        let ip = match g.value.len() {
                            4 => <[u8; 4]>::try_from(g.value)
                                .ok()
                                .map(|b| std::net::IpAddr::from(b).to_string()),
                            16 => <[u8; 16]>::try_from(g.value)
                                .ok()
                                .map(|b| std::net::IpAddr::from(b).to_string()),
                            _ => None,
                        };
                        if let Some(ip) = ip {
                            out.push(format!("IP:{ip}"));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950-2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as seconds
/// since the Unix epoch.
fn time(t: Tlv) -> Option<i64> {
    let s = std::str::from_utf8(t.value).ok()?.strip_suffix('Z')?;
    let (year, rest) = match t.tag {
        0x17 => {
            let yy: i64 = s.get(..2)?.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    if rest.len() != 10 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |i: usize| rest[i..i + 2].parse::<i64>().ok();
    let (month, day, h, m, sec) = (n(0)?, n(2)?, n(4)?, n(6)?, n(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm, the inverse
/// of the one in `crate::util::rfc3339`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch as an RFC 3339 date, for negative times too (shown as the epoch).
pub(crate) fn date(secs: i64) -> String {
    crate::util::rfc3339(u64::try_from(secs).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_with_util() {
        for secs in [0i64, 951_782_400, 1_790_000_000, 4_102_444_800] {
            let text = crate::util::rfc3339(secs as u64);
            // 2026-01-02T03:04:05Z -> 260102030405Z (UTCTime) and 20260102030405Z.
            let digits: String = text.chars().filter(|c| c.is_ascii_digit()).collect();
            let g = format!("{digits}Z");
            let gen = Tlv {
                tag: 0x18,
                raw: &[],
                value: g.as_bytes(),
            };
            assert_eq!(time(gen), Some(secs), "{text}");
            if (1950..2050).contains(&digits[..4].parse::<i32>().unwrap()) {
                let u = format!("{}Z", &digits[2..]);
                let utc = Tlv {
                    tag: 0x17,
                    raw: &[],
                    value: u.as_bytes(),
                };
                assert_eq!(time(utc), Some(secs), "{text}");
            }
        }
        let bad = Tlv {
            tag: 0x17,
            raw: &[],
            value: b"261399000000Z",
        };
        assert_eq!(time(bad), None);
    }

    /// A certificate made by OpenSSL (an implementation independent of this reader).
    #[test]
    fn reads_what_openssl_wrote() {
        use openssl::asn1::Asn1Time;
        use openssl::x509::extension::SubjectAlternativeName;
        let group =
            openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
        let key = openssl::pkey::PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap())
            .unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("C", "CH").unwrap();
        name.append_entry_by_text("O", "Example\nBank").unwrap();
        name.append_entry_by_text("CN", "tsb.example").unwrap();
        let name = name.build();
        let mut b = openssl::x509::X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        // 2001-09-09T01:46:40Z and 2050-01-01T00:00:00Z (GeneralizedTime from 2050 on).
        b.set_not_before(&Asn1Time::from_unix(1_000_000_000).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::from_unix(2_524_608_000).unwrap())
            .unwrap();
        let san = SubjectAlternativeName::new()
            .dns("tsb.example")
            .ip("10.0.0.1")
            .ip("::1")
            .build(&b.x509v3_context(None, None))
            .unwrap();
        b.append_extension(san).unwrap();
        b.sign(&key, openssl::hash::MessageDigest::sha256())
            .unwrap();
        let der = b.build().to_der().unwrap();
        let s = summary(&der).unwrap();
        assert_eq!(s.subject, "C=CH, O=Example?Bank, CN=tsb.example");
        assert_eq!(s.issuer, s.subject);
        assert_eq!((s.not_before, s.not_after), (1_000_000_000, 2_524_608_000));
        assert_eq!(s.names, ["DNS:tsb.example", "IP:10.0.0.1", "IP:::1"]);
        assert_eq!(summary(&der[..der.len() - 1]), None);
        assert_eq!(summary(b"not a certificate"), None);
    }

    #[test]
    fn control_characters_are_not_shown() {
        assert_eq!(printable("CN=a\u{1b}[31mb\n"), "CN=a?[31mb?");
    }
}
