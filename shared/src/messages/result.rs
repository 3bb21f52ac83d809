//! What a worker reports for each device: one result, or a batch of them.

use crate::domain::Outcome;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The version of task results this build writes. Version 2 added `config`; an
/// aggregator reads version 1 too (workers of an older build, during an upgrade).
pub const RESULT_VERSION: u32 = 2;

/// Whether a result of `version` may carry what it does.
fn readable(result: &TaskResult) -> Result<(), String> {
    match result.version {
        RESULT_VERSION => Ok(()),
        1 if result.config.is_none() => Ok(()),
        1 => Err("a version 1 task result carries no config".into()),
        v => Err(format!(
            "unsupported task result version {v} (this aggregator reads 1 and {RESULT_VERSION})"
        )),
    }
}

/// What a worker reports for one device (to `<ns>.results`), recorded by the aggregator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskResult {
    pub version: u32,
    pub job_id: Uuid,
    pub device_id: i64,
    pub device_name: String,
    pub outcome: Outcome,
    /// Human-readable reason; never contains a secret.
    pub reason: String,
    /// The credential that logged in, when one did.
    #[serde(default)]
    pub credential_id: Option<i64>,
    /// Login attempts made on this device.
    pub attempts: u32,
    pub duration_ms: u64,
    /// SHA-256 of the stored configuration, for `config_backup`.
    #[serde(default)]
    pub config_sha256: Option<String>,
    /// What storing the configuration did to the device's history, for `config_backup`
    /// (absent from results of workers older than configuration history).
    #[serde(default)]
    pub config: Option<ConfigVersion>,
    /// Which worker did the work (host name and process id).
    pub worker: String,
    pub finished_at: DateTime<Utc>,
    /// Which try of the device this result is, as its task said; absent for the first.
    #[serde(rename = "try", default, skip_serializing_if = "Option::is_none")]
    pub try_number: Option<u32>,
}

impl TaskResult {
    /// Which try of the device this result is (1 for the first).
    pub fn try_number(&self) -> u32 {
        self.try_number.unwrap_or(1).max(1)
    }

    pub fn decode(body: &[u8]) -> Result<TaskResult, String> {
        let result: TaskResult =
            serde_json::from_slice(body).map_err(|e| format!("not a valid task result: {e}"))?;
        readable(&result)?;
        Ok(result)
    }
}

/// Where a stored configuration left the device's history: the version it is at and how
/// that version differs from the one before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigVersion {
    /// What the backup did: a first version, a new one, or the latest seen again.
    pub change: ConfigChange,
    /// The device's version number after the backup, from 1.
    pub version: u32,
    /// SHA-256 of the version before, for [`ConfigChange::Changed`].
    pub previous_sha256: Option<String>,
    /// Lines added and removed against the version before (0 unless changed).
    pub lines_added: u32,
    pub lines_removed: u32,
}

/// What a backup did to a device's configuration history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConfigChange {
    /// The device's first version.
    New,
    /// A version that differs from the latest before it.
    Changed,
    /// The latest version, seen again.
    Unchanged,
}

impl ConfigChange {
    /// The wire and database name (`job_results.config_change`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigChange::New => "NEW",
            ConfigChange::Changed => "CHANGED",
            ConfigChange::Unchanged => "UNCHANGED",
        }
    }
}

/// The AMQP `type` of a message on `<ns>.results` that carries a [`TaskResults`] batch; a
/// message without it carries one [`TaskResult`].
pub const RESULTS_BATCH_TYPE: &str = "task-results";

/// Largest batch a worker sends (its group commit's size).
pub const MAX_RESULTS_PER_BATCH: usize = 512;

/// Several devices' results in one message: a worker publishes one per group commit, not
/// one per device, so the broker confirms, stores, delivers and acks one message where it
/// did hundreds. The aggregator takes these and single [`TaskResult`]s alike (workers of
/// an older build send singles during an upgrade).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskResults {
    pub version: u32,
    pub results: Vec<TaskResult>,
}

impl TaskResults {
    pub fn decode(body: &[u8]) -> Result<TaskResults, String> {
        let batch: TaskResults = serde_json::from_slice(body)
            .map_err(|e| format!("not a valid batch of task results: {e}"))?;
        if batch.version != 1 && batch.version != RESULT_VERSION {
            return Err(format!(
                "unsupported task results version {} (this aggregator reads 1 and {RESULT_VERSION})",
                batch.version
            ));
        }
        if let Some(r) = batch.results.iter().find(|r| r.version != batch.version) {
            return Err(format!(
                "a task result of version {} in a batch of version {}",
                r.version, batch.version
            ));
        }
        match batch.results.iter().map(readable).find_map(Result::err) {
            Some(e) => Err(e),
            None if batch.results.len() > MAX_RESULTS_PER_BATCH => Err(format!(
                "{} results in one batch; at most {MAX_RESULTS_PER_BATCH}",
                batch.results.len()
            )),
            None => Ok(batch),
        }
    }
}
