//! The SSH error type, connection phases, and the mapping of russh and I/O errors onto them.

use std::fmt;
use std::io;

/// The phase of a connection an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    Connect,
    Handshake,
    Auth,
    Command,
}

impl Phase {
    /// Lower-case name, for log fields and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Handshake => "handshake",
            Phase::Auth => "auth",
            Phase::Command => "command",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an SSH operation failed. Never carries a secret: messages come from the network
/// stack, the server's disconnect reason, or fixed text.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// Nothing listens on the port (TCP RST to our SYN).
    #[error("connection refused")]
    Refused,
    /// No route, DNS failure, or the connection was dropped before the server sent its
    /// SSH banner.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The phase's timeout elapsed.
    #[error("timed out during {0}")]
    Timeout(Phase),
    /// The server presented a different key than the one pinned for the device. No secret
    /// was sent.
    #[error(
        "host key mismatch: pinned {expected_fingerprint}, server presented {presented_fingerprint}"
    )]
    HostKeyMismatch {
        expected_fingerprint: String,
        presented_fingerprint: String,
    },
    /// Strict host key checking and no key pinned for the device. No secret was sent.
    #[error("host key {presented_fingerprint} is not pinned and checking is strict")]
    HostKeyNotPinned { presented_fingerprint: String },
    /// The peer closed the connection, or broke the protocol, in this phase.
    ///
    /// `Disconnected(Phase::Auth, _)` means the server hung up without judging the
    /// secret (too many attempts, a change of username): reconnect and try the same
    /// credential again rather than counting it as rejected.
    #[error("disconnected during {0}: {1}")]
    Disconnected(Phase, String),
    /// A command produced more than `limit` bytes; reading stopped and its channel was
    /// closed (the session stays usable).
    #[error("output exceeded {limit} bytes (the task's commands together)")]
    OutputTooLarge { limit: usize },
    /// The server refused a channel operation (channel open, exec, PTY or shell request).
    #[error("ssh protocol error: {0}")]
    Protocol(String),
}

impl SshError {
    /// The phase the error happened in. Host key errors belong to the handshake;
    /// [`SshError::Protocol`] is only returned by channel operations (command phase).
    pub fn phase(&self) -> Phase {
        match self {
            SshError::Refused | SshError::Unreachable(_) => Phase::Connect,
            SshError::Timeout(p) | SshError::Disconnected(p, _) => *p,
            SshError::HostKeyMismatch { .. } | SshError::HostKeyNotPinned { .. } => {
                Phase::Handshake
            }
            SshError::OutputTooLarge { .. } | SshError::Protocol(_) => Phase::Command,
        }
    }

    /// Whether the device is unusable for the rest of this task (a network-level or
    /// security failure), as opposed to a refused command or an oversized output.
    pub fn ends_device(&self) -> bool {
        !matches!(
            self,
            SshError::OutputTooLarge { .. } | SshError::Protocol(_)
        )
    }

    /// Maps an error from TCP connect.
    pub(crate) fn from_connect_io(e: &io::Error) -> SshError {
        match e.kind() {
            io::ErrorKind::ConnectionRefused => SshError::Refused,
            io::ErrorKind::TimedOut => SshError::Timeout(Phase::Connect),
            _ => SshError::Unreachable(e.to_string()),
        }
    }

    /// Maps a russh error raised during `phase`.
    pub(crate) fn from_russh(e: russh::Error, phase: Phase) -> SshError {
        use russh::Error as E;
        match e {
            E::ConnectionTimeout | E::InactivityTimeout | E::KeepaliveTimeout | E::Elapsed(_) => {
                SshError::Timeout(phase)
            }
            E::IO(io) => SshError::Disconnected(phase, io.to_string()),
            E::Disconnect | E::HUP | E::SendError | E::RecvError => {
                SshError::Disconnected(phase, "connection closed by server".to_string())
            }
            E::NoCommonAlgo {
                kind: russh::AlgorithmKind::Key,
                theirs,
                ..
            } if theirs.iter().any(|a| a == "ssh-rsa") => SshError::Disconnected(
                phase,
                format!(
                    "no common host key algorithm; server offers {}: ssh-rsa host-key \
                     signatures use SHA-1 and are refused unless the platform profile sets \
                     allow_ssh_rsa_sha1 = true",
                    theirs.join(",")
                ),
            ),
            E::NoCommonAlgo { kind, theirs, .. } => SshError::Disconnected(
                phase,
                format!(
                    "no common {kind:?} algorithm; server offers {} (try legacy algorithms)",
                    theirs.join(",")
                ),
            ),
            E::Version => SshError::Disconnected(phase, "not an SSH server".to_string()),
            E::UnknownKey => SshError::Disconnected(phase, "host key rejected".to_string()),
            E::ChannelOpenFailure(reason) => {
                SshError::Protocol(format!("channel open refused: {reason:?}"))
            }
            other => SshError::Disconnected(phase, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases() {
        assert_eq!(SshError::Refused.phase(), Phase::Connect);
        assert_eq!(SshError::Timeout(Phase::Auth).phase(), Phase::Auth);
        assert_eq!(
            SshError::HostKeyNotPinned {
                presented_fingerprint: "SHA256:x".into()
            }
            .phase(),
            Phase::Handshake
        );
        assert_eq!(
            SshError::OutputTooLarge { limit: 1 }.phase(),
            Phase::Command
        );
    }

    #[test]
    fn connect_errors() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            SshError::from_connect_io(&refused),
            SshError::Refused
        ));
        let other = io::Error::other("no route to host");
        assert!(matches!(
            SshError::from_connect_io(&other),
            SshError::Unreachable(m) if m.contains("no route")
        ));
    }

    #[test]
    fn russh_errors_keep_their_phase() {
        let e = SshError::from_russh(russh::Error::Disconnect, Phase::Auth);
        assert!(matches!(e, SshError::Disconnected(Phase::Auth, _)));
        let e = SshError::from_russh(russh::Error::InactivityTimeout, Phase::Command);
        assert!(matches!(e, SshError::Timeout(Phase::Command)));
        assert!(e.to_string().contains("command"));
    }
}
