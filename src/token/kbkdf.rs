//! C_DeriveKey with the SP 800-108 KDFs (CKM_SP800_108_COUNTER_KDF, _FEEDBACK_KDF,
//! _DOUBLE_PIPELINE_KDF; mechanism::kbkdf has the parameters, their rules and the KDF), with
//! one of two PRFs computed on the TSB, so the base key never leaves the HSM:
//! - `prfType` CKM_AES_CMAC: AES-CMAC around E_K (mechanism::mac; E_K is `AES_ECB`), one
//!   request per round of CMAC blocks, the counter mode's iterations together. The base key is
//!   an AES key with CKA_DERIVE and the TSB's `encrypt` (a CMAC is made of encryptions there).
//! - `prfType` CKM_SHA256_HMAC: the TSB's HMAC-SHA-256 (`POST /v1/synchronousHmac`), one
//!   request per PRF call, i.e. per 32 bytes of keying material (and per A(i) in double
//!   pipeline mode): the endpoint takes one message and answers one MAC (S2
//!   `tsb/Tutorials/Mac/hmac.md`), so nothing can be batched. The base key is an HMAC key of
//!   the TSB (`HMACSHA256`: CKK_GENERIC_SECRET or CKK_SHA256_HMAC here) with CKA_DERIVE and
//!   the TSB's `sign` (CKA_SIGN; see `derive::BaseUse::Hmac`).
//!
//! A base key of the other PRF's type is CKR_KEY_TYPE_INCONSISTENT; another `prfType`
//! CKR_MECHANISM_PARAM_INVALID. The keying material is cut into the primary key and the
//! CK_DERIVED_KEY ones, each imported as a new key with `POST /v1/key/import/plain` as
//! token/derive.rs does: the bytes pass through the module, zeroized once sent and never
//! logged, and the keys read CKA_LOCAL, CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE false.
//!
//! The derived keys are AES keys (CKA_VALUE_LEN 16, 24 or 32) or HMAC keys (CKK_GENERIC_SECRET,
//! CKK_SHA256_HMAC: 32 bytes, the only HMAC keys the TSB holds). Everything the call can refuse
//! is checked before the first request; when an import fails, the keys already made by the call
//! are destroyed again ("no key" on failure, PKCS#11 3.0 §2.42.7).

use super::derive::{import_template, BaseUse};
use super::session::Session;
use super::template::Template;
use super::Module;
use crate::error::{Error, Result};
use crate::log::Level;
use crate::mechanism::kbkdf::{self, Layout, Mode, Prf};
use crate::mechanism::mac::Cmac;
use crate::mechanism::{self, MechParams};
use cryptoki_sys::*;
use zeroize::Zeroizing;

/// The key type and length (bytes) of a derived key's template: CKK_AES (also when absent, as
/// token/derive.rs) with CKA_VALUE_LEN required; CKK_GENERIC_SECRET or CKK_SHA256_HMAC, 32
/// bytes unless CKA_VALUE_LEN says otherwise (and the import refuses another length).
fn key_of(template: &Template) -> Result<(CK_KEY_TYPE, usize)> {
    if template.get(CKA_VALUE).is_some() {
        return Err(Error::ck(
            CKR_ATTRIBUTE_READ_ONLY,
            "CKA_VALUE cannot be given to C_DeriveKey",
        ));
    }
    template.refuse_unique_id()?;
    let kt = template.ulong(CKA_KEY_TYPE)?.unwrap_or(CKK_AES);
    let len = template.ulong(CKA_VALUE_LEN)?;
    let len = match (kt, len) {
        (_, Some(n)) => usize::try_from(n)
            .ok()
            .filter(|n| (1..=1024).contains(n))
            .ok_or_else(|| {
                Error::ck(
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    format!("CKA_VALUE_LEN {n} is no key length"),
                )
            })?,
        (CKK_AES, None) => {
            return Err(Error::ck(
                CKR_TEMPLATE_INCOMPLETE,
                "CKA_VALUE_LEN is needed for a derived AES key",
            ))
        }
        (CKK_GENERIC_SECRET | CKK_SHA256_HMAC, None) => 32,
        (t, None) => {
            return Err(Error::ck(
                CKR_TEMPLATE_INCONSISTENT,
                format!("CKA_KEY_TYPE 0x{t:x}: the KDFs derive AES and HMAC keys here"),
            ))
        }
    };
    Ok((kt, len))
}

/// AES-CMAC under the base key, E_K on the TSB.
struct TsbCmac<'a> {
    ecb: Box<mechanism::modes::Ecb<'a>>,
    cmac: Cmac,
}

impl Prf for TsbCmac<'_> {
    fn len(&self) -> usize {
        16
    }
    fn eval(&mut self, inputs: &[&[u8]]) -> Result<Vec<Zeroizing<Vec<u8>>>> {
        Ok(self
            .cmac
            .macs(&mut *self.ecb, inputs)?
            .into_iter()
            .map(|t| Zeroizing::new(t.to_vec()))
            .collect())
    }
}

/// HMAC-SHA-256 under the base key on the TSB: one request per input (the endpoint takes one
/// message), each answer checked to be 32 bytes.
struct TsbHmac<'a> {
    hmac: Box<HmacCall<'a>>,
}

/// One HMAC request: the MAC of a message under the base key.
type HmacCall<'a> = dyn FnMut(&[u8]) -> Result<Vec<u8>> + 'a;

impl Prf for TsbHmac<'_> {
    fn len(&self) -> usize {
        32
    }
    fn eval(&mut self, inputs: &[&[u8]]) -> Result<Vec<Zeroizing<Vec<u8>>>> {
        inputs
            .iter()
            .map(|m| {
                let mac = Zeroizing::new((self.hmac)(m)?);
                if mac.len() != 32 {
                    return Err(Error::BadResult(format!(
                        "the TSB answered an HMAC-SHA-256 of {} bytes",
                        mac.len()
                    )));
                }
                Ok(mac)
            })
            .collect()
    }
}

/// The PRF of `prfType`: how the base key is used on the TSB, the PRF's output length and its
/// name; CKR_MECHANISM_PARAM_INVALID for another PRF.
fn prf_of(prf: CK_MECHANISM_TYPE) -> Result<(BaseUse, usize, &'static str)> {
    match prf {
        CKM_AES_CMAC => Ok((BaseUse::AesEncrypt, 16, "AES-CMAC")),
        CKM_SHA256_HMAC => Ok((BaseUse::Hmac, 32, "HMAC-SHA-256")),
        other => Err(Error::ck(
            CKR_MECHANISM_PARAM_INVALID,
            format!("prfType 0x{other:x}: the KDFs run with CKM_AES_CMAC or CKM_SHA256_HMAC here"),
        )),
    }
}

impl Module {
    /// C_DeriveKey with an SP 800-108 KDF: the handles of the primary key and of the
    /// additional keys, in the parameter's order.
    pub(crate) fn kbkdf_derive(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        params: &MechParams,
        base: CK_OBJECT_HANDLE,
        template: &Template,
    ) -> Result<(CK_OBJECT_HANDLE, Vec<CK_OBJECT_HANDLE>)> {
        let slot = self.slot_of(session);
        let mode = Mode::of(mech)
            .filter(|_| mechanism::info(mech, slot.tsb.known_version()).is_some())
            .ok_or_else(|| {
                Error::ck(
                    CKR_MECHANISM_INVALID,
                    format!("mechanism 0x{mech:x} is no SP 800-108 KDF here"),
                )
            })?;
        let MechParams::Kbkdf(p) = params else {
            return Err(Error::ck(
                CKR_MECHANISM_PARAM_INVALID,
                "the SP 800-108 KDFs need CK_SP800_108_KDF_PARAMS (feedback: \
                 CK_SP800_108_FEEDBACK_KDF_PARAMS)",
            ));
        };
        kbkdf::check(mode, p)?;
        let (how, h, prf_name) = prf_of(p.prf)?;
        // Every key's template, checked in full (the import's own rules on a placeholder of
        // the key's length) before anything is sent.
        let templates: Vec<&Template> = std::iter::once(template)
            .chain(p.additional.iter().map(|k| &k.template))
            .collect();
        let mut keys = Vec::with_capacity(templates.len());
        for t in &templates {
            let (kt, len) = key_of(t)?;
            let dry = super::plain_keys::build_secret_import(
                &import_template(t, kt, &vec![0; len]),
                &slot.config.label_prefix,
            )?;
            if dry.token {
                session.writes_token_objects("a token key")?;
            }
            keys.push((kt, len));
        }
        let lens: Vec<usize> = keys.iter().map(|(_, l)| *l).collect();
        let layout = Layout::new(mode, p, h, &lens)?;
        let key = self.base_key(session, base, how)?;
        slot.check_access()?;
        let values = match how {
            BaseUse::AesEncrypt => kbkdf::derive(
                mode,
                p,
                &layout,
                &mut TsbCmac {
                    ecb: Box::new(super::symmetric::block_cipher(
                        session, &slot.tsb, &key, CKF_DERIVE,
                    )),
                    cmac: Cmac::new(),
                },
            ),
            BaseUse::Hmac => kbkdf::derive(
                mode,
                p,
                &layout,
                &mut TsbHmac {
                    // One request per PRF call, each a step as the block cipher's are: a closed
                    // session, or C_SessionCancel with CKF_DERIVE, stops the derivation.
                    hmac: Box::new(session.each_request(CKF_DERIVE, |m| slot.tsb.hmac(&key, m))),
                },
            ),
        };
        let values = self.log_refusal(session, &key, "key derivation", values)?;
        let mut made: Vec<CK_OBJECT_HANDLE> = Vec::with_capacity(values.len());
        for ((t, (kt, _)), value) in templates.iter().zip(&keys).zip(&values) {
            let mut it = import_template(t, *kt, value);
            let r = self.import_secret_key(session, &it);
            it.zeroize();
            match r {
                Ok(h) => made.push(h),
                Err(e) => {
                    for h in made {
                        if let Err(d) = self.destroy_object(session, h) {
                            crate::log!(
                                Level::Warn,
                                "a key derived before the failure could not be destroyed: {d}"
                            );
                        }
                    }
                    return Err(e);
                }
            }
        }
        crate::log!(
            Level::Info,
            "derived {} key(s) ({} bytes of keying material) from {} with SP 800-108 {mode:?} \
             mode and {prf_name}",
            made.len(),
            layout.total,
            key.tsb_label
        );
        let main = made.remove(0);
        Ok((main, made))
    }
}
