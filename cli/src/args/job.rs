//! `netraven job ...`: submit, cancel, show, watch, list, results, outputs, logs and rerun.

use super::OutputArgs;
use crate::exit::HELP as EXIT_CODES;
use clap::{Args, Subcommand};
use netraven_shared::domain::{JobStatus, Outcome, Priority};

#[derive(Subcommand)]
pub enum JobCommand {
    /// Publish a job request and print the job id.
    #[command(after_help = EXIT_CODES)]
    Submit(SubmitArgs),
    /// Cancel a running job: devices not started are skipped (CANCELLED), devices in
    /// progress finish; the job ends CANCELLED. Prints the dispatcher's answer.
    #[command(after_help = CANCEL_EXIT_CODES)]
    Cancel {
        id: uuid::Uuid,
        /// Why, recorded on the job and shown by `job show` (one line, at most 500 characters).
        #[arg(long)]
        reason: Option<String>,
        /// Give up waiting for the dispatcher's answer after this many seconds.
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
    },
    /// A job's summary: status, counters, devices per outcome, timings and the credentials
    /// that worked. `--devices` adds a row per device; `--json` carries every device's result.
    Show {
        id: uuid::Uuid,
        /// List the devices too, one row each, at most --limit of them.
        #[arg(long)]
        devices: bool,
        /// With --devices: at most this many rows (0 for all); a last line says how many more.
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: usize,
        /// With --json: leave out the per-device results.
        #[arg(long, conflicts_with = "devices")]
        summary: bool,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Follow a job live until its final status, then print devices per outcome.
    #[command(after_help = EXIT_CODES)]
    Watch {
        id: uuid::Uuid,
        /// Give up after this many seconds (exit 4).
        #[arg(long, default_value_t = 3600)]
        timeout_secs: u64,
        /// Time between polls of the job's progress.
        #[arg(long, default_value_t = 250)]
        interval_ms: u64,
        /// No progress; print the final summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The newest jobs first.
    List {
        /// Only jobs with this status (e.g. RUNNING, COMPLETED_PARTIAL_FAILURE).
        #[arg(long, value_parser = parse_status)]
        status: Option<JobStatus>,
        /// How many jobs.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Each device's result: outcome, credential, attempts, time, config hash, reason.
    Results {
        id: uuid::Uuid,
        /// Only devices with this outcome (repeatable; e.g. AUTH_FAILED).
        #[arg(long = "outcome", value_parser = parse_outcome)]
        outcomes: Vec<Outcome>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// What a `command` job's devices answered: per device, each command in order, its
    /// exit status and output (control characters shown escaped; `--json` has them exact).
    Outputs {
        id: uuid::Uuid,
        /// Only this device.
        device: Option<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Submit a new job for the devices of a finished job that did not succeed: the same
    /// job type, commands and limits, targeting those devices by id (those still in the
    /// inventory). Prints the new job id; the request id is derived from the job, so
    /// rerunning the same job twice yields the same new job. Nothing to rerun: exit 7.
    #[command(after_help = EXIT_CODES)]
    Rerun {
        id: uuid::Uuid,
        /// Rerun the devices whose outcome is not SUCCESS (required: the only kind of
        /// rerun there is).
        #[arg(long, required = true)]
        failed: bool,
        /// Idempotency key (default: `rerun-failed:<JOB>`).
        #[arg(long)]
        request_id: Option<String>,
        /// Wait for the new job's final status; exit non-zero unless COMPLETED_SUCCESS.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout_secs: u64,
    },
    /// The job's log lines: level, device, message and structured data.
    Logs {
        id: uuid::Uuid,
        /// Only this device's lines.
        #[arg(long)]
        device: Option<String>,
        #[command(flatten)]
        out: OutputArgs,
    },
}

fn parse_status(s: &str) -> Result<JobStatus, String> {
    s.to_ascii_uppercase().parse()
}

fn parse_priority(s: &str) -> Result<Priority, String> {
    s.to_ascii_lowercase().parse()
}

fn parse_outcome(s: &str) -> Result<Outcome, String> {
    s.to_ascii_uppercase().parse()
}

#[derive(Args)]
pub struct SubmitArgs {
    /// Target every device with this tag (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Target this device by name (repeatable).
    #[arg(long = "device")]
    pub devices: Vec<String>,
    /// config_backup, command or reachability.
    #[arg(long = "type", default_value = "config_backup")]
    pub job_type: String,
    /// A command to run, for --type command (repeatable).
    #[arg(long = "command")]
    pub commands: Vec<String>,
    /// Idempotency key (default: a new UUID): the same id twice yields the same job.
    #[arg(long)]
    pub request_id: Option<String>,
    /// `high`: the interactive lane, whose worker slots large jobs cannot take (up to the
    /// dispatcher's max_high_priority_devices). Default: the lane follows the job's size.
    #[arg(long, value_parser = parse_priority)]
    pub priority: Option<Priority>,
    /// Wait for the final status; exit non-zero unless COMPLETED_SUCCESS (see below).
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub timeout_secs: u64,
}

/// The exit codes of `job cancel`.
pub const CANCEL_EXIT_CODES: &str = "\
Exit codes:
  0  cancelled: the job ends CANCELLED once its devices in progress finish
  1  refused (no such job, not permitted, invalid) or no answer; stderr says why
  *  already final: the job's own code (0 COMPLETED_SUCCESS, 3, 5, 6, 7, 8, 11 CANCELLED)";
