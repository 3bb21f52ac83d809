//! A role's private signing keys, and the line format both key files share.

use super::purpose::Issuer;
use crate::config::SigningSettings;
use crate::{Error, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};
use secrecy::ExposeSecret;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Bytes of an Ed25519 seed, the private half of a key line.
const SEED_LEN: usize = 32;

pub(super) struct PrivateKey {
    pub(super) issuer: Issuer,
    pub(super) id: String,
    pub(super) pair: Ed25519KeyPair,
}

/// The private signing keys of a role. `Debug` shows key ids only.
pub struct SigningKeys {
    pub(super) keys: Vec<Arc<PrivateKey>>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("{} {}", k.issuer, k.id))
            .collect();
        f.debug_struct("SigningKeys").field("keys", &ids).finish()
    }
}

/// One parsed line of either key file.
pub(super) struct Line<'a> {
    pub(super) n: usize,
    pub(super) issuer: Issuer,
    pub(super) id: &'a str,
    pub(super) material: Vec<u8>,
}

/// Parses `<issuer> <id> <base64 32 bytes>` lines; `what` names the file kind in errors.
pub(super) fn lines<'a>(text: &'a str, what: &str) -> Result<Vec<Line<'a>>> {
    let mut out: Vec<Line<'a>> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| Error::Key(format!("{what}, line {n}: {why}"));
        let mut parts = line.split_whitespace();
        let (Some(issuer), Some(id), Some(material), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected `<dispatcher|worker> <key id> <base64 key>`"));
        };
        let issuer =
            Issuer::parse(issuer).ok_or_else(|| bad("the issuer is `dispatcher` or `worker`"))?;
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(bad("the key id may hold letters, digits and '-'"));
        }
        let material = B64
            .decode(material)
            .map_err(|_| bad("the key is not base64"))?;
        if material.len() != SEED_LEN {
            return Err(bad(&format!(
                "the key must be {SEED_LEN} bytes, found {}",
                material.len()
            )));
        }
        if out.iter().any(|l| l.id == id) {
            return Err(bad(&format!("key id {id:?} appears twice")));
        }
        out.push(Line {
            n,
            issuer,
            id,
            material,
        });
    }
    Ok(out)
}

pub(super) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

impl SigningKeys {
    /// Parses the private key file's format.
    pub fn parse(text: &str) -> Result<SigningKeys> {
        let mut keys = Vec::new();
        for l in lines(text, "signing key")? {
            let pair = Ed25519KeyPair::from_seed_unchecked(&l.material)
                .map_err(|_| Error::Key(format!("signing key, line {}: unusable key", l.n)))?;
            keys.push(Arc::new(PrivateKey {
                issuer: l.issuer,
                id: l.id.to_string(),
                pair,
            }));
        }
        if keys.is_empty() {
            return Err(Error::Key("the signing key file holds no key".into()));
        }
        Ok(SigningKeys { keys })
    }

    pub fn load(path: &Path) -> Result<SigningKeys> {
        SigningKeys::parse(&read(path)?).map_err(|e| Error::Key(format!("{}: {e}", path.display())))
    }

    /// The role's private keys from `signing.key` or `signing.key_file`, if either is set.
    pub fn from_settings(s: &SigningSettings) -> Result<Option<SigningKeys>> {
        if let Some(text) = &s.key {
            return SigningKeys::parse(text.expose_secret()).map(Some);
        }
        s.key_file.as_deref().map(SigningKeys::load).transpose()
    }

    /// The role's private keys, holding a key of `issuer`; the error says how to make one.
    pub fn required(s: &SigningSettings, issuer: Issuer) -> Result<SigningKeys> {
        let missing = || {
            Error::Key(format!(
                "no {issuer} signing key: set signing.key_file (create one with \
                 `netraven signing init --issuer {issuer} --key-file PATH`)"
            ))
        };
        let keys = SigningKeys::from_settings(s)?.ok_or_else(missing)?;
        if keys.keys.iter().any(|k| k.issuer == issuer) {
            Ok(keys)
        } else {
            Err(missing())
        }
    }

    /// A new private key line for `issuer`, from the system's random source.
    pub fn generate_line(issuer: Issuer) -> Result<String> {
        let mut seed = [0u8; SEED_LEN];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| Error::Key("system random source failed".into()))?;
        let mut tail = [0u8; 2];
        SystemRandom::new()
            .fill(&mut tail)
            .map_err(|_| Error::Key("system random source failed".into()))?;
        let id = format!(
            "{}{}-{:02x}{:02x}",
            &issuer.as_str()[..1],
            chrono::Utc::now().format("%Y%m%d%H%M%S"),
            tail[0],
            tail[1]
        );
        Ok(format!("{issuer} {id} {}", B64.encode(seed)))
    }

    /// The public halves, in the trusted-keys file's format, one a line.
    pub fn public_lines(&self) -> String {
        self.keys
            .iter()
            .map(|k| {
                format!(
                    "{} {} {}\n",
                    k.issuer,
                    k.id,
                    B64.encode(k.pair.public_key().as_ref())
                )
            })
            .collect()
    }
}
