//! Confirmed publishing: a channel in confirm mode, a window of outstanding confirms, and
//! a report of what the broker took and what it did not.
//!
//! A batch never waits for ever: when neither a publish is written nor a confirm comes
//! for `amqp.confirm_timeout_ms` while the connection is not blocked, the rest of the
//! batch is reported not confirmed and the channel is given up (the broker stopped
//! answering: a frozen node, a half-open connection not yet caught by heartbeats). A
//! blocked connection (a memory or disk alarm) is waited out, however long: the broker
//! will take the messages once the alarm clears, and giving up would only publish them
//! again into the same alarm.
//!
//! A batch the broker refused (a nack) gives its channel up too, for one reason: RabbitMQ
//! (3.10 at least) fixes a channel's view of a quorum queue — the leader first, then the
//! other members — from the queue's record the first time the channel routes a message
//! to it, and never updates it. Before its first enqueue the channel asks the node it
//! thinks leads for the queue's machine version; if that node is down the publish is
//! nacked and the view is left as it was, so every later publish on that channel asks the
//! dead node again and is nacked again, however long ago a new leader was elected. A
//! channel opened just after a node died (a connection there reset, reopened on another
//! node within milliseconds) and publishing before the election is stuck that way: the
//! worker's results were refused for minutes in the failover test while the queue had a
//! new leader 0.4 s after the kill. A new channel reads the record again: it is refused
//! only while the queue really has no leader. A nack for any other reason (a queue at its
//! `reject-publish` length limit) costs one channel open per retry, nothing more.

use super::{Link, Outgoing};
use crate::{Error, Result};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{Channel, Confirmation, Connection, ConnectionStatus};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `amqp.confirm_timeout_ms`'s default, for publishers made without settings.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

/// What became of a batch of publishes.
#[derive(Debug, Default)]
pub struct PublishReport {
    pub confirmed: usize,
    /// Indexes (into the batch) of messages the broker nacked, could not route, or never
    /// confirmed because the channel or the connection failed, with why. Whether they
    /// reached a queue is unknown: publish them again (consumers are idempotent).
    pub failed: Vec<(usize, String)>,
}

/// A channel in confirm mode. An unroutable mandatory message counts as failed, never as
/// delivered.
///
/// A long-running role builds it with [`Publisher::on`] a [`Link`]: when the broker closes
/// the channel over one bad publish (a missing exchange, a refused permission: a channel
/// error is final in AMQP) or the connection is lost, the next publish opens a fresh
/// channel, on a new connection if need be, instead of failing forever; and after a nack
/// the next publish opens a fresh channel too (see the module docs for why).
pub struct Publisher {
    /// The channel, and the status of the connection it is on (whether it is blocked).
    channel: tokio::sync::Mutex<(Channel, ConnectionStatus)>,
    link: Option<Arc<Link>>,
    window: usize,
    confirm_timeout: Duration,
    /// Why the next batch opens a new channel (a batch on the current one stalled or was
    /// refused), if it does.
    retire: std::sync::Mutex<Option<Retire>>,
}

/// Why a channel that still looks open is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retire {
    /// Neither a publish was written nor a confirm came for the confirm timeout.
    Stalled,
    /// The broker nacked a publish: the channel may hold a dead queue leader for good.
    Refused,
}

impl Publisher {
    /// A publisher on one connection, for short-lived clients (the CLI, tests). It keeps
    /// its one channel: a publish refused because the channel holds a dead queue leader
    /// is refused again on it, so such a client reports the failure and exits rather
    /// than retrying.
    pub async fn new(connection: &Connection, window: usize) -> Result<Publisher> {
        Ok(Publisher {
            channel: tokio::sync::Mutex::new((
                confirm_channel(connection).await?,
                connection.status().clone(),
            )),
            link: None,
            window: window.max(1),
            confirm_timeout: CONFIRM_TIMEOUT,
            retire: std::sync::Mutex::new(None),
        })
    }

    /// The same publisher with another confirm timeout (the link's publishers take
    /// `amqp.confirm_timeout_ms`).
    pub fn with_confirm_timeout(mut self, timeout: Duration) -> Publisher {
        self.confirm_timeout = timeout;
        self
    }

    /// A publisher that follows `link`: it replaces a channel the broker closed and waits
    /// out a lost connection.
    pub async fn on(link: Arc<Link>, window: usize) -> Result<Publisher> {
        let connection = link.connection().await.ok_or(Error::ShuttingDown)?;
        let confirm_timeout = Duration::from_millis(link.settings().confirm_timeout_ms);
        Ok(Publisher {
            channel: tokio::sync::Mutex::new((
                confirm_channel(&connection).await?,
                connection.status().clone(),
            )),
            link: Some(link),
            window: window.max(1),
            confirm_timeout,
            retire: std::sync::Mutex::new(None),
        })
    }

    /// The channel to publish on: the current one, or a new one if it was closed. With a
    /// link, this waits (with capped backoff) for the broker to come back; it fails only
    /// at shutdown.
    async fn channel(&self) -> Result<(Channel, ConnectionStatus)> {
        let mut channel = self.channel.lock().await;
        let Some(link) = &self.link else {
            return Ok(channel.clone());
        };
        // A channel whose confirms stalled, or that the broker refused, is given up even
        // though it looks open.
        let mut retire = self.take_retire();
        let mut delays = crate::retry::Backoff::RECONNECT.delays();
        while retire.is_some() || !channel.0.status().connected() {
            let connection = link.connection().await.ok_or(Error::ShuttingDown)?;
            match confirm_channel(&connection).await {
                Ok(fresh) => {
                    let (old, _) =
                        std::mem::replace(&mut *channel, (fresh, connection.status().clone()));
                    match retire {
                        Some(Retire::Stalled) => {
                            tracing::warn!(
                                "publisher channel stopped confirming; publishing on a new one"
                            );
                            // Its confirms may still come; nobody waits for them any more.
                            close_later(old, Duration::ZERO, "confirms stalled");
                        }
                        Some(Retire::Refused) => {
                            tracing::warn!(
                                "the broker refused a publish; publishing on a new channel, \
                                 which looks up the queues' leaders afresh"
                            );
                            // A batch still publishing on it (publishers are shared) ends
                            // within the confirm timeout, or would fail anyway: it is
                            // closed after that.
                            close_later(old, self.confirm_timeout, "publish refused");
                        }
                        None => {
                            tracing::warn!("publisher channel was closed; publishing on a new one");
                        }
                    }
                    retire = None;
                }
                Err(e) => {
                    let delay = delays.next_delay();
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64,
                        "cannot open a publisher channel");
                    if link.stopping(delay).await {
                        return Err(Error::ShuttingDown);
                    }
                }
            }
        }
        Ok(channel.clone())
    }

    /// Why the current channel is to be replaced, clearing it.
    fn take_retire(&self) -> Option<Retire> {
        self.retire
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Gives the current channel up before the next batch. A stall outranks a refusal:
    /// its channel is closed at once.
    fn retire(&self, why: Retire) {
        let mut retire = self
            .retire
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *retire != Some(Retire::Stalled) {
            *retire = Some(why);
        }
    }

    /// Publishes one message and waits for the broker to take responsibility for it.
    pub async fn publish(&self, msg: Outgoing) -> Result<()> {
        let (exchange, routing_key) = (msg.exchange.clone(), msg.routing_key.clone());
        let report = self.publish_all(vec![msg]).await?;
        match report.failed.into_iter().next() {
            None => Ok(()),
            Some((_, reason)) => Err(Error::NotConfirmed {
                exchange,
                routing_key,
                reason,
            }),
        }
    }

    /// Publishes a batch with at most `window` confirms outstanding: throughput of a
    /// pipeline, not of one round trip per message. When the channel fails mid-batch, the
    /// rest of the batch is reported failed with the channel's error; the next call opens
    /// a new channel, as it does after a nack (see the module docs). Fails only when no
    /// channel can be had at all.
    pub async fn publish_all(&self, batch: Vec<Outgoing>) -> Result<PublishReport> {
        let (channel, connection) = self.channel().await?;
        // Publishes written plus confirms settled: what the stall watch looks at.
        let progress = AtomicUsize::new(0);
        let total = batch.len();
        let mut report = PublishReport::default();
        // Handed to the channel, not settled yet: (batch index, confirm).
        let mut pending = VecDeque::with_capacity(self.window.min(total));
        // Messages handed to the channel so far.
        let mut sent = 0;
        // Whether the broker nacked any of them.
        let mut refused = false;
        let work = async {
            // Why the channel stopped taking messages, if it did.
            let mut broken: Option<String> = None;
            for msg in batch {
                if pending.len() >= self.window {
                    refused |= settle_first(&mut pending, &mut report).await;
                    progress.fetch_add(1, Ordering::Relaxed);
                }
                let published = channel
                    .basic_publish(
                        ShortString::from(msg.exchange),
                        ShortString::from(msg.routing_key),
                        BasicPublishOptions {
                            mandatory: msg.mandatory,
                            ..Default::default()
                        },
                        &msg.body,
                        msg.properties,
                    )
                    .await;
                match published {
                    Ok(confirm) => {
                        pending.push_back((sent, confirm));
                        progress.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        broken = Some(format!("channel failed: {e}"));
                        break;
                    }
                }
                sent += 1;
            }
            // Also after a failure: the confirms outstanding carry the broker's reason
            // (ACCESS_REFUSED, NOT_FOUND, …), more telling than the closed channel.
            while !pending.is_empty() {
                refused |= settle_first(&mut pending, &mut report).await;
                progress.fetch_add(1, Ordering::Relaxed);
            }
            broken
        };
        // A frame queued just as the connection fails can be left unsent and unanswered
        // by lapin, its future pending for ever, and no confirm comes on a dead channel:
        // one watcher per batch ends the wait when the channel closes.
        // And a broker that stops answering without closing anything is given up on
        // after the confirm timeout (not counting time blocked).
        let broken = tokio::select! {
            biased;
            broken = work => broken,
            () = closed(&channel) => Some("not confirmed: the channel closed".to_string()),
            () = stalled(&progress, &connection, self.confirm_timeout) => {
                self.retire(Retire::Stalled);
                Some(format!(
                    "not confirmed within amqp.confirm_timeout_ms ({} ms): the broker \
                     stopped answering",
                    self.confirm_timeout.as_millis()
                ))
            }
        };
        if refused {
            self.retire(Retire::Refused);
        }
        if let Some(reason) = broken {
            let unsettled = pending.drain(..).map(|(i, _)| i).chain(sent..total);
            report.failed.extend(unsettled.map(|i| (i, reason.clone())));
        }
        report.failed.sort_unstable_by_key(|(i, _)| *i);
        Ok(report)
    }
}

async fn confirm_channel(connection: &Connection) -> Result<Channel> {
    let open = async {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok::<_, lapin::Error>(channel)
    };
    match tokio::time::timeout(super::BROKER_ANSWER_TIMEOUT, open).await {
        Ok(channel) => Ok(channel?),
        Err(_) => Err(Error::BrokerTimeout {
            during: "opening a publisher channel",
            after: super::BROKER_ANSWER_TIMEOUT,
        }),
    }
}

/// How often a batch in flight looks whether its channel is still open.
const CHANNEL_CHECK: std::time::Duration = std::time::Duration::from_millis(200);

/// Resolves once `progress` has not moved for `limit` while the connection was not
/// blocked. While blocked the clock stands still (and starts afresh on unblocking).
async fn stalled(progress: &AtomicUsize, connection: &ConnectionStatus, limit: Duration) {
    let (mut seen, mut since) = (progress.load(Ordering::Relaxed), Instant::now());
    let mut waited_blocked = false;
    loop {
        tokio::time::sleep(CHANNEL_CHECK).await;
        let now = progress.load(Ordering::Relaxed);
        let blocked = connection.blocked();
        if blocked && !waited_blocked {
            tracing::info!("publishing waits: RabbitMQ blocked the connection (resource alarm)");
        }
        waited_blocked = blocked;
        if now != seen || blocked {
            (seen, since) = (now, Instant::now());
        } else if since.elapsed() >= limit {
            return;
        }
    }
}

/// Resolves once `channel` is no longer open.
async fn closed(channel: &Channel) {
    while channel.status().connected() {
        tokio::time::sleep(CHANNEL_CHECK).await;
    }
}

/// Closes a channel given up, after `delay`, without making anyone wait for it.
fn close_later(channel: Channel, delay: Duration, why: &'static str) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let closing = channel.close(200, why.into());
        let _ = tokio::time::timeout(super::BROKER_ANSWER_TIMEOUT, closing).await;
    });
}

/// Waits for the oldest outstanding confirm and records it; it leaves `pending` only once
/// settled, so a batch cut short still knows it was not. True when the broker nacked it.
async fn settle_first(
    pending: &mut VecDeque<(usize, lapin::PublisherConfirm)>,
    report: &mut PublishReport,
) -> bool {
    let Some((index, confirm)) = pending.front_mut() else {
        return false;
    };
    let index = *index;
    let confirmed = confirm.await;
    pending.pop_front();
    match confirmed {
        Ok(Confirmation::Ack(None) | Confirmation::NotRequested) => report.confirmed += 1,
        Ok(Confirmation::Ack(Some(returned))) => report.failed.push((
            index,
            format!("unroutable: {}", returned.reply_text.as_str()),
        )),
        Ok(Confirmation::Nack(_)) => {
            report
                .failed
                .push((index, "the broker refused the message (nack)".into()));
            return true;
        }
        Err(e) => report.failed.push((index, format!("not confirmed: {e}"))),
    }
    false
}
