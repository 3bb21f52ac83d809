//! The aggregator role: consumes task results in batches, records each device's result
//! exactly once, keeps the job counters, finishes jobs, and sweeps overdue ones.

mod dead;
mod ingest;

pub use ingest::{ingest, Ingested};

use crate::error::Result;
use crate::{events, sweeper};
use lapin::message::Delivery;
use netraven_shared::broker::link::Subscription;
use netraven_shared::broker::{self, Names, Publisher, Settle};
use netraven_shared::config::Settings;
use netraven_shared::messages::{self, events as keys, TaskResult, TaskResults};
use netraven_shared::role;
use netraven_shared::signing::{Purpose, Rejection, TrustedKeys, Verifier};
use netraven_shared::telemetry::metrics;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs the aggregator until `shutdown`: the batch in hand is recorded (or returned to the
/// queue) before it exits.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> Result<()> {
    // Results are believed from workers only, dead-lettered tasks from the dispatcher only.
    let trusted = TrustedKeys::from_settings(&settings.signing)?;
    let ns = &settings.amqp.namespace;
    let results_verifier = trusted.verifier(Purpose::TaskResults, ns)?;
    let tasks_verifier = trusted.verifier(Purpose::DeviceTask, ns)?;
    Rejection::export_zero(&Names::new(ns).results_queue());
    let Some(role::Connected {
        pool,
        link,
        names,
        readiness,
    }) = role::connect(
        &settings,
        "aggregator",
        &settings.aggregator.metrics_addr,
        None,
        &shutdown,
    )
    .await?
    else {
        return Ok(());
    };
    let batch_size = usize::from(settings.aggregator.batch_size);
    let prefetch = settings.aggregator.batch_size.saturating_mul(2);
    let Some(results) =
        Subscription::new(link.clone(), &names, &names.results_queue(), prefetch).await
    else {
        return Ok(());
    };
    let publisher = Publisher::on(link.clone(), settings.amqp.publish_window).await?;
    readiness.set_broker(true);

    // Stops this role's helper tasks when the result consumer returns (at shutdown).
    let local = shutdown.child_token();
    let sweeping = tokio::spawn(sweep_loop(
        pool.clone(),
        Publisher::on(link.clone(), 64).await?,
        names.clone(),
        Duration::from_millis(settings.aggregator.sweep_interval_ms),
        local.clone(),
    ));
    let Some(dead_tasks) =
        Subscription::new(link.clone(), &names, &names.dead_tasks_queue(), 64).await
    else {
        return Ok(());
    };
    // Retention: prunes rows past `aggregator.retention_days` on its own task.
    let pruning = tokio::spawn(crate::retention::run(
        pool.clone(),
        crate::retention::Policy {
            older_than_days: settings.aggregator.retention_days,
            batch_size: settings.aggregator.prune_batch_size,
            dry_run: false,
        },
        Duration::from_millis(settings.aggregator.prune_interval_ms),
        local.clone(),
    ));
    tracing::info!(queue = %names.results_queue(), batch_size, "aggregator consuming results");

    let linger = Duration::from_millis(settings.aggregator.batch_linger_ms);
    let dead_tasks = tokio::spawn({
        let ctx = Batches {
            pool: pool.clone(),
            publisher: Publisher::on(link.clone(), 64).await?,
            names: names.clone(),
            source: Source::DeadTasks,
            verifier: tasks_verifier,
            batch_size: 64,
            linger,
        };
        let stop = local.clone();
        async move { ctx.consume(dead_tasks, &stop).await }
    });
    let ctx = Batches {
        pool,
        publisher,
        names: names.clone(),
        source: Source::Results,
        verifier: results_verifier,
        batch_size,
        linger,
    };
    let results = ctx.consume(results, &shutdown).await;
    // However the result consumer ended, the helpers end with it.
    local.cancel();
    if let Ok(dead_tasks) = dead_tasks.await {
        dead_tasks.close("aggregator stopping").await;
    }
    let _ = sweeping.await;
    let _ = pruning.await;
    results.close("aggregator stopping").await;
    link.close("aggregator stopping").await;
    tracing::info!("aggregator stopped");
    Ok(())
}

/// Which queue a batch comes from, and so what its deliveries mean.
#[derive(Clone, Copy)]
enum Source {
    /// Task results from workers.
    Results,
    /// Dead letters: device tasks among them become `DEAD_LETTERED` results.
    DeadTasks,
}

/// A consumer of one queue, recording what it brings in batches.
struct Batches {
    pool: deadpool_postgres::Pool,
    publisher: Publisher,
    names: Names,
    source: Source,
    /// Checks who signed a delivery: a worker for results, the dispatcher for dead tasks.
    verifier: Verifier,
    batch_size: usize,
    linger: Duration,
}

impl Batches {
    /// Consumes until `shutdown` (the subscription resubscribes by itself); the batch in
    /// hand is recorded or returned to the queue first. Gives the subscription back. A
    /// batch is at most `batch_size` results (a message may carry hundreds) and at most
    /// `batch_size` deliveries.
    async fn consume(&self, mut sub: Subscription, shutdown: &CancellationToken) -> Subscription {
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => return sub,
                next = sub.next() => next,
            };
            let Some(first) = first else { return sub };
            let mut deliveries = Vec::with_capacity(self.batch_size);
            let mut results = Vec::with_capacity(self.batch_size);
            results.extend(self.results_of(&first).await);
            deliveries.push(first);
            let until = tokio::time::Instant::now() + self.linger;
            while deliveries.len() < self.batch_size && results.len() < self.batch_size {
                match tokio::time::timeout_at(until, sub.next()).await {
                    Ok(Some(d)) => {
                        results.extend(self.results_of(&d).await);
                        deliveries.push(d);
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            if !self.record(deliveries, results, shutdown).await {
                return sub;
            }
        }
    }

    /// What one delivery stands for as device results: one result, a worker's batch
    /// (AMQP type `task-results`), or a dead-lettered task. A malformed message is
    /// dead-lettered with its reason and stands for none.
    async fn results_of(&self, d: &Delivery) -> Vec<TaskResult> {
        if let Source::DeadTasks = self.source {
            return dead::result_of(&self.names, &self.verifier, d)
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
        let mut delay = Duration::from_millis(100);
        let ingested = loop {
            match ingest(&self.pool, &results).await {
                Ok(i) => break i,
                Err(e) => {
                    tracing::warn!(error = %e, results = results.len(), retry_in_ms = delay.as_millis() as u64,
                        "results not recorded; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => {
                            let ackers: Vec<&lapin::Acker> = batch.iter().map(|d| &d.acker).collect();
                            broker::settle_all(&ackers, Settle::Requeue).await;
                            return false;
                        }
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
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

async fn sweep_loop(
    pool: deadpool_postgres::Pool,
    publisher: Publisher,
    names: Names,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let swept = async {
            let mut client = pool.get().await?;
            sweeper::sweep(&mut client, 100).await
        };
        match swept.await {
            Ok(finished) => {
                for (job_id, counts) in finished {
                    tracing::warn!(job.id = %job_id, status = %counts.status, "overdue job finished by the sweeper");
                    events::publish(&publisher, &names, job_id, &counts, keys::COMPLETED).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "sweep failed; trying again next interval"),
        }
    }
}
