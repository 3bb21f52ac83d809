//! Device tasks: one per device, persistent, published with confirms in a window.

use crate::dispatch::plan::TaskPlan;
use crate::dispatch::resolve::ResolvedDevice;
use crate::error::{DispatchError, Result};
use chrono::Utc;
use netraven_shared::broker::{self, task_key, Names, Outgoing, Publisher};
use netraven_shared::domain::Lane;
use netraven_shared::signing::Signer;
use netraven_shared::telemetry::metrics;

/// A task that was nacked, unroutable or not confirmed (the channel or connection failed)
/// is published again this many times before the job fails. A retry after a lost
/// connection waits for the broker to come back.
const PUBLISH_RETRIES: usize = 3;
/// Tasks encoded at once; bounds the dispatcher's memory on very large jobs.
pub const CHUNK: usize = 5_000;
/// A job's first chunk is small, so that workers start on it while the rest is resolved
/// and encoded (5,000 tasks take tens of milliseconds to encode).
pub const FIRST_CHUNK: usize = 128;

/// Publishes a task for each device to `lane`'s queue, signed by `signer` (a worker acts
/// on nothing else), and returns how many the broker confirmed. Fails with [`DispatchError::Unconfirmed`]
/// (or [`DispatchError::Publish`] when there is no channel at all), saying how many were
/// and were not published, when a task cannot be published after retries; `already` is how many of the job's tasks were
/// confirmed before these (a job is published chunk by chunk as it resolves), and the
/// error counts them in.
pub async fn publish_tasks(
    publisher: &Publisher,
    names: &Names,
    signer: &Signer,
    plan: &TaskPlan,
    lane: Lane,
    devices: &[&ResolvedDevice],
    already: usize,
) -> Result<usize> {
    let exchange = names.tasks_exchange();
    let key = task_key(lane);
    let counter = &metrics::get().tasks_published_total;
    let mut confirmed = 0;
    let total = already + devices.len();
    for chunk in devices.chunks(CHUNK) {
        let mut todo: Vec<&ResolvedDevice> = chunk.to_vec();
        for attempt in 0..=PUBLISH_RETRIES {
            let batch = todo
                .iter()
                .map(|d| Outgoing::json(&exchange, key, &plan.task(d)).map(stamped))
                .collect::<Result<Vec<_>, _>>()?;
            let batch = broker::sign_all(batch, signer);
            let sent = std::time::Instant::now();
            let report = publisher.publish_all(batch).await.map_err(|e| match e {
                // Stopping mid-publish: the request goes back to the queue and the next
                // dispatcher publishes again (workers and the aggregator ignore repeats).
                netraven_shared::Error::ShuttingDown => DispatchError::Shared(e),
                source => DispatchError::Publish {
                    confirmed: already + confirmed,
                    total,
                    source,
                },
            })?;
            metrics::confirms("tasks", sent, report.confirmed, report.failed.len());
            confirmed += report.confirmed;
            counter
                .with_label_values(&["confirmed"])
                .inc_by(report.confirmed as u64);
            if report.failed.is_empty() {
                break;
            }
            counter
                .with_label_values(&["retried"])
                .inc_by(report.failed.len() as u64);
            let reason = report.failed[0].1.clone();
            if attempt == PUBLISH_RETRIES {
                return Err(DispatchError::Unconfirmed {
                    confirmed: already + confirmed,
                    total,
                    reason,
                });
            }
            tracing::warn!(job.id = %plan.job_id, failed = report.failed.len(), %reason,
                "tasks not confirmed; publishing them again");
            todo = report.failed.iter().map(|(i, _)| todo[*i]).collect();
        }
    }
    Ok(confirmed)
}

/// The publish time, so that workers can tell how long a task waited in the queue.
fn stamped(mut o: Outgoing) -> Outgoing {
    let now = u64::try_from(Utc::now().timestamp()).unwrap_or_default();
    o.properties = o.properties.with_timestamp(now);
    o
}
