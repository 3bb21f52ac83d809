//! `netraven device host-key pin`, `forget` and `list`: host keys pinned by an operator, so
//! that `strict` host key checking can be the policy in production.
//!
//! A pin is one row of `host_keys` (migration V6 says where it came from): an OpenSSH
//! public key line, taken from a `known_hosts` file, or a SHA-256 fingerprint. The worker
//! compares a key pin key to key, and a fingerprint pin with the fingerprint of the key the
//! device presents, in the handshake, before any secret is sent.
//!
//! `known_hosts` files are parsed with `ssh-key`'s parser (the crate russh reads keys
//! with); matching an entry to a device follows OpenSSH: `host` for port 22 and
//! `[host]:port` otherwise, comma-separated patterns with `*` and `?`, a `!pattern` that
//! excludes, and hashed `|1|salt|hash` entries (HMAC-SHA1 of the name). Of the markers,
//! `@revoked` keys are never pinned, and `@cert-authority` entries are ignored (the worker
//! does not accept host certificates), both said in the result. A line that does not parse
//! is an error naming it: a revocation we could not read must not be skipped.

mod known_hosts;
mod list;
mod pin;

pub use known_hosts::{choose_from_known_hosts, parse_fingerprint, Chosen};
pub use list::{list, ListScope, PinRow};
pub use pin::{forget, pin, PinChange, PinFrom};
