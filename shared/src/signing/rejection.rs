//! Why a message's signature was not accepted, and the metric that counts it.

use super::headers::{PROOF_HEADER, SCHEME, SIGNATURE_HEADER};
use super::purpose::Issuer;

/// Why a message's signature was not accepted. The text never holds key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("unsigned: the message has no {SIGNATURE_HEADER} header")]
    Unsigned,
    #[error(
        "the {SIGNATURE_HEADER} header is not `{SCHEME} <key id> <base64 signature>`, or the \
         {PROOF_HEADER} header not `<index> <base64 hashes>`"
    )]
    Malformed,
    #[error("signed with key {0:?}, which is not a trusted {1} key")]
    UnknownKey(String, Issuer),
    #[error("the signature of key {0:?} does not match the message (altered or forged)")]
    BadSignature(String),
}

impl Rejection {
    /// Every value [`Rejection::label`] takes.
    pub const LABELS: [&'static str; 4] = [
        "unsigned",
        "malformed_signature",
        "unknown_key",
        "bad_signature",
    ];

    /// Exports `netraven_messages_rejected_total` at zero for every reason on `queue`, so
    /// that a dashboard and an alert see the series before the first forgery.
    pub fn export_zero(queue: &str) {
        let counter = &crate::telemetry::metrics::get().messages_rejected_total;
        for reason in Rejection::LABELS {
            counter.with_label_values(&[queue, reason]);
        }
    }

    /// A bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Rejection::Unsigned => "unsigned",
            Rejection::Malformed => "malformed_signature",
            Rejection::UnknownKey(..) => "unknown_key",
            Rejection::BadSignature(_) => "bad_signature",
        }
    }
}
