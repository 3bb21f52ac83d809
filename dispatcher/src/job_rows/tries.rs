//! A retried device's tries (`device_tries`, migration V18): ending a device whose retry
//! will not run with the outcome of its last try.

use crate::error::Result;
use deadpool_postgres::GenericClient;
use uuid::Uuid;

/// Records, for each of `device_ids` that has no result, the outcome of its last try as
/// its result, the reason saying `why` the retry did not run, and counts them into the
/// job. Returns how many were recorded.
pub async fn end_with_last_try<C: GenericClient>(
    db: &C,
    job_id: Uuid,
    device_ids: &[i64],
    why: &str,
) -> Result<i64> {
    if device_ids.is_empty() {
        return Ok(0);
    }
    let row = db
        .query_one(
            "WITH last AS (
                 SELECT DISTINCT ON (t.device_id) t.device_id, t.try, t.outcome, t.reason,
                        t.worker, t.duration_ms, t.finished_at
                 FROM device_tries t
                 WHERE t.job_id = $1 AND t.device_id = ANY($2)
                 ORDER BY t.device_id, t.try DESC
             ), ended AS (
                 INSERT INTO job_results (job_id, device_id, device_name, outcome, reason,
                                          worker, duration_ms, finished_at, tries)
                 SELECT $1, l.device_id, COALESCE(d.name, '#' || l.device_id), l.outcome,
                        'retry ' || (l.try + 1) || ' not run: ' || $3 || '; try ' || l.try
                            || ': ' || l.reason,
                        l.worker, l.duration_ms, l.finished_at, l.try
                 FROM last l LEFT JOIN devices d ON d.id = l.device_id
                 ON CONFLICT (job_id, device_id) DO NOTHING
                 RETURNING 1
             ), counted AS (
                 UPDATE jobs SET completed_devices = completed_devices + (SELECT count(*) FROM ended)
                 WHERE id = $1
             )
             SELECT count(*) FROM ended",
            &[&job_id, &device_ids, &why],
        )
        .await?;
    Ok(row.get(0))
}
