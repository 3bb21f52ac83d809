//! The wire contract: every message that crosses the broker, versioned JSON.
//!
//! `docs/messages.md` documents each one with an example and `docs/schemas/` holds their
//! JSON Schemas. Events also carry CloudEvents attributes in AMQP headers (`cloud_event`).
//! Decoders are strict (`deny_unknown_fields`): what the schema rejects, the decoder
//! rejects.

mod bounded;
mod cancel;
mod cloud_event;
mod event;
mod request;
mod result;
mod task;
#[cfg(test)]
mod tests;

pub use bounded::{MAX_COMMANDS, MAX_STRING_CHARS, MAX_TARGET_DEVICES, MAX_TARGET_TAGS};
pub use cancel::{
    CancelAnswer, CancelReply, JobCancel, CANCEL_TYPE, MAX_CANCEL_BYTES, MAX_CANCEL_REASON_CHARS,
};
pub use cloud_event::{
    format_time, CloudEvent, EventRole, DATA_CONTENT_TYPE, HEADER_PREFIX, SPEC_VERSION, TYPE_PREFIX,
};
pub use event::{events, ConfigChangedEvent, JobEvent, JobReply};
pub use request::{
    JobRequest, Limits, PhaseTimeouts, Targets, MAX_REQUEST_BYTES, MAX_REQUEST_ID_LEN, MAX_RETRIES,
};
pub use result::{
    ConfigChange, ConfigVersion, TaskResult, TaskResults, MAX_RESULTS_PER_BATCH,
    RESULTS_BATCH_TYPE, RESULT_VERSION,
};
pub use task::{DeviceTask, TaskCredential, TaskDevice, TaskJumpHost};

/// The version of every message this build writes and reads, task results aside
/// ([`RESULT_VERSION`]).
pub const VERSION: u32 = 1;
