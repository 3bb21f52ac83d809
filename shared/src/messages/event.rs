//! Job events on the topic exchange, and the reply to a job request.

use crate::domain::JobStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A job's state change, published on the topic exchange `<ns>.events` with routing key
/// `job.created`, `job.running` or `job.completed`.
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

/// Routing keys of job events.
pub mod events {
    pub const CREATED: &str = "job.created";
    pub const RUNNING: &str = "job.running";
    pub const COMPLETED: &str = "job.completed";
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
