//! The `netraven` command tree: global flags and one subcommand per area.

use super::{
    ApiArgs, BrokerCommand, ConfigCommand, CredentialCommand, DeadCommand, DeviceCommand,
    ExportCommand, InventoryCommand, JobCommand, PruneArgs, ScheduleCommand, SecretsCommand,
    ServicesCommand, SigningCommand, SimArgs, TokenCommand,
};
use crate::output::ColorChoice;
use crate::views::{self, Style};
use crate::{bench, demo, exit, output};
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "netraven",
    version,
    about = "NetRaven fleet: back up and query network devices over SSH, at fleet scale",
    after_help = exit::HELP
)]
pub struct Cli {
    /// A TOML config file (default: $NETRAVEN_CONFIG). NETRAVEN__SECTION__KEY variables override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Colour in tables, progress and logs: auto (on a terminal, unless NO_COLOR is set),
    /// always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the whole system on this machine: services, a simulated fleet, every role, a job.
    Demo(demo::DemoArgs),
    /// Measure the fleet against bare SSH on this machine; writes bench/results/*.json.
    Bench(bench::BenchArgs),
    /// One simulator process of a large bench fleet (started by `bench`).
    #[command(hide = true)]
    BenchFleet(bench::fleet::ChildArgs),
    /// The dispatcher role: job requests in, device tasks out.
    Dispatcher,
    /// The worker role: device tasks in, SSH, results out.
    Worker,
    /// The aggregator role: results in, job statuses out; finishes overdue jobs.
    Aggregator,
    /// The api role: the REST API (and its OpenAPI document) over HTTP, with tokens.
    Api(ApiArgs),
    /// API tokens: create (shown once), list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Apply pending database migrations (a no-op when there are none).
    Migrate,
    /// The effective settings; `config grep` searches the devices' configurations.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Sealing keys.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// The keys that sign device tasks (dispatcher) and results (workers).
    #[command(subcommand)]
    Signing(SigningCommand),
    /// Devices, tags and credentials.
    #[command(subcommand)]
    Inventory(InventoryCommand),
    /// Submit, follow and inspect jobs.
    #[command(subcommand)]
    Job(JobCommand),
    /// Job requests on a calendar (cron in a time zone), run by the dispatchers: add, list,
    /// show, pause, resume, remove, or apply a YAML file of them.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Stored credentials: how they fare; disable, enable or remove one.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// One device: its last outcome, the credentials a job tries on it and why, its latest
    /// config.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// The configuration history into a git repository: a file per device, a commit per job.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Delete jobs, results, logs and superseded configs older than the retention period
    /// (aggregator.retention_days). Open jobs and each device's latest config are kept.
    Prune(PruneArgs),
    /// Serve a simulated fleet of SSH devices.
    Sim(SimArgs),
    /// Postgres and RabbitMQ on this machine.
    #[command(subcommand)]
    Services(ServicesCommand),
    /// The dead-letter queue: list what is in it, send it back.
    #[command(subcommand)]
    Dead(DeadCommand),
    /// RabbitMQ: an account per role, with only the permissions it needs.
    #[command(subcommand)]
    Broker(BrokerCommand),
    /// Print a shell completion script: `netraven completions bash > /etc/bash_completion.d/netraven`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into --out DIR.
    Man {
        /// A directory for netraven.1 and one page per subcommand (netraven-job-show.1, ...).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct OutputArgs {
    /// Print JSON (stable field names, no colour) instead of tables.
    #[arg(long)]
    pub json: bool,
}

impl OutputArgs {
    /// Prints the JSON of `value`, or its text rendering (coloured as `--color` says), to
    /// stdout.
    pub fn print<T: serde::Serialize>(
        &self,
        value: &T,
        text: impl FnOnce(&T, Style) -> String,
    ) -> Result<()> {
        if self.json {
            output::data(&views::json(value)?)?;
        } else {
            output::data(&text(value, Style::detect()))?;
        }
        Ok(())
    }
}
