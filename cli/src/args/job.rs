//! `netraven job ...`: submit, show, watch, list, results, outputs and logs.

use super::OutputArgs;
use crate::exit::HELP as EXIT_CODES;
use clap::{Args, Subcommand};
use netraven_shared::domain::{JobStatus, Outcome, Priority};

#[derive(Subcommand)]
pub enum JobCommand {
    /// Publish a job request and print the job id.
    #[command(after_help = EXIT_CODES)]
    Submit(SubmitArgs),
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
