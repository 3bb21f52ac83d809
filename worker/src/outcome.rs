//! The one place that maps what went wrong on a device to its per-device outcome.

use crate::ssh::{Phase, SshError, SshTimeouts};
use netraven_shared::domain::Outcome;

/// Why a device did not succeed: its outcome and a reason a person can read.
pub struct DeviceFailure {
    pub outcome: Outcome,
    pub reason: String,
    /// The device took the login but refused the credential's enable secret: the next
    /// credential may still get in (see `device.rs`).
    pub enable_refused: bool,
}

impl DeviceFailure {
    /// A failure whose reason is one line of text safe to store and show: a reason
    /// often quotes the device (an error line, its stderr, a disconnect message), and a
    /// NUL there would fail the batch statement that records it, an escape sequence
    /// reach an operator's terminal. Every control character is escaped here, once.
    pub fn new(outcome: Outcome, reason: impl Into<String>) -> DeviceFailure {
        let reason: String = reason.into();
        let reason = match netraven_shared::text::one_line(&reason) {
            std::borrow::Cow::Borrowed(_) => reason,
            std::borrow::Cow::Owned(escaped) => escaped,
        };
        DeviceFailure {
            outcome,
            reason,
            enable_refused: false,
        }
    }

    /// `AUTH_FAILED`, "enable refused": the login was accepted, privileged mode was not.
    pub fn enable_refused(command: &str) -> DeviceFailure {
        DeviceFailure {
            enable_refused: true,
            ..DeviceFailure::new(
                Outcome::AuthFailed,
                format!(
                    "enable refused: the device did not accept the enable secret for {command:?}"
                ),
            )
        }
    }

    /// The failure of a session error, its reason naming the timeout that ran out.
    pub fn ssh(e: &SshError, timeouts: &SshTimeouts) -> DeviceFailure {
        DeviceFailure::new(of_ssh_error(e), reason_of_ssh_error(e, timeouts))
    }

    /// A failed step (`opening the shell`, a quoted command): its outcome, and the reason
    /// prefixed with the step.
    pub fn ssh_step(step: &str, e: &SshError, timeouts: &SshTimeouts) -> DeviceFailure {
        let failure = DeviceFailure::ssh(e, timeouts);
        DeviceFailure::new(failure.outcome, format!("{step}: {}", failure.reason))
    }
}

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

/// The reason a person reads for `e`: the error and, for a timeout, the limit that ran
/// out (`timed out during auth: no answer within 1500 ms`).
pub fn reason_of_ssh_error(e: &SshError, timeouts: &SshTimeouts) -> String {
    let SshError::Timeout(phase) = e else {
        return e.to_string();
    };
    let (what, limit) = match phase {
        Phase::Connect => ("no TCP connection within", timeouts.connect),
        Phase::Handshake => ("no SSH handshake within", timeouts.handshake),
        Phase::Auth => ("no answer to the login within", timeouts.auth),
        Phase::Command => ("no output for", timeouts.command_idle),
    };
    format!("{e}: {what} {} ms", limit.as_millis())
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

    #[test]
    fn a_timeout_reason_names_the_limit_that_ran_out() {
        let t = SshTimeouts {
            auth: std::time::Duration::from_millis(1500),
            ..SshTimeouts::default()
        };
        assert_eq!(
            reason_of_ssh_error(&SshError::Timeout(Phase::Auth), &t),
            "timed out during auth: no answer to the login within 1500 ms"
        );
        assert_eq!(
            reason_of_ssh_error(&SshError::Refused, &t),
            "connection refused"
        );
    }
}
