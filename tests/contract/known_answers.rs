//! Known-answer cases for the secret-key mechanisms: a key of known bytes imported through the
//! module (C_CreateObject, CKA_TOKEN true, a label under the run prefix), the mechanism run, and
//! the result compared with a published vector or a local computation (OpenSSL), never with
//! the TSB's own answer. Most of these mechanisms are computed by the module around the TSB's
//! AES_ECB block cipher (src/mechanism/modes.rs, src/mechanism/kbkdf.rs): against a real TSB
//! these cases are what confirms that reading of its API. Every case destroys its keys
//! (imported and derived), whatever it found; the run's final sweep catches the rest.

use crate::cases::{is_listed, raw_handle, rv_text, World};
use crate::common::vectors::hex;
use crate::report::{Outcome, Verdict};
use cryptoki::mechanism::aead::{GcmMessageParams, GcmParams, GeneratorFunction};
use cryptoki::mechanism::ekdf::AesCbcDeriveParams;
use cryptoki::mechanism::kbkdf::{
    Endianness, KbkdfCounterFormat, KbkdfFeedbackParams, KbkdfParams, PrfDataParam,
    PrfDataParamType,
};
use cryptoki::mechanism::{Mechanism, MechanismType, MessageParam};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki_sys::*;
use std::num::NonZeroUsize;
use tsb_models::TsbVersion;

/// The secret-key mechanisms these cases run (besides those of `cases::aes_gcm` and
/// `cases::hmac`).
pub const COVERED: &[CK_MECHANISM_TYPE] = &[
    CKM_AES_ECB,
    CKM_AES_CBC,
    CKM_AES_CBC_PAD,
    CKM_AES_CTR,
    CKM_AES_GCM,
    CKM_AES_CMAC,
    CKM_AES_CMAC_GENERAL,
    CKM_AES_MAC,
    CKM_AES_MAC_GENERAL,
    CKM_AES_KEY_WRAP,
    CKM_AES_KEY_WRAP_KWP,
    CKM_AES_ECB_ENCRYPT_DATA,
    CKM_AES_CBC_ENCRYPT_DATA,
    CKM_SP800_108_COUNTER_KDF,
    CKM_SP800_108_FEEDBACK_KDF,
    CKM_SP800_108_DOUBLE_PIPELINE_KDF,
    CKM_SHA256_HMAC_GENERAL,
];

fn hx(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `got` must be `want`; otherwise an error that shows both.
fn same(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {}, want {}", hx(got), hx(want)))
    }
}

/// SP 800-38A's AES-128 key (also RFC 4493's) and its four plaintext blocks.
const K128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const P: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";

/// Import a secret key of `value` (AES unless `key_type` says otherwise) labelled `label` with
/// `uses`, run `run` on it and destroy it whatever `run` found.
fn with_key(
    w: &World,
    label: &str,
    key_type: KeyType,
    value: &[u8],
    uses: &[Attribute],
    run: impl FnOnce(ObjectHandle) -> Outcome,
) -> Outcome {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(key_type),
        Attribute::Token(true),
        Attribute::Label(label.into()),
        Attribute::Value(value.to_vec()),
    ];
    t.extend_from_slice(uses);
    let key = w
        .session
        .create_object(&t)
        .map_err(|e| format!("C_CreateObject {label}: {e}"))?;
    let r = run(key);
    let gone = w
        .session
        .destroy_object(key)
        .map_err(|e| format!("C_DestroyObject {label}: {e}"));
    let v = r?;
    gone?;
    Ok(v)
}

/// A derived or unwrapped AES key of `len` bytes that can be read back, a token key labelled
/// `label` (so that the run's sweep finds it if the case cannot destroy it).
fn readable(label: &str, len: u64) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(len.into()),
        Attribute::Token(true),
        Attribute::Label(label.into()),
        Attribute::Extractable(true),
        Attribute::Sensitive(false),
    ]
}

/// CKA_VALUE of `key` (a handle of the raw C ABI: cryptoki makes no handle from a number),
/// then C_DestroyObject whatever the read found.
fn read_and_destroy(w: &World, key: CK_OBJECT_HANDLE, what: &str) -> Result<Vec<u8>, String> {
    let f = crate::common::raw::fns();
    let mut buf = vec![0u8; 64];
    let mut a = CK_ATTRIBUTE {
        type_: CKA_VALUE,
        pValue: buf.as_mut_ptr() as *mut _,
        ulValueLen: buf.len() as CK_ULONG,
    };
    let rv = unsafe { f.C_GetAttributeValue.unwrap()(w.raw, key, &mut a, 1) };
    let gone = unsafe { f.C_DestroyObject.unwrap()(w.raw, key) };
    if rv != CKR_OK {
        return Err(format!(
            "{what}: C_GetAttributeValue CKA_VALUE: {}",
            rv_text(rv)
        ));
    }
    if gone != CKR_OK {
        return Err(format!("{what}: C_DestroyObject: {}", rv_text(gone)));
    }
    buf.truncate(a.ulValueLen as usize);
    Ok(buf)
}

/// A CK_MECHANISM of `m` with the parameter `p` (kept alive by the caller).
fn mech<T>(m: CK_MECHANISM_TYPE, p: Option<&mut T>) -> CK_MECHANISM {
    match p {
        Some(p) => CK_MECHANISM {
            mechanism: m,
            pParameter: p as *mut T as *mut _,
            ulParameterLen: std::mem::size_of::<T>() as CK_ULONG,
        },
        None => CK_MECHANISM {
            mechanism: m,
            pParameter: std::ptr::null_mut(),
            ulParameterLen: 0,
        },
    }
}

/// Which C function pair [`raw_op`] calls.
#[derive(Clone, Copy)]
enum Op {
    Encrypt,
    Decrypt,
    Sign,
}

/// Init and the single-part call of `op` through the raw C ABI (mechanisms and parameters
/// cryptoki 0.10 does not have), into a buffer large enough for every case here.
fn raw_op(
    w: &World,
    op: Op,
    m: &mut CK_MECHANISM,
    key: ObjectHandle,
    data: &[u8],
) -> Result<Vec<u8>, String> {
    let f = crate::common::raw::fns();
    let h = w.raw;
    let name = match op {
        Op::Encrypt => "C_Encrypt",
        Op::Decrypt => "C_Decrypt",
        Op::Sign => "C_Sign",
    };
    let rv = unsafe {
        match op {
            Op::Encrypt => f.C_EncryptInit.unwrap()(h, m, raw_handle(key)),
            Op::Decrypt => f.C_DecryptInit.unwrap()(h, m, raw_handle(key)),
            Op::Sign => f.C_SignInit.unwrap()(h, m, raw_handle(key)),
        }
    };
    if rv != CKR_OK {
        return Err(format!("{name}Init: {}", rv_text(rv)));
    }
    let mut out = vec![0u8; data.len() + 64];
    let mut len = out.len() as CK_ULONG;
    let (p, n) = (data.as_ptr() as *mut u8, data.len() as CK_ULONG);
    let rv = unsafe {
        match op {
            Op::Encrypt => f.C_Encrypt.unwrap()(h, p, n, out.as_mut_ptr(), &mut len),
            Op::Decrypt => f.C_Decrypt.unwrap()(h, p, n, out.as_mut_ptr(), &mut len),
            Op::Sign => f.C_Sign.unwrap()(h, p, n, out.as_mut_ptr(), &mut len),
        }
    };
    if rv != CKR_OK {
        return Err(format!(
            "{name}: {}, ulDeviceError {}",
            rv_text(rv),
            crate::common::raw::device_error(h)
        ));
    }
    out.truncate(len as usize);
    Ok(out)
}

/// C_VerifyInit and C_Verify through the raw C ABI: the CK_RV.
fn raw_verify(
    w: &World,
    m: &mut CK_MECHANISM,
    key: ObjectHandle,
    data: &[u8],
    mac: &[u8],
) -> CK_RV {
    let f = crate::common::raw::fns();
    unsafe {
        let rv = f.C_VerifyInit.unwrap()(w.raw, m, raw_handle(key));
        if rv != CKR_OK {
            return rv;
        }
        f.C_Verify.unwrap()(
            w.raw,
            data.as_ptr() as *mut _,
            data.len() as CK_ULONG,
            mac.as_ptr() as *mut _,
            mac.len() as CK_ULONG,
        )
    }
}

/// Encrypt `plain` to `want` and decrypt `want` back to `plain` with `m`.
fn both_ways(
    w: &World,
    what: &str,
    m: &mut CK_MECHANISM,
    key: ObjectHandle,
    plain: &[u8],
    want: &[u8],
) -> Result<(), String> {
    let ct = raw_op(w, Op::Encrypt, m, key, plain).map_err(|e| format!("{what}: {e}"))?;
    same(&format!("{what} C_Encrypt"), &ct, want)?;
    let pt = raw_op(w, Op::Decrypt, m, key, want).map_err(|e| format!("{what}: {e}"))?;
    same(&format!("{what} C_Decrypt"), &pt, plain)
}

/// The mechanisms of `want` the module lists, or a Skip when it lists none.
fn listed_of(w: &World, want: &[CK_MECHANISM_TYPE]) -> Result<Vec<CK_MECHANISM_TYPE>, Verdict> {
    let l: Vec<_> = want.iter().copied().filter(|m| is_listed(w, *m)).collect();
    if l.is_empty() {
        Err(Verdict::Skip(
            "the module lists none of these mechanisms for this TSB".into(),
        ))
    } else {
        Ok(l)
    }
}

// ---------------------------------------------------------------------------------------------

/// CKM_AES_ECB, _CBC and _CTR against SP 800-38A F.1.1, F.2.1 and F.5.1 (AES-128, both ways);
/// CKM_AES_CBC_PAD against OpenSSL's AES-128-CBC (PKCS#7 padding).
pub fn block_modes(w: &World) -> Outcome {
    let mechs = match listed_of(w, &[CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_CTR]) {
        Ok(m) => m,
        Err(v) => return Ok(v),
    };
    let uses = [Attribute::Encrypt(true), Attribute::Decrypt(true)];
    with_key(w, "kat-aes-128", KeyType::AES, &hex(K128), &uses, |key| {
        let p = hex(P);
        let iv: [u8; 16] = std::array::from_fn(|i| i as u8);
        let mut done = Vec::new();
        for m in mechs {
            match m {
                CKM_AES_ECB => {
                    let want = hex(
                        "3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf
                         43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4",
                    );
                    both_ways(w, "CKM_AES_ECB", &mut mech::<u8>(m, None), key, &p, &want)?;
                    done.push("ECB (F.1.1)");
                }
                CKM_AES_CBC => {
                    let want = hex(
                        "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2
                         73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
                    );
                    let mut v = iv;
                    both_ways(w, "CKM_AES_CBC", &mut mech(m, Some(&mut v)), key, &p, &want)?;
                    done.push("CBC (F.2.1)");
                }
                CKM_AES_CBC_PAD => {
                    // Not a multiple of the block: the padding is checked too.
                    let data = &p[..37];
                    let want = openssl::symm::encrypt(
                        openssl::symm::Cipher::aes_128_cbc(),
                        &hex(K128),
                        Some(&iv),
                        data,
                    )
                    .map_err(|e| format!("OpenSSL AES-128-CBC: {e}"))?;
                    let mut v = iv;
                    both_ways(
                        w,
                        "CKM_AES_CBC_PAD (37 bytes)",
                        &mut mech(m, Some(&mut v)),
                        key,
                        data,
                        &want,
                    )?;
                    done.push("CBC-PAD (OpenSSL)");
                }
                CKM_AES_CTR => {
                    let want = hex(
                        "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff
                         5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
                    );
                    let cb: [u8; 16] = hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
                        .try_into()
                        .expect("16 bytes");
                    let mut prm = CK_AES_CTR_PARAMS {
                        ulCounterBits: 128,
                        cb,
                    };
                    both_ways(
                        w,
                        "CKM_AES_CTR",
                        &mut mech(m, Some(&mut prm)),
                        key,
                        &p,
                        &want,
                    )?;
                    done.push("CTR (F.5.1)");
                }
                _ => unreachable!("only the mechanisms asked for"),
            }
        }
        Ok(Verdict::Pass(format!(
            "an imported AES-128 key, SP 800-38A both ways: {}",
            done.join(", ")
        )))
    })
}

/// CKM_AES_GCM with C_Encrypt/C_Decrypt and with C_EncryptMessage/C_DecryptMessage against the
/// GCM specification's test case 4.
pub fn gcm(w: &World) -> Outcome {
    if !is_listed(w, CKM_AES_GCM) {
        return Ok(Verdict::Skip("the module does not list CKM_AES_GCM".into()));
    }
    let v = crate::common::vectors::gcm_case4();
    let uses = [Attribute::Encrypt(true), Attribute::Decrypt(true)];
    with_key(w, "kat-aes-gcm", KeyType::AES, &v.key, &uses, |key| {
        let mut want = v.cipher.clone();
        want.extend_from_slice(&v.tag);
        let mut nonce = v.iv.clone();
        let p = GcmParams::new(&mut nonce, &v.aad, 128.into()).map_err(|e| e.to_string())?;
        let ct = w
            .session
            .encrypt(&Mechanism::AesGcm(p), key, &v.plain)
            .map_err(|e| format!("C_Encrypt CKM_AES_GCM: {e}"))?;
        same("C_Encrypt CKM_AES_GCM (ciphertext || tag)", &ct, &want)?;
        let mut nonce = v.iv.clone();
        let p = GcmParams::new(&mut nonce, &v.aad, 128.into()).map_err(|e| e.to_string())?;
        let pt = w
            .session
            .decrypt(&Mechanism::AesGcm(p), key, &want)
            .map_err(|e| format!("C_Decrypt CKM_AES_GCM: {e}"))?;
        same("C_Decrypt CKM_AES_GCM", &pt, &v.plain)?;

        // The message-based API (PKCS#11 3.0): the tag lands in pTag.
        let mut iv = v.iv.clone();
        let mut tag = [0u8; 16];
        let p = GcmMessageParams::new(&mut iv, 0.into(), GeneratorFunction::NoGenerate, &mut tag)
            .map_err(|e| e.to_string())?;
        w.session
            .message_encrypt_init(&Mechanism::AesGcmMessage(p), key)
            .map_err(|e| format!("C_MessageEncryptInit: {e}"))?;
        let c = w
            .session
            .encrypt_message(&MessageParam::AesGcmMessage(p), &v.aad, &v.plain);
        let fin = w.session.message_encrypt_final();
        let c = c.map_err(|e| format!("C_EncryptMessage: {e}"))?;
        fin.map_err(|e| format!("C_MessageEncryptFinal: {e}"))?;
        same("C_EncryptMessage ciphertext", &c, &v.cipher)?;
        same("C_EncryptMessage pTag", &tag, &v.tag)?;
        let mut iv = v.iv.clone();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&v.tag);
        let p = GcmMessageParams::new(&mut iv, 0.into(), GeneratorFunction::NoGenerate, &mut tag)
            .map_err(|e| e.to_string())?;
        w.session
            .message_decrypt_init(&Mechanism::AesGcmMessage(p), key)
            .map_err(|e| format!("C_MessageDecryptInit: {e}"))?;
        let d = w
            .session
            .decrypt_message(&MessageParam::AesGcmMessage(p), &v.aad, &v.cipher);
        let fin = w.session.message_decrypt_final();
        let d = d.map_err(|e| format!("C_DecryptMessage: {e}"))?;
        fin.map_err(|e| format!("C_MessageDecryptFinal: {e}"))?;
        same("C_DecryptMessage", &d, &v.plain)?;
        Ok(Verdict::Pass(
            "an imported key, GCM test case 4 both ways with C_Encrypt/C_Decrypt and with \
             C_EncryptMessage/C_DecryptMessage"
                .into(),
        ))
    })
}

/// RFC 4493 §4: (message length, tag).
const RFC4493: [(usize, &str); 4] = [
    (0, "bb1d6929e95937287fa37d129b756746"),
    (16, "070a16b46b4d4144f79bdd9dd04a287c"),
    (40, "dfa66747de9ae63030ca32611497c827"),
    (64, "51f0bebf7e3b9d92fc49741779363cfe"),
];

/// One MAC to check: mechanism, CK_MAC_GENERAL_PARAMS (for the general forms), data, MAC.
type MacRun = (CK_MECHANISM_TYPE, Option<CK_ULONG>, Vec<u8>, Vec<u8>);

/// CKM_AES_CMAC against RFC 4493's four examples, CKM_AES_CMAC_GENERAL (a truncated tag), and
/// CKM_AES_MAC/_GENERAL (CBC-MAC of the zero-padded data) against OpenSSL's AES-128-CBC under a
/// zero IV; C_Verify takes each MAC and refuses a changed one.
pub fn macs(w: &World) -> Outcome {
    let mechs = match listed_of(
        w,
        &[
            CKM_AES_CMAC,
            CKM_AES_CMAC_GENERAL,
            CKM_AES_MAC,
            CKM_AES_MAC_GENERAL,
        ],
    ) {
        Ok(m) => m,
        Err(v) => return Ok(v),
    };
    let uses = [Attribute::Sign(true), Attribute::Verify(true)];
    with_key(w, "kat-aes-mac", KeyType::AES, &hex(K128), &uses, |key| {
        let p = hex(P);
        let mut runs: Vec<MacRun> = Vec::new();
        for m in mechs {
            match m {
                CKM_AES_CMAC => {
                    for (len, tag) in RFC4493 {
                        runs.push((m, None, p[..len].to_vec(), hex(tag)));
                    }
                }
                CKM_AES_CMAC_GENERAL => {
                    let (len, tag) = RFC4493[2];
                    runs.push((m, Some(10), p[..len].to_vec(), hex(tag)[..10].to_vec()));
                }
                CKM_AES_MAC | CKM_AES_MAC_GENERAL => {
                    let data = &p[..37];
                    let mut padded = data.to_vec();
                    padded.resize(48, 0);
                    let cbc = openssl::symm::encrypt(
                        openssl::symm::Cipher::aes_128_cbc(),
                        &hex(K128),
                        Some(&[0; 16]),
                        &padded,
                    )
                    .map_err(|e| format!("OpenSSL AES-128-CBC: {e}"))?;
                    let last = &cbc[32..48];
                    if m == CKM_AES_MAC {
                        // Half the block (PKCS#11 3.1 §6.8.1).
                        runs.push((m, None, data.to_vec(), last[..8].to_vec()));
                    } else {
                        runs.push((m, Some(16), data.to_vec(), last.to_vec()));
                        runs.push((m, Some(4), data.to_vec(), last[..4].to_vec()));
                    }
                }
                _ => unreachable!("only the mechanisms asked for"),
            }
        }
        let mut names = Names::default();
        for (m, len, data, want) in &runs {
            let name = crate::cases::mechanism_name(*m);
            let what = match len {
                Some(l) => format!("{name} ({l} bytes) over {} bytes", data.len()),
                None => format!("{name} over {} bytes", data.len()),
            };
            let mut l = len.unwrap_or(0);
            let mk = |l: &mut CK_ULONG| {
                if len.is_some() {
                    mech(*m, Some(l))
                } else {
                    mech::<CK_ULONG>(*m, None)
                }
            };
            let mac = raw_op(w, Op::Sign, &mut mk(&mut l), key, data)
                .map_err(|e| format!("{what}: {e}"))?;
            same(&format!("{what}: C_Sign"), &mac, want)?;
            let rv = raw_verify(w, &mut mk(&mut l), key, data, want);
            if rv != CKR_OK {
                return Err(format!(
                    "{what}: C_Verify of the expected MAC: {}",
                    rv_text(rv)
                ));
            }
            let mut bad = want.clone();
            bad[0] ^= 1;
            let rv = raw_verify(w, &mut mk(&mut l), key, data, &bad);
            if rv != CKR_SIGNATURE_INVALID {
                return Err(format!(
                    "{what}: C_Verify of a changed MAC: {}, want CKR_SIGNATURE_INVALID",
                    rv_text(rv)
                ));
            }
            names.add(name);
        }
        Ok(Verdict::Pass(format!(
            "an imported AES-128 key, {} MACs signed and verified (CMAC: RFC 4493; CBC-MAC: \
             OpenSSL), changed MACs refused: {}",
            runs.len(),
            names.0.join(", ")
        )))
    })
}

/// Names in the order first seen, once each.
#[derive(Default)]
struct Names(Vec<String>);

impl Names {
    fn add(&mut self, n: String) {
        if !self.0.contains(&n) {
            self.0.push(n);
        }
    }
}

/// CKM_AES_KEY_WRAP against RFC 3394 §4.1 and CKM_AES_KEY_WRAP_KWP against RFC 5649 computed
/// by OpenSSL (AES_wrap_key under the alternative IV, what RFC 5649 §4.1 does for data that is
/// a multiple of 8 bytes); each wrapped key unwrapped again to an extractable key read back.
pub fn key_wrap(w: &World) -> Outcome {
    let mechs = match listed_of(w, &[CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_KWP]) {
        Ok(m) => m,
        Err(v) => return Ok(v),
    };
    let kek = hex("000102030405060708090a0b0c0d0e0f");
    let inner = hex("00112233445566778899aabbccddeeff");
    let uses = [Attribute::Wrap(true), Attribute::Unwrap(true)];
    with_key(w, "kat-aes-kek", KeyType::AES, &kek, &uses, |kek_h| {
        let plain = [Attribute::Extractable(true), Attribute::Sensitive(false)];
        with_key(
            w,
            "kat-aes-wrapped",
            KeyType::AES,
            &inner,
            &plain,
            |inner_h| {
                let mut done = Vec::new();
                for m in mechs {
                    let name = crate::cases::mechanism_name(m);
                    let want = if m == CKM_AES_KEY_WRAP {
                        hex("1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5")
                    } else {
                        let local = openssl::aes::AesKey::new_encrypt(&kek)
                            .map_err(|_| "OpenSSL AES key".to_string())?;
                        let mut out = vec![0u8; inner.len() + 8];
                        let n = openssl::aes::wrap_key(
                            &local,
                            Some([0xa6, 0x59, 0x59, 0xa6, 0, 0, 0, 16]),
                            &mut out,
                            &inner,
                        )
                        .map_err(|_| "OpenSSL AES_wrap_key".to_string())?;
                        out.truncate(n);
                        out
                    };
                    let wrapped =
                        raw_wrap(w, m, kek_h, inner_h).map_err(|e| format!("{name}: {e}"))?;
                    same(&format!("{name}: C_WrapKey"), &wrapped, &want)?;
                    let label = "kat-aes-unwrapped";
                    let mut t = readable(label, 16);
                    t.retain(|a| !matches!(a, Attribute::ValueLen(_)));
                    let mut m_ = mech::<u8>(m, None);
                    let h = raw_unwrap(w, &mut m_, kek_h, &want, &t)
                        .map_err(|e| format!("{name}: C_UnwrapKey: {e}"))?;
                    let back = read_and_destroy(w, h, &format!("{name}: unwrapped key"))?;
                    same(
                        &format!("{name}: the unwrapped key's CKA_VALUE"),
                        &back,
                        &inner,
                    )?;
                    done.push(name);
                }
                Ok(Verdict::Pass(format!(
                    "imported KEK and key, wrapped as RFC 3394 / RFC 5649 say, unwrapped and read \
                 back: {}",
                    done.join(", ")
                )))
            },
        )
    })
}

fn raw_wrap(
    w: &World,
    m: CK_MECHANISM_TYPE,
    kek: ObjectHandle,
    key: ObjectHandle,
) -> Result<Vec<u8>, String> {
    let f = crate::common::raw::fns();
    let mut mm = mech::<u8>(m, None);
    let mut out = vec![0u8; 64];
    let mut len = out.len() as CK_ULONG;
    let rv = unsafe {
        f.C_WrapKey.unwrap()(
            w.raw,
            &mut mm,
            raw_handle(kek),
            raw_handle(key),
            out.as_mut_ptr(),
            &mut len,
        )
    };
    if rv != CKR_OK {
        return Err(format!("C_WrapKey: {}", rv_text(rv)));
    }
    out.truncate(len as usize);
    Ok(out)
}

/// The template as CK_ATTRIBUTEs (cryptoki's conversion), then `call` with them.
fn with_raw_template<R>(t: &[Attribute], call: impl FnOnce(&mut [CK_ATTRIBUTE]) -> R) -> R {
    let mut raw: Vec<CK_ATTRIBUTE> = t.iter().map(|a| a.into()).collect();
    call(&mut raw)
}

fn raw_unwrap(
    w: &World,
    m: &mut CK_MECHANISM,
    kek: ObjectHandle,
    wrapped: &[u8],
    t: &[Attribute],
) -> Result<CK_OBJECT_HANDLE, String> {
    let f = crate::common::raw::fns();
    let mut h: CK_OBJECT_HANDLE = 0;
    let rv = with_raw_template(t, |a| unsafe {
        f.C_UnwrapKey.unwrap()(
            w.raw,
            m,
            raw_handle(kek),
            wrapped.as_ptr() as *mut _,
            wrapped.len() as CK_ULONG,
            a.as_mut_ptr(),
            a.len() as CK_ULONG,
            &mut h,
        )
    });
    if rv != CKR_OK {
        return Err(rv_text(rv));
    }
    Ok(h)
}

fn raw_derive(
    w: &World,
    m: &mut CK_MECHANISM,
    base: ObjectHandle,
    t: &[Attribute],
) -> Result<CK_OBJECT_HANDLE, String> {
    let f = crate::common::raw::fns();
    let mut h: CK_OBJECT_HANDLE = 0;
    let rv = with_raw_template(t, |a| unsafe {
        f.C_DeriveKey.unwrap()(
            w.raw,
            m,
            raw_handle(base),
            a.as_mut_ptr(),
            a.len() as CK_ULONG,
            &mut h,
        )
    });
    if rv != CKR_OK {
        return Err(format!(
            "C_DeriveKey: {}, ulDeviceError {}",
            rv_text(rv),
            crate::common::raw::device_error(w.raw)
        ));
    }
    Ok(h)
}

/// CKM_AES_ECB_ENCRYPT_DATA and CKM_AES_CBC_ENCRYPT_DATA: the derived key (extractable, read
/// back) is the data encrypted under the base key, computed by OpenSSL.
pub fn encrypt_data(w: &World) -> Outcome {
    let mechs = match listed_of(w, &[CKM_AES_ECB_ENCRYPT_DATA, CKM_AES_CBC_ENCRYPT_DATA]) {
        Ok(m) => m,
        Err(v) => return Ok(v),
    };
    let uses = [Attribute::Derive(true)];
    with_key(
        w,
        "kat-aes-derive",
        KeyType::AES,
        &hex(K128),
        &uses,
        |base| {
            let data = hex(P)[..32].to_vec();
            let iv: [u8; 16] = std::array::from_fn(|i| 0xf0 | i as u8);
            let mut done = Vec::new();
            for m in mechs {
                let name = crate::cases::mechanism_name(m);
                let (cipher, civ) = if m == CKM_AES_ECB_ENCRYPT_DATA {
                    (openssl::symm::Cipher::aes_128_ecb(), None)
                } else {
                    (openssl::symm::Cipher::aes_128_cbc(), Some(&iv[..]))
                };
                let mut c = openssl::symm::Crypter::new(
                    cipher,
                    openssl::symm::Mode::Encrypt,
                    &hex(K128),
                    civ,
                )
                .map_err(|e| format!("OpenSSL: {e}"))?;
                c.pad(false);
                let mut want = vec![0u8; data.len() + 16];
                let n = c
                    .update(&data, &mut want)
                    .map_err(|e| format!("OpenSSL: {e}"))?;
                want.truncate(n);
                let t = readable("kat-aes-derived", 32);
                let h = if m == CKM_AES_ECB_ENCRYPT_DATA {
                    let mut p = CK_KEY_DERIVATION_STRING_DATA {
                        pData: data.as_ptr() as *mut _,
                        ulLen: data.len() as CK_ULONG,
                    };
                    raw_derive(w, &mut mech(m, Some(&mut p)), base, &t)
                } else {
                    let p = AesCbcDeriveParams::new(iv, &data);
                    w.session
                        .derive_key(&Mechanism::AesCbcEncryptData(p), base, &t)
                        .map(raw_handle)
                        .map_err(|e| format!("C_DeriveKey: {e}"))
                }
                .map_err(|e| format!("{name}: {e}"))?;
                let got = read_and_destroy(w, h, &format!("{name}: derived key"))?;
                same(&format!("{name}: the derived key's CKA_VALUE"), &got, &want)?;
                done.push(name);
            }
            Ok(Verdict::Pass(format!(
            "an imported AES-128 base key, 32-byte derived keys read back and equal to OpenSSL's \
             encryption of the data: {}",
            done.join(", ")
        )))
        },
    )
}

fn be(bits: usize) -> KbkdfCounterFormat {
    KbkdfCounterFormat::new(Endianness::Big, NonZeroUsize::new(bits).expect("bits"))
}

/// The SP 800-108 KDFs with the AES-CMAC PRF against NIST CAVP vectors (the ones of
/// tests/kbkdf.rs): the base key imported with the vector's KI, the derived key extractable and
/// read back.
pub fn kbkdf(w: &World) -> Outcome {
    let mechs = match listed_of(
        w,
        &[
            CKM_SP800_108_COUNTER_KDF,
            CKM_SP800_108_FEEDBACK_KDF,
            CKM_SP800_108_DOUBLE_PIPELINE_KDF,
        ],
    ) {
        Ok(m) => m,
        Err(v) => return Ok(v),
    };
    let mut done = Vec::new();
    for m in mechs {
        let name = crate::cases::mechanism_name(m);
        let f32 = be(32);
        let f8 = be(8);
        // (KI, fixed input, feedback IV, derived key), from CAVP KBKDFCTR/KBKDFFB/KBKDFDP with
        // PRF=CMAC_AES128.
        let (ki, fixed, iv, ko) = match m {
            // [CTRLOCATION=BEFORE_FIXED] [RLEN=32_BITS] COUNT=0.
            CKM_SP800_108_COUNTER_KDF => (
                "c10b152e8c97b77e18704e0f0bd38305",
                "98cd4cbbbebe15d17dc86e6dbad800a2dcbd64f7c7ad0e78e9cf94ffdba89d03
                 e97eadf6c4f7b806caf52aa38f09d0eb71d71f497bcc6906b48d36c4",
                "",
                "26faf61908ad9ee881b8305c221db53f",
            ),
            // An IV and no counter: the first 32 bytes of KO.
            CKM_SP800_108_FEEDBACK_KDF => (
                "5c996c922f65de97d4408373229814c6",
                "62afe5fed91e797221a854336b0aadd8a05ad0e3c8345729897b2efcec5a1178
                 a2fa4c063007b67a7015e0d6b7271ea8d86b44",
                "28dc945cb8337ab5336c3e9b5bad21c7",
                "88a9aae193abdd3fe8143bab66014ae41dc2d12ea9d08f5871588fc5d827924e",
            ),
            // [CTRLOCATION=AFTER_ITER] [RLEN=8_BITS]: 32 bytes of KO.
            _ => (
                "08a5a251b8e4826fbf73292f4cd6c790",
                "aa5acbce73a98d4c4f361d5c22a2cc6f6bdc30027aa31af1ba8b15a5bd5b6a34
                 d133519ad1a82483c2d2a6dd9a97273a780421",
                "",
                "ff1c72ec38b8968a1ce0942a571a1f522ddd2a1c6ffc2b60c90bb54a5c0e9de4",
            ),
        };
        let (fixed, iv, ko) = (hex(fixed), hex(iv), hex(ko));
        let t = readable("kat-kbkdf-derived", ko.len() as u64);
        let uses = [Attribute::Derive(true)];
        with_key(w, "kat-kbkdf-base", KeyType::AES, &hex(ki), &uses, |base| {
            let counter = [
                PrfDataParam::new(PrfDataParamType::IterationVariable(Some(&f32))),
                PrfDataParam::new(PrfDataParamType::ByteArray(&fixed)),
            ];
            let feedback = [
                PrfDataParam::new(PrfDataParamType::IterationVariable(None)),
                PrfDataParam::new(PrfDataParamType::ByteArray(&fixed)),
            ];
            let pipeline = [
                PrfDataParam::new(PrfDataParamType::IterationVariable(None)),
                PrfDataParam::new(PrfDataParamType::Counter(&f8)),
                PrfDataParam::new(PrfDataParamType::ByteArray(&fixed)),
            ];
            let prf = MechanismType::AES_CMAC;
            let mech =
                match m {
                    CKM_SP800_108_COUNTER_KDF => {
                        Mechanism::KbkdfCounter(KbkdfParams::new(prf, &counter, None))
                    }
                    CKM_SP800_108_FEEDBACK_KDF => Mechanism::KbkdfFeedback(
                        KbkdfFeedbackParams::new(prf, &feedback, Some(&iv), None),
                    ),
                    _ => Mechanism::KbkdfDoublePipeline(KbkdfParams::new(prf, &pipeline, None)),
                };
            let h = w
                .session
                .derive_key(&mech, base, &t)
                .map(raw_handle)
                .map_err(|e| format!("{name}: C_DeriveKey: {e}"))?;
            let got = read_and_destroy(w, h, &format!("{name}: derived key"))?;
            same(&format!("{name}: the derived key's CKA_VALUE"), &got, &ko)?;
            Ok(Verdict::Pass(String::new()))
        })?;
        done.push(name);
    }
    Ok(Verdict::Pass(format!(
        "NIST CAVP vectors (PRF CMAC-AES128), base keys imported, derived keys read back: {}",
        done.join(", ")
    )))
}

/// CKM_SHA256_HMAC_GENERAL with an imported CKK_GENERIC_SECRET key against OpenSSL's
/// HMAC-SHA-256, truncated to 16 bytes as the general form asks; C_Verify takes it.
pub fn hmac_general(w: &World) -> Outcome {
    if w.version < TsbVersion::V2_0_1 {
        return Ok(Verdict::Skip(format!(
            "TSB {} has no HMAC (2.0.1)",
            w.version
        )));
    }
    if !is_listed(w, CKM_SHA256_HMAC_GENERAL) {
        return Ok(Verdict::Skip(
            "the module does not list CKM_SHA256_HMAC_GENERAL".into(),
        ));
    }
    // A 32-byte key (the length the module generates HMAC keys with), so no TSB minimum on
    // imported HMAC keys gets in the way.
    let key = [0x0bu8; 32];
    let data = b"what do ya want for nothing?";
    let pkey = openssl::pkey::PKey::hmac(&key).map_err(|e| format!("OpenSSL: {e}"))?;
    let mut s = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &pkey)
        .map_err(|e| format!("OpenSSL: {e}"))?;
    s.update(data).map_err(|e| format!("OpenSSL: {e}"))?;
    let full = s.sign_to_vec().map_err(|e| format!("OpenSSL: {e}"))?;
    let uses = [Attribute::Sign(true), Attribute::Verify(true)];
    with_key(w, "kat-hmac", KeyType::GENERIC_SECRET, &key, &uses, |h| {
        let mut l: CK_ULONG = 16;
        let mac = raw_op(
            w,
            Op::Sign,
            &mut mech(CKM_SHA256_HMAC_GENERAL, Some(&mut l)),
            h,
            data,
        )?;
        same(
            "CKM_SHA256_HMAC_GENERAL (16 bytes): C_Sign",
            &mac,
            &full[..16],
        )?;
        let rv = raw_verify(
            w,
            &mut mech(CKM_SHA256_HMAC_GENERAL, Some(&mut l)),
            h,
            data,
            &mac,
        );
        if rv != CKR_OK {
            return Err(format!("C_Verify of the expected MAC: {}", rv_text(rv)));
        }
        Ok(Verdict::Pass(
            "an imported 32-byte key, a 16-byte MAC equal to OpenSSL's HMAC-SHA-256, verified"
                .into(),
        ))
    })
}
