//! Finishes jobs whose deadline has passed: every device without a result becomes `LOST`,
//! but one that was tried and waits for a retry, which keeps the outcome of its last try.

use super::periodic::Periodic;
use crate::error::Result;
use crate::events;
use crate::job_rows::{self, JobCounts, Level};
use deadpool_postgres::GenericClient;
use netraven_shared::broker::{Names, Publisher};
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{events as keys, EventRole};
use serde_json::json;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Finishes up to `limit` overdue jobs and returns what it finished. Jobs locked by
/// another sweeper are skipped, so any number of aggregators may sweep at once.
pub(super) async fn sweep(
    client: &mut deadpool_postgres::Client,
    limit: i64,
) -> Result<Vec<(Uuid, JobCounts)>> {
    let tx = client.transaction().await?;
    let overdue: Vec<Uuid> = tx
        .query(
            "SELECT id FROM jobs
             WHERE status IN ('PENDING', 'RUNNING') AND deadline_at < now()
             ORDER BY deadline_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            &[&limit],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut finished = Vec::new();
    for job_id in overdue {
        let lost = mark_lost(&tx, job_id).await?;
        if lost > 0 {
            job_rows::log(
                &tx,
                job_id,
                None,
                Level::Warn,
                &format!("{lost} devices did not report by the job deadline"),
                json!({ "lost": lost }),
            )
            .await?;
        }
        // A job still PENDING at its deadline never finished dispatching.
        let done = match job_rows::finalize_if_complete(&tx, job_id).await? {
            Some(done) => Some(done),
            // A cancelled one ends CANCELLED all the same.
            None => {
                let status = if job_rows::cancel_requested(&tx, job_id).await? {
                    JobStatus::Cancelled
                } else {
                    JobStatus::FailedUnexpected
                };
                job_rows::finish(
                    &tx,
                    job_id,
                    status,
                    Some("dispatch did not complete before the job deadline"),
                )
                .await?
            }
        };
        if let Some(done) = done {
            finished.push((job_id, done));
        }
    }
    tx.commit().await?;
    Ok(finished)
}

/// The aggregator's sweeping task: sweeps every `every` until `shutdown`, announcing the
/// jobs it finished. A failed sweep is logged and tried again at the next interval.
pub(super) async fn run(
    pool: deadpool_postgres::Pool,
    publisher: Publisher,
    names: Names,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut clock = Periodic::every(every);
    while clock.tick(&shutdown).await {
        let swept = async {
            let mut client = pool.get().await?;
            sweep(&mut client, 100).await
        };
        match swept.await {
            Ok(finished) => {
                for (job_id, counts) in finished {
                    tracing::warn!(job.id = %job_id, status = %counts.status, "overdue job finished by the sweeper");
                    events::publish(
                        &publisher,
                        &names,
                        EventRole::Aggregator,
                        job_id,
                        &counts,
                        keys::COMPLETED,
                    )
                    .await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "sweep failed; trying again next interval"),
        }
    }
}

async fn mark_lost<C: GenericClient>(db: &C, job_id: Uuid) -> Result<i64> {
    let row = db
        .query_one(
            "WITH last AS (
                 SELECT DISTINCT ON (device_id) device_id, try, outcome, reason, worker,
                        duration_ms, finished_at
                 FROM device_tries WHERE job_id = $1 ORDER BY device_id, try DESC
             ), lost AS (
                 INSERT INTO job_results (job_id, device_id, device_name, outcome, reason,
                                          worker, duration_ms, finished_at, tries)
                 SELECT j.id, t.device_id, COALESCE(d.name, '#' || t.device_id),
                        COALESCE(l.outcome, 'LOST'),
                        CASE WHEN l.device_id IS NULL THEN 'no result by the job deadline'
                             ELSE 'retry ' || (l.try + 1) || ' did not report by the job deadline; try '
                                  || l.try || ': ' || l.reason END,
                        l.worker, COALESCE(l.duration_ms, 0), COALESCE(l.finished_at, now()),
                        COALESCE(l.try, 1)
                 FROM jobs j
                 JOIN job_devices t ON t.job_id = j.id
                 LEFT JOIN devices d ON d.id = t.device_id
                 LEFT JOIN last l ON l.device_id = t.device_id
                 WHERE j.id = $1
                 ON CONFLICT (job_id, device_id) DO NOTHING
                 RETURNING 1
             ), unscheduled AS (
                 DELETE FROM task_retries WHERE job_id = $1
             ), counted AS (
                 UPDATE jobs SET completed_devices = completed_devices + (SELECT count(*) FROM lost)
                 WHERE id = $1
             )
             SELECT count(*) FROM lost",
            &[&job_id],
        )
        .await?;
    Ok(row.get(0))
}
