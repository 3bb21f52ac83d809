//! `netraven schedule ...`: job requests on a calendar, added one by one or applied from a
//! YAML file.

use super::OutputArgs;
use clap::{Args, Subcommand};
use netraven_shared::domain::{HostKeyPolicy, JobType};
use netraven_shared::schedule::Overlap;
use std::path::PathBuf;
use std::time::Duration;

/// The exit codes of the schedule commands.
pub const SCHEDULE_EXIT: &str = "\
Exit codes:
  0  success (pause and resume also when the schedule already was paused or running)
  1  error: no such schedule, a name that exists already (add), database unreachable
  2  usage error: the command line is wrong
  10 not a valid schedule: the definition or the file is wrong (every problem is printed);
     nothing was changed";

#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// Add a schedule: a job request sent on a cron calendar. A name that exists is
    /// refused (`schedule apply` changes schedules).
    #[command(after_help = SCHEDULE_EXIT)]
    Add(Box<AddArgs>),
    /// Every schedule: cron, zone, job type, targets, overlap, state, the next tick (on
    /// its zone's wall clock and in UTC) and the last run with its job's status.
    #[command(after_help = SCHEDULE_EXIT)]
    List {
        #[command(flatten)]
        out: OutputArgs,
    },
    /// One schedule: its definition, its next tick and when it is due (the tick plus the
    /// schedule's spread offset), and its latest runs with their jobs.
    #[command(after_help = SCHEDULE_EXIT)]
    Show {
        name: String,
        /// How many of the latest runs.
        #[arg(long, value_name = "N", default_value_t = 10)]
        runs: u32,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Stop taking the schedule's ticks until `resume`. Pausing a paused schedule changes
    /// nothing.
    #[command(after_help = SCHEDULE_EXIT)]
    Pause { name: String },
    /// Take the schedule's ticks again, from the next one after now: the ticks that came
    /// due while it was paused are not run. Resuming a running schedule changes nothing.
    #[command(after_help = SCHEDULE_EXIT)]
    Resume { name: String },
    /// Delete a schedule and its runs (the jobs it started stay).
    #[command(after_help = SCHEDULE_EXIT)]
    Remove { name: String },
    /// Make the database hold the schedules of a YAML file, in one transaction: new ones
    /// created, changed ones updated, identical ones untouched. A file with any problem
    /// changes nothing, and every problem is printed.
    #[command(after_help = SCHEDULE_EXIT)]
    Apply {
        file: PathBuf,
        /// Also remove the schedules that the file does not name.
        #[arg(long)]
        prune: bool,
        /// Print what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the stored schedules (all, or those named) as a YAML file that `schedule
    /// apply` takes: applying it changes nothing.
    #[command(after_help = SCHEDULE_EXIT)]
    Export { names: Vec<String> },
}

/// `netraven schedule add`.
#[derive(Args)]
pub struct AddArgs {
    /// Letters, digits, '.', '_' or '-' (at most 100), starting with a letter or digit.
    pub name: String,
    /// 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first;
    /// `@daily`, `@hourly` and the like.
    #[arg(long, value_name = "EXPR")]
    pub cron: String,
    /// The IANA zone whose wall clock the expression is read on (Europe/Paris, UTC).
    #[arg(long, value_name = "TZ", default_value = "UTC")]
    pub time_zone: String,
    /// config_backup, command or reachability.
    #[arg(long)]
    pub job_type: JobType,
    /// Target every device with this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Target this device by name (repeatable).
    #[arg(long = "device", value_name = "DEVICE")]
    pub devices: Vec<String>,
    /// A command to run, for --job-type command (repeatable, in order).
    #[arg(long = "command", value_name = "COMMAND")]
    pub commands: Vec<String>,
    /// What a tick does while the schedule's previous job still runs: skip (record the
    /// tick SKIPPED) or allow (start another job).
    #[arg(long, value_parser = Overlap::parse, default_value = "skip")]
    pub overlap: Overlap,
    /// How late a tick may still start its job (every dispatcher down, then back): `30m`,
    /// `6h`. Later than that it is recorded MISSED. Default 1h.
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    pub catch_up: Option<Duration>,
    /// What the schedule is for, for the people who read `schedule list`.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Create it paused (`schedule resume` starts it).
    #[arg(long)]
    pub paused: bool,
    /// The whole job's deadline (`2h`); devices without a result by then are LOST.
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    pub job_deadline: Option<Duration>,
    /// One device's deadline, all phases included (`2m`).
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    pub device_deadline: Option<Duration>,
    /// Try at most this many credentials on one device.
    #[arg(long, value_name = "N")]
    pub max_credentials: Option<u32>,
    /// accept-new, strict or off (off needs the dispatchers' broker user allowed it:
    /// dispatcher.submitters.<user>.weakest_host_key_policy).
    #[arg(long)]
    pub host_key_policy: Option<HostKeyPolicy>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (a duration such as 30m, 2h or 1d)"))
}
