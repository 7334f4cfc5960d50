//! The Securosys Transaction Security Broker (TSB) protocol: the one home of every fact that the
//! PKCS#11 module (client), the `tsb-emulator` (server) and `tsb-approve` (approver) share.
//!
//! Serde models of the JSON that crosses the wire, endpoint paths and their API-key roles,
//! algorithm names, policy validation, the `approvalToBeSigned` layout, curves and OIDs, and the
//! `errorCode` catalogue. Each fact names its Securosys source (repository and path) or says that
//! no public source confirms it; the short keys (S1, S2, S3, ...) are those of the project's
//! fidelity audit:
//!
//! | key | repository | what |
//! |---|---|---|
//! | S1 | `securosys-com/tsb-client-go` | the official Go client |
//! | S2 | `securosys-com/dev-securosys-docs` | the documentation source, release notes |
//! | S3 | `securosys-com/vault-code-executable-examples` | the TSB's DTOs, enums, errors |
//! | S4 | `securosys-com/hcvault-plugin-secrets-engine` | the Vault plugin (approver endpoints) |
//! | S5 | `securosys-com/fireblocks-external-key-store` | a Java client |
//! | S6 | `securosys-com/keycloak-securosys-simple-sign-provider` | a Java client with newer DTO copies |
//!
//! S3 paths are written relative to its `src/main/java/com/securosys/tee/` (for example
//! `dto/tsb/request/PagingDto.java`).
//!
//! The tests feed the real bodies from the seed (`tests/fixtures/`) through these types, so a field
//! name that all three programs got wrong the same way is caught. Field names follow the public TSB
//! DTOs (camelCase). Optional fields are skipped when absent so that requests look like the ones
//! Securosys' own clients send.

#![warn(missing_docs)]

pub mod algorithms;
pub mod approvals;
pub mod certificates;
pub mod curves;
pub mod errors;
pub mod key_types;
pub mod keys;
pub mod operations;
pub mod paths;
pub mod policy;
pub mod requests;
pub mod roles;
pub mod service;
pub mod symmetric;
pub mod tlv;
pub mod wrap;

pub use approvals::*;
pub use certificates::*;
pub use curves::{Curve, ED25519_OID};
pub use errors::{codes, ErrorBody};
pub use key_types::*;
pub use keys::*;
pub use operations::*;
pub use policy::*;
pub use requests::*;
pub use roles::{is_approval_task_path, role_for_path, Role, API_KEY_HEADER};
pub use service::*;
pub use symmetric::*;
pub use wrap::*;
