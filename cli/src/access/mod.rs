//! `netraven broker setup`: one broker account per role with only the permissions it
//! needs, and the topology, as a RabbitMQ definitions file applied with `rabbitmqctl
//! import_definitions` (or printed, for the operator to apply).
//!
//! RabbitMQ checks three permissions, each a regular expression over resource names in a
//! virtual host: *configure* (declare, delete), *write* (publish to an exchange; bind a
//! queue, on the queue) and *read* (consume or get from a queue; bind, on the exchange).
//! The default exchange is the resource `amq.default`; server-named exclusive queues are
//! `amq.gen-…`. No role gets configure on a namespace resource (it would let it delete the
//! queue), so the topology is declared here and the roles run with
//! `amqp.declare_topology = false`.
//!
//! Passwords are read from files or environment variables named on the command line and go
//! into the definitions only as RabbitMQ password hashes (salted SHA-256).
//!
//! | module | owns |
//! |---|---|
//! | [`roles`] | the roles and the permissions each needs |
//! | [`accounts`] | the accounts asked for and their passwords; `setup` |
//! | [`definitions`] | an account, the definitions document, password hashes, `rabbitmqctl import_definitions` |

pub mod accounts;
pub mod definitions;
pub mod roles;

pub use accounts::{accounts, setup, PasswordSource, SetupArgs};
pub use definitions::{apply, definitions, password_hash, vhost, Account};
pub use roles::{permissions, Permissions, Role};
