//! The aggregator role: device results in, job rows finished.
//!
//! `role` runs the consumers and the periodic tasks; `batches` gathers deliveries in a
//! batch `window` and [`ingest`] records each device's result exactly once, `refused`
//! finding the results Postgres will not take, `retries` trying transient failures
//! again; `dead_tasks`
//! turns the device tasks the broker gave up on into results; the `sweeper` finishes
//! jobs past their deadline; [`retention`] prunes what is past the retention period (also
//! run by hand as `netraven prune`); [`freshness`] exports the backup freshness and
//! schedule gauges, read from Postgres.

mod batches;
mod dead_queue;
mod dead_tasks;
pub mod freshness;
mod ingest;
pub(crate) mod periodic;
mod refused;
pub mod retention;
mod retries;
mod role;
mod sweeper;
mod window;

pub use ingest::{ingest, Ingested};
pub use role::run;
