//! The russh client callbacks: host key check during the handshake, the size of every
//! data packet, disconnect reasons.

use std::sync::{Arc, Mutex, MutexGuard};

use russh::client::{self, DisconnectReason};
use russh::keys::PublicKey;
use russh::ChannelId;

use super::error::{Phase, SshError};
use super::host_key::{self, HostKeyCheck, PresentedKey};

/// What the callbacks learnt, read by the session.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    pub(crate) presented: Option<PresentedKey>,
    /// The server's disconnect message, if it sent one.
    pub(crate) disconnect: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Shared(Mutex<Observed>);

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Observed> {
        // Observed is plain data; a panic elsewhere cannot leave it inconsistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Error type of the handler: a russh error, our verdict on the host key, or a data
/// packet larger than the maximum we advertised.
#[derive(Debug)]
pub(crate) enum HandlerError {
    Russh(russh::Error),
    HostKey(SshError),
    Oversized(String),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Russh(e)
    }
}

pub(crate) struct ClientHandler {
    pub(crate) check: HostKeyCheck,
    pub(crate) shared: Arc<Shared>,
    /// The maximum packet size we advertise when we open a channel (russh's
    /// `Config::maximum_packet_size`): the most data one packet may carry.
    pub(crate) max_packet: u32,
}

impl ClientHandler {
    /// Refuses a data packet larger than we advertised (OpenSSH's client drops one; in a
    /// backup that would be a gap, so the session ends instead). russh hands each
    /// packet to the channel's reader whole and does not check its size: a peer ignoring
    /// our maximum may send 256 KiB a packet, and a device waiting for a large-output turn
    /// would hold four of them, 1 MiB, where the output budget counts on 4 × 32 KiB. russh
    /// calls this right after it queued the packet for the reader and before it reads the
    /// next one, so such a device holds one oversized packet at most, and its session ends.
    fn check_packet(&self, len: usize) -> Result<(), HandlerError> {
        if len <= self.max_packet as usize {
            return Ok(());
        }
        let message = format!(
            "the device sent {len} bytes in one SSH data packet, over the {} it may send \
             (protocol violation); the session was closed",
            self.max_packet
        );
        self.shared.lock().disconnect = Some(message.clone());
        Err(HandlerError::Oversized(message))
    }
}

impl client::Handler for ClientHandler {
    type Error = HandlerError;

    async fn check_server_key(&mut self, key: &PublicKey) -> Result<bool, Self::Error> {
        let presented = PresentedKey::from_public_key(key)
            .map_err(|m| HandlerError::HostKey(SshError::Disconnected(Phase::Handshake, m)))?;
        let verdict = host_key::verify(&self.check, key, &presented);
        self.shared.lock().presented = Some(presented);
        // Returning an error aborts the handshake: no authentication request is ever sent.
        verdict.map(|()| true).map_err(HandlerError::HostKey)
    }

    async fn data(
        &mut self,
        _channel: ChannelId,
        data: &[u8],
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        self.check_packet(data.len())
    }

    async fn extended_data(
        &mut self,
        _channel: ChannelId,
        _ext: u32,
        data: &[u8],
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        self.check_packet(data.len())
    }

    async fn disconnected(
        &mut self,
        reason: DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        match reason {
            DisconnectReason::ReceivedDisconnect(info) => {
                let message = if info.message.is_empty() {
                    format!("server disconnected: {:?}", info.reason_code)
                } else {
                    format!("server disconnected: {}", info.message)
                };
                self.shared.lock().disconnect = Some(message);
                Ok(())
            }
            DisconnectReason::Error(e) => {
                if let HandlerError::Russh(inner) = &e {
                    self.shared.lock().disconnect = Some(inner.to_string());
                }
                Err(e)
            }
        }
    }
}
