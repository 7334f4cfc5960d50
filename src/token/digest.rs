//! C_Digest*: SHA-1 and SHA-2 computed locally. C_DigestKey digests the value of a secret key
//! that is extractable and not sensitive, read from the TSB as its CKA_VALUE is
//! (`POST /v1/key/export/plain`, plain_keys.rs) and zeroized once digested; any other key is
//! CKR_KEY_INDIGESTIBLE (its bytes never leave the TSB).

use super::attributes::AttrValue;
use super::operation::{finish_output, Mode, Output};
use super::session::Session;
use super::Module;
use crate::error::{Error, Result};
use crate::mechanism::{Hash, Hasher, MechParams};
use cryptoki_sys::*;
use zeroize::Zeroizing;

/// An active digest.
pub(crate) struct DigestOp {
    hash: Hash,
    hasher: Hasher,
    /// The digest of a call whose buffer was too small, kept for the retry.
    result: Option<Vec<u8>>,
    mode: Mode,
}

const SINGLE: &str = "C_Digest";
const MULTI: &str = "C_DigestUpdate/C_DigestFinal";

/// Whether `op` takes another part (C_DigestUpdate, C_DigestKey): a multi-part digest whose
/// result has not been computed yet.
fn ready(op: &mut DigestOp) -> Result<()> {
    op.mode.enter(Mode::Multi, SINGLE, MULTI)?;
    if op.result.is_some() {
        return Err(Error::ck(
            CKR_OPERATION_ACTIVE,
            "digest already computed; call C_DigestFinal",
        ));
    }
    Ok(())
}

impl Module {
    /// C_DigestInit.
    pub(crate) fn digest_init(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        params: &MechParams,
    ) -> Result<()> {
        self.start(session, || {
            let hash = Hash::from_digest_mech(mech).ok_or_else(|| {
                Error::ck(CKR_MECHANISM_INVALID, format!("0x{mech:x} is not a digest"))
            })?;
            if *params != MechParams::None {
                return Err(Error::ck(
                    CKR_MECHANISM_PARAM_INVALID,
                    "digests take no parameter",
                ));
            }
            Ok(DigestOp {
                hash,
                hasher: hash.hasher(),
                result: None,
                mode: Mode::Fresh,
            })
        })
    }

    /// C_DigestUpdate.
    pub(crate) fn digest_update(&self, session: &Session, data: &[u8]) -> Result<()> {
        let mut st = session.state.lock();
        let op = st.ops.get::<DigestOp>()?;
        ready(op)?;
        op.hasher.update(data);
        Ok(())
    }

    /// C_DigestKey: the value of the secret key `h` digested as the next part. The operation is
    /// checked first (CKR_OPERATION_NOT_INITIALIZED), then the handle (CKR_KEY_HANDLE_INVALID,
    /// also for an object that is no key), then whether its value may be read
    /// (CKR_KEY_INDIGESTIBLE, before any request). No lock is held while the TSB answers.
    pub(crate) fn digest_key(&self, session: &Session, h: CK_OBJECT_HANDLE) -> Result<()> {
        ready(session.state.lock().ops.get::<DigestOp>()?)?;
        let (_, view) = self.object_as_key(session, h)?;
        let private_objects = self.slot_of(session).login_required();
        let class = match view.attribute(CKA_CLASS, private_objects) {
            AttrValue::Value(v) => v
                .as_slice()
                .try_into()
                .map(CK_ULONG::from_ne_bytes)
                .unwrap_or(CK_UNAVAILABLE_INFORMATION),
            _ => CK_UNAVAILABLE_INFORMATION,
        };
        if !matches!(class, CKO_SECRET_KEY | CKO_PRIVATE_KEY | CKO_PUBLIC_KEY) {
            return Err(Error::ck(
                CKR_KEY_HANDLE_INVALID,
                format!("object {h} is no key"),
            ));
        }
        let indigestible = || {
            Error::ck(
                CKR_KEY_INDIGESTIBLE,
                format!(
                    "the value of key {h} cannot be digested: only a secret key that is \
                     extractable and not sensitive leaves the TSB"
                ),
            )
        };
        let value = match view.attribute(CKA_VALUE, private_objects) {
            AttrValue::Remote(len) if class == CKO_SECRET_KEY => {
                match self.remote_value(session, &view, len)? {
                    AttrValue::Value(v) => Zeroizing::new(v),
                    _ => return Err(indigestible()),
                }
            }
            _ => return Err(indigestible()),
        };
        // The operation may have ended meanwhile (another thread on this session): then it is
        // CKR_OPERATION_NOT_INITIALIZED, and the value is dropped (zeroized).
        let mut st = session.state.lock();
        let op = st.ops.get::<DigestOp>()?;
        ready(op)?;
        op.hasher.update(&value);
        Ok(())
    }

    /// C_Digest (`data` Some) or C_DigestFinal. `cap` None = length query.
    pub(crate) fn digest(
        &self,
        session: &Session,
        data: Option<&[u8]>,
        cap: Option<usize>,
    ) -> Result<Output> {
        let mut st = session.state.lock();
        let op = st.ops.get::<DigestOp>()?;
        op.mode.enter(Mode::of_call(data), SINGLE, MULTI)?;
        let Some(cap) = cap else {
            return Ok(Output::Len(op.hash.len()));
        };
        let result = match op.result.take() {
            Some(r) => r,
            None => {
                crate::panic_hook::panic_point("digest");
                let mut h = std::mem::replace(&mut op.hasher, op.hash.hasher());
                if let Some(d) = data {
                    h.update(d);
                }
                h.finish()
            }
        };
        let (o, keep) = finish_output(result, cap);
        match keep {
            Some(r) => op.result = Some(r),
            None => st.ops.end::<DigestOp>(),
        }
        Ok(o)
    }
}
