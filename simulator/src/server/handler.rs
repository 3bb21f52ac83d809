//! One SSH connection to a device: authentication (with its faults), channels, exec
//! requests and PTY shells.

use std::collections::HashMap;
use std::sync::Arc;

use russh::server::{Auth, ChannelOpenHandle, Msg, Response, Session};
use russh::{Channel, ChannelId, ChannelWriteHalf, MethodKind, MethodSet};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::output::{self, Cutter};
use crate::device::Device;
use crate::ground_truth::{AuthMethod, LoginAttempt};
use crate::platform;
use crate::shell::Shell;
use crate::Fault;

/// One SSH connection to a device.
pub(crate) struct Connection {
    device: Arc<Device>,
    connection: u64,
    user: String,
    channels: HashMap<ChannelId, Chan>,
    /// Channels forwarded by a bastion ([`crate::bastion`]), until the client closes them.
    forwards: HashMap<ChannelId, Arc<crate::bastion::Forward>>,
    /// [`Fault::DropMidOutput`]: cuts this connection's socket.
    cutter: Option<Cutter>,
    /// Cancelled when the connection ends (or the fleet stops): ends endless writers.
    stop: CancellationToken,
    tracker: TaskTracker,
}

#[derive(Default)]
struct Chan {
    shell: Option<Shell>,
    /// Kept only for [`Fault::EndlessOutput`]: the flow-controlled writer.
    writer: Option<ChannelWriteHalf<Msg>>,
    /// Cancelled when the channel closes.
    stop: CancellationToken,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Connection {
    pub(crate) fn new(
        device: Arc<Device>,
        cutter: Option<Cutter>,
        stop: CancellationToken,
        tracker: TaskTracker,
    ) -> Self {
        let connection = device.truth.next_connection();
        Connection {
            device,
            connection,
            user: String::new(),
            channels: HashMap::new(),
            forwards: HashMap::new(),
            cutter,
            stop,
            tracker,
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

    fn fault(&self) -> Option<Fault> {
        self.device.fault()
    }

    /// The one method the device offers.
    fn method(&self) -> MethodKind {
        if self.fault() == Some(Fault::KeyboardInteractiveOnly) {
            MethodKind::KeyboardInteractive
        } else {
            MethodKind::Password
        }
    }

    /// Rejects but keeps the device's method on offer, so the client may try another
    /// secret (russh would otherwise withdraw it after the first failure).
    fn reject(&self) -> Auth {
        let methods = if self.device.takes_keys() {
            MethodSet::from(&[MethodKind::PublicKey, self.method()][..])
        } else {
            MethodSet::from(&[self.method()][..])
        };
        Auth::Reject {
            proceed_with_methods: Some(methods),
            partial_success: false,
        }
    }

    /// [`Fault::SlowAuth`]: waits before answering a request that carried a secret.
    async fn auth_delay(&self) {
        self.wait(self.fault().and_then(Fault::auth_delay)).await;
    }

    /// Waits `delay` (when there is one), or until the connection ends.
    async fn wait(&self, delay: Option<std::time::Duration>) {
        if let Some(delay) = delay {
            tokio::select! {
                _ = self.stop.cancelled() => {}
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// [`crate::Latency`]: the AAA server's time to accept or reject a login.
    async fn aaa_delay(&self, accepted: bool) {
        self.wait(self.device.spec.latency.aaa(accepted)).await;
    }

    /// [`crate::Latency`]: the device's time to think and print an answer of `bytes`.
    async fn answer_delay(&self, bytes: usize) {
        self.wait(self.device.spec.latency.answer(bytes)).await;
    }

    /// Checks a secret that arrived by `method`, records it, answers.
    async fn check_secret(&mut self, user: &str, secret: &str, method: AuthMethod) -> Auth {
        self.device.truth.record_secret();
        let _asked = self.device.aaa.begin(user);
        self.auth_delay().await;
        let offered = match method {
            AuthMethod::Password => self.method() == MethodKind::Password,
            AuthMethod::KeyboardInteractive => self.method() == MethodKind::KeyboardInteractive,
            AuthMethod::None | AuthMethod::PublicKey => false,
        };
        let ok = offered && self.device.accepts(user, secret);
        self.aaa_delay(ok).await;
        self.record(user, method, ok);
        if ok {
            self.user = user.to_string();
            Auth::Accept
        } else {
            self.reject()
        }
    }

    /// The faults that take over a config reply. `true`: the reply was handled.
    fn misbehave(&mut self, channel: ChannelId, reply: &[u8], session: &mut Session) -> bool {
        match self.fault() {
            Some(Fault::EndlessOutput) => {
                if let Some(chan) = self.channels.get_mut(&channel) {
                    if let Some(writer) = chan.writer.take() {
                        output::endless(writer, reply.to_vec(), chan.stop.clone(), &self.tracker);
                    }
                }
                true
            }
            Some(Fault::DropMidOutput) => {
                if let Err(e) = session.data(channel, reply[..reply.len() / 2].to_vec()) {
                    tracing::debug!(error = %e, "mid-output cut: queueing the first half failed");
                }
                if let Some(cutter) = &self.cutter {
                    cutter.cut_soon(&self.tracker);
                }
                true
            }
            _ => false,
        }
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        self.record(user, AuthMethod::None, false);
        Ok(self.reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        Ok(self
            .check_secret(user, password, AuthMethod::Password)
            .await)
    }

    /// A key is asked about (or sent signed): go on to check the signature only for a key
    /// the device accepts for `user`.
    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        key: &russh::keys::PublicKey,
    ) -> Result<Auth, Self::Error> {
        if self.device.accepts_key(user, key) {
            return Ok(Auth::Accept);
        }
        self.auth_delay().await;
        self.record(user, AuthMethod::PublicKey, false);
        Ok(self.reject())
    }

    /// The signature was checked by russh: the key is the user's.
    async fn auth_publickey(
        &mut self,
        user: &str,
        key: &russh::keys::PublicKey,
    ) -> Result<Auth, Self::Error> {
        let _asked = self.device.aaa.begin(user);
        self.auth_delay().await;
        let ok = self.device.accepts_key(user, key);
        self.aaa_delay(ok).await;
        self.record(user, AuthMethod::PublicKey, ok);
        if ok {
            self.user = user.to_string();
            Ok(Auth::Accept)
        } else {
            Ok(self.reject())
        }
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        if self.method() != MethodKind::KeyboardInteractive {
            // Not offered: refused at once, no secret asked for.
            if response.is_none() {
                self.record(user, AuthMethod::KeyboardInteractive, false);
            }
            return Ok(self.reject());
        }
        match response {
            // The challenge: one hidden `Password:` prompt, as sshd's PAM setup sends.
            None => Ok(Auth::Partial {
                name: "".into(),
                instructions: "".into(),
                prompts: vec![("Password: ".into(), false)].into(),
            }),
            Some(mut answers) => {
                let answer = answers
                    .next()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                Ok(self
                    .check_secret(user, &answer, AuthMethod::KeyboardInteractive)
                    .await)
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Dropping the read half: all traffic reaches us through the handler callbacks,
        // and a kept but unread half would stall the connection once its buffer fills
        // (russh ignores a dropped one). The write half is kept only to stream endless
        // output under flow control.
        let id = channel.id();
        let (read, write) = channel.split();
        drop(read);
        let chan = Chan {
            writer: (self.fault() == Some(Fault::EndlessOutput)).then_some(write),
            stop: self.stop.child_token(),
            ..Chan::default()
        };
        self.channels.insert(id, chan);
        reply.accept().await;
        Ok(())
    }

    /// A jump host's channel: only a device that plays a bastion opens one, and only to
    /// a device it may reach ([`crate::bastion`]).
    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        match self.device.bastion.clone() {
            Some(bastion) => {
                let id = channel.id();
                let forward = bastion
                    .open(
                        channel,
                        host_to_connect,
                        port_to_connect,
                        reply,
                        self.stop.clone(),
                        &self.tracker,
                    )
                    .await;
                if let Some(f) = forward {
                    self.forwards.insert(id, f);
                }
            }
            None => {
                reply
                    .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
                    .await
            }
        }
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(chan) = self.channels.remove(&channel) {
            chan.stop.cancel();
        }
        if let (Some(f), Some(b)) = (self.forwards.remove(&channel), &self.device.bastion) {
            b.closed(&f);
        }
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
        if !self.channels.contains_key(&channel) {
            return session.channel_failure(channel);
        }
        if self.device.fault() == Some(Fault::HangAfterLogin) {
            // Acknowledged, then nothing: no banner, no prompt, typed input ignored.
            return session.channel_success(channel);
        }
        let mut shell = Shell::new(self.device.clone(), &self.user);
        session.channel_success(channel)?;
        let start = shell.start();
        self.answer_delay(start.len()).await;
        session.data(channel, start)?;
        if let Some(chan) = self.channels.get_mut(&channel) {
            chan.shell = Some(shell);
        }
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
        if self.fault() == Some(Fault::HangAfterLogin) {
            return session.channel_success(channel);
        }
        let Some(result) = platform::exec(&self.device, &command) else {
            return session.channel_failure(channel);
        };
        session.channel_success(channel)?;
        self.answer_delay(result.stdout.len() + result.stderr.len())
            .await;
        if result.config && self.misbehave(channel, &result.stdout, session) {
            return Ok(());
        }
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
        if out.answered {
            self.answer_delay(out.bytes.len()).await;
        }
        if !out.bytes.is_empty() {
            session.data(channel, out.bytes)?;
        }
        if out.cut {
            if let Some(cutter) = &self.cutter {
                cutter.cut_soon(&self.tracker);
            }
        }
        if let Some(text) = out.endless {
            self.misbehave(channel, &text, session);
        }
        if out.close {
            session.exit_status_request(channel, 0)?;
            session.eof(channel)?;
            session.close(channel)?;
        }
        Ok(())
    }
}
