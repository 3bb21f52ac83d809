//! The topology: durable exchanges, quorum queues and their bindings, declared, checked
//! or deleted; and consumers on it.

use super::connect::hostname;
use super::names::{Names, INTERACTIVE_TASK_KEY, RESULT_KEY, SUBMIT_KEY, TASK_KEY};
use crate::config::AmqpSettings;
use crate::{Error, Result};
use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ExchangeKind};

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

/// Every exchange of the namespace, with its kind.
pub fn exchanges(names: &Names) -> Vec<(String, ExchangeKind)> {
    vec![
        (names.jobs_exchange(), ExchangeKind::Direct),
        (names.tasks_exchange(), ExchangeKind::Direct),
        (names.results_exchange(), ExchangeKind::Direct),
        (names.events_exchange(), ExchangeKind::Topic),
        (names.dead_exchange(), ExchangeKind::Fanout),
    ]
}

/// One durable quorum queue and the binding that feeds it.
#[derive(Debug, Clone)]
pub struct QueueSpec {
    pub name: String,
    pub exchange: String,
    pub routing_key: &'static str,
    /// Its arguments: quorum, delivery limit, dead-letter exchange, expiry.
    pub arguments: FieldTable,
    /// Whether a role consumes it all the time; the dead-letter queue is read by people,
    /// now and then (see [`Scope::Queue`]).
    pub role_consumed: bool,
}

/// Every queue of the namespace, as [`declare_topology`] declares them.
pub fn queues(names: &Names, settings: &AmqpSettings) -> Vec<QueueSpec> {
    let dlx = names.dead_exchange();
    let dead_lettered = |name: String, exchange: String, routing_key| QueueSpec {
        name,
        exchange,
        routing_key,
        arguments: quorum_args(settings, Some(&dlx)),
        role_consumed: true,
    };
    let dead = |name: String, role_consumed| QueueSpec {
        name,
        exchange: names.dead_exchange(),
        routing_key: "",
        arguments: quorum_args(settings, None),
        role_consumed,
    };
    vec![
        dead_lettered(names.submit_queue(), names.jobs_exchange(), SUBMIT_KEY),
        dead_lettered(names.tasks_queue(), names.tasks_exchange(), TASK_KEY),
        dead_lettered(
            names.interactive_tasks_queue(),
            names.tasks_exchange(),
            INTERACTIVE_TASK_KEY,
        ),
        dead_lettered(names.results_queue(), names.results_exchange(), RESULT_KEY),
        dead(names.dead_queue(), false),
        dead(names.dead_tasks_queue(), true),
    ]
}

/// Declares every exchange, queue and binding. Idempotent; with `amqp.declare_topology`
/// every role calls it at start, otherwise `netraven broker setup` does.
pub async fn declare_topology(
    channel: &Channel,
    names: &Names,
    settings: &AmqpSettings,
) -> Result<()> {
    declare(channel, names, settings, |_| true).await
}

/// What a consumer declares before it subscribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every exchange, queue and binding: at a role's start, so that any role can start
    /// before the others.
    Topology,
    /// Every exchange, but of the queues only the one consumed and those no role consumes
    /// (the dead-letter queue), with their bindings: when subscribing again after the
    /// broker cancelled the consumer. RabbitMQ (3.10 here) names a quorum queue's Raft
    /// members after the queue, so a queue deleted and at once declared again by someone
    /// else can be taken, by a channel still attached to the old one, for a restart of
    /// the same queue: that channel keeps its consumer and gets no cancel, and what the
    /// new queue hands it never reaches the client (unacknowledged on the queue, not on
    /// the channel, for ever). So a role's queue is declared again only by its own
    /// consumers, which the broker has told by then that the old one is gone.
    Queue,
}

/// Declares every exchange, and the queues `wanted` picks with their bindings.
async fn declare(
    channel: &Channel,
    names: &Names,
    settings: &AmqpSettings,
    wanted: impl Fn(&QueueSpec) -> bool,
) -> Result<()> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for (name, kind) in exchanges(names) {
        channel
            .exchange_declare(name.into(), kind, durable, FieldTable::default())
            .await?;
    }
    let queue = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for q in queues(names, settings).into_iter().filter(|q| wanted(q)) {
        channel
            .queue_declare(q.name.clone().into(), queue, q.arguments)
            .await?;
        channel
            .queue_bind(
                q.name.into(),
                q.exchange.into(),
                q.routing_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

/// Declares again, with its binding (and the exchanges), each queue no role consumes that
/// is missing: the dead-letter queue people read. A consumed queue deleted is declared
/// again by its consumers when the broker cancels them; nothing cancels anyone for this
/// one, and while it is gone the broker drops what it dead-letters there. Returns the
/// queues declared again. Each check is a passive declare on a channel of its own (a
/// missing queue closes the channel it was asked on).
pub async fn restore_unconsumed(
    connection: &Connection,
    names: &Names,
    settings: &AmqpSettings,
) -> Result<Vec<String>> {
    let mut restored = Vec::new();
    for q in queues(names, settings)
        .into_iter()
        .filter(|q| !q.role_consumed)
    {
        let channel = connection.create_channel().await?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        match channel
            .queue_declare(q.name.clone().into(), passive, FieldTable::default())
            .await
        {
            Ok(_) => {
                let _ = channel.close(200, "checked".into()).await;
                continue;
            }
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(e.into()),
        }
        let channel = connection.create_channel().await?;
        declare(&channel, names, settings, |s| s.name == q.name).await?;
        let _ = channel.close(200, "declared".into()).await;
        restored.push(q.name);
    }
    Ok(restored)
}

/// Whether the broker said the thing asked for does not exist (`NOT_FOUND`).
fn not_found(e: &lapin::Error) -> bool {
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(a)
        if *a.kind() == lapin::protocol::AMQPErrorKind::Soft(lapin::protocol::AMQPSoftError::NOTFOUND))
}

/// Deletes everything [`declare_topology`] made (tests and `netraven admin` tear-down).
pub async fn delete_topology(channel: &Channel, names: &Names) -> Result<()> {
    for q in [
        names.submit_queue(),
        names.tasks_queue(),
        names.interactive_tasks_queue(),
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

/// Declares the topology (`amqp.declare_topology`), or checks without declaring that
/// `queue` exists: a passive declare needs no permission, and names the missing queue.
pub async fn ensure_topology(
    channel: &Channel,
    names: &Names,
    settings: &AmqpSettings,
    queue: &str,
    scope: Scope,
) -> Result<()> {
    if settings.declare_topology {
        return declare(channel, names, settings, |q| {
            scope == Scope::Topology || q.name == queue || !q.role_consumed
        })
        .await;
    }
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await
        .map_err(|source| Error::TopologyMissing {
            queue: queue.to_string(),
            source,
        })?;
    Ok(())
}

/// A consumer on `queue` with a bounded prefetch, on a channel of its own. What `scope`
/// says is declared first (or, without `amqp.declare_topology`, the queue checked).
pub async fn consume(
    connection: &Connection,
    names: &Names,
    settings: &AmqpSettings,
    queue: &str,
    prefetch: u16,
    scope: Scope,
) -> Result<(Channel, lapin::Consumer)> {
    let channel = connection.create_channel().await?;
    ensure_topology(&channel, names, settings, queue, scope).await?;
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
