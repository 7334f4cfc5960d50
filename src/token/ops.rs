//! Operation state machines (sign, verify, encrypt, decrypt, digest) and the remote execution of
//! TSB operations, with the approval wait and the rules that keep an approval-gated operation from
//! ever being sent twice:
//! - a length query (NULL output) is answered from the key (modulus, curve), without a request;
//! - a result that did not fit the caller's buffer is kept for the retry;
//! - a request still pending when our timeout ends is remembered by the operation's fingerprint
//!   (and in the optional journal file), so the same operation asked again resumes waiting on it.

use super::lifecycle::{Mode, OpKind};
use super::object::{KeyInfo, ObjClass};
use super::{Module, Session, Slot};
use crate::error::{Error, Result};
use crate::log::Level;
use crate::mechanism::{self, Family, Hash, Hasher, MechParams, SignScheme};
use cryptoki_sys::*;
use std::sync::Arc;

/// Input collected by Update calls: hashed as it comes, or buffered for raw mechanisms.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // one per active operation; boxing buys nothing
pub enum Accum {
    /// Hash-then-sign mechanisms hash locally, so large inputs never cross the network.
    Hash(Hasher),
    /// Raw mechanisms take the whole input.
    Buffer(Vec<u8>),
}

impl Accum {
    fn new(hash: Option<Hash>) -> Accum {
        match hash {
            Some(h) => Accum::Hash(h.hasher()),
            None => Accum::Buffer(Vec::new()),
        }
    }
    fn update(&mut self, d: &[u8]) -> Result<()> {
        match self {
            Accum::Hash(h) => h.update(d),
            Accum::Buffer(b) => {
                // Raw inputs are digests or short messages; refuse to buffer something absurd.
                if b.len() + d.len() > 16 * 1024 * 1024 {
                    return Err(Error::ck(
                        CKR_DATA_LEN_RANGE,
                        "input too large for a raw mechanism",
                    ));
                }
                b.extend_from_slice(d)
            }
        }
        Ok(())
    }
    fn finish(self) -> Vec<u8> {
        match self {
            Accum::Hash(h) => h.finish(),
            Accum::Buffer(b) => b,
        }
    }
}

/// An active signature (or decryption, CSR, ...) that runs on the TSB.
pub struct RemoteOp {
    key: Arc<KeyInfo>,
    kind: RemoteKind,
    accum: Option<Accum>,
    /// Set once the TSB produced the result; kept after CKR_BUFFER_TOO_SMALL.
    result: Option<Vec<u8>>,
    /// Single-part or multi-part (see [`super::lifecycle`]).
    mode: Mode,
    /// A call is running it on the TSB right now (its input taken, maybe waiting for approvers).
    in_flight: bool,
}

#[derive(Clone, Copy)]
enum RemoteKind {
    Sign(SignScheme),
    Decrypt { oaep: Option<Hash> },
}

/// Local verification.
pub struct VerifyOp {
    key: Arc<KeyInfo>,
    scheme: SignScheme,
    accum: Accum,
    mode: Mode,
}

/// Local encryption.
pub struct EncryptOp {
    key: Arc<KeyInfo>,
    oaep: Option<Hash>,
    buffer: Vec<u8>,
    result: Option<Vec<u8>>,
}

/// Digest.
pub struct DigestOp {
    hash: Hash,
    hasher: Hasher,
    result: Option<Vec<u8>>,
    mode: Mode,
}

/// Find state.
pub struct FindState {
    /// Remaining handles.
    pub results: Vec<CK_OBJECT_HANDLE>,
    /// Next index.
    pub pos: usize,
}

/// Per-session state.
#[derive(Default)]
pub struct SessionState {
    /// Active find.
    pub find: Option<FindState>,
    sign: Option<RemoteOp>,
    decrypt: Option<RemoteOp>,
    verify: Option<VerifyOp>,
    encrypt: Option<EncryptOp>,
    digest: Option<DigestOp>,
    /// ulDeviceError: TSB errorCode (or TSB_DEVERR_*) of the last failure.
    pub device_error: CK_ULONG,
    /// The id of the TSB request the last approval-gated operation created or resumed.
    pub last_request_id: Option<String>,
    /// A finished vendor-extension result (CSR, certificate) that did not fit the caller's buffer,
    /// with the fingerprint of the call that made it.
    pub kept_output: Option<(String, Vec<u8>)>,
}

impl SessionState {
    /// Whether an operation of `kind` is active.
    pub fn is_active(&self, kind: OpKind) -> bool {
        match kind {
            OpKind::Sign => self.sign.is_some(),
            OpKind::Verify => self.verify.is_some(),
            OpKind::Encrypt => self.encrypt.is_some(),
            OpKind::Decrypt => self.decrypt.is_some(),
            OpKind::Digest => self.digest.is_some(),
        }
    }

    /// End the `kind` operation, unless a call on another thread is running it on the TSB (that
    /// call ends it; see [`super::lifecycle`]).
    pub fn end_unless_running(&mut self, kind: OpKind) {
        let idle = |o: &Option<RemoteOp>| o.as_ref().is_some_and(|o| !o.in_flight);
        match kind {
            OpKind::Sign if idle(&self.sign) => self.sign = None,
            OpKind::Decrypt if idle(&self.decrypt) => self.decrypt = None,
            OpKind::Sign | OpKind::Decrypt => {}
            OpKind::Verify => self.verify = None,
            OpKind::Encrypt => self.encrypt = None,
            OpKind::Digest => self.digest = None,
        }
    }
}

/// What an output call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Length query answered (nothing ran).
    Len(usize),
    /// The result; the operation is finished.
    Data(Vec<u8>),
    /// The result is ready but larger than the buffer; it is kept for the retry.
    TooSmall(usize),
}

impl Output {
    /// Bytes already at hand, with the standard's buffer semantics (nothing is kept).
    pub fn serve(bytes: Vec<u8>, cap: Option<usize>) -> Output {
        match cap {
            None => Output::Len(bytes.len()),
            Some(c) if c < bytes.len() => Output::TooSmall(bytes.len()),
            Some(_) => Output::Data(bytes),
        }
    }
}

fn finish_output(result: Vec<u8>, cap: usize) -> (Output, Option<Vec<u8>>) {
    if result.len() > cap {
        let n = result.len();
        (Output::TooSmall(n), Some(result))
    } else {
        (Output::Data(result), None)
    }
}

impl Module {
    /// Record the outcome of an operation in the session (ulDeviceError).
    pub fn note_result<T>(&self, session: &Session, r: &Result<T>) {
        let mut st = session.state.lock();
        st.device_error = match r {
            Ok(_) => 0,
            Err(e) => e.device_error().unwrap_or(0),
        };
    }

    // ---- sign -------------------------------------------------------------------------------

    /// C_SignInit.
    pub fn sign_init(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        params: &MechParams,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        if session.state.lock().sign.is_some() {
            return Err(Error::ck(
                CKR_OPERATION_ACTIVE,
                "a signature is already active in this session",
            ));
        }
        let scheme = mechanism::sign_scheme(mech, params)?;
        let key = self.key_object(session, key, ObjClass::Private)?;
        check_key(&key, scheme.family(), key.sign, "CKA_SIGN", "sign")?;
        session.cancel.reset();
        let mut st = session.state.lock();
        if st.sign.is_some() {
            return Err(Error::ck(
                CKR_OPERATION_ACTIVE,
                "a signature is already active in this session",
            ));
        }
        st.sign = Some(RemoteOp {
            key,
            kind: RemoteKind::Sign(scheme),
            accum: Some(Accum::new(scheme.local_hash())),
            result: None,
            mode: Mode::Fresh,
            in_flight: false,
        });
        Ok(())
    }

    /// C_SignUpdate.
    pub fn sign_update(&self, session: &Session, data: &[u8]) -> Result<()> {
        let mut st = session.state.lock();
        let op = st.sign.as_mut().ok_or_else(not_init)?;
        if op.in_flight {
            return Err(running());
        }
        let r = op
            .mode
            .enter(Mode::Multi, "C_Sign", "C_SignUpdate/C_SignFinal")
            .and_then(|_| match op.accum.as_mut() {
                Some(a) => a.update(data),
                None => Err(Error::ck(
                    CKR_OPERATION_ACTIVE,
                    "the signature is already computed; call C_SignFinal",
                )),
            });
        if r.is_err() {
            st.sign = None;
        }
        r
    }

    /// C_Sign (`single` = true) or C_SignFinal. `cap` None = length query.
    pub fn sign_finish(
        &self,
        session: &Session,
        data: Option<&[u8]>,
        cap: Option<usize>,
    ) -> Result<Output> {
        self.remote_finish(session, true, data, cap)
    }

    /// C_DecryptInit.
    pub fn decrypt_init(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        params: &MechParams,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        if session.state.lock().decrypt.is_some() {
            return Err(Error::ck(
                CKR_OPERATION_ACTIVE,
                "a decryption is already active in this session",
            ));
        }
        let (_, oaep) = mechanism::tsb_cipher(mech, params)?;
        let key = self.key_object(session, key, ObjClass::Private)?;
        check_key(&key, Family::Rsa, key.decrypt, "CKA_DECRYPT", "decrypt")?;
        session.cancel.reset();
        let mut st = session.state.lock();
        st.decrypt = Some(RemoteOp {
            key,
            kind: RemoteKind::Decrypt { oaep },
            accum: Some(Accum::Buffer(Vec::new())),
            result: None,
            mode: Mode::Fresh,
            in_flight: false,
        });
        Ok(())
    }

    /// C_DecryptUpdate is not offered for RSA (a single block): the standard's answer for
    /// single-part mechanisms.
    pub fn decrypt_update(&self, session: &Session) -> Result<()> {
        let mut st = session.state.lock();
        if st.decrypt.as_ref().ok_or_else(not_init)?.in_flight {
            return Err(running());
        }
        st.decrypt = None;
        Err(Error::ck(
            CKR_FUNCTION_NOT_SUPPORTED,
            "RSA decryption is single-part: use C_Decrypt",
        ))
    }

    /// C_Decrypt. `cap` None = length query.
    pub fn decrypt(&self, session: &Session, data: &[u8], cap: Option<usize>) -> Result<Output> {
        self.remote_finish(session, false, Some(data), cap)
    }

    /// Shared end of sign and decrypt.
    fn remote_finish(
        &self,
        session: &Session,
        is_sign: bool,
        data: Option<&[u8]>,
        cap: Option<usize>,
    ) -> Result<Output> {
        let (key, kind, input, cap) = {
            let mut st = session.state.lock();
            let slot_op = if is_sign {
                &mut st.sign
            } else {
                &mut st.decrypt
            };
            let op = slot_op.as_mut().ok_or_else(not_init)?;
            if op.in_flight {
                return Err(running());
            }
            let (single, multi) = if is_sign {
                ("C_Sign", "C_SignUpdate/C_SignFinal")
            } else {
                ("C_Decrypt", "C_DecryptUpdate/C_DecryptFinal")
            };
            let to = if data.is_some() {
                Mode::Single
            } else {
                Mode::Multi
            };
            if let Err(e) = op.mode.enter(to, single, multi) {
                *slot_op = None;
                return Err(e);
            }
            // A result from an earlier call whose buffer was too small, or a length query.
            if let Some(r) = &op.result {
                let n = r.len();
                match cap {
                    None => return Ok(Output::Len(n)),
                    Some(c) if c < n => return Ok(Output::TooSmall(n)),
                    Some(_) => {
                        let r = op.result.take().unwrap_or_default();
                        *slot_op = None;
                        return Ok(Output::Data(r));
                    }
                }
            }
            let Some(cap) = cap else {
                // Length query: answered from the key, never by running the operation.
                let n = match op.kind {
                    RemoteKind::Sign(_) => op.key.public.signature_len(),
                    RemoteKind::Decrypt { .. } => op.key.public.modulus_len(),
                };
                return Ok(Output::Len(n));
            };
            let Some(mut accum) = op.accum.take() else {
                // Neither input nor result: cannot happen outside a call in flight.
                *slot_op = None;
                return Err(Error::ck(CKR_OPERATION_ACTIVE, "operation in progress"));
            };
            if let Some(d) = data {
                if let Err(e) = accum.update(d) {
                    *slot_op = None;
                    return Err(e);
                }
            }
            op.in_flight = true;
            (op.key.clone(), op.kind, accum.finish(), cap)
        };
        // If anything below panics, the operation must not stay in flight forever (every later
        // C_SignInit would answer CKR_OPERATION_ACTIVE, even after C_SessionCancel).
        let _unwinding = EndOnPanic {
            session,
            kind: if is_sign {
                OpKind::Sign
            } else {
                OpKind::Decrypt
            },
        };
        // No lock held from here: the TSB call (and maybe a long approval wait).
        let result = self.run_key_op(session, &key, kind, &input);
        self.note_result(session, &result);
        let mut st = session.state.lock();
        let slot_op = if is_sign {
            &mut st.sign
        } else {
            &mut st.decrypt
        };
        match result {
            Ok(out) => {
                let (o, keep) = finish_output(out, cap);
                match keep {
                    Some(r) => {
                        if let Some(op) = slot_op.as_mut() {
                            op.result = Some(r);
                            op.in_flight = false;
                        }
                    }
                    None => *slot_op = None,
                }
                Ok(o)
            }
            Err(e) => {
                // Any error but CKR_BUFFER_TOO_SMALL ends the operation (PKCS#11 §5.2).
                *slot_op = None;
                Err(e)
            }
        }
    }

    fn run_key_op(
        &self,
        session: &Session,
        key: &KeyInfo,
        kind: RemoteKind,
        input: &[u8],
    ) -> Result<Vec<u8>> {
        let slot: &Slot = &self.slots[session.slot];
        slot.check_access()?;
        crate::panic_hook::panic_point("remote-op");
        session.as_caller(|caller| match kind {
            RemoteKind::Sign(scheme) => {
                let (alg, payload) =
                    mechanism::tsb_sign_request(scheme, input, key.public.modulus_len())?;
                let sig = slot.tsb.sign(key, &alg, &payload, caller)?;
                let sig = mechanism::signature_to_pkcs11(scheme, sig, key.public.signature_len())
                    .map_err(|e| Error::BadResult(e.to_string()));
                let checked = sig.and_then(|sig| {
                    if slot.config.verify_signatures {
                        super::check::signature(key, scheme, input, &sig)?;
                    }
                    Ok(sig)
                });
                self.log_refusal(session, key, "signature", checked)
            }
            RemoteKind::Decrypt { oaep, .. } => {
                let k = key.public.modulus_len();
                if input.len() != k {
                    return Err(Error::ck(
                        CKR_ENCRYPTED_DATA_LEN_RANGE,
                        format!("RSA ciphertext must be {k} bytes"),
                    ));
                }
                let alg = mechanism::cipher_algorithm(oaep);
                let plain = slot
                    .tsb
                    .decrypt(key, &alg, input, caller)
                    .and_then(|p| super::check::plaintext(key, oaep, &p).map(|_| p));
                self.log_refusal(session, key, "decryption", plain)
            }
        })
    }

    /// One log line when a result from the TSB failed verification (issue 10): which key and
    /// operation, and the request when approvers were involved.
    fn log_refusal<T>(
        &self,
        session: &Session,
        key: &KeyInfo,
        what: &str,
        r: Result<T>,
    ) -> Result<T> {
        if let Err(e @ Error::BadResult(_)) = &r {
            let request = if key.approval_required {
                session
                    .state
                    .lock()
                    .last_request_id
                    .as_deref()
                    .map(|id| format!(" (request {id})"))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            crate::log!(
                Level::Error,
                "{what} with key {}{request}: {e}; not returned (CKR_DEVICE_ERROR, ulDeviceError {})",
                key.tsb_label,
                crate::vendor::TSB_DEVERR_BAD_RESULT
            );
        }
        r
    }

    // ---- verify (local) ---------------------------------------------------------------------

    /// C_VerifyInit.
    pub fn verify_init(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        params: &MechParams,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        if session.state.lock().verify.is_some() {
            return Err(Error::ck(
                CKR_OPERATION_ACTIVE,
                "a verification is already active",
            ));
        }
        let scheme = mechanism::sign_scheme(mech, params)?;
        let key = self.key_object(session, key, ObjClass::Public)?;
        check_key(&key, scheme.family(), true, "CKA_VERIFY", "verify")?;
        session.state.lock().verify = Some(VerifyOp {
            key,
            scheme,
            accum: Accum::new(scheme.local_hash()),
            mode: Mode::Fresh,
        });
        Ok(())
    }

    /// C_VerifyUpdate.
    pub fn verify_update(&self, session: &Session, data: &[u8]) -> Result<()> {
        let mut st = session.state.lock();
        let op = st.verify.as_mut().ok_or_else(not_init)?;
        let r = op
            .mode
            .enter(Mode::Multi, "C_Verify", "C_VerifyUpdate/C_VerifyFinal")
            .and_then(|_| op.accum.update(data));
        if r.is_err() {
            st.verify = None;
        }
        r
    }

    /// C_Verify (data Some) or C_VerifyFinal.
    pub fn verify_finish(&self, session: &Session, data: Option<&[u8]>, sig: &[u8]) -> Result<()> {
        let op = {
            let mut st = session.state.lock();
            // Taken: C_Verify and C_VerifyFinal always end the operation.
            let mut op = st.verify.take().ok_or_else(not_init)?;
            let to = if data.is_some() {
                Mode::Single
            } else {
                Mode::Multi
            };
            op.mode
                .enter(to, "C_Verify", "C_VerifyUpdate/C_VerifyFinal")?;
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
        if super::local::verify(&op.key.public, op.scheme, &input, sig)? {
            Ok(())
        } else {
            Err(Error::ck(
                CKR_SIGNATURE_INVALID,
                "signature does not verify",
            ))
        }
    }

    // ---- encrypt (local) --------------------------------------------------------------------

    /// C_EncryptInit.
    pub fn encrypt_init(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        params: &MechParams,
        key: CK_OBJECT_HANDLE,
    ) -> Result<()> {
        if session.state.lock().encrypt.is_some() {
            return Err(Error::ck(
                CKR_OPERATION_ACTIVE,
                "an encryption is already active",
            ));
        }
        let (_, oaep) = mechanism::tsb_cipher(mech, params)?;
        let key = self.key_object(session, key, ObjClass::Public)?;
        check_key(&key, Family::Rsa, key.decrypt, "CKA_ENCRYPT", "encrypt")?;
        session.state.lock().encrypt = Some(EncryptOp {
            key,
            oaep,
            buffer: Vec::new(),
            result: None,
        });
        Ok(())
    }

    /// C_Encrypt. `cap` None = length query.
    pub fn encrypt(&self, session: &Session, data: &[u8], cap: Option<usize>) -> Result<Output> {
        let mut st = session.state.lock();
        let op = st.encrypt.as_mut().ok_or_else(not_init)?;
        op.buffer = data.to_vec();
        drop(st);
        self.encrypt_finish(session, cap)
    }

    /// C_EncryptUpdate: RSA is single-part.
    pub fn encrypt_update(&self, session: &Session) -> Result<()> {
        let mut st = session.state.lock();
        st.encrypt.as_ref().ok_or_else(not_init)?;
        st.encrypt = None;
        Err(Error::ck(
            CKR_FUNCTION_NOT_SUPPORTED,
            "RSA encryption is single-part: use C_Encrypt",
        ))
    }

    fn encrypt_finish(&self, session: &Session, cap: Option<usize>) -> Result<Output> {
        let mut st = session.state.lock();
        let op = st.encrypt.as_mut().ok_or_else(not_init)?;
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
            None => match super::local::encrypt(&op.key.public, op.oaep, &op.buffer) {
                Ok(r) => r,
                Err(e) => {
                    st.encrypt = None;
                    return Err(e);
                }
            },
        };
        let (o, keep) = finish_output(result, cap);
        match keep {
            Some(r) => {
                if let Some(op) = st.encrypt.as_mut() {
                    op.result = Some(r);
                }
            }
            None => st.encrypt = None,
        }
        Ok(o)
    }

    // ---- digest -----------------------------------------------------------------------------

    /// C_DigestInit.
    pub fn digest_init(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        params: &MechParams,
    ) -> Result<()> {
        let hash = Hash::from_digest_mech(mech).ok_or_else(|| {
            Error::ck(CKR_MECHANISM_INVALID, format!("0x{mech:x} is not a digest"))
        })?;
        if *params != MechParams::None {
            return Err(Error::ck(
                CKR_MECHANISM_PARAM_INVALID,
                "digests take no parameter",
            ));
        }
        let mut st = session.state.lock();
        if st.digest.is_some() {
            return Err(Error::ck(
                CKR_OPERATION_ACTIVE,
                "a digest is already active",
            ));
        }
        st.digest = Some(DigestOp {
            hash,
            hasher: hash.hasher(),
            result: None,
            mode: Mode::Fresh,
        });
        Ok(())
    }

    /// C_DigestUpdate.
    pub fn digest_update(&self, session: &Session, data: &[u8]) -> Result<()> {
        let mut st = session.state.lock();
        let op = st.digest.as_mut().ok_or_else(not_init)?;
        let r = op
            .mode
            .enter(Mode::Multi, "C_Digest", "C_DigestUpdate/C_DigestFinal")
            .and_then(|_| {
                if op.result.is_some() {
                    return Err(Error::ck(
                        CKR_OPERATION_ACTIVE,
                        "digest already computed; call C_DigestFinal",
                    ));
                }
                op.hasher.update(data);
                Ok(())
            });
        if r.is_err() {
            // C_DigestUpdate ends the operation on any error (PKCS#11 §5.12).
            st.digest = None;
        }
        r
    }

    /// C_Digest (data Some) or C_DigestFinal.
    pub fn digest_finish(
        &self,
        session: &Session,
        data: Option<&[u8]>,
        cap: Option<usize>,
    ) -> Result<Output> {
        let mut st = session.state.lock();
        let op = st.digest.as_mut().ok_or_else(not_init)?;
        let to = if data.is_some() {
            Mode::Single
        } else {
            Mode::Multi
        };
        if let Err(e) = op
            .mode
            .enter(to, "C_Digest", "C_DigestUpdate/C_DigestFinal")
        {
            st.digest = None;
            return Err(e);
        }
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
            Some(r) => {
                if let Some(op) = st.digest.as_mut() {
                    op.result = Some(r);
                }
            }
            None => st.digest = None,
        }
        Ok(o)
    }

    // ---- cancel -----------------------------------------------------------------------------

    /// C_SessionCancel: stop a waiting operation (its call returns CKR_FUNCTION_CANCELED and the
    /// request is deleted on the TSB) and end the operations named by `flags`.
    pub fn session_cancel(&self, session: &Session, flags: CK_FLAGS) -> Result<()> {
        if flags & (CKF_SIGN | CKF_DECRYPT) != 0 {
            session.cancel.cancel();
        }
        let mut st = session.state.lock();
        // An operation whose call is in flight (its input taken) is ended by that call itself
        // when it sees the cancel; idle ones end here.
        let idle = |o: &Option<RemoteOp>| o.as_ref().is_some_and(|o| !o.in_flight);
        if flags & CKF_SIGN != 0 && idle(&st.sign) {
            st.sign = None;
        }
        if flags & CKF_DECRYPT != 0 && idle(&st.decrypt) {
            st.decrypt = None;
        }
        if flags & CKF_VERIFY != 0 {
            st.verify = None;
        }
        if flags & CKF_ENCRYPT != 0 {
            st.encrypt = None;
        }
        if flags & CKF_DIGEST != 0 {
            st.digest = None;
        }
        if flags & CKF_FIND_OBJECTS != 0 {
            st.find = None;
        }
        Ok(())
    }
}

/// Check that `key` fits the mechanism's family, is allowed the use (`allowed`, named by its
/// attribute in the message) and is not blocked, before anything is sent.
fn check_key(
    key: &KeyInfo,
    family: Family,
    allowed: bool,
    attribute: &str,
    verb: &str,
) -> Result<()> {
    if key.public.family() != family {
        return Err(Error::ck(
            CKR_KEY_TYPE_INCONSISTENT,
            format!("the mechanism does not fit key {} ({verb})", key.label),
        ));
    }
    if !allowed {
        return Err(Error::ck(
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            format!(
                "key {} is not allowed to {verb} ({attribute} false)",
                key.label
            ),
        ));
    }
    if key.blocked {
        return Err(Error::ck(
            CKR_KEY_FUNCTION_NOT_PERMITTED,
            format!("key {} is blocked on the TSB", key.label),
        ));
    }
    Ok(())
}

/// Ends a remote operation whose call unwinds from a panic while it is in flight.
struct EndOnPanic<'a> {
    session: &'a Session,
    kind: OpKind,
}

impl Drop for EndOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut st = self.session.state.lock();
            match self.kind {
                OpKind::Sign => st.sign = None,
                _ => st.decrypt = None,
            }
        }
    }
}

/// A second call on a session whose operation is running on another thread.
fn running() -> Error {
    Error::ck(
        CKR_OPERATION_ACTIVE,
        "this session's operation is running in another call (waiting for the TSB)",
    )
}

fn not_init() -> Error {
    Error::ck(CKR_OPERATION_NOT_INITIALIZED, "operation not initialized")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_result_when_too_small() {
        let (o, keep) = finish_output(vec![1, 2, 3], 2);
        assert_eq!(o, Output::TooSmall(3));
        assert_eq!(keep, Some(vec![1, 2, 3]));
        let (o, keep) = finish_output(vec![1, 2, 3], 3);
        assert_eq!(o, Output::Data(vec![1, 2, 3]));
        assert!(keep.is_none());
    }
}
