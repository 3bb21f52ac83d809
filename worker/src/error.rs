//! The worker crate's error type: why a worker could not start, and why a write to
//! Postgres failed — transient or permanent by the fleet's one rule.

use netraven_shared::Transient;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Shared(#[from] netraven_shared::Error),
    #[error("platform profiles: {origin}: {source}")]
    ProfileToml {
        origin: String,
        source: toml::de::Error,
    },
    #[error("platform profiles: {origin}: pattern {pattern:?}: {source}")]
    ProfilePattern {
        origin: String,
        pattern: String,
        source: regex::Error,
    },
    #[error("platform profiles: {origin}: volatile {source}")]
    ProfileVolatile {
        origin: String,
        source: crate::volatile::VolatileError,
    },
    #[error("platform profiles: {origin}: a shell profile needs a prompt pattern")]
    ProfileWithoutPrompt { origin: String },
    /// Two profiles claim one platform name (as their name or an alias), or two files in
    /// the profiles folder have one name: which one a device gets would be a guess.
    #[error(
        "platform profiles: {name:?} is claimed by both {first} and {second}: rename one, \
         or drop the alias from one of them"
    )]
    ProfileNameTwice {
        name: String,
        first: String,
        second: String,
    },
    #[error("platform profiles: {}: {source}", path.display())]
    ProfilesRead {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("database: {}", netraven_shared::db::describe(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The device was deleted while its task was in flight: nothing is stored for it.
    #[error("device {device_id} is no longer in the inventory: no host key pinned")]
    DeviceGone { device_id: i64 },
    /// The pin statement came back without the device's row.
    #[error("pinning the host key of device {device_id}: no answer")]
    NoPinAnswer { device_id: i64 },
    /// The pinning task has ended (the worker is stopping).
    #[error("host key pinning has stopped")]
    PinningStopped,
    /// Claiming devices failed for good (the reason is the database's).
    #[error("claiming the device: {0}")]
    Claim(String),
    /// The claiming task has ended (the worker is stopping).
    #[error("device claiming has stopped")]
    ClaimingStopped,
    /// The task asking for a login lease ended without an answer (the worker is stopping).
    #[error("the login lease's ask ended without an answer")]
    LeaseAskLost,
}

/// The shared rule for Postgres, the pool and the broker; everything of the worker's own
/// is permanent.
impl Transient for WorkerError {
    fn is_transient(&self) -> bool {
        match self {
            WorkerError::Shared(e) => e.is_transient(),
            WorkerError::Broker(e) => e.is_transient(),
            WorkerError::Db(e) => e.is_transient(),
            WorkerError::Pool(e) => e.is_transient(),
            WorkerError::ProfileToml { .. }
            | WorkerError::ProfilePattern { .. }
            | WorkerError::ProfileVolatile { .. }
            | WorkerError::ProfileWithoutPrompt { .. }
            | WorkerError::ProfileNameTwice { .. }
            | WorkerError::ProfilesRead { .. }
            | WorkerError::DeviceGone { .. }
            | WorkerError::NoPinAnswer { .. }
            | WorkerError::PinningStopped
            | WorkerError::Claim(_)
            | WorkerError::ClaimingStopped
            | WorkerError::LeaseAskLost => false,
        }
    }
}
