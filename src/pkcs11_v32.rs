//! The PKCS#11 3.2 constants and types of ML-DSA and SLH-DSA that `cryptoki-sys` 0.4 lacks,
//! declared here and nowhere else.
//!
//! Values: PKCS#11 Specification Version 3.2 (OASIS), as its header `pkcs11t.h` defines them
//! (§6.67 ML-DSA, §6.69 SLH-DSA; the names and structures in `oasis-tcs/pkcs11`
//! `working/doc/spec/ml_dsa.md`). The numbers were read from two independent copies of the 3.2
//! header: p11-kit's `common/pkcs11.h` ("CRYPTOKI_VERSION 3.2") and PyKCS11's `src/pykcs11.i`
//! (`/* CKK */`, `/* CKM */`, `/* CKP (ML-DSA) */`, `/* CKP (SLH-DSA) */`, `/* CKH (hedge type) */`
//! sections), which agree on every value below.
//!
//! They stay Rust-only: applications take them from their own 3.2 `pkcs11t.h`, and exporting
//! them in `include/tsb_pkcs11.h` (the vendor extension) would redefine the standard's macros
//! with different spellings.

use cryptoki_sys::{CK_ATTRIBUTE_TYPE, CK_BYTE_PTR, CK_KEY_TYPE, CK_MECHANISM_TYPE, CK_ULONG};
use tsb_models::{PqcFamily, PqcParameterSet};

/// CK_KEY_TYPE of ML-DSA keys (FIPS 204).
pub(crate) const CKK_ML_DSA: CK_KEY_TYPE = 0x4a;
/// CK_KEY_TYPE of SLH-DSA keys (FIPS 205).
pub(crate) const CKK_SLH_DSA: CK_KEY_TYPE = 0x4b;

/// The key's parameter set (`CK_ML_DSA_PARAMETER_SET_TYPE` / `CK_SLH_DSA_PARAMETER_SET_TYPE`, a
/// CK_ULONG); for key pair generation it is given in the public key's template.
pub(crate) const CKA_PARAMETER_SET: CK_ATTRIBUTE_TYPE = 0x61d;

/// ML-DSA key pair generation (no parameter).
pub(crate) const CKM_ML_DSA_KEY_PAIR_GEN: CK_MECHANISM_TYPE = 0x1c;
/// Pure ML-DSA (FIPS 204 Algorithm 2/3); optional parameter [`CK_SIGN_ADDITIONAL_CONTEXT`].
pub(crate) const CKM_ML_DSA: CK_MECHANISM_TYPE = 0x1d;
/// SLH-DSA key pair generation (no parameter).
pub(crate) const CKM_SLH_DSA_KEY_PAIR_GEN: CK_MECHANISM_TYPE = 0x2d;
/// Pure SLH-DSA (FIPS 205 Algorithm 22/24); optional parameter [`CK_SIGN_ADDITIONAL_CONTEXT`].
pub(crate) const CKM_SLH_DSA: CK_MECHANISM_TYPE = 0x2e;

/// `CK_ML_DSA_PARAMETER_SET_TYPE` values.
pub(crate) const CKP_ML_DSA_44: CK_ULONG = 1;
#[allow(missing_docs)]
pub(crate) const CKP_ML_DSA_65: CK_ULONG = 2;
#[allow(missing_docs)]
pub(crate) const CKP_ML_DSA_87: CK_ULONG = 3;

/// `CK_SLH_DSA_PARAMETER_SET_TYPE` values (note the interleaving: SHA2 and SHAKE alternate).
pub(crate) const CKP_SLH_DSA_SHA2_128S: CK_ULONG = 1;
#[allow(missing_docs)]
pub(crate) const CKP_SLH_DSA_SHAKE_128S: CK_ULONG = 2;
#[allow(missing_docs)]
pub(crate) const CKP_SLH_DSA_SHA2_128F: CK_ULONG = 3;
#[allow(missing_docs)]
pub(crate) const CKP_SLH_DSA_SHAKE_128F: CK_ULONG = 4;
#[allow(missing_docs)]
pub(crate) const CKP_SLH_DSA_SHA2_192S: CK_ULONG = 5;
#[allow(missing_docs)]
pub(crate) const CKP_SLH_DSA_SHAKE_192S: CK_ULONG = 6;
#[allow(missing_docs)]
pub(crate) const CKP_SLH_DSA_SHA2_192F: CK_ULONG = 7;
#[allow(missing_docs)]
pub(crate) const CKP_SLH_DSA_SHAKE_192F: CK_ULONG = 8;
#[allow(missing_docs)]
pub(crate) const CKP_SLH_DSA_SHA2_256S: CK_ULONG = 9;
#[allow(missing_docs)]
pub(crate) const CKP_SLH_DSA_SHAKE_256S: CK_ULONG = 0xa;
#[allow(missing_docs)]
pub(crate) const CKP_SLH_DSA_SHA2_256F: CK_ULONG = 0xb;
#[allow(missing_docs)]
pub(crate) const CKP_SLH_DSA_SHAKE_256F: CK_ULONG = 0xc;

/// `CK_HEDGE_TYPE`: the token may sign hedged or deterministically (the default).
pub(crate) const CKH_HEDGE_PREFERRED: CK_ULONG = 0;
/// `CK_HEDGE_TYPE`: a hedged signature or failure.
pub(crate) const CKH_HEDGE_REQUIRED: CK_ULONG = 1;
/// `CK_HEDGE_TYPE`: a deterministic signature or failure.
pub(crate) const CKH_DETERMINISTIC_REQUIRED: CK_ULONG = 2;

/// `CK_SIGN_ADDITIONAL_CONTEXT`, the optional parameter of CKM_ML_DSA and CKM_SLH_DSA:
/// `{ CK_HEDGE_TYPE hedgeVariant; CK_BYTE_PTR pContext; CK_ULONG ulContextLen; }`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_snake_case, non_camel_case_types)]
pub(crate) struct CK_SIGN_ADDITIONAL_CONTEXT {
    /// A `CKH_*` value.
    pub(crate) hedgeVariant: CK_ULONG,
    /// The context string (FIPS 204/205 `ctx`), NULL when empty.
    pub(crate) pContext: CK_BYTE_PTR,
    /// Its length: at most 255 bytes (FIPS 204 §5.2, FIPS 205 §10.2).
    pub(crate) ulContextLen: CK_ULONG,
}

/// Each parameter set's `CKP_*` value (within its family's `CK_*_PARAMETER_SET_TYPE`).
const PARAMETER_SETS: [(PqcParameterSet, CK_ULONG); 15] = [
    (PqcParameterSet::MlDsa44, CKP_ML_DSA_44),
    (PqcParameterSet::MlDsa65, CKP_ML_DSA_65),
    (PqcParameterSet::MlDsa87, CKP_ML_DSA_87),
    (PqcParameterSet::SlhDsaSha2_128s, CKP_SLH_DSA_SHA2_128S),
    (PqcParameterSet::SlhDsaShake128s, CKP_SLH_DSA_SHAKE_128S),
    (PqcParameterSet::SlhDsaSha2_128f, CKP_SLH_DSA_SHA2_128F),
    (PqcParameterSet::SlhDsaShake128f, CKP_SLH_DSA_SHAKE_128F),
    (PqcParameterSet::SlhDsaSha2_192s, CKP_SLH_DSA_SHA2_192S),
    (PqcParameterSet::SlhDsaShake192s, CKP_SLH_DSA_SHAKE_192S),
    (PqcParameterSet::SlhDsaSha2_192f, CKP_SLH_DSA_SHA2_192F),
    (PqcParameterSet::SlhDsaShake192f, CKP_SLH_DSA_SHAKE_192F),
    (PqcParameterSet::SlhDsaSha2_256s, CKP_SLH_DSA_SHA2_256S),
    (PqcParameterSet::SlhDsaShake256s, CKP_SLH_DSA_SHAKE_256S),
    (PqcParameterSet::SlhDsaSha2_256f, CKP_SLH_DSA_SHA2_256F),
    (PqcParameterSet::SlhDsaShake256f, CKP_SLH_DSA_SHAKE_256F),
];

/// CKA_PARAMETER_SET of a parameter set.
pub(crate) fn parameter_set_value(set: PqcParameterSet) -> CK_ULONG {
    PARAMETER_SETS
        .iter()
        .find(|(s, _)| *s == set)
        .map(|(_, v)| *v)
        .unwrap_or(CK_ULONG::MAX)
}

/// The parameter set of a family with this CKA_PARAMETER_SET value.
pub(crate) fn parameter_set(family: PqcFamily, value: CK_ULONG) -> Option<PqcParameterSet> {
    PARAMETER_SETS
        .iter()
        .find(|(s, v)| s.family() == family && *v == value)
        .map(|(s, _)| *s)
}

/// CKK_ML_DSA or CKK_SLH_DSA.
pub(crate) fn key_type(family: PqcFamily) -> CK_KEY_TYPE {
    match family {
        PqcFamily::MlDsa => CKK_ML_DSA,
        PqcFamily::SlhDsa => CKK_SLH_DSA,
    }
}

/// The key pair generation mechanism of a family.
pub(crate) fn key_pair_gen(family: PqcFamily) -> CK_MECHANISM_TYPE {
    match family {
        PqcFamily::MlDsa => CKM_ML_DSA_KEY_PAIR_GEN,
        PqcFamily::SlhDsa => CKM_SLH_DSA_KEY_PAIR_GEN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every parameter set has one value, unique within its family, and maps back.
    #[test]
    fn parameter_sets_round_trip() {
        for set in PqcParameterSet::ALL {
            let v = parameter_set_value(*set);
            assert_ne!(v, CK_ULONG::MAX, "{set:?}");
            assert_eq!(parameter_set(set.family(), v), Some(*set));
        }
        assert_eq!(parameter_set(PqcFamily::MlDsa, 4), None);
        assert_eq!(parameter_set(PqcFamily::MlDsa, 0), None);
        assert_eq!(parameter_set(PqcFamily::SlhDsa, 0xd), None);
        // The SHA2/SHAKE interleaving of the 3.2 header, not the OID order.
        assert_eq!(
            parameter_set(PqcFamily::SlhDsa, 2),
            Some(PqcParameterSet::SlhDsaShake128s)
        );
    }
}
