//! The wire contract: every message that crosses the broker, versioned JSON.
//!
//! `docs/messages.md` documents each one with an example and `docs/schemas/` holds the JSON
//! Schema of the job request. Decoders are strict (`deny_unknown_fields`): what the schema
//! rejects, the decoder rejects.

use crate::domain::{HostKeyPolicy, JobStatus, JobType, Outcome};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The version of every message this build writes and reads.
pub const VERSION: u32 = 1;

/// Longest accepted `request_id`.
pub const MAX_REQUEST_ID_LEN: usize = 200;

/// A client's request for a job (published to `<ns>.jobs`, routing key `submit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// Always 1 for this contract.
    pub version: u32,
    /// Idempotency key chosen by the client: the same id twice yields the same job.
    pub request_id: String,
    /// One of the job types (`config_backup`, `command`, `reachability`). An unknown type
    /// is well-formed but cannot run: the job ends `FAILED_INVALID_REQUEST`.
    pub job_type: String,
    /// Which devices the job runs on.
    #[serde(default)]
    pub targets: Targets,
    /// Commands for the `command` job type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// Per-job overrides of the fleet's defaults.
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
    /// Not an identity (the submitter is the AMQP `user_id`, checked by the broker): when
    /// present it must equal `user_id`, or the job ends `FAILED_NOT_PERMITTED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_by: Option<String>,
}

/// The devices a job targets: the union of the named devices, the device ids and every
/// device carrying one of the tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_ids: Vec<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// Per-job limits. Absent fields take the configured defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Hard deadline for one device, all phases included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_deadline_ms: Option<u64>,
    /// Deadline for the whole job; devices without a result by then are `LOST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_deadline_ms: Option<u64>,
    /// At most this many credentials are tried on one device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_credentials_per_device: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key_policy: Option<HostKeyPolicy>,
    /// Per-phase timeouts for this job's devices; absent ones take the worker's settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_idle_timeout_ms: Option<u64>,
}

/// Overrides of the workers' per-phase timeouts, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseTimeouts {
    /// TCP connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_ms: Option<u64>,
    /// SSH handshake, host key check included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake_timeout_ms: Option<u64>,
    /// One authentication attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_timeout_ms: Option<u64>,
    /// Silence allowed while a command runs (resets while output arrives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_idle_timeout_ms: Option<u64>,
}

impl PhaseTimeouts {
    pub fn is_empty(&self) -> bool {
        *self == PhaseTimeouts::default()
    }

    /// Each override with its name, for validation.
    pub fn named(&self) -> [(&'static str, Option<u64>); 4] {
        [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("handshake_timeout_ms", self.handshake_timeout_ms),
            ("auth_timeout_ms", self.auth_timeout_ms),
            ("command_idle_timeout_ms", self.command_idle_timeout_ms),
        ]
    }
}

impl Limits {
    fn is_empty(&self) -> bool {
        *self == Limits::default()
    }

    /// The per-phase timeout overrides, as a task carries them.
    pub fn timeouts(&self) -> PhaseTimeouts {
        PhaseTimeouts {
            connect_timeout_ms: self.connect_timeout_ms,
            handshake_timeout_ms: self.handshake_timeout_ms,
            auth_timeout_ms: self.auth_timeout_ms,
            command_idle_timeout_ms: self.command_idle_timeout_ms,
        }
    }
}

impl JobRequest {
    /// Decodes a request body. An error here means the message is malformed: it gets no
    /// job row and is dead-lettered with this error's text as its reason.
    pub fn decode(body: &[u8]) -> Result<JobRequest, String> {
        let request: JobRequest =
            serde_json::from_slice(body).map_err(|e| format!("not a valid job request: {e}"))?;
        // The typed decode refuses duplicate members; the untyped one sees the shape.
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("not a valid job request: {e}"))?;
        check_shape(&value, "request")?;
        if request.version != VERSION {
            return Err(format!(
                "unsupported job request version {} (this dispatcher reads version {VERSION})",
                request.version
            ));
        }
        let id_chars = request.request_id.chars().count();
        if id_chars == 0 || id_chars > MAX_REQUEST_ID_LEN {
            return Err(format!(
                "request_id must be 1 to {MAX_REQUEST_ID_LEN} characters"
            ));
        }
        Ok(request)
    }
}

/// What serde would otherwise let through: a JSON array in place of an object (serde reads
/// a struct from the sequence of its fields), an object in place of an enum's string, and
/// NUL characters, which Postgres cannot store in text.
fn check_shape(value: &serde_json::Value, path: &str) -> Result<(), String> {
    use serde_json::Value;
    let Value::Object(top) = value else {
        return Err(format!(
            "not a valid job request: the {path} must be a JSON object"
        ));
    };
    for field in ["targets", "limits"] {
        if let Some(v) = top.get(field) {
            if !v.is_object() {
                return Err(format!(
                    "not a valid job request: {field} must be a JSON object"
                ));
            }
        }
    }
    if let Some(policy) = top.get("limits").and_then(|l| l.get("host_key_policy")) {
        if !(policy.is_string() || policy.is_null()) {
            return Err("not a valid job request: limits.host_key_policy must be a string".into());
        }
    }
    fn has_nul(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(a) => a.iter().any(has_nul),
            Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    if has_nul(value) {
        return Err("not a valid job request: strings may not contain NUL characters".into());
    }
    Ok(())
}

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

/// A credential as stored: the secret stays sealed until a worker opens it in memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskCredential {
    pub id: i64,
    pub name: String,
    pub username: String,
    pub sealed_secret: String,
}

/// What a worker reports for one device (to `<ns>.results`), recorded by the aggregator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskResult {
    pub version: u32,
    pub job_id: Uuid,
    pub device_id: i64,
    pub device_name: String,
    pub outcome: Outcome,
    /// Human-readable reason; never contains a secret.
    pub reason: String,
    /// The credential that logged in, when one did.
    #[serde(default)]
    pub credential_id: Option<i64>,
    /// Login attempts made on this device.
    pub attempts: u32,
    pub duration_ms: u64,
    /// SHA-256 of the stored configuration, for `config_backup`.
    #[serde(default)]
    pub config_sha256: Option<String>,
    /// Which worker did the work (host name and process id).
    pub worker: String,
    pub finished_at: DateTime<Utc>,
}

impl TaskResult {
    pub fn decode(body: &[u8]) -> Result<TaskResult, String> {
        let result: TaskResult =
            serde_json::from_slice(body).map_err(|e| format!("not a valid task result: {e}"))?;
        if result.version != VERSION {
            return Err(format!(
                "unsupported task result version {}",
                result.version
            ));
        }
        Ok(result)
    }
}

/// The AMQP `type` of a message on `<ns>.results` that carries a [`TaskResults`] batch; a
/// message without it carries one [`TaskResult`].
pub const RESULTS_BATCH_TYPE: &str = "task-results";

/// Largest batch a worker sends (its group commit's size).
pub const MAX_RESULTS_PER_BATCH: usize = 512;

/// Several devices' results in one message: a worker publishes one per group commit, not
/// one per device, so the broker confirms, stores, delivers and acks one message where it
/// did hundreds. The aggregator takes these and single [`TaskResult`]s alike (workers of
/// an older build send singles during an upgrade).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskResults {
    pub version: u32,
    pub results: Vec<TaskResult>,
}

impl TaskResults {
    pub fn decode(body: &[u8]) -> Result<TaskResults, String> {
        let batch: TaskResults = serde_json::from_slice(body)
            .map_err(|e| format!("not a valid batch of task results: {e}"))?;
        if batch.version != VERSION {
            return Err(format!(
                "unsupported task results version {}",
                batch.version
            ));
        }
        match batch.results.iter().find(|r| r.version != VERSION) {
            Some(r) => Err(format!("unsupported task result version {}", r.version)),
            None if batch.results.len() > MAX_RESULTS_PER_BATCH => Err(format!(
                "{} results in one batch; at most {MAX_RESULTS_PER_BATCH}",
                batch.results.len()
            )),
            None => Ok(batch),
        }
    }
}

impl DeviceTask {
    pub fn decode(body: &[u8]) -> Result<DeviceTask, String> {
        let task: DeviceTask =
            serde_json::from_slice(body).map_err(|e| format!("not a valid device task: {e}"))?;
        if task.version != VERSION {
            return Err(format!("unsupported device task version {}", task.version));
        }
        Ok(task)
    }
}

/// A job's state change, published on the topic exchange `<ns>.events` with routing key
/// `job.created`, `job.running` or `job.completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobEvent {
    pub version: u32,
    pub event: String,
    pub job_id: Uuid,
    pub request_id: String,
    pub status: JobStatus,
    pub total_devices: i64,
    pub completed_devices: i64,
    pub succeeded_devices: i64,
    #[serde(default)]
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// Routing keys of job events.
pub mod events {
    pub const CREATED: &str = "job.created";
    pub const RUNNING: &str = "job.running";
    pub const COMPLETED: &str = "job.completed";
}

/// The answer to a job request on its `reply_to` queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobReply {
    pub version: u32,
    pub accepted: bool,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub job_id: Option<Uuid>,
    #[serde(default)]
    pub status: Option<JobStatus>,
    /// Why the request was refused, when it was.
    #[serde(default)]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_minimal_request() {
        let r = JobRequest::decode(
            br#"{"version":1,"request_id":"r1","job_type":"config_backup","targets":{"tags":["core"]}}"#,
        );
        let r = r.expect("valid request");
        assert_eq!(r.targets.tags, vec!["core".to_string()]);
        assert!(r.commands.is_empty());
    }

    #[test]
    fn request_id_length_counts_characters_not_bytes() {
        let id = "é".repeat(MAX_REQUEST_ID_LEN);
        let body = format!(r#"{{"version":1,"request_id":"{id}","job_type":"x"}}"#);
        assert!(JobRequest::decode(body.as_bytes()).is_ok());
        let body = format!(r#"{{"version":1,"request_id":"{id}é","job_type":"x"}}"#);
        assert!(JobRequest::decode(body.as_bytes()).is_err());
    }

    #[test]
    fn refuses_malformed_requests_with_a_reason() {
        for (body, needle) in [
            (&b"not json"[..], "not a valid job request"),
            (br#"{"version":1,"request_id":"r","job_type":"x","bogus":1}"#, "unknown field"),
            (br#"{"version":2,"request_id":"r","job_type":"x"}"#, "version 2"),
            (br#"{"version":1,"request_id":"","job_type":"x"}"#, "request_id"),
            (br#"{"version":1,"job_type":"x"}"#, "request_id"),
            (br#"[1,"r1","config_backup"]"#, "must be a JSON object"),
            (br#"{"version":1,"request_id":"r","job_type":"x","targets":[["t"]]}"#, "targets must be"),
            (br#"{"version":1,"request_id":"r","job_type":"x","limits":{"host_key_policy":{"strict":null}}}"#, "must be a string"),
            (br#"{"version":1,"request_id":"r\u0000","job_type":"x"}"#, "NUL"),
            (
                br#"{"version":1,"request_id":"r","job_type":"x","limits":{"host_key_policy":"maybe"}}"#,
                "unknown variant",
            ),
        ] {
            let err = JobRequest::decode(body).expect_err("must be refused");
            assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        }
    }
}
