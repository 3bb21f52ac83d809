//! Signing: the signer of a purpose from a role's keys, one signature over a group of
//! messages, and each message's proof.

use super::headers::SCHEME;
use super::keys::{PrivateKey, SigningKeys};
use super::merkle::{leaf, tree, Hash, GROUP};
use super::purpose::{signed_bytes, Purpose};
use crate::{Error, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::fmt;
use std::sync::Arc;

/// Signs one kind of message in one namespace.
#[derive(Clone)]
pub struct Signer {
    pub(super) context: Vec<u8>,
    pub(super) key: Arc<PrivateKey>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("key", &self.key.id).finish()
    }
}

/// What a group of messages carries: one signature, and a proof for each message.
#[derive(Debug, Clone)]
pub struct SignedGroup {
    /// The value of [`SIGNATURE_HEADER`](super::SIGNATURE_HEADER), the same on every message of the group.
    pub signature: String,
    /// The value of [`PROOF_HEADER`](super::PROOF_HEADER) for each message, in the order given.
    pub proofs: Vec<String>,
}

impl Signer {
    /// The value of [`SIGNATURE_HEADER`](super::SIGNATURE_HEADER) for a message sent alone (a group of one, which
    /// needs no proof).
    pub fn sign(&self, body: &[u8]) -> String {
        self.sign_root(&leaf(body))
    }

    /// One signature over `bodies` (at most [`GROUP`]; more are signed in several groups
    /// by the caller) and each body's proof.
    pub fn sign_group(&self, bodies: &[&[u8]]) -> SignedGroup {
        debug_assert!(bodies.len() <= GROUP);
        let (root, proofs) = tree(bodies);
        SignedGroup {
            signature: self.sign_root(&root),
            proofs,
        }
    }

    fn sign_root(&self, root: &Hash) -> String {
        let sig = self.key.pair.sign(&signed_bytes(&self.context, root));
        format!("{SCHEME} {} {}", self.key.id, B64.encode(sig.as_ref()))
    }
}

impl SigningKeys {
    /// The signer of `purpose` in `namespace`: the first key of the purpose's issuer.
    pub fn signer(&self, purpose: Purpose, namespace: &str) -> Result<Signer> {
        let issuer = purpose.issuer();
        let key = self
            .keys
            .iter()
            .find(|k| k.issuer == issuer)
            .ok_or_else(|| Error::Key(format!("the signing keys hold no {issuer} key")))?;
        Ok(Signer {
            context: purpose.context(namespace),
            key: key.clone(),
        })
    }
}
