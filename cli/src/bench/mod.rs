//! `netraven bench`: what the fleet costs, measured on this machine, against a baseline
//! measured in the same run. Each part writes its figures as JSON under `bench/results/`.

pub mod api;
pub mod baseline;
pub mod big_job;
pub mod cpu;
mod figures;
pub mod fleet;
pub mod hostile;
pub mod ingest;
pub mod job;
mod job_sizes;
mod lanes;
mod latency;
pub mod logins;
mod measure;
mod plan;
pub mod publish;
mod report;
pub mod resolution;
pub mod scratch;
pub mod signatures;
mod unchanged;

pub use figures::Figure;
pub(crate) use figures::{list, median};
pub use plan::BenchArgs;
pub use report::{run, Report};
