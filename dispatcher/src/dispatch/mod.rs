//! The dispatcher role: job requests in, device tasks out.
//!
//! A request arrives at `role`'s consumer, is decoded and given its job row in
//! `intake`, checked into a typed plan in [`plan`] and against the submitter's
//! [`permissions`], and launched in `launch`: [`resolve`] streams its devices with their
//! credentials and [`publish`] sends their signed tasks. [`lane`] picks the task queue
//! the job's tasks go to. `new_job` ties those steps together and gives a job that fails
//! on the way its final status; `reply` tells the client. A cancel takes the same queue
//! and is handled in `cancel`. `retries` publishes the device retries the aggregator
//! scheduled, when due.

mod cancel;
mod intake;
pub mod lane;
mod launch;
mod new_job;
pub mod permissions;
pub mod plan;
pub mod publish;
mod reply;
pub mod resolve;
mod retries;
mod role;

pub use role::run;
