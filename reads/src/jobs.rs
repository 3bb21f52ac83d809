//! The job queries behind `job show`, `job list`, `job results` and `job logs`.

use crate::NotFound;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use netraven_dispatcher::job_rows::{
    self as jobs, CancelRequest, DeviceResult, JobView, ResultsPage,
};
use netraven_shared::domain::{JobStatus, Lane, Outcome};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;

type Client = deadpool_postgres::Client;

/// A job's status and counters; `outcomes` (devices per outcome) when asked for.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobSummary {
    pub id: Uuid,
    pub request_id: String,
    pub job_type: String,
    pub status: JobStatus,
    pub error: Option<String>,
    pub total_devices: i64,
    pub completed_devices: i64,
    pub succeeded_devices: i64,
    pub no_credential_devices: i64,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub deadline_at: DateTime<Utc>,
    /// The task lane (`bulk`, `interactive`); `null` when no task went out.
    pub lane: Option<Lane>,
    /// Who cancelled the job, when and why; `null` unless someone has. A job still
    /// `RUNNING` with a cancel is finishing the devices it had started.
    pub cancel: Option<CancelRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<BTreeMap<Outcome, i64>>,
}

impl JobSummary {
    fn from_view(v: JobView, outcomes: Option<BTreeMap<Outcome, i64>>) -> JobSummary {
        JobSummary {
            id: v.id,
            request_id: v.counts.request_id,
            job_type: v.job_type,
            status: v.counts.status,
            error: v.counts.error,
            total_devices: v.counts.total_devices,
            completed_devices: v.counts.completed_devices,
            succeeded_devices: v.counts.succeeded_devices,
            no_credential_devices: v.counts.no_credential_devices,
            created_at: v.created_at,
            started_at: v.started_at,
            finished_at: v.finished_at,
            deadline_at: v.deadline_at,
            lane: v.lane,
            cancel: v.cancel,
            outcomes,
        }
    }

    /// Run time so far (or in all, once finished), in milliseconds.
    pub fn ran_ms(&self) -> Option<i64> {
        let end = self.finished_at.unwrap_or_else(Utc::now);
        self.started_at.map(|s| (end - s).num_milliseconds())
    }
}

/// Devices per outcome.
pub async fn outcomes(client: &Client, job_id: Uuid) -> Result<BTreeMap<Outcome, i64>> {
    Ok(jobs::outcome_counts(client, job_id)
        .await?
        .into_iter()
        .collect())
}

/// The job's row alone (one cheap query); an error naming the id when there is none.
pub async fn summary_counts(client: &Client, job_id: Uuid) -> Result<JobSummary> {
    let view = jobs::get(client, job_id)
        .await?
        .ok_or_else(|| NotFound(format!("no job {job_id}")))?;
    Ok(JobSummary::from_view(view, None))
}

/// The job, with its outcome counts.
pub async fn summary(client: &Client, job_id: Uuid) -> Result<JobSummary> {
    let mut job = summary_counts(client, job_id).await?;
    job.outcomes = Some(outcomes(client, job_id).await?);
    Ok(job)
}

/// Which jobs to list: each filter that is set must hold.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub job_type: Option<String>,
    /// The submitter as recorded (`submitted_by`).
    pub submitter: Option<String>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Keyset: only jobs older than this one (its creation time and id), for the next page.
    pub before: Option<(DateTime<Utc>, Uuid)>,
}

/// `netraven job list`: the newest jobs first, at most `limit`.
pub async fn list(client: &Client, filter: &JobFilter, limit: i64) -> Result<Vec<JobSummary>> {
    let (before_at, before_id) = filter.before.unzip();
    let (job_type, submitter) = (filter.job_type.as_deref(), filter.submitter.as_deref());
    let rows = client
        .query(
            "SELECT id, request_id, job_type, status, error, total_devices, completed_devices,
                    succeeded_devices, no_credential_devices, created_at, started_at,
                    finished_at, deadline_at, lane, cancel_requested_at, cancelled_by,
                    cancel_reason
             FROM jobs WHERE ($1::text IS NULL OR status = $1)
               AND ($2::text IS NULL OR job_type = $2)
               AND ($3::text IS NULL OR submitted_by = $3)
               AND ($4::timestamptz IS NULL OR created_at >= $4)
               AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6::uuid))
             ORDER BY created_at DESC, id DESC LIMIT $7",
            &[
                &filter.status.map(JobStatus::as_str),
                &job_type,
                &submitter,
                &filter.since,
                &before_at,
                &before_id,
                &limit,
            ],
        )
        .await
        .context("cannot list jobs")?;
    Ok(rows
        .iter()
        .map(|r| JobSummary {
            id: r.get("id"),
            request_id: r.get("request_id"),
            job_type: r.get("job_type"),
            status: r
                .get::<_, &str>("status")
                .parse()
                .unwrap_or(JobStatus::FailedUnexpected),
            error: r.get("error"),
            total_devices: i64::from(r.get::<_, i32>("total_devices")),
            completed_devices: i64::from(r.get::<_, i32>("completed_devices")),
            succeeded_devices: i64::from(r.get::<_, i32>("succeeded_devices")),
            no_credential_devices: i64::from(r.get::<_, i32>("no_credential_devices")),
            created_at: r.get("created_at"),
            started_at: r.get("started_at"),
            finished_at: r.get("finished_at"),
            deadline_at: r.get("deadline_at"),
            lane: jobs::lane_of(r),
            cancel: jobs::cancel_of(r),
            outcomes: None,
        })
        .collect())
}

/// `netraven job results`: every device's result, or those with the given outcomes; by
/// device name, from after `page.after`, at most `page.limit`.
pub async fn results(
    client: &Client,
    job_id: Uuid,
    page: &ResultsPage,
) -> Result<Vec<DeviceResult>> {
    jobs::get(client, job_id)
        .await?
        .ok_or_else(|| NotFound(format!("no job {job_id}")))?;
    Ok(jobs::results_page(client, job_id, page).await?)
}

/// One job log line.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogLine {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub level: String,
    pub device_id: Option<i64>,
    /// The device's name, `null` for lines about the whole job.
    pub device: Option<String>,
    pub message: String,
    pub data: Value,
}

/// `netraven job logs`: the job's log lines in order, or one device's; those after line
/// `after` (an id), at most `limit`.
pub async fn logs(
    client: &Client,
    job_id: Uuid,
    device: Option<&str>,
    after: Option<i64>,
    limit: Option<i64>,
) -> Result<Vec<LogLine>> {
    jobs::get(client, job_id)
        .await?
        .ok_or_else(|| NotFound(format!("no job {job_id}")))?;
    let rows = client
        .query(
            "SELECT l.id, l.created_at, l.level, l.device_id, d.name AS device, l.message, l.data
             FROM job_logs l LEFT JOIN devices d ON d.id = l.device_id
             WHERE l.job_id = $1 AND ($2::text IS NULL OR d.name = $2)
               AND ($3::bigint IS NULL OR l.id > $3)
             ORDER BY l.id LIMIT $4",
            &[&job_id, &device, &after, &limit],
        )
        .await
        .context("cannot read the job's logs")?;
    Ok(rows
        .iter()
        .map(|r| LogLine {
            id: r.get("id"),
            at: r.get("created_at"),
            level: r.get("level"),
            device_id: r.get("device_id"),
            device: r.get("device"),
            message: r.get("message"),
            data: r.get("data"),
        })
        .collect())
}
