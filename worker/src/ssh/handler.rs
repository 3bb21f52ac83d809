//! The russh client callbacks: host key check during the handshake, disconnect reasons.

use std::sync::{Arc, Mutex, MutexGuard};

use russh::client::{self, DisconnectReason};
use russh::keys::PublicKey;

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

/// Error type of the handler: a russh error, or our verdict on the host key.
#[derive(Debug)]
pub(crate) enum HandlerError {
    Russh(russh::Error),
    HostKey(SshError),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Russh(e)
    }
}

pub(crate) struct ClientHandler {
    pub(crate) check: HostKeyCheck,
    pub(crate) shared: Arc<Shared>,
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
