//! Secret-key operations on the TSB: C_Encrypt*/C_Decrypt* with AES (ECB, CBC, CBC-PAD, CTR,
//! GCM) and C_Sign*/C_Verify* with HMAC-SHA-256 and the AES MACs (mechanism::aes has the
//! mechanisms, the IV rule and the lengths; mechanism::modes the modes and mechanism::mac the
//! MACs computed around the TSB's block cipher; tsb::symmetric the requests).
//!
//! - AES MACs (CMAC, CBC-MAC) are E_K on the TSB, one request per 16-byte block (the chaining is
//!   serial): a key needs CKA_SIGN (CKA_VERIFY) and the TSB's `encrypt`, as E_K is an encryption
//!   there. Verification recomputes the MAC and compares it in constant time.
//!
//! - Multi-part: the TSB takes a whole message per request, so Update calls collect the input
//!   (up to [`MAX_INPUT`]) and return no output (the standard allows an Update to return none);
//!   the Final call sends it and returns all of the output.
//! - A length query (NULL output) is answered from the input's length and the mode, without a
//!   request; a result that did not fit the caller's buffer is kept for the retry
//!   (CKR_BUFFER_TOO_SMALL); no lock is held while the TSB works, and a call made meanwhile on
//!   the same session gets CKR_OPERATION_ACTIVE. So nothing is ever sent twice.
//! - Every answer is checked before it is returned: the ciphertext's length against the mode's
//!   (and the GCM tag against `messageAuthenticationCode`), the IV's length, the plaintext's
//!   length against what the ciphertext allows, the MAC's length.
//! - HMAC verification recomputes the MAC on the TSB (`/v1/synchronousHmac`) and compares it
//!   here in constant time: one endpoint for both directions, and the only way to check the
//!   truncated MACs of CKM_SHA256_HMAC_GENERAL. The TSB's own `verifyHmacRequest` (S2
//!   `tsb/Tutorials/Mac/hmac.md`) is not used, so a key needs the TSB's `sign` attribute to
//!   verify, and CKA_VERIFY is checked here.

use super::attributes::ObjClass;
use super::operation::{finish_output, not_initialized, Mode, OpKind, Output};
use super::session::Session;
use super::Module;
use crate::error::{Error, Result};
use crate::log::Level;
use crate::mechanism::aes::{self, AesMech};
use crate::mechanism::MechParams;
use crate::mechanism::{mac, modes};
use crate::tsb::key::{KeyInfo, SecretKey};
use crate::tsb::symmetric::AesDecrypt;
use crate::tsb::Tsb;
use cryptoki_sys::*;
use std::marker::PhantomData;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tsb_models::SecretKeyAlgorithm;
use zeroize::Zeroize;

/// The most input one secret-key operation collects (the TSB takes one message per request).
const MAX_INPUT: usize = 16 * 1024 * 1024;

/// A secret-key mechanism.
#[derive(Debug, Clone)]
pub(crate) enum SecretMech {
    /// An AES cipher.
    Aes(AesMech),
    /// HMAC-SHA-256, the MAC truncated to this many bytes.
    Hmac(usize),
    /// An AES MAC (CMAC or CBC-MAC, computed around E_K: `mechanism::mac`), truncated to `len`
    /// bytes.
    AesMac { kind: mac::MacKind, len: usize },
}

impl SecretMech {
    /// The MAC length of a MAC mechanism.
    fn mac_len(&self) -> Option<usize> {
        match self {
            SecretMech::Hmac(len) | SecretMech::AesMac { len, .. } => Some(*len),
            SecretMech::Aes(_) => None,
        }
    }
}

/// What an operation does (the four families).
pub(crate) trait Direction {
    /// The single-part call, for messages.
    const SINGLE: &'static str;
    /// The multi-part calls, for messages.
    const MULTI: &'static str;
    /// What it does, for messages and logs ("encrypt").
    const VERB: &'static str;
    /// The family, for the rule that errors end it.
    const KIND: OpKind;
}

/// Markers of the four directions.
pub(crate) struct Encrypt;
pub(crate) struct Decrypt;
pub(crate) struct MacSign;
pub(crate) struct MacVerify;

impl Direction for Encrypt {
    const SINGLE: &'static str = "C_Encrypt";
    const MULTI: &'static str = "C_EncryptUpdate/C_EncryptFinal";
    const VERB: &'static str = "encrypt";
    const KIND: OpKind = OpKind::Encrypt;
}
impl Direction for Decrypt {
    const SINGLE: &'static str = "C_Decrypt";
    const MULTI: &'static str = "C_DecryptUpdate/C_DecryptFinal";
    const VERB: &'static str = "decrypt";
    const KIND: OpKind = OpKind::Decrypt;
}
impl Direction for MacSign {
    const SINGLE: &'static str = "C_Sign";
    const MULTI: &'static str = "C_SignUpdate/C_SignFinal";
    const VERB: &'static str = "sign";
    const KIND: OpKind = OpKind::Sign;
}
impl Direction for MacVerify {
    const SINGLE: &'static str = "C_Verify";
    const MULTI: &'static str = "C_VerifyUpdate/C_VerifyFinal";
    const VERB: &'static str = "verify";
    const KIND: OpKind = OpKind::Verify;
}

/// An active secret-key operation.
pub(crate) struct SecretOp<D> {
    key: Arc<KeyInfo>,
    mech: SecretMech,
    /// The input so far.
    input: Vec<u8>,
    /// The output of a call whose buffer was too small, kept for the retry.
    result: Option<Vec<u8>>,
    mode: Mode,
    /// A call is running it on the TSB right now.
    in_flight: bool,
    _direction: PhantomData<D>,
}

impl<D> SecretOp<D> {
    /// A call on another thread is running it on the TSB.
    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight
    }
}

impl<D> Drop for SecretOp<D> {
    fn drop(&mut self) {
        self.input.zeroize();
        if let Some(r) = self.result.as_mut() {
            r.zeroize();
        }
    }
}

/// An active AES encryption.
pub(crate) type SecretEncryptOp = SecretOp<Encrypt>;
/// An active AES decryption.
pub(crate) type SecretDecryptOp = SecretOp<Decrypt>;
/// An active HMAC.
pub(crate) type MacSignOp = SecretOp<MacSign>;
/// An active HMAC verification.
pub(crate) type MacVerifyOp = SecretOp<MacVerify>;

/// Ends an operation whose call unwinds from a panic while it is in flight (the C boundary's
/// rule leaves an operation in flight alone).
struct EndOnPanic<'a, D>
where
    SecretOp<D>: super::operation::Operation,
{
    session: &'a Session,
    _direction: PhantomData<D>,
}

impl<D> Drop for EndOnPanic<'_, D>
where
    SecretOp<D>: super::operation::Operation,
{
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.session.state.lock().ops.end::<SecretOp<D>>();
        }
    }
}

fn inconsistent(m: String) -> Error {
    Error::ck(CKR_KEY_TYPE_INCONSISTENT, m)
}

impl Module {
    /// The secret key of an operation: the object behind `h` (CKR_KEY_HANDLE_INVALID), a secret
    /// key of `want` (CKR_KEY_TYPE_INCONSISTENT), allowed the use and not blocked
    /// (CKR_KEY_FUNCTION_NOT_PERMITTED).
    pub(super) fn secret_key(
        &self,
        session: &Session,
        h: CK_OBJECT_HANDLE,
        want: SecretKeyAlgorithm,
        verb: &str,
    ) -> Result<(Arc<KeyInfo>, SecretKey)> {
        let key = self.key_object(session, h, ObjClass::Private)?;
        let s = match key.public.secret() {
            Some(s) if s.algorithm == want => *s,
            _ => {
                return Err(inconsistent(format!(
                    "the mechanism needs a {} key; {} is not one",
                    want.name(),
                    key.label
                )))
            }
        };
        let (allowed, attribute) = match verb {
            "encrypt" => (s.encrypt, "CKA_ENCRYPT"),
            "decrypt" => (key.decrypt, "CKA_DECRYPT"),
            "sign" => (key.sign, "CKA_SIGN"),
            _ => (s.verify, "CKA_VERIFY"),
        };
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
        Ok((key, s))
    }

    /// C_EncryptInit / C_DecryptInit with an AES mechanism, C_SignInit / C_VerifyInit with an
    /// HMAC.
    pub(crate) fn secret_init<D: Direction>(
        &self,
        session: &Session,
        mech: CK_MECHANISM_TYPE,
        params: &MechParams,
        h: CK_OBJECT_HANDLE,
    ) -> Result<()>
    where
        SecretOp<D>: super::operation::Operation,
    {
        self.start(session, || {
            let (m, alg) = if aes::is_hmac(mech) {
                let len = aes::hmac_len(mech, params)?;
                (SecretMech::Hmac(len), SecretKeyAlgorithm::HmacSha256)
            } else if mac::is_aes_mac(mech) {
                let (kind, len) = mac::aes_mac(mech, params)?;
                (SecretMech::AesMac { kind, len }, SecretKeyAlgorithm::Aes)
            } else {
                let encrypt = D::VERB == "encrypt";
                let rule = self.slot_of(session).config.aes_iv;
                let m = aes::aes_mech(mech, params, encrypt, rule)?;
                (SecretMech::Aes(m), SecretKeyAlgorithm::Aes)
            };
            let (key, s) = self.secret_key(session, h, alg, D::VERB)?;
            // An AES MAC is E_K on the TSB, which the TSB does as an encryption.
            if matches!(m, SecretMech::AesMac { .. }) && !s.encrypt {
                return Err(Error::ck(
                    CKR_KEY_FUNCTION_NOT_PERMITTED,
                    format!(
                        "key {} cannot encrypt on the TSB (its `encrypt` is false), and an AES \
                         MAC is computed with AES encryptions there",
                        key.label
                    ),
                ));
            }
            // GCM and CTR decrypt with the forward cipher: E_K of counter blocks on the TSB,
            // except GCM that the TSB's AES_GCM decrypts (AesMech::gcm_decrypts_on_the_tsb).
            let on_tsb = matches!(&m, SecretMech::Aes(a) if a.gcm_decrypts_on_the_tsb());
            if D::VERB == "decrypt"
                && matches!(mech, CKM_AES_GCM | CKM_AES_CTR)
                && !on_tsb
                && !s.encrypt
            {
                return Err(Error::ck(
                    CKR_KEY_FUNCTION_NOT_PERMITTED,
                    format!(
                        "key {} cannot encrypt on the TSB, and GCM and CTR decryption encrypt \
                         counter blocks there",
                        key.label
                    ),
                ));
            }
            if alg == SecretKeyAlgorithm::HmacSha256 {
                let slot = self.slot_of(session);
                if let Some(v) = slot.tsb.version().filter(|v| *v < alg.since()) {
                    return Err(Error::User(
                        CKR_MECHANISM_INVALID,
                        format!("TSB {v} has no HMAC (it came with TSB {})", alg.since()),
                    ));
                }
            }
            Ok(SecretOp::<D> {
                key,
                mech: m,
                input: Vec::new(),
                result: None,
                mode: Mode::Fresh,
                in_flight: false,
                _direction: PhantomData,
            })
        })
    }

    /// Whether the session's `D` operation is a secret-key one.
    pub(crate) fn secret_active<D: Direction>(&self, session: &Session) -> bool
    where
        SecretOp<D>: super::operation::Operation,
    {
        session.state.lock().ops.is_active::<SecretOp<D>>()
    }

    /// An Update call: the part is collected (`cap` None: a length query, which neither takes
    /// the part nor ends anything); no output.
    pub(crate) fn secret_update<D: Direction>(
        &self,
        session: &Session,
        data: &[u8],
        cap: Option<usize>,
    ) -> Result<Output>
    where
        SecretOp<D>: super::operation::Operation,
    {
        let mut st = session.state.lock();
        let op = st.ops.get::<SecretOp<D>>()?;
        if op.in_flight {
            return Err(super::remote::running());
        }
        op.mode.enter(Mode::Multi, D::SINGLE, D::MULTI)?;
        if cap.is_none() {
            return Ok(Output::Len(0));
        }
        if op.input.len().saturating_add(data.len()) > MAX_INPUT {
            return Err(Error::ck(
                CKR_DATA_LEN_RANGE,
                format!("the TSB takes one message of at most {MAX_INPUT} bytes here"),
            ));
        }
        op.input.extend_from_slice(data);
        Ok(Output::Data(Vec::new()))
    }

    /// C_Encrypt, C_Decrypt, C_Sign (`data` Some) or their Final call. `cap` None = length
    /// query.
    pub(crate) fn secret_finish<D: Direction>(
        &self,
        session: &Session,
        data: Option<&[u8]>,
        cap: Option<usize>,
    ) -> Result<Output>
    where
        SecretOp<D>: super::operation::Operation,
    {
        let (key, mech, mut input, cap) = {
            let mut st = session.state.lock();
            let op = st.ops.get::<SecretOp<D>>()?;
            if op.in_flight {
                return Err(super::remote::running());
            }
            op.mode.enter(Mode::of_call(data), D::SINGLE, D::MULTI)?;
            if let Some(r) = op.result.take() {
                let (o, keep) = Output::serve_kept(r, cap);
                match keep {
                    Some(r) => op.result = Some(r),
                    None => st.ops.end::<SecretOp<D>>(),
                }
                return Ok(o);
            }
            let n = op.input.len().saturating_add(data.map_or(0, <[u8]>::len));
            if n > MAX_INPUT {
                return Err(Error::ck(CKR_DATA_LEN_RANGE, "input too large"));
            }
            let Some(cap) = cap else {
                // Length query: from the mode and the input's length, never by running it.
                return Ok(Output::Len(output_len::<D>(&op.mech, n)?));
            };
            let mut input = std::mem::take(&mut op.input);
            input.extend_from_slice(data.unwrap_or_default());
            op.in_flight = true;
            (op.key.clone(), op.mech.clone(), input, cap)
        };
        let _unwinding = EndOnPanic::<D> {
            session,
            _direction: PhantomData,
        };
        // No lock held from here.
        let result = self.run_secret::<D>(session, &key, &mech, &input, D::KIND.flag());
        input.zeroize();
        let mut st = session.state.lock();
        match result {
            Ok(out) => {
                let (o, keep) = finish_output(out, cap);
                match (keep, st.ops.get::<SecretOp<D>>()) {
                    (Some(r), Ok(op)) => {
                        op.result = Some(r);
                        op.in_flight = false;
                    }
                    _ => st.ops.end::<SecretOp<D>>(),
                }
                Ok(o)
            }
            Err(e) => {
                st.ops.end::<SecretOp<D>>();
                Err(e)
            }
        }
    }

    /// C_Verify (`data` Some) or C_VerifyFinal with an HMAC: either ends the operation.
    pub(crate) fn mac_verify(
        &self,
        session: &Session,
        data: Option<&[u8]>,
        sig: &[u8],
    ) -> Result<()> {
        // The operation stays in the session, marked running, while its requests go out (one
        // per block for an AES MAC): another thread's C_VerifyInit is CKR_OPERATION_ACTIVE and
        // its C_Verify does not end it, as for C_Sign (secret_finish). Every outcome ends it.
        let (key, mech, mut input) = {
            let mut st = session.state.lock();
            let op = st.ops.get::<MacVerifyOp>()?;
            if op.in_flight {
                return Err(super::remote::running());
            }
            op.mode
                .enter(Mode::of_call(data), MacVerify::SINGLE, MacVerify::MULTI)?;
            let refused = match op.mech.mac_len() {
                None => Some(not_initialized()),
                Some(len) if sig.len() != len => Some(Error::ck(
                    CKR_SIGNATURE_LEN_RANGE,
                    format!("the MAC is {len} bytes, not {}", sig.len()),
                )),
                // The bound of C_Sign (secret_finish): an AES MAC is one request per block, an
                // HMAC one request of the whole message.
                Some(_)
                    if op.input.len().saturating_add(data.map_or(0, <[u8]>::len)) > MAX_INPUT =>
                {
                    Some(Error::ck(
                        CKR_DATA_LEN_RANGE,
                        format!("the TSB takes one message of at most {MAX_INPUT} bytes here"),
                    ))
                }
                Some(_) => None,
            };
            if let Some(e) = refused {
                st.ops.end::<MacVerifyOp>();
                return Err(e);
            }
            let mut input = std::mem::take(&mut op.input);
            input.extend_from_slice(data.unwrap_or_default());
            op.in_flight = true;
            (op.key.clone(), op.mech.clone(), input)
        };
        let _unwinding = EndOnPanic::<MacVerify> {
            session,
            _direction: PhantomData,
        };
        // No lock held from here.
        let mac =
            self.run_secret::<MacVerify>(session, &key, &mech, &input, MacVerify::KIND.flag());
        session.state.lock().ops.end::<MacVerifyOp>();
        input.zeroize();
        if bool::from(mac?.ct_eq(sig)) {
            Ok(())
        } else {
            Err(Error::ck(CKR_SIGNATURE_INVALID, "the MAC does not verify"))
        }
    }

    /// Run one operation on the TSB and check its answer. `cancel`: the C_SessionCancel flag
    /// that stops it when it is made of many requests (CKF_SIGN, CKF_MESSAGE_ENCRYPT, ...).
    pub(super) fn run_secret<D: Direction>(
        &self,
        session: &Session,
        key: &KeyInfo,
        mech: &SecretMech,
        input: &[u8],
        cancel: CK_FLAGS,
    ) -> Result<Vec<u8>> {
        let slot = self.slot_of(session);
        slot.check_access()?;
        let r = match mech {
            SecretMech::Hmac(len) => slot.tsb.hmac(key, input).and_then(|mut mac| {
                if mac.len() != 32 {
                    return Err(Error::BadResult(format!(
                        "the TSB answered an HMAC-SHA-256 of {} bytes",
                        mac.len()
                    )));
                }
                mac.truncate(*len);
                Ok(mac)
            }),
            SecretMech::AesMac { kind, len } => {
                let mut ecb = block_cipher(session, &slot.tsb, key, cancel);
                mac::mac(&mut ecb, *kind, input, *len).map(|t| t.to_vec())
            }
            SecretMech::Aes(m) if D::VERB == "encrypt" && m.tsb_iv => {
                self.aes_encrypt(session, key, m, input)
            }
            SecretMech::Aes(m) => self.aes_mode::<D>(session, key, m, input, cancel),
        };
        let what = match D::KIND {
            OpKind::Encrypt => "encryption",
            OpKind::Decrypt => "decryption",
            _ if matches!(mech, SecretMech::AesMac { .. }) => "AES MAC",
            _ => "HMAC",
        };
        self.log_refusal(session, key, what, r)
    }

    /// An AES operation under the caller's IV (mechanism::aes, "How each runs"): the TSB's raw
    /// block cipher and `mechanism::modes`, or for CBC decryption the TSB's own CBC. The output's
    /// length is checked against the mode's before it is returned.
    fn aes_mode<D: Direction>(
        &self,
        session: &Session,
        key: &KeyInfo,
        m: &AesMech,
        input: &[u8],
        cancel: CK_FLAGS,
    ) -> Result<Vec<u8>> {
        let slot = self.slot_of(session);
        let encrypt = D::VERB == "encrypt";
        let (min, max) = if encrypt {
            let n = m.ciphertext_len(input.len())?;
            (n, n)
        } else {
            m.plaintext_len(input.len())?
        };
        let mut ecb = block_cipher(session, &slot.tsb, key, cancel);
        let gcm = || modes::Gcm {
            nonce: &m.iv.bytes,
            aad: &m.aad,
            tag_len: m.tag_len,
        };
        let mut out = match (m.mech, encrypt) {
            (CKM_AES_ECB, true) => ecb(input)?,
            (CKM_AES_ECB, false) => {
                session.as_caller(|caller| slot.tsb.ecb_decrypt_blocks(key, input, caller))?
            }
            (CKM_AES_CTR, _) => modes::ctr(&mut ecb, &m.block_iv()?, m.counter_bits, input)?,
            (CKM_AES_GCM, true) => modes::gcm_encrypt(&mut ecb, &gcm(), input)?,
            (CKM_AES_GCM, false) if !m.gcm_decrypts_on_the_tsb() => {
                modes::gcm_decrypt(&mut ecb, &gcm(), input)?
            }
            (CKM_AES_CBC, true) => modes::cbc_encrypt(&mut ecb, &m.block_iv()?, input)?,
            (CKM_AES_CBC_PAD, true) => {
                modes::cbc_encrypt(&mut ecb, &m.block_iv()?, &modes::pkcs7_pad(input))?
            }
            (_, _) => {
                let p = AesDecrypt {
                    algorithm: m.cipher.name,
                    iv: &m.iv.bytes,
                    aad: &m.aad,
                    tag_bits: m.tag_bits(),
                };
                session.as_caller(|caller| slot.tsb.aes_decrypt(key, p, input, caller))?
            }
        };
        if !(min..=max).contains(&out.len()) {
            let n = out.len();
            out.zeroize();
            return Err(Error::BadResult(format!(
                "the TSB's {} made {n} bytes of {} (expected {min} to {max})",
                m.cipher.name,
                input.len()
            )));
        }
        Ok(out)
    }

    /// An AES encryption whose IV the TSB chooses (`aes_iv` `tsb-when-zero` and an all-zero IV
    /// buffer), its answer checked, the IV handed to the caller's IV buffer (mechanism::aes).
    fn aes_encrypt(
        &self,
        session: &Session,
        key: &KeyInfo,
        m: &AesMech,
        input: &[u8],
    ) -> Result<Vec<u8>> {
        let want = m.ciphertext_len(input.len())?;
        let slot = self.slot_of(session);
        let enc = slot
            .tsb
            .aes_encrypt(key, m.cipher.name, input, &m.aad, m.tag_bits())?;
        let bad = |why: String| Err(Error::BadResult(format!("{}: {why}", m.cipher.name)));
        if enc.ciphertext.len() != want {
            return bad(format!(
                "{} bytes of ciphertext for {} bytes (expected {want})",
                enc.ciphertext.len(),
                input.len()
            ));
        }
        let iv = match enc.iv {
            Some(iv) if iv.len() == m.cipher.iv_len => iv,
            other => {
                return bad(format!(
                    "the TSB's IV is {:?} bytes, not {}",
                    other.map(|v| v.len()),
                    m.cipher.iv_len
                ))
            }
        };
        if let Some(tag) = &enc.tag {
            if m.tag_len > 0 && !enc.ciphertext.ends_with(tag) {
                return bad("the GCM tag is not the end of the ciphertext".into());
            }
        }
        match &m.iv.sink {
            Some(sink) => sink.put(&iv),
            None => return bad("no IV buffer to return the IV in".into()),
        }
        crate::log!(
            Level::Debug,
            "encrypted {} bytes with {} ({}): IV {}",
            input.len(),
            key.tsb_label,
            m.cipher.name,
            iv.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        Ok(enc.ciphertext)
    }
}

/// E_K on the TSB under `key` (`Tsb::ecb_encrypt_blocks`, one request) for an operation of
/// `session` that may be made of many such requests (CBC, CMAC and CBC-MAC: one per block, up
/// to a million for 16 MiB; the SP 800-108 KDFs): each asks first whether the operation is
/// still wanted ([`Session::each_request`]), so closing the session, C_Finalize, or
/// C_SessionCancel with `cancel` (the operation's CKF_* flag) stops it at its next request with
/// CKR_SESSION_CLOSED or CKR_FUNCTION_CANCELED. Made when the operation starts to run: a cancel
/// asked before that is forgotten.
pub(super) fn block_cipher<'a>(
    session: &'a Session,
    tsb: &'a Tsb,
    key: &'a KeyInfo,
    cancel: CK_FLAGS,
) -> impl FnMut(&[u8]) -> Result<Vec<u8>> + 'a {
    session.each_request(cancel, move |blocks| tsb.ecb_encrypt_blocks(key, blocks))
}

/// The output length a length query answers: the exact length, or for AES-CBC-PAD decryption
/// the most the plaintext can be.
fn output_len<D: Direction>(mech: &SecretMech, n: usize) -> Result<usize> {
    match mech {
        SecretMech::Hmac(len) | SecretMech::AesMac { len, .. } => Ok(*len),
        SecretMech::Aes(m) if D::VERB == "encrypt" => m.ciphertext_len(n),
        SecretMech::Aes(m) => m.plaintext_len(n).map(|(_, max)| max),
    }
}
