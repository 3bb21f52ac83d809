//! Connecting: TCP (or a channel through a jump host), the SSH handshake with the host
//! key checked inside it, the session's state, and a polite close.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use russh::client;
use russh::{Disconnect, MethodSet};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::ssh::algorithms::client_config;
use crate::ssh::error::{Phase, SshError};
use crate::ssh::handler::{ClientHandler, HandlerError, Shared};
use crate::ssh::host_key::{self, HostKeyCheck, PresentedKey};
use crate::ssh::stream::GuardedStream;
use crate::ssh::{SshOptions, SshTimeouts};

/// How long [`Session::close`] waits for the server to see our disconnect.
pub(in crate::ssh) const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// One SSH connection. Dropping it closes the connection; [`Session::close`] says goodbye
/// politely first.
pub struct Session {
    pub(in crate::ssh) handle: client::Handle<ClientHandler>,
    presented: PresentedKey,
    pub(in crate::ssh) timeouts: SshTimeouts,
    shared: Arc<Shared>,
    /// Cancels the socket (see `stream.rs`) when the session is dropped.
    _guard: DropGuard,
    /// The username of the attempts so far on this connection.
    pub(super) username: Option<String>,
    /// Methods the server said can continue, from the last failure.
    pub(super) methods: Option<MethodSet>,
    /// An operation was abandoned half-way (timeout): the connection is not reusable.
    pub(super) broken: AtomicBool,
    pub(super) authenticated: bool,
    /// The profile lets an RSA client key sign with SHA-1 (`ssh-rsa`).
    pub(super) allow_ssh_rsa_sha1: bool,
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
        crate::ssh::phase_observed("connect", started);
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(error = %e, "set_nodelay failed");
        }
        Session::over_stream(socket, timeouts, host_key, options).await
    }

    /// The SSH handshake (bounded by `timeouts.handshake`) over a transport already
    /// connected: a TCP socket, or a direct-tcpip channel through a jump host. The host
    /// key is checked inside the handshake as in [`Session::connect_with`]. The transport
    /// lives as long as the session's connection (russh's task owns it).
    pub(crate) async fn over_stream<S>(
        stream: S,
        timeouts: &SshTimeouts,
        host_key: HostKeyCheck,
        options: &SshOptions,
    ) -> Result<Session, SshError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let started = std::time::Instant::now();
        let token = CancellationToken::new();
        let received_any = Arc::new(AtomicBool::new(false));
        let stream = GuardedStream::new(stream, token.clone(), Arc::clone(&received_any));
        let shared = Arc::new(Shared::default());
        let config = client_config(options, host_key::pinned_algorithm(&host_key).as_ref());
        let handler = ClientHandler {
            check: host_key,
            shared: Arc::clone(&shared),
            max_packet: config.maximum_packet_size,
        };
        let handshake = client::connect_stream(config, stream, handler);
        let handle = match tokio::time::timeout(timeouts.handshake, handshake).await {
            Ok(Ok(handle)) => handle,
            Ok(Err(HandlerError::HostKey(e))) => {
                token.cancel();
                return Err(e);
            }
            // No channel is open before the handshake ends; answered all the same.
            Ok(Err(HandlerError::Oversized(message))) => {
                token.cancel();
                return Err(SshError::Disconnected(Phase::Handshake, message));
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
        crate::ssh::phase_observed("handshake", started);
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
            allow_ssh_rsa_sha1: options.allow_ssh_rsa_sha1,
        })
    }

    /// Asks this (authenticated) session's server, a jump host, to connect to
    /// `host:port` and carry the connection on a new direct-tcpip channel: the server
    /// answers once its own TCP connect is made or has failed. The caller bounds the wait.
    pub(crate) async fn open_direct_tcpip(
        &self,
        host: &str,
        port: u16,
    ) -> Result<russh::Channel<client::Msg>, russh::Error> {
        self.handle
            .channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0)
            .await
    }

    /// The host key the server presented (already checked); pin it on accept-new.
    pub fn presented_key(&self) -> &PresentedKey {
        &self.presented
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
