//! Which running workers hold which keys, as they report them to Postgres.

use anyhow::{Context, Result};

/// A worker that reported its keys within three of its report intervals.
#[derive(Debug, Clone)]
pub struct RunningWorker {
    /// `host:pid`
    pub worker: String,
    pub key_ids: Vec<String>,
    pub seen_secs_ago: f64,
}

impl std::fmt::Display for RunningWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (holds {}; seen {:.1} s ago)",
            self.worker,
            self.key_ids.join(", "),
            self.seen_secs_ago
        )
    }
}

/// The workers running now, by their reports.
pub async fn running_workers(client: &deadpool_postgres::Client) -> Result<Vec<RunningWorker>> {
    let rows = client
        .query(
            "SELECT worker, key_ids, extract(epoch FROM now() - seen_at)::float8 \
             FROM worker_key_reports \
             WHERE seen_at > now() - make_interval(secs => report_interval_ms * 3 / 1000.0) \
             ORDER BY worker, started_at",
            &[],
        )
        .await
        .context("cannot read the workers' key reports (has `netraven migrate` run?)")?;
    Ok(rows
        .iter()
        .map(|r| RunningWorker {
            worker: r.get(0),
            key_ids: r.get(1),
            seen_secs_ago: r.get(2),
        })
        .collect())
}
