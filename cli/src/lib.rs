//! The `netraven` command line: every role as a subcommand, plus admin and demo commands.
//! The binary (`main.rs`) only parses arguments and calls [`commands::run`].
//!
//! | module | owns |
//! |---|---|
//! | [`args`] | the command line's shape: every subcommand and flag (clap) |
//! | [`commands`] | what each command does once parsed: the glue to the modules below |
//! | [`exit`] | the exit codes, one table for `--help`, the README and docs/messages.md |
//! | [`output`] | data to stdout, `--color`/`NO_COLOR`, a closed pipe as a quiet end |
//! | [`access`] | `netraven broker setup`: an account per role with least privilege, as RabbitMQ definitions |
//! | [`inventory`] | `netraven inventory import` (the whole file checked first) and `inventory platforms` |
//! | [`bench`] | `netraven bench`: the figures of docs/performance.md, measured here |
//! | [`client`] | `netraven job submit`: publishing a job request and waiting for its events |
//! | [`dead_letters`] | `netraven dead list` and `dead replay`: the dead-letter queue, read without loss, replayed with confirms |
//! | [`export`] | `netraven export git`: the configuration history as a git repository, a commit per job |
//! | [`credentials`] | `netraven credential disable`, `enable` and `remove`: a credential's life after import |
//! | [`host_keys`] | `netraven device host-key pin`, `forget` and `list`: host keys pinned from `known_hosts` files or fingerprints |
//! | [`processes`] | the roles as child processes, started and stopped as in production |
//! | [`demo_summary`] | the demo's summary: what a job did, and the credential counters |
//! | [`views`] | `job show/list/results/logs/watch`, `credential list`, `device show`, `schedule list/show`, `prune`: tables and `--json` |
//! | [`secrets`] | `netraven secrets init`, `add-key`, `reseal`, `retire`, `rotate`: the sealing key ring and its rotation |
//! | [`signing`] | `netraven signing init` and `public`: the keys that sign device tasks and results |
//! | [`services`] | making sure Postgres and RabbitMQ are installed and running |
//! | [`demo`] | `netraven demo`: a whole fleet end to end on this machine |

pub mod access;
pub mod args;
pub mod bench;
pub mod client;
pub mod commands;
pub mod credentials;
pub mod dead_letters;
pub mod demo;
pub mod demo_summary;
pub mod exit;
pub mod export;
pub mod host_keys;
pub mod inventory;
pub mod output;
pub mod processes;
pub mod secrets;
pub mod services;
pub mod signing;
pub mod views;
