//! The device task the dispatcher publishes for one device.

use super::{PhaseTimeouts, VERSION};
use crate::domain::{HostKeyPolicy, JobType};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One device's work, published by the dispatcher to `<ns>.tasks`, consumed by one worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceTask {
    pub version: u32,
    pub job_id: Uuid,
    /// The dispatcher parsed the request's type; the task carries the enum, under the same
    /// wire names. A worker older than a new job type refuses the whole task as
    /// undecodable (it is dead-lettered and the device ends `DEAD_LETTERED`) rather than
    /// half-running it.
    pub job_type: JobType,
    pub device: TaskDevice,
    /// Credentials in the order they must be tried (affinity, then priority, then id).
    pub credentials: Vec<TaskCredential>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    pub device_deadline_ms: u64,
    /// The job's overrides of the workers' per-phase timeouts.
    #[serde(default, skip_serializing_if = "PhaseTimeouts::is_empty")]
    pub timeouts: PhaseTimeouts,
    pub host_key_policy: HostKeyPolicy,
    /// The host key pinned for the device when the task was made (OpenSSH public key line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_host_key: Option<String>,
    /// After this instant the job no longer waits for the device: a worker drops the task.
    pub job_deadline: DateTime<Utc>,
    /// The jump hosts the device is reached through, outermost first: the worker connects
    /// to the first, opens a direct-tcpip channel through it to the next, and so on, and
    /// the device's own session runs over a channel of the last. Empty: connect directly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jump: Vec<TaskJumpHost>,
    /// Which try of the device this task is, from 1; absent for the first. A retry (a
    /// device that ended `TIMEOUT` or `UNREACHABLE` with tries left) is a task of its own.
    #[serde(rename = "try", default, skip_serializing_if = "Option::is_none")]
    pub try_number: Option<u32>,
}

/// One jump host (bastion) of a device's path, as stored: its credential stays sealed
/// until a worker opens it in memory, and its host key is pinned, never learnt.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskJumpHost {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// The OpenSSH public key line the jump host must present.
    pub host_key: String,
    /// Device channels one worker keeps open at once over its connection to this host.
    pub max_channels: u32,
    pub credential: TaskCredential,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskDevice {
    pub id: i64,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub platform: String,
}

/// A credential as stored: its password and private key stay sealed until a worker opens
/// them in memory. It has a password, a key, or both; an absent field is left out of the
/// JSON, so a password-only task reads as it did before keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskCredential {
    pub id: i64,
    pub name: String,
    pub username: String,
    /// The password, sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_secret: Option<String>,
    /// The private key's text (OpenSSH, PEM or PKCS#8), sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_key: Option<String>,
    /// The passphrase of an encrypted private key, sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_key_passphrase: Option<String>,
    /// The credential's own privileged-mode (enable) secret, sealed; absent when it has
    /// none (the login password answers the enable prompt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_enable: Option<String>,
    /// The credential's fleet-wide cap on logins at once, over every worker; absent is no
    /// cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_logins: Option<u32>,
    /// The credential's fleet-wide cap on logins started in any one second; absent is no
    /// cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_logins_per_second: Option<u32>,
}

impl DeviceTask {
    /// Which try of the device this task is (1 for the first).
    pub fn try_number(&self) -> u32 {
        self.try_number.unwrap_or(1).max(1)
    }

    pub fn decode(body: &[u8]) -> Result<DeviceTask, String> {
        let task: DeviceTask =
            serde_json::from_slice(body).map_err(|e| format!("not a valid device task: {e}"))?;
        if task.version != VERSION {
            return Err(format!("unsupported device task version {}", task.version));
        }
        for c in &task.credentials {
            if c.sealed_secret.is_none() && c.sealed_key.is_none() {
                return Err(format!(
                    "credential {} carries neither a password nor a key",
                    c.id
                ));
            }
            if c.sealed_key_passphrase.is_some() && c.sealed_key.is_none() {
                return Err(format!(
                    "credential {} carries a key passphrase without a key",
                    c.id
                ));
            }
        }
        Ok(task)
    }
}
