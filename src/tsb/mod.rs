//! The TSB REST client: HTTP transport with auth, TLS, retries and logging ([`client`]), typed
//! endpoints ([`api`]), and waiting for approvals ([`wait`]). No PKCS#11 types in here.

pub mod api;
pub mod client;
pub mod limits;
pub mod wait;

pub use client::{Client, ClientSettings};
