//! The control plane: request intake, target and credential resolution, task publishing,
//! result aggregation and deadline sweeping.
//!
//! | module | owns |
//! |---|---|
//! | [`intake`] | the dispatcher role: consumes job requests, refuses bad ones, dispatches good ones |
//! | [`resolve`] | the one query that turns targets into devices and ordered credentials |
//! | [`publish`] | device tasks, published with confirms in a window |
//! | [`permissions`] | who may ask for what: submitters, job types, commands, host-key policies |
//! | [`jobs`] | job rows: creation, transitions, the final status, job logs, reads for the CLI |
//! | [`events`] | job events on the topic exchange |
//! | [`aggregator`] | the aggregator role: records results exactly once, finishes jobs |
//! | [`retention`] | prunes jobs, results, logs and superseded configs past the retention period |
//! | [`sweeper`] | finishes jobs whose deadline passed, marking missing devices `LOST` |
//! | [`error`] | the crate's error type and what each error means for a message |

pub mod aggregator;
pub mod error;
pub mod events;
pub mod intake;
pub mod jobs;
pub mod permissions;
pub mod publish;
pub mod resolve;
pub mod retention;
pub mod sweeper;

pub use error::DispatchError;
pub use intake::run;
