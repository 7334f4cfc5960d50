//! The second ML-DSA / SLH-DSA implementation of the tests: RustCrypto's `ml-dsa` and `slh-dsa`
//! (other authors than the `fips204` / `fips205` crates the emulator signs and the module
//! verifies with). Included by path where needed (not from `common`: its generic code would be
//! compiled into every test binary), also by the emulator's `tests/pqc.rs`.

use tsb_models::PqcParameterSet;

/// Whether `sig` is a pure signature of `msg` with context `ctx` by the raw public key `pk`.
/// Wired for the parameter sets the tests sign with.
pub fn rustcrypto_verifies(
    set: PqcParameterSet,
    pk: &[u8],
    msg: &[u8],
    ctx: &[u8],
    sig: &[u8],
) -> bool {
    use PqcParameterSet::*;
    macro_rules! ml {
        ($p:ty) => {{
            let Ok(enc) = ml_dsa::EncodedVerifyingKey::<$p>::try_from(pk) else {
                return false;
            };
            let vk = ml_dsa::VerifyingKey::<$p>::decode(&enc);
            match ml_dsa::Signature::<$p>::try_from(sig) {
                Ok(s) => vk.verify_with_context(msg, ctx, &s),
                Err(_) => false,
            }
        }};
    }
    macro_rules! slh {
        ($p:ty) => {{
            let Ok(vk) = slh_dsa::VerifyingKey::<$p>::try_from(pk) else {
                return false;
            };
            match slh_dsa::Signature::<$p>::try_from(sig) {
                Ok(s) => vk.try_verify_with_context(msg, ctx, &s).is_ok(),
                Err(_) => false,
            }
        }};
    }
    match set {
        MlDsa44 => ml!(ml_dsa::MlDsa44),
        MlDsa65 => ml!(ml_dsa::MlDsa65),
        MlDsa87 => ml!(ml_dsa::MlDsa87),
        SlhDsaSha2_128s => slh!(slh_dsa::Sha2_128s),
        SlhDsaSha2_128f => slh!(slh_dsa::Sha2_128f),
        SlhDsaShake128f => slh!(slh_dsa::Shake128f),
        SlhDsaSha2_192f => slh!(slh_dsa::Sha2_192f),
        other => panic!("no RustCrypto check wired for {other:?}"),
    }
}
