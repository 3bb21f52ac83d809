//! Everything two or more NetRaven roles need, and nothing else.
//!
//! | module | owns |
//! |---|---|
//! | [`domain`] | job types, per-device outcomes, job statuses, host-key policies |
//! | [`messages`] | the wire contract: job requests, device tasks, task results, job events, replies |
//! | [`config`] | the typed settings, loaded from defaults, a TOML file and `NETRAVEN__*` variables |
//! | [`role`] | what every role does first: health server, Postgres, RabbitMQ |
//! | [`sealing`] | the AEAD key ring that seals device secrets at rest and in flight |
//! | [`signing`] | Ed25519 signatures on device tasks and results, and the keys that check them |
//! | [`db`] | the Postgres pool, every Postgres connection (TLS per libpq's `sslmode`) and the schema migrations |
//! | [`libpq`] | the TLS parameters of a database URL, as libpq names them (`sslmode`, `sslrootcert`, …) |
//! | [`tls`] | the rustls client configurations of the broker and Postgres links |
//! | [`broker`] | RabbitMQ connection, topology (exchanges, quorum queues, dead letters) and confirmed publishing |
//! | [`telemetry`] | logging, the Prometheus registry and the `/metrics` + `/healthz` server |
//! | [`schedule`] | schedules: their definition and checks, their calendar, what is due when |
//! | [`shutdown`] | the one shutdown signal fanned out to every task |
//! | [`retry`] | the one backoff (exponential, capped, with jitter) every retry uses |
//! | [`transient`] | the one rule, per service, for whether an error may go away by itself |
//! | [`text`] | device-sourced text made safe to show: every control character escaped |
//! | [`error`] | the crate's error type |

pub mod broker;
pub mod config;
pub mod db;
mod db_connect;
mod db_frames;
pub mod domain;
pub mod error;
pub mod libpq;
pub mod messages;
pub mod retry;
pub mod role;
pub mod schedule;
pub mod sealing;
pub mod shutdown;
pub mod signing;
pub mod telemetry;
pub mod text;
pub mod tls;
pub mod transient;

pub use error::{Error, Result, Unsealable};
pub use transient::Transient;
