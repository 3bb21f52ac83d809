//! The public keys a role believes, and the verifiers built from them.

use super::keys::{lines, read, SigningKeys};
use super::purpose::{Issuer, Purpose};
use super::verifier::Verifier;
use crate::config::SigningSettings;
use crate::{Error, Result};
use ring::signature::KeyPair;
use std::collections::HashSet;
use std::fmt;
use std::sync::Mutex;

/// Public keys a role believes, by issuer.
#[derive(Clone, Default)]
pub struct TrustedKeys {
    pub(super) keys: Vec<(Issuer, String, Vec<u8>)>,
}

impl fmt::Debug for TrustedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self
            .keys
            .iter()
            .map(|(issuer, id, _)| format!("{issuer} {id}"))
            .collect();
        f.debug_struct("TrustedKeys").field("keys", &ids).finish()
    }
}

impl TrustedKeys {
    /// Parses the trusted-keys file's format.
    pub fn parse(text: &str) -> Result<TrustedKeys> {
        Ok(TrustedKeys {
            keys: lines(text, "trusted keys")?
                .into_iter()
                .map(|l| (l.issuer, l.id.to_string(), l.material))
                .collect(),
        })
    }

    /// `signing.trusted_keys` or `signing.trusted_keys_file`, plus the public halves of the
    /// role's own private keys.
    pub fn from_settings(s: &SigningSettings) -> Result<TrustedKeys> {
        let mut trusted = match (&s.trusted_keys, &s.trusted_keys_file) {
            (Some(text), _) => TrustedKeys::parse(text)?,
            (None, Some(path)) => TrustedKeys::parse(&read(path)?)
                .map_err(|e| Error::Key(format!("{}: {e}", path.display())))?,
            (None, None) => TrustedKeys::default(),
        };
        if let Some(own) = SigningKeys::from_settings(s)? {
            for k in &own.keys {
                if !trusted.keys.iter().any(|(_, id, _)| *id == k.id) {
                    let public = k.pair.public_key().as_ref().to_vec();
                    trusted.keys.push((k.issuer, k.id.clone(), public));
                }
            }
        }
        Ok(trusted)
    }

    /// The verifier of `purpose` in `namespace`; fails when no key of its issuer is trusted,
    /// since a role that could verify nothing would refuse every message.
    pub fn verifier(&self, purpose: Purpose, namespace: &str) -> Result<Verifier> {
        let issuer = purpose.issuer();
        let keys: Vec<(String, Vec<u8>)> = self
            .keys
            .iter()
            .filter(|(i, _, _)| *i == issuer)
            .map(|(_, id, key)| (id.clone(), key.clone()))
            .collect();
        if keys.is_empty() {
            return Err(Error::Key(format!(
                "no trusted {issuer} key: add its public key to signing.trusted_keys_file \
                 (`netraven signing public --key-file <the {issuer}'s key file>` prints it)"
            )));
        }
        Ok(Verifier {
            issuer,
            context: purpose.context(namespace),
            keys,
            signed_roots: Mutex::new(HashSet::new()),
        })
    }
}
