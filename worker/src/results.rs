//! Group commit of finished devices: gathered into batches, recorded in one transaction
//! ([`crate::persist::record_results`]), their results published as one message, and only
//! then their tasks acked.

use crate::batcher::Batcher;
use crate::persist;
use crate::report::DeviceReport;
use chrono::Utc;
use deadpool_postgres::Pool;
use lapin::Acker;
use netraven_shared::broker::{self, Names, Outgoing, Publisher, Settle, RESULT_KEY};
use netraven_shared::messages::{self, TaskResult, TaskResults};
use netraven_shared::signing::Signer;
use netraven_shared::telemetry::metrics;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Devices written in one transaction, and reported in one results message, at most.
const MAX_BATCH: usize = messages::MAX_RESULTS_PER_BATCH;

/// How long a batch may wait for Postgres before its tasks go back to the queue, to be
/// done again by whichever worker can record them (about what eight tries took before).
const RECORD_WITHIN: Duration = Duration::from_secs(12);

/// A finished device waiting to be written, published and acked.
pub struct Finished {
    pub report: DeviceReport,
    pub result: TaskResult,
    pub acker: Acker,
    /// The claim it was worked under; `None` for a device recorded already, whose stored
    /// result is only reported again.
    pub claim: Option<Uuid>,
}

/// Devices this worker took and has not handed to [`run`] yet. While none is, no more
/// finished devices can come, so the batch in hand is recorded at once instead of
/// waiting out its interval: the last devices of a job, or a lone device, are recorded
/// without the group-commit delay.
#[derive(Clone, Default)]
pub struct Working(Arc<AtomicUsize>);

/// One device being worked on; it stops counting when dropped.
pub struct WorkingOn(Arc<AtomicUsize>);

impl Working {
    pub fn start(&self) -> WorkingOn {
        self.0.fetch_add(1, Ordering::AcqRel);
        WorkingOn(self.0.clone())
    }

    fn any(&self) -> bool {
        self.0.load(Ordering::Acquire) > 0
    }
}

impl Drop for WorkingOn {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs until every sender is dropped and the queue is drained.
pub async fn run(
    rx: mpsc::Receiver<Finished>,
    working: Working,
    pool: Pool,
    publisher: Publisher,
    names: Names,
    signer: Signer,
    interval: Duration,
) {
    let mut batches = Batcher::new(rx, MAX_BATCH, interval);
    // Nothing in the works: the batch takes only what is queued already.
    while let Some(batch) = batches.next_while(|| working.any()).await {
        if let Some(batch) = record(&pool, batch).await {
            publish_and_settle(&publisher, &names, &signer, batch).await;
        }
    }
}

/// Records a batch and answers what is to be reported: the devices recorded, and those
/// recorded before (reported again). A device another worker took over while this one
/// was away is neither: its task is acked, and its new holder reports it. When Postgres
/// does not take the batch, its tasks go back to the queue and the answer is `None`.
async fn record(pool: &Pool, batch: Vec<Finished>) -> Option<Vec<Finished>> {
    let devices: Vec<persist::Claimed<'_>> = batch
        .iter()
        .filter_map(|f| f.claim.map(|token| (&f.result, &f.report, token)))
        .collect();
    let recorded =
        tokio::time::timeout(RECORD_WITHIN, persist::record_results(pool, &devices)).await;
    let reason = match recorded {
        Ok(Ok(held)) => {
            let lag = &metrics::get().flush_lag_seconds;
            let now = Utc::now();
            let (report, taken_over): (Vec<Finished>, Vec<Finished>) = batch
                .into_iter()
                .partition(|f| f.claim.is_none_or(|t| held.contains(&t)));
            for f in &report {
                let ms = (now - f.result.finished_at).num_milliseconds().max(0);
                lag.observe(ms as f64 / 1000.0);
            }
            for f in &taken_over {
                tracing::warn!(job.id = %f.result.job_id, device.id = f.result.device_id,
                    "device taken over by another worker while this one was away; not recorded here");
            }
            let ackers: Vec<&Acker> = taken_over.iter().map(|f| &f.acker).collect();
            broker::settle_all(&ackers, Settle::Ack).await;
            return Some(report);
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("Postgres did not take them within {RECORD_WITHIN:?}"),
    };
    tracing::error!(error = %reason, devices = batch.len(),
        "device results not written; returning the tasks to the queue");
    let ackers: Vec<&Acker> = batch.iter().map(|f| &f.acker).collect();
    broker::settle_all(&ackers, Settle::Requeue).await;
    None
}

/// Publishes a recorded batch's results as one message, then acks its tasks (or, when
/// the message is not confirmed, returns them to the queue).
async fn publish_and_settle(
    publisher: &Publisher,
    names: &Names,
    signer: &Signer,
    batch: Vec<Finished>,
) {
    // One message for the whole batch: the broker's work per device is the task alone.
    let results = TaskResults {
        version: messages::VERSION,
        results: batch.iter().map(|f| f.result.clone()).collect(),
    };
    let started = std::time::Instant::now();
    let confirmed = match Outgoing::json(&names.results_exchange(), RESULT_KEY, &results) {
        Err(e) => {
            tracing::error!(error = %e, devices = batch.len(), "results not encoded; returning the tasks to the queue");
            false
        }
        Ok(m) => {
            let properties = m
                .properties
                .clone()
                .with_type(messages::RESULTS_BATCH_TYPE.into());
            // Signed: the aggregator believes no result a worker did not sign.
            match publisher
                .publish(m.with_properties(properties).signed(signer))
                .await
            {
                Ok(()) => true,
                Err(netraven_shared::Error::ShuttingDown) => {
                    // Only at shutdown with the broker away: the tasks stay unacked, and
                    // the broker delivers them again once this connection is gone.
                    tracing::error!(
                        devices = batch.len(),
                        "results not published; tasks left unacked"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, devices = batch.len(), "results not confirmed; returning the tasks to the queue");
                    false
                }
            }
        }
    };
    let n = batch.len();
    let (ok, failed) = if confirmed { (n, 0) } else { (0, n) };
    metrics::confirms("results", started, ok, failed);
    // Not confirmed: the tasks go back and are done again (recording is idempotent).
    let how = if confirmed {
        Settle::Ack
    } else {
        Settle::Requeue
    };
    let ackers: Vec<&Acker> = batch.iter().map(|f| &f.acker).collect();
    let settled = broker::settle_all(&ackers, how).await;
    for (f, e) in batch
        .iter()
        .zip(settled)
        .filter_map(|(f, s)| s.err().map(|e| (f, e)))
    {
        tracing::warn!(job.id = %f.result.job_id, device.id = f.result.device_id, error = %e, "task not settled");
    }
}
