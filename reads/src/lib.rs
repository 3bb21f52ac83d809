//! The fleet's read models: each query fetches into a serialisable struct whose fields are
//! the stable names of the CLI's `--json` and of the REST API's bodies. The CLI's views
//! render these structs as tables; the api role serves them as JSON. One query, two
//! front ends.
//!
//! | module | owns |
//! |---|---|
//! | [`jobs`] | a job's summary and outcome counts, the job list, results, log lines |
//! | [`device_list`] | the device list with its filters and a name search |
//! | [`devices`] | one device: inventory, last outcome, credential that worked, recent jobs |
//! | [`history`] | the configuration history: versions, one version's text, grep, command outputs |
//! | [`diff`] | two versions' line diff as hunks |
//! | [`credentials`] | every credential's counters and recent success rate (never a secret) |
//! | [`page`] | keyset pagination: a page's size and the opaque cursor to the next one |
//!
//! Errors are `anyhow` with typed markers a caller can find in the chain: [`NotFound`]
//! (no such job or device) and [`history::Missing`] (no such version).

pub mod credentials;
pub mod device_list;
pub mod devices;
pub mod diff;
pub mod history;
pub mod jobs;
pub mod page;

/// A job or a device that is not there.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);
