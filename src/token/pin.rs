//! PINs: the user and SO PINs of a slot are only ever kept as salted hashes, PBKDF2-HMAC-SHA256
//! written as PHC strings (`$pbkdf2-sha256$i=600000$<salt>$<hash>`, salt and hash in the PHC's
//! unpadded base64), the format of Python's passlib and of `scripts/tsb-pin-hash`. A hash comes
//! from the configuration (`user_pin`, `so_pin`) or from the slot's `state_file`, where
//! C_InitPIN and C_SetPIN write the PINs they set (600 000 iterations, OWASP's 2023 figure for
//! PBKDF2-HMAC-SHA256). A PIN is compared in constant time and never logged or stored in the
//! clear; the PIN bytes given by the caller are wiped after use by [`crate::config::Secret`]'s
//! owner, the C caller.

use crate::error::{Error, Result};
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine as _;
use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use std::path::Path;
use subtle::ConstantTimeEq;

/// Iterations of hashes this module writes. The module's own unit tests use the minimum: the
/// generic PBKDF2 code is compiled into this crate, unoptimized in test builds, where 600 000
/// rounds take seconds per hash.
const ITERATIONS: u32 = if cfg!(test) { MIN_ITERATIONS } else { 600_000 };
/// Fewest iterations accepted in a configured hash (below this a hash is too cheap to guess).
pub(crate) const MIN_ITERATIONS: u32 = 1_000;
/// Shortest and longest PIN C_InitPIN and C_SetPIN accept (C_GetTokenInfo's ulMinPinLen and
/// ulMaxPinLen on slots with PINs).
pub(crate) const MIN_PIN_LEN: usize = 4;
pub(crate) const MAX_PIN_LEN: usize = 255;

/// A parsed PHC string.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PinHash {
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl std::fmt::Debug for PinHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PinHash(i={})", self.iterations)
    }
}

impl PinHash {
    /// Parse `$pbkdf2-sha256$i=N$salt$hash` (an `l=` parameter is allowed and ignored: the
    /// hash's length is the stored hash's).
    pub(crate) fn parse(phc: &str) -> std::result::Result<PinHash, String> {
        let parts: Vec<&str> = phc.trim().split('$').collect();
        let [empty, id, params, salt, hash] = parts.as_slice() else {
            return Err("not a PHC string $pbkdf2-sha256$i=N$salt$hash".into());
        };
        if !empty.is_empty() || *id != "pbkdf2-sha256" {
            return Err("only $pbkdf2-sha256$ hashes are supported".into());
        }
        let mut iterations = None;
        for p in params.split(',') {
            match p.split_once('=') {
                Some(("i", n)) => iterations = n.parse::<u32>().ok(),
                Some(("l", _)) => {}
                _ => return Err(format!("unknown parameter {p:?}")),
            }
        }
        let iterations = iterations.ok_or("the i= parameter (iterations) is missing")?;
        if iterations < MIN_ITERATIONS {
            return Err(format!("at least {MIN_ITERATIONS} iterations are required"));
        }
        let dec = |s: &str, what: &str| {
            B64.decode(s.trim_end_matches('='))
                .map_err(|_| format!("the {what} is not base64"))
        };
        let salt = dec(salt, "salt")?;
        let hash = dec(hash, "hash")?;
        if salt.len() < 8 || hash.len() < 16 {
            return Err("the salt (8 bytes or more) or the hash (16 or more) is too short".into());
        }
        Ok(PinHash {
            iterations,
            salt,
            hash,
        })
    }

    /// A new hash of `pin` with a random salt.
    pub(crate) fn new(pin: &[u8]) -> PinHash {
        let mut salt = vec![0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
        let hash = derive(pin, &salt, ITERATIONS, 32);
        PinHash {
            iterations: ITERATIONS,
            salt,
            hash,
        }
    }

    /// Whether `pin` is the PIN of this hash (constant-time comparison).
    pub(crate) fn verify(&self, pin: &[u8]) -> bool {
        let got = derive(pin, &self.salt, self.iterations, self.hash.len());
        got.ct_eq(&self.hash).into()
    }

    /// The PHC string.
    pub(crate) fn to_phc(&self) -> String {
        format!(
            "$pbkdf2-sha256$i={}${}${}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(&self.hash)
        )
    }
}

fn derive(pin: &[u8], salt: &[u8], iterations: u32, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pin, salt, iterations, &mut out);
    out
}

/// CKR_PIN_LEN_RANGE for a PIN C_InitPIN or C_SetPIN would set outside the limits.
pub(crate) fn check_new_pin(pin: &[u8]) -> Result<()> {
    if !(MIN_PIN_LEN..=MAX_PIN_LEN).contains(&pin.len()) {
        return Err(Error::ck(
            CKR_PIN_LEN_RANGE,
            format!("a PIN must have {MIN_PIN_LEN} to {MAX_PIN_LEN} bytes"),
        ));
    }
    Ok(())
}

/// What C_InitToken, C_InitPIN and C_SetPIN change, kept in the slot's `state_file` (JSON,
/// written to a temporary file and renamed, mode 0600): PIN hashes that replace the configured
/// ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct SlotState {
    /// The user PIN set by C_InitPIN or C_SetPIN (None after C_InitToken: not initialized).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_pin: Option<String>,
    /// C_InitToken ran: the configured `user_pin` no longer applies (the user PIN is
    /// `user_pin` above, or none yet).
    #[serde(default)]
    pub(crate) initialized: bool,
    /// The SO PIN set by C_SetPIN in an SO session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) so_pin: Option<String>,
}

impl SlotState {
    /// Read the state file (a missing file is the empty state).
    pub(crate) fn load(path: &Path) -> Result<SlotState> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| Error::Config(format!("state_file {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SlotState::default()),
            Err(e) => Err(Error::Config(format!("state_file {}: {e}", path.display()))),
        }
    }

    /// Write the state file atomically.
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let fail = |e: std::io::Error| {
            Error::ck(
                CKR_DEVICE_ERROR,
                format!("cannot write state_file {}: {e}", path.display()),
            )
        };
        let text = serde_json::to_vec_pretty(self).map_err(|e| Error::Internal(e.to_string()))?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(fail)?;
        f.write_all(&text)
            .and_then(|_| f.sync_all())
            .map_err(fail)?;
        std::fs::rename(&tmp, path).map_err(fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phc_round_trip_and_verify() {
        let h = PinHash {
            iterations: MIN_ITERATIONS,
            salt: b"saltsalt".to_vec(),
            hash: derive(b"fedcba", b"saltsalt", MIN_ITERATIONS, 32),
        };
        let phc = h.to_phc();
        let back = PinHash::parse(&phc).unwrap();
        assert_eq!(back, h);
        assert!(back.verify(b"fedcba"));
        assert!(!back.verify(b"fedcbb"));
        assert!(!back.verify(b""));
    }

    #[test]
    fn a_known_vector_of_the_hash_script() {
        // scripts/tsb-pin-hash --iterations 1000 --salt-hex 000102030405060708090a0b0c0d0e0f abcdef
        // (Python's hashlib.pbkdf2_hmac, an implementation independent of this one).
        let phc = "$pbkdf2-sha256$i=1000$AAECAwQFBgcICQoLDA0ODw$Ua2pu8ThDaHahyByWftH/50o+pA9TbWAZ3KIK02RoNc";
        let h = PinHash::parse(phc).unwrap();
        assert!(h.verify(b"abcdef"));
        assert!(!h.verify(b"abcdeg"));
    }

    #[test]
    fn bad_hashes_are_refused() {
        for bad in [
            "",
            "abcdef",
            "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$pbkdf2-sha256$i=10$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$pbkdf2-sha256$x=10$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$pbkdf2-sha256$i=1000$!!$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            assert!(PinHash::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_hashes_verify_and_differ() {
        let a = PinHash::new(b"1234");
        assert!(a.verify(b"1234"));
        assert_ne!(a.to_phc(), PinHash::new(b"1234").to_phc(), "random salt");
        assert_eq!(check_new_pin(b"").unwrap_err().rv(), CKR_PIN_LEN_RANGE);
        assert!(check_new_pin(b"1234").is_ok());
    }

    #[test]
    fn state_file_round_trip() {
        let dir = std::env::temp_dir().join(format!("tsb-pin-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("state.json");
        let _ = std::fs::remove_file(&p);
        assert_eq!(SlotState::load(&p).unwrap(), SlotState::default());
        let s = SlotState {
            user_pin: Some(PinHash::new(b"1234").to_phc()),
            initialized: true,
            so_pin: None,
        };
        s.save(&p).unwrap();
        assert_eq!(SlotState::load(&p).unwrap(), s);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
