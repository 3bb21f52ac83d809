//! `netraven`: parses arguments, loads config, starts logging and calls into the libraries.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use netraven_cli::views::{self, watch, Style};
use netraven_cli::{bench, client, demo, inventory, secrets, services, signing};
use netraven_shared::config::Settings;
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_shared::messages::{self, JobRequest, Targets};
use netraven_shared::sealing::KeyRing;
use netraven_shared::signing::Issuer;
use netraven_shared::{db, shutdown, telemetry};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "netraven",
    version,
    about = "NetRaven fleet: back up and query network devices over SSH, at fleet scale"
)]
struct Cli {
    /// A TOML config file (default: $NETRAVEN_CONFIG). NETRAVEN__SECTION__KEY variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// Apply pending database migrations (a no-op when there are none).
    Migrate,
    /// Configuration.
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
    /// Stored credentials and how they fare.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// One device: its last outcome, the credential that works, its latest config.
    #[command(subcommand)]
    Device(DeviceCommand),
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
}

#[derive(Subcommand)]
enum BrokerCommand {
    /// Create (or update) one broker account per role (dispatcher, worker, aggregator,
    /// operator, and each --submitter) with least-privilege permissions, and declare the
    /// topology, with `rabbitmqctl import_definitions`. Idempotent. Roles then run with
    /// amqp.declare_topology = false.
    Setup(BrokerSetupArgs),
}

#[derive(Args)]
struct BrokerSetupArgs {
    /// Name a role's account (dispatcher, worker, aggregator, operator); default
    /// <namespace>-<role>.
    #[arg(long = "user", value_name = "ROLE=USER")]
    users: Vec<String>,
    /// A submitter account (repeatable); list it in dispatcher.submitters to allow it more
    /// than the default.
    #[arg(long = "submitter", value_name = "USER")]
    submitters: Vec<String>,
    /// Read USER's password from this file (its content, without a trailing newline).
    #[arg(long = "password-file", value_name = "USER=PATH")]
    password_files: Vec<String>,
    /// Read USER's password from this environment variable.
    #[arg(long = "password-env", value_name = "USER=VARIABLE")]
    password_envs: Vec<String>,
    /// Print the definitions (JSON, password hashes only) instead of applying them, to
    /// apply yourself (`rabbitmqctl import_definitions`, or `load_definitions`).
    #[arg(long)]
    print: bool,
    /// RabbitMQ's rabbitmqctl, run on the broker's machine.
    #[arg(long, default_value = "rabbitmqctl")]
    rabbitmqctl: String,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, every secret masked.
    Show,
}

#[derive(Subcommand)]
enum SigningCommand {
    /// Create a role's private signing key file (mode 0600; refuses to overwrite one) and
    /// print its public key for the trusted-keys file of the roles that check it.
    Init {
        /// Whose key: `dispatcher` (signs device tasks) or `worker` (signs results).
        #[arg(long, value_parser = ["dispatcher", "worker"])]
        issuer: String,
        /// Where to write it (default: signing.key_file).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Print the public keys of a private key file, in the trusted-keys file's format.
    Public {
        /// The private key file (default: signing.key_file).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Create a new sealing key file (refuses to overwrite one).
    Init {
        /// Where to write it (default: secrets.key_file).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Step 1 of a rotation: add a new key at the end of the ring. It opens but does not
    /// seal yet; workers load it when their key file changes.
    AddKey {
        /// The key file (default: secrets.key_file).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Step 3, once the workers have the new key file (step 2): make the new key the
    /// sealing key and re-seal every credential under it.
    /// Refused, naming them, while any running worker cannot open that key.
    Reseal {
        /// The key file (default: secrets.key_file).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The key to seal with (default: the newest key that never sealed, else the
        /// sealing key, which re-seals what an older key still seals).
        #[arg(long)]
        key: Option<String>,
    },
    /// Step 4: remove an old key from the ring. Refused while a credential is sealed with
    /// it or an open job may carry secrets sealed with it.
    Retire {
        /// The key id to remove.
        key_id: String,
        /// The key file (default: secrets.key_file).
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// add-key, wait for every running worker to hold the new key, then reseal. Retiring
    /// the old key stays a step of its own (`secrets retire`).
    Rotate {
        /// The key file to rotate (default: secrets.key_file).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// How long to wait for the running workers to load the new key.
        #[arg(long, default_value_t = 120)]
        wait_secs: u64,
    },
}

#[derive(Subcommand)]
enum InventoryCommand {
    /// Load tags, devices and credentials from a YAML file; importing again updates.
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum DeadCommand {
    /// Show dead letters (source queue, reason, age, ids only) without losing or reordering any.
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Send dead letters back to the exchange and key they came from, with confirms.
    Replay {
        /// Only these: tasks, requests, results, or a queue name.
        #[arg(long)]
        source: Option<String>,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[command(flatten)]
        out: OutputArgs,
    },
}

#[derive(Subcommand)]
enum ServicesCommand {
    /// Start Postgres and RabbitMQ if stopped, install them if missing (as root).
    Ensure,
}

/// Exit codes of `job watch` and `job submit --wait`.
const EXIT_CODES: &str = "Exit codes: 0 COMPLETED_SUCCESS; \
2 COMPLETED_PARTIAL_FAILURE, COMPLETED_FAILURE, COMPLETED_NO_CREDENTIALS or COMPLETED_NO_DEVICES; \
3 FAILED_* (the job could not run); 4 still PENDING/RUNNING when --timeout-secs passed; \
1 any other error (no such job, database unreachable).";

#[derive(Subcommand)]
enum JobCommand {
    /// Publish a job request and print the job id.
    #[command(after_help = EXIT_CODES)]
    Submit(SubmitArgs),
    /// Print a job's status, counters, devices per outcome and each device's result.
    Show {
        id: uuid::Uuid,
        /// Leave out the per-device table.
        #[arg(long)]
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

#[derive(Subcommand)]
enum CredentialCommand {
    /// Every credential: priority, tags, successes, failures, success rate, last use.
    List {
        #[command(flatten)]
        out: OutputArgs,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// Platform, host, tags, last outcome, the credential that worked last, the latest
    /// config hash and when it changed, the pinned host key, and recent jobs.
    Show {
        name: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Pin, forget and list devices' host keys, so that `strict` checking can be the policy.
    #[command(subcommand, name = "host-key")]
    HostKey(HostKeyCommand),
}

#[derive(Subcommand)]
enum HostKeyCommand {
    /// Pin a device's host key from an OpenSSH known_hosts file (matched to the device's
    /// host and port; hashed entries too) or from a SHA256 fingerprint.
    Pin {
        device: String,
        /// An OpenSSH known_hosts file (`ssh-keyscan` writes one).
        #[arg(long, value_name = "FILE", required_unless_present = "fingerprint")]
        known_hosts: Option<PathBuf>,
        /// The key's fingerprint as `ssh-keygen -lf` prints it: SHA256:<base64>.
        #[arg(long, value_name = "SHA256:...", conflicts_with = "known_hosts")]
        fingerprint: Option<String>,
        /// Replace a different key pinned already.
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Remove a device's pin: `accept-new` pins again on next contact, `strict` refuses it.
    Forget {
        device: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Pinned host keys: every pinned device, one device, or (--unpinned) every enabled
    /// device without a pin, which `strict` would refuse.
    List {
        device: Option<String>,
        #[arg(long, conflicts_with = "device")]
        unpinned: bool,
        #[command(flatten)]
        out: OutputArgs,
    },
}

#[derive(Args)]
struct PruneArgs {
    /// Prune what is older than this (default: aggregator.retention_days).
    #[arg(long)]
    older_than_days: Option<u32>,
    /// Count what would be pruned; delete nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    out: OutputArgs,
}

#[derive(Args)]
struct OutputArgs {
    /// Print JSON (stable field names, no colour) instead of tables.
    #[arg(long)]
    json: bool,
}

impl OutputArgs {
    /// The JSON of `value`, or its text rendering (coloured on a terminal unless NO_COLOR).
    fn print<T: serde::Serialize>(
        &self,
        value: &T,
        text: impl FnOnce(&T, Style) -> String,
    ) -> Result<()> {
        if self.json {
            print!("{}", views::json(value)?);
        } else {
            print!("{}", text(value, Style::detect()));
        }
        Ok(())
    }
}

fn parse_status(s: &str) -> Result<JobStatus, String> {
    s.to_ascii_uppercase().parse()
}

fn parse_outcome(s: &str) -> Result<Outcome, String> {
    s.to_ascii_uppercase().parse()
}

#[derive(Args)]
struct SubmitArgs {
    /// Target every device with this tag (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Target this device by name (repeatable).
    #[arg(long = "device")]
    devices: Vec<String>,
    /// config_backup, command or reachability.
    #[arg(long = "type", default_value = "config_backup")]
    job_type: String,
    /// A command to run, for --type command (repeatable).
    #[arg(long = "command")]
    commands: Vec<String>,
    /// Idempotency key (default: a new UUID): the same id twice yields the same job.
    #[arg(long)]
    request_id: Option<String>,
    /// Wait for the final status; exit non-zero unless COMPLETED_SUCCESS (see below).
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 3600)]
    timeout_secs: u64,
}

#[derive(Args)]
struct SimArgs {
    /// Number of devices (default 100; with --scenario-file: the file's own total).
    #[arg(long)]
    devices: Option<usize>,
    /// First port; taken ports are skipped. Below 32768.
    #[arg(long, default_value_t = 20000)]
    base_port: u16,
    /// all-good, mixed, multi-vendor or hostile (every fault present).
    #[arg(long, default_value = "mixed")]
    scenario: String,
    /// A YAML scenario file (device groups: count or fraction, platform, accepts, fault,
    /// config_bytes); replaces --scenario.
    #[arg(long)]
    scenario_file: Option<PathBuf>,
    /// Delay before a rejected login is answered, as sshd does (default 0).
    #[arg(long, default_value_t = 0)]
    auth_rejection_ms: u64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Write the matching inventory (and its secret files) here.
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// Serve the ground truth (GET /attempts, /devices, /truth) on this address.
    #[arg(long)]
    control_addr: Option<std::net::SocketAddr>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let settings = Settings::load(cli.config.as_deref())?;
    let mut log = settings.log.clone();
    if matches!(
        cli.command,
        Command::Demo(_)
            | Command::Bench(_)
            | Command::BenchFleet(_)
            | Command::Job(_)
            | Command::Credential(_)
            | Command::Device(_)
            | Command::Prune(_)
            | Command::Migrate
            | Command::Services(_)
    ) {
        // Interactive commands print their own progress; only problems are logged.
        log.level = "warn".into();
    }
    telemetry::init_logging(&log);
    match cli.command {
        Command::Dispatcher => {
            netraven_dispatcher::run_dispatcher(settings, shutdown::on_signal()).await?
        }
        Command::Aggregator => {
            netraven_dispatcher::run_aggregator(settings, shutdown::on_signal()).await?
        }
        Command::Worker => netraven_worker::run(settings, shutdown::on_signal()).await?,
        Command::Migrate => {
            let applied = db::migrate(&settings.database.url).await?;
            if applied.is_empty() {
                println!(
                    "schema up to date ({} migrations)",
                    db::migration_names().len()
                );
            } else {
                println!("applied {}", applied.join(", "));
            }
        }
        Command::Config(ConfigCommand::Show) => print!("{}", settings.show()?),
        Command::Signing(SigningCommand::Init { issuer, key_file }) => {
            let path = key_file
                .or(settings.signing.key_file.clone())
                .context("name the key file: --key-file PATH (or set signing.key_file)")?;
            let issuer = if issuer == "dispatcher" {
                Issuer::Dispatcher
            } else {
                Issuer::Worker
            };
            let public = signing::init(&path, issuer)?;
            eprintln!(
                "wrote a new {issuer} signing key to {} (mode 0600); its public key, for \
                 signing.trusted_keys_file of the roles that check it:",
                path.display()
            );
            print!("{public}");
        }
        Command::Signing(SigningCommand::Public { key_file }) => {
            let path = key_file
                .or(settings.signing.key_file.clone())
                .context("name the key file: --key-file PATH (or set signing.key_file)")?;
            print!("{}", signing::public(&path)?);
        }
        Command::Secrets(SecretsCommand::Init { key_file }) => {
            let path = key_file
                .or(settings.secrets.key_file.clone())
                .context("name the key file: --key-file PATH (or set secrets.key_file)")?;
            let id = secrets::init(&path)?;
            println!(
                "wrote a new sealing key {id} to {} (mode 0600)",
                path.display()
            );
        }
        Command::Secrets(SecretsCommand::AddKey { key_file }) => {
            let path = key_file_of(key_file, &settings)?;
            let a = secrets::add_key(&path)?;
            println!(
                "added key {} to {} ({} keys; {} still seals)",
                a.key_id,
                path.display(),
                a.keys_in_ring,
                a.sealing_key_id
            );
            println!(
                "next: give every worker this key file (each reloads it within \
                 worker.key_file_poll_interval_ms, or restart it), then run \
                 `netraven secrets reseal`"
            );
        }
        Command::Secrets(SecretsCommand::Reseal { key_file, key }) => {
            let path = key_file_of(key_file, &settings)?;
            let mut client = connect(&settings).await?;
            let r = secrets::reseal(&mut client, &path, key.as_deref()).await?;
            print_resealed(&r, &path);
        }
        Command::Secrets(SecretsCommand::Retire { key_id, key_file }) => {
            let path = key_file_of(key_file, &settings)?;
            let client = connect(&settings).await?;
            let r = secrets::retire(&client, &path, &key_id).await?;
            println!(
                "retired key {} from {}; the ring holds {}",
                r.key_id,
                path.display(),
                r.keys_left.join(", ")
            );
            println!(
                "next: give every worker this key file (each drops the key at its next \
                 reload); rotation done"
            );
        }
        Command::Secrets(SecretsCommand::Rotate {
            key_file,
            wait_secs,
        }) => {
            let path = key_file_of(key_file, &settings)?;
            let mut client = connect(&settings).await?;
            let r = secrets::rotate(&mut client, &path, Duration::from_secs(wait_secs)).await?;
            println!(
                "added key {} to {}; every running worker loaded it",
                r.added.key_id,
                path.display()
            );
            print_resealed(&r.resealed, &path);
        }
        Command::Inventory(InventoryCommand::Import { file }) => {
            let keyring = KeyRing::from_settings(&settings.secrets)?;
            let pool = db::pool(&settings.database)?;
            let mut client = pool.get().await.context("cannot connect to Postgres")?;
            let done = inventory::import(&mut client, &keyring, &file).await?;
            for name in &done.inline_secrets {
                eprintln!("warning: credential {name:?} has its secret inline in {}; prefer secret_env or secret_file", file.display());
            }
            println!(
                "imported {} devices, {} credentials, {} tags",
                done.devices, done.credentials, done.tags
            );
        }
        Command::Job(JobCommand::Submit(args)) => return submit(&settings, args).await,
        Command::Job(JobCommand::Show { id, summary, out }) => {
            let client = connect(&settings).await?;
            let detail = views::jobs::show(&client, id, !summary).await?;
            out.print(&detail, views::jobs::render_show)?;
        }
        Command::Job(JobCommand::Watch {
            id,
            timeout_secs,
            interval_ms,
            json,
        }) => {
            use std::io::IsTerminal;
            let client = connect(&settings).await?;
            let how = watch::Watch {
                every: Duration::from_millis(interval_ms.max(10)),
                timeout: Duration::from_secs(timeout_secs),
                live: std::io::stdout().is_terminal(),
                json,
                style: Style::detect(),
            };
            return Ok(ExitCode::from(watch::watch(&client, id, how).await?));
        }
        Command::Job(JobCommand::List { status, limit, out }) => {
            let client = connect(&settings).await?;
            let jobs = views::jobs::list(&client, status, i64::from(limit)).await?;
            out.print(&jobs, |j, s| views::jobs::render_list(j, s))?;
        }
        Command::Job(JobCommand::Results { id, outcomes, out }) => {
            let client = connect(&settings).await?;
            let results = views::jobs::results(&client, id, &outcomes).await?;
            out.print(&results, |r, s| views::jobs::render_results(r, s))?;
        }
        Command::Job(JobCommand::Logs { id, device, out }) => {
            let client = connect(&settings).await?;
            let lines = views::jobs::logs(&client, id, device.as_deref()).await?;
            out.print(&lines, |l, s| views::jobs::render_logs(l, s))?;
        }
        Command::Credential(CredentialCommand::List { out }) => {
            let client = connect(&settings).await?;
            let creds = views::credentials::list(&client).await?;
            out.print(&creds, |c, s| views::credentials::render(c, s))?;
        }
        Command::Device(DeviceCommand::Show { name, out }) => {
            let client = connect(&settings).await?;
            let device = views::devices::show(&client, &name).await?;
            out.print(&device, views::devices::render)?;
        }
        Command::Device(DeviceCommand::HostKey(cmd)) => {
            use netraven_cli::host_keys::{self, ListScope, PinFrom};
            let mut client = connect(&settings).await?;
            match cmd {
                HostKeyCommand::Pin {
                    device,
                    known_hosts,
                    fingerprint,
                    replace,
                    out,
                } => {
                    let from = match (&known_hosts, &fingerprint) {
                        (Some(path), None) => PinFrom::KnownHosts(path),
                        (None, Some(f)) => PinFrom::Fingerprint(f),
                        _ => bail!("give exactly one of --known-hosts FILE or --fingerprint"),
                    };
                    let change = host_keys::pin(&mut client, &device, from, replace).await?;
                    out.print(&change, views::host_keys::render_change)?;
                }
                HostKeyCommand::Forget { device, out } => {
                    let change = host_keys::forget(&client, &device).await?;
                    out.print(&change, views::host_keys::render_change)?;
                }
                HostKeyCommand::List {
                    device,
                    unpinned,
                    out,
                } => {
                    let scope = match (&device, unpinned) {
                        (Some(d), _) => ListScope::Device(d),
                        (None, true) => ListScope::Unpinned,
                        (None, false) => ListScope::Pinned,
                    };
                    let rows = host_keys::list(&client, scope).await?;
                    out.print(&rows, |r, s| views::host_keys::render_list(r, s))?;
                }
            }
        }
        Command::Prune(args) => {
            let client = connect(&settings).await?;
            let policy = netraven_dispatcher::aggregate::retention::Policy {
                older_than_days: args
                    .older_than_days
                    .unwrap_or(settings.aggregator.retention_days),
                batch_size: settings.aggregator.prune_batch_size,
                dry_run: args.dry_run,
            };
            let stop = shutdown::on_signal();
            let rows =
                netraven_dispatcher::aggregate::retention::prune(&client, policy, &stop).await?;
            let report = views::prune::PruneReport {
                older_than_days: policy.older_than_days,
                dry_run: policy.dry_run,
                rows,
            };
            args.out.print(&report, views::prune::render)?;
        }
        Command::Sim(args) => sim(args).await?,
        Command::Services(ServicesCommand::Ensure) => {
            services::ensure(&settings.database.url, &settings.amqp.url, |m| {
                eprintln!("{m}")
            })?;
            println!("PostgreSQL and RabbitMQ are up");
        }
        Command::Demo(args) => demo::run(settings, args).await?,
        Command::Bench(args) => {
            bench::run(settings, args).await?;
        }
        Command::BenchFleet(args) => bench::fleet::serve_child(args).await?,
        Command::Broker(BrokerCommand::Setup(args)) => {
            use netraven_cli::access;
            let accounts = access::accounts(
                &settings.amqp.namespace,
                &access::SetupArgs {
                    users: args.users,
                    submitters: args.submitters,
                    password_files: args.password_files,
                    password_envs: args.password_envs,
                },
            )?;
            if args.print {
                let names = netraven_shared::broker::Names::new(&settings.amqp.namespace);
                let defs = access::definitions(&accounts, &names, &settings.amqp)?;
                println!("{}", serde_json::to_string_pretty(&defs)?);
            } else {
                access::setup(&settings.amqp, &args.rabbitmqctl, &accounts).await?;
                for a in &accounts {
                    eprintln!("{} account {} ready", a.role.as_str(), a.user);
                }
                eprintln!(
                    "topology of namespace {} declared; run the roles with \
                     amqp.declare_topology = false",
                    settings.amqp.namespace
                );
            }
        }
        Command::Dead(DeadCommand::List { limit, out }) => {
            let listing = netraven_cli::dead::list(&settings.amqp, limit).await?;
            out.print(&listing, netraven_cli::dead::render_list)?;
        }
        Command::Dead(DeadCommand::Replay { source, limit, out }) => {
            let done = netraven_cli::dead::replay(&settings.amqp, source.as_deref(), limit).await?;
            out.print(&done, netraven_cli::dead::render_replayed)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn submit(settings: &Settings, args: SubmitArgs) -> Result<ExitCode> {
    if args.tags.is_empty() && args.devices.is_empty() {
        bail!("name the targets: --tag TAG and/or --device NAME");
    }
    let request = JobRequest {
        version: messages::VERSION,
        request_id: args
            .request_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        job_type: args.job_type,
        targets: Targets {
            devices: args.devices,
            device_ids: Vec::new(),
            tags: args.tags,
        },
        commands: args.commands,
        limits: Default::default(),
        // The submitter is the broker user (the request's user_id), not a body field.
        submitted_by: None,
    };
    let done = client::submit(
        &settings.amqp,
        &request,
        args.wait,
        Duration::from_secs(args.timeout_secs),
    )
    .await?;
    let job_id = done.reply.job_id.context("the reply names no job")?;
    println!("{job_id}");
    if let (Some(status), Some(error)) = (done.reply.status, &done.reply.error) {
        // The job ended at the dispatcher (not permitted, invalid, …): say why.
        eprintln!("{status}: {error}");
        return Ok(ExitCode::from(watch::exit_code(status)));
    }
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let status = done
        .completed
        .map(|e| e.status)
        .or(done.reply.status)
        .unwrap_or(JobStatus::FailedUnexpected);
    eprintln!("{status}");
    Ok(ExitCode::from(watch::exit_code(status)))
}

fn key_file_of(key_file: Option<PathBuf>, settings: &Settings) -> Result<PathBuf> {
    key_file
        .or(settings.secrets.key_file.clone())
        .context("name the key file: --key-file PATH (or set secrets.key_file)")
}

fn print_resealed(r: &secrets::Resealed, path: &std::path::Path) {
    if r.previous_key_id == r.key_id {
        println!(
            "{} already seals; re-sealed {} credentials sealed with older keys; {} running \
             workers hold it",
            r.key_id, r.resealed, r.workers
        );
    } else {
        println!(
            "{} seals now (was {}); re-sealed {} credentials; {} running workers hold it",
            r.key_id, r.previous_key_id, r.resealed, r.workers
        );
    }
    if r.workers == 0 {
        println!(
            "no worker is running: start workers with the key file {}",
            path.display()
        );
    }
    if r.previous_key_id == r.key_id {
        println!(
            "next: retire an old key with `netraven secrets retire KEY_ID` once nothing is \
             sealed with it"
        );
    } else {
        println!(
            "next: once the jobs open now have finished, run `netraven secrets retire {}`",
            r.previous_key_id
        );
    }
}

async fn connect(settings: &Settings) -> Result<deadpool_postgres::Client> {
    let pool = db::pool(&settings.database)?;
    pool.get().await.context("cannot connect to Postgres")
}

async fn sim(args: SimArgs) -> Result<()> {
    use netraven_simulator::{scenario, serve_control, Fleet, FleetOptions};
    use std::sync::Arc;
    let (spec, name) = match &args.scenario_file {
        Some(path) => (
            netraven_simulator::scenario_file::load(path, args.devices, args.seed)?,
            path.display().to_string(),
        ),
        None => (
            scenario(&args.scenario, args.devices.unwrap_or(100), args.seed)?,
            args.scenario.clone(),
        ),
    };
    let fleet = Arc::new(
        Fleet::start(
            spec,
            FleetOptions {
                base_port: args.base_port,
                auth_rejection_ms: args.auth_rejection_ms,
                ..FleetOptions::default()
            },
        )
        .await?,
    );
    let devices = fleet.devices();
    let (first, last) = (
        devices.first().map_or(0, |d| d.port),
        devices.last().map_or(0, |d| d.port),
    );
    eprintln!(
        "serving {} {} devices on 127.0.0.1 ports {first}..={last}",
        devices.len(),
        name
    );
    if let Some(path) = &args.inventory {
        fleet.write_inventory(path)?;
        eprintln!("inventory written to {}", path.display());
    }
    let stop = shutdown::on_signal();
    if let Some(addr) = args.control_addr {
        let (f, s) = (fleet.clone(), stop.clone());
        tokio::spawn(async move {
            if let Err(e) = serve_control(f, addr, s).await {
                eprintln!("control endpoint stopped: {e}");
            }
        });
        eprintln!("ground truth on http://{addr}/attempts");
    }
    stop.cancelled().await;
    fleet.stop().await;
    Ok(())
}
