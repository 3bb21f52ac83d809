//! Signatures on what roles tell each other over the broker: the dispatcher signs every
//! device task, a worker signs every batch of results, and the reader checks the signature
//! over the exact bytes it received before it believes any of them.
//!
//! Why signatures (and not a re-read of Postgres): a task must be believed before a worker
//! unseals a secret for it, and the broker is not trusted — anyone with a broker account
//! can publish. Ed25519 separates who may sign from who may check: a worker holds the
//! dispatcher's public key only, so a compromised worker cannot make tasks, and checking
//! costs microseconds where a lookup costs a round trip. docs/security.md has the whole
//! threat model.
//!
//! One signature covers a group of up to [`GROUP`] messages: the dispatcher signs the root
//! of a Merkle tree over the group's bodies, and each message carries that signature
//! ([`SIGNATURE_HEADER`]: `ed25519 <key id> <base64 signature>`) and the path from its body
//! to the root ([`PROOF_HEADER`]: `<index> <base64 of the sibling hashes>`). A reader
//! hashes the body up the path and checks the signature over the root — once per group: a
//! root whose signature checked out is remembered. An Ed25519 signature and its check cost
//! tens of microseconds, a path of six SHA-256 steps one or two: per device the
//! signatures cost 6.9 µs in all, 0.4 % of what a device costs the fleet
//! (`netraven bench`, docs/performance.md). A message sent alone (a worker's results) is
//! a group of one, with no proof header.
//!
//! The tree is complete (the leaves padded to a power of two with a fixed empty hash) and
//! domain-separated (leaf `SHA-256(0x00 ‖ body)`, node `SHA-256(0x01 ‖ left ‖ right)`,
//! padding `SHA-256(0x02)`), so no inner node passes for a body. It is written here, not
//! taken from a Merkle crate, because that is all of it: the crates carry the leaf count
//! in every proof and hash inner nodes and leaves alike.
//!
//! The signed bytes are `netraven/<purpose>/v1` ‖ `\n` ‖ namespace ‖ `\n` ‖ root: a
//! signature over tasks never passes for results, nor in another namespace.
//!
//! Key files, one key a line, `#` starting a comment:
//! - private (`signing.key_file`): `<issuer> <id> <base64 of a 32-byte Ed25519 seed>`; the
//!   first key of an issuer signs, the others are kept so that their public halves stay
//!   trusted while a rotation rolls out;
//! - public (`signing.trusted_keys_file`): `<issuer> <id> <base64 of a 32-byte public key>`.
//!
//! The issuer is `dispatcher` or `worker`. A role also trusts the public halves of its own
//! private keys, so one file can serve every role on a development machine.
//!
//! Files: `headers.rs` (what a signed message carries), `merkle.rs` (the tree, its proofs
//! and their check), `purpose.rs` ([`Issuer`], [`Purpose`] and the signed bytes), `keys.rs`
//! ([`SigningKeys`] and the key files' format), `trusted.rs` ([`TrustedKeys`]), `signer.rs`
//! ([`Signer`]), `verifier.rs` ([`Verifier`]) and `rejection.rs` ([`Rejection`]).

mod headers;
mod keys;
mod merkle;
mod purpose;
mod rejection;
mod signer;
mod trusted;
mod verifier;

#[cfg(test)]
mod tests;

pub use headers::{PROOF_HEADER, REFUSED_TASK, SIGNATURE_HEADER};
pub use keys::SigningKeys;
pub use merkle::GROUP;
pub use purpose::{Issuer, Purpose};
pub use rejection::Rejection;
pub use signer::{SignedGroup, Signer};
pub use trusted::TrustedKeys;
pub use verifier::Verifier;
