//! The exit codes of `netraven`: one table, shown in `--help`, the README and docs/messages.md.

use netraven_shared::domain::JobStatus;

/// How `netraven` ends. 2 belongs to clap alone (a usage error), so a script can tell
/// "I called it wrong" from "the job went wrong"; every job outcome has a code of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The command did what it was asked; a job ended `COMPLETED_SUCCESS`.
    Success = 0,
    /// Any other error: no such job, database or broker unreachable, bad configuration.
    Error = 1,
    /// The command line itself is wrong (clap prints the usage).
    Usage = 2,
    /// `COMPLETED_PARTIAL_FAILURE`: some devices succeeded, some failed.
    PartialFailure = 3,
    /// Still `PENDING` or `RUNNING` when the wait (`--timeout-secs`) gave up.
    GaveUp = 4,
    /// `COMPLETED_FAILURE`: no device succeeded.
    Failure = 5,
    /// `COMPLETED_NO_CREDENTIALS`: no credential applied to any device.
    NoCredentials = 6,
    /// `COMPLETED_NO_DEVICES`: the targets matched no device; or `job rerun --failed`
    /// found no device to rerun.
    NoDevices = 7,
    /// `FAILED_*`: the job could not run (invalid request, not permitted, credential
    /// resolution, dispatcher error); stderr says which.
    NotRun = 8,
    /// The configuration version asked for is not there (`device config --version N`,
    /// `--at TIME`, `device diff`), or the device has no configuration yet.
    Missing = 9,
    /// A schedule, or a file of them (`schedule add`, `schedule apply`), or an inventory
    /// (`inventory import`, `inventory sync`), is not valid: every problem is printed and
    /// nothing was changed.
    Invalid = 10,
    /// `CANCELLED`: someone cancelled the job (`job cancel`).
    Cancelled = 11,
}

impl Exit {
    /// What a command that waited for `status` exits with.
    pub fn for_status(status: JobStatus) -> Exit {
        match status {
            JobStatus::CompletedSuccess => Exit::Success,
            JobStatus::CompletedPartialFailure => Exit::PartialFailure,
            JobStatus::CompletedFailure => Exit::Failure,
            JobStatus::CompletedNoCredentials => Exit::NoCredentials,
            JobStatus::CompletedNoDevices => Exit::NoDevices,
            JobStatus::FailedInvalidRequest
            | JobStatus::FailedCredentialResolution
            | JobStatus::FailedDispatcherError
            | JobStatus::FailedUnexpected
            | JobStatus::FailedNotPermitted => Exit::NotRun,
            JobStatus::Cancelled => Exit::Cancelled,
            JobStatus::Pending | JobStatus::Running => Exit::GaveUp,
        }
    }

    /// What a command that failed with `e` exits with: [`Exit::Missing`] for a version
    /// that is not there, [`Exit::Invalid`] for a schedule or inventory that is not valid,
    /// [`Exit::Error`] otherwise.
    pub fn for_error(e: &anyhow::Error) -> Exit {
        if e.chain().any(|c| c.is::<crate::views::history::Missing>()) {
            Exit::Missing
        } else if e
            .chain()
            .any(|c| c.is::<netraven_schedules::Invalid>() || c.is::<crate::inventory::Invalid>())
        {
            Exit::Invalid
        } else {
            Exit::Error
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

/// The table in `--help` of the commands that wait for a job (`job watch`,
/// `job submit --wait`) and of `netraven` itself. README.md and docs/messages.md repeat it.
pub const HELP: &str = "\
Exit codes:
  0  success (a job: COMPLETED_SUCCESS)
  1  error: no such job, database or broker unreachable, bad configuration
  2  usage error: the command line is wrong
  3  COMPLETED_PARTIAL_FAILURE: some devices failed
  4  gave up waiting: still PENDING or RUNNING after --timeout-secs
  5  COMPLETED_FAILURE: no device succeeded
  6  COMPLETED_NO_CREDENTIALS: no credential applied to any device
  7  COMPLETED_NO_DEVICES: the targets matched no device; `job rerun --failed`: nothing
     to rerun (every device succeeded, or those that failed left the inventory)
  8  FAILED_*: the job could not run (stderr says why)
  9  no such configuration version (device config, device diff)
  10 not a valid schedule, schedules file or inventory (schedule add, schedule apply,
     inventory import): every problem is printed and nothing changed
  11 CANCELLED: someone cancelled the job (netraven job cancel)
A closed output pipe (`netraven job list | head -1`) ends the command quietly with 0.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_its_own_code_and_none_is_clap_s() {
        for s in JobStatus::ALL {
            let code = Exit::for_status(*s).code();
            assert_ne!(code, Exit::Usage.code(), "{s}");
            assert_ne!(code, Exit::Error.code(), "{s}");
            let expected = match s.as_str() {
                "COMPLETED_SUCCESS" => 0,
                "COMPLETED_PARTIAL_FAILURE" => 3,
                "PENDING" | "RUNNING" => 4,
                "COMPLETED_FAILURE" => 5,
                "COMPLETED_NO_CREDENTIALS" => 6,
                "COMPLETED_NO_DEVICES" => 7,
                s if s.starts_with("FAILED_") => 8,
                "CANCELLED" => 11,
                other => panic!("no exit code decided for {other}"),
            };
            assert_eq!(code, expected, "{s}");
        }
    }

    #[test]
    fn the_help_table_lists_every_code() {
        for code in 0..=Exit::Cancelled.code() {
            let row = if code < 10 {
                format!("\n  {code}  ")
            } else {
                format!("\n  {code} ")
            };
            assert!(HELP.contains(&row), "{code} missing");
        }
    }
}
