//! `netraven prune`'s share for schedules: runs older than the job retention go, in
//! bounded batches as the other tables' rows do, except each schedule's latest run (what
//! `schedule list` shows, and what the overlap check of `skip` reads).

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_util::sync::CancellationToken;

/// A run that may go: ticked before the cutoff ($1) and not its schedule's latest.
const OLD_RUN: &str = "t.tick_at < $1 AND t.tick_at < (
         SELECT max(l.tick_at) FROM schedule_runs l WHERE l.schedule_id = t.schedule_id)";

/// Deletes (or, on a dry run, counts) the schedule runs older than `cutoff`, at most
/// `batch` per statement; stops between batches when `stop` is cancelled.
pub async fn prune_runs<C: GenericClient>(
    db: &C,
    cutoff: DateTime<Utc>,
    batch: u32,
    dry_run: bool,
    stop: &CancellationToken,
) -> Result<u64> {
    if dry_run {
        let n: i64 = db
            .query_one(
                &format!("SELECT count(*) FROM schedule_runs t WHERE {OLD_RUN}"),
                &[&cutoff],
            )
            .await
            .context("cannot count old schedule runs")?
            .get(0);
        return Ok(u64::try_from(n).unwrap_or(0));
    }
    let batch = i64::from(batch.max(1));
    let statement = format!(
        "DELETE FROM schedule_runs WHERE ctid = ANY(ARRAY(
             SELECT t.ctid FROM schedule_runs t WHERE {OLD_RUN} LIMIT $2))"
    );
    let mut removed = 0;
    while !stop.is_cancelled() {
        let n = db
            .execute(&statement, &[&cutoff, &batch])
            .await
            .context("cannot prune old schedule runs")?;
        removed += n;
        if n < batch as u64 {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(removed)
}
