//! The signature check of the direct client that verifies (measurement 1, verification on): the
//! libcrypto calls the module makes on every signature the TSB returns (`src/token/verifier.rs`
//! and the length check of `src/token/local.rs`), so that this baseline pays what the module's
//! check costs and nothing else. As in the module: the key's SubjectPublicKeyInfo is fetched once
//! (`POST /v1/key/attributes`, the request the module's find makes) and decoded once
//! (`d2i_PUBKEY_ex`) into a provider key of a library context of its own with only OpenSSL's
//! `default` provider; per signature, a context from that key (`EVP_PKEY_CTX_new_from_pkey`),
//! `verify_init`, for RSA PKCS#1 v1.5 padding and SHA-256 as the signature digest, for ECDSA the
//! r || s signature converted to DER (`EcdsaSig`), then `EVP_PKEY_verify` over the digest.
//!
//! A copy of the module's calls rather than a call into the module: the bench does not link the
//! module's code (its allocator and its globals would come with it), and the baseline must not
//! carry the module's PKCS#11 layers, only its check.

use crate::util::{ctx, Res};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use foreign_types::ForeignType;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::error::ErrorStack;
use openssl::lib_ctx::LibCtx;
use openssl::md::Md;
use openssl::pkey::{Id, PKey, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::provider::Provider;
use openssl::rsa::Padding;
use serde_json::{json, Value};

extern "C" {
    // OpenSSL 3.0 (EVP_PKEY_CTX_new(3), d2i_PUBKEY(3)); not bound by openssl-sys 0.9. The same
    // declarations as src/token/verifier.rs.
    fn EVP_PKEY_CTX_new_from_pkey(
        libctx: *mut openssl_sys::OSSL_LIB_CTX,
        pkey: *mut openssl_sys::EVP_PKEY,
        propquery: *const std::ffi::c_char,
    ) -> *mut openssl_sys::EVP_PKEY_CTX;
    fn d2i_PUBKEY_ex(
        a: *mut *mut openssl_sys::EVP_PKEY,
        pp: *mut *const u8,
        length: std::ffi::c_long,
        libctx: *mut openssl_sys::OSSL_LIB_CTX,
        propq: *const std::ffi::c_char,
    ) -> *mut openssl_sys::EVP_PKEY;
}

/// One key's public key, parsed, and the check of its signatures.
pub struct Checker {
    // Dropped in declaration order: the key, then the provider, then the context both live in.
    key: PKey<Public>,
    _default: Provider,
    lib: LibCtx,
    /// The length a signature must have (the module's `signature_len`): the modulus length for
    /// RSA, twice the field length for ECDSA.
    sig_len: usize,
    ecdsa: bool,
}

impl Checker {
    /// Fetch the public key of `label` from the TSB at `url` and parse it.
    pub fn fetch(http: &reqwest::blocking::Client, url: &str, label: &str) -> Res<Checker> {
        let r = ctx(
            http.post(format!("{url}/v1/key/attributes"))
                .json(&json!({"label": label}))
                .send(),
            "POST /v1/key/attributes",
        )?;
        let status = r.status();
        let text = ctx(r.text(), "read key attributes")?;
        if !status.is_success() {
            return Err(format!("key attributes of {label}: {status}: {text}"));
        }
        let v: Value = ctx(serde_json::from_str(&text), "decode key attributes")?;
        let pk = v["json"]["publicKey"]
            .as_str()
            .ok_or_else(|| format!("key {label} has no public key"))?;
        let spki = ctx(B64.decode(pk), "decode publicKey")?;
        Checker::new(&spki)
    }

    /// Parse a DER SubjectPublicKeyInfo (RSA or EC) in a library context of its own.
    fn new(spki: &[u8]) -> Res<Checker> {
        let lib = ctx(LibCtx::new(), "library context")?;
        let default = ctx(Provider::load(Some(&lib), "default"), "default provider")?;
        let len = ctx(std::ffi::c_long::try_from(spki.len()), "key length")?;
        let mut p = spki.as_ptr();
        // SAFETY: `p` points at `len` readable bytes for the call; libcrypto advances `p` past
        // what it read; a non-null result is a new key we own.
        let raw = unsafe {
            d2i_PUBKEY_ex(
                std::ptr::null_mut(),
                &mut p,
                len,
                lib.as_ptr(),
                std::ptr::null(),
            )
        };
        if raw.is_null() {
            return Err(format!("parse public key: {}", ErrorStack::get()));
        }
        // SAFETY: a new, owned EVP_PKEY.
        let key: PKey<Public> = unsafe { PKey::from_ptr(raw) };
        let bytes = usize::try_from(key.bits()).unwrap_or(0).div_ceil(8);
        let (sig_len, ecdsa) = match key.id() {
            Id::RSA => (bytes, false),
            Id::EC => (2 * bytes, true),
            other => return Err(format!("a key of type {other:?}: neither RSA nor EC")),
        };
        Ok(Checker {
            key,
            _default: default,
            lib,
            sig_len,
            ecdsa,
        })
    }

    /// Check the TSB's signature `answer` over `digest` (SHA-256) as the module checks one of
    /// CKM_SHA256_RSA_PKCS or CKM_ECDSA; an error if it does not verify. The TSB answers ECDSA in
    /// DER, which the module turns into PKCS#11's r || s (`mechanism::signature_to_pkcs11`)
    /// before its check turns it back into DER for libcrypto; this client does the same.
    pub fn check(&self, digest: &[u8], answer: &[u8]) -> Res<()> {
        if self.ecdsa {
            let raw = ecdsa_der_to_raw(answer, self.sig_len / 2)
                .ok_or("an ECDSA signature that is not DER SEQUENCE { r, s }")?;
            self.check_pkcs11(digest, &raw)
        } else {
            self.check_pkcs11(digest, answer)
        }
    }

    /// The module's check of a signature in PKCS#11 form (`token::local::verify` and
    /// `token::verifier::verify`).
    fn check_pkcs11(&self, digest: &[u8], sig: &[u8]) -> Res<()> {
        if sig.len() != self.sig_len {
            return Err(format!(
                "a signature of {} bytes, expected {}",
                sig.len(),
                self.sig_len
            ));
        }
        let run = || -> Result<bool, ErrorStack> {
            let der;
            let sig = if self.ecdsa {
                let n = self.sig_len / 2;
                let r = BigNum::from_slice(&sig[..n])?;
                let s = BigNum::from_slice(&sig[n..])?;
                der = EcdsaSig::from_private_components(r, s)?.to_der()?;
                &der[..]
            } else {
                sig
            };
            // SAFETY: both pointers are valid for the call (borrowed for its duration); the
            // function takes its own reference to the key; a non-null result is a new context.
            let ptr = unsafe {
                EVP_PKEY_CTX_new_from_pkey(self.lib.as_ptr(), self.key.as_ptr(), std::ptr::null())
            };
            if ptr.is_null() {
                return Err(ErrorStack::get());
            }
            // SAFETY: a new, owned EVP_PKEY_CTX.
            let mut pctx: PkeyCtx<Public> = unsafe { PkeyCtx::from_ptr(ptr) };
            pctx.verify_init()?;
            if !self.ecdsa {
                pctx.set_rsa_padding(Padding::PKCS1)?;
                pctx.set_signature_md(Md::sha256())?;
            }
            pctx.verify(digest, sig)
        };
        match run() {
            Ok(true) => Ok(()),
            Ok(false) => Err("a signature from the TSB that does not verify".into()),
            Err(e) => Err(format!("verify a signature from the TSB: {e}")),
        }
    }
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` to `r || s`, each `n` bytes (the module's
/// `der::ecdsa_der_to_raw`, for the short lengths of a P-256 signature).
fn ecdsa_der_to_raw(der: &[u8], n: usize) -> Option<Vec<u8>> {
    // One TLV with a short-form length: (tag, value, rest).
    fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, d) = d.split_first()?;
        let (&len, d) = d.split_first()?;
        if len >= 0x80 || d.len() < len as usize {
            return None;
        }
        let (value, rest) = d.split_at(len as usize);
        Some((tag, value, rest))
    }
    let (0x30, seq, []) = tlv(der)? else {
        return None;
    };
    let (0x02, r, rest) = tlv(seq)? else {
        return None;
    };
    let (0x02, s, []) = tlv(rest)? else {
        return None;
    };
    let mut out = Vec::with_capacity(2 * n);
    for int in [r, s] {
        let skip = int.iter().take_while(|b| **b == 0).count();
        let int = &int[skip..];
        if int.len() > n {
            return None;
        }
        out.resize(out.len() + n - int.len(), 0);
        out.extend_from_slice(int);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::Private;
    use openssl::rsa::Rsa;
    use openssl::sign::Signer;

    /// A signature as the TSB answers it (ECDSA in DER, RSA PKCS#1 v1.5 over SHA-256 of `data`).
    fn sign(key: &PKey<Private>, data: &[u8]) -> Vec<u8> {
        let mut s = Signer::new(MessageDigest::sha256(), key).expect("signer");
        s.update(data).expect("update");
        s.sign_to_vec().expect("sign")
    }

    /// The check accepts a good signature and refuses a changed one or another digest, for both
    /// key types: a baseline whose check always passed would measure nothing.
    #[test]
    fn checks_and_refuses() {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("group");
        let keys = [
            PKey::from_ec_key(EcKey::generate(&group).expect("ec")).expect("pkey"),
            PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey"),
        ];
        let data = b"tsb-bench checker";
        let digest = openssl::sha::sha256(data);
        for key in keys {
            let c = Checker::new(&key.public_key_to_der().expect("spki")).expect("parse");
            let sig = sign(&key, data);
            c.check(&digest, &sig).expect("a good signature verifies");
            let other = openssl::sha::sha256(b"something else");
            assert!(c.check(&other, &sig).is_err(), "another digest");
            let mut bad = sig.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(c.check(&digest, &bad).is_err(), "a changed signature");
            assert!(
                c.check(&digest, &sig[1..]).is_err(),
                "a truncated signature"
            );
        }
    }
}
