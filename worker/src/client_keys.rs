//! SSH private keys of key credentials: decoding them (with russh's decoders: OpenSSH,
//! PEM as PKCS#1 or SEC1, PKCS#8, encrypted or not), refusing what the fleet does not sign
//! with (DSA, RSA under 2048 bits), and keeping the decoded keys of a worker in memory.
//!
//! Decrypting a passphrase-protected OpenSSH key runs bcrypt-pbkdf, on purpose slow (a
//! tenth of a second and more). A job over 10,000 devices that share one key credential
//! must not pay it 10,000 times: [`ClientKeys`] keeps each decoded key, keyed by its
//! sealed text, so a worker decrypts a key once, and devices that need it at the same time
//! wait for the one decoding. The cache is bounded ([`DEFAULT_CAPACITY`] keys; the oldest
//! goes first). A decoded key is an `ssh_key::PrivateKey`, whose private parts are zeroized
//! when it is dropped; the key's text and passphrase are opened as `SecretString`s
//! (zeroized too) and dropped as soon as the key is decoded. Nothing of a key reaches a
//! log or an error: errors say what is wrong, never what the key holds.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use russh::keys::{Algorithm, HashAlg, PrivateKey};
use secrecy::ExposeSecret;
use tokio::sync::OnceCell;

use crate::keys::Keys;
use crate::ssh::OpenedCredential;
use netraven_shared::messages::TaskCredential;

/// How many decoded keys a worker keeps.
pub const DEFAULT_CAPACITY: usize = 256;

/// The smallest RSA modulus accepted, in bits (NIST SP 800-131A; OpenSSH refuses less
/// than 1024 and warns under 2048).
pub const MIN_RSA_BITS: u32 = 2048;

/// Why a key cannot be used. The words name the problem, never the key's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    #[error("not a private key (give an OpenSSH, PEM or PKCS#8 private key)")]
    NotAKey,
    #[error("the key is encrypted: give its passphrase")]
    NeedsPassphrase,
    #[error("the passphrase does not decrypt the key (or the key is damaged)")]
    WrongPassphrase,
    #[error("the key cannot be decoded: it is damaged or in a format not supported")]
    Undecodable,
    #[error("{0} keys are not supported (Ed25519, ECDSA and RSA of 2048 bits or more are)")]
    Unsupported(String),
    #[error("RSA keys of {0} bits are too weak (2048 bits at least)")]
    WeakRsa(u32),
}

/// Decodes a private key's text with its passphrase, and checks that the fleet can sign
/// with it: Ed25519, ECDSA (P-256, P-384, P-521), or RSA of [`MIN_RSA_BITS`] or more.
pub fn decode(text: &str, passphrase: Option<&str>) -> Result<PrivateKey, KeyProblem> {
    const BEGINS: [&str; 5] = [
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----BEGIN EC PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----",
    ];
    if text.contains("-----BEGIN DSA PRIVATE KEY-----") {
        return Err(KeyProblem::Unsupported("DSA".into()));
    }
    if !text.lines().any(|l| BEGINS.contains(&l.trim_end())) {
        return Err(KeyProblem::NotAKey);
    }
    let key = match russh::keys::decode_secret_key(text, passphrase) {
        Ok(key) => key,
        Err(russh::keys::Error::KeyIsEncrypted) => {
            return Err(if passphrase.is_some() {
                KeyProblem::WrongPassphrase
            } else {
                KeyProblem::NeedsPassphrase
            })
        }
        Err(russh::keys::Error::UnsupportedKeyType {
            key_type_string, ..
        }) => return Err(KeyProblem::Unsupported(key_type_string)),
        Err(_) if looks_encrypted(text) => {
            return Err(if passphrase.is_some() {
                KeyProblem::WrongPassphrase
            } else {
                KeyProblem::NeedsPassphrase
            })
        }
        Err(_) => return Err(KeyProblem::Undecodable),
    };
    // An OpenSSH key decoded without its passphrase comes back still encrypted.
    if key.is_encrypted() {
        return Err(if passphrase.is_some() {
            KeyProblem::WrongPassphrase
        } else {
            KeyProblem::NeedsPassphrase
        });
    }
    match key.algorithm() {
        Algorithm::Ed25519 | Algorithm::Ecdsa { .. } => Ok(key),
        Algorithm::Rsa { .. } => {
            let bits = key
                .key_data()
                .rsa()
                .map_or(0, |rsa| rsa.public().key_size());
            if bits < MIN_RSA_BITS {
                Err(KeyProblem::WeakRsa(bits))
            } else {
                Ok(key)
            }
        }
        Algorithm::Dsa => Err(KeyProblem::Unsupported("DSA".into())),
        other => Err(KeyProblem::Unsupported(other.as_str().to_string())),
    }
}

/// Whether a key's text says it is encrypted (so that a failure to decode it with a
/// passphrase is the passphrase's).
fn looks_encrypted(text: &str) -> bool {
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
    {
        return true;
    }
    // An OpenSSH key says in clear whether it is encrypted.
    PrivateKey::from_openssh(text).is_ok_and(|k| k.is_encrypted())
}

/// The key's public identity, for display: `ssh-ed25519 SHA256:...`.
pub fn fingerprint(key: &PrivateKey) -> String {
    format!(
        "{} {}",
        key.algorithm().as_str(),
        key.fingerprint(HashAlg::Sha256)
    )
}

type Decoded = Result<Arc<PrivateKey>, KeyProblem>;

/// A worker's decoded keys, keyed by their sealed text (and their passphrase's), bounded.
pub struct ClientKeys {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<String, Arc<OnceCell<Decoded>>>,
    /// Cache keys, oldest first.
    order: VecDeque<String>,
    decodes: u64,
}

/// Why a credential's key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key ring cannot open the sealed text.
    #[error(transparent)]
    Open(#[from] netraven_shared::Error),
    /// The opened text is not a key the worker can use.
    #[error(transparent)]
    Key(#[from] KeyProblem),
}

impl Default for ClientKeys {
    fn default() -> Self {
        ClientKeys::new(DEFAULT_CAPACITY)
    }
}

impl ClientKeys {
    pub fn new(capacity: usize) -> ClientKeys {
        ClientKeys {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The key sealed as `sealed_key` (with the passphrase sealed as `sealed_passphrase`),
    /// decoded once per worker: later calls, and calls made while it decodes, get the
    /// same key. A key that cannot be decoded is remembered as such; a sealed text the
    /// ring cannot open is not (a newer ring may open it).
    pub async fn get(
        &self,
        keys: &Keys,
        sealed_key: &str,
        sealed_passphrase: Option<&str>,
    ) -> Result<Arc<PrivateKey>, KeyError> {
        let id = format!("{sealed_key}\n{}", sealed_passphrase.unwrap_or(""));
        let cell = self.slot(id);
        let decoded = cell
            .get_or_try_init(|| async {
                let text = keys.open(sealed_key)?;
                let passphrase = sealed_passphrase.map(|p| keys.open(p)).transpose()?;
                self.lock().decodes += 1;
                // bcrypt-pbkdf and RSA checks: off the async threads.
                let decoded = tokio::task::spawn_blocking(move || {
                    decode(
                        text.expose_secret(),
                        passphrase.as_ref().map(|p| p.expose_secret()),
                    )
                    .map(Arc::new)
                })
                .await
                .unwrap_or(Err(KeyProblem::Undecodable));
                Ok::<Decoded, KeyError>(decoded)
            })
            .await?;
        Ok(decoded.clone()?)
    }

    /// How many keys were decoded so far (a key decoded once however many devices use it).
    pub fn decodes(&self) -> u64 {
        self.lock().decodes
    }

    /// How many keys are kept now.
    pub fn len(&self) -> usize {
        self.lock().slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slot(&self, id: String) -> Arc<OnceCell<Decoded>> {
        let mut inner = self.lock();
        if let Some(cell) = inner.slots.get(&id) {
            return cell.clone();
        }
        while inner.slots.len() >= self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.slots.remove(&oldest);
        }
        let cell = Arc::new(OnceCell::new());
        inner.slots.insert(id.clone(), cell.clone());
        inner.order.push_back(id);
        cell
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Opens a task's credential in memory: its sealed password with the key ring, its private
/// key from the worker's decoded keys. The one way a worker opens a login, for a device
/// and for a jump host alike.
#[derive(Clone, Copy)]
pub struct Opener<'a> {
    pub keys: &'a Keys,
    pub client_keys: &'a ClientKeys,
}

impl Opener<'_> {
    /// A key that cannot be used leaves the password to try, if there is one; the error
    /// names the problem, never a secret.
    pub async fn open(&self, credential: &TaskCredential) -> Result<OpenedCredential, String> {
        let password = credential
            .sealed_secret
            .as_deref()
            .map(|sealed| self.keys.open(sealed))
            .transpose()
            .map_err(|e| e.to_string())?;
        let key = match &credential.sealed_key {
            None => None,
            Some(sealed) => {
                let passphrase = credential.sealed_key_passphrase.as_deref();
                match self.client_keys.get(self.keys, sealed, passphrase).await {
                    Ok(key) => Some(key),
                    Err(e) if password.is_some() => {
                        tracing::warn!(credential.id = credential.id, error = %e, "private key unusable: the password alone is tried");
                        None
                    }
                    Err(e) => return Err(format!("private key unusable: {e}")),
                }
            }
        };
        Ok(OpenedCredential {
            username: credential.username.clone(),
            key,
            password,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A throwaway Ed25519 key made for this test with `ssh-keygen -t ed25519 -N ''`.
    const ED25519: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACD0HUO6ccKY3RpaTm94Y6Ao4DAPP7CWHE1uqRdRaGYWZgAAAJj/o53+/6Od
/gAAAAtzc2gtZWQyNTUxOQAAACD0HUO6ccKY3RpaTm94Y6Ao4DAPP7CWHE1uqRdRaGYWZg
AAAEB2MfBR0B6z6A8tIcawTS9WDxkJXyqiSfNjkhS7S5oktfQdQ7pxwpjdGlpOb3hjoCjg
MA8/sJYcTW6pF1FoZhZmAAAADmtleXMtdW5pdC10ZXN0AQIDBAUGBw==
-----END OPENSSH PRIVATE KEY-----
";

    #[test]
    fn what_is_not_a_key_is_named_without_its_content() {
        let e = decode("hunter2-not-a-key", None).expect_err("refused");
        assert_eq!(e, KeyProblem::NotAKey);
        assert!(!e.to_string().contains("hunter2"));
        let dsa = "-----BEGIN DSA PRIVATE KEY-----\nAAAA\n-----END DSA PRIVATE KEY-----\n";
        assert_eq!(
            decode(dsa, None).expect_err("refused"),
            KeyProblem::Unsupported("DSA".into())
        );
        let damaged =
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n";
        assert!(decode(damaged, None).is_err());
    }

    #[test]
    fn an_ed25519_key_decodes_and_has_a_fingerprint() {
        let key = decode(ED25519, None).expect("decodes");
        let f = fingerprint(&key);
        assert!(f.starts_with("ssh-ed25519 SHA256:"), "{f}");
        assert!(!looks_encrypted(ED25519));
    }
}
