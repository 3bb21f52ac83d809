//! The connection of a long-running role, re-established by this process when it is lost.
//!
//! lapin's own auto-recovery replays channels and consumers inside the client; in broker
//! restarts it left a consumer silently dead about one time in four (docs/reliability.md).
//! A [`Link`] owns recovery instead, the way RabbitMQ's own guides recommend for clients
//! without it: a lost connection is replaced by a new one (capped backoff), and every
//! consumer and publisher starts over on it — declare, subscribe, open a confirm channel.
//! Deliveries taken before the loss cannot be acked any more; the broker redelivers them
//! and every consumer here is idempotent.

use super::{connect, consume, Names};
use crate::config::AmqpSettings;
use crate::telemetry::metrics;
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::BasicCancelOptions;
use lapin::{Channel, Connection, Consumer};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const FIRST_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(10);

/// One role's connection to RabbitMQ, reconnected on demand.
pub struct Link {
    settings: AmqpSettings,
    role: String,
    shutdown: CancellationToken,
    current: tokio::sync::Mutex<Arc<Connection>>,
}

impl Link {
    /// Connects, waiting for the broker as long as it takes; `None` when `shutdown` fires
    /// first.
    pub async fn open(
        settings: &AmqpSettings,
        role: &str,
        shutdown: &CancellationToken,
    ) -> Option<Arc<Link>> {
        let connection = connect_with_retry(settings, role, shutdown).await?;
        Some(Arc::new(Link {
            settings: settings.clone(),
            role: role.to_string(),
            shutdown: shutdown.clone(),
            current: tokio::sync::Mutex::new(Arc::new(connection)),
        }))
    }

    /// The live connection: the current one or, when it was lost, a new one. Waits as
    /// long as the broker is away; `None` once `shutdown` fires. One caller reconnects,
    /// the others wait for it and share the result.
    pub async fn connection(&self) -> Option<Arc<Connection>> {
        let mut current = self.current.lock().await;
        if current.status().connected() {
            return Some(current.clone());
        }
        tracing::warn!(role = %self.role, "connection to RabbitMQ lost; reconnecting");
        let fresh = connect_with_retry(&self.settings, &self.role, &self.shutdown).await?;
        metrics::get()
            .broker_reconnects_total
            .with_label_values(&[&self.role])
            .inc();
        tracing::info!(role = %self.role, "reconnected to RabbitMQ");
        *current = Arc::new(fresh);
        Some(current.clone())
    }

    /// A consumer on `queue` (topology declared first), on the live connection; retries
    /// with capped backoff until it works. `None` once `shutdown` fires. Roles call it at
    /// start and whenever their consumer stream fails or ends — the broker cancelled it
    /// (queue deleted, expired, moved) or the connection was lost.
    pub async fn subscribe(
        &self,
        names: &Names,
        queue: &str,
        prefetch: u16,
    ) -> Option<(Channel, Consumer)> {
        let mut delay = FIRST_RETRY;
        loop {
            let connection = self.connection().await?;
            match consume(&connection, names, &self.settings, queue, prefetch).await {
                Ok(c) => return Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, %queue, retry_in_ms = delay.as_millis() as u64,
                    "cannot subscribe")
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(MAX_RETRY);
        }
    }

    /// Closes the current connection (at shutdown).
    pub async fn close(&self, reason: &str) {
        let current = self.current.lock().await.clone();
        let _ = current.close(200, reason.into()).await;
    }
}

/// The consumer of one queue that outlives its channel: when the stream fails (the
/// connection was lost) or ends (the broker cancelled the consumer), it subscribes again
/// on the live connection. Channels it left keep running while they are open, so that
/// deliveries in flight on them can still be settled.
pub struct Subscription {
    link: Arc<Link>,
    names: Names,
    queue: String,
    prefetch: u16,
    channel: Channel,
    consumer: Consumer,
    retired: Vec<Channel>,
}

impl Subscription {
    /// Subscribes to `queue`; `None` when `shutdown` fires first.
    pub async fn new(
        link: Arc<Link>,
        names: &Names,
        queue: &str,
        prefetch: u16,
    ) -> Option<Subscription> {
        let (channel, consumer) = link.subscribe(names, queue, prefetch).await?;
        Some(Subscription {
            link,
            names: names.clone(),
            queue: queue.to_string(),
            prefetch,
            channel,
            consumer,
            retired: Vec::new(),
        })
    }

    /// The next delivery, subscribing again as often as it takes; `None` only once
    /// `shutdown` fires. Cancel-safe.
    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            let why = match self.consumer.next().await {
                Some(Ok(delivery)) => return Some(delivery),
                Some(Err(e)) => format!("consumer failed: {e}"),
                None => "consumer cancelled by the broker".to_string(),
            };
            tracing::warn!(queue = %self.queue, reason = %why, "subscribing again");
            let (channel, consumer) = self
                .link
                .subscribe(&self.names, &self.queue, self.prefetch)
                .await?;
            self.retired.retain(|c| c.status().connected());
            self.retired
                .push(std::mem::replace(&mut self.channel, channel));
            self.consumer = consumer;
        }
    }

    /// Stops deliveries; those prefetched and not yet handed out return to the queue when
    /// the channel closes.
    pub async fn cancel(&self) {
        let _ = self
            .channel
            .basic_cancel(self.consumer.tag(), BasicCancelOptions::default())
            .await;
    }

    /// Closes every channel this subscription used.
    pub async fn close(self, reason: &str) {
        let _ = self.channel.close(200, reason.into()).await;
        for old in self.retired {
            let _ = old.close(200, reason.into()).await;
        }
    }
}

/// Connects, retrying with capped exponential backoff until it works or `shutdown` fires
/// (then `None`). Every failed try is logged once with the time of the next.
pub async fn connect_with_retry(
    settings: &AmqpSettings,
    role: &str,
    shutdown: &CancellationToken,
) -> Option<Connection> {
    let mut delay = FIRST_RETRY;
    loop {
        match connect(settings, role).await {
            Ok(c) => return Some(c),
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64,
                    url = %crate::config::mask_url(&settings.url), "cannot reach RabbitMQ");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(MAX_RETRY);
    }
}
