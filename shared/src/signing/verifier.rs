//! Checking: a message's signature and proof against the trusted keys, and why a message
//! was refused.

use super::headers::{PROOF_HEADER, SCHEME, SIGNATURE_HEADER};
use super::merkle::{leaf, root_of, Hash};
use super::purpose::{signed_bytes, Issuer};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::signature::{self, UnparsedPublicKey};
use std::collections::HashSet;
use std::sync::Mutex;

/// Roots a verifier remembers as signed before it starts afresh.
const REMEMBERED_ROOTS: usize = 4096;

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

/// Checks one kind of message in one namespace, remembering the group roots whose
/// signature checked out.
#[derive(Debug)]
pub struct Verifier {
    pub(super) issuer: Issuer,
    pub(super) context: Vec<u8>,
    pub(super) keys: Vec<(String, Vec<u8>)>,
    /// (key id, root) pairs already checked: the rest of a group costs hashes only.
    pub(super) signed_roots: Mutex<HashSet<(String, Hash)>>,
}

impl Verifier {
    /// Accepts `body` only with a valid signature of a trusted key of the right issuer
    /// over the root its `proof` leads to (no proof: the body alone is the group).
    pub fn verify(
        &self,
        body: &[u8],
        signature: Option<&str>,
        proof: Option<&str>,
    ) -> Result<(), Rejection> {
        let header = signature.ok_or(Rejection::Unsigned)?;
        let mut parts = header.split(' ');
        let (Some(SCHEME), Some(id), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Rejection::Malformed);
        };
        let Some((_, key)) = self.keys.iter().find(|(k, _)| k == id) else {
            // The id is the sender's words: bounded before it reaches a log or a header.
            let shown: String = id.chars().take(64).collect();
            return Err(Rejection::UnknownKey(shown, self.issuer));
        };
        let root = root_of(leaf(body), proof)?;
        let remembered = (id.to_string(), root);
        if self.remembers(&remembered) {
            return Ok(());
        }
        let sig = B64.decode(sig).map_err(|_| Rejection::Malformed)?;
        UnparsedPublicKey::new(&signature::ED25519, key)
            .verify(&signed_bytes(&self.context, &root), &sig)
            .map_err(|_| Rejection::BadSignature(id.to_string()))?;
        let mut roots = self.signed_roots.lock().unwrap_or_else(|p| p.into_inner());
        if roots.len() >= REMEMBERED_ROOTS {
            roots.clear();
        }
        roots.insert(remembered);
        Ok(())
    }

    fn remembers(&self, root: &(String, Hash)) -> bool {
        self.signed_roots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(root)
    }
}
