//! Capturing, re-signing and publishing broker messages; waiting for what a role refuses.

use lapin::options::{BasicGetOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use netraven_shared::broker::{self, Outgoing, Publisher};
use netraven_shared::signing::SIGNATURE_HEADER;
use netraven_shared::telemetry::metrics;
use netraven_simulator::Fleet;
use netraven_tests::{request, FleetBuilder, Roles, TestEnv};
use serde_json::Value;
use std::time::{Duration, Instant};

pub(super) const DEVICES: usize = 4;

/// A message as it sat on the broker.
pub(super) struct Captured {
    pub(super) body: Vec<u8>,
    pub(super) properties: BasicProperties,
}

/// Takes one message from `queue` and puts it back, as anyone allowed to read it could.
pub(super) async fn capture(ch: &lapin::Channel, queue: &str) -> anyhow::Result<Captured> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(m) = ch
            .basic_get(queue.into(), BasicGetOptions::default())
            .await?
        {
            let captured = Captured {
                body: m.delivery.data.clone(),
                properties: m.delivery.properties.clone(),
            };
            m.delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await?;
            return Ok(captured);
        }
        anyhow::ensure!(Instant::now() < until, "no message in {queue} after 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every message in `queue`, taken off it.
pub(super) async fn drain(ch: &lapin::Channel, queue: &str) -> anyhow::Result<Vec<Captured>> {
    let mut out = Vec::new();
    while let Some(m) = ch
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await?
    {
        out.push(Captured {
            body: m.delivery.data.clone(),
            properties: m.delivery.properties.clone(),
        });
    }
    Ok(out)
}

/// `props` with the signature header set to `signature`, or removed.
pub(super) fn with_signature(
    props: &BasicProperties,
    signature: Option<String>,
) -> BasicProperties {
    let mut headers = props.headers().clone().unwrap_or_default();
    let mut kept = FieldTable::default();
    for (k, v) in headers.inner() {
        if k.as_str() != SIGNATURE_HEADER {
            kept.insert(k.clone(), v.clone());
        }
    }
    headers = kept;
    if let Some(s) = signature {
        headers.insert(SIGNATURE_HEADER.into(), AMQPValue::LongString(s.into()));
    }
    props.clone().with_headers(headers)
}

pub(super) async fn publish(
    publisher: &Publisher,
    exchange: String,
    key: &str,
    body: Vec<u8>,
    properties: BasicProperties,
) -> anyhow::Result<()> {
    publisher
        .publish(Outgoing {
            exchange,
            routing_key: key.into(),
            body,
            properties,
            mandatory: true,
        })
        .await?;
    Ok(())
}

pub(super) fn rejected(queue: &str, reason: &str) -> u64 {
    metrics::get()
        .messages_rejected_total
        .with_label_values(&[queue, reason])
        .get()
}

/// Waits until `queue` holds `n` messages (the roles dead-letter asynchronously).
pub(super) async fn wait_for_messages(
    ch: &lapin::Channel,
    queue: &str,
    n: u32,
) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let q = ch
            .queue_declare(
                queue.into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        if q.message_count() >= n {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < until,
            "{queue} holds {} messages after 30 s, expected {n}",
            q.message_count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A job whose tasks wait in the queue (the dispatcher and the aggregator run, no worker),
/// and one of its tasks as a broker account can read it.
pub(super) struct Waiting {
    pub(super) dispatching: Roles,
    pub(super) job_id: uuid::Uuid,
    pub(super) conn: lapin::Connection,
    pub(super) ch: lapin::Channel,
    pub(super) tasks_queue: String,
    pub(super) genuine: Captured,
    pub(super) task: Value,
}

impl Waiting {
    pub(super) async fn start(env: &TestEnv) -> anyhow::Result<Waiting> {
        let dispatching = Roles::start_without_workers(&env.settings);
        let job = request("config_backup", &["fleet"], &[]);
        env.publish(&job).await?;
        let job_id = env.job_id(&job.request_id, Duration::from_secs(30)).await?;
        let conn = broker::connect(&env.settings.amqp, "test-attacker").await?;
        let ch = conn.create_channel().await?;
        let tasks_queue = env.names.tasks_queue();
        wait_for_messages(&ch, &tasks_queue, DEVICES as u32).await?;
        let genuine = capture(&ch, &tasks_queue).await?;
        let task = serde_json::from_slice(&genuine.body)?;
        Ok(Waiting {
            dispatching,
            job_id,
            conn,
            ch,
            tasks_queue,
            genuine,
            task,
        })
    }
}

/// A fleet of `DEVICES` healthy simulated devices.
pub(super) async fn healthy_fleet(seed: u64) -> anyhow::Result<Fleet> {
    FleetBuilder::scenario("all-good", DEVICES, seed)?
        .start()
        .await
}

/// Login attempts the credentials' counters recorded, all credentials together.
pub(super) async fn counters(env: &TestEnv) -> anyhow::Result<(i64, i64)> {
    let row = env
        .pool
        .get()
        .await?
        .query_one(
            "SELECT coalesce(sum(success_count), 0)::bigint, coalesce(sum(failure_count), 0)::bigint
             FROM credentials",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}
