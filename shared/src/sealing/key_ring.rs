//! The loaded key ring: parsing its text, sealing with its first key, opening with any.

use crate::config::SecretSettings;
use crate::{Error, Result, Unsealable};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::path::Path;

const PREFIX: &str = "nrv1";
const KEY_LEN: usize = 32;
/// Binds ciphertexts to their purpose: a sealed device secret cannot pass for anything else.
const AAD: &[u8] = b"netraven credential secret v1";

struct Key {
    id: String,
    key: LessSafeKey,
}

/// The loaded keys. `Debug` shows key ids only.
pub struct KeyRing {
    keys: Vec<Key>,
    rng: SystemRandom,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

impl KeyRing {
    /// Loads the ring from `secrets.key` or `secrets.key_file`. Without either, the error
    /// says how to create one.
    pub fn from_settings(s: &SecretSettings) -> Result<KeyRing> {
        if let Some(key) = &s.key {
            return KeyRing::parse(key.expose_secret());
        }
        match &s.key_file {
            Some(path) => KeyRing::load(path),
            None => Err(Error::Key(
                "no sealing key configured: set secrets.key_file (create one with \
                 `netraven secrets init --key-file PATH`) or NETRAVEN__SECRETS__KEY_FILE"
                    .into(),
            )),
        }
    }

    pub fn load(path: &Path) -> Result<KeyRing> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Key(format!(
                "cannot read key file {}: {e} (create one with `netraven secrets init --key-file {}`)",
                path.display(),
                path.display()
            ))
        })?;
        KeyRing::parse(&text).map_err(|e| Error::Key(format!("{}: {e}", path.display())))
    }

    /// Parses the key-file format.
    pub fn parse(text: &str) -> Result<KeyRing> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(id), Some(material), None) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(Error::Key(format!(
                    "line {}: expected `<id> <base64 key>`",
                    n + 1
                )));
            };
            let bytes = B64
                .decode(material)
                .map_err(|_| Error::Key(format!("line {}: key is not base64", n + 1)))?;
            if bytes.len() != KEY_LEN {
                return Err(Error::Key(format!(
                    "line {}: key must be {KEY_LEN} bytes, found {}",
                    n + 1,
                    bytes.len()
                )));
            }
            if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(Error::Key(format!(
                    "line {}: key id may hold letters, digits and '-'",
                    n + 1
                )));
            }
            if keys.iter().any(|k: &Key| k.id == id) {
                return Err(Error::Key(format!(
                    "line {}: key id {id:?} appears twice",
                    n + 1
                )));
            }
            let unbound = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
                .map_err(|_| Error::Key(format!("line {}: unusable key", n + 1)))?;
            keys.push(Key {
                id: id.to_string(),
                key: LessSafeKey::new(unbound),
            });
        }
        if keys.is_empty() {
            return Err(Error::Key("the key ring holds no key".into()));
        }
        Ok(KeyRing {
            keys,
            rng: SystemRandom::new(),
        })
    }

    /// A new key line (`<id> <base64>`) from the system's random source.
    pub fn generate_line() -> Result<String> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| Error::Key("system random source failed".into()))?;
        // The date says when; the random tail keeps two keys made in one second apart.
        let id = format!(
            "k{}-{:02x}{:02x}",
            chrono::Utc::now().format("%Y%m%d%H%M%S"),
            bytes[0] ^ bytes[31],
            bytes[1] ^ bytes[30]
        );
        Ok(format!("{id} {}", B64.encode(bytes)))
    }

    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// Seals with the first key of the ring.
    pub fn seal(&self, secret: &SecretString) -> Result<String> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| Error::Key("system random source failed".into()))?;
        let mut buf = secret.expose_secret().as_bytes().to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut buf,
            )
            .map_err(|_| Error::Key("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{PREFIX}:{}:{}", key.id, B64.encode(out)))
    }

    /// Opens a sealed secret with whichever key of the ring sealed it.
    pub fn open(&self, sealed: &str) -> Result<SecretString> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(PREFIX), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::Unseal(Unsealable::NotSealed));
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| Error::UnknownKey(id.to_string()))?;
        let raw = B64
            .decode(body)
            .map_err(|_| Error::Unseal(Unsealable::NotBase64))?;
        if raw.len() < NONCE_LEN {
            return Err(Error::Unseal(Unsealable::Truncated));
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| Error::Unseal(Unsealable::BadNonce))?;
        let mut buf = ct.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(AAD), &mut buf)
            .map_err(|_| Error::Unseal(Unsealable::DoesNotOpen(id.to_string())))?;
        let text =
            String::from_utf8(plain.to_vec()).map_err(|_| Error::Unseal(Unsealable::NotUtf8))?;
        Ok(SecretString::from(text))
    }

    /// The id of the key that seals (the first).
    pub fn sealing_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Whether the ring holds a key with this id.
    pub fn contains(&self, id: &str) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    /// Whether `sealed` was sealed with the ring's current (first) key.
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed
            .split(':')
            .nth(1)
            .is_some_and(|id| id == self.keys[0].id)
    }
}

/// The id of the key a sealed secret names (`nrv1:<id>:…`), without opening it.
pub fn sealed_key_id(sealed: &str) -> Option<&str> {
    let mut parts = sealed.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(PREFIX), Some(id), Some(_)) => Some(id),
        _ => None,
    }
}
