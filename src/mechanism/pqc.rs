//! CKM_ML_DSA and CKM_SLH_DSA (PKCS#11 3.2 §6.67, §6.69; constants in `crate::pkcs11_v32`): the
//! pure signatures, their optional CK_SIGN_ADDITIONAL_CONTEXT, the TSB's names for them, and
//! which TSB versions have them.
//!
//! The TSB names are `ML_DSA` and `SLH_DSA` (S1 `sign_test.go` @8b8418a6, S3
//! `enums/tsb/SignatureAlgorithm.java` @08bfdf25), known from TSB 2.2.0
//! (`tsb_models::algorithms::signature_algorithm_since`). The pre-hash variants
//! (`CKM_HASH_ML_DSA*`, `SHA2_256_WITH_ML_DSA`, ...) are not offered.

use super::{MechParams, MechRow, SignScheme};
use crate::error::{Error, Result};
use crate::pkcs11_v32::*;
use cryptoki_sys::*;
use tsb_models::algorithms::{self, name};
use tsb_models::{PqcFamily, PqcParameterSet, TsbVersion};

/// The longest context FIPS 204 (§5.2) and FIPS 205 (§10.2) allow.
pub(crate) const MAX_CONTEXT: usize = 255;

/// A signature's context string (FIPS 204/205 `ctx`), at most [`MAX_CONTEXT`] bytes. Held inline
/// so the sign scheme stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Context {
    len: u8,
    bytes: [u8; MAX_CONTEXT],
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Context({} bytes)", self.len)
    }
}

impl Context {
    /// No context (the empty string).
    pub(crate) const EMPTY: Context = Context {
        len: 0,
        bytes: [0; MAX_CONTEXT],
    };

    /// A context of at most [`MAX_CONTEXT`] bytes.
    pub(crate) fn new(ctx: &[u8]) -> Option<Context> {
        let len = u8::try_from(ctx.len()).ok()?;
        let mut bytes = [0; MAX_CONTEXT];
        bytes[..ctx.len()].copy_from_slice(ctx);
        Some(Context { len, bytes })
    }

    /// The bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The family a CKM_ML_DSA / CKM_SLH_DSA (or its key pair generation) is for.
pub(crate) fn family_of(mech: CK_MECHANISM_TYPE) -> Option<PqcFamily> {
    match mech {
        CKM_ML_DSA | CKM_ML_DSA_KEY_PAIR_GEN => Some(PqcFamily::MlDsa),
        CKM_SLH_DSA | CKM_SLH_DSA_KEY_PAIR_GEN => Some(PqcFamily::SlhDsa),
        _ => None,
    }
}

/// The family CKM_ML_DSA_KEY_PAIR_GEN / CKM_SLH_DSA_KEY_PAIR_GEN generates.
pub(crate) fn key_pair_gen_family(mech: CK_MECHANISM_TYPE) -> Option<PqcFamily> {
    match mech {
        CKM_ML_DSA_KEY_PAIR_GEN | CKM_SLH_DSA_KEY_PAIR_GEN => family_of(mech),
        _ => None,
    }
}

/// The sign scheme of CKM_ML_DSA / CKM_SLH_DSA with its parameter, None for other mechanisms.
///
/// PKCS#11 3.2: without a parameter the hedge variant is CKH_HEDGE_PREFERRED and the context
/// empty. `signing`: on verification the hedge variant is ignored (§6.67.5). On signing, what the
/// TSB does is not documented (the emulator hedges): CKH_HEDGE_PREFERRED is honoured whatever it
/// does, CKH_HEDGE_REQUIRED and CKH_DETERMINISTIC_REQUIRED cannot be promised and are refused.
pub(crate) fn sign_scheme(
    mech: CK_MECHANISM_TYPE,
    params: &MechParams,
    signing: bool,
) -> Option<Result<SignScheme>> {
    let family = match mech {
        CKM_ML_DSA | CKM_SLH_DSA => family_of(mech)?,
        _ => return None,
    };
    let invalid = |m: String| Error::ck(CKR_MECHANISM_PARAM_INVALID, m);
    Some(match params {
        MechParams::None => Ok(SignScheme::Pqc {
            family,
            context: Context::EMPTY,
        }),
        MechParams::SignContext { hedge, context } => {
            if signing && *hedge != CKH_HEDGE_PREFERRED {
                let what = match *hedge {
                    CKH_HEDGE_REQUIRED => "CKH_HEDGE_REQUIRED",
                    CKH_DETERMINISTIC_REQUIRED => "CKH_DETERMINISTIC_REQUIRED",
                    _ => "an unknown hedgeVariant",
                };
                return Some(Err(invalid(format!(
                    "{what}: no source says whether the TSB signs hedged or deterministically, so \
                     only CKH_HEDGE_PREFERRED can be honoured"
                ))));
            }
            match Context::new(context) {
                Some(context) => Ok(SignScheme::Pqc { family, context }),
                None => Err(invalid(format!(
                    "a context of {} bytes: FIPS 204/205 allow at most {MAX_CONTEXT}",
                    context.len()
                ))),
            }
        }
        _ => Err(invalid(
            "CKM_ML_DSA / CKM_SLH_DSA take a CK_SIGN_ADDITIONAL_CONTEXT or no parameter".into(),
        )),
    })
}

/// The TSB's `signatureAlgorithm` of a pure signature of this family.
pub(crate) fn tsb_name(family: PqcFamily) -> &'static str {
    match family {
        PqcFamily::MlDsa => name::ML_DSA,
        PqcFamily::SlhDsa => name::SLH_DSA,
    }
}

/// Whether TSB `v` signs with this family ([`algorithms::is_known_signature_algorithm_in`]) and
/// creates its keys ([`PqcParameterSet::since`]).
pub(crate) fn supported_in(family: PqcFamily, v: TsbVersion) -> bool {
    algorithms::is_known_signature_algorithm_in(tsb_name(family), v)
        && PqcParameterSet::ALL
            .iter()
            .any(|p| p.family() == family && p.since() <= v)
}

/// Whether a slot whose configured TSB version is `v` lists `mech`: every classical mechanism,
/// and the post-quantum ones where `v` has them. An unknown version (none configured; the list
/// must not ask the TSB) lists them: the TSB decides when a key is made (see README, "Post-quantum
/// signatures").
pub(crate) fn listed(mech: CK_MECHANISM_TYPE, v: Option<TsbVersion>) -> bool {
    match (family_of(mech), v) {
        (Some(f), Some(v)) => supported_in(f, v),
        _ => true,
    }
}

/// Smallest and largest public key (bytes) of a family: `ulMinKeySize`/`ulMaxKeySize` of its
/// mechanisms are public key sizes in bytes (PKCS#11 3.2 §6.67.4, §6.67.5).
const fn key_bytes(family: PqcFamily) -> (CK_ULONG, CK_ULONG) {
    match family {
        PqcFamily::MlDsa => (1312, 2592),
        PqcFamily::SlhDsa => (32, 64),
    }
}

const ML: (CK_ULONG, CK_ULONG) = key_bytes(PqcFamily::MlDsa);
const SLH: (CK_ULONG, CK_ULONG) = key_bytes(PqcFamily::SlhDsa);

/// The mechanism table's post-quantum rows.
pub(crate) const ROWS: [MechRow; 4] = [
    MechRow {
        mech: CKM_ML_DSA_KEY_PAIR_GEN,
        min: ML.0,
        max: ML.1,
        flags: CKF_GENERATE_KEY_PAIR,
    },
    MechRow {
        mech: CKM_ML_DSA,
        min: ML.0,
        max: ML.1,
        flags: CKF_SIGN | CKF_VERIFY,
    },
    MechRow {
        mech: CKM_SLH_DSA_KEY_PAIR_GEN,
        min: SLH.0,
        max: SLH.1,
        flags: CKF_GENERATE_KEY_PAIR,
    },
    MechRow {
        mech: CKM_SLH_DSA,
        min: SLH.0,
        max: SLH.1,
        flags: CKF_SIGN | CKF_VERIFY,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sizes_are_the_parameter_sets() {
        for f in [PqcFamily::MlDsa, PqcFamily::SlhDsa] {
            let lens: Vec<CK_ULONG> = PqcParameterSet::ALL
                .iter()
                .filter(|p| p.family() == f)
                .map(|p| p.public_key_len() as CK_ULONG)
                .collect();
            assert_eq!(
                key_bytes(f),
                (*lens.iter().min().unwrap(), *lens.iter().max().unwrap())
            );
        }
    }

    #[test]
    fn versions() {
        assert!(!supported_in(PqcFamily::MlDsa, TsbVersion::V2_1_1));
        assert!(supported_in(PqcFamily::MlDsa, TsbVersion::V2_2_0));
        assert!(supported_in(PqcFamily::SlhDsa, TsbVersion::V2_2_0));
        assert!(!listed(CKM_SLH_DSA, Some(TsbVersion::V2_1_1)));
        assert!(listed(CKM_SLH_DSA, None));
        assert!(listed(CKM_ECDSA, Some(TsbVersion::V1_18_0)));
    }

    #[test]
    fn parameters() {
        let p = |hedge, context: &[u8]| MechParams::SignContext {
            hedge,
            context: context.to_vec(),
        };
        let ok = sign_scheme(CKM_ML_DSA, &p(CKH_HEDGE_PREFERRED, b"ctx"), true).unwrap();
        match ok.unwrap() {
            SignScheme::Pqc { family, context } => {
                assert_eq!(family, PqcFamily::MlDsa);
                assert_eq!(context.as_slice(), b"ctx");
            }
            other => panic!("{other:?}"),
        }
        let long = p(CKH_HEDGE_PREFERRED, &[7; 256]);
        let e = sign_scheme(CKM_SLH_DSA, &long, true).unwrap().unwrap_err();
        assert_eq!(e.rv(), CKR_MECHANISM_PARAM_INVALID);
        assert!(
            sign_scheme(CKM_SLH_DSA, &p(CKH_HEDGE_PREFERRED, &[7; 255]), true)
                .unwrap()
                .is_ok()
        );
        for hedge in [CKH_HEDGE_REQUIRED, CKH_DETERMINISTIC_REQUIRED, 9] {
            let e = sign_scheme(CKM_ML_DSA, &p(hedge, b""), true)
                .unwrap()
                .unwrap_err();
            assert_eq!(e.rv(), CKR_MECHANISM_PARAM_INVALID);
            // Verification ignores the hedge variant.
            assert!(sign_scheme(CKM_ML_DSA, &p(hedge, b""), false)
                .unwrap()
                .is_ok());
        }
        assert!(sign_scheme(CKM_ECDSA, &MechParams::None, true).is_none());
        let e = sign_scheme(CKM_ML_DSA, &MechParams::Other(3), true)
            .unwrap()
            .unwrap_err();
        assert_eq!(e.rv(), CKR_MECHANISM_PARAM_INVALID);
    }
}
