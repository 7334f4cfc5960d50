//! C_WrapKey and C_UnwrapKey with what the TSB offers (`models/src/wrap.rs`): a secret key
//! wrapped by an AES key (CKM_AES_KEY_WRAP: `AES_WRAP`, RFC 3394; CKM_AES_KEY_WRAP_KWP:
//! `AES_WRAP_PAD`, RFC 5649) or by an RSA key (CKM_RSA_PKCS: `RSA_WRAP_PAD`; CKM_RSA_PKCS_OAEP
//! with SHA-1: `RSA_WRAP_OAEP`). What the methods compute is this project's reading (no source
//! documents it); the tests check the emulator's reading with OpenSSL.
//!
//! Not offered: wrapping private keys (`AES_WRAP_{EC,ED,RSA}`): the TSB's format for them is not
//! documented, and S2's own example (160 bytes for a secp256k1 key) is not PKCS#8 (144), which
//! PKCS#11 would expect. An unwrapped key is an AES key (the wrapped bytes carry no type).
//!
//! Unwrapping with a key whose policy needs approvals goes through `/v1/unwrap` and the usual
//! wait (sent once, resumed if asked again: `tsb::requests`). Wrapping is synchronous in every
//! source. The wrapped length is known beforehand, so a length query or a buffer too small is
//! answered without a request, and the TSB's answer is checked against it.

use super::attributes::ObjClass;
use super::objects::ObjRef;
use super::operation::Output;
use super::session::Session;
use super::template::Template;
use super::Module;
use crate::error::{Error, Result};
use crate::mechanism::{Family, Hash, MechParams};
use crate::tsb::key::KeyInfo;
use cryptoki_sys::*;
use std::sync::Arc;
use tsb_models::SecretKeyAlgorithm;

/// A wrapping mechanism: the `wrapMethod` and whether an AES (else an RSA) key wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WrapMech {
    method: &'static str,
    aes: bool,
}

fn wrap_mech(mech: CK_MECHANISM_TYPE, params: &MechParams) -> Result<WrapMech> {
    let param_invalid = |m: &str| Error::ck(CKR_MECHANISM_PARAM_INVALID, m.to_string());
    let none = |w: WrapMech| match params {
        MechParams::None => Ok(w),
        // An explicit RFC 3394 IV cannot be passed on to the TSB (no such field).
        _ => Err(param_invalid(
            "the TSB's key wrap takes no parameter (the default IV)",
        )),
    };
    match mech {
        CKM_AES_KEY_WRAP => none(WrapMech {
            method: "AES_WRAP",
            aes: true,
        }),
        CKM_AES_KEY_WRAP_KWP => none(WrapMech {
            method: "AES_WRAP_PAD",
            aes: true,
        }),
        CKM_RSA_PKCS => none(WrapMech {
            method: "RSA_WRAP_PAD",
            aes: false,
        }),
        CKM_RSA_PKCS_OAEP => match params {
            // `RSA_WRAP_OAEP` is read as the JCE's `RSA/ECB/OAEPPadding`: SHA-1 and MGF1-SHA-1,
            // no label (unconfirmed, see models/src/wrap.rs).
            MechParams::Oaep(p)
                if Hash::from_digest_mech(p.hash_alg) == Some(Hash::Sha1)
                    && Hash::from_mgf(p.mgf) == Some(Hash::Sha1)
                    && p.source_data.is_empty() =>
            {
                Ok(WrapMech {
                    method: "RSA_WRAP_OAEP",
                    aes: false,
                })
            }
            _ => Err(param_invalid(
                "the TSB wraps with RSA-OAEP using SHA-1 and MGF1-SHA-1 without a label",
            )),
        },
        _ => Err(Error::ck(
            CKR_MECHANISM_INVALID,
            format!("mechanism 0x{mech:x} cannot wrap keys"),
        )),
    }
}

/// The wrapped length of a secret key of `n` bytes.
fn wrapped_len(w: WrapMech, n: usize, wrapping: &KeyInfo) -> usize {
    match (w.aes, w.method) {
        (true, "AES_WRAP") => n + 8,
        (true, _) => n.div_ceil(8) * 8 + 8,
        (false, _) => wrapping.public.modulus_len(),
    }
}

impl Module {
    /// The wrapping (or unwrapping) key: an AES secret key allowed to wrap (unwrap), or an RSA
    /// key.
    fn wrapping_key(
        &self,
        session: &Session,
        h: CK_OBJECT_HANDLE,
        w: WrapMech,
        unwrap: bool,
    ) -> Result<Arc<KeyInfo>> {
        let (handle_rv, type_rv) = if unwrap {
            (
                CKR_UNWRAPPING_KEY_HANDLE_INVALID,
                CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
            )
        } else {
            (
                CKR_WRAPPING_KEY_HANDLE_INVALID,
                CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
            )
        };
        let class = if unwrap {
            ObjClass::Private
        } else {
            ObjClass::Public
        };
        let key = self.key_object(session, h, class).map_err(|e| match e {
            Error::Ck(CKR_KEY_HANDLE_INVALID, m) => Error::Ck(handle_rv, m),
            other => other,
        })?;
        let fits = if w.aes {
            key.public
                .secret()
                .is_some_and(|s| s.algorithm == SecretKeyAlgorithm::Aes)
        } else {
            key.public.family() == Some(Family::Rsa)
        };
        if !fits {
            return Err(Error::ck(
                type_rv,
                format!(
                    "{} needs an {} key; {} is not one",
                    w.method,
                    if w.aes { "AES" } else { "RSA" },
                    key.label
                ),
            ));
        }
        let allowed = match (unwrap, key.public.secret()) {
            (true, _) => key.unwrap,
            (false, Some(s)) => s.wrap,
            // An RSA public key's CKA_WRAP (attributes.rs); the TSB checks its `wrap` too.
            (false, None) => key.unwrap,
        };
        if !allowed || key.blocked {
            return Err(Error::ck(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                format!(
                    "key {} may not {}",
                    key.label,
                    if unwrap { "unwrap" } else { "wrap" }
                ),
            ));
        }
        Ok(key)
    }

    /// C_WrapKey. `cap` None = length query.
    pub(crate) fn wrap_key(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        params: &MechParams,
        wrapping: CK_OBJECT_HANDLE,
        h: CK_OBJECT_HANDLE,
        cap: Option<usize>,
    ) -> Result<Output> {
        let w = wrap_mech(mech, params)?;
        let wrapping = self.wrapping_key(session, wrapping, w, false)?;
        let key = self.key_object(session, h, ObjClass::Private)?;
        let Some(secret) = key.public.secret() else {
            return Err(Error::ck(
                CKR_KEY_NOT_WRAPPABLE,
                "the TSB's format for wrapped private keys is not documented: only secret keys \
                 are wrapped here",
            ));
        };
        if !key.extractable {
            return Err(Error::ck(
                CKR_KEY_UNEXTRACTABLE,
                format!(
                    "key {} is not extractable (CKA_EXTRACTABLE false)",
                    key.label
                ),
            ));
        }
        let want = wrapped_len(w, (secret.bits / 8) as usize, &wrapping);
        match cap {
            None => return Ok(Output::Len(want)),
            // Known beforehand: nothing is sent for a buffer that cannot take it.
            Some(c) if c < want => return Ok(Output::TooSmall(want)),
            Some(_) => {}
        }
        let slot = self.slot_of(session);
        slot.check_access()?;
        let r = slot
            .tsb
            .wrap_key(&wrapping, &key, w.method)
            .and_then(|out| {
                if out.len() == want {
                    Ok(out)
                } else {
                    Err(Error::BadResult(format!(
                        "{}: a wrapped key of {} bytes (expected {want})",
                        w.method,
                        out.len()
                    )))
                }
            });
        self.log_refusal(session, &key, "wrap", r).map(Output::Data)
    }

    /// C_UnwrapKey: a new AES key in the TSB; its handle.
    pub(crate) fn unwrap_key(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        params: &MechParams,
        unwrapping: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        template: &Template,
    ) -> Result<CK_OBJECT_HANDLE> {
        template.refuse_unique_id()?;
        let w = wrap_mech(mech, params)?;
        let unwrapping = self.wrapping_key(session, unwrapping, w, true)?;
        // The wrapped form of a 16, 24 or 32-byte key (an unwrapped key is AES).
        let len_ok = if w.aes {
            [24, 32, 40].contains(&wrapped.len())
        } else {
            wrapped.len() == unwrapping.public.modulus_len()
        };
        if !len_ok {
            return Err(Error::ck(
                CKR_WRAPPED_KEY_LEN_RANGE,
                format!(
                    "{} bytes is no wrapped AES key for {}",
                    wrapped.len(),
                    w.method
                ),
            ));
        }
        let slot = self.slot_of(session);
        slot.check_access()?;
        let prefix = &slot.config.label_prefix;
        let req = super::secret_keys::build_for(SecretKeyAlgorithm::Aes, template, prefix, false)
            .map_err(|e| match e {
            Error::Ck(rv, m) => Error::User(rv, m),
            other => other,
        })?;
        if req.token {
            session.writes_token_objects("a token key")?;
        }
        let r = session.as_caller(|caller| {
            slot.tsb.unwrap_key(
                &unwrapping,
                wrapped,
                &req.body.label,
                &req.body.attributes,
                w.method,
                caller,
            )
        });
        let key = self.log_refusal(session, &unwrapping, "unwrap", r)?;
        // What the template asked of the length, checked against what was unwrapped.
        let asked = template.ulong(CKA_VALUE_LEN)?;
        let got = key.public.secret().map(|s| (s.bits / 8) as CK_ULONG);
        if got.is_none() || asked.is_some_and(|n| Some(n) != got) {
            let _ = slot.tsb.delete_key(&key.tsb_label);
            return Err(Error::ck(
                CKR_TEMPLATE_INCONSISTENT,
                format!(
                    "the unwrapped key is {got:?} bytes of AES, not what the template says \
                     ({asked:?}); deleted"
                ),
            ));
        }
        if !req.token {
            return Ok(self.session_secret_key(session, key, template));
        }
        Ok(self.handle_for(ObjRef {
            slot: slot.id,
            label: key.tsb_label.clone(),
            class: ObjClass::Private,
        }))
    }
}
