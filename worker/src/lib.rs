//! The data plane: consumes device tasks, works on each device over SSH and reports.
//!
//! | module | owns |
//! |---|---|
//! | [`ssh`] | SSH sessions: per-phase timeouts, host-key pinning, password and keyboard-interactive auth, exec |
//! | [`platform`] | platform profiles as data (built-in TOML, plus a user folder) |
//! | [`device`] | one device: the credential loop within the device deadline |
//! | [`job_types`] | job types, one per file: `config_backup`, `command`, `reachability` |
//! | [`keys`] | the key ring, reloaded when its file changes or a rotated key shows up |
//! | [`key_reports`] | the key ids this worker holds, reported to Postgres for `secrets reseal` |
//! | [`outcome`] | the one mapping from a failure to a per-device outcome |
//! | [`store`] | host keys, configuration snapshots, command outputs |
//! | [`redact`] | removing secrets from stored configurations |
//! | [`flusher`] | group commit of attempts and credential counters, then publish, then ack |
//! | [`login_limits`] | per-credential caps on concurrent logins and logins per second |
//! | [`consumer`] | the worker role: prefetch, in-flight limit, graceful shutdown |

pub mod consumer;
pub mod device;
pub mod flusher;
pub mod job_types;
pub mod key_reports;
pub mod keys;
pub mod login_limits;
pub mod outcome;
pub mod platform;
pub mod redact;
pub mod ssh;
pub mod store;

pub use consumer::run;

use netraven_shared::config::WorkerSettings;

/// What every device task of one worker shares.
pub struct WorkerContext {
    pub pool: deadpool_postgres::Pool,
    /// Host-key pins, in group commit.
    pub pins: store::Pinner,
    pub keys: keys::Keys,
    /// Checks that a device task is the dispatcher's, before anything in it is believed.
    pub tasks: netraven_shared::signing::Verifier,
    pub logins: login_limits::LoginLimits,
    pub profiles: platform::Profiles,
    pub settings: WorkerSettings,
    pub timeouts: ssh::SshTimeouts,
    /// What devices' output may take of this worker's memory.
    pub output: ssh::OutputBudget,
    /// `host:pid`, recorded with every result.
    pub name: String,
}

impl WorkerContext {
    /// The worker's per-phase timeouts with a job's overrides applied.
    pub fn timeouts_for(
        &self,
        overrides: &netraven_shared::messages::PhaseTimeouts,
    ) -> ssh::SshTimeouts {
        let pick =
            |o: Option<u64>, d: std::time::Duration| o.map_or(d, std::time::Duration::from_millis);
        let t = &self.timeouts;
        ssh::SshTimeouts {
            connect: pick(overrides.connect_timeout_ms, t.connect),
            handshake: pick(overrides.handshake_timeout_ms, t.handshake),
            auth: pick(overrides.auth_timeout_ms, t.auth),
            command_idle: pick(overrides.command_idle_timeout_ms, t.command_idle),
        }
    }
}

/// Why a worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Shared(#[from] netraven_shared::Error),
    #[error("platform profiles: {0}")]
    Profiles(String),
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
}
