//! [`Session`]: one SSH connection to one device, with a timeout around every phase.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, AuthResult, KeyboardInteractiveAuthResponse};
use russh::{ChannelMsg, Disconnect, MethodKind, MethodSet};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpStream;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::algorithms::client_config;
use super::error::{Phase, SshError};
use super::handler::{ClientHandler, HandlerError, Shared};
use super::host_key::{self, HostKeyCheck, PresentedKey};
use super::output::OutputAllowance;
use super::stream::GuardedStream;
use super::{AuthOutcome, ExecOutput, SshOptions, SshTimeouts};

/// Keyboard-interactive rounds answered before giving up on one attempt.
const MAX_KBDINT_ROUNDS: usize = 8;

/// How long [`Session::close`] waits for the server to see our disconnect.
pub(super) const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// One SSH connection. Dropping it closes the connection; [`Session::close`] says goodbye
/// politely first.
pub struct Session {
    pub(super) handle: client::Handle<ClientHandler>,
    presented: PresentedKey,
    pub(super) timeouts: SshTimeouts,
    shared: Arc<Shared>,
    /// Cancels the socket (see `stream.rs`) when the session is dropped.
    _guard: DropGuard,
    /// The username of the attempts so far on this connection.
    username: Option<String>,
    /// Methods the server said can continue, from the last failure.
    methods: Option<MethodSet>,
    /// An operation was abandoned half-way (timeout): the connection is not reusable.
    broken: AtomicBool,
    authenticated: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("host_key", &self.presented.fingerprint)
            .field("username", &self.username)
            .field("authenticated", &self.authenticated)
            .field("open", &self.is_open())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// TCP connect (bounded by `timeouts.connect`, DNS included) and SSH handshake
    /// (bounded by `timeouts.handshake`), modern algorithms only.
    ///
    /// The host key is checked inside russh's `check_server_key` callback, before any
    /// authentication: a mismatch returns [`SshError::HostKeyMismatch`] and no secret is
    /// ever sent. Nagle is off on the socket.
    pub async fn connect(
        host: &str,
        port: u16,
        timeouts: &SshTimeouts,
        host_key: HostKeyCheck,
    ) -> Result<Session, SshError> {
        Session::connect_with(host, port, timeouts, host_key, &SshOptions::default()).await
    }

    /// [`Session::connect`] with options (legacy algorithms for old devices).
    pub async fn connect_with(
        host: &str,
        port: u16,
        timeouts: &SshTimeouts,
        host_key: HostKeyCheck,
        options: &SshOptions,
    ) -> Result<Session, SshError> {
        let started = std::time::Instant::now();
        let socket =
            match tokio::time::timeout(timeouts.connect, TcpStream::connect((host, port))).await {
                Err(_) => return Err(SshError::Timeout(Phase::Connect)),
                Ok(Err(e)) => return Err(SshError::from_connect_io(&e)),
                Ok(Ok(s)) => s,
            };
        crate::device::phase_observed("connect", started);
        let started = std::time::Instant::now();
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(error = %e, "set_nodelay failed");
        }

        let token = CancellationToken::new();
        let received_any = Arc::new(AtomicBool::new(false));
        let stream = GuardedStream::new(socket, token.clone(), Arc::clone(&received_any));
        let shared = Arc::new(Shared::default());
        let config = client_config(options, host_key::pinned_algorithm(&host_key).as_ref());
        let handler = ClientHandler {
            check: host_key,
            shared: Arc::clone(&shared),
        };
        let handshake = client::connect_stream(config, stream, handler);
        let handle = match tokio::time::timeout(timeouts.handshake, handshake).await {
            Ok(Ok(handle)) => handle,
            Ok(Err(HandlerError::HostKey(e))) => {
                token.cancel();
                return Err(e);
            }
            Ok(Err(HandlerError::Russh(e))) => {
                token.cancel();
                return Err(handshake_error(
                    e,
                    received_any.load(Ordering::Relaxed),
                    &shared,
                ));
            }
            Err(_) => {
                // russh may already run a background task holding the socket: close it.
                token.cancel();
                return Err(SshError::Timeout(Phase::Handshake));
            }
        };
        crate::device::phase_observed("handshake", started);
        let presented = shared.lock().presented.clone();
        let Some(presented) = presented else {
            token.cancel();
            return Err(SshError::Disconnected(
                Phase::Handshake,
                "server presented no host key".to_string(),
            ));
        };
        Ok(Session {
            handle,
            presented,
            timeouts: *timeouts,
            shared,
            _guard: token.drop_guard(),
            username: None,
            methods: None,
            broken: AtomicBool::new(false),
            authenticated: false,
        })
    }

    /// The host key the server presented (already checked); pin it on accept-new.
    pub fn presented_key(&self) -> &PresentedKey {
        &self.presented
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

    pub(super) fn disconnected(&self, phase: Phase) -> SshError {
        let message = self
            .shared
            .lock()
            .disconnect
            .clone()
            .unwrap_or_else(|| "connection closed by server".to_string());
        SshError::Disconnected(phase, message)
    }

    /// Whether another attempt on this connection is possible (still connected, and no
    /// operation was abandoned half-way by a timeout).
    pub fn is_open(&self) -> bool {
        !self.broken.load(Ordering::Relaxed) && !self.handle.is_closed()
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

    /// Runs `command` on an exec channel. The idle timeout (`timeouts.command_idle`)
    /// resets whenever output arrives. Stdout and stderr are admitted to `output`: past its
    /// limit reading stops with [`SshError::OutputTooLarge`] and the channel is closed.
    pub async fn exec(
        &mut self,
        command: &str,
        output: &mut OutputAllowance,
    ) -> Result<ExecOutput, SshError> {
        let idle = self.timeouts.command_idle;
        let mut channel = self
            .idle_bounded(self.handle.channel_open_session())
            .await?;
        self.idle_bounded(channel.exec(true, command)).await?;

        let mut out = ExecOutput::default();
        let mut closed = false;
        loop {
            let msg = match tokio::time::timeout(idle, channel.wait()).await {
                Ok(m) => m,
                Err(_) => {
                    // Best effort: the caller decides whether the connection is still useful.
                    let _ = tokio::time::timeout(CLOSE_GRACE, channel.close()).await;
                    return Err(SshError::Timeout(Phase::Command));
                }
            };
            let admitted = match &msg {
                Some(ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. }) => {
                    output.admit(data.len()).await
                }
                _ => Ok(()),
            };
            if let Err(e) = admitted {
                let _ = tokio::time::timeout(CLOSE_GRACE, channel.close()).await;
                return Err(e);
            }
            match msg {
                Some(ChannelMsg::Data { data }) => out.stdout.extend_from_slice(&data),
                Some(ChannelMsg::ExtendedData { data, .. }) => out.stderr.extend_from_slice(&data),
                Some(ChannelMsg::ExitStatus { exit_status }) => out.exit_status = Some(exit_status),
                Some(ChannelMsg::Failure) => {
                    let _ = tokio::time::timeout(CLOSE_GRACE, channel.close()).await;
                    return Err(SshError::Protocol("exec request refused".to_string()));
                }
                Some(ChannelMsg::Close) => {
                    closed = true;
                    break;
                }
                Some(_) => {}
                None => break,
            }
        }
        if !closed {
            // The channel ended without the server closing it: the connection was lost,
            // and what arrived may be a truncated reply (an exit status can precede the
            // end of the output). Never hand it out as a complete one.
            return Err(self.disconnected(Phase::Command));
        }
        Ok(out)
    }

    /// Awaits a channel request, bounded by the command idle timeout.
    pub(super) async fn idle_bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, russh::Error>>,
    ) -> Result<T, SshError> {
        match tokio::time::timeout(self.timeouts.command_idle, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if self.handle.is_closed() {
                    Err(self.disconnected(Phase::Command))
                } else {
                    Err(SshError::from_russh(e, Phase::Command))
                }
            }
            Err(_) => {
                self.broken.store(true, Ordering::Relaxed);
                Err(SshError::Timeout(Phase::Command))
            }
        }
    }

    /// Sends a disconnect and waits briefly for the connection to end; then closes the
    /// socket in any case.
    pub async fn close(self) {
        let Session { handle, _guard, .. } = self;
        let bye = async {
            if handle
                .disconnect(Disconnect::ByApplication, "", "en")
                .await
                .is_ok()
            {
                // The handle resolves when russh's connection task has finished.
                let _ = handle.await;
            }
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, bye).await;
        drop(_guard);
    }
}

fn handshake_error(e: russh::Error, received_any: bool, shared: &Shared) -> SshError {
    if let russh::Error::IO(io) = &e {
        if !received_any {
            // The TCP connection died before the server said anything.
            return SshError::Unreachable(format!("connection closed before SSH banner: {io}"));
        }
    }
    if matches!(e, russh::Error::Disconnect | russh::Error::HUP) {
        if let Some(message) = shared.lock().disconnect.clone() {
            return SshError::Disconnected(Phase::Handshake, message);
        }
    }
    SshError::from_russh(e, Phase::Handshake)
}
