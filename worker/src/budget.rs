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

#[cfg(test)]
mod tests {
    use super::*;

    fn task(
        device_deadline_ms: u64,
        timeouts: serde_json::Value,
        job_deadline: DateTime<Utc>,
    ) -> DeviceTask {
        serde_json::from_value(serde_json::json!({
            "version": 1,
            "job_id": "6f1c0c34-1a8b-4b59-9d7e-6d2a4c1b2f00",
            "job_type": "config_backup",
            "device": {"id": 1, "name": "r1", "host": "127.0.0.1", "port": 22, "platform": "linux"},
            "credentials": [],
            "device_deadline_ms": device_deadline_ms,
            "timeouts": timeouts,
            "host_key_policy": "accept-new",
            "job_deadline": job_deadline,
        }))
        .expect("a device task")
    }

    #[test]
    fn a_jobs_overrides_replace_only_the_phases_they_name() {
        let now = Utc::now();
        let t = task(
            60_000,
            serde_json::json!({"auth_timeout_ms": 1500}),
            now + chrono::Duration::hours(1),
        );
        let defaults = SshTimeouts::default();
        let budget = DeviceBudget::of(&t, &defaults, now);
        assert_eq!(
            budget.timeouts,
            SshTimeouts {
                auth: Duration::from_millis(1500),
                ..defaults
            }
        );
        assert_eq!(budget.deadline, Duration::from_secs(60));
    }

    #[test]
    fn the_deadline_never_runs_past_the_jobs() {
        let now = Utc::now();
        let defaults = SshTimeouts::default();
        let soon = task(
            60_000,
            serde_json::json!({}),
            now + chrono::Duration::seconds(5),
        );
        assert_eq!(
            DeviceBudget::of(&soon, &defaults, now).deadline,
            Duration::from_secs(5)
        );
        let past = task(
            60_000,
            serde_json::json!({}),
            now - chrono::Duration::seconds(5),
        );
        assert_eq!(
            DeviceBudget::of(&past, &defaults, now).deadline,
            Duration::ZERO
        );
    }
}
