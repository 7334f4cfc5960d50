//! tsb-emulator: a local Securosys TSB.
pub mod crypto;
pub mod x509;
