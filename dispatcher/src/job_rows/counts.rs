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
    /// The job type as requested (not necessarily one this build knows).
    pub job_type: String,
    pub status: JobStatus,
    pub total_devices: i64,
    pub completed_devices: i64,
    pub succeeded_devices: i64,
    pub no_credential_devices: i64,
    pub error: Option<String>,
}

impl JobCounts {
    /// A job just created: `PENDING`, nothing counted yet.
    pub fn pending(request_id: &str, job_type: &str) -> JobCounts {
        JobCounts {
            request_id: request_id.to_string(),
            job_type: job_type.to_string(),
            status: JobStatus::Pending,
            total_devices: 0,
            completed_devices: 0,
            succeeded_devices: 0,
            no_credential_devices: 0,
            error: None,
        }
    }

    /// The job type as a metric label: a type this build knows, or `unknown` (a request
    /// may name any string, and labels must stay few).
    pub fn job_type_label(&self) -> &'static str {
        self.job_type
            .parse::<netraven_shared::domain::JobType>()
            .map_or("unknown", |t| t.as_str())
    }

    pub(super) fn from_row(row: &tokio_postgres::Row) -> JobCounts {
        JobCounts {
            request_id: row.get("request_id"),
            job_type: row.get("job_type"),
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

pub(super) const COUNT_COLUMNS: &str =
    "request_id, job_type, status, total_devices, completed_devices, \
                             succeeded_devices, no_credential_devices, error";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_type_label_is_a_known_type_or_unknown() {
        let counts = |job_type: &str| JobCounts {
            request_id: "r".into(),
            job_type: job_type.into(),
            status: JobStatus::CompletedSuccess,
            total_devices: 0,
            completed_devices: 0,
            succeeded_devices: 0,
            no_credential_devices: 0,
            error: None,
        };
        assert_eq!(counts("config_backup").job_type_label(), "config_backup");
        assert_eq!(counts("command").job_type_label(), "command");
        // A request may name anything; the label stays one of a few values.
        assert_eq!(counts("firmware_upgrade").job_type_label(), "unknown");
        assert_eq!(counts("\u{1b}[2J").job_type_label(), "unknown");
    }
}
