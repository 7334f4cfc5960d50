//! Local signature verification with OpenSSL's libcrypto: the check of every signature the TSB
//! returns (`results::signature`, on C_Sign's hot path) and C_Verify. RustCrypto's RSA and ECDSA
//! cost ~180 µs (RSA-2048) and ~250 µs (P-256) per signature, more than a loopback round trip;
//! libcrypto verifies them in ~15 µs and a few tens of µs (BENCHMARKS.md, issue 15).
//!
//! One function, [`verify`], keeps the semantics the RustCrypto verifier had for every scheme
//! (tested against it in `tests::local_verify`): PKCS#1 v1.5 over a digest (DigestInfo of the
//! scheme's hash) or over raw input (CKM_RSA_PKCS), PSS with MGF1 of the same hash and salt length
//! = hash length, ECDSA over a digest of any length (PKCS#11 v3.1 §2.3.6: a digest longer than the
//! order keeps its leftmost bits, a shorter one is read as an integer; libcrypto's `bits2int`),
//! on P-256, P-384, P-521 and secp256k1 (a high s verifies, as in ECDSA itself). One
//! difference, a fix: on P-521 a digest of 66 bytes or more keeps its leftmost 521 bits, as
//! PKCS#11 and FIPS 186-5 §6.4 say, where RustCrypto read its leftmost 66 bytes as the integer
//! (so a 66-byte digest signed by a conforming signer, libcrypto for one, did not verify).
//!
//! Ed25519 stays with ed25519-dalek's `verify_strict` (it refuses small-order keys and
//! non-canonical points, which libcrypto's cofactorless verification accepts), ML-DSA and SLH-DSA
//! with `fips204`/`fips205` (libcrypto 3.0 has neither).
//!
//! Each key is parsed once: [`VerifyKey`] sits in the key's [`KeyInfo`](crate::tsb::key::KeyInfo)
//! and holds the libcrypto key from the first verification on, so the hot path parses no DER and
//! builds no big numbers.
//!
//! The module is loaded into OpenSSL processes, some of which load a provider that is itself a
//! PKCS#11 client (pkcs11-provider, which may be pointed at this module). Verifications run in a
//! library context of the module's own ([`lib_ctx`]), with only OpenSSL's `default` provider
//! loaded and no configuration file read, so no provider or property of the host process's
//! configuration can take them over (and send a C_Verify back into the module). Every failure's
//! error queue is drained (the `openssl` crate reads it into its `ErrorStack`), so no error is
//! left behind for the host process.

use crate::mechanism::Hash;
use crate::tsb::key::PublicKey;
use foreign_types::ForeignType;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::error::ErrorStack;
use openssl::lib_ctx::LibCtx;
use openssl::md::{Md, MdRef};
use openssl::pkey::{PKey, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::provider::Provider;
use openssl::rsa::Padding;
use openssl::sign::RsaPssSaltlen;
use std::sync::OnceLock;

/// The module's own library context, with the `default` provider loaded (None: libcrypto could
/// not make it; nothing verifies, every check fails closed).
fn lib_ctx() -> Option<&'static LibCtx> {
    struct Ctx {
        // Declared first, dropped first: the provider before the context it was loaded into
        // (never in practice: a static is not dropped).
        _default: Provider,
        ctx: LibCtx,
    }
    static CTX: OnceLock<Option<Ctx>> = OnceLock::new();
    CTX.get_or_init(|| {
        let ctx = LibCtx::new().ok()?;
        let default = Provider::load(Some(&ctx), "default").ok()?;
        Some(Ctx {
            _default: default,
            ctx,
        })
    })
    .as_ref()
    .map(|c| &c.ctx)
}

extern "C" {
    // OpenSSL 1.1.0 (OPENSSL_init_crypto(3)); not bound by openssl-sys 0.9.
    fn OPENSSL_atexit(handler: extern "C" fn()) -> std::ffi::c_int;
    // OpenSSL 3.0 (EVP_PKEY_CTX_new(3)); not bound by openssl-sys 0.9.
    fn EVP_PKEY_CTX_new_from_pkey(
        libctx: *mut openssl_sys::OSSL_LIB_CTX,
        pkey: *mut openssl_sys::EVP_PKEY,
        propquery: *const std::ffi::c_char,
    ) -> *mut openssl_sys::EVP_PKEY_CTX;
    // OpenSSL 3.0 (d2i_PUBKEY(3)); not bound by openssl-sys 0.9.
    fn d2i_PUBKEY_ex(
        a: *mut *mut openssl_sys::EVP_PKEY,
        pp: *mut *const u8,
        length: std::ffi::c_long,
        libctx: *mut openssl_sys::OSSL_LIB_CTX,
        propq: *const std::ffi::c_char,
    ) -> *mut openssl_sys::EVP_PKEY;
}

/// A context for `key` in the module's library context (see the module's documentation).
fn pkey_ctx(key: &PKey<Public>) -> Result<PkeyCtx<Public>, ErrorStack> {
    let Some(ctx) = lib_ctx() else {
        return Err(ErrorStack::get());
    };
    // SAFETY: both pointers are valid for the call (borrowed for its duration); the function
    // takes its own reference to the key; a non-null result is a new context we own.
    let ptr = unsafe { EVP_PKEY_CTX_new_from_pkey(ctx.as_ptr(), key.as_ptr(), std::ptr::null()) };
    if ptr.is_null() {
        return Err(ErrorStack::get());
    }
    // SAFETY: a new, owned EVP_PKEY_CTX.
    Ok(unsafe { PkeyCtx::from_ptr(ptr) })
}

/// A key's public key as libcrypto holds it, parsed on first use and kept (None: libcrypto
/// refused the key, so nothing verifies with it).
#[derive(Default, Clone)]
pub(crate) struct VerifyKey(OnceLock<Option<PKey<Public>>>);

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.0.get() {
            None => "not parsed yet",
            Some(None) => "refused",
            Some(Some(_)) => "parsed",
        };
        write!(f, "VerifyKey({state})")
    }
}

/// Whether libcrypto has run its exit cleanup (`OPENSSL_cleanup`, from its atexit handler):
/// after it, nothing may be given back to it. A host such as `openssl -engine pkcs11` exits with
/// libcrypto's cleanup first and libp11's C_Finalize after it, which frees the module's keys
/// (tests/interop.rs, the engine's CSRs, crashed there).
static LIBCRYPTO_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn libcrypto_cleanup() {
    LIBCRYPTO_GONE.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Ask libcrypto to say when it cleans up (once per process, before the first key is kept).
fn watch_libcrypto_cleanup() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: OPENSSL_atexit takes a plain function pointer that lives for the process (a static
    // function of this module; the module is never unloaded while libcrypto can call it: the
    // handler runs during libcrypto's cleanup, and a dlclose'd module was finalized first).
    ONCE.call_once(|| unsafe {
        OPENSSL_atexit(libcrypto_cleanup);
    });
}

/// A kept key is given back to libcrypto unless libcrypto is gone; then it is left (the process
/// is exiting).
impl Drop for VerifyKey {
    fn drop(&mut self) {
        if let Some(Some(k)) = self.0.take() {
            if LIBCRYPTO_GONE.load(std::sync::atomic::Ordering::SeqCst) {
                std::mem::forget(k);
            }
        }
    }
}

impl VerifyKey {
    /// The libcrypto key of `spki` (which must be the public key this cache belongs to).
    fn get(&self, spki: &[u8]) -> Option<&PKey<Public>> {
        watch_libcrypto_cleanup();
        self.0.get_or_init(|| parse(spki).ok()).as_ref()
    }
}

/// The key of a DER SubjectPublicKeyInfo, decoded by the module's library context's decoders into
/// a provider key. Not `Rsa`/`EcKey` objects: those are libcrypto's legacy keys, which take the
/// process's default ENGINE's methods (libp11's, in an `openssl -engine pkcs11` process, which
/// crash on a key that is not theirs).
fn parse(spki: &[u8]) -> Result<PKey<Public>, ErrorStack> {
    let Some(ctx) = lib_ctx() else {
        return Err(ErrorStack::get());
    };
    let len = std::ffi::c_long::try_from(spki.len()).map_err(|_| ErrorStack::get())?;
    let mut p = spki.as_ptr();
    // SAFETY: `p` points at `len` readable bytes for the call; libcrypto advances `p` past what it
    // read; a non-null result is a new key we own.
    let key = unsafe {
        d2i_PUBKEY_ex(
            std::ptr::null_mut(),
            &mut p,
            len,
            ctx.as_ptr(),
            std::ptr::null(),
        )
    };
    if key.is_null() {
        return Err(ErrorStack::get());
    }
    // SAFETY: a new, owned EVP_PKEY.
    Ok(unsafe { PKey::from_ptr(key) })
}

/// libcrypto's digest for `h`.
pub(crate) fn md(h: Hash) -> &'static MdRef {
    match h {
        Hash::Sha1 => Md::sha1(),
        Hash::Sha224 => Md::sha224(),
        Hash::Sha256 => Md::sha256(),
        Hash::Sha384 => Md::sha384(),
        Hash::Sha512 => Md::sha512(),
    }
}

/// What libcrypto verifies: the padding and hash of an RSA signature, or ECDSA.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scheme {
    /// PKCS#1 v1.5: over a DigestInfo of `hash` built from the input (the digest), or over the
    /// input itself (None, CKM_RSA_PKCS).
    RsaPkcs1(Option<Hash>),
    /// PSS, MGF1 of the same hash, salt length = hash length; the input is the digest.
    RsaPss(Hash),
    /// ECDSA over a digest of any length; `sig` is r || s, each the field's length.
    Ecdsa,
}

/// Whether `sig` verifies over `input` with `p` (DER `spki`, whose parsed form `cache` keeps). Any refusal of
/// libcrypto (a malformed signature, a key it does not take, a digest of the wrong length) is
/// false. The caller has checked that `p` is a key of the scheme's family and the signature's
/// length.
pub(crate) fn verify(
    p: &PublicKey,
    spki: &[u8],
    cache: &VerifyKey,
    scheme: Scheme,
    input: &[u8],
    sig: &[u8],
) -> bool {
    let Some(key) = cache.get(spki) else {
        return false;
    };
    let run = || -> Result<bool, ErrorStack> {
        let der;
        let sig = match (scheme, p) {
            (Scheme::Ecdsa, PublicKey::Ec { curve, .. }) => {
                let n = curve.field_len();
                if sig.len() != 2 * n {
                    return Ok(false);
                }
                let r = BigNum::from_slice(&sig[..n])?;
                let s = BigNum::from_slice(&sig[n..])?;
                der = EcdsaSig::from_private_components(r, s)?.to_der()?;
                &der[..]
            }
            (Scheme::Ecdsa, _) => return Ok(false),
            _ => sig,
        };
        let mut ctx = pkey_ctx(key)?;
        if let Scheme::RsaPkcs1(None) = scheme {
            // CKM_RSA_PKCS: the payload the padding carries must be the input. libcrypto's
            // verify refuses an empty input, which a signature can carry (00 01 FF.. 00).
            ctx.verify_recover_init()?;
            ctx.set_rsa_padding(Padding::PKCS1)?;
            let mut payload = vec![0u8; sig.len()];
            let n = ctx.verify_recover(sig, Some(&mut payload))?;
            return Ok(payload.get(..n) == Some(input));
        }
        ctx.verify_init()?;
        match scheme {
            Scheme::RsaPkcs1(hash) => {
                ctx.set_rsa_padding(Padding::PKCS1)?;
                if let Some(h) = hash {
                    ctx.set_signature_md(md(h))?;
                }
            }
            Scheme::RsaPss(h) => {
                ctx.set_rsa_padding(Padding::PKCS1_PSS)?;
                ctx.set_signature_md(md(h))?;
                ctx.set_rsa_mgf1_md(md(h))?;
                ctx.set_rsa_pss_saltlen(RsaPssSaltlen::custom(h.len() as i32))?;
            }
            Scheme::Ecdsa => {}
        }
        ctx.verify(input, sig)
    };
    run().unwrap_or(false)
}
