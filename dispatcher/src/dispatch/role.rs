//! The dispatcher role as a process: connects, consumes `<ns>.jobs.submit` until shutdown,
//! runs the schedules and the due retries beside it ([`crate::schedule`],
//! `dispatch::retries`), and holds what every request needs
//! ([`Dispatcher`]).

use crate::dispatch::permissions::Permissions;
use crate::error::Result;
use crate::events;
use crate::job_rows::JobCounts;
use crate::schedule::{self, Scheduler};
use deadpool_postgres::Pool;
use netraven_shared::broker::link::Subscription;
use netraven_shared::broker::{Names, Publisher};
use netraven_shared::config::{DeadlineFit, DispatcherSettings, Settings};
use netraven_shared::messages::EventRole;
use netraven_shared::role;
use netraven_shared::signing::{Issuer, Purpose, Signer, SigningKeys};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// Everything one request needs; shared by the requests in hand.
pub(super) struct Dispatcher {
    pub(super) pool: Pool,
    pub(super) publisher: Publisher,
    pub(super) names: Names,
    /// Signs every device task: workers act on nothing else.
    pub(super) signer: Signer,
    pub(super) settings: DispatcherSettings,
    /// Which device deadlines fit inside the broker's consumer timeout.
    pub(super) deadline_fit: DeadlineFit,
    pub(super) permissions: Permissions,
    /// Cancelled at shutdown: a request being retried in place goes back to the queue.
    pub(super) stopping: CancellationToken,
}

impl Dispatcher {
    /// Publishes `job_id`'s event `key` with `counts`, as the dispatcher.
    pub(super) async fn announce(&self, job_id: Uuid, counts: &JobCounts, key: &str) {
        let (publisher, names) = (&self.publisher, &self.names);
        events::publish(publisher, names, EventRole::Dispatcher, job_id, counts, key).await;
    }
}

/// Runs the dispatcher until `shutdown`: consumes requests, finishes those in hand, exits.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> Result<()> {
    let signer = task_signer(&settings)?;
    let Some(role::Connected {
        pool,
        link,
        names,
        readiness,
    }) = role::connect(
        &settings,
        "dispatcher",
        &settings.dispatcher.metrics_addr,
        None,
        &shutdown,
    )
    .await?
    else {
        return Ok(());
    };
    let Some(mut requests) = Subscription::new(
        link.clone(),
        &names,
        &names.submit_queue(),
        settings.dispatcher.prefetch,
    )
    .await
    else {
        return Ok(());
    };
    readiness.set_broker(true);
    let dispatcher = Arc::new(Dispatcher {
        pool,
        publisher: Publisher::on(link.clone(), settings.amqp.publish_window).await?,
        names,
        signer,
        permissions: Permissions::new(&settings.dispatcher),
        deadline_fit: DeadlineFit::of(&settings),
        settings: settings.dispatcher.clone(),
        stopping: shutdown.clone(),
    });
    tracing::info!(queue = %dispatcher.names.submit_queue(), "dispatcher consuming job requests");

    let tracker = TaskTracker::new();
    if settings.dispatcher.schedules {
        let scheduler = Scheduler::new(
            &settings,
            dispatcher.pool.clone(),
            Publisher::on(link.clone(), 1).await?,
            dispatcher.names.clone(),
        )?;
        let every = Duration::from_millis(settings.dispatcher.schedule_poll_ms);
        tracker.spawn(schedule::run(scheduler, every, shutdown.clone()));
    }
    let every = Duration::from_millis(settings.dispatcher.retry_poll_ms);
    tracker.spawn(super::retries::run(
        dispatcher.clone(),
        every,
        shutdown.clone(),
    ));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            next = requests.next() => match next {
                Some(delivery) => {
                    let d = dispatcher.clone();
                    // In hand until handled (acked, requeued or dead-lettered): a request
                    // that never gets there makes /readyz say the dispatcher is stalled.
                    let held = readiness.progress().hold();
                    tracker.spawn(async move {
                        d.handle(delivery).await;
                        drop(held);
                    });
                }
                None => break,
            }
        }
    }
    tracker.close();
    tracker.wait().await;
    requests.close("dispatcher stopping").await;
    link.close("dispatcher stopping").await;
    tracing::info!("dispatcher stopped");
    Ok(())
}

/// The dispatcher's task signer; without a dispatcher signing key it must not start.
fn task_signer(settings: &Settings) -> Result<Signer> {
    let keys = SigningKeys::required(&settings.signing, Issuer::Dispatcher)?;
    Ok(keys.signer(Purpose::DeviceTask, &settings.amqp.namespace)?)
}
