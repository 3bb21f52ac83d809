//! Commands on exec channels, bounded by the idle timeout and the output allowance.

use std::future::Future;
use std::sync::atomic::Ordering;

use russh::ChannelMsg;

use super::connect::{Session, CLOSE_GRACE};
use crate::ssh::error::{Phase, SshError};
use crate::ssh::output::OutputAllowance;
use crate::ssh::ExecOutput;

impl Session {
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
                Some(ChannelMsg::ExitSignal {
                    signal_name,
                    core_dumped,
                    error_message,
                    ..
                }) => out.exit_signal = Some(signal(&signal_name, core_dumped, &error_message)),
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
    pub(in crate::ssh) async fn idle_bounded<T>(
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
}

/// How an `exit-signal` reads in a reason: `KILL`, `SEGV (core dumped): message`. The
/// device's words are escaped where the reason is made (`DeviceFailure::new`).
fn signal(name: &russh::Sig, core_dumped: bool, message: &str) -> String {
    let mut s = match name {
        russh::Sig::Custom(custom) => custom.clone(),
        known => format!("{known:?}"),
    };
    if core_dumped {
        s.push_str(" (core dumped)");
    }
    let message = message.trim();
    if !message.is_empty() {
        s.push_str(": ");
        s.push_str(message);
    }
    s
}
