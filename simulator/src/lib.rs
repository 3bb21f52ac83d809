//! An SSH device fleet simulator: thousands of stand-in routers for tests, demos and
//! benchmarks, built on the russh server.
//!
//! ```text
//! scenario("mixed", n, seed) ──▶ FleetSpec ──Fleet::start──▶ one listener per device
//!                                                              │ russh handler
//!   Fleet::attempts / commands / expected_config ◀── ground truth (per-device locks)
//! ```
//!
//! Modules:
//! - [`spec`] — [`Platform`], [`CredentialSpec`], [`DeviceSpec`], [`FleetSpec`],
//!   [`FleetOptions`].
//! - [`fault`] — [`Fault`]: what a device does wrong, chosen per device by name.
//! - [`latency`] — [`Latency`]: how slowly a device answers (round trip, AAA accept and
//!   reject, think time, output rate), as across a real network.
//! - [`scenario`](mod@scenario) — ready-made fleets (`all-good`, `mixed`, `multi-vendor`,
//!   `hostile`) and their proportions.
//! - [`scenario_file`] — fleets described in YAML (groups with count or fraction, platform,
//!   accepted credentials, fault, config size).
//! - [`fleet`] — [`Fleet`] (start, shutdown) and [`RunningDevice`]; `queries` — its
//!   ground-truth queries and [`DeviceReport`]s.
//! - `server` — the russh config per fault, accept loop, per-connection handler (auth,
//!   channels) and misbehaving output.
//! - `shell` and `platform` — what a device answers on exec channels and PTY shells.
//! - [`config_gen`] — deterministic running configs with secret-bearing lines, and the
//!   lines `cisco_ios` prints anew in every session (time, `ntp clock-period`).
//! - [`drift`] — epochs at which a share of the fleet changes its configuration, and
//!   their ground truth.
//! - [`ground_truth`] — [`LoginAttempt`] and the per-device record.
//! - [`inventory`] — the YAML file `netraven inventory import` reads.
//! - [`control`] — optional HTTP endpoint over a shared fleet (`/devices`, `/attempts`,
//!   `/truth`, `/drift`).
//! - [`error`] — [`SimError`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), netraven_simulator::SimError> {
//! use netraven_simulator::{scenario, Fleet, FleetOptions};
//! let fleet = Fleet::start(scenario("mixed", 100, 42)?, FleetOptions::random_base()).await?;
//! let first = &fleet.devices()[0];
//! println!("ssh -p {} netops@{}", first.port, first.host);
//! fleet.shutdown().await;
//! # Ok(()) }
//! ```

pub mod aaa;
pub mod bastion;
pub mod config_gen;
pub mod control;
mod device;
pub mod drift;
pub mod error;
pub mod fault;
pub mod fleet;
pub mod ground_truth;
pub mod inventory;
pub mod latency;
mod platform;
mod queries;
pub mod scenario;
pub mod scenario_file;
mod seed;
mod server;
mod shell;
pub mod spec;

pub use aaa::AaaUser;
pub use bastion::{BastionReport, BastionSpec};
pub use control::{serve_control, serve_control_on};
pub use drift::{DeviceDrift, DriftChange, DriftEpoch};
pub use error::SimError;
pub use fault::Fault;
pub use fleet::{changed_host_key, host_key, Fleet, RunningDevice};
pub use ground_truth::{AuthMethod, DeviceReport, LoginAttempt};
pub use latency::Latency;
pub use platform::cisco_ios::INVALID_INPUT as IOS_INVALID_INPUT;
pub use platform::juniper_junos::MORE as JUNOS_MORE;
pub use platform::linux::CONFIG_COMMAND as LINUX_CONFIG_COMMAND;
pub use platform::{MORE, PAGE_LINES};
pub use scenario::scenario;
pub use server::MAX_AUTH_TRIES;
pub use spec::{CredentialSpec, DeviceSpec, FleetOptions, FleetSpec, Platform};
