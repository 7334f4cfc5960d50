//! C_Encrypt: RSA encryption done locally with the public key the TSB returned; single-part.
//! AES encryption happens on the TSB (symmetric.rs).

use super::operation::{finish_output, KeyUse, Output};
use super::session::Session;
use super::symmetric::Encrypt;
use super::Module;
use crate::error::{Error, Result};
use crate::mechanism::{self, Family, Hash, MechParams};
use crate::tsb::key::KeyInfo;
use cryptoki_sys::*;
use std::sync::Arc;

/// An active encryption.
pub(crate) struct EncryptOp {
    key: Arc<KeyInfo>,
    oaep: Option<Hash>,
    /// The ciphertext of a call whose buffer was too small, kept for the retry.
    result: Option<Vec<u8>>,
}

impl Module {
    /// C_EncryptInit.
    pub(crate) fn encrypt_init(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        params: &MechParams,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        if crate::mechanism::aes::is_aes(mech) {
            return self.secret_init::<Encrypt>(session, mech, params, key);
        }
        self.start(session, || {
            let (_, oaep) = mechanism::tsb_cipher(mech, params)?;
            let key = self.operation_key(session, key, Family::Rsa, KeyUse::Encrypt)?;
            Ok(EncryptOp {
                key,
                oaep,
                result: None,
            })
        })
    }

    /// C_EncryptUpdate: AES collects the part (symmetric.rs); RSA is single-part (the
    /// standard's answer, which ends the operation). `cap` None = length query.
    pub(crate) fn encrypt_update(
        &self,
        session: &Session,
        data: &[u8],
        cap: Option<usize>,
    ) -> Result<Output> {
        if self.secret_active::<Encrypt>(session) {
            return self.secret_update::<Encrypt>(session, data, cap);
        }
        self.rsa_single_part(session)
    }

    /// C_EncryptFinal: AES sends the message; RSA is single-part.
    pub(crate) fn encrypt_final(&self, session: &Session, cap: Option<usize>) -> Result<Output> {
        if self.secret_active::<Encrypt>(session) {
            return self.secret_finish::<Encrypt>(session, None, cap);
        }
        self.rsa_single_part(session)
    }

    fn rsa_single_part(&self, session: &Session) -> Result<Output> {
        session.state.lock().ops.get::<EncryptOp>()?;
        Err(Error::ck(
            CKR_FUNCTION_NOT_SUPPORTED,
            "RSA encryption is single-part: use C_Encrypt",
        ))
    }

    /// C_Encrypt. `cap` None = length query.
    pub(crate) fn encrypt(
        &self,
        session: &Session,
        data: &[u8],
        cap: Option<usize>,
    ) -> Result<Output> {
        if self.secret_active::<Encrypt>(session) {
            return self.secret_finish::<Encrypt>(session, Some(data), cap);
        }
        let mut st = session.state.lock();
        let op = st.ops.get::<EncryptOp>()?;
        let Some(cap) = cap else {
            return Ok(Output::Len(
                op.result
                    .as_ref()
                    .map(|r| r.len())
                    .unwrap_or(op.key.public.modulus_len()),
            ));
        };
        let result = match op.result.take() {
            Some(r) => r,
            None => super::local::encrypt(&op.key.public, op.oaep, data)?,
        };
        let (o, keep) = finish_output(result, cap);
        match keep {
            Some(r) => op.result = Some(r),
            None => st.ops.end::<EncryptOp>(),
        }
        Ok(o)
    }
}
