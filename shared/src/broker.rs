//! RabbitMQ: connection, topology (durable exchanges, quorum queues, dead letters) and
//! confirmed publishing.
//!
//! Every name carries the configured namespace: `<ns>.jobs`, `<ns>.tasks`, `<ns>.results`,
//! `<ns>.events`, `<ns>.dead`. Every role declares the whole topology at start (declaring
//! is idempotent), so roles can start in any order.

use crate::config::AmqpSettings;
use crate::{Error, Result};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;

/// Routing key of job requests on `<ns>.jobs`.
pub const SUBMIT_KEY: &str = "submit";
/// Routing key of device tasks on `<ns>.tasks`.
pub const TASK_KEY: &str = "device";
/// Routing key of task results on `<ns>.results`.
pub const RESULT_KEY: &str = "result";
/// Header carrying why a message was dead-lettered by us.
pub const REASON_HEADER: &str = "x-netraven-reason";
/// Header naming the queue a dead-lettered message came from.
pub const SOURCE_HEADER: &str = "x-netraven-source";

/// Exchange and queue names under one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub namespace: String,
}

impl Names {
    pub fn new(namespace: &str) -> Names {
        Names {
            namespace: namespace.to_string(),
        }
    }
    fn name(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.namespace)
    }
    /// Direct exchange clients publish job requests to.
    pub fn jobs_exchange(&self) -> String {
        self.name("jobs")
    }
    pub fn submit_queue(&self) -> String {
        self.name("jobs.submit")
    }
    pub fn tasks_exchange(&self) -> String {
        self.name("tasks")
    }
    pub fn tasks_queue(&self) -> String {
        self.name("tasks.device")
    }
    pub fn results_exchange(&self) -> String {
        self.name("results")
    }
    pub fn results_queue(&self) -> String {
        self.name("results")
    }
    /// Topic exchange of job events (`job.created`, `job.running`, `job.completed`).
    pub fn events_exchange(&self) -> String {
        self.name("events")
    }
    /// Fanout exchange every dead letter goes to.
    pub fn dead_exchange(&self) -> String {
        self.name("dead")
    }
    /// Where people look at dead letters (`netraven dead list`).
    pub fn dead_queue(&self) -> String {
        self.name("dead")
    }
    /// A second copy of every dead letter, for the aggregator: a dead-lettered device task
    /// becomes that device's `DEAD_LETTERED` result.
    pub fn dead_tasks_queue(&self) -> String {
        self.name("dead.tasks")
    }
}

/// Header RabbitMQ puts on a message it dead-lettered: the queue it came from.
pub const FIRST_DEATH_QUEUE_HEADER: &str = "x-first-death-queue";
/// Header RabbitMQ puts on a message it dead-lettered: why (`delivery_limit`, `rejected`, …).
pub const FIRST_DEATH_REASON_HEADER: &str = "x-first-death-reason";

/// Opens a connection that recovers by itself (exchanges, queues, consumers and QoS are
/// replayed by lapin after a reconnect).
pub async fn connect(settings: &AmqpSettings, role: &str) -> Result<Connection> {
    let props = ConnectionProperties::default()
        .with_connection_name(LongString::from(format!("netraven-{role}@{}", hostname())))
        .enable_auto_recover();
    Ok(Connection::connect(&settings.url, props).await?)
}

/// `host:pid`, naming this process in broker connections and results.
pub fn hostname() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}

fn quorum_args(settings: &AmqpSettings, dead_letter: Option<&str>) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongInt(i32::try_from(settings.delivery_limit).unwrap_or(i32::MAX)),
    );
    if let Some(dlx) = dead_letter {
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(dlx.into()),
        );
    }
    if settings.queue_expires_ms > 0 {
        args.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(i64::try_from(settings.queue_expires_ms).unwrap_or(i64::MAX)),
        );
    }
    args
}

/// Declares every exchange, queue and binding. Idempotent; every role calls it at start.
pub async fn declare_topology(
    channel: &Channel,
    names: &Names,
    settings: &AmqpSettings,
) -> Result<()> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let exchanges = [
        (names.jobs_exchange(), ExchangeKind::Direct),
        (names.tasks_exchange(), ExchangeKind::Direct),
        (names.results_exchange(), ExchangeKind::Direct),
        (names.events_exchange(), ExchangeKind::Topic),
        (names.dead_exchange(), ExchangeKind::Fanout),
    ];
    for (name, kind) in exchanges {
        channel
            .exchange_declare(name.into(), kind, durable, FieldTable::default())
            .await?;
    }
    let queue = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let dlx = names.dead_exchange();
    let queues = [
        (
            names.submit_queue(),
            names.jobs_exchange(),
            SUBMIT_KEY,
            Some(dlx.as_str()),
        ),
        (
            names.tasks_queue(),
            names.tasks_exchange(),
            TASK_KEY,
            Some(dlx.as_str()),
        ),
        (
            names.results_queue(),
            names.results_exchange(),
            RESULT_KEY,
            Some(dlx.as_str()),
        ),
        (names.dead_queue(), names.dead_exchange(), "", None),
        (names.dead_tasks_queue(), names.dead_exchange(), "", None),
    ];
    for (queue_name, exchange, key, dead_letter) in queues {
        channel
            .queue_declare(
                queue_name.clone().into(),
                queue,
                quorum_args(settings, dead_letter),
            )
            .await?;
        channel
            .queue_bind(
                queue_name.into(),
                exchange.into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// Deletes everything [`declare_topology`] made (tests and `netraven admin` tear-down).
pub async fn delete_topology(channel: &Channel, names: &Names) -> Result<()> {
    for q in [
        names.submit_queue(),
        names.tasks_queue(),
        names.results_queue(),
        names.dead_queue(),
        names.dead_tasks_queue(),
    ] {
        channel
            .queue_delete(q.into(), QueueDeleteOptions::default())
            .await?;
    }
    for e in [
        names.jobs_exchange(),
        names.tasks_exchange(),
        names.results_exchange(),
        names.events_exchange(),
        names.dead_exchange(),
    ] {
        channel
            .exchange_delete(e.into(), ExchangeDeleteOptions::default())
            .await?;
    }
    Ok(())
}

/// Properties of every message we publish: persistent JSON.
pub fn json_properties() -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
}

/// Reads a string header (ours or the broker's).
pub fn header(props: &BasicProperties, name: &str) -> Option<String> {
    let headers = props.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// One message to publish.
pub struct Outgoing {
    pub exchange: String,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub properties: BasicProperties,
    /// An unroutable mandatory message counts as failed. Events, which nobody may be
    /// listening to yet, are not mandatory.
    pub mandatory: bool,
}

impl Outgoing {
    pub fn json<T: Serialize>(exchange: &str, routing_key: &str, value: &T) -> Result<Outgoing> {
        Ok(Outgoing {
            exchange: exchange.to_string(),
            routing_key: routing_key.to_string(),
            body: serde_json::to_vec(value)?,
            properties: json_properties(),
            mandatory: true,
        })
    }

    /// Delivered if anyone listens, dropped by the broker (without error) otherwise.
    pub fn not_mandatory(mut self) -> Outgoing {
        self.mandatory = false;
        self
    }

    pub fn with_properties(mut self, properties: BasicProperties) -> Outgoing {
        self.properties = properties;
        self
    }
}

/// What became of a batch of publishes.
#[derive(Debug, Default)]
pub struct PublishReport {
    pub confirmed: usize,
    /// Indexes (into the batch) of messages the broker nacked or could not route, with why.
    pub failed: Vec<(usize, String)>,
}

/// A channel in confirm mode. Publishes are mandatory: an unroutable message counts as
/// failed, never as delivered.
///
/// A long-running role builds it with [`Publisher::reopening`]: when the broker closes the
/// channel over one bad publish (a missing exchange, say: a channel error is final in AMQP),
/// the next publish opens a fresh channel instead of failing forever.
pub struct Publisher {
    channel: tokio::sync::Mutex<Channel>,
    connection: Option<Arc<Connection>>,
    window: usize,
}

impl Publisher {
    pub async fn new(connection: &Connection, window: usize) -> Result<Publisher> {
        Ok(Publisher {
            channel: tokio::sync::Mutex::new(confirm_channel(connection).await?),
            connection: None,
            window: window.max(1),
        })
    }

    /// A publisher that replaces its channel when the broker has closed it.
    pub async fn reopening(connection: Arc<Connection>, window: usize) -> Result<Publisher> {
        Ok(Publisher {
            channel: tokio::sync::Mutex::new(confirm_channel(&connection).await?),
            connection: Some(connection),
            window: window.max(1),
        })
    }

    /// The channel to publish on: the current one, or a new one if the broker closed it
    /// (while the connection itself is up; a lost connection is lapin's to recover).
    async fn channel(&self) -> Result<Channel> {
        let mut channel = self.channel.lock().await;
        let status = channel.status();
        let dead = !status.connected() && !status.reconnecting() && !status.initializing();
        if let (true, Some(connection)) = (dead, &self.connection) {
            if connection.status().connected() {
                tracing::warn!("publisher channel was closed by the broker; opening a new one");
                *channel = confirm_channel(connection).await?;
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
    /// pipeline, not of one round trip per message. A channel error aborts the batch.
    pub async fn publish_all(&self, batch: Vec<Outgoing>) -> Result<PublishReport> {
        let mut report = PublishReport::default();
        let channel = self.channel().await?;
        let mut pending = VecDeque::with_capacity(self.window.min(batch.len()));
        for (index, msg) in batch.into_iter().enumerate() {
            if pending.len() >= self.window {
                if let Some((i, confirm)) = pending.pop_front() {
                    settle(&mut report, i, confirm).await?;
                }
            }
            let confirm = channel
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
                .await?;
            pending.push_back((index, confirm));
        }
        while let Some((i, confirm)) = pending.pop_front() {
            settle(&mut report, i, confirm).await?;
        }
        Ok(report)
    }
}

async fn confirm_channel(connection: &Connection) -> Result<Channel> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

async fn settle(
    report: &mut PublishReport,
    index: usize,
    confirm: lapin::PublisherConfirm,
) -> Result<()> {
    match confirm.await? {
        Confirmation::Ack(None) | Confirmation::NotRequested => report.confirmed += 1,
        Confirmation::Ack(Some(returned)) => report.failed.push((
            index,
            format!("unroutable: {}", returned.reply_text.as_str()),
        )),
        Confirmation::Nack(_) => report
            .failed
            .push((index, "the broker refused the message (nack)".into())),
    }
    Ok(())
}

/// A copy of `body` for the dead-letter exchange, carrying why and where from.
pub fn dead_letter(
    names: &Names,
    source_queue: &str,
    body: &[u8],
    original: &BasicProperties,
    reason: &str,
) -> Outgoing {
    let mut headers = original.headers().clone().unwrap_or_default();
    headers.insert(REASON_HEADER.into(), AMQPValue::LongString(reason.into()));
    headers.insert(
        SOURCE_HEADER.into(),
        AMQPValue::LongString(source_queue.into()),
    );
    // When it died, for `netraven dead list` (the broker's own dead letters carry x-death).
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let mut properties = json_properties().with_headers(headers).with_timestamp(now);
    if let Some(c) = original.correlation_id() {
        properties = properties.with_correlation_id(c.clone());
    }
    Outgoing {
        exchange: names.dead_exchange(),
        routing_key: source_queue.to_string(),
        body: body.to_vec(),
        properties,
        mandatory: true,
    }
}

/// Connects, retrying with capped exponential backoff until it works or `shutdown` fires
/// (then `None`). Every failed try is logged once with the time of the next.
pub async fn connect_with_retry(
    settings: &AmqpSettings,
    role: &str,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Option<Connection> {
    let mut delay = std::time::Duration::from_millis(200);
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
        delay = (delay * 2).min(std::time::Duration::from_secs(10));
    }
}

/// A consumer on `queue` with a bounded prefetch, on a channel of its own. The topology is
/// declared first, so any role can start before the others.
pub async fn consume(
    connection: &Connection,
    names: &Names,
    settings: &AmqpSettings,
    queue: &str,
    prefetch: u16,
) -> Result<(Channel, lapin::Consumer)> {
    let channel = connection.create_channel().await?;
    declare_topology(&channel, names, settings).await?;
    channel
        .basic_qos(prefetch, lapin::options::BasicQosOptions::default())
        .await?;
    let consumer = channel
        .basic_consume(
            queue.into(),
            format!("{}-{}", queue, hostname()).into(),
            lapin::options::BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok((channel, consumer))
}

/// Subscribes to `queue` again after the broker cancelled the consumer (the queue was
/// deleted or expired, or moved): a consumer stream that ends is no reason for a role to
/// stop. Declares the topology again and consumes, retrying with capped backoff until it
/// works or `shutdown` fires (then `None`).
pub async fn resubscribe(
    connection: &Connection,
    names: &Names,
    settings: &AmqpSettings,
    queue: &str,
    prefetch: u16,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Option<(Channel, lapin::Consumer)> {
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        tracing::warn!(%queue, "consumer cancelled by the broker; subscribing again");
        match consume(connection, names, settings, queue, prefetch).await {
            Ok(c) => return Some(c),
            Err(e) => {
                tracing::warn!(error = %e, %queue, retry_in_ms = delay.as_millis() as u64,
                    "cannot subscribe again");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(std::time::Duration::from_secs(10));
    }
}

/// Publishes `value` to the client's `reply_to` queue, if the request named one. Replies
/// are best effort: a client that went away loses nothing of ours.
pub async fn reply<T: Serialize>(publisher: &Publisher, request: &BasicProperties, value: &T) {
    let Some(reply_to) = request.reply_to() else {
        return;
    };
    let mut props = json_properties();
    if let Some(c) = request.correlation_id() {
        props = props.with_correlation_id(c.clone());
    }
    let msg = match Outgoing::json("", reply_to.as_str(), value) {
        Ok(m) => m.with_properties(props).not_mandatory(),
        Err(e) => {
            tracing::warn!(error = %e, "reply not encoded");
            return;
        }
    };
    if let Err(e) = publisher.publish(msg).await {
        tracing::warn!(error = %e, reply_to = reply_to.as_str(), "reply not sent");
    }
}
