//! Confirmed publishing: a channel in confirm mode, a window of outstanding confirms, and
//! a report of what the broker took and what it did not.

use super::{Link, Outgoing};
use crate::{Error, Result};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{Channel, Confirmation, Connection};
use std::collections::VecDeque;
use std::sync::Arc;

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
/// channel, on a new connection if need be, instead of failing forever.
pub struct Publisher {
    channel: tokio::sync::Mutex<Channel>,
    link: Option<Arc<Link>>,
    window: usize,
}

impl Publisher {
    /// A publisher on one connection, for short-lived clients (the CLI, tests).
    pub async fn new(connection: &Connection, window: usize) -> Result<Publisher> {
        Ok(Publisher {
            channel: tokio::sync::Mutex::new(confirm_channel(connection).await?),
            link: None,
            window: window.max(1),
        })
    }

    /// A publisher that follows `link`: it replaces a channel the broker closed and waits
    /// out a lost connection.
    pub async fn on(link: Arc<Link>, window: usize) -> Result<Publisher> {
        let connection = link.connection().await.ok_or(Error::ShuttingDown)?;
        Ok(Publisher {
            channel: tokio::sync::Mutex::new(confirm_channel(&connection).await?),
            link: Some(link),
            window: window.max(1),
        })
    }

    /// The channel to publish on: the current one, or a new one if it was closed. With a
    /// link, this waits (with capped backoff) for the broker to come back; it fails only
    /// at shutdown.
    async fn channel(&self) -> Result<Channel> {
        let mut channel = self.channel.lock().await;
        let Some(link) = &self.link else {
            return Ok(channel.clone());
        };
        let mut delays = crate::retry::Backoff::RECONNECT.delays();
        while !channel.status().connected() {
            let connection = link.connection().await.ok_or(Error::ShuttingDown)?;
            match confirm_channel(&connection).await {
                Ok(fresh) => {
                    tracing::warn!("publisher channel was closed; publishing on a new one");
                    *channel = fresh;
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
    /// a new channel. Fails only when no channel can be had at all.
    pub async fn publish_all(&self, batch: Vec<Outgoing>) -> Result<PublishReport> {
        let channel = self.channel().await?;
        let total = batch.len();
        let mut report = PublishReport::default();
        // Handed to the channel, not settled yet: (batch index, confirm).
        let mut pending = VecDeque::with_capacity(self.window.min(total));
        // Messages handed to the channel so far.
        let mut sent = 0;
        let work = async {
            // Why the channel stopped taking messages, if it did.
            let mut broken: Option<String> = None;
            for msg in batch {
                if pending.len() >= self.window {
                    settle_first(&mut pending, &mut report).await;
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
                    Ok(confirm) => pending.push_back((sent, confirm)),
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
                settle_first(&mut pending, &mut report).await;
            }
            broken
        };
        // A frame queued just as the connection fails can be left unsent and unanswered
        // by lapin, its future pending for ever, and no confirm comes on a dead channel:
        // one watcher per batch ends the wait when the channel closes.
        let broken = tokio::select! {
            biased;
            broken = work => broken,
            () = closed(&channel) => Some("not confirmed: the channel closed".to_string()),
        };
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

/// Resolves once `channel` is no longer open.
async fn closed(channel: &Channel) {
    while channel.status().connected() {
        tokio::time::sleep(CHANNEL_CHECK).await;
    }
}

/// Waits for the oldest outstanding confirm and records it; it leaves `pending` only once
/// settled, so a batch cut short still knows it was not.
async fn settle_first(
    pending: &mut VecDeque<(usize, lapin::PublisherConfirm)>,
    report: &mut PublishReport,
) {
    let Some((index, confirm)) = pending.front_mut() else {
        return;
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
        Ok(Confirmation::Nack(_)) => report
            .failed
            .push((index, "the broker refused the message (nack)".into())),
        Err(e) => report.failed.push((index, format!("not confirmed: {e}"))),
    }
}
