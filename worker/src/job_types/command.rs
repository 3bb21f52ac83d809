//! `command`: run the request's commands and store each output.

use super::drive::{run_commands, Device};
use crate::context::WorkerContext;
use crate::outcome::DeviceFailure;
use crate::persist;
use crate::report::{CommandOutput, JobDone};
use netraven_shared::domain::{JobType, Outcome};
use netraven_shared::messages::DeviceTask;

/// The job type's wire name.
pub const NAME: &str = JobType::Command.as_str();

pub async fn run(
    ctx: &WorkerContext,
    task: &DeviceTask,
    device: &mut Device<'_>,
) -> Result<JobDone, DeviceFailure> {
    let ran = run_commands(device, &task.commands).await?;
    let outputs: Vec<CommandOutput> = ran
        .into_iter()
        .map(|r| CommandOutput {
            output: if ctx.settings.redact_secrets {
                r.output.redacted()
            } else {
                r.output
            },
            command: r.command,
            exit_status: r.exit_status.and_then(|s| i32::try_from(s).ok()),
        })
        .collect();
    persist::store_command_outputs(&ctx.pool, task.job_id, task.device.id, &outputs)
        .await
        .map_err(|e| DeviceFailure::new(Outcome::InternalError, e.to_string()))?;
    let bytes: usize = outputs.iter().map(|o| o.output.len()).sum();
    Ok(JobDone {
        summary: format!(
            "{} commands run, {bytes} bytes of output stored",
            outputs.len()
        ),
        config: None,
    })
}
