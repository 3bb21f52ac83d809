//! The SSH side of a device: russh config, accept loop and per-connection handler.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::server::{Auth, ChannelOpenHandle, Msg, Response, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::device::Device;
use crate::ground_truth::{AuthMethod, LoginAttempt};
use crate::platform;
use crate::shell::Shell;

/// Authentication attempts allowed per connection (OpenSSH's MaxAuthTries default).
pub const MAX_AUTH_TRIES: usize = 6;

/// The russh server config of one device.
pub(crate) fn config(key: PrivateKey, auth_rejection: Duration) -> russh::server::Config {
    russh::server::Config {
        server_id: russh::SshId::Standard("SSH-2.0-OpenSSH_9.2p1 netraven-sim".into()),
        methods: MethodSet::from(&[MethodKind::Password][..]),
        auth_rejection_time: auth_rejection,
        // OpenSSH clients probe with `none` first; real servers answer that at once.
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![key],
        max_auth_attempts: MAX_AUTH_TRIES,
        inactivity_timeout: Some(Duration::from_secs(600)),
        nodelay: true,
        ..Default::default()
    }
}

/// Accepts connections until `shutdown`, each served in `tracker`.
pub(crate) async fn accept_loop(
    device: Arc<Device>,
    listener: TcpListener,
    config: Arc<russh::server::Config>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        let (socket, _peer) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning; the device stays up.
                tracing::warn!(device.name = device.name(), error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(device.name = device.name(), error = %e, "set_nodelay failed");
        }
        let handler = Connection::new(device.clone());
        let config = config.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            // The setup waits for the client's SSH identification: a client that connects
            // and never speaks must not hold up shutdown.
            let setup = tokio::select! {
                _ = shutdown.cancelled() => return,
                s = russh::server::run_stream(config, socket, handler) => s,
            };
            let session = match setup {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "ssh connection setup failed");
                    return;
                }
            };
            let handle = session.handle();
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = handle
                        .disconnect(russh::Disconnect::ByApplication, "simulator shutting down".into(), String::new())
                        .await;
                }
                r = session => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "ssh connection ended with an error");
                    }
                }
            }
        });
    }
}

/// One SSH connection to a device.
pub(crate) struct Connection {
    device: Arc<Device>,
    connection: u64,
    user: String,
    channels: HashMap<ChannelId, Chan>,
}

#[derive(Default)]
struct Chan {
    shell: Option<Shell>,
}

impl Connection {
    fn new(device: Arc<Device>) -> Self {
        let connection = device.truth.next_connection();
        Connection {
            device,
            connection,
            user: String::new(),
            channels: HashMap::new(),
        }
    }

    fn record(&self, user: &str, method: AuthMethod, accepted: bool) {
        self.device.truth.record_attempt(LoginAttempt {
            username: user.to_string(),
            method,
            accepted,
            connection: self.connection,
        });
    }

    /// Rejects but keeps every method on offer, so the client may try another password
    /// (russh would otherwise withdraw `password` after the first failure).
    fn reject() -> Auth {
        Auth::Reject {
            proceed_with_methods: Some(MethodSet::from(&[MethodKind::Password][..])),
            partial_success: false,
        }
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        self.record(user, AuthMethod::None, false);
        Ok(Self::reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let ok = self.device.accepts(user, password);
        self.record(user, AuthMethod::Password, ok);
        if ok {
            self.user = user.to_string();
            Ok(Auth::Accept)
        } else {
            Ok(Self::reject())
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        _key: &russh::keys::PublicKey,
    ) -> Result<Auth, Self::Error> {
        self.record(user, AuthMethod::PublicKey, false);
        Ok(Self::reject())
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        if response.is_none() {
            self.record(user, AuthMethod::KeyboardInteractive, false);
        }
        Ok(Self::reject())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Dropping `channel`: all traffic reaches us through the handler callbacks, and a
        // kept but unread channel would stall the connection once its buffer fills.
        self.channels.insert(channel.id(), Chan::default());
        drop(channel);
        reply.accept().await;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(chan) = self.channels.get_mut(&channel) else {
            return session.channel_failure(channel);
        };
        let mut shell = Shell::new(self.device.clone(), &self.user);
        session.channel_success(channel)?;
        session.data(channel, shell.start())?;
        chan.shell = Some(shell);
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let command = String::from_utf8_lossy(data);
        self.device.truth.record_command(&command);
        let Some(result) = platform::exec(&self.device, &command) else {
            return session.channel_failure(channel);
        };
        session.channel_success(channel)?;
        if !result.stdout.is_empty() {
            session.data(channel, result.stdout)?;
        }
        if !result.stderr.is_empty() {
            session.extended_data(channel, 1, result.stderr)?;
        }
        session.exit_status_request(channel, result.status)?;
        session.eof(channel)?;
        session.close(channel)
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(shell) = self
            .channels
            .get_mut(&channel)
            .and_then(|c| c.shell.as_mut())
        else {
            return Ok(());
        };
        let out = shell.input(data);
        if !out.bytes.is_empty() {
            session.data(channel, out.bytes)?;
        }
        if out.close {
            session.exit_status_request(channel, 0)?;
            session.eof(channel)?;
            session.close(channel)?;
        }
        Ok(())
    }
}
