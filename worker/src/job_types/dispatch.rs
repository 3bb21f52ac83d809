//! Which job types need a login, and the one dispatch of those that do.

use super::drive::Device;
use super::{command, config_backup};
use crate::context::WorkerContext;
use crate::outcome::DeviceFailure;
use crate::report::JobDone;
use netraven_shared::domain::JobType;
use netraven_shared::messages::DeviceTask;

/// The work a job type asks of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// A TCP connection to the SSH port, no credential.
    Reachability,
    /// A job that runs once logged in.
    LoggedIn(LoggedInJob),
}

/// A job type that runs on a logged-in session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoggedInJob {
    ConfigBackup,
    Command,
}

impl From<JobType> for Work {
    fn from(job_type: JobType) -> Work {
        match job_type {
            JobType::Reachability => Work::Reachability,
            JobType::ConfigBackup => Work::LoggedIn(LoggedInJob::ConfigBackup),
            JobType::Command => Work::LoggedIn(LoggedInJob::Command),
        }
    }
}

/// Runs `job` on a logged-in device.
pub async fn run_logged_in(
    job: LoggedInJob,
    ctx: &WorkerContext,
    task: &DeviceTask,
    device: &mut Device<'_>,
) -> Result<JobDone, DeviceFailure> {
    match job {
        LoggedInJob::ConfigBackup => config_backup::run(ctx, device).await,
        LoggedInJob::Command => command::run(ctx, task, device).await,
    }
}
