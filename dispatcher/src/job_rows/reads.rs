//! The reads behind `netraven job show`: a job, its devices' results, outcomes counted.

use super::counts::{JobCounts, COUNT_COLUMNS};
use crate::error::Result;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use netraven_shared::domain::{Lane, Outcome};
use uuid::Uuid;

/// A job as `netraven job show` prints it.
#[derive(Debug, Clone)]
pub struct JobView {
    pub id: Uuid,
    /// As the request named it: a job refused for an unknown type keeps the name it asked
    /// for, so this is the stored text, not a `JobType`.
    pub job_type: String,
    pub counts: JobCounts,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub deadline_at: DateTime<Utc>,
    /// The task lane its tasks went to; `None` before (or without) any task.
    pub lane: Option<Lane>,
    /// Who asked to cancel it, when and why, if anyone has.
    pub cancel: Option<CancelRequest>,
}

/// A job's cancel as recorded: devices in progress then finish, the rest are skipped.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CancelRequest {
    /// The broker user that cancelled it (for the api, the token's submitter).
    pub cancelled_by: String,
    pub requested_at: DateTime<Utc>,
    pub reason: Option<String>,
}

/// The cancel columns of a job row (`cancel_requested_at`, `cancelled_by`,
/// `cancel_reason`); `None` when nobody has cancelled it.
pub fn cancel_of(row: &tokio_postgres::Row) -> Option<CancelRequest> {
    Some(CancelRequest {
        requested_at: row.get::<_, Option<DateTime<Utc>>>("cancel_requested_at")?,
        cancelled_by: row.get("cancelled_by"),
        reason: row.get("cancel_reason"),
    })
}

pub async fn get<C: GenericClient>(db: &C, job_id: Uuid) -> Result<Option<JobView>> {
    let row = db
        .query_opt(
            &format!(
                "SELECT id, created_at, started_at, finished_at, deadline_at, lane,
                        cancel_requested_at, cancelled_by, cancel_reason, {COUNT_COLUMNS}
                 FROM jobs WHERE id = $1"
            ),
            &[&job_id],
        )
        .await?;
    Ok(row.map(|r| JobView {
        id: r.get("id"),
        job_type: r.get("job_type"),
        counts: JobCounts::from_row(&r),
        created_at: r.get("created_at"),
        started_at: r.get("started_at"),
        finished_at: r.get("finished_at"),
        deadline_at: r.get("deadline_at"),
        lane: lane_of(&r),
        cancel: cancel_of(&r),
    }))
}

/// The `lane` column of a job row; `None` when unset (or unknown to this version).
pub fn lane_of(row: &tokio_postgres::Row) -> Option<Lane> {
    row.get::<_, Option<&str>>("lane")?.parse().ok()
}

/// One device's recorded result.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DeviceResult {
    pub device_id: i64,
    pub device_name: String,
    pub outcome: Outcome,
    pub reason: String,
    pub credential: Option<String>,
    pub attempts: i32,
    pub duration_ms: i64,
    pub config_sha256: Option<String>,
    /// What the backup did to the device's history: `NEW`, `CHANGED`, `UNCHANGED`.
    pub config_change: Option<String>,
    /// The device's configuration version after the job.
    pub config_version: Option<i32>,
    /// How many times the device was tried (1 unless it was retried).
    pub tries: i32,
    /// The outcome of each try, the first first; the last is `outcome`.
    pub try_outcomes: Vec<String>,
}

/// Which of a job's results, in device-name order: those with one of `outcomes` (all when
/// empty), after the device named `after`, at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct ResultsPage {
    pub outcomes: Vec<Outcome>,
    pub after: Option<String>,
    pub limit: Option<i64>,
}

/// Every result of the job, by device name.
pub async fn results<C: GenericClient>(db: &C, job_id: Uuid) -> Result<Vec<DeviceResult>> {
    results_page(db, job_id, &ResultsPage::default()).await
}

pub async fn results_page<C: GenericClient>(
    db: &C,
    job_id: Uuid,
    page: &ResultsPage,
) -> Result<Vec<DeviceResult>> {
    let outcomes: Vec<&str> = page.outcomes.iter().map(|o| o.as_str()).collect();
    let rows = db
        .query(
            // A removed credential is named by its tombstone (migration V12).
            "SELECT r.device_id, r.device_name, r.outcome, r.reason,
                    COALESCE(c.name, rc.name) AS credential,
                    r.attempts, r.duration_ms, r.config_sha256, r.config_change,
                    r.config_version, r.tries,
                    ARRAY(SELECT t.outcome FROM device_tries t
                          WHERE t.job_id = r.job_id AND t.device_id = r.device_id
                            AND t.try < r.tries ORDER BY t.try) AS earlier
             FROM job_results r LEFT JOIN credentials c ON c.id = r.credential_id
             LEFT JOIN removed_credentials rc ON rc.id = r.credential_id
             WHERE r.job_id = $1
               AND (cardinality($2::text[]) = 0 OR r.outcome = ANY($2))
               AND ($3::text IS NULL OR r.device_name > $3)
             ORDER BY r.device_name LIMIT $4",
            &[&job_id, &outcomes, &page.after, &page.limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| DeviceResult {
            device_id: r.get("device_id"),
            device_name: r.get("device_name"),
            outcome: r
                .get::<_, &str>("outcome")
                .parse()
                .unwrap_or(Outcome::InternalError),
            reason: r.get("reason"),
            credential: r.get("credential"),
            attempts: r.get("attempts"),
            duration_ms: r.get("duration_ms"),
            config_sha256: r.get("config_sha256"),
            config_change: r.get("config_change"),
            config_version: r.get("config_version"),
            tries: r.get("tries"),
            try_outcomes: r
                .get::<_, Vec<String>>("earlier")
                .into_iter()
                .chain([r.get::<_, String>("outcome")])
                .collect(),
        })
        .collect())
}

/// Devices per outcome, for the per-outcome summary.
pub async fn outcome_counts<C: GenericClient>(db: &C, job_id: Uuid) -> Result<Vec<(Outcome, i64)>> {
    let rows = db
        .query(
            "SELECT outcome, count(*) FROM job_results WHERE job_id = $1 GROUP BY outcome",
            &[&job_id],
        )
        .await?;
    let mut counts: Vec<(Outcome, i64)> = rows
        .iter()
        .filter_map(|r| Some((r.get::<_, &str>(0).parse().ok()?, r.get(1))))
        .collect();
    counts.sort();
    Ok(counts)
}
