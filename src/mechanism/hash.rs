//! The hash functions of the mechanisms: their CKM_*/CKG_* names, DigestInfo prefixes, and
//! incremental hashing (multi-part digest, sign and verify hash locally).

use cryptoki_sys::*;
use sha1::Sha1;
use sha2::{Digest as _, Sha224, Sha256, Sha384, Sha512};
use tsb_models::algorithms::Digest;

/// Hash functions used by the mechanisms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// Digest length in bytes.
    #[allow(clippy::len_without_is_empty)] // a digest length, never empty
    pub(crate) fn len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha224 => 28,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }
    /// The same hash in the TSB's algorithm names.
    pub(crate) fn tsb(self) -> Digest {
        match self {
            Hash::Sha1 => Digest::Sha1,
            Hash::Sha224 => Digest::Sha224,
            Hash::Sha256 => Digest::Sha256,
            Hash::Sha384 => Digest::Sha384,
            Hash::Sha512 => Digest::Sha512,
        }
    }
    /// From CKM_SHA_1 .. CKM_SHA512.
    pub(crate) fn from_digest_mech(m: CK_MECHANISM_TYPE) -> Option<Hash> {
        Some(match m {
            CKM_SHA_1 => Hash::Sha1,
            CKM_SHA224 => Hash::Sha224,
            CKM_SHA256 => Hash::Sha256,
            CKM_SHA384 => Hash::Sha384,
            CKM_SHA512 => Hash::Sha512,
            _ => return None,
        })
    }
    /// From CKG_MGF1_SHA*.
    pub(crate) fn from_mgf(m: CK_RSA_PKCS_MGF_TYPE) -> Option<Hash> {
        Some(match m {
            CKG_MGF1_SHA1 => Hash::Sha1,
            CKG_MGF1_SHA224 => Hash::Sha224,
            CKG_MGF1_SHA256 => Hash::Sha256,
            CKG_MGF1_SHA384 => Hash::Sha384,
            CKG_MGF1_SHA512 => Hash::Sha512,
            _ => return None,
        })
    }
    /// The DER prefix of a DigestInfo for this hash (RFC 8017 §9.2 note 1).
    pub(crate) fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Hash::Sha1 => &[
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
                0x14,
            ],
            Hash::Sha224 => &[
                0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x04, 0x05, 0x00, 0x04, 0x1c,
            ],
            Hash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Hash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Hash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
    /// If `data` is a DigestInfo of a known hash, that hash and the digest.
    pub(crate) fn parse_digest_info(data: &[u8]) -> Option<(Hash, &[u8])> {
        [
            Hash::Sha1,
            Hash::Sha224,
            Hash::Sha256,
            Hash::Sha384,
            Hash::Sha512,
        ]
        .into_iter()
        .find_map(|h| {
            let p = h.digest_info_prefix();
            (data.len() == p.len() + h.len() && data.starts_with(p)).then(|| (h, &data[p.len()..]))
        })
    }
    /// A fresh incremental hasher.
    pub(crate) fn hasher(self) -> Hasher {
        match self {
            Hash::Sha1 => Hasher::Sha1(Sha1::new()),
            Hash::Sha224 => Hasher::Sha224(Sha224::new()),
            Hash::Sha256 => Hasher::Sha256(Sha256::new()),
            Hash::Sha384 => Hasher::Sha384(Sha384::new()),
            Hash::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }
    /// One-shot digest.
    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = self.hasher();
        h.update(data);
        h.finish()
    }
}

/// An incremental hash (for multi-part digest, sign and verify).
#[derive(Clone)]
pub(crate) enum Hasher {
    Sha1(Sha1),
    Sha224(Sha224),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    pub(crate) fn update(&mut self, d: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(d),
            Hasher::Sha224(h) => h.update(d),
            Hasher::Sha256(h) => h.update(d),
            Hasher::Sha384(h) => h.update(d),
            Hasher::Sha512(h) => h.update(d),
        }
    }
    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha224(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}
