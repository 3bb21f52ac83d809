//! Checking: a message's signature and proof against the trusted keys.

use super::headers::SCHEME;
use super::merkle::{leaf, root_of, Hash};
use super::purpose::{signed_bytes, Issuer};
use super::rejection::Rejection;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::signature::{self, UnparsedPublicKey};
use std::collections::HashSet;
use std::sync::Mutex;

/// Roots a verifier remembers as signed before it starts afresh.
const REMEMBERED_ROOTS: usize = 4096;

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
