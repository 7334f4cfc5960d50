//! C_DeriveKey with the SP 800-108 KDFs (CKM_SP800_108_COUNTER_KDF, _FEEDBACK_KDF,
//! _DOUBLE_PIPELINE_KDF; mechanism::kbkdf has the parameters, their rules and the KDF) with
//! `prfType` CKM_AES_CMAC: the PRF is AES-CMAC computed around E_K on the TSB (mechanism::mac;
//! E_K is `AES_ECB`, so the base key never leaves the HSM), one request per round of CMAC
//! blocks, the counter mode's iterations together. The keying material is cut into the primary
//! key and the CK_DERIVED_KEY ones, each imported as a new key with `POST /v1/key/import/plain`
//! as token/derive.rs does: the bytes pass through the module, zeroized once sent and never
//! logged, and the keys read CKA_LOCAL, CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE false.
//!
//! The base key must be an AES key with CKA_DERIVE and the TSB's `encrypt` (a CMAC is made of
//! encryptions there). The derived keys are AES keys (CKA_VALUE_LEN 16, 24 or 32) or HMAC keys
//! (CKK_GENERIC_SECRET, CKK_SHA256_HMAC: 32 bytes, the only HMAC keys the TSB holds). Everything
//! the call can refuse is checked before the first request; when an import fails, the keys
//! already made by the call are destroyed again ("no key" on failure, PKCS#11 3.0 §2.42.7).

use super::derive::import_template;
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
        if p.prf != CKM_AES_CMAC {
            return Err(Error::ck(
                CKR_MECHANISM_PARAM_INVALID,
                format!("prfType 0x{:x}: the KDFs run with CKM_AES_CMAC here", p.prf),
            ));
        }
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
        let layout = Layout::new(mode, p, 16, &lens)?;
        let key = self.aes_base_key(session, base)?;
        slot.check_access()?;
        let mut prf = TsbCmac {
            ecb: Box::new(|blocks: &[u8]| slot.tsb.ecb_encrypt_blocks(&key, blocks)),
            cmac: Cmac::new(),
        };
        let values = kbkdf::derive(mode, p, &layout, &mut prf);
        drop(prf);
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
             mode and AES-CMAC",
            made.len(),
            layout.total,
            key.tsb_label
        );
        let main = made.remove(0);
        Ok((main, made))
    }
}
