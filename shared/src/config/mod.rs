//! The typed settings: built-in defaults → a TOML file → `NETRAVEN__SECTION__KEY` variables.
//!
//! Unknown keys are errors, and so are invalid values; both name the key. Every duration
//! carries its unit in its name. Secrets are [`SecretString`](secrecy::SecretString)s,
//! masked by [`Settings::show`].
//!
//! Files: `settings.rs` (the tree, its loading and [`Settings::show`]), one file per section (`database.rs`,
//! `amqp.rs`, `deadlines.rs` (device deadlines inside the broker's consumer timeout),
//! `secrets.rs` with `[signing]`, `logging.rs`, `dispatcher.rs` with the submitters,
//! `worker.rs`, `aggregator.rs`, `api.rs`, `health.rs`), `validate.rs` (what no type checks) and
//! `mask.rs` (secrets hidden from what is shown, [`mask_url`]).

mod aggregator;
mod amqp;
mod api;
mod database;
mod deadlines;
mod dispatcher;
mod health;
mod logging;
mod mask;
mod secrets;
mod settings;
mod validate;
mod worker;

#[cfg(test)]
mod load_tests;
#[cfg(test)]
mod mask_tests;

pub use aggregator::{AggregatorSettings, MAX_RETENTION_DAYS};
pub use amqp::AmqpSettings;
pub use api::ApiSettings;
pub use database::DatabaseSettings;
pub use deadlines::{DeadlineFit, AFTER_DEADLINE_MS, MAX_DEVICE_DEADLINE_MS};
pub use dispatcher::{anchored, DispatcherSettings, SubmitterSettings};
pub use health::HealthSettings;
pub use logging::LogSettings;
pub use mask::mask_url;
pub use secrets::{SecretSettings, SigningSettings};
pub use settings::{Settings, CONFIG_FILE_ENV, ENV_PREFIX};
pub use worker::WorkerSettings;
