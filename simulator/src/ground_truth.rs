//! What really happened on each device: login attempts and commands, per-device locks.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::Fault;

/// An SSH user-authentication method, as named on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuthMethod {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "password")]
    Password,
    #[serde(rename = "keyboard-interactive")]
    KeyboardInteractive,
    #[serde(rename = "publickey")]
    PublicKey,
}

impl AuthMethod {
    /// The wire name: `none`, `password`, `keyboard-interactive`, `publickey`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::Password => "password",
            AuthMethod::KeyboardInteractive => "keyboard-interactive",
            AuthMethod::PublicKey => "publickey",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for AuthMethod {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for AuthMethod {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One authentication request a device received, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginAttempt {
    pub username: String,
    pub method: AuthMethod,
    pub accepted: bool,
    /// Which TCP connection to this device (1, 2, ...): attempts that share it were made
    /// on one SSH connection.
    pub connection: u64,
}

/// Everything recorded on one device, with its fault: what `GET /truth` serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceReport {
    pub name: String,
    pub fault: Option<Fault>,
    /// TCP connections accepted.
    pub connections: u64,
    pub attempts: Vec<LoginAttempt>,
    pub commands: Vec<String>,
    /// Password and keyboard-interactive answers received: each carried a secret.
    pub secrets_received: u64,
    /// The device serves a host key other than its seed's ([`Fault::HostKeyChanged`]).
    pub host_key_changed: bool,
    /// A secret reached this device although its host key changed: the client failed to
    /// stop at the host-key check. Must stay `false`.
    pub secret_sent_after_host_key_change: bool,
}

/// Per-device record. Each device has its own locks, held for a push or a clone only, so
/// thousands of logins per second across a fleet never contend on one lock.
#[derive(Debug, Default)]
pub(crate) struct DeviceTruth {
    attempts: Mutex<Vec<LoginAttempt>>,
    commands: Mutex<Vec<String>>,
    connections: AtomicU64,
    /// Password and keyboard-interactive answers received (each carried a secret).
    secrets: AtomicU64,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a Vec half-pushed: keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl DeviceTruth {
    /// Numbers a new TCP connection.
    pub(crate) fn next_connection(&self) -> u64 {
        self.connections.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn record_attempt(&self, attempt: LoginAttempt) {
        lock(&self.attempts).push(attempt);
    }

    /// A request that carried a secret (a password, an answer to a prompt) arrived.
    pub(crate) fn record_secret(&self) {
        self.secrets.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn secrets(&self) -> u64 {
        self.secrets.load(Ordering::Relaxed)
    }

    pub(crate) fn record_command(&self, command: &str) {
        lock(&self.commands).push(command.to_string());
    }

    pub(crate) fn attempts(&self) -> Vec<LoginAttempt> {
        lock(&self.attempts).clone()
    }

    pub(crate) fn commands(&self) -> Vec<String> {
        lock(&self.commands).clone()
    }

    pub(crate) fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}
