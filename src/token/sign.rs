//! C_Sign*: the signature is made on the TSB (waiting for approvers when the key's policy says
//! so), the input hashed locally first for the hashing mechanisms (or sent whole where the TSB
//! wants the data: `mechanism::full_data`), and the result verified with the key's public key
//! before it is returned (see [`super::results`]).

use super::operation::{Accum, KeyUse, Output};
use super::remote::{RemoteMech, RemoteOp};
use super::session::Session;
use super::symmetric::MacSign;
use super::Module;
use crate::error::{Error, Result};
use crate::mechanism::{self, MechParams, SignScheme};
use crate::tsb::key::KeyInfo;
use cryptoki_sys::*;

/// A signature mechanism, and whether it sends the data itself (see `mechanism::full_data`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signing {
    scheme: SignScheme,
    full_data: bool,
}

/// An active signature.
pub(crate) type SignOp = RemoteOp<Signing>;

impl RemoteMech for Signing {
    const SINGLE: &'static str = "C_Sign";
    const MULTI: &'static str = "C_SignUpdate/C_SignFinal";

    fn output_len(&self, key: &KeyInfo) -> usize {
        key.public.signature_len()
    }

    fn run(&self, m: &Module, session: &Session, key: &KeyInfo, input: &[u8]) -> Result<Vec<u8>> {
        let scheme = self.scheme;
        let slot = m.slot_of(session);
        slot.check_access()?;
        crate::panic_hook::panic_point("remote-op");
        let (alg, payload) =
            mechanism::tsb_sign_request(scheme, input, key.public.modulus_len(), self.full_data)?;
        let sig = session.as_caller(|caller| match scheme {
            // A context goes only where the TSB takes one (`tsb::pqc`): never dropped.
            SignScheme::Pqc { context, .. } if !context.as_slice().is_empty() => slot
                .tsb
                .sign_with_context(key, &alg, &payload, context.as_slice(), caller),
            _ => slot.tsb.sign(key, &alg, &payload, caller),
        })?;
        let checked = mechanism::signature_to_pkcs11(scheme, sig, key.public.signature_len())
            .map_err(|e| Error::BadResult(e.to_string()))
            .and_then(|sig| {
                if slot.config.verify_signatures {
                    // The check takes what the scheme signs: the digest for the hashing
                    // mechanisms (computed only when checking: issue 15, the module's own CPU).
                    let digest = match (self.full_data, scheme.local_hash()) {
                        (true, Some(h)) => std::borrow::Cow::Owned(h.digest(input)),
                        _ => std::borrow::Cow::Borrowed(input),
                    };
                    super::results::signature(key, scheme, &digest, &sig)?;
                }
                Ok(sig)
            });
        m.log_refusal(session, key, "signature", checked)
    }
}

impl Module {
    /// C_SignInit.
    pub(crate) fn sign_init(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        params: &MechParams,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        if mechanism::aes::is_hmac(mech) || mechanism::mac::is_aes_mac(mech) {
            return self.secret_init::<MacSign>(session, mech, params, key);
        }
        self.start(session, || {
            let scheme = mechanism::sign_scheme(mech, params)?;
            let key = self.operation_key(session, key, scheme.family(), KeyUse::Sign)?;
            let slot = self.slot_of(session);
            let full_data = mechanism::full_data(
                scheme,
                key.approval_required,
                slot.config.sign_full_data,
                || slot.tsb.version(),
            )?;
            let accum = if full_data {
                Accum::Data(Vec::new(), slot.config.full_data_max_bytes)
            } else {
                Accum::new(scheme.local_hash())
            };
            Ok(SignOp::new(key, Signing { scheme, full_data }, accum))
        })
    }

    /// C_SignUpdate.
    pub(crate) fn sign_update(&self, session: &Session, data: &[u8]) -> Result<()> {
        if self.secret_active::<MacSign>(session) {
            return self
                .secret_update::<MacSign>(session, data, Some(0))
                .map(|_| ());
        }
        self.remote_update::<Signing>(session, data)
    }

    /// C_Sign (`data` Some) or C_SignFinal. `cap` None = length query.
    pub(crate) fn sign(
        &self,
        session: &Session,
        data: Option<&[u8]>,
        cap: Option<usize>,
    ) -> Result<Output> {
        if self.secret_active::<MacSign>(session) {
            return self.secret_finish::<MacSign>(session, data, cap);
        }
        self.remote_finish::<Signing>(session, data, cap)
    }
}
