//! Every signing and decryption mechanism the module offers, how to call it and how OpenSSL
//! checks the result with the public key read from the TSB (not from the module). A mechanism the
//! module offers that this table does not know is a failure: contract mode covers all of them.

use cryptoki_sys::*;
use openssl::hash::{hash, MessageDigest};
use openssl::pkey::{PKey, Public};
use openssl::sign::{RsaPssSaltlen, Verifier};

/// The key pairs contract mode generates (and the TSB algorithm behind each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// RSA-2048, sign and decrypt.
    Rsa,
    /// EC P-256.
    P256,
    /// EC P-384.
    P384,
    /// EC P-521.
    P521,
    /// EC secp256k1.
    K256,
    /// Ed25519.
    Ed25519,
}

impl Kind {
    /// Every kind, in generation order.
    pub const ALL: [Kind; 6] = [
        Kind::Rsa,
        Kind::P256,
        Kind::P384,
        Kind::P521,
        Kind::K256,
        Kind::Ed25519,
    ];

    /// The short label (the module adds the run prefix).
    pub fn label(self) -> &'static str {
        match self {
            Kind::Rsa => "rsa-2048",
            Kind::P256 => "ec-p256",
            Kind::P384 => "ec-p384",
            Kind::P521 => "ec-p521",
            Kind::K256 => "ec-secp256k1",
            Kind::Ed25519 => "ed25519",
        }
    }

    /// The curve OID of an EC or EdDSA key.
    pub fn curve_oid(self) -> Option<&'static str> {
        match self {
            Kind::Rsa => None,
            Kind::P256 => Some("1.2.840.10045.3.1.7"),
            Kind::P384 => Some("1.3.132.0.34"),
            Kind::P521 => Some("1.3.132.0.35"),
            Kind::K256 => Some("1.3.132.0.10"),
            Kind::Ed25519 => Some("1.3.101.112"),
        }
    }

    fn is_ecdsa(self) -> bool {
        matches!(self, Kind::P256 | Kind::P384 | Kind::P521 | Kind::K256)
    }

    /// The hash a caller of raw CKM_ECDSA would use for this curve.
    fn ecdsa_digest(self) -> MessageDigest {
        match self {
            Kind::P384 => MessageDigest::sha384(),
            Kind::P521 => MessageDigest::sha512(),
            _ => MessageDigest::sha256(),
        }
    }
}

/// A mechanism parameter.
#[derive(Debug, Clone, Copy)]
pub enum Param {
    /// None.
    None,
    /// CK_RSA_PKCS_PSS_PARAMS with MGF1 of the same hash and sLen = hash length.
    Pss(CK_MECHANISM_TYPE),
    /// CK_RSA_PKCS_OAEP_PARAMS with MGF1 of the same hash and no label.
    Oaep(CK_MECHANISM_TYPE),
}

/// How OpenSSL checks a signature over the message.
#[derive(Clone)]
pub enum Check {
    /// RSASSA-PKCS1-v1_5 with this hash.
    Pkcs1(MessageDigest),
    /// RSASSA-PSS, MGF1 and salt length of this hash.
    Pss(MessageDigest),
    /// Raw PKCS#1 v1.5 type 1 padding around exactly these bytes (CKM_RSA_PKCS on any input).
    RawRsa(Vec<u8>),
    /// ECDSA with this hash; the module's signature is r‖s.
    Ecdsa(MessageDigest),
    /// Pure Ed25519.
    Ed25519,
}

/// One signature to make and check.
pub struct Plan {
    /// For the report.
    pub what: String,
    /// The mechanism.
    pub mech: CK_MECHANISM_TYPE,
    /// Its parameter.
    pub param: Param,
    /// What C_Sign gets.
    pub input: Vec<u8>,
    /// How to check it.
    pub check: Check,
}

/// The hash of a digest mechanism, and its OpenSSL and MGF1 equivalents.
fn hash_of(m: CK_MECHANISM_TYPE) -> Option<(MessageDigest, CK_RSA_PKCS_MGF_TYPE, &'static str)> {
    Some(match m {
        CKM_SHA_1 => (MessageDigest::sha1(), CKG_MGF1_SHA1, "SHA-1"),
        CKM_SHA224 => (MessageDigest::sha224(), CKG_MGF1_SHA224, "SHA-224"),
        CKM_SHA256 => (MessageDigest::sha256(), CKG_MGF1_SHA256, "SHA-256"),
        CKM_SHA384 => (MessageDigest::sha384(), CKG_MGF1_SHA384, "SHA-384"),
        CKM_SHA512 => (MessageDigest::sha512(), CKG_MGF1_SHA512, "SHA-512"),
        _ => return None,
    })
}

const DIGESTS: [CK_MECHANISM_TYPE; 5] = [CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512];

/// The digest mechanism behind a hash-and-sign mechanism.
fn hash_and_sign(m: CK_MECHANISM_TYPE) -> Option<(CK_MECHANISM_TYPE, &'static str)> {
    Some(match m {
        CKM_SHA1_RSA_PKCS => (CKM_SHA_1, "pkcs1"),
        CKM_SHA224_RSA_PKCS => (CKM_SHA224, "pkcs1"),
        CKM_SHA256_RSA_PKCS => (CKM_SHA256, "pkcs1"),
        CKM_SHA384_RSA_PKCS => (CKM_SHA384, "pkcs1"),
        CKM_SHA512_RSA_PKCS => (CKM_SHA512, "pkcs1"),
        CKM_SHA1_RSA_PKCS_PSS => (CKM_SHA_1, "pss"),
        CKM_SHA224_RSA_PKCS_PSS => (CKM_SHA224, "pss"),
        CKM_SHA256_RSA_PKCS_PSS => (CKM_SHA256, "pss"),
        CKM_SHA384_RSA_PKCS_PSS => (CKM_SHA384, "pss"),
        CKM_SHA512_RSA_PKCS_PSS => (CKM_SHA512, "pss"),
        CKM_ECDSA_SHA1 => (CKM_SHA_1, "ecdsa"),
        CKM_ECDSA_SHA224 => (CKM_SHA224, "ecdsa"),
        CKM_ECDSA_SHA256 => (CKM_SHA256, "ecdsa"),
        CKM_ECDSA_SHA384 => (CKM_SHA384, "ecdsa"),
        CKM_ECDSA_SHA512 => (CKM_SHA512, "ecdsa"),
        _ => return None,
    })
}

/// The DigestInfo prefix of SHA-256 (PKCS#1 v2.2, 9.2 note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The signatures to make with `mech` on a key of `kind` over `data`; `None` when this file
/// does not know the mechanism, an empty list when it does not apply to `kind`.
pub fn sign_plans(mech: CK_MECHANISM_TYPE, kind: Kind, data: &[u8]) -> Option<Vec<Plan>> {
    let plan = |what: String, param, input: Vec<u8>, check| Plan {
        what,
        mech,
        param,
        input,
        check,
    };
    if let Some((digest, family)) = hash_and_sign(mech) {
        let (md, _, name) = hash_of(digest)?;
        let applies = match family {
            "ecdsa" => kind.is_ecdsa(),
            _ => kind == Kind::Rsa,
        };
        if !applies {
            return Some(vec![]);
        }
        let (param, check) = match family {
            "pkcs1" => (Param::None, Check::Pkcs1(md)),
            "pss" => (Param::Pss(digest), Check::Pss(md)),
            _ => (Param::None, Check::Ecdsa(md)),
        };
        return Some(vec![plan(name.to_string(), param, data.to_vec(), check)]);
    }
    Some(match (mech, kind) {
        (CKM_RSA_PKCS, Kind::Rsa) => {
            let mut di = SHA256_DIGEST_INFO.to_vec();
            di.extend_from_slice(&hash(MessageDigest::sha256(), data).expect("SHA-256"));
            let raw = b"contract: raw CKM_RSA_PKCS input".to_vec();
            vec![
                plan(
                    "a SHA-256 DigestInfo".into(),
                    Param::None,
                    di,
                    Check::Pkcs1(MessageDigest::sha256()),
                ),
                plan(
                    "raw bytes".into(),
                    Param::None,
                    raw.clone(),
                    Check::RawRsa(raw),
                ),
            ]
        }
        (CKM_RSA_PKCS_PSS, Kind::Rsa) => DIGESTS
            .iter()
            .filter(|d| **d != CKM_SHA_1) // no pre-hashed PSS with SHA-1 on the TSB (README)
            .map(|d| {
                let (md, _, name) = hash_of(*d).expect("digest");
                plan(
                    format!("a {name} digest"),
                    Param::Pss(*d),
                    hash(md, data).expect("digest").to_vec(),
                    Check::Pss(md),
                )
            })
            .collect(),
        (CKM_ECDSA, k) if k.is_ecdsa() => {
            let md = k.ecdsa_digest();
            vec![plan(
                "a digest".into(),
                Param::None,
                hash(md, data).expect("digest").to_vec(),
                Check::Ecdsa(md),
            )]
        }
        (CKM_EDDSA, Kind::Ed25519) => vec![plan(
            "pure Ed25519".into(),
            Param::None,
            data.to_vec(),
            Check::Ed25519,
        )],
        (CKM_RSA_PKCS | CKM_RSA_PKCS_PSS | CKM_ECDSA | CKM_EDDSA, _) => vec![],
        _ => return None,
    })
}

/// The decryptions to check with `mech` (RSA keys only): the OAEP hashes, or PKCS#1 v1.5.
pub fn decrypt_params(mech: CK_MECHANISM_TYPE) -> Option<Vec<Param>> {
    match mech {
        CKM_RSA_PKCS => Some(vec![Param::None]),
        CKM_RSA_PKCS_OAEP => Some(DIGESTS.iter().map(|d| Param::Oaep(*d)).collect()),
        _ => None,
    }
}

/// The name of a digest mechanism (for reports).
pub fn digest_name(m: CK_MECHANISM_TYPE) -> &'static str {
    hash_of(m).map_or("?", |h| h.2)
}

/// Encrypt `msg` for the TSB's public key as `param` says (OpenSSL).
pub fn encrypt_for(pk: &PKey<Public>, param: Param, msg: &[u8]) -> Vec<u8> {
    let mut enc = openssl::encrypt::Encrypter::new(pk).expect("encrypter");
    match param {
        Param::Oaep(d) => {
            let (md, _, _) = hash_of(d).expect("OAEP hash");
            enc.set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP)
                .expect("OAEP");
            enc.set_rsa_oaep_md(md).expect("OAEP hash");
            enc.set_rsa_mgf1_md(md).expect("MGF1 hash");
        }
        _ => enc
            .set_rsa_padding(openssl::rsa::Padding::PKCS1)
            .expect("PKCS#1"),
    }
    let mut out = vec![0u8; enc.encrypt_len(msg).expect("length")];
    let n = enc.encrypt(msg, &mut out).expect("encrypt");
    out.truncate(n);
    out
}

/// Check `sig` over `data` (the message, not the input) with OpenSSL.
pub fn check(pk: &PKey<Public>, c: &Check, data: &[u8], sig: &[u8]) -> Result<(), String> {
    let ok = match c {
        Check::Pkcs1(md) => {
            let mut v = Verifier::new(*md, pk).map_err(|e| e.to_string())?;
            v.verify_oneshot(sig, data).map_err(|e| e.to_string())?
        }
        Check::Pss(md) => {
            let mut v = Verifier::new(*md, pk).map_err(|e| e.to_string())?;
            v.set_rsa_padding(openssl::rsa::Padding::PKCS1_PSS)
                .map_err(|e| e.to_string())?;
            v.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
                .map_err(|e| e.to_string())?;
            v.set_rsa_mgf1_md(*md).map_err(|e| e.to_string())?;
            v.verify_oneshot(sig, data).map_err(|e| e.to_string())?
        }
        Check::RawRsa(want) => {
            let rsa = pk.rsa().map_err(|e| e.to_string())?;
            let mut out = vec![0u8; rsa.size() as usize];
            let n = rsa
                .public_decrypt(sig, &mut out, openssl::rsa::Padding::PKCS1)
                .map_err(|e| format!("not a PKCS#1 type 1 block: {e}"))?;
            &out[..n] == want.as_slice()
        }
        Check::Ecdsa(md) => {
            if sig.is_empty() || !sig.len().is_multiple_of(2) {
                return Err(format!("an r‖s signature of odd length {}", sig.len()));
            }
            let (r, s) = sig.split_at(sig.len() / 2);
            let der = openssl::ecdsa::EcdsaSig::from_private_components(
                openssl::bn::BigNum::from_slice(r).map_err(|e| e.to_string())?,
                openssl::bn::BigNum::from_slice(s).map_err(|e| e.to_string())?,
            )
            .and_then(|s| s.to_der())
            .map_err(|e| e.to_string())?;
            let mut v = Verifier::new(*md, pk).map_err(|e| e.to_string())?;
            v.verify_oneshot(&der, data).map_err(|e| e.to_string())?
        }
        Check::Ed25519 => {
            let mut v = Verifier::new_without_digest(pk).map_err(|e| e.to_string())?;
            v.verify_oneshot(sig, data).map_err(|e| e.to_string())?
        }
    };
    if ok {
        Ok(())
    } else {
        Err("OpenSSL: the signature does not verify with the TSB's public key".into())
    }
}

/// A CK_MECHANISM for `mech` with `param`; the parameter struct lives in `store`.
pub fn ck_mechanism(mech: CK_MECHANISM_TYPE, param: Param, store: &mut ParamStore) -> CK_MECHANISM {
    let (p, len) = match param {
        Param::None => (std::ptr::null_mut(), 0),
        Param::Pss(d) => {
            let (md, mgf, _) = hash_of(d).expect("PSS hash");
            store.pss = CK_RSA_PKCS_PSS_PARAMS {
                hashAlg: d,
                mgf,
                sLen: md.size() as CK_ULONG,
            };
            (
                &mut store.pss as *mut _ as *mut std::ffi::c_void,
                std::mem::size_of::<CK_RSA_PKCS_PSS_PARAMS>(),
            )
        }
        Param::Oaep(d) => {
            let (_, mgf, _) = hash_of(d).expect("OAEP hash");
            store.oaep = CK_RSA_PKCS_OAEP_PARAMS {
                hashAlg: d,
                mgf,
                source: CKZ_DATA_SPECIFIED,
                pSourceData: std::ptr::null_mut(),
                ulSourceDataLen: 0,
            };
            (
                &mut store.oaep as *mut _ as *mut std::ffi::c_void,
                std::mem::size_of::<CK_RSA_PKCS_OAEP_PARAMS>(),
            )
        }
    };
    CK_MECHANISM {
        mechanism: mech,
        pParameter: p,
        ulParameterLen: len as CK_ULONG,
    }
}

/// Storage for the parameter a CK_MECHANISM points to.
pub struct ParamStore {
    pss: CK_RSA_PKCS_PSS_PARAMS,
    oaep: CK_RSA_PKCS_OAEP_PARAMS,
}

impl Default for ParamStore {
    fn default() -> ParamStore {
        ParamStore {
            pss: CK_RSA_PKCS_PSS_PARAMS {
                hashAlg: 0,
                mgf: 0,
                sLen: 0,
            },
            oaep: CK_RSA_PKCS_OAEP_PARAMS {
                hashAlg: 0,
                mgf: 0,
                source: 0,
                pSourceData: std::ptr::null_mut(),
                ulSourceDataLen: 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every mechanism of the module's table is known here, and each applies to some kind.
    #[test]
    fn every_signing_mechanism_has_a_plan_for_some_key() {
        for m in [
            CKM_RSA_PKCS,
            CKM_SHA1_RSA_PKCS,
            CKM_SHA224_RSA_PKCS,
            CKM_SHA256_RSA_PKCS,
            CKM_SHA384_RSA_PKCS,
            CKM_SHA512_RSA_PKCS,
            CKM_RSA_PKCS_PSS,
            CKM_SHA224_RSA_PKCS_PSS,
            CKM_SHA256_RSA_PKCS_PSS,
            CKM_SHA384_RSA_PKCS_PSS,
            CKM_SHA512_RSA_PKCS_PSS,
            CKM_ECDSA,
            CKM_ECDSA_SHA1,
            CKM_ECDSA_SHA224,
            CKM_ECDSA_SHA256,
            CKM_ECDSA_SHA384,
            CKM_ECDSA_SHA512,
            CKM_EDDSA,
        ] {
            let n: usize = Kind::ALL
                .iter()
                .map(|k| sign_plans(m, *k, b"x").expect("known").len())
                .sum();
            assert!(n > 0, "mechanism 0x{m:x} applies to no key");
        }
        assert!(sign_plans(CKM_SHA256_HMAC, Kind::Rsa, b"x").is_none());
        assert!(decrypt_params(CKM_RSA_X_509).is_none());
    }

    /// The checks reject a wrong signature: a local key signs, one bit flipped fails.
    #[test]
    fn checks_can_fail() {
        let ec = PKey::from_ec_key(
            openssl::ec::EcKey::generate(
                &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let mut s = openssl::sign::Signer::new(MessageDigest::sha256(), &ec).unwrap();
        let der = s.sign_oneshot_to_vec(b"data").unwrap();
        let sig = openssl::ecdsa::EcdsaSig::from_der(&der).unwrap();
        let mut raw = sig.r().to_vec_padded(32).unwrap();
        raw.extend(sig.s().to_vec_padded(32).unwrap());
        let pk = PKey::public_key_from_der(&ec.public_key_to_der().unwrap()).unwrap();
        let c = Check::Ecdsa(MessageDigest::sha256());
        check(&pk, &c, b"data", &raw).unwrap();
        raw[5] ^= 1;
        assert!(check(&pk, &c, b"data", &raw).is_err());
        assert!(check(&pk, &c, b"data", &raw[..63]).is_err());
    }
}
