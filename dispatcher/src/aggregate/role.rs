//! The aggregator role as a process: consumes task results and dead-lettered tasks in
//! batches, and runs the sweeper, retention and the freshness gauges beside them until
//! shutdown.

use super::batches::{Batches, Source};
use super::window::Window;
use super::{dead_queue, freshness, retention, sweeper};
use crate::error::Result;
use netraven_shared::broker::link::Subscription;
use netraven_shared::broker::{Names, Publisher};
use netraven_shared::config::Settings;
use netraven_shared::role;
use netraven_shared::signing::{Purpose, Rejection, TrustedKeys};
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
    let sweeping = tokio::spawn(sweeper::run(
        pool.clone(),
        Publisher::on(link.clone(), 64).await?,
        names.clone(),
        Duration::from_millis(settings.aggregator.sweep_interval_ms),
        local.clone(),
    ));
    let keeping = tokio::spawn(dead_queue::run(
        link.clone(),
        names.clone(),
        Duration::from_millis(settings.aggregator.sweep_interval_ms),
        local.clone(),
    ));
    let Some(dead_tasks) =
        Subscription::new(link.clone(), &names, &names.dead_tasks_queue(), 64).await
    else {
        return Ok(());
    };
    // Retention: prunes what `aggregator.retention_days` and the config retention allow,
    // on its own task.
    let pruning = tokio::spawn(retention::run(
        pool.clone(),
        retention::Policy::of(&settings.aggregator),
        Duration::from_millis(settings.aggregator.prune_interval_ms),
        local.clone(),
    ));
    let refreshing = tokio::spawn(freshness::run(
        pool.clone(),
        freshness::Limits::of(&settings),
        Duration::from_millis(settings.aggregator.freshness_interval_ms),
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
            window: Window { linger, max: 64 },
            progress: readiness.progress().clone(),
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
        window: Window {
            linger,
            max: batch_size,
        },
        progress: readiness.progress().clone(),
    };
    let results = ctx.consume(results, &shutdown).await;
    // However the result consumer ended, the helpers end with it.
    local.cancel();
    if let Ok(dead_tasks) = dead_tasks.await {
        dead_tasks.close("aggregator stopping").await;
    }
    let _ = sweeping.await;
    let _ = keeping.await;
    let _ = pruning.await;
    let _ = refreshing.await;
    results.close("aggregator stopping").await;
    link.close("aggregator stopping").await;
    tracing::info!("aggregator stopped");
    Ok(())
}
