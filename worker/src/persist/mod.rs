//! Every statement the worker runs against Postgres, with one retry policy for its writes.
//!
//! Files: `connection.rs` (session settings, prepared statements, the retry policy),
//! `claims.rs` (which copy of a task holds its device), `configs.rs` (configuration
//! versions), `pins.rs` (host-key pins in
//! group commit), `outputs.rs` (command outputs),
//! `results.rs` (a batch of finished devices in one transaction), `logins.rs` (the fleet's
//! login leases) and `key_reports.rs` (the key ids this worker holds).

mod claims;
mod configs;
mod connection;
mod key_reports;
mod logins;
mod outputs;
mod pins;
mod results;

pub use claims::{claim_rows, Claim, ClaimRow, Claimer};
pub use connection::{refusal, SESSION_OPTIONS};
pub use key_reports::{forget_day_old_key_reports, remove_key_report, report_keys};
pub use logins::{release_login, take_login, FleetCaps};
pub use outputs::store_command_outputs;
pub use pins::Pinner;
pub use results::{record_results, Claimed, Written};
