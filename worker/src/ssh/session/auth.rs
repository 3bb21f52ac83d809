//! Authentication: a private key, a password, or keyboard-interactive answered with it,
//! and what the server's answer leaves possible on the same connection.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use russh::client::{AuthResult, KeyboardInteractiveAuthResponse};
use russh::keys::{Algorithm, HashAlg, PrivateKey, PrivateKeyWithHashAlg};
use russh::{MethodKind, MethodSet};
use secrecy::{ExposeSecret, SecretString};

use super::connect::Session;
use crate::ssh::error::{Phase, SshError};
use crate::ssh::AuthOutcome;

/// Keyboard-interactive rounds answered before giving up on one attempt.
const MAX_KBDINT_ROUNDS: usize = 8;

/// A credential opened in a worker's memory: its username, and its private key, its
/// password, or both. Never printed: its `Debug` names only what it holds.
pub struct OpenedCredential {
    pub username: String,
    /// The decoded private key (shared with the worker's cache of decoded keys).
    pub key: Option<Arc<PrivateKey>>,
    pub password: Option<SecretString>,
}

impl std::fmt::Debug for OpenedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedCredential")
            .field("username", &self.username)
            .field("key", &self.key.as_ref().map(|k| k.algorithm().to_string()))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Session {
    /// Logs in with everything `credential` holds, as OpenSSH's client does: the key
    /// first (`publickey`), then the password (`password`, or `keyboard-interactive`
    /// answered with it), on this one connection. `Rejected` only when everything it holds
    /// was refused; the rest is as [`Session::authenticate`]. The whole call is bounded by
    /// `timeouts.auth`.
    ///
    /// An RSA key signs with `rsa-sha2-512` or `rsa-sha2-256`, the best the server lists
    /// in `server-sig-algs`; with SHA-1 (`ssh-rsa`) only when the profile allows it
    /// (`allow_ssh_rsa_sha1`): then also when the server lists no `server-sig-algs`, as
    /// old devices do.
    pub async fn authenticate_credential(
        &mut self,
        credential: &OpenedCredential,
    ) -> Result<AuthOutcome, SshError> {
        let limit = self.timeouts.auth;
        self.username = Some(credential.username.clone());
        let attempt = tokio::time::timeout(limit, self.credential_inner(credential)).await;
        self.settle(attempt)
    }

    /// One `publickey` attempt with `key`.
    async fn publickey(
        &mut self,
        username: &str,
        key: &Arc<PrivateKey>,
    ) -> Result<AuthOutcome, SshError> {
        if self
            .methods
            .as_ref()
            .is_some_and(|m| !m.contains(&MethodKind::PublicKey))
        {
            return Ok(AuthOutcome::Rejected);
        }
        let hash = if matches!(key.algorithm(), Algorithm::Rsa { .. }) {
            let best = self
                .handle
                .best_supported_rsa_hash()
                .await
                .map_err(|e| SshError::from_russh(e, Phase::Auth))?;
            match best {
                Some(Some(hash)) => Some(hash),
                Some(None) | None if self.allow_ssh_rsa_sha1 => None,
                Some(None) => {
                    tracing::warn!(
                        "the server takes RSA keys only with SHA-1 signatures (ssh-rsa), \
                         which this platform's profile does not allow: key not offered"
                    );
                    return Ok(AuthOutcome::Rejected);
                }
                None => Some(HashAlg::Sha512),
            }
        } else {
            None
        };
        let result = self
            .handle
            .authenticate_publickey(username, PrivateKeyWithHashAlg::new(key.clone(), hash))
            .await
            .map_err(|e| SshError::from_russh(e, Phase::Auth))?;
        match result {
            AuthResult::Success => Ok(AuthOutcome::Accepted),
            AuthResult::Failure {
                remaining_methods, ..
            } => {
                self.check_judged(&remaining_methods)?;
                self.methods = Some(remaining_methods);
                Ok(AuthOutcome::Rejected)
            }
        }
    }

    /// What a login attempt bounded by `timeouts.auth` leaves of the connection: logged
    /// in, or broken when the attempt was abandoned half-way.
    fn settle(
        &mut self,
        attempt: Result<Result<AuthOutcome, SshError>, tokio::time::error::Elapsed>,
    ) -> Result<AuthOutcome, SshError> {
        match attempt {
            Ok(Ok(outcome)) => {
                if outcome == AuthOutcome::Accepted {
                    self.authenticated = true;
                }
                Ok(outcome)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                self.broken.store(true, Ordering::Relaxed);
                Err(SshError::Timeout(Phase::Auth))
            }
        }
    }

    async fn credential_inner(
        &mut self,
        credential: &OpenedCredential,
    ) -> Result<AuthOutcome, SshError> {
        if let Some(key) = &credential.key {
            if self.publickey(&credential.username, key).await? == AuthOutcome::Accepted {
                return Ok(AuthOutcome::Accepted);
            }
        }
        match &credential.password {
            Some(password) if self.is_open() => {
                self.authenticate_inner(&credential.username, password)
                    .await
            }
            _ => Ok(AuthOutcome::Rejected),
        }
    }

    /// Password authentication. If the server does not take `password` but offers
    /// `keyboard-interactive`, every prompt is answered with the same secret. The whole
    /// call is bounded by `timeouts.auth`.
    ///
    /// `Rejected` means the server refused the secret; another one may be tried on the
    /// same connection while [`Session::is_open`] holds. Note that OpenSSH servers hang up
    /// on a change of username: see [`Session::can_try_username`].
    /// `Err(SshError::Disconnected(Phase::Auth, _))` means the server hung up without
    /// judging the secret; reconnect and try it again.
    pub async fn authenticate(
        &mut self,
        username: &str,
        secret: &SecretString,
    ) -> Result<AuthOutcome, SshError> {
        let limit = self.timeouts.auth;
        self.username = Some(username.to_string());
        let attempt = tokio::time::timeout(limit, self.authenticate_inner(username, secret)).await;
        self.settle(attempt)
    }

    async fn authenticate_inner(
        &mut self,
        username: &str,
        secret: &SecretString,
    ) -> Result<AuthOutcome, SshError> {
        let password_offered = self
            .methods
            .as_ref()
            .is_none_or(|m| m.contains(&MethodKind::Password));
        if password_offered {
            let result = self
                .handle
                .authenticate_password(username, secret.expose_secret())
                .await
                .map_err(|e| SshError::from_russh(e, Phase::Auth))?;
            match result {
                AuthResult::Success => return Ok(AuthOutcome::Accepted),
                AuthResult::Failure {
                    remaining_methods, ..
                } => {
                    self.check_judged(&remaining_methods)?;
                    let kbdint = remaining_methods.contains(&MethodKind::KeyboardInteractive);
                    let password = remaining_methods.contains(&MethodKind::Password);
                    self.methods = Some(remaining_methods);
                    if password || !kbdint {
                        return Ok(AuthOutcome::Rejected);
                    }
                }
            }
        }
        if self
            .methods
            .as_ref()
            .is_some_and(|m| !m.contains(&MethodKind::KeyboardInteractive))
        {
            return Ok(AuthOutcome::Rejected);
        }
        self.keyboard_interactive(username, secret).await
    }

    async fn keyboard_interactive(
        &mut self,
        username: &str,
        secret: &SecretString,
    ) -> Result<AuthOutcome, SshError> {
        let mut reply = self
            .handle
            .authenticate_keyboard_interactive_start(username, None)
            .await;
        for _ in 0..MAX_KBDINT_ROUNDS {
            match reply.map_err(|e| SshError::from_russh(e, Phase::Auth))? {
                KeyboardInteractiveAuthResponse::Success => return Ok(AuthOutcome::Accepted),
                KeyboardInteractiveAuthResponse::Failure {
                    remaining_methods, ..
                } => {
                    self.check_judged(&remaining_methods)?;
                    self.methods = Some(remaining_methods);
                    return Ok(AuthOutcome::Rejected);
                }
                KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                    let answers = prompts
                        .iter()
                        .map(|_| secret.expose_secret().to_string())
                        .collect();
                    reply = self
                        .handle
                        .authenticate_keyboard_interactive_respond(answers)
                        .await;
                }
            }
        }
        // A server that keeps asking: treat the secret as not accepted.
        Ok(AuthOutcome::Rejected)
    }

    /// After an auth failure: russh reports a connection closed before the server's
    /// answer as a failure with no methods, which must not be mistaken for a rejection.
    /// A failure that lists methods is the server's own answer: a rejection, even if the
    /// server hangs up right after it (a limit of attempts reached).
    fn check_judged(&self, remaining_methods: &MethodSet) -> Result<(), SshError> {
        if remaining_methods.is_empty() && self.handle.is_closed() {
            Err(self.disconnected(Phase::Auth))
        } else {
            Ok(())
        }
    }

    /// Whether an authentication attempt as `username` can go on this connection: it is
    /// open, not yet authenticated, and no other username was tried on it (OpenSSH
    /// disconnects on a change of username).
    pub fn can_try_username(&self, username: &str) -> bool {
        self.is_open()
            && !self.authenticated
            && self.username.as_deref().is_none_or(|u| u == username)
    }

    /// Whether an authentication attempt was accepted on this connection.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }
}
