//! C_Verify*: done locally with the public key the TSB returned (no round trip, no approval).

use super::operation::{Accum, KeyUse, Mode};
use super::session::Session;
use super::symmetric::MacVerify;
use super::Module;
use crate::error::{Error, Result};
use crate::mechanism::{self, MechParams, SignScheme};
use crate::tsb::key::KeyInfo;
use cryptoki_sys::*;
use std::sync::Arc;

/// An active verification.
pub(crate) struct VerifyOp {
    key: Arc<KeyInfo>,
    scheme: SignScheme,
    accum: Accum,
    mode: Mode,
}

const SINGLE: &str = "C_Verify";
const MULTI: &str = "C_VerifyUpdate/C_VerifyFinal";

impl Module {
    /// C_VerifyInit.
    pub(crate) fn verify_init(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        params: &MechParams,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        if mechanism::aes::is_hmac(mech) || mechanism::mac::is_aes_mac(mech) {
            return self.secret_init::<MacVerify>(session, mech, params, key);
        }
        self.start(session, || {
            let scheme = mechanism::verify_scheme(mech, params)?;
            let key = self.operation_key(session, key, scheme.family(), KeyUse::Verify)?;
            Ok(VerifyOp {
                key,
                scheme,
                accum: Accum::new(scheme.local_hash()),
                mode: Mode::Fresh,
            })
        })
    }

    /// C_VerifyUpdate.
    pub(crate) fn verify_update(&self, session: &Session, data: &[u8]) -> Result<()> {
        if self.secret_active::<MacVerify>(session) {
            return self
                .secret_update::<MacVerify>(session, data, Some(0))
                .map(|_| ());
        }
        let mut st = session.state.lock();
        let op = st.ops.get::<VerifyOp>()?;
        op.mode.enter(Mode::Multi, SINGLE, MULTI)?;
        op.accum.update(data)
    }

    /// C_Verify (`data` Some) or C_VerifyFinal. Either ends the operation.
    pub(crate) fn verify(&self, session: &Session, data: Option<&[u8]>, sig: &[u8]) -> Result<()> {
        if self.secret_active::<MacVerify>(session) {
            return self.mac_verify(session, data, sig);
        }
        let op = {
            let mut st = session.state.lock();
            let mut op = st
                .ops
                .take::<VerifyOp>()
                .ok_or_else(super::operation::not_initialized)?;
            op.mode.enter(Mode::of_call(data), SINGLE, MULTI)?;
            op
        };
        let mut accum = op.accum;
        if let Some(d) = data {
            accum.update(d)?;
        }
        let input = accum.finish();
        if let SignScheme::RsaPss {
            hash,
            prehashed: true,
        } = op.scheme
        {
            if input.len() != hash.len() {
                return Err(Error::ck(
                    CKR_DATA_LEN_RANGE,
                    "CKM_RSA_PKCS_PSS input must be the digest",
                ));
            }
        }
        if super::local::verify(
            &op.key.public,
            &op.key.spki,
            &op.key.verifier,
            op.scheme,
            &input,
            sig,
        )? {
            Ok(())
        } else {
            Err(Error::ck(
                CKR_SIGNATURE_INVALID,
                "signature does not verify",
            ))
        }
    }
}
