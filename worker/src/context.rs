//! What every device task of one worker shares: the pool, the pinner, the key ring, the
//! login limits, the profiles and the worker's settings.

use crate::client_keys::ClientKeys;
use crate::jump::JumpPool;
use crate::keys::Keys;
use crate::login_limits::LoginLimits;
use crate::persist::{Claimer, Pinner};
use crate::platform::Profiles;
use crate::ssh::{OutputBudget, SshTimeouts};
use netraven_shared::config::WorkerSettings;
use netraven_shared::signing::Verifier;

/// What every device task of one worker shares.
pub struct WorkerContext {
    pub pool: deadpool_postgres::Pool,
    /// Host-key pins, in group commit.
    pub pins: Pinner,
    /// Which copy of a task holds its device, in group commit.
    pub claims: Claimer,
    pub keys: Keys,
    /// Key credentials' private keys, decoded once per worker.
    pub client_keys: ClientKeys,
    /// Checks that a device task is the dispatcher's, before anything in it is believed.
    pub tasks: Verifier,
    pub logins: LoginLimits,
    pub profiles: Profiles,
    pub settings: WorkerSettings,
    /// The worker's per-phase timeouts, before a job's overrides
    /// ([`crate::budget::DeviceBudget`] applies them).
    pub timeouts: SshTimeouts,
    /// What devices' output may take of this worker's memory.
    pub output: OutputBudget,
    /// Shared connections to jump hosts, one per path, with their channel caps.
    pub jumps: JumpPool,
    /// `host:pid`, recorded with every result.
    pub name: String,
}

impl WorkerContext {
    /// What opens a task's credentials: this worker's key ring and decoded keys.
    pub fn opener(&self) -> crate::client_keys::Opener<'_> {
        crate::client_keys::Opener {
            keys: &self.keys,
            client_keys: &self.client_keys,
        }
    }
}
