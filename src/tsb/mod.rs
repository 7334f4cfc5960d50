//! The TSB REST client: HTTP transport with auth, TLS, retries and logging ([`client`]), the read
//! limits ([`limits`]), typed endpoints ([`api`]), waiting for approvals ([`wait`]) and the
//! journal of requests shared by processes ([`journal`]). No PKCS#11 types in here.

pub mod api;
pub mod cancel;
pub mod client;
pub mod journal;
pub mod limits;
pub mod wait;

pub use client::{Client, ClientSettings};
