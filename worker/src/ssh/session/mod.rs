//! [`Session`]: one SSH connection to one device, with a timeout around every phase.
//!
//! Files: `connect.rs` (connecting, the handshake, the session's state, closing),
//! `auth.rs` (keys, passwords and keyboard-interactive, on one connection) and `exec.rs`
//! (commands on exec channels).

mod auth;
mod connect;
mod exec;

pub use auth::OpenedCredential;
pub use connect::Session;
pub(super) use connect::CLOSE_GRACE;
