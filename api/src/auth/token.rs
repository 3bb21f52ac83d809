//! A token: `nrv_` and 43 characters of base64url holding 256 random bits. So much
//! randomness needs no slow hash: its SHA-256 is what Postgres keeps and what a request's
//! token is looked up by, so the secret is never compared byte by byte against a guess.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// What every token starts with: it says what a leaked string is (secret scanners match it).
pub const PREFIX: &str = "nrv_";
/// Characters of a token kept in clear to tell tokens apart (`nrv_` and 8 more).
pub const SHOWN_CHARS: usize = 12;

/// A token's secret text, shown once at creation. `Debug` never prints it.
pub struct Token(String);

impl Token {
    /// 256 bits from the system's generator.
    pub fn generate() -> Result<Token, String> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| "the system's random generator failed".to_string())?;
        Ok(Token(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))))
    }

    /// The text to show its owner, once.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// The first characters, kept in clear to tell tokens apart.
    pub fn shown_prefix(&self) -> String {
        self.0.chars().take(SHOWN_CHARS).collect()
    }

    pub fn sha256(&self) -> Vec<u8> {
        sha256(&self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(…)")
    }
}

/// The hash a presented token is looked up by.
pub fn sha256(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

/// Whether `text` has a token's shape (checked before any lookup).
pub fn well_formed(text: &str) -> bool {
    text.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// What a token may do; each scope includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every `GET` except the dead letters.
    Read,
    /// And submitting and cancelling jobs, as the token's submitter.
    Submit,
    /// And schedules, dead letters and their replay.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Submit => "submit",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Scope, String> {
        match s {
            "read" => Ok(Scope::Read),
            "submit" => Ok(Scope::Submit),
            "admin" => Ok(Scope::Admin),
            other => Err(format!(
                "unknown scope {other:?}; expected read, submit or admin"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_well_formed_and_never_debug_printed() -> Result<(), String> {
        let (a, b) = (Token::generate()?, Token::generate()?);
        assert_ne!(a.reveal(), b.reveal());
        assert!(well_formed(a.reveal()), "{}", a.reveal());
        assert!(!well_formed("nrv_short"));
        assert!(!well_formed(&format!("xyz_{}", &a.reveal()[4..])));
        assert_eq!(format!("{a:?}"), "Token(…)");
        assert_eq!(a.sha256(), sha256(a.reveal()));
        assert!(a.reveal().starts_with(&a.shown_prefix()));
        assert!(Scope::Read < Scope::Submit && Scope::Submit < Scope::Admin);
        Ok(())
    }
}
