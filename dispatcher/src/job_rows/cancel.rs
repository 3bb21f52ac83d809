//! Cancelling a job (migration V16): the cancel recorded on the job row, and the devices
//! the dispatcher never sent recorded `CANCELLED`. Workers skip the devices they have not
//! started (worker/src/persist/claims.rs); the job ends `CANCELLED` once every device is
//! recorded (`finalize_if_complete`).

use super::counts::{parse_status, JobCounts, COUNT_COLUMNS};
use crate::error::Result;
use deadpool_postgres::GenericClient;
use netraven_shared::domain::JobStatus;
use uuid::Uuid;

/// The job a cancel names, as found before it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelTarget {
    pub status: JobStatus,
    /// The broker user that submitted it (`None`: anonymous, or made by a schedule).
    pub submitted_by: Option<String>,
}

/// The job `job_id` names, if any.
pub async fn cancel_target<C: GenericClient>(db: &C, job_id: Uuid) -> Result<Option<CancelTarget>> {
    let row = db
        .query_opt(
            "SELECT status, submitted_by FROM jobs WHERE id = $1",
            &[&job_id],
        )
        .await?;
    Ok(row.map(|r| CancelTarget {
        status: parse_status(r.get(0)),
        submitted_by: r.get(1),
    }))
}

/// What recording a cancel did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// This cancel was recorded; the job's counts as it stands (still open).
    Now(JobCounts),
    /// An earlier cancel was recorded already and the job is still open: nothing changed.
    Before(JobStatus),
    /// The job has its final status: nothing changed.
    Final(JobStatus),
}

/// Records a cancel by `by` on an open job; the first cancel's canceller and reason stand.
pub async fn request_cancel<C: GenericClient>(
    db: &C,
    job_id: Uuid,
    by: &str,
    reason: Option<&str>,
) -> Result<Option<Recorded>> {
    let row = db
        .query_opt(
            &format!(
                "UPDATE jobs SET cancel_requested_at = now(), cancelled_by = $2,
                        cancel_reason = $3
                 WHERE id = $1 AND status IN ('PENDING', 'RUNNING')
                   AND cancel_requested_at IS NULL
                 RETURNING {COUNT_COLUMNS}"
            ),
            &[&job_id, &by, &reason],
        )
        .await?;
    if let Some(row) = row {
        // Retries waiting out their backoff are due now: a dispatcher ends each device with
        // its last try at its next poll, so the job need not wait for them.
        db.execute(
            "UPDATE task_retries SET due_at = now() WHERE job_id = $1",
            &[&job_id],
        )
        .await?;
        return Ok(Some(Recorded::Now(JobCounts::from_row(&row))));
    }
    let Some(target) = cancel_target(db, job_id).await? else {
        return Ok(None);
    };
    Ok(Some(if target.status.is_final() {
        Recorded::Final(target.status)
    } else {
        Recorded::Before(target.status)
    }))
}

/// Whether the job has been cancelled: checked before each page of tasks is published.
pub async fn cancel_requested<C: GenericClient>(db: &C, job_id: Uuid) -> Result<bool> {
    let row = db
        .query_opt(
            "SELECT cancel_requested_at IS NOT NULL FROM jobs WHERE id = $1",
            &[&job_id],
        )
        .await?;
    Ok(row.is_some_and(|r| r.get(0)))
}

/// Records `CANCELLED` for the job's members after device id `after` (those the dispatcher
/// stopped before publishing) that have no result yet, and counts them as completed; only
/// while the job is pending. Returns how many it recorded.
pub async fn record_unsent<C: GenericClient>(db: &C, job_id: Uuid, after: i64) -> Result<i64> {
    let row = db
        .query_one(
            "WITH inserted AS (
                 INSERT INTO job_results (job_id, device_id, device_name, outcome, reason)
                 SELECT m.job_id, m.device_id, COALESCE(d.name, '#' || m.device_id),
                        'CANCELLED',
                        'job cancelled by ' || j.cancelled_by || ' before its task was sent'
                 FROM job_devices m
                 JOIN jobs j ON j.id = m.job_id AND j.status = 'PENDING'
                 LEFT JOIN devices d ON d.id = m.device_id
                 WHERE m.job_id = $1 AND m.device_id > $2
                   AND j.cancel_requested_at IS NOT NULL
                 ON CONFLICT (job_id, device_id) DO NOTHING
                 RETURNING 1
             ), counted AS (
                 UPDATE jobs
                 SET completed_devices = completed_devices + (SELECT count(*) FROM inserted)
                 WHERE id = $1 AND status = 'PENDING'
             )
             SELECT count(*) FROM inserted",
            &[&job_id, &after],
        )
        .await?;
    Ok(row.get(0))
}
