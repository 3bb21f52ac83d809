//! Cancelling a job: the request a client publishes, and the dispatcher's answer.

use super::VERSION;
use crate::domain::JobStatus;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The AMQP `type` property that marks a message on `<ns>.jobs.submit` as a cancel; a
/// message without it is a job request.
pub const CANCEL_TYPE: &str = "cancel";

/// Largest accepted cancel body, checked before a byte of it is decoded.
pub const MAX_CANCEL_BYTES: usize = 4_096;

/// Longest accepted `reason`, in characters.
pub const MAX_CANCEL_REASON_CHARS: usize = 500;

/// A client's request to cancel a job (published to `<ns>.jobs`, routing key `submit`,
/// AMQP `type` [`CANCEL_TYPE`]). Who cancels is the AMQP `user_id`, never a body field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobCancel {
    /// Always 1 for this contract.
    pub version: u32,
    /// The job to cancel.
    pub job_id: Uuid,
    /// Why, for the job row and `job show`: one line of printable text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl JobCancel {
    /// Decodes a cancel body; an error is the reason the message is dead-lettered.
    pub fn decode(body: &[u8]) -> Result<JobCancel, String> {
        // A decoder's error quotes what it refused (an unknown field's name, whole): the
        // reason goes into a reply, a dead letter's header and the log, so it is clipped.
        Self::decode_unclipped(body)
            .map_err(|e| crate::text::clip(&e, crate::text::MAX_REASON_BYTES).into_owned())
    }

    fn decode_unclipped(body: &[u8]) -> Result<JobCancel, String> {
        if body.len() > MAX_CANCEL_BYTES {
            return Err(format!(
                "job cancel of {} bytes is over the limit of {MAX_CANCEL_BYTES} bytes",
                body.len()
            ));
        }
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("not a valid job cancel: {e}"))?;
        if !value.is_object() {
            return Err("not a valid job cancel: it must be a JSON object".into());
        }
        if let Some(id) = value.get("job_id") {
            // The hyphenated form only, as the schema says (the uuid crate reads others too).
            let hyphenated = id
                .as_str()
                .is_some_and(|s| s.len() == 36 && Uuid::parse_str(s).is_ok());
            if !hyphenated {
                return Err(format!(
                    "not a valid job cancel: job_id {id} is not a hyphenated UUID"
                ));
            }
        }
        let cancel: JobCancel =
            serde_json::from_slice(body).map_err(|e| format!("not a valid job cancel: {e}"))?;
        if cancel.version != VERSION {
            return Err(format!(
                "unsupported job cancel version {} (this dispatcher reads version {VERSION})",
                cancel.version
            ));
        }
        if let Some(reason) = &cancel.reason {
            if reason.chars().count() > MAX_CANCEL_REASON_CHARS {
                return Err(format!(
                    "reason must be at most {MAX_CANCEL_REASON_CHARS} characters"
                ));
            }
            if let Some(c) = reason.chars().find(|c| c.is_control()) {
                return Err(format!(
                    "reason contains the control character U+{:04X}; it is one line of \
                     printable characters",
                    c as u32
                ));
            }
        }
        Ok(cancel)
    }
}

/// What became of a cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancelAnswer {
    /// Recorded: devices not started are skipped, the job ends `CANCELLED`.
    Cancelled,
    /// The job had its final status already (`status` says which); nothing changed.
    AlreadyFinal,
    /// No job has this id.
    NoSuchJob,
    /// The canceller is neither the job's submitter nor allowed to cancel any job.
    NotPermitted,
    /// The message is malformed (it is dead-lettered too).
    Invalid,
}

impl CancelAnswer {
    /// Every answer, in declaration order.
    pub const ALL: &'static [CancelAnswer] = &[
        CancelAnswer::Cancelled,
        CancelAnswer::AlreadyFinal,
        CancelAnswer::NoSuchJob,
        CancelAnswer::NotPermitted,
        CancelAnswer::Invalid,
    ];

    /// The wire name, also the metrics label.
    pub const fn as_str(self) -> &'static str {
        match self {
            CancelAnswer::Cancelled => "cancelled",
            CancelAnswer::AlreadyFinal => "already_final",
            CancelAnswer::NoSuchJob => "no_such_job",
            CancelAnswer::NotPermitted => "not_permitted",
            CancelAnswer::Invalid => "invalid",
        }
    }
}

/// The answer to a cancel on its `reply_to` queue (`correlation_id` repeated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelReply {
    pub version: u32,
    pub answer: CancelAnswer,
    /// The job, when the cancel named one.
    #[serde(default)]
    pub job_id: Option<Uuid>,
    /// The job's status after the cancel (`PENDING`/`RUNNING` when cancelled: it ends
    /// `CANCELLED` once its devices are recorded; the final status when already final).
    #[serde(default)]
    pub status: Option<JobStatus>,
    /// Why, for every answer but `cancelled`.
    #[serde(default)]
    pub error: Option<String>,
}
