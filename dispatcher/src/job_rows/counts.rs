//! A job's counters as stored, and the event that announces them.

use chrono::Utc;
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{self, JobEvent};
use uuid::Uuid;

/// A status column's value; a row never holds another, but an unknown one must not panic.
pub(super) fn parse_status(s: &str) -> JobStatus {
    s.parse().unwrap_or(JobStatus::FailedUnexpected)
}

/// Counters of one job, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCounts {
    pub request_id: String,
    pub status: JobStatus,
    pub total_devices: i64,
    pub completed_devices: i64,
    pub succeeded_devices: i64,
    pub no_credential_devices: i64,
    pub error: Option<String>,
}

impl JobCounts {
    pub(super) fn from_row(row: &tokio_postgres::Row) -> JobCounts {
        JobCounts {
            request_id: row.get("request_id"),
            status: parse_status(row.get("status")),
            total_devices: i64::from(row.get::<_, i32>("total_devices")),
            completed_devices: i64::from(row.get::<_, i32>("completed_devices")),
            succeeded_devices: i64::from(row.get::<_, i32>("succeeded_devices")),
            no_credential_devices: i64::from(row.get::<_, i32>("no_credential_devices")),
            error: row.get("error"),
        }
    }

    /// The event announcing this state.
    pub fn event(&self, job_id: Uuid, event: &str) -> JobEvent {
        JobEvent {
            version: messages::VERSION,
            event: event.to_string(),
            job_id,
            request_id: self.request_id.clone(),
            status: self.status,
            total_devices: self.total_devices,
            completed_devices: self.completed_devices,
            succeeded_devices: self.succeeded_devices,
            error: self.error.clone(),
            at: Utc::now(),
        }
    }
}

pub(super) const COUNT_COLUMNS: &str = "request_id, status, total_devices, completed_devices, \
                             succeeded_devices, no_credential_devices, error";
