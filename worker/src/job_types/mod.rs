//! Job types, one per file, each with its wire name: what runs on a device.
//!
//! Files: `dispatch.rs` (which job types need a login, and running those that do),
//! `drive.rs` (running commands on a logged-in device), and one file per job type:
//! `config_backup.rs`, `command.rs`, `reachability.rs`.

pub mod command;
pub mod config_backup;
mod dispatch;
mod drive;
pub mod reachability;

pub use dispatch::{run_logged_in, LoggedInJob, Work};
pub use drive::{run_commands, Device, Ran};
