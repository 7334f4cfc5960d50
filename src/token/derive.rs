//! C_DeriveKey with CKM_AES_ECB_ENCRYPT_DATA and CKM_AES_CBC_ENCRYPT_DATA (mechanism::derive has
//! the parameter and length rules): the data is encrypted on the TSB under the base key with the
//! raw block cipher (`Tsb::ecb_encrypt_blocks`; CBC chained here by `mechanism::modes`, one
//! request per block), and the first bytes of the result are imported as a new AES key with
//! `POST /v1/key/import/plain` (plain_keys.rs), as a token or a session object per CKA_TOKEN,
//! with the template's label and uses as C_CreateObject takes them.
//!
//! The TSB has no such derivation of its own (tsb-api.md lists only BIP32/SLIP10 derivation,
//! `/v1/derivedKey`), so the derived key's bytes pass through the module: they are zeroized once
//! sent and never logged, and the new key reads what an imported key reads (CKA_LOCAL,
//! CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE false, CKA_KEY_GEN_MECHANISM
//! CK_UNAVAILABLE_INFORMATION). The base key must allow derivation (CKA_DERIVE, the TSB's
//! `derive` attribute) and, because the TSB computes the derivation as an encryption, also the
//! TSB's `encrypt` attribute (CKA_ENCRYPT). Everything the call can refuse is checked before the
//! first request.

use super::attributes::ObjClass;
use super::session::Session;
use super::template::{Attr, Template};
use super::Module;
use crate::error::{Error, Result};
use crate::log::Level;
use crate::mechanism::{self, modes, MechParams};
use cryptoki_sys::*;
use tsb_models::SecretKeyAlgorithm;
use zeroize::Zeroizing;

fn not_permitted(m: String) -> Error {
    Error::ck(CKR_KEY_FUNCTION_NOT_PERMITTED, m)
}

/// The template C_CreateObject would take for a derived key of `key_type` with `value`: the
/// caller's attributes without CKA_KEY_TYPE and CKA_VALUE_LEN (said by the value itself),
/// CKA_KEY_TYPE and CKA_VALUE. The caller zeroizes it after use.
pub(super) fn import_template(
    template: &Template,
    key_type: CK_KEY_TYPE,
    value: &[u8],
) -> Template {
    Template::new(
        template
            .iter()
            .filter(|a| !matches!(a.ty, CKA_KEY_TYPE | CKA_VALUE_LEN))
            .cloned()
            .chain([
                Attr::new(CKA_KEY_TYPE, key_type.to_ne_bytes().to_vec()),
                Attr::new(CKA_VALUE, value.to_vec()),
            ])
            .collect(),
    )
}

/// What a derivation does with its base key on the TSB, each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BaseUse {
    /// AES encryptions (`POST /v1/encrypt`): an AES key with the TSB's `encrypt`.
    AesEncrypt,
    /// HMAC-SHA-256 (`POST /v1/synchronousHmac`): an `HMACSHA256` key with the TSB's `sign`.
    /// S2 `tsb/Tutorials/Mac/hmac.md` creates its HMAC key with `"sign": true` and calls the
    /// HMAC signing; that the TSB refuses one without `sign` is inferred (no source says), and
    /// the emulator does (emulator/README.md, "HMAC").
    Hmac,
}

impl Module {
    /// The base key of a derivation computed with AES encryptions on the TSB (data encryption
    /// here, AES-CMAC in token/kbkdf.rs): an AES key (else CKR_KEY_TYPE_INCONSISTENT) allowed
    /// to derive, to encrypt on the TSB (the TSB checks its `encrypt`) and not blocked (else
    /// CKR_KEY_FUNCTION_NOT_PERMITTED).
    pub(super) fn aes_base_key(
        &self,
        session: &Session,
        base: CK_OBJECT_HANDLE,
    ) -> Result<std::sync::Arc<crate::tsb::key::KeyInfo>> {
        self.base_key(session, base, BaseUse::AesEncrypt)
    }

    /// The base key of a derivation whose every step is `how` on the TSB: a key of its
    /// algorithm (else CKR_KEY_TYPE_INCONSISTENT, as PKCS#11 3.0's return values define it:
    /// "not the correct type of key to use with the specified mechanism"), allowed to derive (CKA_DERIVE, the TSB's
    /// `derive`), allowed the TSB operation and not blocked (else
    /// CKR_KEY_FUNCTION_NOT_PERMITTED).
    pub(super) fn base_key(
        &self,
        session: &Session,
        base: CK_OBJECT_HANDLE,
        how: BaseUse,
    ) -> Result<std::sync::Arc<crate::tsb::key::KeyInfo>> {
        let key = self.key_object(session, base, ObjClass::Private)?;
        let (algorithm, what) = match how {
            BaseUse::AesEncrypt => (SecretKeyAlgorithm::Aes, "AES encryptions"),
            BaseUse::Hmac => (SecretKeyAlgorithm::HmacSha256, "HMAC-SHA-256"),
        };
        let s = match key.public.secret() {
            Some(s) if s.algorithm == algorithm => *s,
            _ => {
                return Err(Error::ck(
                    CKR_KEY_TYPE_INCONSISTENT,
                    format!(
                        "{} is no {} key: it cannot derive with {what}",
                        key.label,
                        algorithm.name()
                    ),
                ))
            }
        };
        if !key.derive {
            return Err(not_permitted(format!(
                "key {} is not allowed to derive (CKA_DERIVE false)",
                key.label
            )));
        }
        let (allowed, attribute, op) = match how {
            BaseUse::AesEncrypt => (s.encrypt, "CKA_ENCRYPT", "encrypt"),
            BaseUse::Hmac => (key.sign, "CKA_SIGN", "compute an HMAC"),
        };
        if !allowed {
            return Err(not_permitted(format!(
                "key {} cannot {op} on the TSB ({attribute} false), and the derivation is made \
                 of {what} there",
                key.label
            )));
        }
        if key.blocked {
            return Err(not_permitted(format!(
                "key {} is blocked on the TSB",
                key.label
            )));
        }
        Ok(key)
    }

    /// C_DeriveKey: a new AES key whose value is the AES-ECB or AES-CBC encryption of the
    /// parameter's data under `base`, cut to the key's length; its handle.
    pub(crate) fn derive_key(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        params: &MechParams,
        base: CK_OBJECT_HANDLE,
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        if mechanism::kbkdf::Mode::of(mech).is_some() {
            return Err(Error::Internal(
                "the SP 800-108 KDFs derive through Module::kbkdf_derive".into(),
            ));
        }
        let slot = self.slot_of(session);
        if !mechanism::is_encrypt_data(mech)
            || mechanism::info(mech, slot.tsb.known_version()).is_none()
        {
            return Err(Error::ck(
                CKR_MECHANISM_INVALID,
                format!("mechanism 0x{mech:x} cannot derive keys here"),
            ));
        }
        let d = mechanism::derive_data(mech, params)?;
        template.refuse_unique_id()?;
        // The base key: an AES key allowed to derive (and to encrypt, which the TSB checks).
        let key = self.aes_base_key(session, base)?;
        // The new key's template, checked in full before anything is sent: the import's own
        // rules (plain_keys.rs) on a placeholder of the key's length.
        if template.get(CKA_VALUE).is_some() {
            return Err(Error::ck(
                CKR_ATTRIBUTE_READ_ONLY,
                "CKA_VALUE cannot be given to C_DeriveKey",
            ));
        }
        match template.ulong(CKA_KEY_TYPE)? {
            None | Some(CKK_AES) => {}
            Some(t) => {
                return Err(Error::ck(
                    CKR_TEMPLATE_INCONSISTENT,
                    format!("CKA_KEY_TYPE 0x{t:x}: these mechanisms derive AES keys here"),
                ))
            }
        }
        let len = mechanism::key_len(template.ulong(CKA_VALUE_LEN)?, d.data.len())?;
        let dry = super::plain_keys::build_secret_import(
            &import_template(template, CKK_AES, &vec![0; len]),
            &slot.config.label_prefix,
        )?;
        if dry.token {
            session.writes_token_objects("a token key")?;
        }
        slot.check_access()?;
        // The encryption of the blocks that make the key (mechanism::needed), on the TSB.
        let input = mechanism::needed(&d.data, len);
        let mut ecb = super::symmetric::block_cipher(session, &slot.tsb, &key, CKF_DERIVE);
        let encrypted = match d.iv {
            None => ecb(input),
            Some(iv) => modes::cbc_encrypt(&mut ecb, &iv, input),
        }
        .and_then(|out| {
            let out = Zeroizing::new(out);
            if out.len() != input.len() {
                return Err(Error::BadResult(format!(
                    "AES made {} bytes of {} bytes of blocks",
                    out.len(),
                    input.len()
                )));
            }
            Ok(out)
        });
        let encrypted = self.log_refusal(session, &key, "key derivation", encrypted)?;
        let mut t = import_template(template, CKK_AES, &encrypted[..len]);
        let r = self.import_secret_key(session, &t);
        t.zeroize();
        let h = r?;
        crate::log!(
            Level::Info,
            "derived a {len}-byte AES key from {} with {}",
            key.tsb_label,
            if d.iv.is_some() {
                "CKM_AES_CBC_ENCRYPT_DATA"
            } else {
                "CKM_AES_ECB_ENCRYPT_DATA"
            }
        );
        Ok(h)
    }
}
