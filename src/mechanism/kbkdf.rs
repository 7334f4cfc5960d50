//! The SP 800-108 key-based KDFs of PKCS#11 3.0 §2.42 (CKM_SP800_108_COUNTER_KDF,
//! CKM_SP800_108_FEEDBACK_KDF, CKM_SP800_108_DOUBLE_PIPELINE_KDF): the parameters as copied out
//! of C memory, their rules, the layout of the keys in the derived keying material, and the KDF
//! itself over a PRF that runs elsewhere (token/kbkdf.rs: AES-CMAC around E_K on the TSB, or
//! the TSB's HMAC-SHA-256). Nothing here holds a key.
//!
//! Rules (PKCS#11 3.0 §2.42.x; where the standard is silent, NSS's softoken `kbkdf.c`, the
//! implementation the cryptoki suite's tests were written against, is followed and named):
//! - counter mode: exactly one CK_SP800_108_ITERATION_VARIABLE, with a
//!   CK_SP800_108_COUNTER_FORMAT (the counter i); no CK_SP800_108_COUNTER;
//! - feedback and double pipeline: exactly one CK_SP800_108_ITERATION_VARIABLE with no value
//!   (the chaining value K(i-1) or A(i)); at most one CK_SP800_108_COUNTER;
//! - at most one CK_SP800_108_DKM_LENGTH; any number of CK_SP800_108_BYTE_ARRAY;
//! - counters are 8 to 32 bits, the DKM length 8 to 64 bits, in whole bytes (NSS: "we restrict
//!   bit widths to actually be byte widths"), and the number of iterations must fit the counter
//!   (SP 800-108 §5.1 step 2: n ≤ 2^r - 1); the DKM length must fit its width;
//! - the counter starts at 1; the keys are taken from the keying material in order (the
//!   primary key first, then CK_DERIVED_KEY's), each starting at a fresh PRF output ("no two keys
//!   may share the key stream from the same PRF invocation", NSS `kbkdf_SaveKeys`);
//! - L (the DKM length) is the sum of the keys' lengths (SUM_OF_KEYS) or of their segments,
//!   each rounded up to the PRF's output (SUM_OF_SEGMENTS); with no additional key both are the
//!   key's length (NSS `kbkdf_CalculateLength`).
//!
//! Every rule is checked by [`check`] and [`Layout::new`] before the first request.

use crate::error::{Error, Result};
use crate::token::Template;
use cryptoki_sys::*;
use zeroize::Zeroizing;

/// The most data parameters, additional keys and parameter bytes taken (sanity bounds on what a
/// caller's pointers describe: real uses have a handful of each).
pub(crate) const MAX_DATA_PARAMS: usize = 64;
pub(crate) const MAX_ADDITIONAL_KEYS: usize = 32;
pub(crate) const MAX_PARAM_BYTES: usize = 64 * 1024;

/// Which KDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Counter,
    Feedback,
    DoublePipeline,
}

impl Mode {
    /// The mode of a mechanism, None for other mechanisms.
    pub(crate) fn of(mech: CK_MECHANISM_TYPE) -> Option<Mode> {
        match mech {
            CKM_SP800_108_COUNTER_KDF => Some(Mode::Counter),
            CKM_SP800_108_FEEDBACK_KDF => Some(Mode::Feedback),
            CKM_SP800_108_DOUBLE_PIPELINE_KDF => Some(Mode::DoublePipeline),
            _ => None,
        }
    }
}

/// How an integer is written into the PRF input: its width in bits and byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IntFormat {
    pub(crate) little_endian: bool,
    pub(crate) bits: CK_ULONG,
}

/// What CK_SP800_108_DKM_LENGTH counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DkmMethod {
    SumOfKeys,
    SumOfSegments,
}

/// One CK_PRF_DATA_PARAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DataParam {
    /// CK_SP800_108_ITERATION_VARIABLE: the counter's format (counter mode), or None (the
    /// chaining value, the other modes).
    IterationVariable(Option<IntFormat>),
    /// CK_SP800_108_COUNTER (feedback and double pipeline).
    Counter(IntFormat),
    /// CK_SP800_108_DKM_LENGTH.
    DkmLength(DkmMethod, IntFormat),
    /// CK_SP800_108_BYTE_ARRAY.
    Bytes(Vec<u8>),
}

/// Where the handle of an additional key goes: the address of the caller's `phKey`, written by
/// the C boundary alone (`ffi::objects`), once every key exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyOut(pub(crate) usize);

/// One CK_DERIVED_KEY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdditionalKey {
    pub(crate) template: Template,
    pub(crate) out: KeyOut,
}

/// CK_SP800_108_KDF_PARAMS or CK_SP800_108_FEEDBACK_KDF_PARAMS, copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KbkdfParams {
    /// `prfType`.
    pub(crate) prf: CK_MECHANISM_TYPE,
    pub(crate) data: Vec<DataParam>,
    /// The feedback mode's IV (`pIV`); None for the other modes' structure.
    pub(crate) iv: Option<Vec<u8>>,
    pub(crate) additional: Vec<AdditionalKey>,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::ck(CKR_MECHANISM_PARAM_INVALID, msg)
}

/// The parameter rules of `mode` (see the module docs).
pub(crate) fn check(mode: Mode, p: &KbkdfParams) -> Result<()> {
    if (mode == Mode::Feedback) != p.iv.is_some() {
        return Err(invalid(
            "CKM_SP800_108_FEEDBACK_KDF takes CK_SP800_108_FEEDBACK_KDF_PARAMS, the other KDFs \
             CK_SP800_108_KDF_PARAMS",
        ));
    }
    if p.data.is_empty() || p.data.len() > MAX_DATA_PARAMS {
        return Err(invalid(format!(
            "{} data parameters (1 to {MAX_DATA_PARAMS})",
            p.data.len()
        )));
    }
    let count = |f: fn(&DataParam) -> bool| p.data.iter().filter(|d| f(d)).count();
    let iteration = count(|d| matches!(d, DataParam::IterationVariable(_)));
    if iteration != 1 {
        return Err(invalid(format!(
            "{iteration} CK_SP800_108_ITERATION_VARIABLEs: exactly one is needed"
        )));
    }
    if count(|d| matches!(d, DataParam::DkmLength(..))) > 1 {
        return Err(invalid("more than one CK_SP800_108_DKM_LENGTH"));
    }
    let counters = count(|d| matches!(d, DataParam::Counter(_)));
    let counter_in_iteration = count(|d| matches!(d, DataParam::IterationVariable(Some(_))));
    match mode {
        Mode::Counter if counter_in_iteration != 1 => Err(invalid(
            "counter mode needs the counter's CK_SP800_108_COUNTER_FORMAT in its \
             CK_SP800_108_ITERATION_VARIABLE",
        )),
        Mode::Counter if counters > 0 => Err(invalid(
            "counter mode takes no CK_SP800_108_COUNTER (its counter is the iteration variable)",
        )),
        Mode::Feedback | Mode::DoublePipeline if counter_in_iteration > 0 => Err(invalid(
            "the iteration variable of feedback and double pipeline modes has no value (it is \
             the chaining value)",
        )),
        Mode::Feedback | Mode::DoublePipeline if counters > 1 => {
            Err(invalid("more than one CK_SP800_108_COUNTER"))
        }
        _ => Ok(()),
    }?;
    for d in &p.data {
        let (f, max, what) = match d {
            DataParam::IterationVariable(Some(f)) | DataParam::Counter(f) => (f, 32, "a counter"),
            DataParam::DkmLength(_, f) => (f, 64, "a DKM length"),
            _ => continue,
        };
        if !(8..=max).contains(&f.bits) || f.bits % 8 != 0 {
            return Err(invalid(format!(
                "{what} of {} bits (8 to {max}, whole bytes)",
                f.bits
            )));
        }
    }
    if p.additional.len() > MAX_ADDITIONAL_KEYS {
        return Err(invalid("too many additional derived keys"));
    }
    Ok(())
}

/// Where the keys lie in the keying material, and what L is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The bytes of keying material made (to the end of the last key).
    pub(crate) total: usize,
    /// L, in bits.
    pub(crate) l_bits: u64,
    /// Each key's (offset, length), the primary key first.
    pub(crate) keys: Vec<(usize, usize)>,
    /// The PRF iterations.
    pub(crate) iterations: usize,
}

impl Layout {
    /// The layout of keys of `lens` bytes (the primary key first) with a PRF of `h` bytes of
    /// output; CKR_MECHANISM_PARAM_INVALID when the counter or the DKM length cannot hold it.
    pub(crate) fn new(mode: Mode, p: &KbkdfParams, h: usize, lens: &[usize]) -> Result<Layout> {
        let mut keys = Vec::with_capacity(lens.len());
        let mut offset = 0usize;
        for len in lens {
            keys.push((offset, *len));
            offset = offset
                .checked_add(len.div_ceil(h) * h)
                .ok_or_else(|| invalid("keys too long"))?;
        }
        let total = keys.last().map_or(0, |(o, l)| o + l);
        let sum_of_keys: usize = lens.iter().sum();
        let method = p.data.iter().find_map(|d| match d {
            DataParam::DkmLength(m, f) => Some((*m, *f)),
            _ => None,
        });
        let l_bytes = match method {
            Some((DkmMethod::SumOfSegments, _)) if lens.len() > 1 => offset,
            _ => sum_of_keys,
        };
        let l_bits = (l_bytes as u64).saturating_mul(8);
        if let Some((_, f)) = method {
            if f.bits < 64 && l_bits >> f.bits != 0 {
                return Err(invalid(format!(
                    "a DKM length of {l_bits} bits does not fit in {} bits",
                    f.bits
                )));
            }
        }
        let iterations = total.div_ceil(h);
        let r = p
            .data
            .iter()
            .find_map(|d| match d {
                DataParam::IterationVariable(Some(f)) if mode == Mode::Counter => Some(f.bits),
                DataParam::Counter(f) => Some(f.bits),
                _ => None,
            })
            .unwrap_or(32);
        if (iterations as u64) >> r != 0 {
            return Err(invalid(format!(
                "{iterations} iterations do not fit a {r}-bit counter"
            )));
        }
        Ok(Layout {
            total,
            l_bits,
            keys,
            iterations,
        })
    }
}

/// `v` in the low `f.bits` bits, in `f`'s byte order.
fn encode(v: u64, f: IntFormat) -> Vec<u8> {
    let n = (f.bits / 8) as usize;
    let be = v.to_be_bytes();
    let mut out = be[8 - n.min(8)..].to_vec();
    if f.little_endian {
        out.reverse();
    }
    out
}

/// The PRF input of one iteration: the data parameters in order, the iteration variable as
/// `chain` (or the counter `i` in counter mode), the counter left out when `no_counter` (double
/// pipeline's A(1)).
fn prf_input(
    p: &KbkdfParams,
    i: u64,
    l_bits: u64,
    chain: &[u8],
    no_counter: bool,
) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::new());
    for d in &p.data {
        match d {
            DataParam::IterationVariable(Some(f)) => out.extend(encode(i, *f)),
            DataParam::IterationVariable(None) => out.extend_from_slice(chain),
            DataParam::Counter(_) if no_counter => {}
            DataParam::Counter(f) => out.extend(encode(i, *f)),
            DataParam::DkmLength(_, f) => out.extend(encode(l_bits, *f)),
            DataParam::Bytes(b) => out.extend_from_slice(b),
        }
    }
    out
}

/// A PRF keyed with the base key: `eval` gives the PRF of each input (independent inputs, which
/// it may compute together), each `len()` bytes.
pub(crate) trait Prf {
    fn len(&self) -> usize;
    fn eval(&mut self, inputs: &[&[u8]]) -> Result<Vec<Zeroizing<Vec<u8>>>>;
}

/// Check that a PRF answered one output of its length per input.
fn eval_checked(prf: &mut dyn Prf, inputs: &[&[u8]]) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    let out = prf.eval(inputs)?;
    if out.len() != inputs.len() || out.iter().any(|o| o.len() != prf.len()) {
        return Err(Error::BadResult(
            "the PRF answered the wrong number or length of outputs".into(),
        ));
    }
    Ok(out)
}

/// The keying material of `layout` (SP 800-108 §5.1-5.3 with PKCS#11's data parameters), cut
/// into the keys. Counter mode computes every iteration together; feedback mode one iteration
/// after the other; double pipeline A(i+1) together with K(i).
pub(crate) fn derive(
    mode: Mode,
    p: &KbkdfParams,
    layout: &Layout,
    prf: &mut dyn Prf,
) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    let n = layout.iterations as u64;
    let l = layout.l_bits;
    let mut km = Zeroizing::new(Vec::with_capacity(layout.iterations * prf.len()));
    match mode {
        Mode::Counter => {
            let inputs: Vec<_> = (1..=n).map(|i| prf_input(p, i, l, &[], false)).collect();
            let refs: Vec<&[u8]> = inputs.iter().map(|v| v.as_slice()).collect();
            for k in eval_checked(prf, &refs)? {
                km.extend_from_slice(&k);
            }
        }
        Mode::Feedback => {
            let mut chain = Zeroizing::new(p.iv.clone().unwrap_or_default());
            for i in 1..=n {
                let input = prf_input(p, i, l, &chain, false);
                let k = eval_checked(prf, &[&input])?.remove(0);
                km.extend_from_slice(&k);
                chain = k;
            }
        }
        Mode::DoublePipeline => {
            let a1 = prf_input(p, 1, l, &[], true);
            let mut a = eval_checked(prf, &[&a1])?.remove(0);
            for i in 1..=n {
                let k_input = prf_input(p, i, l, &a, false);
                let mut out = if i < n {
                    eval_checked(prf, &[&k_input, &a])?
                } else {
                    eval_checked(prf, &[&k_input])?
                };
                km.extend_from_slice(&out[0]);
                if i < n {
                    a = out.remove(1);
                }
            }
        }
    }
    if km.len() < layout.total {
        return Err(Error::Internal("too little keying material".into()));
    }
    Ok(layout
        .keys
        .iter()
        .map(|(o, len)| Zeroizing::new(km[*o..o + len].to_vec()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::mac::tests::{hex, Fake};
    use super::super::mac::Cmac;
    use super::*;

    /// AES-CMAC around the `aes` crate's block cipher, counting requests.
    struct CmacPrf {
        fake: Fake,
        cmac: Cmac,
    }

    impl Prf for CmacPrf {
        fn len(&self) -> usize {
            16
        }
        fn eval(&mut self, inputs: &[&[u8]]) -> Result<Vec<Zeroizing<Vec<u8>>>> {
            let mut ecb = self.fake.ecb();
            Ok(self
                .cmac
                .macs(&mut ecb, inputs)?
                .into_iter()
                .map(|t| Zeroizing::new(t.to_vec()))
                .collect())
        }
    }

    fn prf(key: &str) -> CmacPrf {
        CmacPrf {
            fake: Fake::new(&hex(key)),
            cmac: Cmac::new(),
        }
    }

    fn be(bits: CK_ULONG) -> IntFormat {
        IntFormat {
            little_endian: false,
            bits,
        }
    }

    fn params(data: Vec<DataParam>, iv: Option<&str>) -> KbkdfParams {
        KbkdfParams {
            prf: CKM_AES_CMAC,
            data,
            iv: iv.map(hex),
            additional: vec![],
        }
    }

    fn run(mode: Mode, p: &KbkdfParams, key: &str, len: usize) -> (Vec<u8>, usize) {
        check(mode, p).unwrap();
        let layout = Layout::new(mode, p, 16, &[len]).unwrap();
        let mut f = prf(key);
        let k = derive(mode, p, &layout, &mut f).unwrap();
        (k[0].to_vec(), f.fake.calls)
    }

    /// NIST CAVP KBKDF vectors (KBKDFCTR_gen.rsp, [PRF=CMAC_AES128]): the fixed input data is one
    /// byte array, the counter before it.
    #[test]
    fn counter_mode_matches_cavp() {
        // [CTRLOCATION=BEFORE_FIXED] [RLEN=32_BITS] COUNT=0, L = 128.
        let fixed = "98cd4cbbbebe15d17dc86e6dbad800a2dcbd64f7c7ad0e78e9cf94ffdba89d03
                     e97eadf6c4f7b806caf52aa38f09d0eb71d71f497bcc6906b48d36c4";
        let p = params(
            vec![
                DataParam::IterationVariable(Some(be(32))),
                DataParam::Bytes(hex(fixed)),
            ],
            None,
        );
        let (k, _) = run(Mode::Counter, &p, "c10b152e8c97b77e18704e0f0bd38305", 16);
        assert_eq!(k, hex("26faf61908ad9ee881b8305c221db53f"));
        // [RLEN=8_BITS], L = 320: three iterations, computed together (each input is 61
        // bytes, four blocks: four requests for all three, the subkeys with the first).
        let fixed = "c20ff015ea1e1c97fed4e973b46a9b2626cb3ac9a8776cb08d73d4534d3837cc
                     f88e93d1682c6e779ea9f2f9ede47a2e07ef281d8867722b310c1cae";
        let p = params(
            vec![
                DataParam::IterationVariable(Some(be(8))),
                DataParam::Bytes(hex(fixed)),
            ],
            None,
        );
        let (k, calls) = run(Mode::Counter, &p, "c3ba16a8ec864c0f6f27cea220eccaaa", 40);
        assert_eq!(
            k,
            hex("ceeaab29648cff00b89f7330076298b1e036d73ed7c5e61f2e97bd5ce0920f0f45133eaca3d3712b")
        );
        assert_eq!(calls, 4);
    }

    /// KBKDFFB_gen.rsp [PRF=CMAC_AES128]: with the counter after the chaining value and no IV,
    /// and without a counter with an IV; L = 512.
    #[test]
    fn feedback_mode_matches_cavp() {
        let fixed = "fb5294ed40a0e4aa70a7be13913070a4c5cfc05f89b9f7dd26a493b8c63889c7
                     c3b0b60dd6d598ffa296a426224c727a501946";
        let p = params(
            vec![
                DataParam::IterationVariable(None),
                DataParam::Counter(be(16)),
                DataParam::Bytes(hex(fixed)),
            ],
            Some(""),
        );
        let (k, _) = run(Mode::Feedback, &p, "d7f5fa7551645de0b36aecd46565f954", 64);
        assert_eq!(
            k,
            hex(
                "7164471f559812581a53aaf7fb6d6c53a1293115cda873887efcc7ce6b3a026b
                 2d19f0d38db8590e218a2676df88f53cab3313ed63bd1e4828f3c066ea5eb1fd"
            )
        );
        let fixed = "62afe5fed91e797221a854336b0aadd8a05ad0e3c8345729897b2efcec5a1178
                     a2fa4c063007b67a7015e0d6b7271ea8d86b44";
        let p = params(
            vec![
                DataParam::IterationVariable(None),
                DataParam::Bytes(hex(fixed)),
            ],
            Some("28dc945cb8337ab5336c3e9b5bad21c7"),
        );
        let (k, _) = run(Mode::Feedback, &p, "5c996c922f65de97d4408373229814c6", 64);
        assert_eq!(
            k,
            hex(
                "88a9aae193abdd3fe8143bab66014ae41dc2d12ea9d08f5871588fc5d827924e
                 b9942989d7a36d4b3b107997566472cad5942bd13cb5cff32b9dae30f1bb6300"
            )
        );
    }

    /// KBKDFDP_gen.rsp [PRF=CMAC_AES128]: [CTRLOCATION=AFTER_ITER] [RLEN=8_BITS], and no
    /// counter; L = 512.
    #[test]
    fn double_pipeline_mode_matches_cavp() {
        let fixed = "aa5acbce73a98d4c4f361d5c22a2cc6f6bdc30027aa31af1ba8b15a5bd5b6a34
                     d133519ad1a82483c2d2a6dd9a97273a780421";
        let p = params(
            vec![
                DataParam::IterationVariable(None),
                DataParam::Counter(be(8)),
                DataParam::Bytes(hex(fixed)),
            ],
            None,
        );
        let (k, _) = run(
            Mode::DoublePipeline,
            &p,
            "08a5a251b8e4826fbf73292f4cd6c790",
            64,
        );
        assert_eq!(
            k,
            hex(
                "ff1c72ec38b8968a1ce0942a571a1f522ddd2a1c6ffc2b60c90bb54a5c0e9de4
                 0d289686cbff127b408ec64ef615b18c1abc0736ae4c94e33e54d832e686276e"
            )
        );
        let fixed = "335660eb265d2044efa06eacd848d3f9f57d219011343318f3a964df4a6fb1bf
                     6cbdee711c7fcbe73b8f257f992e47e8b065af";
        let p = params(
            vec![
                DataParam::IterationVariable(None),
                DataParam::Bytes(hex(fixed)),
            ],
            None,
        );
        let (k, _) = run(
            Mode::DoublePipeline,
            &p,
            "ada2452f1f141a82c7a1b7d3e09ffed1",
            64,
        );
        assert_eq!(
            k,
            hex(
                "a73bd29176e38e761222ae07d639181f4b2c555a3b261815cde5d88a67c8b95c
                 58b6b66ea4f10608c6d799b051519fc8e89de00cdc556350a7d966475086f9af"
            )
        );
    }

    /// HMAC-SHA-256 (RFC 2104) over the `sha2` crate, counting calls: the TSB's HMAC stand-in.
    struct HmacPrf {
        key: Vec<u8>,
        calls: usize,
    }

    impl Prf for HmacPrf {
        fn len(&self) -> usize {
            32
        }
        fn eval(&mut self, inputs: &[&[u8]]) -> Result<Vec<Zeroizing<Vec<u8>>>> {
            use sha2::{Digest, Sha256};
            let mut block = [0u8; 64];
            block[..self.key.len()].copy_from_slice(&self.key);
            let pad = |b: u8| block.iter().map(|k| k ^ b).collect::<Vec<u8>>();
            self.calls += inputs.len();
            Ok(inputs
                .iter()
                .map(|m| {
                    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(m);
                    let outer = Sha256::new()
                        .chain_update(pad(0x5c))
                        .chain_update(inner.finalize());
                    Zeroizing::new(outer.finalize().to_vec())
                })
                .collect())
        }
    }

    fn run_hmac(mode: Mode, p: &KbkdfParams, key: &str, lens: &[usize]) -> (Vec<Vec<u8>>, usize) {
        check(mode, p).unwrap();
        let layout = Layout::new(mode, p, 32, lens).unwrap();
        let mut f = HmacPrf {
            key: hex(key),
            calls: 0,
        };
        let k = derive(mode, p, &layout, &mut f).unwrap();
        (k.iter().map(|k| k.to_vec()).collect(), f.calls)
    }

    /// KBKDFCTR_gen.rsp [PRF=HMAC_SHA256] [CTRLOCATION=BEFORE_FIXED]: the same math over a PRF
    /// of 32 bytes, one PRF call per 32 bytes of keying material.
    #[test]
    fn counter_mode_with_hmac_sha256_matches_cavp() {
        // [RLEN=8_BITS] COUNT=0, L = 128.
        let fixed = "98e9988bb4cc8b34d7922e1c68ad692ba2a1d9ae15149571675f17a77ad49e80
                     c8d2a85e831a26445b1f0ff44d7084a17206b4896c8112daad18605a";
        let mut p = params(
            vec![
                DataParam::IterationVariable(Some(be(8))),
                DataParam::Bytes(hex(fixed)),
            ],
            None,
        );
        p.prf = CKM_SHA256_HMAC;
        let key = "3edc6b5b8f7aadbd713732b482b8f979286e1ea3b8f8f99c30c884cfe3349b83";
        let (k, calls) = run_hmac(Mode::Counter, &p, key, &[16]);
        assert_eq!(k[0], hex("6c037652990674a07844732d0ad985f9"));
        assert_eq!(calls, 1);
        // [RLEN=32_BITS] COUNT=30, L = 320: two iterations.
        let fixed = "1c69c54766791e315c2cc5c47ecd3ffab87d0d273dd920e70955814c220eacac
                     e6a5946542da3dfe24ff626b4897898cafb7db83bdff3c14fa46fd4b";
        let mut p = params(
            vec![
                DataParam::IterationVariable(Some(be(32))),
                DataParam::Bytes(hex(fixed)),
            ],
            None,
        );
        p.prf = CKM_SHA256_HMAC;
        let key = "c4bedbddb66493e7c7259a3bbbc25f8c7e0ca7fe284d92d431d9cd99a0d214ac";
        let ko = hex(
            "1da47638d6c9c4d04d74d4640bbd42ab814d9e8cc22f4326695239f96b0693f1
             2d0dd1152cf44430",
        );
        let (k, calls) = run_hmac(Mode::Counter, &p, key, &[40]);
        assert_eq!((k[0].clone(), calls), (ko.clone(), 2));
        // As two keys, each at a fresh 32-byte output: the first output, then the second's
        // first 8 bytes (a 16-byte key there reads KO's last 8 bytes first).
        let (k, calls) = run_hmac(Mode::Counter, &p, key, &[32, 16]);
        assert_eq!(k[0], ko[..32]);
        assert_eq!(k[1][..8], ko[32..]);
        assert_eq!(calls, 2);
        // An 8-bit counter holds 255 iterations: 8160 bytes of HMAC, not 8161.
        let p = params(vec![DataParam::IterationVariable(Some(be(8)))], None);
        Layout::new(Mode::Counter, &p, 32, &[8160]).unwrap();
        assert_eq!(
            Layout::new(Mode::Counter, &p, 32, &[8161])
                .unwrap_err()
                .rv(),
            CKR_MECHANISM_PARAM_INVALID
        );
    }

    /// The cryptoki suite's refusals (kbkdf_invalid_data_params_*) and the widths.
    #[test]
    fn parameters_are_checked() {
        let dkm = DataParam::DkmLength(DkmMethod::SumOfKeys, be(16));
        let ctr = DataParam::IterationVariable(Some(be(16)));
        let label = DataParam::Bytes(b"test_label".to_vec());
        let rv = |mode, data: Vec<DataParam>, iv: Option<&str>| {
            check(mode, &params(data, iv)).unwrap_err().rv()
        };
        let bad = CKR_MECHANISM_PARAM_INVALID;
        // Counter mode: no iteration variable, one without its format, a counter as well, two
        // DKM lengths.
        assert_eq!(
            rv(Mode::Counter, vec![label.clone(), dkm.clone()], None),
            bad
        );
        let none = DataParam::IterationVariable(None);
        assert_eq!(
            rv(Mode::Counter, vec![none.clone(), label.clone()], None),
            bad
        );
        let counter = DataParam::Counter(be(16));
        assert_eq!(
            rv(Mode::Counter, vec![ctr.clone(), counter.clone()], None),
            bad
        );
        assert_eq!(
            rv(
                Mode::Counter,
                vec![ctr.clone(), dkm.clone(), dkm.clone()],
                None
            ),
            bad
        );
        check(
            Mode::Counter,
            &params(vec![ctr.clone(), label.clone(), dkm.clone()], None),
        )
        .unwrap();
        // Feedback: the iteration variable has no format; an IV structure; one counter.
        assert_eq!(rv(Mode::Feedback, vec![ctr.clone()], Some("")), bad);
        assert_eq!(rv(Mode::Feedback, vec![none.clone()], None), bad);
        assert_eq!(
            rv(
                Mode::Feedback,
                vec![none.clone(), counter.clone(), counter.clone()],
                Some("")
            ),
            bad
        );
        check(
            Mode::Feedback,
            &params(vec![none.clone(), counter], Some("")),
        )
        .unwrap();
        assert_eq!(rv(Mode::DoublePipeline, vec![ctr.clone()], None), bad);
        assert_eq!(rv(Mode::DoublePipeline, vec![none.clone()], Some("")), bad);
        // Widths: whole bytes, counters up to 32 bits, DKM lengths up to 64.
        for bits in [0, 4, 12, 40] {
            let c = DataParam::IterationVariable(Some(be(bits)));
            assert_eq!(rv(Mode::Counter, vec![c], None), bad, "{bits}");
        }
        let wide = DataParam::DkmLength(DkmMethod::SumOfKeys, be(72));
        assert_eq!(rv(Mode::Counter, vec![ctr.clone(), wide], None), bad);
        // An 8-bit counter holds 255 iterations (4080 bytes of CMAC), not 256.
        let p = params(vec![DataParam::IterationVariable(Some(be(8)))], None);
        Layout::new(Mode::Counter, &p, 16, &[4080]).unwrap();
        assert_eq!(
            Layout::new(Mode::Counter, &p, 16, &[4081])
                .unwrap_err()
                .rv(),
            bad
        );
        // An 8-bit DKM length holds 255 bits: a 32-byte key's 256 do not fit.
        let p = params(
            vec![ctr, DataParam::DkmLength(DkmMethod::SumOfKeys, be(8))],
            None,
        );
        assert_eq!(
            Layout::new(Mode::Counter, &p, 16, &[32]).unwrap_err().rv(),
            bad
        );
    }

    /// Additional keys: each starts at a fresh PRF output; L sums the keys or their segments.
    #[test]
    fn keys_are_laid_out_on_prf_boundaries() {
        let dkm = |m| {
            params(
                vec![
                    DataParam::IterationVariable(Some(be(16))),
                    DataParam::DkmLength(m, be(16)),
                ],
                None,
            )
        };
        let p = dkm(DkmMethod::SumOfKeys);
        let l = Layout::new(Mode::Counter, &p, 16, &[24, 16, 1]).unwrap();
        assert_eq!(l.keys, vec![(0, 24), (32, 16), (48, 1)]);
        assert_eq!((l.total, l.iterations, l.l_bits), (49, 4, 41 * 8));
        let p = dkm(DkmMethod::SumOfSegments);
        let l = Layout::new(Mode::Counter, &p, 16, &[24, 16, 1]).unwrap();
        assert_eq!(l.l_bits, 64 * 8);
        // One key: L is its length with either method (NSS `kbkdf_CalculateLength`).
        let l = Layout::new(Mode::Counter, &p, 16, &[24]).unwrap();
        assert_eq!((l.l_bits, l.total, l.iterations), (24 * 8, 24, 2));
        // The keys are the material's pieces; little-endian counters are written so.
        let le = params(
            vec![
                DataParam::IterationVariable(Some(IntFormat {
                    little_endian: true,
                    bits: 16,
                })),
                DataParam::DkmLength(DkmMethod::SumOfKeys, be(16)),
            ],
            None,
        );
        assert_eq!(
            prf_input(&le, 1, 256, &[], false).to_vec(),
            vec![1, 0, 1, 0]
        );
        let layout = Layout::new(Mode::Counter, &le, 16, &[16, 8]).unwrap();
        let both = derive(
            Mode::Counter,
            &le,
            &layout,
            &mut prf("00112233445566778899aabbccddeeff"),
        )
        .unwrap();
        // The same two PRF outputs computed by hand, with L = 24 keys' bytes: the keys are
        // their first 16 and next 8 bytes.
        let material = {
            let inputs = [
                prf_input(&le, 1, 24 * 8, &[], false),
                prf_input(&le, 2, 24 * 8, &[], false),
            ];
            let mut f = prf("00112233445566778899aabbccddeeff");
            let refs: Vec<&[u8]> = inputs.iter().map(|v| v.as_slice()).collect();
            f.eval(&refs)
                .unwrap()
                .iter()
                .flat_map(|v| v.to_vec())
                .collect::<Vec<u8>>()
        };
        assert_eq!(both[0].to_vec(), material[..16]);
        assert_eq!(both[1].to_vec(), material[16..24]);
    }
}
