//! `netraven secrets`: creating the sealing key ring and rotating it without an outage.
//!
//! A rotation is four steps, each safe to stop after:
//! 1. [`add_key`]: a new key at the end of the ring. It opens but does not seal yet.
//! 2. The workers pick it up: each polls its key file and reloads it when it changes, and
//!    reports the key ids it holds to Postgres (`worker_key_reports`).
//! 3. [`reseal`]: only when every running worker holds the new key, it becomes the first
//!    (sealing) key and every sealed value of every credential (password, enable secret, private key, key
//!    passphrase:
//!    [`SEALED_COLUMNS`]) is re-sealed under it in one transaction.
//! 4. [`retire`]: removes an old key, refused while a credential is still sealed with it or
//!    a job that may carry its secrets in flight is still open.
//!
//! [`rotate`] runs 1 to 3, waiting for the workers in between. The key file is rewritten
//! in place, keeping its owner and mode (`key_file::rewrite`).

mod key_file;
mod reseal;
mod retire;
mod rotate;
mod workers;

pub use key_file::{add_key, init, rewrite, write_private, Added};
pub use reseal::{reseal, Resealed};
pub use retire::{retire, Retired};
pub use rotate::{rotate, Rotated};
pub use workers::{running_workers, RunningWorker};

/// The columns of `credentials` that hold a value sealed with the key ring (each may be
/// NULL): `reseal` re-seals every one of them, `retire` checks every one of them. A new
/// sealed column is added here, and nowhere else in rotation.
pub const SEALED_COLUMNS: &[&str] = &[
    "sealed_secret",
    "sealed_enable",
    "sealed_key",
    "sealed_key_passphrase",
];
