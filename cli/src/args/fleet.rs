//! `netraven inventory`, `credential`, `device` (with `host-key` and the configuration
//! history), `config grep` and `prune`.

use super::OutputArgs;
use crate::views::history::{parse_time, VersionRef};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum InventoryCommand {
    /// Load tags, devices and credentials from a YAML file; importing again updates. The
    /// whole file is checked first: any problem (each listed with its line) and nothing is
    /// imported, exit 10. A platform given by an alias is stored as its profile's name.
    #[command(after_help = IMPORT_EXIT)]
    Import {
        file: PathBuf,
        #[command(flatten)]
        sync: SyncArgs,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Write the stored inventory (tags, credentials, jump hosts, devices not removed) in
    /// the import's format. Secrets are never written: only where the import read them
    /// (secret_env, key_file, ...), or `not_exported: true`, which the import refuses.
    Export {
        /// Write to this file (created with mode 0600) instead of stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Read the devices of a source of truth into the inventory.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// The platforms a device may name: every profile (built-in and `worker.profiles_dir`'s)
    /// with its aliases (Netmiko `device_type` and NAPALM names).
    Platforms {
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// `--prune` and `--dry-run`, for `inventory import` and `inventory sync`.
#[derive(Args, Debug, Clone, Copy)]
pub struct SyncArgs {
    /// Also remove what the source does not list: for a file, the credentials, jump hosts
    /// and devices of the sections it has (a file without `credentials:` keeps every
    /// stored credential); for NetBox, the devices an earlier sync brought. A removed
    /// device keeps its history and is never targeted again. Tags are never removed.
    #[arg(long)]
    pub prune: bool,
    /// Print what would be added, changed (which fields) and removed; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The exit codes of `inventory import` and `inventory sync`.
const IMPORT_EXIT: &str = "\
Exit codes:
  0  imported; or, with --dry-run, the file is valid (whatever it would change)
  1  error: database or NetBox unreachable, NetBox refused the token or sent a bad page
  2  usage error: the command line is wrong
  10 the inventory has problems (each listed): nothing was changed";

#[derive(Subcommand)]
pub enum SyncCommand {
    /// Devices from NetBox's REST API (`/api/dcim/devices/`): name, primary IP, platform
    /// slug, tags, site and role (as `site:<slug>`, `role:<slug>` tags), the `active` ones.
    #[command(after_help = IMPORT_EXIT)]
    Netbox {
        /// NetBox's base URL (`https://netbox.example.net`).
        #[arg(long, value_name = "URL")]
        url: String,
        /// The environment variable that holds the API token.
        #[arg(long, value_name = "NAME", required_unless_present = "token_file")]
        token_env: Option<String>,
        /// A file that holds the API token.
        #[arg(long, value_name = "FILE", conflicts_with = "token_env")]
        token_file: Option<PathBuf>,
        /// A NetBox platform slug and the NetRaven platform it is (repeatable):
        /// `--platform-map ios-xe=cisco_xe`.
        #[arg(long = "platform-map", value_name = "SLUG=NAME", value_parser = slug_map)]
        platform_map: Vec<(String, String)>,
        /// The device statuses synced (repeatable).
        #[arg(long = "status", value_name = "STATUS", default_value = "active")]
        statuses: Vec<String>,
        /// Devices asked for per page (NetBox's `limit`).
        #[arg(long, value_name = "N", default_value_t = 250,
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        page_size: u32,
        /// The most pages read; more is an error.
        #[arg(long, value_name = "N", default_value_t = 1000,
              value_parser = clap::value_parser!(u32).range(1..))]
        max_pages: u32,
        /// Seconds each request may take.
        #[arg(long, value_name = "SECS", default_value_t = 30,
              value_parser = clap::value_parser!(u64).range(1..=600))]
        timeout_secs: u64,
        /// PEM CA certificates to trust besides the system's.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        #[command(flatten)]
        sync: SyncArgs,
        #[command(flatten)]
        out: OutputArgs,
    },
}

fn slug_map(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((slug, name)) if !slug.trim().is_empty() && !name.trim().is_empty() => {
            Ok((slug.trim().to_string(), name.trim().to_string()))
        }
        _ => Err("give SLUG=NAME (`ios-xe=cisco_xe`)".into()),
    }
}

#[derive(Subcommand)]
pub enum CredentialCommand {
    /// Every credential: priority, tags, its success rate over the last `--window` beside
    /// its lifetime rate (a credential that just broke is marked), last use.
    List {
        /// The recent window (`24h`, `2d`, `90min`).
        #[arg(long, value_name = "AGE", default_value = "24h", value_parser = parse_age)]
        window: std::time::Duration,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Stop trying the credential: jobs dispatched from now on skip it (tasks already
    /// sent may still try it). Its secret, tags and history stay; `inventory import` does
    /// not enable it again.
    #[command(after_help = CREDENTIAL_EXIT)]
    Disable {
        name: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Try a disabled credential again, from the next job dispatched.
    #[command(after_help = CREDENTIAL_EXIT)]
    Enable {
        name: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Delete the credential with its sealed secret and tags. Its past login attempts and
    /// the results it logged in for stay, still named. Take it out of the inventory file
    /// too: the next import would bring it back, as a new credential.
    #[command(after_help = CREDENTIAL_EXIT)]
    Remove {
        name: String,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// The exit codes of `credential disable`, `enable` and `remove`.
const CREDENTIAL_EXIT: &str = "\
Exit codes:
  0  done, or nothing to do (already disabled, enabled or removed)
  1  error: no such credential, database unreachable, bad configuration
  2  usage error: the command line is wrong";

#[derive(Subcommand)]
pub enum DeviceCommand {
    /// Every device: platform, tags, last outcome, last good backup. `--stale 26h` keeps
    /// the devices whose last good backup is older than that, or that never had one.
    List {
        /// Only devices whose last successful backup is older than this (`26h`, `2d`,
        /// `90min`), or that never had one.
        #[arg(long, value_name = "AGE", value_parser = parse_age)]
        stale: Option<std::time::Duration>,
        /// Only devices with this tag (repeatable: any of them).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Only devices of this platform (repeatable: any of them; a name or an alias).
        #[arg(long = "platform", value_name = "PLATFORM")]
        platforms: Vec<String>,
        /// Only devices whose last outcome is this (repeatable: any of them): SUCCESS,
        /// AUTH_FAILED, UNREACHABLE, ..., or `none` for devices with no result yet.
        #[arg(long = "outcome", value_name = "OUTCOME", value_parser = outcome_filter)]
        outcomes: Vec<String>,
        /// List the devices removed from the inventory (by `--prune`) instead.
        #[arg(long)]
        removed: bool,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Platform, host, tags, last outcome, the credential that worked last, the latest
    /// config hash and when it changed, the pinned host key, and recent jobs.
    Show {
        name: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// The credentials a job would try on the device, in order (the one that last logged
    /// in first, then priority, then id, up to the cap), and every other credential with
    /// why it is left out: no shared tag, disabled, beyond the cap.
    Credentials {
        name: String,
        /// Show the order under this cap (a job's `limits.max_credentials_per_device`)
        /// instead of `dispatcher.max_credentials_per_device`.
        #[arg(long, value_name = "N", value_parser = max_credentials())]
        max: Option<u32>,
        /// The recent window of the per-device success counts (`24h`, `2d`, `90min`).
        #[arg(long, value_name = "AGE", default_value = "24h", value_parser = parse_age)]
        window: std::time::Duration,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Pin, forget and list devices' host keys, so that `strict` checking can be the policy.
    #[command(subcommand, name = "host-key")]
    HostKey(HostKeyCommand),
    /// The device's configuration versions, newest first: number, SHA-256, first and last
    /// seen, the job that stored it, size, lines added and removed against the one before.
    #[command(after_help = HISTORY_EXIT)]
    Configs {
        name: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// One configuration version's text (the latest by default), as stored: redirect it to
    /// a file. On a terminal, control characters are shown escaped.
    #[command(after_help = HISTORY_EXIT)]
    Config {
        name: String,
        /// This version number.
        #[arg(long, value_name = "N", conflicts_with = "at")]
        version: Option<i32>,
        /// The version the device had at this time (RFC 3339: 2026-11-30T22:00:00Z).
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        at: Option<DateTime<Utc>>,
        /// Write the exact bytes the device sent (they differ from the text only when the
        /// device sent a NUL or bytes that are not UTF-8), even on a terminal.
        #[arg(long, conflicts_with_all = ["escape", "json"])]
        raw: bool,
        /// Show control characters escaped even when stdout is not a terminal (`| less`).
        #[arg(long, conflicts_with = "json")]
        escape: bool,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// A unified diff between two versions: by default the latest against the one before;
    /// FROM alone is compared with the latest. FROM and TO are version numbers, `latest`,
    /// or times (RFC 3339: the version the device had then).
    #[command(after_help = HISTORY_EXIT)]
    Diff {
        name: String,
        #[arg(value_parser = VersionRef::parse)]
        from: Option<VersionRef>,
        #[arg(value_parser = VersionRef::parse)]
        to: Option<VersionRef>,
        /// Lines of context around each change.
        #[arg(long, value_name = "N", default_value_t = 3)]
        context: usize,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// The exit codes of the history commands.
const HISTORY_EXIT: &str = "\
Exit codes:
  0  success
  1  error: no such device, database unreachable, bad configuration
  2  usage error: the command line is wrong
  9  no such version: the device has no version N, none at --at TIME, or no configuration yet";

/// `netraven config grep`.
#[derive(Args)]
pub struct GrepArgs {
    /// A POSIX regular expression (PostgreSQL's advanced syntax), matched against each
    /// line of the devices' latest configurations: `^` and `$` are the ends of a line.
    pub pattern: String,
    /// Only devices with this tag (repeatable: any of them).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Ignore case.
    #[arg(short = 'i', long)]
    pub ignore_case: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}

#[derive(Subcommand)]
pub enum HostKeyCommand {
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
pub struct PruneArgs {
    /// Prune finished jobs, logs and login attempts older than this (default:
    /// aggregator.retention_days).
    #[arg(long, value_parser = days())]
    pub older_than_days: Option<u32>,
    /// Keep each device's this many newest configuration versions (default:
    /// aggregator.config_retention_versions; the latest is always kept).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_config_versions: Option<u32>,
    /// Keep every configuration version seen within this many days (default:
    /// aggregator.config_retention_days).
    #[arg(long, value_parser = days())]
    pub config_older_than_days: Option<u32>,
    /// Count what would be pruned; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// An outcome's name (any case) or `none`, as stored.
fn outcome_filter(s: &str) -> Result<String, String> {
    let upper = s.trim().to_ascii_uppercase();
    if upper == "NONE" {
        return Ok(upper);
    }
    upper
        .parse::<netraven_shared::domain::Outcome>()
        .map(|_| upper.clone())
        .map_err(|_| {
            format!("{s:?} is not an outcome (SUCCESS, AUTH_FAILED, UNREACHABLE, TIMEOUT, HOST_KEY_MISMATCH, COMMAND_FAILED, NO_CREDENTIALS, DEAD_LETTERED, LOST, INTERNAL_ERROR, or none)")
        })
}

/// An age such as `26h`, `2d` or `90min` (humantime's syntax).
fn parse_age(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (an age such as 26h, 2d or 90min)"))
}

/// A cap a job may ask for: 1 to 32.
fn max_credentials() -> clap::builder::RangedI64ValueParser<u32> {
    use netraven_dispatcher::dispatch::plan::MAX_CREDENTIALS_PER_DEVICE;
    clap::value_parser!(u32).range(1..=i64::from(MAX_CREDENTIALS_PER_DEVICE))
}

/// A number of days a cutoff can be made of: 0 to 100 years.
fn days() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(0..=i64::from(netraven_shared::config::MAX_RETENTION_DAYS))
}
