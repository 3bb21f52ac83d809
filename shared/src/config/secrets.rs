//! The `[secrets]` and `[signing]` sections: where the sealing ring and the signing keys
//! come from, inline values masked whenever they are serialized.

use super::mask::MASK;
use secrecy::SecretString;
use serde::{Deserialize, Serialize, Serializer};
use std::path::PathBuf;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretSettings {
    /// File holding the sealing key ring (`netraven secrets init` writes one).
    pub key_file: Option<PathBuf>,
    /// The key ring itself, in the key file's format, instead of a file.
    #[serde(serialize_with = "mask_secret")]
    pub key: Option<SecretString>,
}

/// The Ed25519 keys that sign device tasks (the dispatcher) and results (workers), and the
/// public keys a role checks them with (`crate::signing`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigningSettings {
    /// This role's private signing keys (`netraven signing init` writes them): the
    /// dispatcher's and workers'. The aggregator needs none.
    pub key_file: Option<PathBuf>,
    /// The private keys themselves, in the key file's format, instead of a file.
    #[serde(serialize_with = "mask_secret")]
    pub key: Option<SecretString>,
    /// Public keys of the roles this one listens to (`netraven signing public` prints
    /// them): workers trust the dispatcher's, the aggregator the dispatcher's and workers'.
    pub trusted_keys_file: Option<PathBuf>,
    /// The public keys themselves, in the trusted-keys file's format.
    pub trusted_keys: Option<String>,
}

fn mask_secret<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some(MASK),
        None => s.serialize_none(),
    }
}
