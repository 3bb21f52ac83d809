//! RabbitMQ: connection, topology (durable exchanges, quorum queues, dead letters) and
//! confirmed publishing.
//!
//! | module | owns |
//! |---|---|
//! | this file | names, topology, message properties and headers, dead letters, replies |
//! | [`link`] | a role's connection, re-established by us when lost; subscribing |
//! | [`publisher`] | confirmed publishing in a window, and what was not confirmed |
//!
//! Every name carries the configured namespace: `<ns>.jobs`, `<ns>.tasks`, `<ns>.results`,
//! `<ns>.events`, `<ns>.dead`. With `amqp.declare_topology` (the default, for one broker
//! user) every role declares the whole topology at start (declaring is idempotent), so
//! roles can start in any order. With an account per role, `netraven broker setup`
//! declares it and roles only check, passively, that the queue they consume exists:
//! declaring needs the configure permission, which also allows deleting.

use crate::config::AmqpSettings;
use crate::{Error, Result};
use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::Serialize;
use std::time::Duration;

pub mod link;
pub mod publisher;

pub use link::{connect_with_retry, Link};
pub use publisher::{PublishReport, Publisher};

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
/// Header keeping a dead letter's AMQP `user_id` (who published it, as the broker checked):
/// a copy published by anyone else may not carry the property itself.
pub const USER_HEADER: &str = "x-netraven-user-id";
use crate::signing::Signer;
pub use crate::signing::{PROOF_HEADER, SIGNATURE_HEADER};

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

/// Heartbeat asked for when the URL names none: a broker that vanished without closing
/// the socket (a host gone, a partition) is noticed within two intervals, not RabbitMQ's
/// default of 60 s.
const DEFAULT_HEARTBEAT_S: u16 = 10;
/// Longest a connection attempt (TCP, AMQP handshake, login) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest the broker may take to answer a channel operation (open, declare, consume,
/// ack) before the channel is taken for dead.
pub const BROKER_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens one connection. It does not recover by itself: long-running roles hold a
/// [`Link`], which replaces a lost connection; short-lived clients simply fail.
///
/// An `amqps://` URL connects over TLS with our own rustls configuration (the CA of
/// `amqp.tls_ca_file` only, the client certificate of `amqp.tls_cert_file`, the name of
/// `amqp.tls_server_name` or else the URL's host) or fails: it never falls back to plain
/// text.
pub async fn connect(settings: &AmqpSettings, role: &str) -> Result<Connection> {
    let mut uri: lapin::uri::AMQPUri = settings
        .url
        .parse()
        .map_err(|e| Error::Config(format!("amqp.url: {e}")))?;
    uri.query.heartbeat.get_or_insert(DEFAULT_HEARTBEAT_S);
    let props = ConnectionProperties::default()
        .with_connection_name(LongString::from(format!("netraven-{role}@{}", hostname())));
    let timed_out = || Error::BrokerTimeout {
        during: "connecting",
        after: CONNECT_TIMEOUT,
    };
    if uri.scheme == lapin::uri::AMQPScheme::AMQP {
        if !settings.url.starts_with("amqp://") {
            // lapin reads any other scheme as plain AMQP: refuse rather than guess.
            return Err(Error::Config(
                "amqp.url: must start with amqp:// or amqps://".into(),
            ));
        }
        return match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect_uri(uri, props))
            .await
        {
            Ok(connected) => Ok(connected?),
            Err(_) => Err(timed_out()),
        };
    }
    let tls = broker_tls(settings)?;
    let endpoint = format!("{}:{}", uri.authority.host, uri.authority.port);
    let server_name = settings
        .tls_server_name
        .clone()
        .unwrap_or_else(|| uri.authority.host.clone());
    let checked = format!(
        "amqp.tls_ca_file {}, server name {server_name:?}{}",
        settings
            .tls_ca_file
            .as_deref()
            .map_or("unset".into(), |p| p.display().to_string()),
        if settings.tls_cert_file.is_some() {
            ", client certificate amqp.tls_cert_file"
        } else {
            ", no client certificate"
        }
    );
    let runtime = lapin::runtime::default_runtime()?;
    // lapin opens the TCP connection (again after each loss); the TLS is ours.
    let connecting = Connection::connector(
        uri,
        runtime,
        async move |uri, runtime| {
            let mut plain = uri.clone();
            plain.scheme = lapin::uri::AMQPScheme::AMQP;
            let stream = lapin::tcp::AMQPUriTcpExt::connect_with_config_async(
                &plain,
                Default::default(),
                &runtime,
            )
            .await?;
            Ok(stream.into_rustls(&tls, &server_name).await?)
        },
        props,
    );
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(source)) => Err(Error::BrokerTls {
            endpoint,
            settings: checked,
            source: Box::new(source),
        }),
        Err(_) => Err(timed_out()),
    }
}

/// The TLS connector of an `amqps://` link, its files read now.
fn broker_tls(settings: &AmqpSettings) -> Result<lapin::tcp::RustlsConnector> {
    if settings.tls_ca_file.is_none() {
        return Err(Error::Config(
            "amqp.tls_ca_file: must be set for an amqps:// URL (TLS is never skipped)".into(),
        ));
    }
    let files = crate::tls::Files {
        ca: crate::tls::named("amqp.tls_ca_file", &settings.tls_ca_file),
        cert: crate::tls::named("amqp.tls_cert_file", &settings.tls_cert_file),
        key: crate::tls::named("amqp.tls_key_file", &settings.tls_key_file),
    };
    let config = crate::tls::client_config(files, crate::tls::Check::CaAndName)?;
    Ok(lapin::tcp::RustlsConnector::from(std::sync::Arc::new(
        config,
    )))
}

/// How a delivery is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    Ack,
    /// Back to the queue, to be delivered again.
    Requeue,
}

/// Acks or requeues a delivery. Fails, saying why, when it could not be settled: its
/// channel is gone (the broker delivers it again, to this or another consumer), or the
/// broker did not answer in time.
pub async fn settle(acker: &lapin::Acker, how: Settle) -> std::result::Result<(), String> {
    let sent = tokio::time::timeout(BROKER_ANSWER_TIMEOUT, async {
        match how {
            Settle::Ack => acker.ack(lapin::options::BasicAckOptions::default()).await,
            Settle::Requeue => {
                let requeue = lapin::options::BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                };
                acker.nack(requeue).await
            }
        }
    })
    .await;
    match sent {
        Ok(Ok(true)) => Ok(()),
        // lapin's word for an acker whose channel closed.
        Ok(Ok(false)) => Err("its channel is closed; the broker will deliver it again".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer from the broker in {} s",
            BROKER_ANSWER_TIMEOUT.as_secs()
        )),
    }
}

/// Settles many deliveries at once: every settle is handed to the client before any is
/// waited for, so the client's I/O loop sends them together (one write, one wake-up)
/// rather than one round trip each. The answers come in the order of `ackers`.
pub async fn settle_all(
    ackers: &[&lapin::Acker],
    how: Settle,
) -> Vec<std::result::Result<(), String>> {
    futures::future::join_all(ackers.iter().map(|a| settle(a, how))).await
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
}

/// Every queue of the namespace, as [`declare_topology`] declares them.
pub fn queues(names: &Names, settings: &AmqpSettings) -> Vec<QueueSpec> {
    let dlx = names.dead_exchange();
    let dead_lettered = |name: String, exchange: String, routing_key| QueueSpec {
        name,
        exchange,
        routing_key,
        arguments: quorum_args(settings, Some(&dlx)),
    };
    let dead = |name: String| QueueSpec {
        name,
        exchange: names.dead_exchange(),
        routing_key: "",
        arguments: quorum_args(settings, None),
    };
    vec![
        dead_lettered(names.submit_queue(), names.jobs_exchange(), SUBMIT_KEY),
        dead_lettered(names.tasks_queue(), names.tasks_exchange(), TASK_KEY),
        dead_lettered(names.results_queue(), names.results_exchange(), RESULT_KEY),
        dead(names.dead_queue()),
        dead(names.dead_tasks_queue()),
    ]
}

/// Declares every exchange, queue and binding. Idempotent; with `amqp.declare_topology`
/// every role calls it at start, otherwise `netraven broker setup` does.
pub async fn declare_topology(
    channel: &Channel,
    names: &Names,
    settings: &AmqpSettings,
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
    for q in queues(names, settings) {
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

    /// Carries `signer`'s signature over the body in [`SIGNATURE_HEADER`], so that the
    /// reader can tell the message from one altered or forged on the broker.
    pub fn signed(self, signer: &Signer) -> Outgoing {
        let signature = signer.sign(&self.body);
        self.with_signature(signature, None)
    }

    fn with_signature(mut self, signature: String, proof: Option<String>) -> Outgoing {
        let mut headers = self.properties.headers().clone().unwrap_or_default();
        headers.insert(
            SIGNATURE_HEADER.into(),
            AMQPValue::LongString(signature.into()),
        );
        if let Some(proof) = proof {
            headers.insert(PROOF_HEADER.into(), AMQPValue::LongString(proof.into()));
        }
        self.properties = self.properties.with_headers(headers);
        self
    }
}

/// Signs `batch` in groups of [`GROUP`](crate::signing::GROUP) messages: one signature
/// per group, and each message's proof.
pub fn sign_all(batch: Vec<Outgoing>, signer: &Signer) -> Vec<Outgoing> {
    let mut out = Vec::with_capacity(batch.len());
    let mut rest = batch.into_iter().peekable();
    while rest.peek().is_some() {
        let group: Vec<Outgoing> = rest.by_ref().take(crate::signing::GROUP).collect();
        let bodies: Vec<&[u8]> = group.iter().map(|o| o.body.as_slice()).collect();
        let signed = signer.sign_group(&bodies);
        for (o, proof) in group.into_iter().zip(signed.proofs) {
            out.push(o.with_signature(signed.signature.clone(), Some(proof)));
        }
    }
    out
}

/// Whether `signed` by a trusted key: the message's signature and proof headers checked
/// against its body.
pub fn verify(
    verifier: &crate::signing::Verifier,
    body: &[u8],
    props: &BasicProperties,
) -> std::result::Result<(), crate::signing::Rejection> {
    let signature = header(props, SIGNATURE_HEADER);
    let proof = header(props, PROOF_HEADER);
    verifier.verify(body, signature.as_deref(), proof.as_deref())
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
    // Only the broker's word on who published: a header of that name set by the publisher
    // is not kept.
    let mut kept = FieldTable::default();
    for (k, v) in headers.inner() {
        if k.as_str() != USER_HEADER {
            kept.insert(k.clone(), v.clone());
        }
    }
    headers = kept;
    if let Some(user) = original.user_id() {
        headers.insert(
            USER_HEADER.into(),
            AMQPValue::LongString(user.as_str().into()),
        );
    }
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

/// The user name in `settings.url`, which the broker authenticates: what a client puts in
/// a job request's `user_id` property (RabbitMQ refuses any other).
pub fn user(settings: &AmqpSettings) -> Result<String> {
    let uri: lapin::uri::AMQPUri = settings
        .url
        .parse()
        .map_err(|e| Error::Config(format!("amqp.url: {e}")))?;
    Ok(uri.authority.userinfo.username)
}

/// Declares the topology (`amqp.declare_topology`), or checks without declaring that
/// `queue` exists: a passive declare needs no permission, and names the missing queue.
pub async fn ensure_topology(
    channel: &Channel,
    names: &Names,
    settings: &AmqpSettings,
    queue: &str,
) -> Result<()> {
    if settings.declare_topology {
        return declare_topology(channel, names, settings).await;
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

/// A consumer on `queue` with a bounded prefetch, on a channel of its own. The topology is
/// declared first (or, without `amqp.declare_topology`, the queue checked), so any role
/// can start before the others.
pub async fn consume(
    connection: &Connection,
    names: &Names,
    settings: &AmqpSettings,
    queue: &str,
    prefetch: u16,
) -> Result<(Channel, lapin::Consumer)> {
    let channel = connection.create_channel().await?;
    ensure_topology(&channel, names, settings, queue).await?;
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
