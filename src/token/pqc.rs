//! ML-DSA and SLH-DSA keys as PKCS#11 3.2 objects (constants in `crate::pkcs11_v32`), their
//! local verification, their key pair templates, and what the module refuses for them.
//!
//! - Objects: CKK_ML_DSA / CKK_SLH_DSA, CKA_PARAMETER_SET on both halves, CKA_VALUE on the public
//!   key (the raw FIPS 204 / FIPS 205 public key, PKCS#11 3.2 §6.67.2), CKA_PUBLIC_KEY_INFO the
//!   SubjectPublicKeyInfo the TSB returns (the parameter set's OID, no parameters: RFC 9881,
//!   RFC 9909), CKA_ID as for every key (`tsb::key::KeyInfo::id`).
//! - Verification (C_Verify, and every signature the TSB returns) with the `fips204` / `fips205`
//!   crates; the tests check the module's signatures with RustCrypto's `ml-dsa` / `slh-dsa`.
//! - Certificates: no source shows a CSR, self-signed or issued certificate with a PQC key (the
//!   certificate algorithms, S3/S6 `KeytoolSignatureAlgorithm`, have no PQC name; S1
//!   `SUPPORTED_CERTIFICATE_SIGN_KEYS` is `["RSA"]`), so the vendor functions refuse them.

use super::attributes::{ulong_val, AttrValue};
use crate::error::{Error, Result};
use crate::log::Level;
use crate::pkcs11_v32::{self, CKA_PARAMETER_SET};
use crate::tsb::key::{KeyInfo, PublicKey};
use cryptoki_sys::*;
use tsb_models::{PqcFamily, PqcParameterSet, TsbVersion};

/// The attributes a post-quantum key has beyond the common ones; None: not one of them (or not
/// a post-quantum key).
pub(crate) fn attribute(p: &PublicKey, ty: CK_ATTRIBUTE_TYPE, private: bool) -> Option<AttrValue> {
    let PublicKey::Pqc { set, key } = p else {
        return None;
    };
    match ty {
        CKA_PARAMETER_SET => Some(ulong_val(pkcs11_v32::parameter_set_value(*set))),
        CKA_VALUE if !private => Some(AttrValue::Value(key.clone())),
        _ => None,
    }
}

macro_rules! verify_with {
    ($krate:ident, $m:ident, $key:expr, $msg:expr, $sig:expr, $ctx:expr) => {{
        use $krate::traits::{SerDes as _, Verifier as _};
        let Ok(bytes) = <[u8; $krate::$m::PK_LEN]>::try_from($key) else {
            return false;
        };
        let Ok(pk) = $krate::$m::PublicKey::try_from_bytes(bytes) else {
            return false;
        };
        let Ok(sig) = <[u8; $krate::$m::SIG_LEN]>::try_from($sig) else {
            return false;
        };
        pk.verify($msg, &sig, $ctx)
    }};
}

/// Whether `sig` is a pure ML-DSA / SLH-DSA signature of `msg` with context `ctx` by the raw
/// public key `key` of parameter set `set`.
pub(crate) fn verify(set: PqcParameterSet, key: &[u8], msg: &[u8], ctx: &[u8], sig: &[u8]) -> bool {
    use PqcParameterSet::*;
    match set {
        MlDsa44 => verify_with!(fips204, ml_dsa_44, key, msg, sig, ctx),
        MlDsa65 => verify_with!(fips204, ml_dsa_65, key, msg, sig, ctx),
        MlDsa87 => verify_with!(fips204, ml_dsa_87, key, msg, sig, ctx),
        SlhDsaSha2_128s => verify_with!(fips205, slh_dsa_sha2_128s, key, msg, sig, ctx),
        SlhDsaSha2_128f => verify_with!(fips205, slh_dsa_sha2_128f, key, msg, sig, ctx),
        SlhDsaSha2_192s => verify_with!(fips205, slh_dsa_sha2_192s, key, msg, sig, ctx),
        SlhDsaSha2_192f => verify_with!(fips205, slh_dsa_sha2_192f, key, msg, sig, ctx),
        SlhDsaSha2_256s => verify_with!(fips205, slh_dsa_sha2_256s, key, msg, sig, ctx),
        SlhDsaSha2_256f => verify_with!(fips205, slh_dsa_sha2_256f, key, msg, sig, ctx),
        SlhDsaShake128s => verify_with!(fips205, slh_dsa_shake_128s, key, msg, sig, ctx),
        SlhDsaShake128f => verify_with!(fips205, slh_dsa_shake_128f, key, msg, sig, ctx),
        SlhDsaShake192s => verify_with!(fips205, slh_dsa_shake_192s, key, msg, sig, ctx),
        SlhDsaShake192f => verify_with!(fips205, slh_dsa_shake_192f, key, msg, sig, ctx),
        SlhDsaShake256s => verify_with!(fips205, slh_dsa_shake_256s, key, msg, sig, ctx),
        SlhDsaShake256f => verify_with!(fips205, slh_dsa_shake_256f, key, msg, sig, ctx),
    }
}

/// The parameter set a key pair template asks for: CKA_PARAMETER_SET of the public key's
/// template (PKCS#11 3.2 §6.67.4: "as specified in the CKA_PARAMETER_SET attribute of the
/// template for the public key"; the private template may repeat it, and must then agree).
/// Missing: CKR_TEMPLATE_INCOMPLETE; not a parameter set of the family: CKR_ATTRIBUTE_VALUE_INVALID.
pub(crate) fn parameter_set(
    family: PqcFamily,
    public: Option<CK_ULONG>,
    private: Option<CK_ULONG>,
) -> Result<PqcParameterSet> {
    let value = match (public, private) {
        (Some(a), Some(b)) if a != b => {
            return Err(Error::ck(
                CKR_TEMPLATE_INCONSISTENT,
                "CKA_PARAMETER_SET differs between the templates",
            ))
        }
        (Some(v), _) | (None, Some(v)) => v,
        (None, None) => {
            return Err(Error::ck(
                CKR_TEMPLATE_INCOMPLETE,
                "CKA_PARAMETER_SET is required in the public key template (CKP_ML_DSA_44, ...)",
            ))
        }
    };
    pkcs11_v32::parameter_set(family, value).ok_or_else(|| {
        Error::ck(
            CKR_ATTRIBUTE_VALUE_INVALID,
            format!("CKA_PARAMETER_SET {value} is not a {family:?} parameter set"),
        )
    })
}

/// A post-quantum key pair is refused, before anything is sent, on a TSB known to be older than
/// the version that has its algorithms (2.2.0, S2 release notes; `PqcParameterSet::since`).
pub(crate) fn check_version(set: PqcParameterSet, version: Option<TsbVersion>) -> Result<()> {
    match version {
        Some(v) if v < set.since() => Err(Error::user(
            CKR_MECHANISM_INVALID,
            format!(
                "TSB {v} has no {} keys (post-quantum keys need TSB {} or later); set the slot's \
                 tsb_version if this is wrong",
                set.name(),
                set.since()
            ),
        )),
        _ => Ok(()),
    }
}

/// The vendor certificate functions (CSR, self-signed, issued) refuse post-quantum keys: no
/// published source shows the TSB making one (see the module docs).
pub(crate) fn refuse_certificates(key: &KeyInfo) -> Result<()> {
    if let PublicKey::Pqc { set, .. } = &key.public {
        crate::log!(
            Level::Debug,
            "a certificate operation with {} key {} is refused before any request",
            set.name(),
            key.tsb_label
        );
        return Err(Error::user(
            CKR_KEY_TYPE_INCONSISTENT,
            format!(
                "key {} is an {} key: no published TSB source shows a CSR or certificate made with \
                 a post-quantum key, so the module does not ask for one",
                key.label,
                set.name()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fips204::traits::{SerDes as _, Signer as _};

    #[test]
    fn verifies_what_fips204_signs_and_nothing_else() {
        let (pk, sk) = fips204::ml_dsa_44::try_keygen().unwrap();
        let pk = pk.into_bytes();
        let sig = sk.try_sign(b"message", b"ctx").unwrap();
        let set = PqcParameterSet::MlDsa44;
        assert!(verify(set, &pk, b"message", b"ctx", &sig));
        assert!(!verify(set, &pk, b"message", b"", &sig));
        assert!(!verify(set, &pk, b"massage", b"ctx", &sig));
        assert!(!verify(set, &pk, b"message", b"ctx", &sig[1..]));
        assert!(!verify(set, &pk[1..], b"message", b"ctx", &sig));
        assert!(!verify(
            PqcParameterSet::MlDsa65,
            &pk,
            b"message",
            b"ctx",
            &sig
        ));
    }

    #[test]
    fn template_parameter_sets() {
        let ml = PqcFamily::MlDsa;
        assert_eq!(
            parameter_set(ml, Some(pkcs11_v32::CKP_ML_DSA_65), None).unwrap(),
            PqcParameterSet::MlDsa65
        );
        assert_eq!(
            parameter_set(ml, None, None).unwrap_err().rv(),
            CKR_TEMPLATE_INCOMPLETE
        );
        assert_eq!(
            parameter_set(ml, Some(7), None).unwrap_err().rv(),
            CKR_ATTRIBUTE_VALUE_INVALID
        );
        assert_eq!(
            parameter_set(ml, Some(1), Some(2)).unwrap_err().rv(),
            CKR_TEMPLATE_INCONSISTENT
        );
        assert!(check_version(PqcParameterSet::MlDsa44, Some(TsbVersion::V2_1_1)).is_err());
        assert!(check_version(PqcParameterSet::MlDsa44, Some(TsbVersion::V2_2_0)).is_ok());
        assert!(check_version(PqcParameterSet::MlDsa44, None).is_ok());
    }
}
