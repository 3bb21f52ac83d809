//! Running and operating a fleet: `broker setup`, `config show`, `dead`, `services`, `sim`.

use super::OutputArgs;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum BrokerCommand {
    /// Create (or update) one broker account per role (dispatcher, worker, aggregator, api,
    /// operator, and each --submitter) with least-privilege permissions, and declare the
    /// topology, with `rabbitmqctl import_definitions`. Idempotent. Roles then run with
    /// amqp.declare_topology = false.
    Setup(BrokerSetupArgs),
}

#[derive(Args)]
pub struct BrokerSetupArgs {
    /// Name a role's account (dispatcher, worker, aggregator, api, operator); default
    /// <namespace>-<role>.
    #[arg(long = "user", value_name = "ROLE=USER")]
    pub users: Vec<String>,
    /// A submitter account (repeatable); list it in dispatcher.submitters to allow it more
    /// than the default.
    #[arg(long = "submitter", value_name = "USER")]
    pub submitters: Vec<String>,
    /// Read USER's password from this file (its content, without a trailing newline).
    #[arg(long = "password-file", value_name = "USER=PATH")]
    pub password_files: Vec<String>,
    /// Read USER's password from this environment variable.
    #[arg(long = "password-env", value_name = "USER=VARIABLE")]
    pub password_envs: Vec<String>,
    /// Print the definitions (JSON, password hashes only) instead of applying them, to
    /// apply yourself (`rabbitmqctl import_definitions`, or `load_definitions`).
    #[arg(long)]
    pub print: bool,
    /// RabbitMQ's rabbitmqctl, run on the broker's machine.
    #[arg(long, default_value = "rabbitmqctl")]
    pub rabbitmqctl: String,
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, every secret masked.
    Show,
    /// The devices whose latest configuration matches a regular expression, with the
    /// matching lines and their numbers (matched in Postgres: only those lines leave it).
    Grep(super::GrepArgs),
}

#[derive(Subcommand)]
pub enum DeadCommand {
    /// Show dead letters (source queue, reason, age, ids only) without losing or reordering any.
    List {
        /// Only these: tasks (bulk lane), interactive (interactive lane), requests,
        /// results, or a queue name.
        #[arg(long)]
        source: Option<String>,
        /// Skip this many (of those the filter picks) before the first shown.
        #[arg(long, default_value_t = 0)]
        offset: usize,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Send dead letters back to the exchange and key they came from, with confirms.
    Replay {
        /// Only these: tasks (bulk lane), interactive (interactive lane), requests,
        /// results, or a queue name.
        #[arg(long)]
        source: Option<String>,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[command(flatten)]
        out: OutputArgs,
    },
}

#[derive(Subcommand)]
pub enum ServicesCommand {
    /// Start Postgres and RabbitMQ if stopped, install them if missing (as root).
    Ensure,
}

#[derive(Args)]
pub struct SimArgs {
    /// Number of devices (default 100; with --scenario-file: the file's own total).
    #[arg(long)]
    pub devices: Option<usize>,
    /// First port; taken ports are skipped. Below 32768.
    #[arg(long, default_value_t = 20000)]
    pub base_port: u16,
    /// all-good, mixed, multi-vendor or hostile (every fault present).
    #[arg(long, default_value = "mixed")]
    pub scenario: String,
    /// A YAML scenario file (device groups: count or fraction, platform, accepts, fault,
    /// config_bytes); replaces --scenario.
    #[arg(long)]
    pub scenario_file: Option<PathBuf>,
    /// Delay before a rejected login is answered, as sshd does (default 0).
    #[arg(long, default_value_t = 0)]
    pub auth_rejection_ms: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write the matching inventory (and its secret files) here.
    #[arg(long)]
    pub inventory: Option<PathBuf>,
    /// Serve the ground truth (GET /attempts, /devices, /truth) on this address.
    #[arg(long)]
    pub control_addr: Option<std::net::SocketAddr>,
}
