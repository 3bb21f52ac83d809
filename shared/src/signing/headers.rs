//! What a signed message carries: its AMQP headers and the signature scheme they name.

/// The AMQP header that carries the signature over a message's group.
pub const SIGNATURE_HEADER: &str = "x-netraven-signature";
/// The AMQP header that carries a message's path to its group's signed root.
pub const PROOF_HEADER: &str = "x-netraven-proof";
/// How a worker's dead-letter reason begins when it refuses a task for its signature.
pub const REFUSED_TASK: &str = "device task refused";
/// The scheme every signature header names first.
pub(super) const SCHEME: &str = "ed25519";
