//! The PKCS#11 3.0 message-based encryption API (§5.13 C_MessageEncryptInit, C_EncryptMessage,
//! C_EncryptMessageBegin, C_EncryptMessageNext, C_MessageEncryptFinal; §5.14 the decryption
//! counterparts) with CKM_AES_GCM: one operation per key, many messages, each with its own
//! CK_GCM_MESSAGE_PARAMS (`mechanism::gcm_message`: the IV and its generators, the tag length).
//! Every message runs as C_Encrypt/C_Decrypt with CKM_AES_GCM do (`symmetric.rs`: GHASH here
//! around the TSB's block cipher, or for a 12-byte nonce decryption the TSB's own AES_GCM).
//!
//! The rules, as the rest of the module's operations have them (`operation.rs`):
//! - One message-based operation of each kind per session (CKR_OPERATION_ACTIVE); the message
//!   calls without one get CKR_OPERATION_NOT_INITIALIZED. The operation lasts until
//!   C_MessageEncryptFinal / C_MessageDecryptFinal (or C_SessionCancel with CKF_MESSAGE_*).
//! - A message is either one C_EncryptMessage or C_EncryptMessageBegin, C_EncryptMessageNext...
//!   and a C_EncryptMessageNext with CKF_END_OF_MESSAGE; a single-part call while a multi-part
//!   message is open, or a second Begin, is CKR_OPERATION_ACTIVE.
//! - An error of a message call (but CKR_BUFFER_TOO_SMALL) ends the message in progress, not the
//!   operation: §5.13 says a C_EncryptMessageNext with CKF_END_OF_MESSAGE "always terminates the
//!   active message encryption process" except for those two cases; the operation is the key's
//!   context for further messages.
//! - A length query (NULL output) is answered from the lengths alone, with no request and no IV
//!   generated; a result that did not fit is kept, with its IV and tag, for the retry, so no
//!   message is ever sent twice, and a retry returns the IV the kept result was made under (a
//!   generated IV is never reused: the counter moves on whatever happens). Only a retry of the
//!   call that made it gets a kept result (`take_kept`): never a call of the other kind, whose
//!   message it is not, nor parameters that cannot take its IV and tag. (AES keys carry no SKA
//!   policy on the TSB, so no message waits for approvers; the operation still follows the module's rules for operations that run on the TSB, `in_flight`.)
//! - Multi-part messages are collected and sent once at CKF_END_OF_MESSAGE (the TSB takes one
//!   message per request, as for C_EncryptUpdate): the calls before it return no output. For
//!   decryption this is also what keeps unverified plaintext from ever being returned: the tag
//!   is checked before any plaintext leaves the module, and a wrong tag returns none
//!   (CKR_ENCRYPTED_DATA_INVALID).
//! - The tag of an encryption goes into the `pTag` of the call that finishes the message
//!   (C_EncryptMessage, or the C_EncryptMessageNext with CKF_END_OF_MESSAGE); a generated IV into
//!   the `pIv` of C_EncryptMessage or C_EncryptMessageBegin. Decryption reads the tag from the
//!   finishing call's parameters (for a multi-part message: those of the last
//!   C_DecryptMessageNext, or of C_DecryptMessageBegin when that call gives none).

use super::operation::{not_initialized, Operation, Output};
use super::session::Session;
use super::symmetric::{Decrypt, Direction, Encrypt, SecretMech};
use super::Module;
use crate::error::{Error, Result};
use crate::mechanism::aes::{self, AesIv, GcmParams, Iv};
use crate::mechanism::gcm_message::GcmMessage;
use crate::mechanism::MechParams;
use crate::tsb::key::{KeyInfo, SecretKey};
use cryptoki_sys::*;
use std::marker::PhantomData;
use std::sync::Arc;
use tsb_models::SecretKeyAlgorithm;
use zeroize::Zeroize;

/// The most one message collects (the TSB takes one message per request).
const MAX_INPUT: usize = 16 * 1024 * 1024;

/// An active message-based operation.
pub(crate) struct MessageOp<D> {
    key: Arc<KeyInfo>,
    secret: SecretKey,
    /// The counter of generated IVs (`GcmMessage::resolve_iv`): the key's, shared by every
    /// operation on it in this process (`Slot::gcm_counters`). Locked only while an IV is
    /// made (no I/O), always after the session's state.
    counter: Arc<parking_lot::Mutex<u64>>,
    /// The multi-part message in progress.
    message: Option<Message>,
    /// The result of a call whose buffer was too small, kept for the retry.
    kept: Option<Finished>,
    /// A call is running a message on the TSB right now.
    in_flight: bool,
    _direction: PhantomData<D>,
}

/// An active message-based encryption.
pub(crate) type MessageEncryptOp = MessageOp<Encrypt>;
/// An active message-based decryption.
pub(crate) type MessageDecryptOp = MessageOp<Decrypt>;

impl<D> MessageOp<D> {
    /// A call on another thread is running a message on the TSB.
    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// End the message in progress and any result kept for a retry (the operation stays).
    pub(crate) fn end_message(&mut self) {
        self.message = None;
        self.kept = None;
    }
}

/// A multi-part message: Begin's parameters and the parts so far.
struct Message {
    iv: Vec<u8>,
    aad: Vec<u8>,
    tag_bits: CK_ULONG,
    /// Decryption: the tag given to Begin (used when the last Next gives none).
    tag: Vec<u8>,
    input: Vec<u8>,
}

impl Drop for Message {
    fn drop(&mut self) {
        self.input.zeroize();
    }
}

/// A finished message: the output, and for encryption the tag and a generated IV.
struct Finished {
    out: Vec<u8>,
    iv: Option<Vec<u8>>,
    tag: Option<Vec<u8>>,
    /// Made by the last part of a multi-part message (else by a single-part call): only a
    /// retry of that kind of call is served it ([`take_kept`]).
    multi: bool,
}

impl Drop for Finished {
    fn drop(&mut self) {
        self.out.zeroize();
    }
}

/// What a message call gives back: the output with the standard's buffer semantics, and what
/// goes into the caller's CK_GCM_MESSAGE_PARAMS when the output is returned (`Output::Data`):
/// a generated IV (`pIv`) and an encryption's tag (`pTag`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MessageOutput {
    pub(crate) out: Output,
    pub(crate) iv: Option<Vec<u8>>,
    pub(crate) tag: Option<Vec<u8>>,
}

impl MessageOutput {
    fn plain(out: Output) -> MessageOutput {
        MessageOutput {
            out,
            iv: None,
            tag: None,
        }
    }
}

/// One message to run on the TSB, taken out of the operation (no lock is held while it runs).
struct Job {
    key: Arc<KeyInfo>,
    secret: SecretKey,
    iv: Vec<u8>,
    generated: bool,
    aad: Vec<u8>,
    tag_bits: CK_ULONG,
    /// Decryption: the tag to check.
    tag: Vec<u8>,
    input: Vec<u8>,
    cap: usize,
}

impl Drop for Job {
    fn drop(&mut self) {
        self.input.zeroize();
    }
}

/// Leaves a message whose call unwinds from a panic while it is in flight: the operation is
/// usable again (the C boundary's rule leaves an operation in flight alone).
struct ClearOnPanic<'a, D>
where
    MessageOp<D>: Operation,
{
    session: &'a Session,
    _direction: PhantomData<D>,
}

impl<D> Drop for ClearOnPanic<'_, D>
where
    MessageOp<D>: Operation,
{
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(op) = self.session.state.lock().ops.get::<MessageOp<D>>() {
                op.in_flight = false;
                op.end_message();
            }
        }
    }
}

fn multi_part_open(what: &str) -> Error {
    Error::ck(
        CKR_OPERATION_ACTIVE,
        format!(
            "a multi-part message is in progress: {what} cannot start another before \
             CKF_END_OF_MESSAGE"
        ),
    )
}

fn too_large() -> Error {
    Error::ck(
        CKR_DATA_LEN_RANGE,
        format!("the TSB takes one message of at most {MAX_INPUT} bytes here"),
    )
}

/// The operating system's random generator, for generated IVs.
fn os_random(b: &mut [u8]) -> Result<()> {
    rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, b)
        .map_err(|e| Error::ck(CKR_FUNCTION_FAILED, format!("no random IV: {e}")))
}

fn encrypting<D: Direction>() -> bool {
    D::VERB == "encrypt"
}

/// The names of the message calls of a direction, for messages.
pub(crate) trait MessageCalls: Direction {
    /// C_EncryptMessage / C_DecryptMessage.
    const MESSAGE: &'static str;
    /// C_EncryptMessageBegin / C_DecryptMessageBegin.
    const BEGIN: &'static str;
}

impl MessageCalls for Encrypt {
    const MESSAGE: &'static str = "C_EncryptMessage";
    const BEGIN: &'static str = "C_EncryptMessageBegin";
}

impl MessageCalls for Decrypt {
    const MESSAGE: &'static str = "C_DecryptMessage";
    const BEGIN: &'static str = "C_DecryptMessageBegin";
}

impl Module {
    /// C_MessageEncryptInit / C_MessageDecryptInit: CKM_AES_GCM only (the C boundary has checked
    /// the mechanism's parameter: none, or a CK_GCM_MESSAGE_PARAMS, whose values count only per
    /// message), the key checked as for C_EncryptInit / C_DecryptInit.
    pub(crate) fn message_init<D: MessageCalls>(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        h: CK_OBJECT_HANDLE,
    ) -> Result<()>
    where
        MessageOp<D>: Operation,
    {
        self.start(session, || {
            if mech != CKM_AES_GCM {
                return Err(Error::ck(
                    CKR_MECHANISM_INVALID,
                    format!(
                        "mechanism 0x{mech:x}: message-based {}ion is offered with CKM_AES_GCM only",
                        D::VERB
                    ),
                ));
            }
            let (key, secret) = self.secret_key(session, h, SecretKeyAlgorithm::Aes, D::VERB)?;
            let counter = self
                .slot_of(session)
                .gcm_counters
                .lock()
                .entry(key.tsb_label.clone())
                .or_default()
                .clone();
            Ok(MessageOp::<D> {
                key,
                secret,
                counter,
                message: None,
                kept: None,
                in_flight: false,
                _direction: PhantomData,
            })
        })
    }

    /// C_MessageEncryptFinal / C_MessageDecryptFinal: the operation ends (a message in progress
    /// with it).
    pub(crate) fn message_final<D: MessageCalls>(&self, session: &Session) -> Result<()>
    where
        MessageOp<D>: Operation,
    {
        let mut st = session.state.lock();
        if st.ops.get::<MessageOp<D>>()?.in_flight {
            return Err(super::remote::running());
        }
        st.ops.end::<MessageOp<D>>();
        Ok(())
    }

    /// C_EncryptMessage / C_DecryptMessage: one whole message. `cap` None = length query.
    pub(crate) fn message_single<D: MessageCalls>(
        &self,
        session: &Session,
        p: &GcmMessage,
        aad: &[u8],
        data: &[u8],
        cap: Option<usize>,
    ) -> Result<MessageOutput>
    where
        MessageOp<D>: Operation,
    {
        let job = {
            let mut st = session.state.lock();
            let op = st.ops.get::<MessageOp<D>>()?;
            if op.in_flight {
                return Err(super::remote::running());
            }
            if op.message.is_some() {
                return Err(multi_part_open(D::MESSAGE));
            }
            if let Some(k) = take_kept::<D>(op, Some(p), false)? {
                return Ok(serve_kept(op, k, cap));
            }
            p.tag_len()?;
            if data.len() > MAX_INPUT {
                return Err(too_large());
            }
            let Some(cap) = cap else {
                // GCM: as many bytes out as in (the tag travels apart).
                return Ok(MessageOutput::plain(Output::Len(data.len())));
            };
            let (iv, generated) =
                p.resolve_iv(encrypting::<D>(), &mut op.counter.lock(), os_random)?;
            op.in_flight = true;
            Job {
                key: op.key.clone(),
                secret: op.secret,
                iv,
                generated,
                aad: aad.to_vec(),
                tag_bits: p.tag_bits,
                tag: p.tag.clone(),
                input: data.to_vec(),
                cap,
            }
        };
        self.run_job::<D>(session, job, false)
    }

    /// C_EncryptMessageBegin / C_DecryptMessageBegin: a multi-part message starts; the IV it
    /// generated, if any, is returned (for the caller's `pIv`).
    pub(crate) fn message_begin<D: MessageCalls>(
        &self,
        session: &Session,
        p: &GcmMessage,
        aad: &[u8],
    ) -> Result<Option<Vec<u8>>>
    where
        MessageOp<D>: Operation,
    {
        let mut st = session.state.lock();
        let op = st.ops.get::<MessageOp<D>>()?;
        if op.in_flight {
            return Err(super::remote::running());
        }
        if op.message.is_some() {
            return Err(multi_part_open(D::BEGIN));
        }
        // A result kept for a retry that never came: the caller moved on.
        op.kept = None;
        p.tag_len()?;
        let (iv, generated) = p.resolve_iv(encrypting::<D>(), &mut op.counter.lock(), os_random)?;
        op.message = Some(Message {
            iv: iv.clone(),
            aad: aad.to_vec(),
            tag_bits: p.tag_bits,
            tag: p.tag.clone(),
            input: Vec::new(),
        });
        Ok(generated.then_some(iv))
    }

    /// C_EncryptMessageNext / C_DecryptMessageNext: a part of the message; with `end`
    /// (CKF_END_OF_MESSAGE) the message is sent and all of its output returned, the parts
    /// before return none. `p` is the call's CK_GCM_MESSAGE_PARAMS, if it gave one (an
    /// encryption's last part must: its `pTag` receives the tag). `cap` None = length query.
    pub(crate) fn message_next<D: MessageCalls>(
        &self,
        session: &Session,
        p: Option<&GcmMessage>,
        data: &[u8],
        cap: Option<usize>,
        end: bool,
    ) -> Result<MessageOutput>
    where
        MessageOp<D>: Operation,
    {
        let job = {
            let mut st = session.state.lock();
            let op = st.ops.get::<MessageOp<D>>()?;
            if op.in_flight {
                return Err(super::remote::running());
            }
            if let Some(k) = take_kept::<D>(op, p, true)? {
                return Ok(serve_kept(op, k, cap));
            }
            let (key, secret) = (op.key.clone(), op.secret);
            let Some(msg) = op.message.as_mut() else {
                return Err(Error::ck(
                    CKR_OPERATION_NOT_INITIALIZED,
                    format!("no message in progress: {} first", D::BEGIN),
                ));
            };
            if let Some(p) = p {
                if p.tag_bits != msg.tag_bits {
                    return Err(Error::ck(
                        CKR_MECHANISM_PARAM_INVALID,
                        format!(
                            "ulTagBits {} differs from the {} this message began with",
                            p.tag_bits, msg.tag_bits
                        ),
                    ));
                }
            }
            let n = msg.input.len().saturating_add(data.len());
            if n > MAX_INPUT {
                return Err(too_large());
            }
            if !end {
                if cap.is_some() {
                    msg.input.extend_from_slice(data);
                }
                return Ok(MessageOutput::plain(match cap {
                    None => Output::Len(0),
                    Some(_) => Output::Data(Vec::new()),
                }));
            }
            if encrypting::<D>() && p.is_none() {
                return Err(Error::ck(
                    CKR_ARGUMENTS_BAD,
                    "the last C_EncryptMessageNext needs its CK_GCM_MESSAGE_PARAMS: the tag goes \
                     into its pTag",
                ));
            }
            let Some(cap) = cap else {
                return Ok(MessageOutput::plain(Output::Len(n)));
            };
            let mut msg = op.message.take().ok_or_else(not_initialized)?;
            op.in_flight = true;
            let mut input = std::mem::take(&mut msg.input);
            input.extend_from_slice(data);
            Job {
                key,
                secret,
                iv: std::mem::take(&mut msg.iv),
                // The IV went back to the caller at Begin.
                generated: false,
                aad: std::mem::take(&mut msg.aad),
                tag_bits: msg.tag_bits,
                tag: match p {
                    Some(p) if !encrypting::<D>() => p.tag.clone(),
                    _ => std::mem::take(&mut msg.tag),
                },
                input,
                cap,
            }
        };
        self.run_job::<D>(session, job, true)
    }

    /// Run one message (no lock held) and put its outcome in the operation: the output, or kept
    /// for the retry when it does not fit; on an error nothing is kept.
    fn run_job<D: MessageCalls>(
        &self,
        session: &Session,
        job: Job,
        multi: bool,
    ) -> Result<MessageOutput>
    where
        MessageOp<D>: Operation,
    {
        let _unwinding = ClearOnPanic::<D> {
            session,
            _direction: PhantomData,
        };
        let r = self.run_message::<D>(session, &job).map(|mut f| {
            f.multi = multi;
            f
        });
        let mut st = session.state.lock();
        let op = st.ops.get::<MessageOp<D>>().ok();
        if let Some(op) = op {
            op.in_flight = false;
            if let Ok(f) = r {
                let n = f.out.len();
                if n > job.cap {
                    op.kept = Some(f);
                    return Ok(MessageOutput::plain(Output::TooSmall(n)));
                }
                return Ok(finished_output(f));
            }
        }
        // The operation is gone (the session closed meanwhile): the result still answers this
        // call when it fits.
        let f = r?;
        if f.out.len() > job.cap {
            return Err(not_initialized());
        }
        Ok(finished_output(f))
    }

    /// One message on the TSB: AES-GCM under the message's IV, AAD and tag length, as C_Encrypt
    /// and C_Decrypt run it (`symmetric.rs`).
    fn run_message<D: MessageCalls>(&self, session: &Session, job: &Job) -> Result<Finished> {
        let encrypt = encrypting::<D>();
        let params = MechParams::Gcm(GcmParams {
            iv: Iv {
                bytes: job.iv.clone(),
                sink: None,
            },
            aad: job.aad.clone(),
            tag_bits: job.tag_bits,
        });
        // The caller's IV always (never the TSB's own choice, `AesIv::Caller`).
        let m = aes::aes_mech(CKM_AES_GCM, &params, encrypt, AesIv::Caller)?;
        if encrypt {
            let mut out = self.run_secret::<Encrypt>(
                session,
                &job.key,
                &SecretMech::Aes(m.clone()),
                &job.input,
                CKF_MESSAGE_ENCRYPT,
            )?;
            let body = out.len().checked_sub(m.tag_len).ok_or_else(|| {
                Error::BadResult("AES-GCM answered less than its tag".to_string())
            })?;
            let tag = out.split_off(body);
            return Ok(Finished {
                out,
                iv: job.generated.then(|| job.iv.clone()),
                tag: Some(tag),
                multi: false,
            });
        }
        // GCM decryption with E_K of counter blocks needs a key that encrypts on the TSB (as
        // C_DecryptInit checks; the TSB's own AES_GCM needs only `decrypt`).
        if !m.gcm_decrypts_on_the_tsb() && !job.secret.encrypt {
            return Err(Error::ck(
                CKR_KEY_FUNCTION_NOT_PERMITTED,
                format!(
                    "key {} cannot encrypt on the TSB, and GCM decryption with this nonce encrypts \
                     counter blocks there",
                    job.key.label
                ),
            ));
        }
        if job.tag.len() != m.tag_len {
            return Err(Error::ck(
                CKR_MECHANISM_PARAM_INVALID,
                format!("the tag is {} bytes, not {}", job.tag.len(), m.tag_len),
            ));
        }
        let mut input = Vec::with_capacity(job.input.len() + job.tag.len());
        input.extend_from_slice(&job.input);
        input.extend_from_slice(&job.tag);
        let r = self.run_secret::<Decrypt>(
            session,
            &job.key,
            &SecretMech::Aes(m),
            &input,
            CKF_MESSAGE_DECRYPT,
        );
        input.zeroize();
        Ok(Finished {
            out: r?,
            iv: None,
            tag: None,
            multi: false,
        })
    }
}

/// The result kept for a retry, when this call is one: the same kind of call (`multi`: a
/// C_XMessageNext, else a C_XMessage) with parameters whose `pIv` and `pTag` take the kept IV
/// and tag. Another call is refused as it would be without a kept result: a C_XMessageNext that
/// no Begin started is CKR_OPERATION_NOT_INITIALIZED, a C_XMessage while the multi-part message
/// waits for its retry (CKR_BUFFER_TOO_SMALL did not end it) CKR_OPERATION_ACTIVE; parameters
/// that cannot take the IV or tag are CKR_ARGUMENTS_BAD (none) or CKR_MECHANISM_PARAM_INVALID,
/// refused before anything is handed out (the C boundary would otherwise write the output and
/// then fail on the tag). The error ends the message, and with it the kept result, as any
/// error but CKR_BUFFER_TOO_SMALL does (PKCS#11 3.0 §5.13).
fn take_kept<D: MessageCalls>(
    op: &mut MessageOp<D>,
    p: Option<&GcmMessage>,
    multi: bool,
) -> Result<Option<Finished>> {
    let Some(k) = op.kept.as_ref() else {
        return Ok(None);
    };
    if k.multi != multi {
        return Err(if multi {
            Error::ck(
                CKR_OPERATION_NOT_INITIALIZED,
                format!(
                    "no message in progress: {} first (the result kept is {}'s)",
                    D::BEGIN,
                    D::MESSAGE
                ),
            )
        } else {
            multi_part_open(D::MESSAGE)
        });
    }
    let fits = |want: Option<usize>, got: Option<usize>, what: &str| match (want, got) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(Error::ck(
            CKR_ARGUMENTS_BAD,
            format!("the retry has no CK_GCM_MESSAGE_PARAMS to return the {what} in"),
        )),
        (Some(w), Some(g)) if w == g => Ok(()),
        (Some(w), Some(g)) => Err(Error::ck(
            CKR_MECHANISM_PARAM_INVALID,
            format!("the result kept has a {w}-byte {what}; the retry's parameters hold {g}"),
        )),
    };
    fits(
        k.tag.as_ref().map(Vec::len),
        p.map(|p| p.tag_bits as usize / 8),
        "tag",
    )?;
    fits(k.iv.as_ref().map(Vec::len), p.map(|p| p.iv.len()), "IV")?;
    Ok(op.kept.take())
}

/// A kept result served again (`Output::serve_kept`): kept once more when it still does not fit
/// or this is a length query.
fn serve_kept<D>(op: &mut MessageOp<D>, mut k: Finished, cap: Option<usize>) -> MessageOutput {
    let n = k.out.len();
    match cap {
        None => {
            op.kept = Some(k);
            MessageOutput::plain(Output::Len(n))
        }
        Some(c) if c < n => {
            op.kept = Some(k);
            MessageOutput::plain(Output::TooSmall(n))
        }
        Some(_) => {
            let out = std::mem::take(&mut k.out);
            MessageOutput {
                out: Output::Data(out),
                iv: k.iv.take(),
                tag: k.tag.take(),
            }
        }
    }
}

fn finished_output(mut f: Finished) -> MessageOutput {
    MessageOutput {
        out: Output::Data(std::mem::take(&mut f.out)),
        iv: f.iv.take(),
        tag: f.tag.take(),
    }
}
