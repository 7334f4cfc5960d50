//! The one table of mechanisms: what each CKM_* means on the TSB (signatureAlgorithm /
//! cipherAlgorithm), what it does locally (hashing before signing, so large inputs never cross the
//! network), which keys it fits, and its output size. C_GetMechanismList/Info read the same table,
//! so they list exactly what the module does.

pub(crate) mod aes;
mod derive;
pub(crate) mod gcm_message;
mod hash;
pub(crate) mod kbkdf;
pub(crate) mod mac;
pub(crate) mod modes;
pub(crate) mod pqc;
mod table;

pub(crate) use derive::{derive_data, is_encrypt_data, key_len, needed, DeriveData};
pub(crate) use hash::{Hash, Hasher};
pub(crate) use table::{info, offered, since, MechRow};

use crate::config::FullData;
use crate::der;
use crate::error::{Error, Result};
use cryptoki_sys::*;
use tsb_models::algorithms::{self, Cipher, Input, Scheme};
use tsb_models::TsbVersion;

/// Key families: the TSB's key algorithms (RSA, EC, ED) and the post-quantum ones.
pub(crate) use crate::tsb::key::KeyFamily as Family;

/// What a signature mechanism does.
// The PQC variant holds its context (up to 255 bytes) inline so the scheme stays `Copy` (the
// remote operation's mechanism is): one per operation, so the size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignScheme {
    /// PKCS#1 v1.5. `hash` None = CKM_RSA_PKCS (input is a DigestInfo, or raw data).
    RsaPkcs1 {
        /// Hash applied locally first.
        hash: Option<Hash>,
    },
    /// PSS with MGF1 of `hash` and salt length = hash length. `prehashed`: the input is the digest
    /// (CKM_RSA_PKCS_PSS); otherwise the module hashes it (CKM_SHAxxx_RSA_PKCS_PSS).
    RsaPss {
        /// The hash.
        hash: Hash,
        /// Input is already the digest.
        prehashed: bool,
    },
    /// ECDSA; `hash` None = CKM_ECDSA (input is the digest).
    Ecdsa {
        /// Hash applied locally first.
        hash: Option<Hash>,
    },
    /// Pure Ed25519.
    EdDsa,
    /// Pure ML-DSA or SLH-DSA with a context (CKM_ML_DSA, CKM_SLH_DSA: see [`pqc`]).
    Pqc {
        /// Which one.
        family: tsb_models::PqcFamily,
        /// The context string, empty without one.
        context: pqc::Context,
    },
}

impl SignScheme {
    /// The key family this scheme needs.
    pub(crate) fn family(self) -> Family {
        match self {
            SignScheme::RsaPkcs1 { .. } | SignScheme::RsaPss { .. } => Family::Rsa,
            SignScheme::Ecdsa { .. } => Family::Ec,
            SignScheme::EdDsa => Family::Ed,
            SignScheme::Pqc { family, .. } => Family::Pqc(family),
        }
    }
    /// The hash the module applies to the input before signing, if any.
    pub(crate) fn local_hash(self) -> Option<Hash> {
        match self {
            SignScheme::RsaPkcs1 { hash } | SignScheme::Ecdsa { hash } => hash,
            SignScheme::RsaPss {
                hash,
                prehashed: false,
            } => Some(hash),
            _ => None,
        }
    }
}

/// PSS parameters as given by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PssParams {
    /// CKM_SHA*.
    pub(crate) hash_alg: CK_MECHANISM_TYPE,
    /// CKG_MGF1_SHA*.
    pub(crate) mgf: CK_RSA_PKCS_MGF_TYPE,
    /// Salt length in bytes.
    pub(crate) salt_len: CK_ULONG,
}

/// OAEP parameters as given by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OaepParams {
    /// CKM_SHA*.
    pub(crate) hash_alg: CK_MECHANISM_TYPE,
    /// CKG_MGF1_SHA*.
    pub(crate) mgf: CK_RSA_PKCS_MGF_TYPE,
    /// Label (must be empty: the TSB takes none).
    pub(crate) source_data: Vec<u8>,
}

/// Mechanism parameters, already copied out of C memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MechParams {
    /// No parameter.
    None,
    /// CK_RSA_PKCS_PSS_PARAMS.
    Pss(PssParams),
    /// CK_RSA_PKCS_OAEP_PARAMS.
    Oaep(OaepParams),
    /// Parameter bytes of another kind (e.g. CK_EDDSA_PARAMS), length only checked.
    Other(usize),
    /// CK_SIGN_ADDITIONAL_CONTEXT (PKCS#11 3.2), of CKM_ML_DSA and CKM_SLH_DSA.
    SignContext {
        /// `hedgeVariant` (CKH_*).
        hedge: CK_ULONG,
        /// The context bytes (length checked by `pqc::sign_scheme`).
        context: Vec<u8>,
    },
    /// CK_GCM_PARAMS.
    Gcm(aes::GcmParams),
    /// An IV (AES-CBC).
    Iv(aes::Iv),
    /// CK_AES_CTR_PARAMS.
    Ctr(aes::CtrParams),
    /// CK_MAC_GENERAL_PARAMS: the MAC length.
    MacLen(usize),
    /// CK_KEY_DERIVATION_STRING_DATA or CK_AES_CBC_ENCRYPT_DATA_PARAMS (derive.rs).
    Derive(DeriveData),
    /// CK_SP800_108_KDF_PARAMS or CK_SP800_108_FEEDBACK_KDF_PARAMS ([`kbkdf`]).
    Kbkdf(kbkdf::KbkdfParams),
}

fn param_invalid(msg: &str) -> Error {
    Error::ck(CKR_MECHANISM_PARAM_INVALID, msg)
}

/// Resolve a verification mechanism with its parameters: as [`sign_scheme`], but the hedge
/// variant of a CK_SIGN_ADDITIONAL_CONTEXT is ignored (PKCS#11 3.2 §6.67.5).
pub(crate) fn verify_scheme(mech: CK_MECHANISM_TYPE, params: &MechParams) -> Result<SignScheme> {
    match pqc::sign_scheme(mech, params, false) {
        Some(r) => r,
        None => sign_scheme(mech, params),
    }
}

/// Resolve a signature mechanism with its parameters.
pub(crate) fn sign_scheme(mech: CK_MECHANISM_TYPE, params: &MechParams) -> Result<SignScheme> {
    if let Some(r) = pqc::sign_scheme(mech, params, true) {
        return r;
    }
    let pss_hash = |hash: Hash, params: &MechParams, prehashed: bool| -> Result<SignScheme> {
        match params {
            MechParams::Pss(p) => {
                let h = Hash::from_digest_mech(p.hash_alg)
                    .ok_or_else(|| param_invalid("unsupported PSS hashAlg"))?;
                // Audit divergence #5: the TSB has no pre-hashed PSS name with SHA-1 (S1
                // `helpers/consts.go`, S3 `enums/tsb/SignatureAlgorithm.java`: NONESHA224..512
                // only); CKM_SHA1_RSA_PKCS_PSS sends the data with SHA1_WITH_RSA_PSS instead.
                if h == Hash::Sha1 && prehashed {
                    return Err(param_invalid(
                        "the TSB has no pre-hashed RSA-PSS signature with SHA-1",
                    ));
                }
                if !prehashed && h != hash {
                    return Err(param_invalid("PSS hashAlg must match the mechanism's hash"));
                }
                if Hash::from_mgf(p.mgf) != Some(h) {
                    return Err(param_invalid(
                        "the TSB signs PSS with MGF1 of the same hash as hashAlg",
                    ));
                }
                if p.salt_len as usize != h.len() {
                    return Err(param_invalid(
                        "the TSB signs PSS with a salt as long as the hash (sLen = hLen)",
                    ));
                }
                Ok(SignScheme::RsaPss { hash: h, prehashed })
            }
            MechParams::None if !prehashed => Ok(SignScheme::RsaPss { hash, prehashed }),
            _ => Err(param_invalid("CK_RSA_PKCS_PSS_PARAMS required")),
        }
    };
    let no_params = |s: SignScheme| -> Result<SignScheme> {
        match params {
            MechParams::None => Ok(s),
            _ => Err(param_invalid("this mechanism takes no parameter")),
        }
    };
    match mech {
        CKM_RSA_PKCS => no_params(SignScheme::RsaPkcs1 { hash: None }),
        CKM_SHA1_RSA_PKCS => no_params(SignScheme::RsaPkcs1 {
            hash: Some(Hash::Sha1),
        }),
        CKM_SHA224_RSA_PKCS => no_params(SignScheme::RsaPkcs1 {
            hash: Some(Hash::Sha224),
        }),
        CKM_SHA256_RSA_PKCS => no_params(SignScheme::RsaPkcs1 {
            hash: Some(Hash::Sha256),
        }),
        CKM_SHA384_RSA_PKCS => no_params(SignScheme::RsaPkcs1 {
            hash: Some(Hash::Sha384),
        }),
        CKM_SHA512_RSA_PKCS => no_params(SignScheme::RsaPkcs1 {
            hash: Some(Hash::Sha512),
        }),
        CKM_RSA_PKCS_PSS => pss_hash(Hash::Sha256, params, true),
        // The TSB has no NONESHA1_WITH_RSA_PSS (audit divergence #5): always the data, with
        // SHA1_WITH_RSA_PSS (see `full_data`).
        CKM_SHA1_RSA_PKCS_PSS => pss_hash(Hash::Sha1, params, false),
        CKM_SHA224_RSA_PKCS_PSS => pss_hash(Hash::Sha224, params, false),
        CKM_SHA256_RSA_PKCS_PSS => pss_hash(Hash::Sha256, params, false),
        CKM_SHA384_RSA_PKCS_PSS => pss_hash(Hash::Sha384, params, false),
        CKM_SHA512_RSA_PKCS_PSS => pss_hash(Hash::Sha512, params, false),
        CKM_ECDSA => no_params(SignScheme::Ecdsa { hash: None }),
        CKM_ECDSA_SHA1 => no_params(SignScheme::Ecdsa {
            hash: Some(Hash::Sha1),
        }),
        CKM_ECDSA_SHA224 => no_params(SignScheme::Ecdsa {
            hash: Some(Hash::Sha224),
        }),
        CKM_ECDSA_SHA256 => no_params(SignScheme::Ecdsa {
            hash: Some(Hash::Sha256),
        }),
        CKM_ECDSA_SHA384 => no_params(SignScheme::Ecdsa {
            hash: Some(Hash::Sha384),
        }),
        CKM_ECDSA_SHA512 => no_params(SignScheme::Ecdsa {
            hash: Some(Hash::Sha512),
        }),
        CKM_EDDSA => match params {
            // CK_EDDSA_PARAMS with phFlag false and no context is plain Ed25519; anything else
            // (Ed25519ph, Ed25519ctx) the TSB does not offer.
            MechParams::None => Ok(SignScheme::EdDsa),
            _ => Err(param_invalid(
                "only pure Ed25519 (no CK_EDDSA_PARAMS) is supported",
            )),
        },
        _ => Err(Error::ck(
            CKR_MECHANISM_INVALID,
            format!("mechanism 0x{mech:x} cannot sign"),
        )),
    }
}

/// The name of a pre-hashed `signatureAlgorithm` ([`algorithms`]); a combination the TSB has no
/// name for is a mechanism it cannot do.
fn prehashed_name(scheme: Scheme, hash: Hash) -> Result<String> {
    algorithms::signature_algorithm_for(scheme, Input::Digest(hash.tsb()))
        .map(|a| a.name.to_string())
        .ok_or_else(|| {
            Error::ck(
                CKR_MECHANISM_INVALID,
                format!("the TSB has no pre-hashed {scheme:?} signature with {hash:?}"),
            )
        })
}

/// The scheme's primitive as the TSB names it.
fn tsb_scheme(scheme: SignScheme) -> Scheme {
    match scheme {
        SignScheme::RsaPkcs1 { .. } => Scheme::RsaPkcs1,
        SignScheme::RsaPss { .. } => Scheme::RsaPss,
        SignScheme::Ecdsa { .. } => Scheme::Ecdsa,
        SignScheme::EdDsa => Scheme::EdDsa,
        SignScheme::Pqc { .. } => Scheme::Other,
    }
}

/// Whether a hashing mechanism (CKM_SHA*_RSA_PKCS, CKM_SHA*_RSA_PKCS_PSS, CKM_ECDSA_SHA*) sends
/// the data itself with a hashing `signatureAlgorithm` (`SHA256_WITH_RSA`) instead of a digest
/// made here with a pre-hashed one (`NONESHA256_WITH_RSA`), for a key with or without
/// approvals on a TSB of `version` (asked only when the answer depends on it; None: unknown).
/// Also refuses, as CKR_MECHANISM_INVALID before anything is sent, the raw mechanisms a known
/// version cannot do.
///
/// What the versions refuse (S2 `tsb/Download/release_notes.md`):
/// - pre-hashed RSA names (`NONESHA*_WITH_RSA`, `NONE_WITH_RSA`) on approval-gated keys before
///   2.1.1 ("Added compatibility with pre-hashed algorithms on RSA in conjunction with
///   SKA-Keys");
/// - the pre-hashed PSS names (`NONESHA224..512_WITH_RSA_PSS`, `NONE_WITH_RSA_PSS`) before 2.2.0
///   ([`algorithms::signature_algorithm_since`], inferred from S3's enum copies);
/// - `NONESHA1_WITH_RSA_PSS` in every version (it does not exist: audit divergence #5).
///
/// `NONE_WITH_ECDSA` on approval-gated keys is in no release note; the module sends it.
/// [`FullData::Auto`] sends the data exactly where the version refuses the digest (and, with the
/// version unknown, wherever some version refuses it); [`FullData::Always`] also on every
/// approval-gated key, so approvers see the data; [`FullData::Never`] never (but CKM_SHA1_RSA_PKCS_PSS,
/// which has no other way).
pub(crate) fn full_data(
    scheme: SignScheme,
    approval_required: bool,
    mode: FullData,
    version: impl FnOnce() -> Option<TsbVersion>,
) -> Result<bool> {
    let Some(hash) = scheme.local_hash() else {
        // Raw mechanisms: the caller's input is what is sent; refuse what the version cannot do.
        let prehashed_name = match scheme {
            SignScheme::RsaPkcs1 { hash: None } if approval_required => {
                Some(algorithms::name::NONE_WITH_RSA)
            }
            SignScheme::RsaPss {
                prehashed: true, ..
            } => Some("NONESHA256_WITH_RSA_PSS"),
            _ => None,
        };
        if let Some(name) = prehashed_name {
            if let Some(v) = version() {
                let refused = if matches!(scheme, SignScheme::RsaPkcs1 { .. }) {
                    !v.prehashed_rsa_on_ska_keys()
                } else {
                    !algorithms::is_known_signature_algorithm_in(name, v)
                };
                if refused {
                    return Err(Error::Unsupported(format!(
                        "TSB {v} does not sign a digest given by the caller with this key \
                         (no {name} here{}); use a hashing mechanism (CKM_SHA256_RSA_PKCS, ...), \
                         which sends the data",
                        if approval_required {
                            " on approval-gated keys"
                        } else {
                            ""
                        }
                    )));
                }
            }
        }
        return Ok(false);
    };
    // CKM_ECDSA_SHA* send the digest with NONE_WITH_ECDSA, the others a NONESHA* name; a
    // combination without a name (PSS with SHA-1) can only send the data.
    let name = match scheme {
        SignScheme::Ecdsa { .. } => algorithms::name::NONE_WITH_ECDSA.to_string(),
        _ => match prehashed_name(tsb_scheme(scheme), hash) {
            Ok(n) => n,
            Err(_) => return Ok(true),
        },
    };
    if mode == FullData::Never {
        return Ok(false);
    }
    if mode == FullData::Always && approval_required {
        return Ok(true);
    }
    Ok(match scheme {
        SignScheme::RsaPkcs1 { .. } if approval_required => {
            !version().is_some_and(TsbVersion::prehashed_rsa_on_ska_keys)
        }
        SignScheme::RsaPss { .. } => {
            !version().is_some_and(|v| algorithms::is_known_signature_algorithm_in(&name, v))
        }
        _ => false,
    })
}

/// Whether a slot offers `mech` (C_GetMechanismList, C_GetMechanismInfo) on a TSB of `version`,
/// known without asking (None: everything is listed, and [`full_data`] refuses at C_SignInit what
/// the version read then cannot do). Left out is a mechanism whose every use the version refuses:
/// the raw CKM_RSA_PKCS_PSS sends the caller's digest with a `NONESHA*_WITH_RSA_PSS` name, which
/// TSBs before 2.2.0 do not know ([`algorithms::signature_algorithm_since`]); and the
/// post-quantum mechanisms before 2.2.0 ([`pqc::listed`]); HMAC before 2.0.1 ([`since`]).
pub(crate) fn offered_in(mech: CK_MECHANISM_TYPE, version: Option<TsbVersion>) -> bool {
    if !pqc::listed(mech, version) {
        return false;
    }
    let Some(v) = version else { return true };
    if since(mech).is_some_and(|since| v < since) {
        return false;
    }
    match mech {
        CKM_RSA_PKCS_PSS => algorithms::is_known_signature_algorithm_in(
            algorithms::name::NONESHA256_WITH_RSA_PSS,
            v,
        ),
        _ => true,
    }
}

/// The TSB `signatureAlgorithm` and payload of a signature: with `full_data` (see [`full_data`])
/// the data with the hashing name, else the input as the scheme takes it (hashed here already
/// where the scheme hashes locally). `k` = RSA modulus length in bytes (for the length check).
pub(crate) fn tsb_sign_request(
    scheme: SignScheme,
    input: &[u8],
    k: usize,
    full_data: bool,
) -> Result<(String, Vec<u8>)> {
    // The TSB refuses an empty payload: `@NotEmpty` in S3 `dto/tsb/request/SignRequestDto.java`
    // and `SynchronousSignRequestDto.java` (Ed25519 and raw CKM_RSA_PKCS could otherwise sign
    // nothing).
    if input.is_empty() {
        return Err(Error::ck(
            CKR_DATA_LEN_RANGE,
            "the TSB signs no empty payload",
        ));
    }
    if let (true, Some(h)) = (full_data, scheme.local_hash()) {
        let name = algorithms::signature_algorithm_for(tsb_scheme(scheme), Input::Hash(h.tsb()))
            .map(|a| a.name.to_string())
            .ok_or_else(|| {
                Error::ck(
                    CKR_MECHANISM_INVALID,
                    format!("the TSB has no {scheme:?} signature hashing with {h:?}"),
                )
            })?;
        return Ok((name, input.to_vec()));
    }
    match scheme {
        SignScheme::RsaPkcs1 { hash: Some(h) } => {
            Ok((prehashed_name(Scheme::RsaPkcs1, h)?, input.to_vec()))
        }
        SignScheme::RsaPkcs1 { hash: None } => {
            if input.len() + 11 > k {
                return Err(Error::ck(
                    CKR_DATA_LEN_RANGE,
                    "input longer than the modulus allows for PKCS#1 v1.5",
                ));
            }
            // A DigestInfo of a known hash goes to the TSB as the bare digest with NONESHAxxx,
            // whose semantics are documented (the TSB adds the DigestInfo); anything else is
            // signed as given with NONE_WITH_RSA.
            match Hash::parse_digest_info(input) {
                Some((h, digest)) => Ok((prehashed_name(Scheme::RsaPkcs1, h)?, digest.to_vec())),
                None => Ok((algorithms::name::NONE_WITH_RSA.into(), input.to_vec())),
            }
        }
        SignScheme::RsaPss { hash, prehashed } => {
            if prehashed && input.len() != hash.len() {
                return Err(Error::ck(
                    CKR_DATA_LEN_RANGE,
                    format!(
                        "CKM_RSA_PKCS_PSS input must be a {}-byte digest",
                        hash.len()
                    ),
                ));
            }
            Ok((prehashed_name(Scheme::RsaPss, hash)?, input.to_vec()))
        }
        SignScheme::Ecdsa { .. } => {
            if input.is_empty() || input.len() > 64 {
                return Err(Error::ck(
                    CKR_DATA_LEN_RANGE,
                    "CKM_ECDSA input must be a digest of 1..64 bytes",
                ));
            }
            Ok((algorithms::name::NONE_WITH_ECDSA.into(), input.to_vec()))
        }
        SignScheme::EdDsa => Ok((algorithms::name::EDDSA.into(), input.to_vec())),
        // The message itself (pure ML-DSA / SLH-DSA sign the message, not a digest).
        SignScheme::Pqc { family, .. } => Ok((pqc::tsb_name(family).into(), input.to_vec())),
    }
}

/// The TSB `cipherAlgorithm` of RSA decryption: PKCS#1 v1.5, or OAEP with MGF1 of the same hash
/// (the facade names PKCS#1 v1.5 per TSB version, see `tsb::Tsb::decrypt`).
pub(crate) fn cipher_algorithm(oaep: Option<Hash>) -> String {
    let cipher = match oaep {
        None => Cipher::RsaPkcs1,
        Some(h) => Cipher::RsaOaep(h.tsb()),
    };
    // Every padding offered here has a name (tested below and in models).
    algorithms::cipher_algorithm_for(cipher)
        .unwrap_or_default()
        .to_string()
}

/// What a decryption mechanism maps to.
pub(crate) fn tsb_cipher(
    mech: CK_MECHANISM_TYPE,
    params: &MechParams,
) -> Result<(String, Option<Hash>)> {
    match (mech, params) {
        (CKM_RSA_PKCS, MechParams::None) => Ok((cipher_algorithm(None), None)),
        (CKM_RSA_PKCS, _) => Err(param_invalid("CKM_RSA_PKCS takes no parameter")),
        (CKM_RSA_PKCS_OAEP, MechParams::Oaep(p)) => {
            let h = Hash::from_digest_mech(p.hash_alg)
                .ok_or_else(|| param_invalid("unsupported OAEP hashAlg"))?;
            if Hash::from_mgf(p.mgf) != Some(h) {
                return Err(param_invalid(
                    "the TSB uses MGF1 with the same hash as hashAlg",
                ));
            }
            if !p.source_data.is_empty() {
                return Err(param_invalid(
                    "OAEP labels (pSourceData) are not supported by the TSB",
                ));
            }
            Ok((cipher_algorithm(Some(h)), Some(h)))
        }
        (CKM_RSA_PKCS_OAEP, _) => Err(param_invalid("CK_RSA_PKCS_OAEP_PARAMS required")),
        _ => Err(Error::ck(
            CKR_MECHANISM_INVALID,
            format!("mechanism 0x{mech:x} cannot decrypt"),
        )),
    }
}

/// Turn the TSB's signature into the PKCS#11 format: ECDSA DER -> r||s; EdDSA raw (also accepted
/// wrapped in an OCTET STRING); RSA left-padded to the modulus length.
pub(crate) fn signature_to_pkcs11(
    scheme: SignScheme,
    sig: Vec<u8>,
    out_len: usize,
) -> Result<Vec<u8>> {
    match scheme.family() {
        Family::Ec => der::ecdsa_der_to_raw(&sig, out_len / 2)
            .or_else(|| (sig.len() == out_len).then(|| sig.clone()))
            .ok_or_else(|| {
                Error::Transport(
                    "TSB returned an ECDSA signature that is not DER SEQUENCE{r,s}".into(),
                )
            }),
        Family::Ed => {
            if sig.len() == 64 {
                Ok(sig)
            } else {
                der::unwrap_octet_string(&sig)
                    .filter(|s| s.len() == 64)
                    .map(|s| s.to_vec())
                    .ok_or_else(|| {
                        Error::Transport(format!(
                            "TSB returned an EdDSA signature of {} bytes",
                            sig.len()
                        ))
                    })
            }
        }
        // The raw FIPS 204 / FIPS 205 encoding (S2 `pqc.md`), of the parameter set's length.
        Family::Pqc(_) => {
            if sig.len() == out_len {
                Ok(sig)
            } else {
                Err(Error::Transport(format!(
                    "TSB returned a post-quantum signature of {} bytes, not {out_len}",
                    sig.len()
                )))
            }
        }
        Family::Rsa => {
            if sig.len() > out_len {
                return Err(Error::Transport(
                    "TSB returned an RSA signature longer than the modulus".into(),
                ));
            }
            let mut v = vec![0u8; out_len - sig.len()];
            v.extend(sig);
            Ok(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_info_detected() {
        let d = Hash::Sha256.digest(b"abc");
        let mut di = Hash::Sha256.digest_info_prefix().to_vec();
        di.extend(&d);
        let (alg, payload) =
            tsb_sign_request(SignScheme::RsaPkcs1 { hash: None }, &di, 256, false).unwrap();
        assert_eq!(alg, "NONESHA256_WITH_RSA");
        assert_eq!(payload, d);
        let (alg, payload) =
            tsb_sign_request(SignScheme::RsaPkcs1 { hash: None }, b"raw", 256, false).unwrap();
        assert_eq!(
            (alg.as_str(), payload.as_slice()),
            ("NONE_WITH_RSA", &b"raw"[..])
        );
        assert_eq!(
            tsb_sign_request(SignScheme::RsaPkcs1 { hash: None }, &[0u8; 250], 256, false)
                .unwrap_err()
                .rv(),
            CKR_DATA_LEN_RANGE
        );
    }

    #[test]
    fn pss_params_checked() {
        let p = |h, m, s| {
            MechParams::Pss(PssParams {
                hash_alg: h,
                mgf: m,
                salt_len: s,
            })
        };
        assert_eq!(
            sign_scheme(CKM_RSA_PKCS_PSS, &p(CKM_SHA384, CKG_MGF1_SHA384, 48)).unwrap(),
            SignScheme::RsaPss {
                hash: Hash::Sha384,
                prehashed: true
            }
        );
        assert_eq!(
            sign_scheme(CKM_RSA_PKCS_PSS, &p(CKM_SHA256, CKG_MGF1_SHA1, 32))
                .unwrap_err()
                .rv(),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            sign_scheme(CKM_RSA_PKCS_PSS, &p(CKM_SHA256, CKG_MGF1_SHA256, 20))
                .unwrap_err()
                .rv(),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            sign_scheme(CKM_SHA256_RSA_PKCS_PSS, &p(CKM_SHA_1, CKG_MGF1_SHA1, 20))
                .unwrap_err()
                .rv(),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            sign_scheme(CKM_RSA_PKCS_PSS, &MechParams::None)
                .unwrap_err()
                .rv(),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            sign_scheme(CKM_AES_CBC, &MechParams::None)
                .unwrap_err()
                .rv(),
            CKR_MECHANISM_INVALID
        );
    }

    /// The TSB's sign DTOs declare `payload` `@NotEmpty` (S3 `dto/tsb/request/SignRequestDto.java`,
    /// `SynchronousSignRequestDto.java`): an empty input never goes to the TSB.
    #[test]
    fn empty_input_is_refused_before_the_tsb() {
        for scheme in [
            SignScheme::EdDsa,
            SignScheme::RsaPkcs1 { hash: None },
            SignScheme::Ecdsa { hash: None },
        ] {
            assert_eq!(
                tsb_sign_request(scheme, &[], 256, false).unwrap_err().rv(),
                CKR_DATA_LEN_RANGE,
                "{scheme:?}"
            );
        }
        assert!(tsb_sign_request(SignScheme::EdDsa, b"m", 256, false).is_ok());
    }

    /// Audit divergence #5: the TSB has no pre-hashed PSS signature with SHA-1 (S1
    /// `helpers/consts.go` `RSA_SIGNATURE_LIST` and S3 `enums/tsb/SignatureAlgorithm.java` name
    /// `NONESHA224..512_WITH_RSA_PSS` only), so CKM_RSA_PKCS_PSS takes no SHA-1 digest, and
    /// CKM_SHA1_RSA_PKCS_PSS (offered again) always sends the data with `SHA1_WITH_RSA_PSS`.
    #[test]
    fn pss_with_sha1_sends_the_data() {
        let sha1 = MechParams::Pss(PssParams {
            hash_alg: CKM_SHA_1,
            mgf: CKG_MGF1_SHA1,
            salt_len: 20,
        });
        assert_eq!(
            sign_scheme(CKM_RSA_PKCS_PSS, &sha1).unwrap_err().rv(),
            CKR_MECHANISM_PARAM_INVALID
        );
        let s = sign_scheme(CKM_SHA1_RSA_PKCS_PSS, &sha1).unwrap();
        assert_eq!(
            s,
            SignScheme::RsaPss {
                hash: Hash::Sha1,
                prehashed: false
            }
        );
        assert!(offered(None).any(|m| m.mech == CKM_SHA1_RSA_PKCS_PSS));
        for mode in [FullData::Auto, FullData::Always, FullData::Never] {
            assert!(full_data(s, false, mode, || Some(TsbVersion::V2_2_0)).unwrap());
        }
        assert_eq!(
            tsb_sign_request(s, b"data", 256, true).unwrap(),
            ("SHA1_WITH_RSA_PSS".to_string(), b"data".to_vec())
        );
        // The PSS hashes the TSB names pre-hashed stay.
        for h in [Hash::Sha224, Hash::Sha256, Hash::Sha384, Hash::Sha512] {
            let s = SignScheme::RsaPss {
                hash: h,
                prehashed: true,
            };
            assert!(
                tsb_sign_request(s, &vec![0u8; h.len()], 256, false).is_ok(),
                "{h:?}"
            );
        }
    }

    /// What `sign_full_data` sends per TSB version (S2 release notes 2.1.1 and 2.2.0).
    #[test]
    fn full_data_per_version() {
        let rsa = SignScheme::RsaPkcs1 {
            hash: Some(Hash::Sha256),
        };
        let pss = SignScheme::RsaPss {
            hash: Hash::Sha256,
            prehashed: false,
        };
        let ecdsa = SignScheme::Ecdsa {
            hash: Some(Hash::Sha256),
        };
        let v = |v: TsbVersion| move || Some(v);
        let unknown = || None;
        let auto = FullData::Auto;
        // RSA PKCS#1 v1.5 on approval-gated keys: the data before 2.1.1 (or when unknown).
        assert!(full_data(rsa, true, auto, v(TsbVersion::V2_1_0)).unwrap());
        assert!(!full_data(rsa, true, auto, v(TsbVersion::V2_1_1)).unwrap());
        assert!(full_data(rsa, true, auto, unknown).unwrap());
        // ... and never on plain keys (the version is not even asked).
        assert!(!full_data(rsa, false, auto, || panic!("not asked")).unwrap());
        // PSS on any key: the data before 2.2.0.
        assert!(full_data(pss, false, auto, v(TsbVersion::V2_1_1)).unwrap());
        assert!(!full_data(pss, false, auto, v(TsbVersion::V2_2_0)).unwrap());
        // ECDSA: a digest, unless asked for the data on approval-gated keys.
        assert!(!full_data(ecdsa, true, auto, unknown).unwrap());
        assert!(full_data(ecdsa, true, FullData::Always, unknown).unwrap());
        assert!(!full_data(ecdsa, false, FullData::Always, unknown).unwrap());
        assert!(!full_data(rsa, true, FullData::Never, unknown).unwrap());
        assert_eq!(
            tsb_sign_request(rsa, b"data", 256, true).unwrap().0,
            "SHA256_WITH_RSA"
        );
        assert_eq!(
            tsb_sign_request(ecdsa, b"data", 256, true).unwrap().0,
            "SHA256_WITH_ECDSA"
        );
        // The raw mechanisms a known version cannot do are refused before anything is sent.
        let raw_pss = SignScheme::RsaPss {
            hash: Hash::Sha256,
            prehashed: true,
        };
        assert_eq!(
            full_data(raw_pss, false, auto, v(TsbVersion::V2_1_1))
                .unwrap_err()
                .rv(),
            CKR_MECHANISM_INVALID
        );
        assert!(!full_data(raw_pss, false, auto, unknown).unwrap());
        let raw_rsa = SignScheme::RsaPkcs1 { hash: None };
        assert_eq!(
            full_data(raw_rsa, true, auto, v(TsbVersion::V2_0_0))
                .unwrap_err()
                .rv(),
            CKR_MECHANISM_INVALID
        );
        assert!(!full_data(raw_rsa, false, auto, v(TsbVersion::V2_0_0)).unwrap());
    }

    #[test]
    fn oaep_mapping() {
        let p = MechParams::Oaep(OaepParams {
            hash_alg: CKM_SHA256,
            mgf: CKG_MGF1_SHA256,
            source_data: vec![],
        });
        assert_eq!(
            tsb_cipher(CKM_RSA_PKCS_OAEP, &p).unwrap().0,
            "RSA_PADDING_OAEP_WITH_SHA256"
        );
        let p = MechParams::Oaep(OaepParams {
            hash_alg: CKM_SHA256,
            mgf: CKG_MGF1_SHA256,
            source_data: vec![1],
        });
        assert_eq!(
            tsb_cipher(CKM_RSA_PKCS_OAEP, &p).unwrap_err().rv(),
            CKR_MECHANISM_PARAM_INVALID
        );
    }
}
