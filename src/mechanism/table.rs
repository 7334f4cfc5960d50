//! The table of mechanisms C_GetMechanismList and C_GetMechanismInfo report: exactly what the
//! module does, with key sizes and flags.

use cryptoki_sys::*;
use tsb_models::TsbVersion;

/// One row of the mechanism table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MechRow {
    /// CKM_*.
    pub(crate) mech: CK_MECHANISM_TYPE,
    /// Minimum key size (bits).
    pub(crate) min: CK_ULONG,
    /// Maximum key size (bits).
    pub(crate) max: CK_ULONG,
    /// CKF_* flags, without CKF_HW ([`MechRow::reported_flags`] adds it).
    pub(crate) flags: CK_FLAGS,
}

impl MechRow {
    /// The flags C_GetMechanismInfo reports. CKF_HW ("performed by the device", PKCS#11 3.0
    /// section 5.10) for every mechanism that uses a key the HSM holds: its key operation runs
    /// there (signing, decryption, AES, MACs and PRFs around the HSM's cipher, derivation,
    /// wrapping, key generation), even where the module also does a public-key half locally
    /// (C_Verify, C_Encrypt with a public key). Not for the digests, which the module computes
    /// itself. Tools read the flag: OpenSC's `pkcs11-tool --test` looks for signature
    /// mechanisms with CKF_SIGN | CKF_HW.
    pub(crate) fn reported_flags(&self) -> CK_FLAGS {
        if self.flags == CKF_DIGEST {
            self.flags
        } else {
            self.flags | CKF_HW
        }
    }
}

/// The smallest and largest RSA keys the TSB generates (`tsb_models::RSA_KEY_SIZES`).
const RSA_MIN: CK_ULONG = tsb_models::RSA_KEY_SIZES[0] as CK_ULONG;
const RSA_MAX: CK_ULONG =
    tsb_models::RSA_KEY_SIZES[tsb_models::RSA_KEY_SIZES.len() - 1] as CK_ULONG;

const EC_FLAGS: CK_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
const SV: CK_FLAGS = CKF_SIGN | CKF_VERIFY;

/// Every mechanism the token does, with key sizes and flags.
pub(crate) const MECHANISMS: &[MechRow] = &[
    MechRow {
        mech: CKM_RSA_PKCS_KEY_PAIR_GEN,
        min: RSA_MIN,
        max: RSA_MAX,
        flags: CKF_GENERATE_KEY_PAIR,
    },
    MechRow {
        mech: CKM_EC_KEY_PAIR_GEN,
        min: 256,
        max: 521,
        flags: CKF_GENERATE_KEY_PAIR | EC_FLAGS,
    },
    MechRow {
        mech: CKM_EC_EDWARDS_KEY_PAIR_GEN,
        min: 255,
        max: 255,
        flags: CKF_GENERATE_KEY_PAIR,
    },
    // Wrapping and unwrapping secret keys with RSA on the TSB (token/wrap.rs).
    MechRow {
        mech: CKM_RSA_PKCS,
        min: RSA_MIN,
        max: RSA_MAX,
        flags: SV | CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP,
    },
    MechRow {
        mech: CKM_SHA1_RSA_PKCS,
        min: RSA_MIN,
        max: RSA_MAX,
        flags: SV,
    },
    MechRow {
        mech: CKM_SHA224_RSA_PKCS,
        min: RSA_MIN,
        max: RSA_MAX,
        flags: SV,
    },
    MechRow {
        mech: CKM_SHA256_RSA_PKCS,
        min: RSA_MIN,
        max: RSA_MAX,
        flags: SV,
    },
    MechRow {
        mech: CKM_SHA384_RSA_PKCS,
        min: RSA_MIN,
        max: RSA_MAX,
        flags: SV,
    },
    MechRow {
        mech: CKM_SHA512_RSA_PKCS,
        min: RSA_MIN,
        max: RSA_MAX,
        flags: SV,
    },
    MechRow {
        mech: CKM_RSA_PKCS_PSS,
        min: RSA_MIN,
        max: RSA_MAX,
        flags: SV,
    },
    // SHA-1 PSS exists only as SHA1_WITH_RSA_PSS: always the data (audit divergence #5).
    MechRow {
        mech: CKM_SHA1_RSA_PKCS_PSS,
        min: 2048,
        max: 4096,
        flags: SV,
    },
    MechRow {
        mech: CKM_SHA224_RSA_PKCS_PSS,
        min: RSA_MIN,
        max: RSA_MAX,
        flags: SV,
    },
    MechRow {
        mech: CKM_SHA256_RSA_PKCS_PSS,
        min: RSA_MIN,
        max: RSA_MAX,
        flags: SV,
    },
    MechRow {
        mech: CKM_SHA384_RSA_PKCS_PSS,
        min: RSA_MIN,
        max: RSA_MAX,
        flags: SV,
    },
    MechRow {
        mech: CKM_SHA512_RSA_PKCS_PSS,
        min: RSA_MIN,
        max: RSA_MAX,
        flags: SV,
    },
    MechRow {
        mech: CKM_RSA_PKCS_OAEP,
        min: RSA_MIN,
        max: RSA_MAX,
        flags: CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP,
    },
    MechRow {
        mech: CKM_ECDSA,
        min: 256,
        max: 521,
        flags: SV | EC_FLAGS,
    },
    MechRow {
        mech: CKM_ECDSA_SHA1,
        min: 256,
        max: 521,
        flags: SV | EC_FLAGS,
    },
    MechRow {
        mech: CKM_ECDSA_SHA224,
        min: 256,
        max: 521,
        flags: SV | EC_FLAGS,
    },
    MechRow {
        mech: CKM_ECDSA_SHA256,
        min: 256,
        max: 521,
        flags: SV | EC_FLAGS,
    },
    MechRow {
        mech: CKM_ECDSA_SHA384,
        min: 256,
        max: 521,
        flags: SV | EC_FLAGS,
    },
    MechRow {
        mech: CKM_ECDSA_SHA512,
        min: 256,
        max: 521,
        flags: SV | EC_FLAGS,
    },
    MechRow {
        mech: CKM_EDDSA,
        min: 255,
        max: 255,
        flags: SV,
    },
    // Secret keys (token/secret_keys.rs): AES key sizes in bytes, generic secret in bits (as
    // PKCS#11 3.0 gives each mechanism's unit).
    MechRow {
        mech: CKM_AES_KEY_GEN,
        min: 16,
        max: 32,
        flags: CKF_GENERATE,
    },
    MechRow {
        mech: CKM_GENERIC_SECRET_KEY_GEN,
        min: 256,
        max: 256,
        flags: CKF_GENERATE,
    },
    // AES on the TSB (token/symmetric.rs; under the caller's IV, the modes are computed around
    // the TSB's block cipher: mechanism::aes and mechanism::modes).
    MechRow {
        mech: CKM_AES_ECB,
        min: 16,
        max: 32,
        flags: CKF_ENCRYPT | CKF_DECRYPT,
    },
    MechRow {
        mech: CKM_AES_CTR,
        min: 16,
        max: 32,
        flags: CKF_ENCRYPT | CKF_DECRYPT,
    },
    // Also in the message-based API of PKCS#11 3.0 (token/message.rs).
    MechRow {
        mech: CKM_AES_GCM,
        min: 16,
        max: 32,
        flags: CKF_ENCRYPT | CKF_DECRYPT | CKF_MESSAGE_ENCRYPT | CKF_MESSAGE_DECRYPT,
    },
    MechRow {
        mech: CKM_AES_CBC,
        min: 16,
        max: 32,
        flags: CKF_ENCRYPT | CKF_DECRYPT,
    },
    MechRow {
        mech: CKM_AES_CBC_PAD,
        min: 16,
        max: 32,
        flags: CKF_ENCRYPT | CKF_DECRYPT,
    },
    // Keys derived by AES encryption on the TSB, imported as new keys (token/derive.rs).
    MechRow {
        mech: CKM_AES_ECB_ENCRYPT_DATA,
        min: 16,
        max: 32,
        flags: CKF_DERIVE,
    },
    MechRow {
        mech: CKM_AES_CBC_ENCRYPT_DATA,
        min: 16,
        max: 32,
        flags: CKF_DERIVE,
    },
    // AES MACs computed around E_K on the TSB (mechanism::mac, token/symmetric.rs): one request
    // per 16-byte block. The key needs CKA_SIGN/CKA_VERIFY and the TSB's `encrypt`.
    MechRow {
        mech: CKM_AES_CMAC,
        min: 16,
        max: 32,
        flags: SV,
    },
    MechRow {
        mech: CKM_AES_CMAC_GENERAL,
        min: 16,
        max: 32,
        flags: SV,
    },
    MechRow {
        mech: CKM_AES_MAC,
        min: 16,
        max: 32,
        flags: SV,
    },
    MechRow {
        mech: CKM_AES_MAC_GENERAL,
        min: 16,
        max: 32,
        flags: SV,
    },
    // SP 800-108 KDFs with AES-CMAC or HMAC-SHA-256 on the TSB as the PRF, the bytes imported
    // as new keys; the sizes are the AES base key's (an HMAC base key is 32 bytes)
    // (mechanism::kbkdf, token/kbkdf.rs).
    MechRow {
        mech: CKM_SP800_108_COUNTER_KDF,
        min: 16,
        max: 32,
        flags: CKF_DERIVE,
    },
    MechRow {
        mech: CKM_SP800_108_FEEDBACK_KDF,
        min: 16,
        max: 32,
        flags: CKF_DERIVE,
    },
    MechRow {
        mech: CKM_SP800_108_DOUBLE_PIPELINE_KDF,
        min: 16,
        max: 32,
        flags: CKF_DERIVE,
    },
    // Secret keys wrapped with AES on the TSB (token/wrap.rs): RFC 3394 and RFC 5649.
    MechRow {
        mech: CKM_AES_KEY_WRAP,
        min: 16,
        max: 32,
        flags: CKF_WRAP | CKF_UNWRAP,
    },
    MechRow {
        mech: CKM_AES_KEY_WRAP_KWP,
        min: 16,
        max: 32,
        flags: CKF_WRAP | CKF_UNWRAP,
    },
    // HMAC-SHA-256 on the TSB (2.0.1), 32-byte keys.
    MechRow {
        mech: CKM_SHA256_HMAC,
        min: 32,
        max: 32,
        flags: SV,
    },
    MechRow {
        mech: CKM_SHA256_HMAC_GENERAL,
        min: 32,
        max: 32,
        flags: SV,
    },
    MechRow {
        mech: CKM_SHA_1,
        min: 0,
        max: 0,
        flags: CKF_DIGEST,
    },
    MechRow {
        mech: CKM_SHA224,
        min: 0,
        max: 0,
        flags: CKF_DIGEST,
    },
    MechRow {
        mech: CKM_SHA256,
        min: 0,
        max: 0,
        flags: CKF_DIGEST,
    },
    MechRow {
        mech: CKM_SHA384,
        min: 0,
        max: 0,
        flags: CKF_DIGEST,
    },
    MechRow {
        mech: CKM_SHA512,
        min: 0,
        max: 0,
        flags: CKF_DIGEST,
    },
];

/// The first TSB version that does a mechanism, for those that not every version does (HMAC:
/// 2.0.1, S2 release notes). C_GetMechanismList and C_GetMechanismInfo leave a mechanism out when
/// the slot's known version is older.
pub(crate) fn since(mech: CK_MECHANISM_TYPE) -> Option<tsb_models::TsbVersion> {
    match mech {
        CKM_GENERIC_SECRET_KEY_GEN | CKM_SHA256_HMAC | CKM_SHA256_HMAC_GENERAL => {
            Some(tsb_models::SecretKeyAlgorithm::HmacSha256.since())
        }
        _ => None,
    }
}

/// Every mechanism a slot whose TSB version is `v` (None: not known) offers: the table above and
/// the post-quantum rows, without what `v` is known not to do ([`super::offered_in`]).
pub(crate) fn offered(v: Option<TsbVersion>) -> impl Iterator<Item = &'static MechRow> {
    MECHANISMS
        .iter()
        .chain(super::pqc::ROWS.iter())
        .filter(move |r| super::offered_in(r.mech, v))
}

/// Look a mechanism up among those [`offered`] on TSB version `v`.
pub(crate) fn info(mech: CK_MECHANISM_TYPE, v: Option<TsbVersion>) -> Option<&'static MechRow> {
    offered(v).find(|r| r.mech == mech)
}
