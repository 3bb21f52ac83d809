//! The end-to-end suite, one test binary (`e2e`): one module per area, on real Postgres,
//! RabbitMQ and simulated SSH devices, with the harness of `netraven_tests`.
//!
//! One binary because each test binary links the whole workspace: sixteen of them made
//! most of a cold CI run link time. nextest still runs each test in its own process.
//!
//! | module | what it tests |
//! |---|---|
//! | [`aaa`] | one AAA budget per credential over every worker; a dead worker's share comes back |
//! | [`aggregator`] | each device counted once, however the broker repeats |
//! | [`bounds`] | request size limits, deadlines inside the broker's, the pool, a 20,000-device job's memory |
//! | [`broker_faults`] | RabbitMQ faults on nodes of the test's own: failover, alarm, frozen node or worker |
//! | [`broker_acl`] | an account per role; RabbitMQ refuses what a role may not do |
//! | [`cancel`] | a job cancelled mid-way: what has not started is skipped, never contacted |
//! | [`cli`] | the `netraven` binary as operators use it |
//! | [`cloud_events`] | events carry CloudEvents attributes; ids unique, and kept by a republished event |
//! | [`console`] | the web console in headless Chromium (login, a job live, a diff, revocation) and over HTTP (CSRF, device filters, cancel) |
//! | [`consumer_cancel`] | roles survive a broker-side consumer cancel |
//! | [`db_faults`] | Postgres blackholed, failed over, read-only, lost mid-resolution |
//! | [`dead`] | poison tasks dead-lettered and counted |
//! | [`deletions`] | deleting devices, credentials and jobs |
//! | [`deploy`] | the deploy files safe by default (kubernetes, compose, systemd); migrations |
//! | [`deploy_settings`] | every setting the deploy files name exists |
//! | [`dispatcher`] | the dispatcher's contract, refusals and final statuses |
//! | [`enable`] | enable secrets apart from the login; a refused enable tries the next credential |
//! | [`export`] | `netraven export git`: the history read back with the git CLI |
//! | [`faults`] | every simulator fault ends in its outcome, by fault family |
//! | [`freshness`] | the aggregator's backup freshness and schedule gauges, from seeded rows |
//! | [`forgery`] | forged or altered broker messages open no secret, change no job |
//! | [`health`] | `/readyz` tells the truth; a result Postgres refuses is dead-lettered |
//! | [`host_keys`] | pins, strict host keys and `ssh-rsa` signatures |
//! | [`inventory`] | `inventory import` checks the whole file first; platform aliases |
//! | [`inventory_sync`] | `--prune` and `--dry-run`, export round trip, removed devices keep their history, NetBox sync |
//! | [`jumps`] | devices behind SSH jump hosts: shared connections, the cap, chains, per-hop failures |
//! | [`keys`] | key credentials: every key format, key-only, password-only and mixed devices, OpenSSH's sshd |
//! | [`lanes`] | small and high-priority jobs overtake a large one in the interactive lane |
//! | [`operations`] | metrics, a real Prometheus scrape, alert rules, the deploy files' commands |
//! | [`permissions`] | dangerous requests need permission |
//! | [`pins`] | host-key pins in group commit |
//! | [`pipeline`] | the whole pipeline against the simulator's ground truth |
//! | [`poison`] | one poison device stays one: hostile output stored faithfully, refused rows split out |
//! | [`retries`] | transient failures tried again with backoff; `job rerun --failed` |
//! | [`role_kills`] | the dispatcher and the aggregator killed with SIGKILL mid-job: each device once |
//! | [`rotation`] | rotating the sealing key mid-job |
//! | [`scheduler`] | schedules fired by the dispatchers: one job per tick, catch-up, overlap, daylight saving |
//! | [`schedules`] | `netraven schedule`: add, list, show, pause, resume, remove, apply, export |
//! | [`secrets`] | no plaintext secret leaves a worker |
//! | [`shutdown`] | graceful shutdown of a worker process mid-job |
//! | [`ssh_rules`] | devices past SSH's rules: packets over the advertised maximum cut off, a command killed by a signal never stored |
//! | [`tls`] | TLS on every link |
//! | [`unix_cli`] | `netraven` as a Unix tool: pipes, exit codes, stdout and stderr, colour |
//! | [`views`] | what people and scripts see |
//! | [`worker_kill`] | workers killed with SIGKILL mid-job lose and double nothing |
//! | [`restarts`] | RabbitMQ and Postgres restarted mid-job: disruptive, run alone last |
//! | [`hostile`] | 2,000 hostile devices finish within the device deadline: run alone last |
//!
//! `restarts::` and `hostile::` stop shared services or load the machine for minutes:
//! .config/nextest.toml and scripts/test select them by these module names.

mod aaa;
mod aggregator;
mod api;
mod bounds;
mod broker_acl;
mod broker_faults;
mod cancel;
mod claims;
mod cli;
mod cloud_events;
mod console;
mod consumer_cancel;
mod db_faults;
mod dead;
mod deletions;
mod deploy;
mod deploy_settings;
mod dispatcher;
mod enable;
mod export;
mod faults;
mod forgery;
mod freshness;
mod health;
mod history;
mod host_keys;
mod hostile;
mod inventory;
mod inventory_sync;
mod jumps;
mod keys;
mod lanes;
mod operations;
mod permissions;
mod pins;
mod pipeline;
mod plans;
mod poison;
mod restarts;
mod retries;
mod role_kills;
mod rotation;
mod scheduler;
mod schedules;
mod secrets;
mod shutdown;
mod ssh_rules;
mod tls;
mod unix_cli;
mod views;
mod worker_kill;
