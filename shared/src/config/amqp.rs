//! The `[amqp]` section: the broker's URL, namespace, limits and TLS files.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpSettings {
    pub url: String,
    /// Prefix of every exchange and queue name, so tenants and tests never collide.
    pub namespace: String,
    /// Deliveries of one message before the broker dead-letters it.
    pub delivery_limit: u32,
    /// Queues unused this long are deleted by the broker (0 = never). Tests set it.
    pub queue_expires_ms: u64,
    /// Publishes awaiting confirmation at once.
    pub publish_window: usize,
    /// The broker's `consumer_timeout` (RabbitMQ's default: 30 minutes), which AMQP cannot
    /// read: keep it equal to the broker's. A task not acked within it is taken back and
    /// redelivered, so the dispatcher accepts only device deadlines that fit inside it
    /// (see [`super::DeadlineFit`]).
    pub consumer_timeout_ms: u64,
    /// Whether roles (and `netraven job submit`) declare the exchanges and queues at start.
    /// `true` suits one broker user for everything (development, the demo). With an account
    /// per role (`netraven broker setup`), set it to `false`: setup declares the topology,
    /// and roles, which may not configure anything, only check that their queue exists.
    pub declare_topology: bool,
    /// PEM file of the CA(s) the broker's certificate must chain to. Required by an
    /// `amqps://` URL; the system's trust store is never used.
    pub tls_ca_file: Option<PathBuf>,
    /// PEM certificate chain this role presents to the broker (mutual TLS).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// The name the broker's certificate must carry, when it is not the URL's host (a
    /// broker reached by IP address or through an alias).
    pub tls_server_name: Option<String>,
}

impl Default for AmqpSettings {
    fn default() -> Self {
        AmqpSettings {
            url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            namespace: "netraven".into(),
            delivery_limit: 5,
            queue_expires_ms: 0,
            publish_window: 1_000,
            consumer_timeout_ms: 1_800_000,
            declare_topology: true,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_server_name: None,
        }
    }
}
