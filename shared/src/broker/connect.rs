//! Opening one connection to the broker, plain or over our TLS, within a time limit, to
//! the first of the configured nodes that answers.

use crate::config::{mask_url, AmqpSettings};
use crate::{Error, Result};
use lapin::types::LongString;
use lapin::{Connection, ConnectionProperties};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

/// Heartbeat asked for when the URL names none: a broker that vanished without closing
/// the socket (a host gone, a partition) is noticed within two intervals, not RabbitMQ's
/// default of 60 s.
const DEFAULT_HEARTBEAT_S: u16 = 10;
/// Longest a connection attempt (TCP, AMQP handshake, login) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest the broker may take to answer a channel operation (open, declare, consume,
/// ack) before the channel is taken for dead.
pub const BROKER_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The node this process tries first on its next connect. It starts from the process id
/// and moves on by one each time, so that replicas spread over the nodes and a reconnect
/// does not always knock on the node that just went away.
static NEXT_ADDRESS: LazyLock<AtomicUsize> =
    LazyLock::new(|| AtomicUsize::new(std::process::id() as usize));

/// Opens one connection to one of `amqp.url` and `amqp.urls`: each is tried in turn, from
/// a rotating first one, and the first that answers wins; when none does, the last
/// failure is returned (each one before it is logged).
pub async fn connect(settings: &AmqpSettings, role: &str) -> Result<Connection> {
    connect_any(settings, role).await.map(|(c, _)| c)
}

/// [`connect`], also naming (masked) the address it reached.
pub(crate) async fn connect_any(
    settings: &AmqpSettings,
    role: &str,
) -> Result<(Connection, String)> {
    let addresses = settings.addresses();
    let first = NEXT_ADDRESS.fetch_add(1, Ordering::Relaxed);
    let mut failure = None;
    for i in 0..addresses.len() {
        let url = addresses[(first + i) % addresses.len()];
        if let Some(e) = failure.take() {
            tracing::warn!(error = %e, next = %mask_url(url),
                "cannot reach this RabbitMQ node; trying the next");
        }
        match connect_to(settings, url, role).await {
            Ok(c) => return Ok((c, mask_url(url))),
            Err(e) => failure = Some(e),
        }
    }
    Err(failure.unwrap_or_else(|| Error::setting("amqp.url", "no broker address")))
}

/// Opens one connection to `url`. It does not recover by itself: long-running roles hold a
/// [`Link`](super::Link), which replaces a lost connection; short-lived clients simply fail.
///
/// An `amqps://` URL connects over TLS with our own rustls configuration (the CA of
/// `amqp.tls_ca_file` only, the client certificate of `amqp.tls_cert_file`, the name of
/// `amqp.tls_server_name` or else this URL's host) or fails: it never falls back to plain
/// text.
async fn connect_to(settings: &AmqpSettings, url: &str, role: &str) -> Result<Connection> {
    let mut uri: lapin::uri::AMQPUri = url.parse().map_err(|e| Error::setting("amqp.url", e))?;
    uri.query.heartbeat.get_or_insert(DEFAULT_HEARTBEAT_S);
    let props = ConnectionProperties::default()
        .with_connection_name(LongString::from(format!("netraven-{role}@{}", hostname())));
    let timed_out = || Error::BrokerTimeout {
        during: "connecting",
        after: CONNECT_TIMEOUT,
    };
    if uri.scheme == lapin::uri::AMQPScheme::AMQP {
        if !url.starts_with("amqp://") {
            // lapin reads any other scheme as plain AMQP: refuse rather than guess.
            return Err(Error::setting(
                "amqp.url",
                "must start with amqp:// or amqps://",
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
        return Err(Error::setting(
            "amqp.tls_ca_file",
            "must be set for an amqps:// URL (TLS is never skipped)",
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

/// `host:pid`, naming this process in broker connections and results.
pub fn hostname() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// The user name in `settings.url`, which the broker authenticates: what a client puts in
/// a job request's `user_id` property (RabbitMQ refuses any other).
pub fn user(settings: &AmqpSettings) -> Result<String> {
    let uri: lapin::uri::AMQPUri = settings
        .url
        .parse()
        .map_err(|e| Error::setting("amqp.url", e))?;
    Ok(uri.authority.userinfo.username)
}
