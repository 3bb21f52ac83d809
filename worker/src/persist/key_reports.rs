//! The rows of `worker_key_reports`: which sealing keys each running worker holds.

use crate::error::WorkerError;
use deadpool_postgres::Pool;
use std::time::Duration;
use uuid::Uuid;

/// Writes this worker's report; returns the key `netraven secrets reseal` last made the
/// sealing key, if any.
pub async fn report_keys(
    pool: &Pool,
    worker_id: Uuid,
    worker: &str,
    key_ids: &[String],
    every: Duration,
) -> Result<Option<String>, WorkerError> {
    let client = pool.get().await?;
    let interval_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
    let row = client
        .query_opt(
            "WITH reported AS ( \
               INSERT INTO worker_key_reports (worker_id, worker, key_ids, report_interval_ms) \
               VALUES ($1, $2, $3, $4) \
               ON CONFLICT (worker_id) DO UPDATE SET key_ids = EXCLUDED.key_ids, seen_at = now()) \
             SELECT key_id FROM sealing_keys WHERE sealing_until IS NULL LIMIT 1",
            &[&worker_id, &worker, &key_ids, &interval_ms],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Deletes this worker's report: a worker stopped cleanly is not running.
pub async fn remove_key_report(pool: &Pool, worker_id: Uuid) -> Result<(), WorkerError> {
    let client = pool.get().await?;
    client
        .execute(
            "DELETE FROM worker_key_reports WHERE worker_id = $1",
            &[&worker_id],
        )
        .await?;
    Ok(())
}

/// Deletes the reports of workers gone for a day; returns how many.
pub async fn forget_day_old_key_reports(pool: &Pool) -> Result<u64, WorkerError> {
    let client = pool.get().await?;
    Ok(client
        .execute(
            "DELETE FROM worker_key_reports WHERE seen_at < now() - interval '1 day'",
            &[],
        )
        .await?)
}
