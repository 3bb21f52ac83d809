//! The data plane: consumes device tasks, works on each device over SSH and reports.
//!
//! | module | owns |
//! |---|---|
//! | [`consumer`] | the worker role: prefetch, in-flight limit, graceful shutdown |
//! | [`context`] | what every device task of one worker shares ([`WorkerContext`]) |
//! | [`budget`] | one device's timeouts and deadline, computed once per task |
//! | [`device`] | one device: the credential loop within the device deadline |
//! | [`job_types`] | job types, one per file: `config_backup`, `command`, `reachability` |
//! | [`results`] | finished devices in group commit: recorded, then published, then acked |
//! | [`isolate`] | a batch Postgres refuses for good, split until the devices it refuses are found |
//! | [`batcher`] | the batching windows of group commit, apart from what is committed |
//! | [`persist`] | every statement the worker runs against Postgres, and its one retry policy |
//! | [`versions`] | numbering a batch's configurations as versions, and counting changed lines |
//! | [`device_text`] | a device's output as stored: text, and the exact bytes when it is not text |
//! | [`report`] | what a device's work produced: attempts, outcome, snapshot, outputs |
//! | [`outcome`] | the one mapping from a failure to a per-device outcome |
//! | [`jump`] | jump hosts: one shared connection per path, its channel cap, per-hop failures |
//! | [`ssh`] | SSH sessions: per-phase timeouts, host-key pinning, password and keyboard-interactive auth, exec |
//! | [`platform`] | platform profiles as data (built-in TOML, plus a user folder) |
//! | [`keys`] | the key ring, reloaded when its file changes or a rotated key shows up |
//! | [`key_reports`] | the key ids this worker holds, reported to Postgres for `secrets reseal` |
//! | [`login_limits`] | per-credential caps on concurrent logins and logins per second: the worker's own, and its part of the fleet's |
//! | [`redact`] | removing secrets from stored configurations |
//! | [`volatile`] | removing the lines that change by themselves before a configuration is hashed |
//! | [`error`] | the crate's error type ([`WorkerError`]) |

pub mod batcher;
pub mod budget;
pub mod client_keys;
pub mod consumer;
pub mod context;
pub mod device;
pub mod device_text;
pub mod error;
pub mod isolate;
pub mod job_types;
pub mod jump;
pub mod key_reports;
pub mod keys;
pub mod login_limits;
pub mod outcome;
pub mod persist;
pub mod platform;
pub mod redact;
pub mod report;
pub mod results;
pub mod ssh;
pub mod versions;
pub mod volatile;

pub use consumer::run;
pub use context::WorkerContext;
pub use error::WorkerError;
