//! Job events on the topic exchange, and the reply to a job request.

use crate::domain::JobStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A job's state change, published on the topic exchange `<ns>.events` with routing key
/// `job.created`, `job.running`, `job.cancelling` or `job.completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobEvent {
    pub version: u32,
    pub event: String,
    pub job_id: Uuid,
    pub request_id: String,
    pub status: JobStatus,
    pub total_devices: i64,
    pub completed_devices: i64,
    pub succeeded_devices: i64,
    #[serde(default)]
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// A device whose configuration changed, published on `<ns>.events` with routing key
/// `config.changed` once its result is recorded. A device's first version is not a
/// change and has no event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigChangedEvent {
    pub version: u32,
    pub event: String,
    pub job_id: Uuid,
    pub device_id: i64,
    pub device_name: String,
    /// The device's new version number.
    pub config_version: u32,
    pub old_sha256: String,
    pub new_sha256: String,
    pub lines_added: u32,
    pub lines_removed: u32,
    /// When the device's backup finished.
    pub at: DateTime<Utc>,
}

/// Routing keys of events.
pub mod events {
    pub const CREATED: &str = "job.created";
    pub const RUNNING: &str = "job.running";
    pub const COMPLETED: &str = "job.completed";
    /// A cancel was accepted; the job is still `PENDING` or `RUNNING` and ends `CANCELLED`.
    pub const CANCELLING: &str = "job.cancelling";
    pub const CONFIG_CHANGED: &str = "config.changed";
}

/// The answer to a job request on its `reply_to` queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobReply {
    pub version: u32,
    pub accepted: bool,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub job_id: Option<Uuid>,
    #[serde(default)]
    pub status: Option<JobStatus>,
    /// Why the request was refused, when it was.
    #[serde(default)]
    pub error: Option<String>,
}
