//! C_GenerateRandom (the HSM's generator, through the TSB) and C_SeedRandom.

use super::session::Session;
use super::Module;
use crate::error::{Error, Result};
use cryptoki_sys::*;

/// The most random bytes one C_GenerateRandom returns.
pub(crate) const MAX_RANDOM: usize = 1024 * 1024;

impl Module {
    /// C_GenerateRandom: `n` bytes from the HSM.
    pub(crate) fn generate_random(&self, session: &Session, n: usize) -> Result<Vec<u8>> {
        if n > MAX_RANDOM {
            return Err(Error::ck(
                CKR_DATA_LEN_RANGE,
                "at most 1 MiB of random data per call",
            ));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let slot = self.slot_of(session);
        slot.check_access()?;
        slot.tsb.random(n)
    }

    /// C_SeedRandom: the HSM's generator takes no seed.
    pub(crate) fn seed_random(&self, _session: &Session, _seed: &[u8]) -> Result<()> {
        Err(Error::ck(
            CKR_RANDOM_SEED_NOT_SUPPORTED,
            "the HSM's generator takes no seed",
        ))
    }
}
