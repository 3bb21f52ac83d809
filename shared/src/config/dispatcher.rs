//! The `[dispatcher]` section and what each submitter may ask for.

use crate::domain::{HostKeyPolicy, JobType};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatcherSettings {
    /// `/metrics`, `/healthz` and `/readyz`; empty disables the server.
    pub metrics_addr: String,
    pub prefetch: u16,
    /// Default cap on credentials tried per device.
    pub max_credentials_per_device: u32,
    pub default_device_deadline_ms: u64,
    pub default_job_deadline_ms: u64,
    pub default_host_key_policy: HostKeyPolicy,
    /// Submitters (broker user names, from the requests' AMQP `user_id`) allowed more than
    /// the default (`config_backup` and `reachability`, host-key policy `accept-new` or
    /// `strict`). Anyone unlisted, and requests without `user_id`, get the default.
    pub submitters: BTreeMap<String, SubmitterSettings>,
    /// Broker users trusted to submit and cancel on someone else's behalf (the api role's
    /// account): a request from one of them that carries the `x-netraven-submitter` header
    /// is the named submitter's, checked against `submitters` as theirs. The header from
    /// any other user is refused. In an environment variable: a JSON array in a string.
    #[serde(deserialize_with = "list_or_json")]
    pub gateways: Vec<String>,
    /// Run the schedules (`netraven schedule`). Every dispatcher may: each tick is taken
    /// by one of them (a row lock and a run row in Postgres).
    pub schedules: bool,
    /// How often the due schedules are looked for.
    pub schedule_poll_ms: u64,
    /// Schedules due at the same moment start spread over this window, each at an offset
    /// of its own (a hash of its name; at most half the time to its next tick). Give every
    /// dispatcher the same value.
    pub schedule_spread_ms: u64,
    /// Retries of a device that ends `TIMEOUT` or `UNREACHABLE`, for requests whose
    /// `limits.max_retries` is absent (0 to 10).
    pub max_retries: u32,
    /// The wait before a first retry, for requests whose `limits.retry_backoff_ms` is
    /// absent; each later retry waits twice as long, with jitter.
    pub retry_backoff_ms: u64,
    /// How often the due retries are looked for (and published).
    pub retry_poll_ms: u64,
    /// A job of at most this many devices goes to the interactive lane
    /// (`<ns>.tasks.interactive`), whose worker slots large jobs cannot hold, so that it
    /// starts within seconds while they run. 0: only jobs marked `priority: high` do.
    pub interactive_max_devices: u32,
    /// The most devices a job marked `priority: high` may put in the interactive lane; a
    /// larger one runs in the bulk lane, with a job log line saying so. At least
    /// `interactive_max_devices`.
    pub max_high_priority_devices: u32,
}

/// What one submitter may ask for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubmitterSettings {
    /// Job types allowed. In an environment variable: a JSON array in a string.
    #[serde(deserialize_with = "list_or_json")]
    pub job_types: Vec<JobType>,
    /// Regular expressions a `command` job's every command must match as a whole (they
    /// are anchored: `show .*` does not match `reload`). In an environment variable: a JSON
    /// array in a string.
    #[serde(deserialize_with = "list_or_json")]
    pub command_patterns: Vec<String>,
    /// The weakest host-key policy the submitter's jobs may ask for.
    pub weakest_host_key_policy: HostKeyPolicy,
    /// May cancel any job (`netraven job cancel`), not only the ones it submitted.
    pub cancel_any_job: bool,
}

impl Default for SubmitterSettings {
    /// What every submitter may do: the default permissions.
    fn default() -> Self {
        SubmitterSettings {
            job_types: vec![JobType::ConfigBackup, JobType::Reachability],
            command_patterns: Vec::new(),
            weakest_host_key_policy: HostKeyPolicy::AcceptNew,
            cancel_any_job: false,
        }
    }
}

/// A list, or (from an environment variable) a string holding a JSON array.
fn list_or_json<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either<T> {
        List(Vec<T>),
        Json(String),
    }
    match Either::<T>::deserialize(d)? {
        Either::List(v) => Ok(v),
        Either::Json(s) => serde_json::from_str(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "expected a list, or a JSON array in a string such as [\"show .*\"]: {e}"
            ))
        }),
    }
}

impl Default for DispatcherSettings {
    fn default() -> Self {
        DispatcherSettings {
            metrics_addr: "127.0.0.1:9464".into(),
            prefetch: 16,
            max_credentials_per_device: 5,
            default_device_deadline_ms: 120_000,
            default_job_deadline_ms: 3_600_000,
            default_host_key_policy: HostKeyPolicy::AcceptNew,
            submitters: BTreeMap::new(),
            gateways: Vec::new(),
            schedules: true,
            schedule_poll_ms: 1_000,
            schedule_spread_ms: 300_000,
            max_retries: 2,
            retry_backoff_ms: 30_000,
            retry_poll_ms: 1_000,
            interactive_max_devices: 20,
            max_high_priority_devices: 1_000,
        }
    }
}

/// A command pattern as it is matched: anchored at both ends, so that it must match the
/// whole command. The pattern must be a regular expression on its own first: one that
/// only compiles inside the anchors' group (`show version)|(.*`) would break out of them.
pub fn anchored(pattern: &str) -> std::result::Result<regex::Regex, regex::Error> {
    regex::Regex::new(pattern)?;
    regex::Regex::new(&format!("^(?:{pattern})$"))
}
