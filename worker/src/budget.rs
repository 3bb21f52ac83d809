//! What one device may take: its per-phase SSH timeouts and its deadline, computed once
//! when its task is accepted.

use crate::ssh::SshTimeouts;
use chrono::{DateTime, Utc};
use netraven_shared::messages::DeviceTask;
use std::time::Duration;

/// The limits in force for one device, passed down to everything that works on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceBudget {
    /// The worker's per-phase timeouts with the job's overrides applied.
    pub timeouts: SshTimeouts,
    /// How long the whole device may take: the task's device deadline, and never past
    /// the job's deadline.
    pub deadline: Duration,
}

impl DeviceBudget {
    /// The budget of `task` taken at `now`, on a worker whose timeouts are `defaults`.
    pub fn of(task: &DeviceTask, defaults: &SshTimeouts, now: DateTime<Utc>) -> DeviceBudget {
        let o = &task.timeouts;
        let pick = |o: Option<u64>, d: Duration| o.map_or(d, Duration::from_millis);
        let timeouts = SshTimeouts {
            connect: pick(o.connect_timeout_ms, defaults.connect),
            handshake: pick(o.handshake_timeout_ms, defaults.handshake),
            auth: pick(o.auth_timeout_ms, defaults.auth),
            command_idle: pick(o.command_idle_timeout_ms, defaults.command_idle),
        };
        let until_job_deadline = (task.job_deadline - now).to_std().unwrap_or_default();
        DeviceBudget {
            timeouts,
            deadline: Duration::from_millis(task.device_deadline_ms).min(until_job_deadline),
        }
    }
}
