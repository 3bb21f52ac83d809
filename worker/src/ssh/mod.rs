//! SSH client sessions on raw russh: connect, pin host keys, authenticate, exec.
//!
//! One [`Session`] is one TCP connection to one device. Every phase has its own timeout
//! ([`SshTimeouts`]), the host key is checked inside the handshake before any secret is
//! sent ([`HostKeyCheck`]), several passwords can be tried on one connection
//! ([`Session::authenticate`]), and commands run on exec channels ([`Session::exec`]) or
//! in an interactive shell ([`Session::shell`]).
//!
//! Files: `session/` (the public [`Session`]: connect, auth, exec), `error.rs` ([`SshError`], [`Phase`] and the
//! mapping of russh errors), `host_key.rs` (fingerprints and pin checks), `algorithms.rs`
//! (the russh client configuration), `handler.rs` (the russh callbacks), `stream.rs` (a
//! socket wrapper that lets us close a connection russh still holds), `output.rs` (what
//! devices' output may take of a worker's memory), `timing.rs` (the phases' durations as
//! metrics), `shell.rs` ([`Shell`]: PTY shells, prompts, pagers, enable) and `terminal/`
//! (the pure text logic of shells: escape sequences, prompt and pager matching, echo).

mod algorithms;
mod error;
mod handler;
mod host_key;
mod output;
mod session;
mod shell;
mod stream;
pub mod terminal;
mod timing;

use std::time::Duration;

pub use error::{Phase, SshError};
pub use host_key::{fingerprint_of_line, pin_accepts, HostKeyCheck, PresentedKey};
pub use output::{OutputAllowance, OutputBudget, OutputTurn};
pub use session::{OpenedCredential, Session};
pub use shell::{Expected, Shell, ShellOptions};
pub use timing::phase_observed;

/// Per-phase timeouts of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SshTimeouts {
    /// DNS resolution plus TCP connect.
    pub connect: Duration,
    /// From TCP established to the end of the key exchange (host key checked).
    pub handshake: Duration,
    /// One whole [`Session::authenticate`] call.
    pub auth: Duration,
    /// Idle time allowed while a command runs; resets whenever output arrives.
    pub command_idle: Duration,
}

impl Default for SshTimeouts {
    fn default() -> Self {
        SshTimeouts {
            connect: Duration::from_secs(10),
            handshake: Duration::from_secs(15),
            auth: Duration::from_secs(20),
            command_idle: Duration::from_secs(30),
        }
    }
}

/// Connection options beyond timeouts and host keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SshOptions {
    /// Also offer algorithms that old devices need and modern OpenSSH disabled:
    /// `diffie-hellman-group14-sha1`, `diffie-hellman-group-exchange-sha1` (2048-bit groups),
    /// `diffie-hellman-group1-sha1`, `aes*-cbc` and `hmac-sha1`. They are appended after the
    /// modern ones, so a modern server still negotiates modern algorithms.
    pub legacy_algorithms: bool,
    /// Also accept `ssh-rsa` host-key signatures, made with SHA-1 (offered last). Without
    /// it an RSA host key must sign with `rsa-sha2-512` or `rsa-sha2-256`, and a server
    /// that offers only `ssh-rsa` fails the handshake before any secret is sent.
    pub allow_ssh_rsa_sha1: bool,
    /// The SSH window this session advertises for its channels, when not russh's 2 MiB:
    /// sessions over a jump host's channel use a smaller one, which bounds what the
    /// channel's reader may have to hold ([`crate::jump::JUMP_WINDOW`]).
    pub window: Option<u32>,
}

/// What the server said about one authentication attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Logged in: the session can run commands.
    Accepted,
    /// The server refused this secret (the connection may still take another one: see
    /// [`Session::is_open`]).
    Rejected,
}

/// The result of one command on an exec channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// `None` when the server closed the channel without an exit status.
    pub exit_status: Option<u32>,
    /// The signal that ended the command, when the server said so (`exit-signal`, RFC
    /// 4254 6.10): `KILL`, `SEGV (core dumped): message`, ... Its output is incomplete.
    pub exit_signal: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn session_can_move_between_tasks() {
        assert_send_sync::<Session>();
        assert_send_sync::<SshError>();
    }
}
