//! The end-to-end test harness: every test gets its own Postgres database (cloned from a
//! migrated template) and its own RabbitMQ namespace, runs the real roles in-process or
//! as processes, and talks to simulated SSH devices. What a test sets up it does not tear
//! down by hand: each piece cleans up in `Drop`, whether the test passes or fails.
//!
//! | module | what it gives a test |
//! |---|---|
//! | [`cluster`] | RabbitMQ nodes of a test's own: one, or a cluster of three |
//! | `env` | [`TestEnv`]: a fresh database, a broker namespace, keys, settings pointing at them |
//! | `captured` | [`Captured`]: every role's log at TRACE, for a test to search |
//! | `database` | the migrated template the databases are cloned from; dropping one |
//! | `fixtures` | [`FleetBuilder`], [`credential`], [`expected_outcomes`] and the [`logins`] devices saw |
//! | `request` | [`request`]: a job request for tags or devices |
//! | `roles` | [`Roles`] in-process until dropped; a [`CrashingWorker`] |
//! | `spy` | [`Spy`]: a private queue on an exchange, or a `reply_to` inbox |
//! | `process` | [`sh`] and the build's [`netraven_binary`] |
//! | [`proxy`] | a TCP proxy that forwards, blackholes, drops or refuses every connection |
//! | [`standby`] | a Postgres primary and its streaming replica of the test's own, and failover |
//! | [`tls`] | a test CA and TLS-terminating proxies in front of RabbitMQ and Postgres |
//! | [`sshd`] | OpenSSH's server of the test's own (keys, jump host) and client keys from `ssh-keygen` |
//!
//! A service that cannot be reached fails the test with the command that starts it.

pub mod cluster;
pub mod proxy;
pub mod sshd;
pub mod standby;
pub mod tls;

mod captured;
mod database;
mod env;
mod fixtures;
mod process;
mod request;
mod roles;
mod spy;

pub use captured::Captured;
pub use database::{DB_PREFIX, POSTGRES};
pub use env::{TestEnv, RABBITMQ};
pub use fixtures::{
    credential, expected_outcomes, logins, recorded_logins, runs, Credential, FleetBuilder, Logins,
    Outcomes,
};
pub use process::{netraven_binary, sh, RoleProcess};
pub use request::request;
pub use roles::{CrashingWorker, DeadLetteredJob, Roles};
pub use spy::Spy;
