//! A job row's life: creation, resolution counters, `PENDING` → `RUNNING` → a final status.
//!
//! Every transition is a conditional `UPDATE` on the current status, so two processes can
//! never both move a job, and a final status never changes again.

use super::counts::{parse_status, JobCounts, COUNT_COLUMNS};
use crate::error::Result;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{JobRequest, TaskDevice};
use uuid::Uuid;

/// What `create` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    New(Uuid),
    /// A job with this `request_id` exists already.
    Existing {
        id: Uuid,
        status: JobStatus,
        /// The job was made by this very request from this very submitter (a redelivery),
        /// not by another request, or another submitter, that reused the `request_id`.
        same: bool,
        /// The job's deadline, set when the job was made.
        deadline: DateTime<Utc>,
    },
}

/// Creates the job row for a request, recording `submitted_by` (the broker user that
/// published it, `None` for anonymous) as its submitter, or finds the one its `request_id` already made.
pub async fn create<C: GenericClient>(
    db: &C,
    request: &JobRequest,
    submitted_by: Option<&str>,
    deadline: DateTime<Utc>,
) -> Result<Created> {
    let id = Uuid::now_v7();
    let body = serde_json::to_value(request).map_err(netraven_shared::Error::from)?;
    let inserted = db
        .query_opt(
            "INSERT INTO jobs (id, request_id, job_type, request, submitted_by, status, deadline_at)
             VALUES ($1, $2, $3, $4, $5, 'PENDING', $6)
             ON CONFLICT (request_id) DO NOTHING
             RETURNING id",
            &[
                &id,
                &request.request_id,
                &request.job_type,
                &body,
                &submitted_by,
                &deadline,
            ],
        )
        .await?;
    if inserted.is_some() {
        return Ok(Created::New(id));
    }
    let row = db
        .query_one(
            "SELECT id, status, request = $2 AND submitted_by IS NOT DISTINCT FROM $3, deadline_at
             FROM jobs WHERE request_id = $1",
            &[&request.request_id, &body, &submitted_by],
        )
        .await?;
    Ok(Created::Existing {
        id: row.get(0),
        status: parse_status(row.get(1)),
        same: row.get(2),
        deadline: row.get(3),
    })
}

/// Ends a job that has not started running (or is running) with `status`, unless it
/// already has a final status. Returns the job's counts if this call ended it.
pub async fn finish<C: GenericClient>(
    db: &C,
    job_id: Uuid,
    status: JobStatus,
    error: Option<&str>,
) -> Result<Option<JobCounts>> {
    let row = db
        .query_opt(
            &format!(
                "UPDATE jobs SET status = $2, error = COALESCE($3, error), finished_at = now()
                 WHERE id = $1 AND status IN ('PENDING', 'RUNNING')
                 RETURNING {COUNT_COLUMNS}"
            ),
            &[&job_id, &status.as_str(), &error],
        )
        .await?;
    Ok(row.as_ref().map(JobCounts::from_row))
}

/// Records the devices of a page that no credential matches, before the page's tasks are
/// published: each gets a `NO_CREDENTIALS` result (never silently dropped), counted once
/// however often the job is dispatched. Only while the job is pending: a job the sweeper
/// finished meanwhile keeps its final counts. (The job's members, and so its total, are
/// recorded before any page: `add_members`.)
pub async fn record_unresolved<C: GenericClient>(
    db: &C,
    job_id: Uuid,
    unresolved: &[&TaskDevice],
) -> Result<()> {
    if unresolved.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = unresolved.iter().map(|d| d.id).collect();
    let names: Vec<&str> = unresolved.iter().map(|d| d.name.as_str()).collect();
    db.execute(
        "WITH inserted AS (
             INSERT INTO job_results (job_id, device_id, device_name, outcome, reason)
             SELECT $1, d.id, d.name, 'NO_CREDENTIALS',
                    'no credential shares a tag with this device'
             FROM unnest($2::bigint[], $3::text[]) AS d(id, name)
             WHERE EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND status = 'PENDING')
             ON CONFLICT (job_id, device_id) DO NOTHING
             RETURNING 1
         )
         UPDATE jobs SET completed_devices = completed_devices + (SELECT count(*) FROM inserted),
                no_credential_devices = no_credential_devices + (SELECT count(*) FROM inserted)
         WHERE id = $1 AND status = 'PENDING'",
        &[&job_id, &ids, &names],
    )
    .await?;
    Ok(())
}

/// Records the retry limits the job runs with (its request's, or the dispatcher's
/// defaults), before any task goes out: the aggregator decides every retry with them.
pub async fn set_retry_limits<C: GenericClient>(
    db: &C,
    job_id: Uuid,
    max_retries: u32,
    retry_backoff_ms: u64,
    device_deadline_ms: u64,
) -> Result<()> {
    let max_retries = i32::try_from(max_retries).unwrap_or(i32::MAX);
    let backoff = i64::try_from(retry_backoff_ms).unwrap_or(i64::MAX);
    let deadline = i64::try_from(device_deadline_ms).unwrap_or(i64::MAX);
    db.execute(
        "UPDATE jobs SET max_retries = $2, retry_backoff_ms = $3, device_deadline_ms = $4
         WHERE id = $1 AND status = 'PENDING'",
        &[&job_id, &max_retries, &backoff, &deadline],
    )
    .await?;
    Ok(())
}

/// `PENDING` → `RUNNING` once its tasks are published. Returns the counts if it moved.
pub async fn mark_running<C: GenericClient>(
    db: &C,
    job_id: Uuid,
    published: usize,
) -> Result<Option<JobCounts>> {
    let published = i32::try_from(published).unwrap_or(i32::MAX);
    let row = db
        .query_opt(
            &format!(
                "UPDATE jobs SET status = 'RUNNING', started_at = now(), published_tasks = $2
                 WHERE id = $1 AND status = 'PENDING'
                 RETURNING {COUNT_COLUMNS}"
            ),
            &[&job_id, &published],
        )
        .await?;
    Ok(row.as_ref().map(JobCounts::from_row))
}

/// Gives a running job its final status once every device has reported (`CANCELLED` when
/// a cancel was recorded). Safe to call
/// from any number of processes at once: exactly one of them finishes the job.
pub async fn finalize_if_complete<C: GenericClient>(
    db: &C,
    job_id: Uuid,
) -> Result<Option<JobCounts>> {
    let row = db
        .query_opt(
            &format!(
                "SELECT {COUNT_COLUMNS}, cancel_requested_at IS NOT NULL AS cancelled
                 FROM jobs
                 WHERE id = $1 AND status = 'RUNNING' AND completed_devices >= total_devices
                 FOR UPDATE"
            ),
            &[&job_id],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let counts = JobCounts::from_row(&row);
    // A cancelled job ends CANCELLED however its devices fared: `job show` counts them.
    let status = if row.get("cancelled") {
        JobStatus::Cancelled
    } else {
        JobStatus::from_counts(
            counts.total_devices,
            counts.succeeded_devices,
            counts.no_credential_devices,
        )
    };
    finish(db, job_id, status, None).await
}
