//! One pass round the dead queue: each message taken once, then kept at the tail or
//! replayed, and acked only after the broker confirmed its copy.

use super::headers::{as_user, without};
use anyhow::{Context, Result};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::Channel;
use netraven_shared::broker::{self, Outgoing, Publisher};
use netraven_shared::config::AmqpSettings;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What to do with one dead letter in a rotation.
pub(super) enum Action {
    /// Back to the tail of the dead queue.
    Keep,
    /// Publish this instead (and remember its source); the dead copy is acked after the
    /// confirm, or kept when the broker refuses.
    Replay(Box<Outgoing>, String),
}

pub(super) struct Session {
    connection: lapin::Connection,
    /// Where messages are taken from; copies go out through the publisher.
    channel: Channel,
    publisher: Publisher,
    pub(super) seen: AtomicUsize,
    /// The caller's broker user, which replayed job requests carry as `user_id`.
    pub(super) user: String,
}

impl Session {
    pub(super) async fn open(settings: &AmqpSettings, client: &str) -> Result<Session> {
        let connection = broker::connect(settings, client).await.with_context(|| {
            format!(
                "cannot reach RabbitMQ at {}",
                netraven_shared::config::mask_url(&settings.url)
            )
        })?;
        // The topology is not declared here: a command run with other queue arguments
        // (delivery limit, expiry) than the roles' would close the channel.
        let publisher = Publisher::new(&connection, 1).await?.with_confirm_timeout(
            std::time::Duration::from_millis(settings.confirm_timeout_ms),
        );
        let channel = connection.create_channel().await?;
        Ok(Session {
            connection,
            channel,
            publisher,
            seen: AtomicUsize::new(0),
            user: broker::user(settings)?,
        })
    }

    fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Goes once round `queue`: every message present at the start is taken and either
    /// re-queued at the tail or replayed. Returns the replays with whether each was confirmed.
    pub(super) async fn rotate(
        &self,
        queue: &str,
        mut decide: impl FnMut(&Delivery) -> Action,
    ) -> Result<Vec<(String, bool)>> {
        let mut replays = Vec::new();
        let mut remaining: Option<u32> = None;
        loop {
            if remaining == Some(0) {
                break;
            }
            let got = self
                .channel()
                .basic_get(queue.into(), BasicGetOptions { no_ack: false })
                .await
                .with_context(|| format!("cannot read {queue}"))?;
            let Some(got) = got else { break };
            // Messages dead-lettered after we started wait for the next run.
            let left = remaining.get_or_insert(got.message_count + 1);
            *left -= 1;
            self.seen.fetch_add(1, Ordering::Relaxed);
            let d = got.delivery;
            match decide(&d) {
                Action::Keep => self.requeue(queue, &d).await?,
                Action::Replay(msg, from) => match self.publisher.publish(*msg).await {
                    Ok(()) => {
                        d.acker
                            .ack(BasicAckOptions::default())
                            .await
                            .context("replayed, but the dead copy was not acked")?;
                        replays.push((from, true));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "replay not confirmed; the dead letter stays");
                        self.requeue(queue, &d).await?;
                        replays.push((from, false));
                    }
                },
            }
        }
        Ok(replays)
    }

    /// A confirmed copy at the tail of `queue`, then the ack of the original.
    pub(super) async fn requeue(&self, queue: &str, d: &Delivery) -> Result<()> {
        let copy = Outgoing {
            exchange: String::new(),
            routing_key: queue.to_string(),
            body: d.data.clone(),
            properties: as_user(&without(&d.properties, &["x-delivery-count"]), None),
            mandatory: true,
        };
        self.publisher.publish(copy).await.with_context(|| {
            format!(
                "cannot put a dead letter back on {queue}; it was not acked and stays where it was"
            )
        })?;
        d.acker
            .ack(BasicAckOptions::default())
            .await
            .context("dead letter copied, but the original was not acked")?;
        Ok(())
    }

    pub(super) async fn close(&self) {
        let _ = self.channel().close(200, "done".into()).await;
        let _ = self.connection.close(200, "done".into()).await;
    }
}
