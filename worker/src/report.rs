//! What working on a device produced: its login attempts, its outcome and what a job made
//! to store (a configuration snapshot, command outputs).

use crate::device_text::DeviceText;
use chrono::{DateTime, Utc};
use netraven_shared::domain::Outcome;
use netraven_shared::messages::TaskResult;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How one login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Success,
    /// The device refused the secret.
    Rejected,
    /// The attempt could not finish (timeout, connection lost).
    Error,
    /// The device took the login but refused the credential's enable secret.
    EnableRefused,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Success => "SUCCESS",
            AttemptOutcome::Rejected => "REJECTED",
            AttemptOutcome::Error => "ERROR",
            AttemptOutcome::EnableRefused => "ENABLE_REFUSED",
        }
    }
}

/// One login attempt, as recorded in `credential_attempts`.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub credential_id: i64,
    pub credential_name: String,
    pub outcome: AttemptOutcome,
    pub duration_ms: i32,
    pub at: DateTime<Utc>,
}

/// Everything a device's work produced.
#[derive(Debug)]
pub struct DeviceReport {
    pub outcome: Outcome,
    pub reason: String,
    /// The credential that logged in.
    pub credential_id: Option<i64>,
    pub attempts: Vec<Attempt>,
    /// The configuration to store, for `config_backup`.
    pub config: Option<Snapshot>,
    pub duration: Duration,
    /// The large-output turn the device's output took, if it needed one: held until its
    /// result is recorded, while the output is still in memory.
    pub output_turn: Option<crate::ssh::OutputTurn>,
}

impl DeviceReport {
    /// The report of a device recorded before, whose stored result is only reported
    /// again: nothing in it is written.
    pub fn reported_before(result: &TaskResult) -> DeviceReport {
        DeviceReport {
            outcome: result.outcome,
            reason: result.reason.clone(),
            credential_id: result.credential_id,
            attempts: Vec::new(),
            config: None,
            duration: Duration::from_millis(result.duration_ms),
            output_turn: None,
        }
    }
}

/// What a successful job on one device produced.
#[derive(Debug, Clone, Default)]
pub struct JobDone {
    /// One line for the device's result (`configuration stored (12034 bytes, …)`).
    pub summary: String,
    /// A configuration to store, written with the device's attempts in one batch.
    pub config: Option<Snapshot>,
}

/// A configuration as it will be stored: redacted when configured, keyed by its hash.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// SHA-256 of the bytes of `content` (what the device sent, after redaction),
    /// lower-case hex: the same as before for text, and for a configuration that is not
    /// text, the hash of its exact bytes rather than of a lossy copy.
    pub sha256: String,
    pub content: DeviceText,
}

impl Snapshot {
    pub fn of(content: DeviceText) -> Snapshot {
        Snapshot {
            sha256: hex::encode(Sha256::digest(content.as_bytes())),
            content,
        }
    }
}

/// One command's output, for the `command` job type.
pub struct CommandOutput {
    pub command: String,
    pub output: DeviceText,
    pub exit_status: Option<i32>,
}
