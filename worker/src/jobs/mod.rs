//! Job types, one per file, each with its wire name: what runs on a device once logged in.

pub mod command;
pub mod config_backup;
pub mod reachability;

use crate::device::DeviceFailure;
use crate::platform::{Profile, Transport};
use crate::ssh::{Session, SshError};
use crate::Core;
use netraven_shared::domain::{JobType, Outcome};
use netraven_shared::messages::DeviceTask;

/// What a successful job on one device produced.
#[derive(Debug, Clone, Default)]
pub struct JobDone {
    /// One line for the device's result (`config stored (12034 bytes, unchanged)`).
    pub summary: String,
    pub config_sha256: Option<String>,
}

/// Runs `job_type` on a logged-in session.
pub async fn execute(
    core: &Core,
    task: &DeviceTask,
    profile: &Profile,
    session: &mut Session,
    job_type: JobType,
) -> Result<JobDone, DeviceFailure> {
    match job_type {
        JobType::ConfigBackup => config_backup::run(core, task, profile, session).await,
        JobType::Command => command::run(core, task, profile, session).await,
        JobType::Reachability => reachability::run(core, task).await,
    }
}

/// One command's text output and exit status (`None` on shells, which have none).
pub struct Ran {
    pub command: String,
    pub output: String,
    pub exit_status: Option<u32>,
}

/// Runs `commands` the way the profile says (exec channel or shell) and fails on the first
/// one the device refuses: a non-zero exit status or an error pattern in its output.
pub async fn run_commands(
    core: &Core,
    profile: &Profile,
    session: &mut Session,
    commands: &[String],
) -> Result<Vec<Ran>, DeviceFailure> {
    let max = core.settings.max_output_bytes;
    let mut ran = Vec::with_capacity(commands.len());
    match profile.transport {
        Transport::Exec => {
            for command in commands {
                let out = session
                    .exec(command, max)
                    .await
                    .map_err(|e| command_failure(command, &e))?;
                let output = String::from_utf8_lossy(&out.stdout).into_owned();
                if let Some(status @ 1..) = out.exit_status {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    let first = stderr.lines().next().unwrap_or("").trim();
                    return Err(DeviceFailure::new(
                        Outcome::CommandFailed,
                        format!("{command:?} exited with status {status}: {first}"),
                    ));
                }
                check_errors(profile, command, &output)?;
                ran.push(Ran {
                    command: command.clone(),
                    output,
                    exit_status: out.exit_status,
                });
            }
        }
        Transport::Shell => {
            return Err(DeviceFailure::new(
                Outcome::CommandFailed,
                format!("platform {} needs an interactive shell, which this worker build does not drive yet", profile.name),
            ));
        }
    }
    Ok(ran)
}

fn check_errors(profile: &Profile, command: &str, output: &str) -> Result<(), DeviceFailure> {
    match profile.error_in(output) {
        Some(line) => Err(DeviceFailure::new(
            Outcome::CommandFailed,
            format!("{command:?} failed: {}", line.trim()),
        )),
        None => Ok(()),
    }
}

fn command_failure(command: &str, e: &SshError) -> DeviceFailure {
    DeviceFailure::new(crate::outcome::of_ssh_error(e), format!("{command:?}: {e}"))
}
