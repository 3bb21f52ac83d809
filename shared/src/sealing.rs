//! The key ring that seals device secrets with ChaCha20-Poly1305.
//!
//! A sealed secret is `nrv1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`. The key ring holds
//! one or more keys; the first seals, every key opens, so a rotation can re-seal under a new
//! key while old ciphertexts still open. The key-file format is one key a line,
//! `<id> <base64 of 32 bytes>`, `#` starting a comment.
//!
//! [`ring_file`] edits that text for the rotation steps (`netraven secrets add-key`,
//! `reseal`, `retire`): a new key goes last (it opens but does not seal yet), resealing
//! moves it first, retiring removes a key; comments and the other lines stay as they were.

use crate::config::SecretSettings;
use crate::{Error, Result};
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
            return Err(Error::Unseal(
                "not a sealed secret (expected nrv1:<key id>:…)".into(),
            ));
        };
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| Error::UnknownKey(id.to_string()))?;
        let raw = B64
            .decode(body)
            .map_err(|_| Error::Unseal("sealed body is not base64".into()))?;
        if raw.len() < NONCE_LEN {
            return Err(Error::Unseal("sealed body is truncated".into()));
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| Error::Unseal("bad nonce".into()))?;
        let mut buf = ct.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(AAD), &mut buf)
            .map_err(|_| {
                Error::Unseal(format!(
                    "key {id:?} does not open it (tampered or wrong key)"
                ))
            })?;
        let text = String::from_utf8(plain.to_vec())
            .map_err(|_| Error::Unseal("secret is not UTF-8".into()))?;
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

/// Edits of the key-file text. Each returns the new text, already parsed as a valid ring,
/// and leaves comments and the other key lines untouched.
pub mod ring_file {
    use super::{KeyRing, Result};
    use crate::Error;

    /// The id on a key line, or `None` for a blank or comment line.
    fn line_id(line: &str) -> Option<&str> {
        line.split('#').next()?.split_whitespace().next()
    }

    fn check(text: String) -> Result<(String, KeyRing)> {
        let ring = KeyRing::parse(&text)?;
        Ok((text, ring))
    }

    fn with_newline(text: &str) -> String {
        let mut t = text.to_string();
        if !t.is_empty() && !t.ends_with('\n') {
            t.push('\n');
        }
        t
    }

    /// Appends a new key after every other: it opens, it does not seal yet. Returns the new
    /// text and the new key's id.
    pub fn add_key(text: &str) -> Result<(String, String)> {
        KeyRing::parse(text)?;
        let line = KeyRing::generate_line()?;
        let id = line_id(&line).unwrap_or_default().to_string();
        let (text, _) = check(format!("{}{line}\n", with_newline(text)))?;
        Ok((text, id))
    }

    /// Moves key `id` in front of the others, so that it seals.
    pub fn promote(text: &str, id: &str) -> Result<String> {
        if !KeyRing::parse(text)?.contains(id) {
            return Err(Error::Key(format!("the key ring holds no key {id:?}")));
        }
        let mut promoted = None;
        let mut rest = Vec::new();
        for line in text.lines() {
            if line_id(line) == Some(id) {
                promoted = Some(line);
            } else {
                rest.push(line);
            }
        }
        let promoted = promoted.unwrap_or_default();
        // The promoted line takes the place of the first key line; comments above stay.
        let first_key = rest.iter().position(|l| line_id(l).is_some());
        let at = first_key.unwrap_or(rest.len());
        rest.insert(at, promoted);
        let (text, ring) = check(with_newline(&rest.join("\n")))?;
        debug_assert_eq!(ring.sealing_key_id(), id);
        Ok(text)
    }

    /// Removes key `id`. Refuses the sealing key and the last key.
    pub fn remove(text: &str, id: &str) -> Result<String> {
        let ring = KeyRing::parse(text)?;
        if !ring.contains(id) {
            return Err(Error::Key(format!("the key ring holds no key {id:?}")));
        }
        if ring.sealing_key_id() == id {
            return Err(Error::Key(format!(
                "{id:?} is the sealing key (the first in the ring); reseal under another key first"
            )));
        }
        let kept: Vec<&str> = text.lines().filter(|l| line_id(l) != Some(id)).collect();
        Ok(check(with_newline(&kept.join("\n")))?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(lines: &[String]) -> KeyRing {
        KeyRing::parse(&lines.join("\n")).expect("valid ring")
    }

    #[test]
    fn seals_and_opens_without_leaking_the_plaintext() {
        let line = KeyRing::generate_line().expect("key");
        let material = line.split(' ').nth(1).expect("material").to_string();
        let r = ring(&[line]);
        let sealed = r.seal(&SecretString::from("hunter2")).expect("seal");
        assert!(sealed.starts_with("nrv1:k"));
        assert!(!sealed.contains("hunter2"));
        assert_ne!(
            sealed,
            r.seal(&SecretString::from("hunter2")).expect("seal")
        );
        assert_eq!(r.open(&sealed).expect("open").expose_secret(), "hunter2");
        assert!(!format!("{r:?}").contains(&material));
    }

    #[test]
    fn old_keys_still_open_after_rotation() {
        let old = format!("old {}", B64.encode([1u8; 32]));
        let new = format!("new {}", B64.encode([2u8; 32]));
        let sealed_old = ring(std::slice::from_ref(&old))
            .seal(&SecretString::from("s"))
            .expect("seal");
        let rotated = ring(&[new, old]);
        assert_eq!(
            rotated.open(&sealed_old).expect("open").expose_secret(),
            "s"
        );
        assert!(!rotated.is_current(&sealed_old));
        assert!(rotated.is_current(&rotated.seal(&SecretString::from("s")).expect("seal")));
    }

    #[test]
    fn tampering_and_unknown_keys_are_refused() {
        let r = ring(&[format!("a {}", B64.encode([3u8; 32]))]);
        let sealed = r.seal(&SecretString::from("secret")).expect("seal");
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(r.open(&tampered).is_err());
        let other = ring(&[format!("b {}", B64.encode([4u8; 32]))]);
        let err = other.open(&sealed).expect_err("unknown key").to_string();
        assert!(err.contains("\"a\""), "{err}");
        assert!(KeyRing::parse("").is_err());
        assert!(KeyRing::parse("x c2hvcnQ=").is_err());
    }

    #[test]
    fn ring_file_adds_promotes_and_removes_keys_keeping_comments() {
        let old = format!("old {}", B64.encode([1u8; 32]));
        let text = format!("# header\n{old}\n# trailing note\n");
        let (added, new_id) = ring_file::add_key(&text).expect("add");
        let ring = KeyRing::parse(&added).expect("valid");
        assert_eq!(ring.key_ids(), vec!["old", new_id.as_str()]);
        assert_eq!(ring.sealing_key_id(), "old", "a new key does not seal yet");
        assert!(added.starts_with("# header\n"));
        assert!(added.contains("# trailing note\n"));

        let promoted = ring_file::promote(&added, &new_id).expect("promote");
        let ring = KeyRing::parse(&promoted).expect("valid");
        assert_eq!(ring.key_ids(), vec![new_id.as_str(), "old"]);
        assert!(promoted.starts_with("# header\n"));
        assert_eq!(
            ring_file::promote(&promoted, &new_id).expect("again"),
            promoted,
            "promoting the sealing key changes nothing"
        );
        let sealed = KeyRing::parse(&old)
            .expect("ring")
            .seal(&SecretString::from("s"))
            .expect("seal");
        assert_eq!(sealed_key_id(&sealed), Some("old"));
        assert_eq!(
            ring.open(&sealed).expect("old still opens").expose_secret(),
            "s"
        );

        let err = ring_file::remove(&promoted, &new_id).expect_err("sealing key");
        assert!(err.to_string().contains("sealing key"), "{err}");
        let err = ring_file::remove(&promoted, "nope").expect_err("unknown");
        assert!(err.to_string().contains("no key \"nope\""), "{err}");
        let retired = ring_file::remove(&promoted, "old").expect("retire");
        let ring = KeyRing::parse(&retired).expect("valid");
        assert_eq!(ring.key_ids(), vec![new_id.as_str()]);
        assert!(retired.contains("# trailing note\n"));
        assert!(matches!(ring.open(&sealed), Err(Error::UnknownKey(id)) if id == "old"));
        assert!(ring_file::promote(&retired, "old").is_err());
        assert!(ring_file::add_key("not a ring").is_err());
        assert_eq!(sealed_key_id("plain"), None);
    }
}
