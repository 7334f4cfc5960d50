//! The signing tools of the README's "Tools" table, each driven against an in-process emulator
//! and each result checked by something that does not go through the module: OpenSSH's own
//! verifier with an allowed-signers file made from the TSB's public key, `git verify-commit`,
//! the `openssl` CLI and library, `sbverify`, `openssl cms -verify`.
//!
//! Like tests/interop.rs, the module is never loaded into this process: every tool is a child
//! process that finds its configuration through `TSB_PKCS11_CONFIG`, so the tests run in
//! parallel threads. The module under test is the built one, or the installed package's when
//! `TSB_PKCS11_MODULE` is set (CI: see `.ci/run`); each test prints the version of the tools it
//! ran as `tool version: ...` lines.
//!
//! One test binary for all tools (one link instead of one per tool), one file per tool family.

#[path = "../common/mod.rs"]
mod common;

mod gnutls;
mod java;
mod nss;
mod package;
mod provider;
mod ssh;
mod uefi;
