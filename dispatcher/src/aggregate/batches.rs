//! Consuming one queue in batches: a batch window gathers deliveries, each stands for
//! device results (or for none, dead-lettered with its reason), and the batch is recorded
//! in one transaction before its deliveries are acked.

use super::dead_tasks;
use super::ingest::ingest;
use super::window::Window;
use crate::events;
use futures::stream::{self, StreamExt};
use lapin::message::Delivery;
use netraven_shared::broker::link::Subscription;
use netraven_shared::broker::{self, Names, Publisher, Settle};
use netraven_shared::messages::{self, events as keys, TaskResult, TaskResults};
use netraven_shared::retry::Backoff;
use netraven_shared::signing::Verifier;
use netraven_shared::telemetry::metrics;
use std::pin::pin;
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
            batch.push(self.stood_for(first).await);
            let more = stream::unfold(&mut sub, |sub| async { Some((sub.next().await?, sub)) })
                .then(|d| self.stood_for(d));
            self.window
                .fill(&mut batch, pin!(more), |(_, results)| results.len())
                .await;
            let (deliveries, results): (Vec<Delivery>, Vec<Vec<TaskResult>>) =
                batch.into_iter().unzip();
            let results = results.into_iter().flatten().collect();
            if !self.record(deliveries, results, shutdown).await {
                return sub;
            }
        }
    }

    /// A delivery with the results it stands for.
    async fn stood_for(&self, d: Delivery) -> (Delivery, Vec<TaskResult>) {
        let results = self.results_of(&d).await;
        (d, results)
    }

    /// What one delivery stands for as device results: one result, a worker's batch
    /// (AMQP type `task-results`), or a dead-lettered task. A malformed message is
    /// dead-lettered with its reason and stands for none.
    async fn results_of(&self, d: &Delivery) -> Vec<TaskResult> {
        if let Source::DeadTasks = self.source {
            return dead_tasks::result_of(&self.names, &self.verifier, d)
                .into_iter()
                .collect();
        }
        if let Err(rejected) = broker::verify(&self.verifier, &d.data, &d.properties) {
            let queue = self.names.results_queue();
            metrics::get()
                .messages_rejected_total
                .with_label_values(&[&queue, rejected.label()])
                .inc();
            self.dead_letter(d, &format!("task results refused: {rejected}"))
                .await;
            return Vec::new();
        }
        let batch = d
            .properties
            .kind()
            .as_ref()
            .is_some_and(|k| k.as_str() == messages::RESULTS_BATCH_TYPE);
        let decoded = if batch {
            TaskResults::decode(&d.data).map(|b| b.results)
        } else {
            TaskResult::decode(&d.data).map(|r| vec![r])
        };
        match decoded {
            Ok(results) => results,
            Err(reason) => {
                self.dead_letter(d, &reason).await;
                Vec::new()
            }
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
        shutdown: &CancellationToken,
    ) -> bool {
        // Every error is retried, not only the transient ones: these results are in hand
        // and acked only once recorded, and a permanent error here would be a defect of
        // ours that an operator can see in the log while the batch waits.
        let mut delays = Backoff::RECONNECT.delays();
        let ingested = loop {
            match ingest(&self.pool, &results).await {
                Ok(i) => break i,
                Err(e) => {
                    tracing::warn!(error = %e, results = results.len(), "results not recorded; retrying");
                    if delays.wait(shutdown).await {
                        let ackers: Vec<&lapin::Acker> = batch.iter().map(|d| &d.acker).collect();
                        broker::settle_all(&ackers, Settle::Requeue).await;
                        return false;
                    }
                }
            }
        };
        for (job_id, counts) in &ingested.finished {
            events::publish(
                &self.publisher,
                &self.names,
                *job_id,
                counts,
                keys::COMPLETED,
            )
            .await;
        }
        let ackers: Vec<&lapin::Acker> = batch.iter().map(|d| &d.acker).collect();
        for e in broker::settle_all(&ackers, Settle::Ack)
            .await
            .into_iter()
            .filter_map(Result::err)
        {
            tracing::warn!(error = %e, "delivery not acked; a redelivery will be recognised as a duplicate");
        }
        true
    }
}
