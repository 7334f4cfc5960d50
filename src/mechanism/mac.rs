//! AES MACs computed here around the HSM's raw block cipher E_K (`mechanism::modes::Ecb`, one
//! `POST /v1/encrypt` with `AES_ECB` per call): CMAC (NIST SP 800-38B, RFC 4493; PKCS#11 3.0
//! §2.15.6 CKM_AES_CMAC, CKM_AES_CMAC_GENERAL) and the CBC-MAC of PKCS#11's "general-length
//! AES-MAC" (CKM_AES_MAC, CKM_AES_MAC_GENERAL). The key never leaves the HSM; this file does
//! only what needs no key: chaining, the subkeys' doubling, padding, truncation.
//!
//! Requests: both MACs chain serially, each block's input is the previous block's output, so a
//! message of n blocks costs n requests (CBC-MAC) and n requests for CMAC, whose subkey
//! block E_K(0^128) travels with the first block (a message of one block: two requests, the
//! subkeys being needed before its only block). [`Cmac::macs`] runs several independent
//! messages in lockstep, one request per round carrying the next block of every message: what
//! the SP 800-108 KDFs (`mechanism::kbkdf`) use to compute their iterations together.

use super::modes::{self, Ecb, BLOCK};
use super::MechParams;
use crate::error::{Error, Result};
use cryptoki_sys::*;
use zeroize::Zeroizing;

/// A MAC block (a CMAC tag, a CBC-MAC's last block), zeroized on drop.
pub(crate) type Tag = Zeroizing<[u8; BLOCK]>;

/// Which AES MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MacKind {
    /// CMAC (SP 800-38B).
    Cmac,
    /// CBC-MAC with a zero IV, the data padded with zeros to whole blocks (ISO/IEC 9797-1 MAC
    /// algorithm 1 with padding method 1: an empty message is one zero block).
    CbcMac,
}

/// Whether `mech` is an AES MAC.
pub(crate) fn is_aes_mac(mech: CK_MECHANISM_TYPE) -> bool {
    matches!(
        mech,
        CKM_AES_CMAC | CKM_AES_CMAC_GENERAL | CKM_AES_MAC | CKM_AES_MAC_GENERAL
    )
}

fn param_invalid(msg: impl Into<String>) -> Error {
    Error::ck(CKR_MECHANISM_PARAM_INVALID, msg)
}

/// The MAC and its length in bytes of an AES MAC mechanism: CKM_AES_CMAC 16 ("always produces
/// an output of size 16"), CKM_AES_MAC 8 ("half the block size"), the `_GENERAL` forms the
/// CK_MAC_GENERAL_PARAMS length, 1 to 16 (PKCS#11 3.0 §2.15.6 and §2.15.5).
pub(crate) fn aes_mac(mech: CK_MECHANISM_TYPE, params: &MechParams) -> Result<(MacKind, usize)> {
    let general = |kind, name: &str| match params {
        MechParams::MacLen(n) if (1..=BLOCK).contains(n) => Ok((kind, *n)),
        _ => Err(param_invalid(format!(
            "{name} needs CK_MAC_GENERAL_PARAMS of 1 to 16"
        ))),
    };
    let fixed = |kind, len, name: &str| match params {
        MechParams::None => Ok((kind, len)),
        _ => Err(param_invalid(format!("{name} takes no parameter"))),
    };
    match mech {
        CKM_AES_CMAC => fixed(MacKind::Cmac, BLOCK, "CKM_AES_CMAC"),
        CKM_AES_CMAC_GENERAL => general(MacKind::Cmac, "CKM_AES_CMAC_GENERAL"),
        CKM_AES_MAC => fixed(MacKind::CbcMac, BLOCK / 2, "CKM_AES_MAC"),
        CKM_AES_MAC_GENERAL => general(MacKind::CbcMac, "CKM_AES_MAC_GENERAL"),
        _ => Err(Error::ck(
            CKR_MECHANISM_INVALID,
            format!("mechanism 0x{mech:x} is not an AES MAC"),
        )),
    }
}

/// The MAC of `data`, truncated to `len` bytes (at most 16).
pub(crate) fn mac(
    ecb: &mut Ecb<'_>,
    kind: MacKind,
    data: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>> {
    let tag = match kind {
        MacKind::Cmac => Cmac::new().mac(ecb, data)?,
        MacKind::CbcMac => cbc_mac(ecb, data)?,
    };
    Ok(Zeroizing::new(tag[..len.min(BLOCK)].to_vec()))
}

/// The CBC-MAC of `data` (see [`MacKind::CbcMac`]): the last block of its CBC encryption under
/// a zero IV, one request per block.
fn cbc_mac(ecb: &mut Ecb<'_>, data: &[u8]) -> Result<Tag> {
    let n = data.len().div_ceil(BLOCK).max(1);
    let mut padded = Zeroizing::new(vec![0u8; n * BLOCK]);
    padded[..data.len()].copy_from_slice(data);
    let ct = Zeroizing::new(modes::cbc_encrypt(ecb, &[0u8; BLOCK], &padded)?);
    let mut tag = Zeroizing::new([0u8; BLOCK]);
    tag.copy_from_slice(&ct[ct.len() - BLOCK..]);
    Ok(tag)
}

/// The doubling in GF(2^128) of SP 800-38B §6.1 (a shift left, and R_128 = 0x87 folded in when
/// the top bit falls off).
fn dbl(b: &[u8; BLOCK]) -> [u8; BLOCK] {
    let v = u128::from_be_bytes(*b);
    let r = (v << 1) ^ if v >> 127 == 1 { 0x87 } else { 0 };
    r.to_be_bytes()
}

/// CMAC under one key: its subkeys K1 and K2 once known (from E_K(0^128), asked with the first
/// round of blocks), kept for the following messages of the same operation and zeroized on
/// drop.
#[derive(Default)]
pub(crate) struct Cmac {
    subkeys: Option<(Tag, Tag)>,
}

/// Where one message stands in [`Cmac::macs`].
struct Progress {
    /// The chaining value: the last block's output is the MAC, which the SP 800-108 KDFs use as
    /// derived keying material, so it is zeroized with the rest.
    chain: Zeroizing<[u8; BLOCK]>,
    /// Blocks done.
    done: usize,
    /// Blocks in all (an empty message is one padded block).
    blocks: usize,
}

impl Cmac {
    /// A CMAC whose subkeys are not known yet.
    pub(crate) fn new() -> Cmac {
        Cmac::default()
    }

    /// The CMAC of one message.
    pub(crate) fn mac(&mut self, ecb: &mut Ecb<'_>, msg: &[u8]) -> Result<Tag> {
        let mut v = self.macs(ecb, &[msg])?;
        v.pop()
            .ok_or_else(|| Error::Internal("CMAC of one message made none".into()))
    }

    /// The last block of `msg` as CMAC feeds it (SP 800-38B §6.2 steps 3-4): M_n XOR K1 when
    /// it is complete, else M_n padded with 10* XOR K2.
    fn last_block(msg: &[u8], blocks: usize, (k1, k2): &(Tag, Tag)) -> Zeroizing<[u8; BLOCK]> {
        let start = (blocks - 1) * BLOCK;
        let rest = &msg[start..];
        let mut m = Zeroizing::new([0u8; BLOCK]);
        m[..rest.len()].copy_from_slice(rest);
        let k = if rest.len() == BLOCK {
            k1
        } else {
            m[rest.len()] = 0x80;
            k2
        };
        for (a, b) in m.iter_mut().zip(k.iter()) {
            *a ^= b;
        }
        m
    }

    /// The CMACs of independent messages, computed together: each round is one request with
    /// the next block of every message (and E_K(0^128) in the first round while the subkeys are
    /// unknown), so the requests are those of the longest message, not the sum.
    pub(crate) fn macs(&mut self, ecb: &mut Ecb<'_>, msgs: &[&[u8]]) -> Result<Vec<Tag>> {
        let mut st: Vec<Progress> = msgs
            .iter()
            .map(|m| Progress {
                chain: Zeroizing::new([0; BLOCK]),
                done: 0,
                blocks: m.len().div_ceil(BLOCK).max(1),
            })
            .collect();
        while st.iter().any(|p| p.done < p.blocks) {
            let mut input = Zeroizing::new(Vec::new());
            let asks_subkeys = self.subkeys.is_none();
            if asks_subkeys {
                input.extend_from_slice(&[0u8; BLOCK]);
            }
            let mut fed = Vec::new();
            for (i, (p, msg)) in st.iter().zip(msgs).enumerate() {
                if p.done == p.blocks {
                    continue;
                }
                let mut x = p.chain.clone();
                if p.done + 1 == p.blocks {
                    // The last block needs a subkey: it waits for the round that brings them.
                    let Some(keys) = &self.subkeys else { continue };
                    let m = Self::last_block(msg, p.blocks, keys);
                    for (a, b) in x.iter_mut().zip(m.iter()) {
                        *a ^= b;
                    }
                } else {
                    let m = &msg[p.done * BLOCK..(p.done + 1) * BLOCK];
                    for (a, b) in x.iter_mut().zip(m) {
                        *a ^= b;
                    }
                }
                input.extend_from_slice(&x[..]);
                fed.push(i);
            }
            let out = modes::ecb_checked(ecb, &input)?;
            let mut blocks = out.chunks_exact(BLOCK);
            if asks_subkeys {
                let l: [u8; BLOCK] = blocks
                    .next()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| Error::Internal("no E_K(0) block".into()))?;
                let l = Zeroizing::new(l);
                let k1 = Zeroizing::new(dbl(&l));
                let k2 = Zeroizing::new(dbl(&k1));
                self.subkeys = Some((k1, k2));
            }
            for (i, b) in fed.into_iter().zip(blocks) {
                st[i].chain.copy_from_slice(b);
                st[i].done += 1;
            }
        }
        Ok(st.into_iter().map(|p| p.chain).collect())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aes::cipher::{BlockEncrypt, KeyInit};

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// E_K of the `aes` crate, counting the requests and the blocks it answers.
    pub(crate) struct Fake {
        key: Vec<u8>,
        pub(crate) calls: usize,
        pub(crate) blocks: usize,
    }

    impl Fake {
        pub(crate) fn new(key: &[u8]) -> Fake {
            Fake {
                key: key.to_vec(),
                calls: 0,
                blocks: 0,
            }
        }
        pub(crate) fn ecb(&mut self) -> impl FnMut(&[u8]) -> Result<Vec<u8>> + '_ {
            move |blocks: &[u8]| {
                self.calls += 1;
                self.blocks += blocks.len() / 16;
                let mut out = blocks.to_vec();
                for b in out.chunks_exact_mut(16) {
                    let arr: [u8; 16] = (&*b).try_into().unwrap();
                    let mut blk = aes::Block::from(arr);
                    match self.key.len() {
                        16 => aes::Aes128::new_from_slice(&self.key)
                            .unwrap()
                            .encrypt_block(&mut blk),
                        24 => aes::Aes192::new_from_slice(&self.key)
                            .unwrap()
                            .encrypt_block(&mut blk),
                        _ => aes::Aes256::new_from_slice(&self.key)
                            .unwrap()
                            .encrypt_block(&mut blk),
                    }
                    b.copy_from_slice(&blk);
                }
                Ok(out)
            }
        }
    }

    const RFC4493_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
    const RFC4493_M: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
        30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";

    /// RFC 4493 §4: the subkeys and the four examples (0, 16, 40 and 64 bytes), with the
    /// requests each costs.
    #[test]
    fn cmac_matches_rfc_4493() {
        let key = hex(RFC4493_KEY);
        let m = hex(RFC4493_M);
        let mut f = Fake::new(&key);
        let mut c = Cmac::new();
        c.mac(&mut f.ecb(), b"").unwrap();
        let (k1, k2) = c.subkeys.as_ref().unwrap();
        assert_eq!(k1.to_vec(), hex("fbeed618357133667c85e08f7236a8de"));
        assert_eq!(k2.to_vec(), hex("f7ddac306ae266ccf90bc11ee46d513b"));
        for (len, tag, requests) in [
            (0, "bb1d6929e95937287fa37d129b756746", 2),
            (16, "070a16b46b4d4144f79bdd9dd04a287c", 2),
            (40, "dfa66747de9ae63030ca32611497c827", 3),
            (64, "51f0bebf7e3b9d92fc49741779363cfe", 4),
        ] {
            let mut f = Fake::new(&key);
            let got = mac(&mut f.ecb(), MacKind::Cmac, &m[..len], 16).unwrap();
            assert_eq!(*got, hex(tag), "{len} bytes");
            assert_eq!(f.calls, requests, "{len} bytes: requests");
            // CKM_AES_CMAC_GENERAL: the front of the tag.
            let mut f = Fake::new(&key);
            let short = mac(&mut f.ecb(), MacKind::Cmac, &m[..len], 4).unwrap();
            assert_eq!(*short, hex(tag)[..4]);
        }
    }

    /// Several messages together cost the requests of the longest, and each MAC is the one
    /// computed alone; known subkeys are not asked again.
    #[test]
    fn cmacs_in_lockstep_equal_single_ones() {
        let key = hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
        let m = hex(RFC4493_M);
        let msgs: Vec<&[u8]> = vec![&m[..0], &m[..16], &m[..17], &m[..40], &m[..64]];
        let mut f = Fake::new(&key);
        let mut c = Cmac::new();
        let together = c.macs(&mut f.ecb(), &msgs).unwrap();
        assert_eq!(f.calls, 4);
        for (msg, t) in msgs.iter().zip(&together) {
            let mut g = Fake::new(&key);
            assert_eq!(**t, *Cmac::new().mac(&mut g.ecb(), msg).unwrap());
        }
        // RFC 4493 has AES-128 only; SP 800-38B's AES-256 example 2 (16 bytes).
        assert_eq!(
            together[1].to_vec(),
            hex("28a7023f452e8f82bd4bf28d8c37c35c")
        );
        let calls = f.calls;
        c.mac(&mut f.ecb(), &m[..16]).unwrap();
        assert_eq!(
            f.calls - calls,
            1,
            "the subkeys are known: one block, one request"
        );
        assert!(c.macs(&mut f.ecb(), &[]).unwrap().is_empty());
    }

    /// CBC-MAC is the last block of the CBC encryption under a zero IV (SP 800-38A F.2.1's
    /// ciphertext with the IV set to zero is checked by the chaining itself here), zero-padded.
    #[test]
    fn cbc_mac_is_the_last_cbc_block_of_the_zero_padded_data() {
        let key = hex(RFC4493_KEY);
        let m = hex(RFC4493_M);
        let mut f = Fake::new(&key);
        let full = mac(&mut f.ecb(), MacKind::CbcMac, &m, 16).unwrap();
        assert_eq!(f.calls, 4, "one request per block");
        // By hand: C_i = E(P_i XOR C_{i-1}), C_0 = 0.
        let aes = aes::Aes128::new_from_slice(&key).unwrap();
        let mut c = [0u8; 16];
        for b in m.chunks(16) {
            for (x, y) in c.iter_mut().zip(b) {
                *x ^= y;
            }
            let mut blk = aes::Block::from(c);
            aes.encrypt_block(&mut blk);
            c.copy_from_slice(&blk);
        }
        assert_eq!(*full, c.to_vec());
        // 20 bytes are padded with zeros to 32; nothing is one zero block.
        let mut padded = m[..20].to_vec();
        padded.resize(32, 0);
        let mut f = Fake::new(&key);
        let short = mac(&mut f.ecb(), MacKind::CbcMac, &m[..20], 8).unwrap();
        let long = mac(&mut f.ecb(), MacKind::CbcMac, &padded, 16).unwrap();
        assert_eq!(*short, long[..8]);
        let empty = mac(&mut f.ecb(), MacKind::CbcMac, b"", 16).unwrap();
        let zero = mac(&mut f.ecb(), MacKind::CbcMac, &[0; 16], 16).unwrap();
        assert_eq!(*empty, *zero);
    }

    #[test]
    fn mechanisms_and_lengths() {
        let rv = |r: Result<(MacKind, usize)>| r.unwrap_err().rv();
        assert_eq!(
            aes_mac(CKM_AES_CMAC, &MechParams::None).unwrap(),
            (MacKind::Cmac, 16)
        );
        assert_eq!(
            aes_mac(CKM_AES_MAC, &MechParams::None).unwrap(),
            (MacKind::CbcMac, 8)
        );
        for n in [1, 8, 16] {
            assert_eq!(
                aes_mac(CKM_AES_CMAC_GENERAL, &MechParams::MacLen(n)).unwrap(),
                (MacKind::Cmac, n)
            );
            assert_eq!(
                aes_mac(CKM_AES_MAC_GENERAL, &MechParams::MacLen(n)).unwrap(),
                (MacKind::CbcMac, n)
            );
        }
        for p in [
            MechParams::MacLen(0),
            MechParams::MacLen(17),
            MechParams::None,
        ] {
            assert_eq!(
                rv(aes_mac(CKM_AES_CMAC_GENERAL, &p)),
                CKR_MECHANISM_PARAM_INVALID
            );
        }
        assert_eq!(
            rv(aes_mac(CKM_AES_CMAC, &MechParams::MacLen(16))),
            CKR_MECHANISM_PARAM_INVALID
        );
        assert_eq!(
            rv(aes_mac(CKM_SHA256_HMAC, &MechParams::None)),
            CKR_MECHANISM_INVALID
        );
        assert!(is_aes_mac(CKM_AES_MAC_GENERAL) && !is_aes_mac(CKM_AES_CBC));
    }

    /// The chaining values of [`Cmac::macs`] (the last is the MAC: a KDF's keying material)
    /// are zeroized when dropped, as the subkeys and the tags are.
    #[test]
    fn cmac_state_is_zeroized_on_drop() {
        assert!(std::mem::needs_drop::<Progress>());
        assert!(std::mem::needs_drop::<Tag>());
    }

    #[test]
    fn a_block_cipher_answering_the_wrong_length_is_an_error() {
        let mut short = |b: &[u8]| Ok(b[1..].to_vec());
        assert!(matches!(
            Cmac::new().mac(&mut short, b"abc"),
            Err(Error::BadResult(_))
        ));
    }
}
