//! `netraven inventory`, `credential`, `device` (with `host-key`) and `prune`.

use super::OutputArgs;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum InventoryCommand {
    /// Load tags, devices and credentials from a YAML file; importing again updates.
    Import { file: PathBuf },
}

#[derive(Subcommand)]
pub enum CredentialCommand {
    /// Every credential: priority, tags, successes, failures, success rate, last use.
    List {
        #[command(flatten)]
        out: OutputArgs,
    },
}

#[derive(Subcommand)]
pub enum DeviceCommand {
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

/// A number of days a cutoff can be made of: 0 to 100 years.
fn days() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(0..=i64::from(netraven_shared::config::MAX_RETENTION_DAYS))
}
