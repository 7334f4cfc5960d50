//! C_Decrypt: RSA decryption on the TSB (waiting for approvers when the key's policy says so),
//! single-part, the plaintext checked against what its padding allows before it is returned.

use super::operation::{Accum, KeyUse, Output};
use super::remote::{RemoteMech, RemoteOp};
use super::session::Session;
use super::symmetric::Decrypt;
use super::Module;
use crate::error::{Error, Result};
use crate::mechanism::{self, Family, Hash, MechParams};
use crate::tsb::key::KeyInfo;
use cryptoki_sys::*;

/// An RSA decryption: PKCS#1 v1.5, or OAEP with MGF1 of this hash.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decryption {
    oaep: Option<Hash>,
}

/// An active decryption.
pub(crate) type DecryptOp = RemoteOp<Decryption>;

impl RemoteMech for Decryption {
    const SINGLE: &'static str = "C_Decrypt";
    const MULTI: &'static str = "C_DecryptUpdate/C_DecryptFinal";

    fn output_len(&self, key: &KeyInfo) -> usize {
        key.public.modulus_len()
    }

    fn run(&self, m: &Module, session: &Session, key: &KeyInfo, input: &[u8]) -> Result<Vec<u8>> {
        let slot = m.slot_of(session);
        slot.check_access()?;
        crate::panic_hook::panic_point("remote-op");
        let k = key.public.modulus_len();
        if input.len() != k {
            return Err(Error::ck(
                CKR_ENCRYPTED_DATA_LEN_RANGE,
                format!("RSA ciphertext must be {k} bytes"),
            ));
        }
        let alg = mechanism::cipher_algorithm(self.oaep);
        let plain = session
            .as_caller(|caller| slot.tsb.decrypt(key, &alg, input, caller))
            .and_then(|p| super::results::plaintext(key, self.oaep, &p).map(|_| p));
        m.log_refusal(session, key, "decryption", plain)
    }
}

impl Module {
    /// C_DecryptInit.
    pub(crate) fn decrypt_init(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        params: &MechParams,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        if crate::mechanism::aes::is_aes(mech) {
            return self.secret_init::<Decrypt>(session, mech, params, key);
        }
        self.start(session, || {
            let (_, oaep) = mechanism::tsb_cipher(mech, params)?;
            let key = self.operation_key(session, key, Family::Rsa, KeyUse::Decrypt)?;
            Ok(DecryptOp::new(
                key,
                Decryption { oaep },
                Accum::Buffer(Vec::new()),
            ))
        })
    }

    /// C_DecryptUpdate: AES collects the part (symmetric.rs). `cap` None = length query.
    pub(crate) fn decrypt_update(
        &self,
        session: &Session,
        data: &[u8],
        cap: Option<usize>,
    ) -> Result<Output> {
        if self.secret_active::<Decrypt>(session) {
            return self.secret_update::<Decrypt>(session, data, cap);
        }
        self.rsa_decrypt_single_part(session)
    }

    /// C_DecryptFinal: AES decrypts what the Update calls collected.
    pub(crate) fn decrypt_final(&self, session: &Session, cap: Option<usize>) -> Result<Output> {
        if self.secret_active::<Decrypt>(session) {
            return self.secret_finish::<Decrypt>(session, None, cap);
        }
        self.rsa_decrypt_single_part(session)
    }

    /// C_DecryptUpdate and C_DecryptFinal are not offered for RSA (a single block): the
    /// standard's answer for single-part mechanisms, which ends the operation.
    fn rsa_decrypt_single_part(&self, session: &Session) -> Result<Output> {
        if session.state.lock().ops.get::<DecryptOp>()?.in_flight {
            return Err(super::remote::running());
        }
        Err(Error::ck(
            CKR_FUNCTION_NOT_SUPPORTED,
            "RSA decryption is single-part: use C_Decrypt",
        ))
    }

    /// C_Decrypt. `cap` None = length query.
    pub(crate) fn decrypt(
        &self,
        session: &Session,
        data: &[u8],
        cap: Option<usize>,
    ) -> Result<Output> {
        if self.secret_active::<Decrypt>(session) {
            return self.secret_finish::<Decrypt>(session, Some(data), cap);
        }
        self.remote_finish::<Decryption>(session, Some(data), cap)
    }
}
