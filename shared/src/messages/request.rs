//! The job request a client publishes, and the checks that decode it.

use super::bounded;
use super::VERSION;
use crate::domain::{HostKeyPolicy, Priority};
use serde::{Deserialize, Serialize};

/// Longest accepted `request_id`.
pub const MAX_REQUEST_ID_LEN: usize = 200;

/// The most retries a job may ask for per device (`limits.max_retries`).
pub const MAX_RETRIES: u32 = 10;

/// Largest accepted job request body (1 MiB), checked before a byte of it is decoded:
/// the per-list and per-string limits (`bounded`) bound what a body that fits may hold.
pub const MAX_REQUEST_BYTES: usize = 1_048_576;

/// A client's request for a job (published to `<ns>.jobs`, routing key `submit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// Always 1 for this contract.
    pub version: u32,
    /// Idempotency key chosen by the client: the same id twice yields the same job.
    #[serde(deserialize_with = "bounded::request_id")]
    pub request_id: String,
    /// One of the job types (`config_backup`, `command`, `reachability`). An unknown type
    /// is well-formed but cannot run: the job ends `FAILED_INVALID_REQUEST`.
    #[serde(deserialize_with = "bounded::job_type")]
    pub job_type: String,
    /// Which devices the job runs on.
    #[serde(default)]
    pub targets: Targets,
    /// Commands for the `command` job type.
    #[serde(
        default,
        deserialize_with = "bounded::commands",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub commands: Vec<String>,
    /// Per-job overrides of the fleet's defaults.
    #[serde(default, skip_serializing_if = "Limits::is_empty")]
    pub limits: Limits,
    /// Not an identity (the submitter is the AMQP `user_id`, checked by the broker): when
    /// present it must equal `user_id`, or the job ends `FAILED_NOT_PERMITTED`.
    #[serde(
        default,
        deserialize_with = "bounded::submitted_by",
        skip_serializing_if = "Option::is_none"
    )]
    pub submitted_by: Option<String>,
    /// `high` sends the job's tasks to the interactive lane, which has worker slots of its
    /// own, so that it starts while large jobs run; absent is `normal` (the lane follows
    /// the job's size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
}

/// The devices a job targets: the union of the named devices, the device ids and every
/// device carrying one of the tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(
        default,
        deserialize_with = "bounded::target_devices",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub devices: Vec<String>,
    #[serde(
        default,
        deserialize_with = "bounded::target_ids",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub device_ids: Vec<i64>,
    #[serde(
        default,
        deserialize_with = "bounded::target_tags",
        skip_serializing_if = "Vec::is_empty"
    )]
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
    /// Tries again a device that ends `TIMEOUT` or `UNREACHABLE`, at most this many
    /// times (0 to 10), while the retry fits before the job's deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// The wait before the first retry; each later one waits twice the one before, plus
    /// up to as much again of jitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_backoff_ms: Option<u64>,
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
    ///
    /// The body's size is checked first, and every list and string while decoding
    /// (`bounded`), so that a huge request costs the dispatcher its body and no more.
    pub fn decode(body: &[u8]) -> Result<JobRequest, String> {
        // A decoder's error quotes what it refused (an unknown field's name, whole): the
        // reason goes into a reply, a dead letter's header and the log, so it is clipped.
        Self::decode_unclipped(body)
            .map_err(|e| crate::text::clip(&e, crate::text::MAX_REASON_BYTES).into_owned())
    }

    fn decode_unclipped(body: &[u8]) -> Result<JobRequest, String> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(format!(
                "job request of {} bytes is over the limit of {MAX_REQUEST_BYTES} bytes",
                body.len()
            ));
        }
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
    if let Some(priority) = top.get("priority") {
        if !(priority.is_string() || priority.is_null()) {
            return Err("not a valid job request: priority must be a string".into());
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
