//! Algorithm names: `signatureAlgorithm`, `cipherAlgorithm`, the signature algorithms of
//! certificates and CSRs, and the digest names of approver signatures. Each name is written once,
//! in the tables below, with what it means; the module builds the names it sends from them, the
//! emulator validates and interprets what it receives with them.
//!
//! Sources, per group:
//! - `signatureAlgorithm`: S3 `enums/tsb/SignatureAlgorithm.java`
//!   (the TSB's enum) and S1 `helpers/consts.go` (`RSA_SIGNATURE_LIST`, `EC_SIGNATURE_LIST`,
//!   `ED_SIGNATURE_LIST`, `DSA_SIGNATURE_LIST`, `BLS_SIGNATURE_LIST`); the PQC names also from the
//!   S1 `README.md`. `NONESHA1_WITH_RSA_PSS` is in neither (audit divergence #5) and is not
//!   here. Which TSB version knows which name: [`signature_algorithm_since`].
//! - `cipherAlgorithm`: S3 `.../enums/tsb/CipherAlgorithm.java`; `RSA_PADDING_PKCS` from S1
//!   `helpers/consts.go` `RSA_CIPHER_LIST` and S2 `tsb/Download/release_notes.md` 2.2.0.
//! - certificates and CSRs: S3 `.../enums/tsb/KeytoolSignatureAlgorithm.java` and S1
//!   `CERTIFICATE_RSA_SIGNATURE_LIST` (RSA); the ECDSA names from the S3 version the audit read
//!   (@321a44f9); `EDDSA` only in newer DTO copies (S6, audit divergence #3); `SHA224_WITH_ECDSA`
//!   is in no source and not in the certificate list.
//! - approver digests (`timestampDigestAlgorithm`, `approvalDigestAlgorithm`): S3
//!   `.../dto/tsb/request/AuthenticatableRequestDto.java` and `SendApprovalDto.java` field docs,
//!   S2's sample scripts (`SHA-256`), S4 `testHelpers/test_client_tsb.go`; `EdDSA` for Ed25519.

use crate::service::TsbVersion;

/// A hash function as it appears inside TSB algorithm names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Digest {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
}

impl Digest {
    /// Every digest.
    pub const ALL: [Digest; 9] = [
        Digest::Sha1,
        Digest::Sha224,
        Digest::Sha256,
        Digest::Sha384,
        Digest::Sha512,
        Digest::Sha3_224,
        Digest::Sha3_256,
        Digest::Sha3_384,
        Digest::Sha3_512,
    ];

    /// The spelling inside `signatureAlgorithm`/`cipherAlgorithm` names: `SHA256`, `SHA3256`.
    pub fn tsb_name(self) -> &'static str {
        match self {
            Digest::Sha1 => "SHA1",
            Digest::Sha224 => "SHA224",
            Digest::Sha256 => "SHA256",
            Digest::Sha384 => "SHA384",
            Digest::Sha512 => "SHA512",
            Digest::Sha3_224 => "SHA3224",
            Digest::Sha3_256 => "SHA3256",
            Digest::Sha3_384 => "SHA3384",
            Digest::Sha3_512 => "SHA3512",
        }
    }

    /// The JCA spelling of approver digest names: `SHA-256`, `SHA3-256`.
    pub fn jca_name(self) -> &'static str {
        match self {
            Digest::Sha1 => "SHA-1",
            Digest::Sha224 => "SHA-224",
            Digest::Sha256 => "SHA-256",
            Digest::Sha384 => "SHA-384",
            Digest::Sha512 => "SHA-512",
            Digest::Sha3_224 => "SHA3-224",
            Digest::Sha3_256 => "SHA3-256",
            Digest::Sha3_384 => "SHA3-384",
            Digest::Sha3_512 => "SHA3-512",
        }
    }

    /// Output length in bytes.
    #[allow(clippy::len_without_is_empty)] // a digest length, never empty
    pub fn len(self) -> usize {
        match self {
            Digest::Sha1 => 20,
            Digest::Sha224 | Digest::Sha3_224 => 28,
            Digest::Sha256 | Digest::Sha3_256 => 32,
            Digest::Sha384 | Digest::Sha3_384 => 48,
            Digest::Sha512 | Digest::Sha3_512 => 64,
        }
    }
}

/// How an approver's signature (timestamp proof or approval) is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApproverDigest {
    /// RSA PKCS#1 v1.5 or ECDSA (by key type) with this digest.
    Digest(Digest),
    /// Ed25519, no digest.
    EdDsa,
}

/// The digest name of Ed25519 approvers.
pub const EDDSA_APPROVER_DIGEST: &str = "EdDSA";

impl ApproverDigest {
    /// The name sent in `timestampDigestAlgorithm` / `approvalDigestAlgorithm`.
    pub fn name(self) -> &'static str {
        match self {
            ApproverDigest::Digest(d) => d.jca_name(),
            ApproverDigest::EdDsa => EDDSA_APPROVER_DIGEST,
        }
    }

    /// Parse a digest name, case-insensitively. Besides the documented names this tolerates
    /// `SHA256` etc. without the dash, and `ED25519` and `NONE` for Ed25519: the emulator's
    /// leniency, which no source confirms.
    pub fn parse(name: &str) -> Option<ApproverDigest> {
        let upper = name.to_ascii_uppercase();
        if matches!(upper.as_str(), "EDDSA" | "ED25519" | "NONE") {
            return Some(ApproverDigest::EdDsa);
        }
        Digest::ALL
            .into_iter()
            .find(|d| {
                d.jca_name() == upper || (d.jca_name().starts_with("SHA-") && d.tsb_name() == upper)
            })
            .map(ApproverDigest::Digest)
    }
}

/// The signature primitive of a `signatureAlgorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1,
    /// RSASSA-PSS, MGF1 with the same hash, salt as long as the hash.
    RsaPss,
    /// ECDSA, DER `SEQUENCE{r, s}` output.
    Ecdsa,
    /// Ed25519.
    EdDsa,
    /// DSA.
    Dsa,
    /// Anything else (deterministic ECDSA, Schnorr, BLS, ISS, PQC): named, not interpreted.
    Other,
}

/// What the TSB does with the payload before the primitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The TSB hashes the payload with this digest (`SHA256_WITH_RSA`).
    Hash(Digest),
    /// The payload is already the digest of this hash (`NONESHA256_WITH_RSA`; the TSB adds the
    /// DigestInfo for PKCS#1 v1.5).
    Digest(Digest),
    /// The payload is used as given: `NONE_WITH_RSA` pads it (a DigestInfo, as CKM_RSA_PKCS),
    /// `NONE_WITH_ECDSA` and `NONE_WITH_DSA` take a digest.
    Raw,
    /// `NONE_WITH_RSA_PSS`: the payload is a digest whose hash follows from its length.
    DigestAnyLength,
    /// `DOUBLE_SHA256_WITH_ECDSA`: SHA-256 of SHA-256 of the payload.
    DoubleSha256,
    /// The scheme signs the message itself (Ed25519).
    Message,
    /// Not interpreted.
    Other,
}

/// One `signatureAlgorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureAlgorithm {
    /// The enum name on the wire.
    pub name: &'static str,
    /// The primitive.
    pub scheme: Scheme,
    /// What happens to the payload.
    pub input: Input,
}

macro_rules! signature_algorithms {
    ($($id:ident = $scheme:ident, $input:expr;)*) => {
        /// The `signatureAlgorithm` names, as constants (each written once, in the table).
        #[allow(missing_docs)]
        pub mod name {
            $(pub const $id: &str = stringify!($id);)*
        }
        /// Every `signatureAlgorithm` the TSB knows (see the module docs for the sources).
        pub const SIGNATURE_ALGORITHMS: &[SignatureAlgorithm] = &[
            $(SignatureAlgorithm { name: name::$id, scheme: Scheme::$scheme, input: $input },)*
        ];
    };
}

use Digest::*;
use Input::{DigestAnyLength, DoubleSha256, Hash, Message, Raw};

signature_algorithms! {
    // RSA PKCS#1 v1.5 (S3, S1 RSA_SIGNATURE_LIST).
    SHA1_WITH_RSA = RsaPkcs1, Hash(Sha1);
    SHA224_WITH_RSA = RsaPkcs1, Hash(Sha224);
    SHA256_WITH_RSA = RsaPkcs1, Hash(Sha256);
    SHA384_WITH_RSA = RsaPkcs1, Hash(Sha384);
    SHA512_WITH_RSA = RsaPkcs1, Hash(Sha512);
    NONE_WITH_RSA = RsaPkcs1, Raw;
    NONESHA1_WITH_RSA = RsaPkcs1, Input::Digest(Sha1);
    NONESHA224_WITH_RSA = RsaPkcs1, Input::Digest(Sha224);
    NONESHA256_WITH_RSA = RsaPkcs1, Input::Digest(Sha256);
    NONESHA384_WITH_RSA = RsaPkcs1, Input::Digest(Sha384);
    NONESHA512_WITH_RSA = RsaPkcs1, Input::Digest(Sha512);
    // RSA PSS (S3, S1 RSA_SIGNATURE_LIST).
    SHA1_WITH_RSA_PSS = RsaPss, Hash(Sha1);
    SHA224_WITH_RSA_PSS = RsaPss, Hash(Sha224);
    SHA256_WITH_RSA_PSS = RsaPss, Hash(Sha256);
    SHA384_WITH_RSA_PSS = RsaPss, Hash(Sha384);
    SHA512_WITH_RSA_PSS = RsaPss, Hash(Sha512);
    // There is no NONESHA1_WITH_RSA_PSS: S1 and S3 name NONESHA224..512_WITH_RSA_PSS only (audit
    // divergence #5); a pre-hashed PSS signature with SHA-1 has no TSB name.
    NONE_WITH_RSA_PSS = RsaPss, DigestAnyLength;
    NONESHA224_WITH_RSA_PSS = RsaPss, Input::Digest(Sha224);
    NONESHA256_WITH_RSA_PSS = RsaPss, Input::Digest(Sha256);
    NONESHA384_WITH_RSA_PSS = RsaPss, Input::Digest(Sha384);
    NONESHA512_WITH_RSA_PSS = RsaPss, Input::Digest(Sha512);
    // ECDSA (S3, S1 EC_SIGNATURE_LIST).
    NONE_WITH_ECDSA = Ecdsa, Raw;
    SHA1_WITH_ECDSA = Ecdsa, Hash(Sha1);
    SHA224_WITH_ECDSA = Ecdsa, Hash(Sha224);
    SHA256_WITH_ECDSA = Ecdsa, Hash(Sha256);
    SHA384_WITH_ECDSA = Ecdsa, Hash(Sha384);
    SHA512_WITH_ECDSA = Ecdsa, Hash(Sha512);
    SHA3224_WITH_ECDSA = Ecdsa, Hash(Sha3_224);
    SHA3256_WITH_ECDSA = Ecdsa, Hash(Sha3_256);
    SHA3384_WITH_ECDSA = Ecdsa, Hash(Sha3_384);
    SHA3512_WITH_ECDSA = Ecdsa, Hash(Sha3_512);
    DOUBLE_SHA256_WITH_ECDSA = Ecdsa, DoubleSha256;
    SHA256_WITH_ECDSA_DETERMINISTIC = Other, Input::Other;
    KECCAK224_WITH_ECDSA = Other, Input::Other;
    KECCAK256_WITH_ECDSA = Other, Input::Other;
    KECCAK384_WITH_ECDSA = Other, Input::Other;
    KECCAK512_WITH_ECDSA = Other, Input::Other;
    // Schnorr, TSB 2.2.0 (S3, release notes 2.2.0).
    NONE_WITH_EC_SCHNORR_BIP0340 = Other, Input::Other;
    // DSA (S3, S1 DSA_SIGNATURE_LIST).
    NONE_WITH_DSA = Dsa, Raw;
    SHA1_WITH_DSA = Dsa, Hash(Sha1);
    SHA224_WITH_DSA = Dsa, Hash(Sha224);
    SHA256_WITH_DSA = Dsa, Hash(Sha256);
    SHA384_WITH_DSA = Dsa, Hash(Sha384);
    SHA512_WITH_DSA = Dsa, Hash(Sha512);
    // Ed25519, BLS, ISS (S3, S1 ED_/BLS_SIGNATURE_LIST).
    EDDSA = EdDsa, Message;
    BLS = Other, Input::Other;
    ISS_KERL = Other, Input::Other;
    // PQC (S3, S1 README), with the draft names DILITHIUM and SPHINCS_PLUS (S3 @Hidden).
    ML_DSA = Other, Input::Other;
    ML_DSA_M = Other, Input::Other;
    SLH_DSA = Other, Input::Other;
    LMS = Other, Input::Other;
    DILITHIUM = Other, Input::Other;
    SPHINCS_PLUS = Other, Input::Other;
}

/// The `signatureAlgorithm` of this name.
pub fn signature_algorithm(name: &str) -> Option<&'static SignatureAlgorithm> {
    SIGNATURE_ALGORITHMS.iter().find(|a| a.name == name)
}

/// The `signatureAlgorithm` with this primitive and payload handling, if the TSB has one.
/// (`Other` does not identify an algorithm: no answer for it.)
pub fn signature_algorithm_for(
    scheme: Scheme,
    input: Input,
) -> Option<&'static SignatureAlgorithm> {
    if scheme == Scheme::Other || input == Input::Other {
        return None;
    }
    SIGNATURE_ALGORITHMS
        .iter()
        .find(|a| a.scheme == scheme && a.input == input)
}

/// Whether the TSB knows this `signatureAlgorithm` name: the table, the PQC hash variants of
/// [`pqc_signature`] (`SHA2_256_WITH_ML_DSA`, `SHAKE_128_WITH_SLH_DSA`, ... in S3) and the XMSS
/// names (`XMSS-SHA256_10_256`, `XMSS-SHAKE256_10_256` in S1 `README.md`), the latter matched by
/// prefix (more leniently than the sources list them).
pub fn is_known_signature_algorithm(name: &str) -> bool {
    signature_algorithm(name).is_some()
        || pqc_signature(name).is_some()
        || name.starts_with("XMSS-")
}

/// Signature algorithms of certificates and CSRs (`/v1/certificate/**`): a restricted list
/// (`KeytoolSignatureAlgorithm`): S3 `enums/tsb/KeytoolSignatureAlgorithm.java` (RSA, and
/// `SHA256/384/512_WITH_ECDSA` in its copy @d1c4461a) and S1 `CERTIFICATE_RSA_SIGNATURE_LIST`;
/// `EDDSA` only in S6 `client/enums/KeytoolSignatureAlgorithm.java`
/// ([`certificate_signature_algorithm_in`] gates it). `SHA224_WITH_ECDSA` is in no source and
/// not here.
pub const CERTIFICATE_SIGNATURE_ALGORITHMS: &[&str] = &[
    name::SHA224_WITH_RSA,
    name::SHA256_WITH_RSA,
    name::SHA384_WITH_RSA,
    name::SHA512_WITH_RSA,
    name::SHA256_WITH_ECDSA,
    name::SHA384_WITH_ECDSA,
    name::SHA512_WITH_ECDSA,
    name::EDDSA,
];

/// The signature algorithm of this name, if certificates and CSRs may use it (on the newest TSB).
pub fn certificate_signature_algorithm(name: &str) -> Option<&'static SignatureAlgorithm> {
    certificate_signature_algorithm_in(name, TsbVersion::NEWEST)
}

/// The signature algorithm of this name, if the `KeytoolSignatureAlgorithm` of TSB `v` has it:
/// `EDDSA` only with the newer certificate DTOs ([`TsbVersion::has_newer_certificate_dtos`]).
pub fn certificate_signature_algorithm_in(
    name: &str,
    v: TsbVersion,
) -> Option<&'static SignatureAlgorithm> {
    if name == name::EDDSA && !v.has_newer_certificate_dtos() {
        return None;
    }
    CERTIFICATE_SIGNATURE_ALGORITHMS
        .contains(&name)
        .then(|| signature_algorithm(name))
        .flatten()
}

/// The first TSB version whose `SignatureAlgorithm` enum has this name (for a known name):
/// - `LMS`: 2.1.0 (S2 release notes 2.1.0, "Support for PQC-Algorithm LMS");
/// - `NONE_WITH_EC_SCHNORR_BIP0340`, `ML_DSA`, `ML_DSA_M`, `SLH_DSA` and the `*_WITH_ML_DSA` /
///   `*_WITH_SLH_DSA` families: 2.2.0 (release notes 2.2.0: BIP 0340, final FIPS 203-205 names);
/// - `NONE_WITH_RSA_PSS` and `NONESHA224..512_WITH_RSA_PSS`: 2.2.0. This one is an inference: the
///   S3 enum copy of the pre-2.2 TSB (@d1c4461a, draft PQC names, `KYBER`) lacks them, the copy
///   of the 2.2 era (@08bfdf25, final PQC names, Schnorr) has them, and no release note names
///   them;
/// - everything else: every version this project emulates (1.18.0 and before; the pre-hashed
///   `NONESHA*_WITH_RSA` names since 1.17.1, release notes "SignatureAlgorithms ... to be used
///   with pre-hashing the payload").
pub fn signature_algorithm_since(name: &str) -> TsbVersion {
    let pss_prehashed = signature_algorithm(name).is_some_and(|a| {
        a.scheme == Scheme::RsaPss && matches!(a.input, Input::Digest(_) | Input::DigestAnyLength)
    });
    if name == name::LMS {
        TsbVersion::V2_1_0
    } else if pss_prehashed
        || matches!(
            name,
            name::NONE_WITH_EC_SCHNORR_BIP0340 | name::ML_DSA | name::ML_DSA_M | name::SLH_DSA
        )
        || name.ends_with("_WITH_ML_DSA")
        || name.ends_with("_WITH_SLH_DSA")
    {
        TsbVersion::V2_2_0
    } else {
        TsbVersion::new(1, 0, 0)
    }
}

/// Whether TSB `v` knows this `signatureAlgorithm` name ([`is_known_signature_algorithm`] and
/// [`signature_algorithm_since`]).
pub fn is_known_signature_algorithm_in(name: &str, v: TsbVersion) -> bool {
    is_known_signature_algorithm(name) && signature_algorithm_since(name) <= v
}

/// The pre-hash of a HashML-DSA / HashSLH-DSA `signatureAlgorithm` (FIPS 204 §5.4, FIPS 205
/// §10.2): `SHA2_256_WITH_ML_DSA` is SHA-256, `SHAKE_128_WITH_SLH_DSA` SHAKE128 with 256 bits of
/// output, `SHAKE_256_WITH_*` SHAKE256 with 512 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PqcPreHash {
    /// A SHA-2 or SHA-3 digest.
    Digest(Digest),
    /// SHAKE128, 32 bytes.
    Shake128,
    /// SHAKE256, 64 bytes.
    Shake256,
}

/// A post-quantum `signatureAlgorithm`: `ML_DSA` / `SLH_DSA` sign the message itself (pure),
/// the `<hash>_WITH_ML_DSA` / `_WITH_SLH_DSA` ones a pre-hash of it (S3
/// `enums/tsb/SignatureAlgorithm.java` @08bfdf25; S4 `backend/signature_algorithms_test.go` pairs
/// `ML_DSA` and `SHA2_256_WITH_ML_DSA` with ML-DSA keys, `SLH_DSA` and `SHA3_512_WITH_SLH_DSA` with
/// SLH-DSA keys; S1 `sign_test.go` @8b8418a6 signs ML-DSA keys with `ML_DSA` and SLH-DSA keys with
/// `SLH_DSA`). `ML_DSA_M` (presumably an external-mu variant) is known but not interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PqcSignature {
    /// The key family the algorithm needs.
    pub family: crate::key_types::PqcFamily,
    /// The pre-hash, `None` for pure signing.
    pub pre_hash: Option<PqcPreHash>,
}

/// The post-quantum signature algorithm of this name.
pub fn pqc_signature(name: &str) -> Option<PqcSignature> {
    use crate::key_types::PqcFamily;
    let (pre, family) = if let Some(p) = name.strip_suffix("_WITH_ML_DSA") {
        (Some(p), PqcFamily::MlDsa)
    } else if let Some(p) = name.strip_suffix("_WITH_SLH_DSA") {
        (Some(p), PqcFamily::SlhDsa)
    } else if name == name::ML_DSA {
        (None, PqcFamily::MlDsa)
    } else if name == name::SLH_DSA {
        (None, PqcFamily::SlhDsa)
    } else {
        return None;
    };
    let pre_hash = match pre {
        None => None,
        Some(p) => Some(match p {
            "SHA2_224" => PqcPreHash::Digest(Sha224),
            "SHA2_256" => PqcPreHash::Digest(Sha256),
            "SHA2_384" => PqcPreHash::Digest(Sha384),
            "SHA2_512" => PqcPreHash::Digest(Sha512),
            "SHA3_224" => PqcPreHash::Digest(Sha3_224),
            "SHA3_256" => PqcPreHash::Digest(Sha3_256),
            "SHA3_384" => PqcPreHash::Digest(Sha3_384),
            "SHA3_512" => PqcPreHash::Digest(Sha3_512),
            "SHAKE_128" => PqcPreHash::Shake128,
            "SHAKE_256" => PqcPreHash::Shake256,
            _ => return None,
        }),
    };
    Some(PqcSignature { family, pre_hash })
}

/// What a `cipherAlgorithm` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// RSAES-PKCS1-v1_5.
    RsaPkcs1,
    /// RSAES-OAEP with MGF1 of the same hash (`RSA_PADDING_OAEP` alone: the JCE default SHA-1,
    /// which no source states).
    RsaOaep(Digest),
    /// Raw RSA; the result is the whole left-zero-padded block (S1 `README.md`).
    RsaNoPadding,
    /// A symmetric cipher (AES, ChaCha20, Camellia, TDEA): named, not interpreted.
    Symmetric,
}

/// One `cipherAlgorithm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CipherAlgorithm {
    /// The enum name on the wire.
    pub name: &'static str,
    /// What it does.
    pub cipher: Cipher,
}

const fn cipher(name: &'static str, cipher: Cipher) -> CipherAlgorithm {
    CipherAlgorithm { name, cipher }
}

/// Every `cipherAlgorithm` (see the module docs for the sources). `RSA` comes before
/// `RSA_PADDING_PKCS`, so it is the one [`cipher_algorithm_for`] gives for PKCS#1 v1.5: what the
/// module sends, and the only PKCS#1 v1.5 name every version has (audit divergence #7: since TSB
/// 2.2.0 `RSA_PADDING_PKCS` "(legacy)" is the explicit name). That `RSA` means PKCS#1 v1.5 is
/// the JCE's default for `Cipher.getInstance("RSA")` (S3 maps the name to the JCE name `RSA`);
/// no Securosys source says what the HSM provider does with it.
pub const CIPHER_ALGORITHMS: &[CipherAlgorithm] = &[
    cipher("RSA", Cipher::RsaPkcs1),
    cipher("RSA_PADDING_PKCS", Cipher::RsaPkcs1),
    cipher("RSA_PADDING_OAEP", Cipher::RsaOaep(Sha1)),
    cipher("RSA_PADDING_OAEP_WITH_SHA1", Cipher::RsaOaep(Sha1)),
    cipher("RSA_PADDING_OAEP_WITH_SHA224", Cipher::RsaOaep(Sha224)),
    cipher("RSA_PADDING_OAEP_WITH_SHA256", Cipher::RsaOaep(Sha256)),
    cipher("RSA_PADDING_OAEP_WITH_SHA384", Cipher::RsaOaep(Sha384)),
    cipher("RSA_PADDING_OAEP_WITH_SHA512", Cipher::RsaOaep(Sha512)),
    cipher("RSA_NO_PADDING", Cipher::RsaNoPadding),
    cipher("AES", Cipher::Symmetric),
    cipher("AES_GCM", Cipher::Symmetric),
    cipher("AES_CTR", Cipher::Symmetric),
    cipher("AES_ECB", Cipher::Symmetric),
    cipher("AES_CBC_NO_PADDING", Cipher::Symmetric),
    cipher("CHACHA20", Cipher::Symmetric),
    cipher("CHACHA20_AEAD", Cipher::Symmetric),
    cipher("CAMELLIA", Cipher::Symmetric),
    cipher("CAMELLIA_CBC_NO_PADDING", Cipher::Symmetric),
    cipher("CAMELLIA_ECB", Cipher::Symmetric),
    cipher("TDEA_CBC", Cipher::Symmetric),
    cipher("TDEA_ECB", Cipher::Symmetric),
    cipher("TDEA_CBC_NO_PADDING", Cipher::Symmetric),
];

/// The `cipherAlgorithm` of this name.
pub fn cipher_algorithm(name: &str) -> Option<&'static CipherAlgorithm> {
    CIPHER_ALGORITHMS.iter().find(|a| a.name == name)
}

/// The `cipherAlgorithm` of this name, if TSB `v` has it: `RSA_PADDING_PKCS` since 2.2.0
/// ([`TsbVersion::has_rsa_padding_pkcs`]); it is missing from S3's enum copy, which has `RSA`.
pub fn cipher_algorithm_in(name: &str, v: TsbVersion) -> Option<&'static CipherAlgorithm> {
    if name == "RSA_PADDING_PKCS" && !v.has_rsa_padding_pkcs() {
        return None;
    }
    cipher_algorithm(name)
}

/// The name for this cipher (the first in [`CIPHER_ALGORITHMS`]); none for `Symmetric`.
pub fn cipher_algorithm_for(c: Cipher) -> Option<&'static str> {
    if c == Cipher::Symmetric {
        return None;
    }
    CIPHER_ALGORITHMS
        .iter()
        .find(|a| a.cipher == c)
        .map(|a| a.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_interpretations_unambiguous() {
        for (i, a) in SIGNATURE_ALGORITHMS.iter().enumerate() {
            for b in &SIGNATURE_ALGORITHMS[i + 1..] {
                assert_ne!(a.name, b.name);
                if a.scheme != Scheme::Other && a.input != Input::Other {
                    assert!(
                        (a.scheme, a.input) != (b.scheme, b.input),
                        "{} and {} mean the same",
                        a.name,
                        b.name
                    );
                }
            }
        }
        for (i, a) in CIPHER_ALGORITHMS.iter().enumerate() {
            assert!(CIPHER_ALGORITHMS[i + 1..].iter().all(|b| b.name != a.name));
        }
    }

    #[test]
    fn names_follow_the_tsb_spelling() {
        // The interpretation agrees with the name, so a wrong table row cannot hide.
        for a in SIGNATURE_ALGORITHMS {
            let suffix = match a.scheme {
                Scheme::RsaPkcs1 => "_WITH_RSA",
                Scheme::RsaPss => "_WITH_RSA_PSS",
                Scheme::Ecdsa => "_WITH_ECDSA",
                Scheme::Dsa => "_WITH_DSA",
                Scheme::EdDsa | Scheme::Other => continue,
            };
            let prefix = match a.input {
                Input::Hash(d) => d.tsb_name().to_string(),
                Input::Digest(d) => format!("NONE{}", d.tsb_name()),
                Input::Raw | Input::DigestAnyLength => "NONE".into(),
                Input::DoubleSha256 => "DOUBLE_SHA256".into(),
                Input::Message | Input::Other => unreachable!("{}", a.name),
            };
            assert_eq!(a.name, format!("{prefix}{suffix}"));
        }
        for a in CIPHER_ALGORITHMS {
            if let Cipher::RsaOaep(d) = a.cipher {
                assert!(a.name == "RSA_PADDING_OAEP" || a.name.ends_with(d.tsb_name()));
            }
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(
            signature_algorithm_for(Scheme::RsaPkcs1, Input::Digest(Sha256)).map(|a| a.name),
            Some("NONESHA256_WITH_RSA")
        );
        // Audit divergence #5: a pre-hashed PSS signature with SHA-1 has no TSB name.
        assert_eq!(
            signature_algorithm_for(Scheme::RsaPss, Input::Digest(Sha1)),
            None
        );
        assert!(!is_known_signature_algorithm("NONESHA1_WITH_RSA_PSS"));
        assert_eq!(
            signature_algorithm_for(Scheme::Ecdsa, Input::Digest(Sha256)),
            None
        );
        assert_eq!(signature_algorithm_for(Scheme::Other, Input::Other), None);
        assert!(is_known_signature_algorithm("SHA3_256_WITH_ML_DSA"));
        assert!(!is_known_signature_algorithm("MD5_WITH_ML_DSA"));
        use crate::key_types::PqcFamily;
        assert_eq!(
            pqc_signature("ML_DSA"),
            Some(PqcSignature {
                family: PqcFamily::MlDsa,
                pre_hash: None
            })
        );
        assert_eq!(
            pqc_signature("SHAKE_256_WITH_SLH_DSA"),
            Some(PqcSignature {
                family: PqcFamily::SlhDsa,
                pre_hash: Some(PqcPreHash::Shake256)
            })
        );
        assert_eq!(
            pqc_signature("SHA2_384_WITH_ML_DSA").and_then(|s| s.pre_hash),
            Some(PqcPreHash::Digest(Sha384))
        );
        assert_eq!(pqc_signature("ML_DSA_M"), None);
        assert_eq!(pqc_signature("DILITHIUM"), None);
        assert!(is_known_signature_algorithm("XMSS-SHA256_10_256"));
        assert!(!is_known_signature_algorithm("SHA256_WITH_FOO"));
        assert!(!is_known_signature_algorithm("HMAC_SHA256"));
        assert_eq!(
            certificate_signature_algorithm("SHA384_WITH_RSA").map(|a| a.input),
            Some(Hash(Sha384))
        );
        assert_eq!(certificate_signature_algorithm("SHA1_WITH_RSA"), None);
        assert_eq!(certificate_signature_algorithm("SHA224_WITH_ECDSA"), None);
        assert!(certificate_signature_algorithm_in("EDDSA", TsbVersion::V2_2_0).is_none());
        assert!(certificate_signature_algorithm_in("EDDSA", TsbVersion::V2_3_0).is_some());
        assert!(
            certificate_signature_algorithm_in("SHA256_WITH_ECDSA", TsbVersion::V1_18_0).is_some()
        );
        assert!(cipher_algorithm_in("RSA_PADDING_PKCS", TsbVersion::V2_1_1).is_none());
        assert!(cipher_algorithm_in("RSA_PADDING_PKCS", TsbVersion::V2_2_0).is_some());
        assert!(cipher_algorithm_in("RSA", TsbVersion::V1_18_0).is_some());
        assert!(is_known_signature_algorithm_in(
            "NONESHA256_WITH_RSA",
            TsbVersion::V1_18_0
        ));
        assert!(!is_known_signature_algorithm_in(
            "NONESHA256_WITH_RSA_PSS",
            TsbVersion::V2_1_1
        ));
        assert!(is_known_signature_algorithm_in(
            "NONESHA256_WITH_RSA_PSS",
            TsbVersion::V2_2_0
        ));
        assert!(!is_known_signature_algorithm_in(
            "NONE_WITH_RSA_PSS",
            TsbVersion::V2_1_1
        ));
        assert!(!is_known_signature_algorithm_in(
            "SHA3_256_WITH_ML_DSA",
            TsbVersion::V2_1_1
        ));
        assert!(!is_known_signature_algorithm_in("LMS", TsbVersion::V2_0_0));
        assert!(is_known_signature_algorithm_in("LMS", TsbVersion::V2_1_0));
        assert_eq!(cipher_algorithm_for(Cipher::RsaPkcs1), Some("RSA"));
        assert_eq!(
            cipher_algorithm_for(Cipher::RsaOaep(Sha384)),
            Some("RSA_PADDING_OAEP_WITH_SHA384")
        );
        assert_eq!(cipher_algorithm_for(Cipher::Symmetric), None);
        assert_eq!(
            cipher_algorithm("RSA_PADDING_OAEP").map(|c| c.cipher),
            Some(Cipher::RsaOaep(Sha1))
        );
    }

    #[test]
    fn approver_digests() {
        assert_eq!(
            ApproverDigest::parse("SHA-256"),
            Some(ApproverDigest::Digest(Sha256))
        );
        assert_eq!(
            ApproverDigest::parse("sha3-512"),
            Some(ApproverDigest::Digest(Sha3_512))
        );
        assert_eq!(
            ApproverDigest::parse("SHA384"),
            Some(ApproverDigest::Digest(Sha384))
        );
        assert_eq!(ApproverDigest::parse("SHA3384"), None);
        assert_eq!(ApproverDigest::parse("EdDSA"), Some(ApproverDigest::EdDsa));
        assert_eq!(ApproverDigest::parse("MD5"), None);
        for d in Digest::ALL {
            let a = ApproverDigest::Digest(d);
            assert_eq!(ApproverDigest::parse(a.name()), Some(a));
        }
        assert_eq!(ApproverDigest::EdDsa.name(), "EdDSA");
    }
}
