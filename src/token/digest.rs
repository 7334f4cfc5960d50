//! C_Digest*: SHA-1 and SHA-2 computed locally.

use super::operation::{finish_output, Mode, Output};
use super::session::Session;
use super::Module;
use crate::error::{Error, Result};
use crate::mechanism::{Hash, Hasher, MechParams};
use cryptoki_sys::*;

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
        op.mode.enter(Mode::Multi, SINGLE, MULTI)?;
        if op.result.is_some() {
            return Err(Error::ck(
                CKR_OPERATION_ACTIVE,
                "digest already computed; call C_DigestFinal",
            ));
        }
        op.hasher.update(data);
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
