//! [`Spy`]: a private queue watching what crosses an exchange, or a `reply_to` inbox.

use crate::TestEnv;
use anyhow::Result;
use netraven_shared::broker::{self};
use std::time::Duration;

/// A private queue, bound to an exchange to watch what crosses it, or alone as a
/// `reply_to` inbox.
pub struct Spy {
    _conn: lapin::Connection,
    consumer: lapin::Consumer,
    /// The queue's name, for `reply_to`.
    pub name: String,
}

impl Spy {
    pub async fn new(env: &TestEnv, exchange: Option<(&str, &str)>) -> Result<Spy> {
        let conn = broker::connect(&env.settings.amqp, "test-spy").await?;
        let ch = conn.create_channel().await?;
        broker::declare_topology(&ch, &env.names, &env.settings.amqp).await?;
        let q = ch
            .queue_declare(
                "".into(),
                lapin::options::QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await?;
        let name = q.name().as_str().to_string();
        if let Some((exchange, key)) = exchange {
            ch.queue_bind(
                name.clone().into(),
                exchange.into(),
                key.into(),
                lapin::options::QueueBindOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await?;
        }
        Spy::consume(conn, &ch, name).await
    }

    /// A consumer on the existing queue `queue` (`tasks`, `dead`, …): what arrives there
    /// is taken off it.
    pub async fn on_queue(env: &TestEnv, queue: &str) -> Result<Spy> {
        let conn = broker::connect(&env.settings.amqp, "test-spy").await?;
        let ch = conn.create_channel().await?;
        broker::declare_topology(&ch, &env.names, &env.settings.amqp).await?;
        Spy::consume(conn, &ch, queue.to_string()).await
    }

    async fn consume(conn: lapin::Connection, ch: &lapin::Channel, name: String) -> Result<Spy> {
        let consumer = ch
            .basic_consume(
                name.clone().into(),
                "".into(),
                lapin::options::BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await?;
        Ok(Spy {
            _conn: conn,
            consumer,
            name,
        })
    }

    /// The next message, within a minute.
    pub async fn next(&mut self) -> Result<lapin::message::Delivery> {
        self.next_within(Duration::from_secs(60)).await
    }

    /// The next message, within `limit`.
    pub async fn next_within(&mut self, limit: Duration) -> Result<lapin::message::Delivery> {
        use futures::StreamExt;
        let d = tokio::time::timeout(limit, self.consumer.next()).await?;
        Ok(d.ok_or_else(|| anyhow::anyhow!("spy closed"))??)
    }
}
