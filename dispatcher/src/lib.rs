//! The control plane, as its two roles over the job rows and events they share.
//!
//! | module | owns |
//! |---|---|
//! | [`dispatch`] | the dispatcher role: job requests in, validated into a plan, resolved, device tasks published |
//! | [`aggregate`] | the aggregator role: results ingested exactly once, dead tasks, the deadline sweeper, retention |
//! | [`schedule`] | schedules, run by the dispatchers: due ticks taken once each and sent as job requests |
//! | [`job_rows`] | job rows, which both roles and the CLI use: creation, transitions, job logs, reads |
//! | [`events`] | job events on the topic exchange, which both roles publish |
//! | [`error`] | the crate's error type, and what each error means for a message and a job |
//!
//! A change to what a request may ask for goes to `dispatch::plan` (or
//! `dispatch::permissions`); to how results are recorded, `aggregate::ingest`; to a job's
//! states, `job_rows`.

pub mod aggregate;
pub mod dispatch;
pub mod error;
pub mod events;
pub mod job_rows;
pub mod schedule;

pub use aggregate::run as run_aggregator;
pub use dispatch::run as run_dispatcher;
pub use error::DispatchError;
