//! Group commit of finished devices: gathered into batches, recorded in one transaction
//! ([`crate::persist::record_results`]), their results published as one message, and only
//! then their tasks acked. A batch Postgres refuses for good is split until the devices
//! it refuses are found ([`crate::isolate`]), so one bad device never fails its neighbours.

use crate::batcher::Batcher;
use crate::isolate::{self, Written};
use crate::persist;
use crate::report::DeviceReport;
use chrono::Utc;
use deadpool_postgres::Pool;
use lapin::Acker;
use netraven_shared::broker::{self, Names, Outgoing, Publisher, Settle, RESULT_KEY};
use netraven_shared::messages::{self, TaskResult, TaskResults};
use netraven_shared::retry::Backoff;
use netraven_shared::signing::Signer;
use netraven_shared::telemetry::metrics;
use netraven_shared::text::one_line;
use netraven_shared::Transient;
use std::collections::HashSet;
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

/// How long one batch's results are published again in place before its tasks go back
/// to the queue. A quorum queue whose leader's node died nacks every publish until a new
/// leader is elected (0.2-0.6 s after a SIGKILL in the broker fault tests here; longer on
/// a loaded or partitioned cluster). Each return to the queue counts against the task's
/// delivery limit, and a task returned while the results queue still refuses is reported
/// again into the same refusal, so returning early dead-letters devices that are
/// recorded.
///
/// Each try after a nack goes out on a new channel ([`Publisher`] replaces a channel the
/// broker refused): a channel whose first publish to the results queue came before the
/// election keeps asking the dead leader and is refused for as long as it lives
/// (RabbitMQ 3.10), which once made this worker's results wait out the whole 120 s, and
/// then again for each redelivery, while the queue had a new leader within a second.
const PUBLISH_WITHIN: Duration = Duration::from_secs(120);

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
        let recorded = record(&pool, batch).await;
        if !recorded.is_empty() {
            publish_and_settle(&publisher, &names, &signer, recorded).await;
        }
    }
}

/// Records a batch and returns what was recorded, to be published. When Postgres is
/// away, the tasks go back to the queue. When it refuses the batch for good, the batch
/// is split until the devices it refuses are found ([`isolate`]): the others are
/// recorded, and each refused one as a failure of its own, or dead-lettered.
async fn record(pool: &Pool, batch: Vec<Finished>) -> Vec<Finished> {
    let batch = match write(pool, batch).await {
        (batch, Written::Recorded) => return recorded(batch),
        (batch, Written::Transient(reason)) => {
            isolate::requeue(&batch, &reason).await;
            return Vec::new();
        }
        (batch, Written::Permanent(reason)) => {
            tracing::warn!(error = %one_line(&reason), devices = batch.len(),
                "Postgres refused the batch; splitting it to find the devices it refuses");
            batch
        }
    };
    let apart = isolate::split(batch, |part| write(pool, part)).await;
    isolate::requeue(
        &apart.requeue,
        "Postgres went away while a refused batch was split",
    )
    .await;
    let mut done = apart.recorded;
    for (f, reason) in apart.refused {
        tracing::warn!(job.id = %f.result.job_id, device.id = f.result.device_id,
            reason = %one_line(&reason), "device output refused by Postgres; recording the device as a failure");
        match write(pool, vec![isolate::as_unstorable(f, &reason)]).await {
            (alone, Written::Recorded) => done.extend(alone),
            (alone, Written::Transient(why)) => isolate::requeue(&alone, &why).await,
            (alone, Written::Permanent(why)) => {
                for f in &alone {
                    isolate::dead_letter(f, &why).await;
                }
            }
        }
    }
    recorded(done)
}

/// One try to record `batch` in one transaction, within [`RECORD_WITHIN`]; the batch
/// comes back with how it went.
/// Devices recorded before (their stored result reported again) are part of the batch
/// but not written. A device another worker took over while this one was away is not
/// recorded, and leaves the batch here: its task is acked, and its new holder reports it.
async fn write(pool: &Pool, batch: Vec<Finished>) -> (Vec<Finished>, Written) {
    let devices: Vec<persist::Claimed<'_>> = batch
        .iter()
        .filter_map(|f| f.claim.map(|token| (&f.result, &f.report, token)))
        .collect();
    let written =
        match tokio::time::timeout(RECORD_WITHIN, persist::record_results(pool, &devices)).await {
            Ok(Ok(held)) => Ok(held),
            Ok(Err(e)) if e.is_transient() => Err(Written::Transient(e.to_string())),
            Ok(Err(e)) => Err(Written::Permanent(persist::refusal(&e))),
            Err(_) => Err(Written::Transient(format!(
                "Postgres did not take them within {RECORD_WITHIN:?}"
            ))),
        };
    drop(devices);
    match written {
        Ok(done) => {
            let mut batch = batch;
            for f in &mut batch {
                if let Some(v) = f.claim.and_then(|t| done.configs.get(&t)) {
                    f.result.config = Some(v.clone());
                }
            }
            (
                without_taken_over(batch, &done.held).await,
                Written::Recorded,
            )
        }
        Err(why) => (batch, why),
    }
}

/// The devices of a recorded batch to report: those recorded now (their claim `held`)
/// and those recorded before. The others' tasks are acked.
async fn without_taken_over(batch: Vec<Finished>, held: &HashSet<Uuid>) -> Vec<Finished> {
    let (report, taken_over): (Vec<Finished>, Vec<Finished>) = batch
        .into_iter()
        .partition(|f| f.claim.is_none_or(|t| held.contains(&t)));
    for f in &taken_over {
        tracing::warn!(job.id = %f.result.job_id, device.id = f.result.device_id,
            "device taken over by another worker while this one was away; not recorded here");
    }
    let ackers: Vec<&Acker> = taken_over.iter().map(|f| &f.acker).collect();
    broker::settle_all(&ackers, Settle::Ack).await;
    report
}

/// Devices recorded: their flush lag observed, handed on to be published.
fn recorded(batch: Vec<Finished>) -> Vec<Finished> {
    let lag = &metrics::get().flush_lag_seconds;
    let now = Utc::now();
    for f in &batch {
        let ms = (now - f.result.finished_at).num_milliseconds().max(0);
        lag.observe(ms as f64 / 1000.0);
    }
    batch
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
        version: messages::RESULT_VERSION,
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
            let message = m.with_properties(properties);
            // Tried again in place before the tasks go back: they are recorded, only the
            // report is missing, and every return to the queue counts against the
            // delivery limit (a queue leader moving to another node fails a few
            // publishes in a row; each try after a nack is on a new channel).
            let mut delays = Backoff::RECONNECT.delays();
            loop {
                // Signed: the aggregator believes no result a worker did not sign.
                match publisher.publish(message.clone().signed(signer)).await {
                    Ok(()) => break true,
                    Err(netraven_shared::Error::ShuttingDown) => {
                        // Only at shutdown with the broker away: the tasks stay unacked,
                        // and the broker delivers them again once this connection is gone.
                        tracing::error!(
                            devices = batch.len(),
                            "results not published; tasks left unacked"
                        );
                        return;
                    }
                    Err(e) if started.elapsed() < PUBLISH_WITHIN => {
                        tracing::warn!(error = %e, devices = batch.len(), "results not confirmed; publishing them again");
                        tokio::time::sleep(delays.next_delay()).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, devices = batch.len(), "results not confirmed; returning the tasks to the queue");
                        break false;
                    }
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
