//! Consuming one queue in batches: a batch window gathers deliveries, each stands for
//! device results (or for none, dead-lettered with its reason), and the batch is recorded
//! in one transaction before its deliveries are acked. A result Postgres refuses as data
//! is found by splitting the batch ([`super::refused`]); its device ends `DEAD_LETTERED`
//! and its message goes to the dead-letter queue with the reason, while the rest is
//! recorded and the queue moves on.

use super::dead_tasks;
use super::refused::{stand_in, Refused, Sorting};
use super::window::Window;
use crate::events;
use crate::job_rows::JobCounts;
use futures::stream::{self, StreamExt};
use lapin::message::Delivery;
use netraven_shared::broker::link::Subscription;
use netraven_shared::broker::{self, Names, Publisher, Settle};
use netraven_shared::messages::{self, events as keys, EventRole, TaskResult, TaskResults};
use netraven_shared::retry::Backoff;
use netraven_shared::signing::Verifier;
use netraven_shared::telemetry::{metrics, Progress};
use std::collections::BTreeMap;
use std::pin::pin;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Which queue a batch comes from, and so what its deliveries mean.
#[derive(Clone, Copy)]
pub(super) enum Source {
    /// Task results from workers.
    Results,
    /// Dead letters: device tasks among them become `DEAD_LETTERED` results.
    DeadTasks,
}

/// A consumer of one queue, recording what it brings in batches.
pub(super) struct Batches {
    pub(super) pool: deadpool_postgres::Pool,
    pub(super) publisher: Publisher,
    pub(super) names: Names,
    pub(super) source: Source,
    /// Checks who signed a delivery: a worker for results, the dispatcher for dead tasks.
    pub(super) verifier: Verifier,
    pub(super) window: Window,
    /// Deliveries in hand and batches recorded, for `/readyz`'s stall check.
    pub(super) progress: Arc<Progress>,
}

impl Batches {
    /// Consumes until `shutdown` (the subscription resubscribes by itself); the batch in
    /// hand is recorded or returned to the queue first. Gives the subscription back.
    pub(super) async fn consume(
        &self,
        mut sub: Subscription,
        shutdown: &CancellationToken,
    ) -> Subscription {
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return sub,
                next = sub.next() => next,
            };
            let Some(first) = first else { return sub };
            let mut batch = Vec::with_capacity(self.window.max);
            batch.push(self.stood_for(first));
            // What a delivery stands for is decided as it arrives, without waiting on
            // anything: the linger may end the fill at any await, and a delivery held by a
            // future it drops would never be acked or returned (one prefetch place lost for
            // good per refused message). Refused ones are dead-lettered after the fill.
            let more = stream::unfold(&mut sub, |sub| async { Some((sub.next().await?, sub)) })
                .map(|d| self.stood_for(d));
            self.window
                .fill(&mut batch, pin!(more), |(_, results)| {
                    results.as_ref().map_or(0, Vec::len)
                })
                .await;
            // Each result remembers its delivery, so a refused one dead-letters its message.
            let mut deliveries = Vec::with_capacity(batch.len());
            let (mut results, mut owners) = (Vec::new(), Vec::new());
            for (i, (d, stood)) in batch.into_iter().enumerate() {
                match stood {
                    Ok(rs) => {
                        owners.extend(std::iter::repeat_n(i, rs.len()));
                        results.extend(rs);
                    }
                    Err(reason) => self.dead_letter(&d, &reason).await,
                }
                deliveries.push(d);
            }
            if !self.record(deliveries, results, &owners, shutdown).await {
                return sub;
            }
        }
    }

    /// A delivery with the results it stands for, or why it stands for none (to be
    /// dead-lettered).
    fn stood_for(&self, d: Delivery) -> (Delivery, Result<Vec<TaskResult>, String>) {
        self.progress.took(1);
        let results = self.results_of(&d);
        (d, results)
    }

    /// What one delivery stands for as device results: one result, a worker's batch
    /// (AMQP type `task-results`), or a dead-lettered task; for a malformed or unsigned
    /// message, the reason it is refused.
    fn results_of(&self, d: &Delivery) -> Result<Vec<TaskResult>, String> {
        if let Source::DeadTasks = self.source {
            return Ok(dead_tasks::result_of(&self.names, &self.verifier, d)
                .into_iter()
                .collect());
        }
        if let Err(rejected) = broker::verify(&self.verifier, &d.data, &d.properties) {
            let queue = self.names.results_queue();
            metrics::get()
                .messages_rejected_total
                .with_label_values(&[&queue, rejected.label()])
                .inc();
            return Err(format!("task results refused: {rejected}"));
        }
        let batch = d
            .properties
            .kind()
            .as_ref()
            .is_some_and(|k| k.as_str() == messages::RESULTS_BATCH_TYPE);
        if batch {
            TaskResults::decode(&d.data).map(|b| b.results)
        } else {
            TaskResult::decode(&d.data).map(|r| vec![r])
        }
    }

    /// A copy of a results message the aggregator will not record, for people to look at.
    async fn dead_letter(&self, d: &Delivery, reason: &str) {
        let queue = self.names.results_queue();
        tracing::warn!(%reason, "task results dead-lettered");
        let dead = broker::dead_letter(&self.names, &queue, &d.data, &d.properties, reason);
        if let Err(e) = self.publisher.publish(dead).await {
            tracing::error!(error = %e, "results could not be dead-lettered");
        }
        metrics::get()
            .dead_lettered_total
            .with_label_values(&[&queue])
            .inc();
    }

    /// Records one batch and settles its deliveries. Returns `false` when shutdown
    /// interrupted a retry (the batch went back to the queue).
    async fn record(
        &self,
        batch: Vec<Delivery>,
        results: Vec<TaskResult>,
        owners: &[usize],
        shutdown: &CancellationToken,
    ) -> bool {
        let ackers: Vec<&lapin::Acker> = batch.iter().map(|d| &d.acker).collect();
        let held = batch.len() as u64;
        let Some(mut sorted) = self.record_all(&results, shutdown).await else {
            broker::settle_all(&ackers, Settle::Requeue).await;
            self.progress.give_back(held);
            return false;
        };
        if !sorted.refused.is_empty() {
            let stand_ins: Vec<TaskResult> = sorted
                .refused
                .iter()
                .map(|r| stand_in(&results[r.index], &r.reason))
                .collect();
            self.refuse(&batch, &results, owners, &sorted.refused).await;
            let Some(standing) = self.record_all(&stand_ins, shutdown).await else {
                self.announce(&sorted.ingested.finished).await;
                broker::settle_all(&ackers, Settle::Requeue).await;
                self.progress.give_back(held);
                return false;
            };
            for r in &standing.refused {
                tracing::error!(reason = %r.reason, "a stand-in result could not be recorded either; the job waits for its deadline");
            }
            sorted.ingested.finished.extend(standing.ingested.finished);
        }
        self.announce(&sorted.ingested.finished).await;
        // Confirmed side by side: a fleet-wide change is thousands of events.
        stream::iter(&sorted.ingested.changed)
            .for_each_concurrent(64, |&i| {
                events::config_changed(&self.publisher, &self.names, &results[i])
            })
            .await;
        for e in broker::settle_all(&ackers, Settle::Ack)
            .await
            .into_iter()
            .filter_map(Result::err)
        {
            tracing::warn!(error = %e, "delivery not acked; a redelivery will be recognised as a duplicate");
        }
        self.progress.done(held);
        true
    }

    /// Records `results`, finding those Postgres refuses as data. `None` when shutdown
    /// interrupted a retry.
    ///
    /// Every other error is retried, not only the transient ones: these results are in
    /// hand and acked only once recorded, and a permanent error here would be a defect of
    /// ours (or a database whose statements hang) that an operator sees in the log and as
    /// a stall on `/readyz` while the batch waits.
    async fn record_all(
        &self,
        results: &[TaskResult],
        shutdown: &CancellationToken,
    ) -> Option<Sorting> {
        let mut sorting = Sorting::new(results.len());
        let mut delays = Backoff::RECONNECT.delays();
        while let Err(e) = sorting.run(&self.pool, results, &self.progress).await {
            tracing::warn!(error = %e, results = results.len(), "results not recorded; retrying");
            if delays.wait(shutdown).await {
                // Jobs finished by what was recorded are announced before going.
                self.announce(&sorting.ingested.finished).await;
                return None;
            }
        }
        Some(sorting)
    }

    /// Publishes `job.completed` for each job a recorded batch finished.
    async fn announce(&self, finished: &[(uuid::Uuid, JobCounts)]) {
        for (job_id, counts) in finished {
            events::publish(
                &self.publisher,
                &self.names,
                EventRole::Aggregator,
                *job_id,
                counts,
                keys::COMPLETED,
            )
            .await;
        }
    }

    /// Counts the refused results and dead-letters each message that carried one, with
    /// the devices and Postgres' reason. A dead-lettered task (from the dead-letter queue
    /// already) is only logged.
    async fn refuse(
        &self,
        batch: &[Delivery],
        results: &[TaskResult],
        owners: &[usize],
        refused: &[Refused],
    ) {
        metrics::get()
            .results_recorded_total
            .with_label_values(&["refused"])
            .inc_by(refused.len() as u64);
        let mut by_delivery: BTreeMap<usize, Vec<&Refused>> = BTreeMap::new();
        for r in refused {
            by_delivery.entry(owners[r.index]).or_default().push(r);
        }
        for (delivery, refused) in by_delivery {
            let carried = owners.iter().filter(|&&o| o == delivery).count();
            let devices: Vec<String> = refused
                .iter()
                .take(3)
                .map(|r| {
                    let d = &results[r.index];
                    format!("device {} of job {}", d.device_id, d.job_id)
                })
                .collect();
            let more = refused.len().saturating_sub(devices.len());
            let reason = format!(
                "Postgres refused {} of the {carried} results in this message ({}{}): {}",
                refused.len(),
                devices.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                },
                refused[0].reason
            );
            match self.source {
                Source::Results => self.dead_letter(&batch[delivery], &reason).await,
                Source::DeadTasks => tracing::warn!(%reason, "dead-lettered task not recorded"),
            }
        }
    }
}
