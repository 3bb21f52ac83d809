//! `config_backup`: read the running configuration and store it as a snapshot.

use super::drive::{run_commands, Device};
use crate::context::WorkerContext;
use crate::outcome::DeviceFailure;
use crate::report::{JobDone, Snapshot};
use netraven_shared::domain::{JobType, Outcome};

/// The job type's wire name.
pub const NAME: &str = JobType::ConfigBackup.as_str();

pub async fn run(ctx: &WorkerContext, device: &mut Device<'_>) -> Result<JobDone, DeviceFailure> {
    let profile = device.profile;
    let command = profile.commands.get(NAME).cloned().ok_or_else(|| {
        DeviceFailure::new(
            Outcome::InternalError,
            format!("platform profile {} has no {NAME} command", profile.name),
        )
    })?;
    let ran = run_commands(device, std::slice::from_ref(&command)).await?;
    let raw = ran.into_iter().next().map(|r| r.output).unwrap_or_default();
    if raw.text().trim().is_empty() {
        return Err(DeviceFailure::new(
            Outcome::CommandFailed,
            format!("{command:?} returned an empty configuration"),
        ));
    }
    let redacted = if ctx.settings.redact_secrets {
        raw.redacted()
    } else {
        raw
    };
    // Before hashing: a clock or a counter in the configuration must not make a version.
    let content = match &profile.volatile {
        Some(volatile) => volatile.strip(redacted),
        None => redacted,
    };
    if content.text().trim().is_empty() {
        return Err(DeviceFailure::new(
            Outcome::CommandFailed,
            format!(
                "{command:?} returned only lines that profile {} lists as volatile",
                profile.name
            ),
        ));
    }
    let snapshot = Snapshot::of(content);
    Ok(JobDone {
        summary: format!(
            "configuration stored ({} bytes, sha256 {})",
            snapshot.content.len(),
            &snapshot.sha256[..12]
        ),
        config: Some(snapshot),
    })
}
