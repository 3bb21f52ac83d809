//! `config_backup`: read the running configuration and store it as a snapshot.

use super::{run_commands, Device, JobDone};
use crate::device::DeviceFailure;
use crate::{redact, store, Core};
use netraven_shared::domain::{JobType, Outcome};
use netraven_shared::messages::DeviceTask;

/// The job type's wire name.
pub const NAME: &str = JobType::ConfigBackup.as_str();

pub async fn run(
    core: &Core,
    task: &DeviceTask,
    device: &mut Device<'_>,
) -> Result<JobDone, DeviceFailure> {
    let profile = device.profile;
    let command = profile.commands.get(NAME).cloned().ok_or_else(|| {
        DeviceFailure::new(
            Outcome::InternalError,
            format!("platform profile {} has no {NAME} command", profile.name),
        )
    })?;
    let ran = run_commands(device, std::slice::from_ref(&command)).await?;
    let raw = ran.into_iter().next().map(|r| r.output).unwrap_or_default();
    if raw.trim().is_empty() {
        return Err(DeviceFailure::new(
            Outcome::CommandFailed,
            format!("{command:?} returned an empty configuration"),
        ));
    }
    let content = if core.settings.redact_secrets {
        redact::redact(&raw)
    } else {
        raw
    };
    let hash = store::store_config(&core.pool, task.job_id, task.device.id, &content)
        .await
        .map_err(|e| DeviceFailure::new(Outcome::InternalError, e))?;
    Ok(JobDone {
        summary: format!(
            "configuration stored ({} bytes, sha256 {})",
            content.len(),
            &hash[..12]
        ),
        config_sha256: Some(hash),
    })
}
