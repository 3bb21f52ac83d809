//! The connection of a long-running role, re-established by this process when it is lost.
//!
//! lapin's own auto-recovery replays channels and consumers inside the client; in broker
//! restarts it left a consumer silently dead about one time in four (docs/reliability.md).
//! A [`Link`] owns recovery instead, the way RabbitMQ's own guides recommend for clients
//! without it: a lost connection is replaced by a new one (capped backoff), and every
//! consumer and publisher starts over on it — declare, subscribe, open a confirm channel.
//! Deliveries taken before the loss cannot be acked any more; the broker redelivers them
//! and every consumer here is idempotent.
//!
//! Each (re)connect tries every configured node in turn (`amqp.url`, `amqp.urls`). While
//! the broker has blocked the connection (`connection.blocked`: a memory or disk alarm),
//! the link says so in a log line and in `/readyz`; publishes wait, they do not fail.

use super::connect::connect_any;
use super::{consume, Names, Scope, BROKER_ANSWER_TIMEOUT};
use crate::config::AmqpSettings;
use crate::retry::Backoff;
use crate::telemetry::{metrics, Readiness};
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::BasicCancelOptions;
use lapin::{Channel, Connection, Consumer, Event};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::{CancellationToken, DropGuard};

const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a consumer the broker cancelled waits before it declares its queue again:
/// the other consumers of a deleted queue hear of it at the same moment, and a queue
/// declared again before their channels have let go of the old one keeps them attached
/// without a cancel (see [`Scope::Queue`]). A broker's channel takes that in well under a
/// millisecond; a second is for a loaded machine.
const AFTER_CANCEL: Duration = Duration::from_secs(1);

/// One role's connection to RabbitMQ, reconnected on demand.
pub struct Link {
    settings: AmqpSettings,
    role: String,
    shutdown: CancellationToken,
    /// The connection, and the guard that stops its blocked/unblocked watcher when the
    /// connection is replaced.
    current: tokio::sync::Mutex<(Arc<Connection>, DropGuard)>,
    /// `/readyz` says not ready while the connection is down or blocked.
    readiness: Option<Arc<Readiness>>,
}

impl Link {
    /// Connects, waiting for the broker as long as it takes; `None` when `shutdown` fires
    /// first.
    pub async fn open(
        settings: &AmqpSettings,
        role: &str,
        shutdown: &CancellationToken,
        readiness: Option<Arc<Readiness>>,
    ) -> Option<Arc<Link>> {
        let connection = connect_with_retry(settings, role, shutdown).await?;
        let watcher = watch_blocked(&connection, role, readiness.clone());
        Some(Arc::new(Link {
            settings: settings.clone(),
            role: role.to_string(),
            shutdown: shutdown.clone(),
            current: tokio::sync::Mutex::new((Arc::new(connection), watcher)),
            readiness,
        }))
    }

    /// The live connection: the current one or, when it was lost, a new one. Waits as
    /// long as the broker is away; `None` once `shutdown` fires. One caller reconnects,
    /// the others wait for it and share the result.
    pub async fn connection(&self) -> Option<Arc<Connection>> {
        let mut current = self.current.lock().await;
        if current.0.status().connected() {
            return Some(current.0.clone());
        }
        tracing::warn!(role = %self.role, "connection to RabbitMQ lost; reconnecting");
        if let Some(r) = &self.readiness {
            r.set_broker(false);
            // A new connection starts unblocked: the broker blocks it again, if the alarm
            // still stands, when it publishes.
            r.set_broker_blocked(false);
        }
        let fresh = connect_with_retry(&self.settings, &self.role, &self.shutdown).await?;
        metrics::get()
            .broker_reconnects_total
            .with_label_values(&[&self.role])
            .inc();
        tracing::info!(role = %self.role, "reconnected to RabbitMQ");
        if let Some(r) = &self.readiness {
            r.set_broker(true);
        }
        let watcher = watch_blocked(&fresh, &self.role, self.readiness.clone());
        *current = (Arc::new(fresh), watcher);
        Some(current.0.clone())
    }

    /// A consumer on `queue` (what `scope` says declared first), on the live connection;
    /// retries with capped backoff until it works. `None` once `shutdown` fires. Roles call
    /// it at start ([`Scope::Topology`]) and whenever their consumer stream fails or ends —
    /// the broker cancelled it (queue deleted, expired, moved) or the connection was lost
    /// ([`Scope::Queue`]).
    pub async fn subscribe(
        &self,
        names: &Names,
        queue: &str,
        prefetch: u16,
        scope: Scope,
    ) -> Option<(Channel, Consumer)> {
        let mut delays = Backoff::RECONNECT.delays();
        loop {
            let connection = self.connection().await?;
            // Bounded: an operation queued on a connection that dies at that moment may
            // never be answered.
            let subscribed = tokio::time::timeout(
                BROKER_ANSWER_TIMEOUT,
                consume(&connection, names, &self.settings, queue, prefetch, scope),
            )
            .await;
            let delay = delays.next_delay();
            match subscribed {
                Ok(Ok(c)) => return Some(c),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, %queue, retry_in_ms = delay.as_millis() as u64,
                    "cannot subscribe")
                }
                Err(_) => tracing::warn!(%queue, retry_in_ms = delay.as_millis() as u64,
                    "cannot subscribe: the broker did not answer"),
            }
            if self.stopping(delay).await {
                return None;
            }
        }
    }

    /// The `[amqp]` settings the link connects with.
    pub fn settings(&self) -> &AmqpSettings {
        &self.settings
    }

    /// Waits `delay`; `true` if shutdown came first.
    pub async fn stopping(&self, delay: Duration) -> bool {
        tokio::select! {
            _ = self.shutdown.cancelled() => true,
            _ = tokio::time::sleep(delay) => false,
        }
    }

    /// Closes the current connection (at shutdown), waiting a few seconds at most for
    /// the broker to answer.
    pub async fn close(&self, reason: &str) {
        let current = self.current.lock().await.0.clone();
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, current.close(200, reason.into())).await;
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
    /// `None` once the stream failed or ended and until a new subscription stands, so
    /// that a `next` cancelled mid-subscribe starts over instead of polling a spent one.
    consumer: Option<Consumer>,
    /// What to declare when subscribing again: only the queue after the broker cancelled
    /// the consumer, everything after the connection was lost (see [`Scope::Queue`]).
    again: Scope,
    /// Not before then after a cancel ([`AFTER_CANCEL`]); kept here so that a `next`
    /// dropped while waiting does not cut the wait short.
    not_before: Option<tokio::time::Instant>,
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
        let (channel, consumer) = link
            .subscribe(names, queue, prefetch, Scope::Topology)
            .await?;
        Some(Subscription {
            link,
            names: names.clone(),
            queue: queue.to_string(),
            prefetch,
            channel,
            consumer: Some(consumer),
            again: Scope::Topology,
            not_before: None,
            retired: Vec::new(),
        })
    }

    /// The next delivery, subscribing again as often as it takes; `None` only once
    /// `shutdown` fires. Cancel-safe: a call dropped mid-subscribe is resumed by the next.
    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            if let Some(consumer) = &mut self.consumer {
                let (why, again) = match consumer.next().await {
                    Some(Ok(delivery)) => return Some(delivery),
                    Some(Err(e)) => (format!("consumer failed: {e}"), Scope::Topology),
                    None => ("consumer cancelled by the broker".to_string(), Scope::Queue),
                };
                self.again = again;
                if again == Scope::Queue {
                    self.not_before = Some(tokio::time::Instant::now() + AFTER_CANCEL);
                }
                tracing::warn!(queue = %self.queue, reason = %why, "subscribing again");
                self.consumer = None;
            }
            if let Some(at) = self.not_before {
                let left = at.saturating_duration_since(tokio::time::Instant::now());
                if self.link.stopping(left).await {
                    return None;
                }
                self.not_before = None;
            }
            let (channel, consumer) = self
                .link
                .subscribe(&self.names, &self.queue, self.prefetch, self.again)
                .await?;
            // Deliveries in flight may still settle on the old channel while it is open;
            // closed ones are let go.
            self.retired.retain(|c| c.status().connected());
            self.retired
                .push(std::mem::replace(&mut self.channel, channel));
            self.consumer = Some(consumer);
        }
    }

    /// Stops deliveries; those prefetched and not yet handed out return to the queue when
    /// the channel closes.
    pub async fn cancel(&self) {
        if let Some(consumer) = &self.consumer {
            let cancel = self
                .channel
                .basic_cancel(consumer.tag(), BasicCancelOptions::default());
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, cancel).await;
        }
    }

    /// Closes every channel this subscription used.
    pub async fn close(self, reason: &str) {
        for channel in std::iter::once(self.channel).chain(self.retired) {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, reason.into())).await;
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
    let mut delays = Backoff::RECONNECT.delays();
    loop {
        let connected = tokio::select! {
            _ = shutdown.cancelled() => return None,
            c = connect_any(settings, role) => c,
        };
        let delay = delays.next_delay();
        match connected {
            Ok((c, address)) => {
                tracing::info!(%role, %address, "connected to RabbitMQ");
                return Some(c);
            }
            Err(e) => {
                let tried: Vec<String> = settings
                    .addresses()
                    .into_iter()
                    .map(crate::config::mask_url)
                    .collect();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64,
                    tried = %tried.join(","), "cannot reach RabbitMQ");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Follows the broker's `connection.blocked` and `connection.unblocked` on `connection`:
/// a log line each, and `/readyz` not ready while blocked. Stops when the guard drops.
fn watch_blocked(
    connection: &Connection,
    role: &str,
    readiness: Option<Arc<Readiness>>,
) -> DropGuard {
    let stop = CancellationToken::new();
    let mut events = connection.events_listener();
    let (role, stopped) = (role.to_string(), stop.clone());
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                _ = stopped.cancelled() => return,
                e = events.next() => e,
            };
            match event {
                Some(Event::ConnectionBlocked(reason)) => {
                    tracing::warn!(%role, %reason,
                        "RabbitMQ blocked this connection (a resource alarm): publishes wait \
                         until it unblocks");
                    if let Some(r) = &readiness {
                        r.set_broker_blocked(true);
                    }
                }
                Some(Event::ConnectionUnblocked) => {
                    tracing::info!(%role, "RabbitMQ unblocked this connection; publishing again");
                    if let Some(r) = &readiness {
                        r.set_broker_blocked(false);
                    }
                }
                Some(_) => {}
                None => return,
            }
        }
    });
    stop.drop_guard()
}
