//! Authentication: a password, or keyboard-interactive answered with it, and what the
//! server's answer leaves possible on the same connection.

use std::sync::atomic::Ordering;

use russh::client::{AuthResult, KeyboardInteractiveAuthResponse};
use russh::{MethodKind, MethodSet};
use secrecy::{ExposeSecret, SecretString};

use super::connect::Session;
use crate::ssh::error::{Phase, SshError};
use crate::ssh::AuthOutcome;

/// Keyboard-interactive rounds answered before giving up on one attempt.
const MAX_KBDINT_ROUNDS: usize = 8;

impl Session {
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
        match tokio::time::timeout(limit, self.authenticate_inner(username, secret)).await {
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
