//! Driving a logged-in device: its commands over exec channels or in a shell, the way its
//! platform profile says, failing on the first one the device refuses.

use crate::device_text::DeviceText;
use crate::outcome::DeviceFailure;
use crate::platform::{Profile, Transport};
use crate::ssh::{OutputAllowance, Session, ShellOptions, SshError, SshTimeouts};
use netraven_shared::domain::Outcome;
use regex::Regex;
use secrecy::SecretString;

/// One command's output and exit status (`None` on shells, which have none).
pub struct Ran {
    pub command: String,
    /// Exactly what an exec channel received; what a shell's terminal showed.
    pub output: DeviceText,
    pub exit_status: Option<u32>,
}

/// A logged-in device and what a job needs to drive it.
pub struct Device<'a> {
    pub profile: &'a Profile,
    pub session: &'a mut Session,
    /// What answers the enable prompt: the credential's own enable secret, else the
    /// password that logged in (the same secret on most AAA setups), else nothing (a key
    /// login with no enable secret: a device that asks refuses it).
    pub enable_secret: Option<&'a SecretString>,
    /// The timeouts in force for this device (the worker's, with the job's overrides).
    pub timeouts: SshTimeouts,
    /// What the commands' output may take: the task's limit and the worker's budget.
    pub output: &'a mut OutputAllowance,
}

/// Output allowed for paging-off and other set-up commands.
const SETUP_OUTPUT: usize = 64 * 1024;

/// Runs `commands` the way the profile says (exec channel or shell) and fails on the first
/// one the device refuses: a non-zero exit status or an error pattern in its output.
pub async fn run_commands(
    d: &mut Device<'_>,
    commands: &[String],
) -> Result<Vec<Ran>, DeviceFailure> {
    let (profile, timeouts) = (d.profile, d.timeouts);
    let session = &mut *d.session;
    let allowance = &mut *d.output;
    let mut ran = Vec::with_capacity(commands.len());
    match profile.transport {
        Transport::Exec => {
            for command in commands {
                let out = session
                    .exec(command, allowance)
                    .await
                    .map_err(|e| command_failure(&timeouts, command, &e))?;
                // Valid UTF-8 without NUL (nearly always) is taken as it is, without a
                // copy; anything else keeps its exact bytes beside a text form.
                // A command ended by a signal (OpenSSH's sshd says so when it is killed)
                // left its output where it stopped: never taken as a whole reply.
                if let Some(signal) = &out.exit_signal {
                    return Err(DeviceFailure::new(
                        Outcome::CommandFailed,
                        format!(
                            "{command:?} was ended by signal {signal}; its output is incomplete"
                        ),
                    ));
                }
                let output = DeviceText::from_bytes(out.stdout);
                if let Some(status @ 1..) = out.exit_status {
                    // The device's words go into the reason escaped (DeviceFailure::new).
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    let first = stderr.lines().next().unwrap_or("").trim();
                    return Err(DeviceFailure::new(
                        Outcome::CommandFailed,
                        format!("{command:?} exited with status {status}: {first}"),
                    ));
                }
                check_errors(profile, command, output.text())?;
                ran.push(Ran {
                    command: command.clone(),
                    output,
                    exit_status: out.exit_status,
                });
            }
        }
        Transport::Shell => {
            let prompt = profile.prompt.clone().ok_or_else(|| {
                DeviceFailure::new(
                    Outcome::InternalError,
                    format!("profile {} has no prompt", profile.name),
                )
            })?;
            let mut options = ShellOptions::new(prompt);
            options.pager = profile.pager.clone();
            let mut shell = session
                .shell(options)
                .await
                .map_err(|e| DeviceFailure::ssh_step("opening the shell", &e, &timeouts))?;
            if let (Some(enable), Some(privileged)) =
                (&profile.enable_command, &profile.privileged_prompt)
            {
                if !privileged.is_match(shell.prompt()) {
                    let asks = profile
                        .password_prompt
                        .clone()
                        .unwrap_or_else(default_password_prompt);
                    let entered = shell
                        .enable(enable, &asks, privileged, d.enable_secret)
                        .await
                        .map_err(|e| command_failure(&timeouts, enable, &e))?;
                    if !entered {
                        shell.close().await;
                        return Err(DeviceFailure::enable_refused(enable));
                    }
                }
            }
            for command in &profile.paging_off {
                let output = shell
                    .command(command, &mut OutputAllowance::upto(SETUP_OUTPUT))
                    .await
                    .map_err(|e| command_failure(&timeouts, command, &e))?;
                check_errors(profile, command, &output)?;
            }
            for command in commands {
                let output = shell
                    .command(command, allowance)
                    .await
                    .map_err(|e| command_failure(&timeouts, command, &e))?;
                check_errors(profile, command, &output)?;
                ran.push(Ran {
                    command: command.clone(),
                    output: DeviceText::from_text(output),
                    exit_status: None,
                });
            }
            shell.close().await;
        }
    }
    Ok(ran)
}

fn default_password_prompt() -> Regex {
    Regex::new(r"(?im)^password:\s*$").unwrap_or_else(|e| panic!("fixed pattern: {e}"))
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

fn command_failure(timeouts: &SshTimeouts, command: &str, e: &SshError) -> DeviceFailure {
    DeviceFailure::ssh_step(&format!("{command:?}"), e, timeouts)
}
