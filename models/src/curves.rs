//! Elliptic curves: the `curveOid` of EC and ED keys, with the names tools use for them and their
//! field sizes.
//!
//! Source of the OIDs the TSB accepts: `securosys-com/securosys-wiki`
//! `securosys/docs/TSB/3_Fundamentals/1_Key/Curve-Oid.md`; the TSB knows more
//! curves (secp224k1/r1, x962p239v1-3, brainpool, frp256v1) than this project supports. The name
//! aliases are those of OpenSSL, NIST and SEC 2; the field sizes those of SEC 2 / FIPS 186.

/// `curveOid` of Ed25519 keys (also their `algorithmOid`, RFC 8410).
pub const ED25519_OID: &str = "1.3.101.112";

/// The EC curves this project supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256, secp256r1, prime256v1.
    P256,
    /// NIST P-384, secp384r1.
    P384,
    /// NIST P-521, secp521r1.
    P521,
    /// secp256k1.
    Secp256k1,
}

impl Curve {
    /// Every supported curve.
    pub const ALL: [Curve; 4] = [Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1];

    /// The dotted OID (`curveOid`).
    pub fn oid(self) -> &'static str {
        match self {
            Curve::P256 => "1.2.840.10045.3.1.7",
            Curve::P384 => "1.3.132.0.34",
            Curve::P521 => "1.3.132.0.35",
            Curve::Secp256k1 => "1.3.132.0.10",
        }
    }

    /// From a dotted OID (surrounding blanks ignored).
    pub fn from_oid(oid: &str) -> Option<Curve> {
        let oid = oid.trim();
        Curve::ALL.into_iter().find(|c| c.oid() == oid)
    }

    /// The names the curve goes by (lower case).
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Curve::P256 => &["p-256", "p256", "prime256v1", "secp256r1", "nistp256"],
            Curve::P384 => &["p-384", "p384", "secp384r1", "nistp384"],
            Curve::P521 => &["p-521", "p521", "secp521r1", "nistp521"],
            Curve::Secp256k1 => &["secp256k1"],
        }
    }

    /// From a name as OpenSSL, NIST or SEC spell it (case-insensitive).
    pub fn from_name(name: &str) -> Option<Curve> {
        let name = name.trim().to_ascii_lowercase();
        Curve::ALL
            .into_iter()
            .find(|c| c.names().contains(&name.as_str()))
    }

    /// Field size in bytes (half an `r || s` signature, one coordinate of a point).
    pub fn field_len(self) -> usize {
        match self {
            Curve::P256 | Curve::Secp256k1 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    /// Field size in bits.
    pub fn bits(self) -> u32 {
        match self {
            Curve::P256 | Curve::Secp256k1 => 256,
            Curve::P384 => 384,
            Curve::P521 => 521,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_oids_and_sizes() {
        assert_eq!(Curve::from_name("prime256v1"), Some(Curve::P256));
        assert_eq!(Curve::from_name(" P-521 "), Some(Curve::P521));
        assert_eq!(Curve::from_name("brainpool256r1"), None);
        assert_eq!(Curve::from_oid("1.3.132.0.10"), Some(Curve::Secp256k1));
        assert_eq!(Curve::from_oid(ED25519_OID), None);
        for c in Curve::ALL {
            assert_eq!(Curve::from_oid(c.oid()), Some(c));
            for n in c.names() {
                assert_eq!(Curve::from_name(n), Some(c));
            }
            assert_eq!(c.field_len(), (c.bits() as usize).div_ceil(8));
        }
    }
}
