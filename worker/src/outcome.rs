//! The one place that maps what went wrong on a device to its per-device outcome.

use crate::ssh::{Phase, SshError};
use netraven_shared::domain::Outcome;

/// The outcome of a device whose session failed with `e`.
pub fn of_ssh_error(e: &SshError) -> Outcome {
    match e {
        SshError::Refused | SshError::Unreachable(_) => Outcome::Unreachable,
        SshError::Timeout(_) => Outcome::Timeout,
        SshError::HostKeyMismatch { .. } | SshError::HostKeyNotPinned { .. } => {
            Outcome::HostKeyMismatch
        }
        SshError::Disconnected(Phase::Command, _)
        | SshError::OutputTooLarge { .. }
        | SshError::Protocol(_) => Outcome::CommandFailed,
        SshError::Disconnected(_, _) => Outcome::Unreachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_failures_security_failures_and_command_failures_are_told_apart() {
        assert_eq!(of_ssh_error(&SshError::Refused), Outcome::Unreachable);
        assert_eq!(
            of_ssh_error(&SshError::Timeout(Phase::Handshake)),
            Outcome::Timeout
        );
        assert_eq!(
            of_ssh_error(&SshError::HostKeyNotPinned {
                presented_fingerprint: "SHA256:x".into()
            }),
            Outcome::HostKeyMismatch
        );
        assert_eq!(
            of_ssh_error(&SshError::OutputTooLarge { limit: 1 }),
            Outcome::CommandFailed
        );
        assert_eq!(
            of_ssh_error(&SshError::Disconnected(Phase::Command, "eof".into())),
            Outcome::CommandFailed
        );
        assert_eq!(
            of_ssh_error(&SshError::Disconnected(Phase::Handshake, "eof".into())),
            Outcome::Unreachable
        );
    }
}
