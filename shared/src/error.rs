//! The error type of the shared crate.

use std::path::PathBuf;

/// Errors raised by shared infrastructure. Each variant says what failed in words an
/// operator can act on; none ever carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting whose value cannot be used; `key` names it (`amqp.url`).
    #[error("configuration: {key}: {reason}")]
    Setting { key: String, reason: String },
    /// The settings could not be read or did not fit their types (the text names the key).
    #[error("configuration: {0}")]
    ConfigLoad(Box<config::ConfigError>),
    #[error("configuration: config file {} does not exist", .0.display())]
    ConfigFileMissing(PathBuf),
    #[error("configuration: cannot print the settings: {0}")]
    ConfigShow(#[from] toml::ser::Error),
    #[error("configuration: database.url: {0}")]
    DatabaseUrl(#[source] tokio_postgres::Error),
    #[error("secret key: {0}")]
    Key(String),
    #[error("cannot open sealed secret: {0}")]
    Unseal(Unsealable),
    #[error("cannot open sealed secret: sealed with key {0:?}, which is not in the key ring")]
    UnknownKey(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A TLS setting that cannot be used (the key names it).
    #[error("{key}: {reason}")]
    Tls { key: String, reason: String },
    #[error("{key}: cannot read {path}: {source}")]
    TlsFile {
        key: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database: {}", crate::db::describe(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("database pool: {0}")]
    Pool(deadpool_postgres::PoolError),
    #[error("database pool settings: {0}")]
    PoolBuild(#[from] deadpool_postgres::BuildError),
    /// Postgres took longer than the caller could wait.
    #[error("database: no answer within {} ms while {during}", .after.as_millis())]
    DbTimeout {
        during: &'static str,
        after: std::time::Duration,
    },
    #[error("migrations: {0}")]
    Migrate(#[from] refinery::Error),
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("broker did not confirm a publish to {exchange}/{routing_key}: {reason}")]
    NotConfirmed {
        exchange: String,
        routing_key: String,
        reason: String,
    },
    /// The broker took longer than the caller could wait.
    #[error("broker: no answer within {} s while {during}", .after.as_secs())]
    BrokerTimeout {
        during: &'static str,
        after: std::time::Duration,
    },
    /// With `amqp.declare_topology = false`, a queue a role needs is not there (or not
    /// usable by its account).
    #[error(
        "queue {queue} cannot be used ({source}): with amqp.declare_topology = false, \
         `netraven broker setup` must have declared the topology"
    )]
    TopologyMissing { queue: String, source: lapin::Error },
    /// An `amqps://` connection whose TLS handshake (or the connection under it) failed.
    #[error("broker TLS to {endpoint} ({settings}): {source}")]
    BrokerTls {
        endpoint: String,
        /// The settings that decide the handshake, for the operator to check.
        settings: String,
        source: Box<lapin::Error>,
    },
    #[error("shutting down")]
    ShuttingDown,
    #[error("message encoding: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("telemetry: cannot serve on {addr}: {source}")]
    Telemetry {
        addr: String,
        source: std::io::Error,
    },
}

impl Error {
    /// A setting's value that cannot be used.
    pub fn setting(key: &str, reason: impl std::fmt::Display) -> Error {
        Error::Setting {
            key: key.to_string(),
            reason: reason.to_string(),
        }
    }
}

impl From<config::ConfigError> for Error {
    /// Boxed: the loader's error is large and travels in every `Result` of the crate.
    fn from(e: config::ConfigError) -> Self {
        Error::ConfigLoad(Box::new(e))
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            // deadpool's own text drops the cause ("error performing TLS handshake").
            deadpool_postgres::PoolError::Backend(e) => Error::Db(e),
            e => Error::Pool(e),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a sealed secret does not open. The AEAD says only "no" (by design it tells an
/// attacker nothing more), so the reasons are ours, one per check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsealable {
    #[error("not a sealed secret (expected nrv1:<key id>:…)")]
    NotSealed,
    #[error("sealed body is not base64")]
    NotBase64,
    #[error("sealed body is truncated")]
    Truncated,
    #[error("bad nonce")]
    BadNonce,
    #[error("key {0:?} does not open it (tampered or wrong key)")]
    DoesNotOpen(String),
    #[error("secret is not UTF-8")]
    NotUtf8,
}
