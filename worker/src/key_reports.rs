//! Tells Postgres which sealing keys this worker holds, so that `netraven secrets reseal`
//! seals under a new key only once every running worker can open it.
//!
//! One row of `worker_key_reports` per worker process (a fresh id at each start): written
//! at start, after each reload of the key file (polled every
//! `worker.key_file_poll_interval_ms`) and every `worker.key_report_interval_ms`; deleted
//! when the worker stops cleanly. A worker that dies leaves its row, which stops counting
//! three of its intervals later.

use crate::context::WorkerContext;
use crate::persist;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long a stopping worker tries to remove its report.
const REMOVE_WITHIN: Duration = Duration::from_secs(2);

/// The reporting task; [`Reporter::stop`] removes the worker's row.
pub struct Reporter {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// Starts reporting for this worker (and polling its key file).
pub fn start(ctx: Arc<WorkerContext>) -> Reporter {
    let stop = CancellationToken::new();
    let task = tokio::spawn(run(ctx, stop.clone()));
    Reporter { stop, task }
}

impl Reporter {
    /// Stops polling and deletes this worker's row: a worker stopped cleanly is not running.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "key reporting ended abnormally");
        }
    }
}

async fn run(ctx: Arc<WorkerContext>, stop: CancellationToken) {
    let id = Uuid::new_v4();
    forget_long_gone(&ctx).await;
    let every = Duration::from_millis(ctx.settings.key_report_interval_ms);
    let poll = Duration::from_millis(ctx.settings.key_file_poll_interval_ms).min(every);
    let mut reported: Option<(Vec<String>, Instant)> = None;
    loop {
        let ids = ctx.keys.key_ids();
        let due = match &reported {
            Some((last, at)) => *last != ids || at.elapsed() >= every,
            None => true,
        };
        if due {
            let reported_now = {
                let report = persist::report_keys(&ctx.pool, id, &ctx.name, &ids, every);
                tokio::pin!(report);
                tokio::select! {
                    r = &mut report => Some(r),
                    _ = stop.cancelled() => {
                        // The report may be on its way to Postgres already: dropped, it
                        // would still be written, maybe after the removal below, and leave
                        // this stopped worker counted as running. It is let land first, for
                        // as long as the removal may take: one that waits for Postgres
                        // longer does not hold up a stopping worker.
                        let _ = tokio::time::timeout(REMOVE_WITHIN, report).await;
                        None
                    }
                }
            };
            let Some(reported_now) = reported_now else {
                break;
            };
            match reported_now {
                Ok(sealing) => {
                    // Reseal checks the workers running then; one started later from an old
                    // key file would fail every device sealed with the new key.
                    if let Some(k) = sealing.filter(|k| !ids.contains(k)) {
                        tracing::error!(sealing_key = %k, keys = ?ids, "this worker cannot open secrets sealed with the sealing key: give it the current key file");
                    }
                    if reported.as_ref().is_none_or(|(last, _)| *last != ids) {
                        tracing::info!(worker = %ctx.name, keys = ?ids, "key ids reported");
                    }
                    reported = Some((ids, Instant::now()));
                }
                // Tried again at the next poll; reseal counts this worker as running with
                // what it reported last, until its row goes stale.
                Err(e) => tracing::warn!(error = %e, "cannot report this worker's key ids"),
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(poll) => {}
        }
        if let Err(e) = ctx.keys.reload_if_changed() {
            tracing::error!(error = %e, keys = ?ctx.keys.key_ids(), "key file not reloaded; keeping the keys loaded");
        }
    }
    // Bounded: a worker stopping while Postgres is away does not wait for it; its row goes
    // stale on its own.
    match tokio::time::timeout(REMOVE_WITHIN, persist::remove_key_report(&ctx.pool, id)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot remove this worker's key report; it goes stale on its own")
        }
        Err(_) => {
            tracing::warn!("cannot remove this worker's key report: Postgres did not answer; it goes stale on its own")
        }
    }
}

/// Rows of workers that died without removing them count as gone after three intervals;
/// after a day they are deleted, at each worker's start, so restarts do not pile them up.
async fn forget_long_gone(ctx: &WorkerContext) {
    match tokio::time::timeout(
        REMOVE_WITHIN,
        persist::forget_day_old_key_reports(&ctx.pool),
    )
    .await
    {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::info!(rows = n, "forgot key reports of workers gone for a day"),
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot delete old key reports"),
        Err(_) => tracing::warn!("cannot delete old key reports: Postgres did not answer"),
    }
}
