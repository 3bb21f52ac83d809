//! The key ring that seals device secrets with ChaCha20-Poly1305.
//!
//! A sealed secret is `nrv1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`. The key ring holds
//! one or more keys; the first seals, every key opens, so a rotation can re-seal under a new
//! key while old ciphertexts still open. The key-file format is one key a line,
//! `<id> <base64 of 32 bytes>`, `#` starting a comment.
//!
//! [`ring_file`] edits that text for the rotation steps (`netraven secrets add-key`,
//! `reseal`, `retire`): a new key goes last (it opens but does not seal yet), resealing
//! moves it first, retiring removes a key; comments and the other lines stay as they were.
//!
//! Files: `key_ring.rs` ([`KeyRing`]: parse, seal, open) and `ring_file.rs` (the edits).

mod key_ring;
pub mod ring_file;

#[cfg(test)]
mod tests;

pub use key_ring::{sealed_key_id, KeyRing};
