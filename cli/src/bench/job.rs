//! A whole config_backup job through every role, as processes: dispatcher, aggregator and
//! workers, RabbitMQ and Postgres, against the simulated fleet.

use super::scratch::Scratch;
use crate::processes::{role_env, Role, RunKeys};
use crate::{client, inventory};
use anyhow::{Context, Result};
use netraven_dispatcher::job_rows as jobs;
use netraven_shared::config::Settings;
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{self, JobRequest, Limits, Targets};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How the roles run.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub workers: usize,
    pub max_in_flight: u16,
    /// Settings of the roles beyond the bench's own, as `NETRAVEN__…` variables.
    pub env: &'static [(&'static str, &'static str)],
}

/// One job's figures.
#[derive(Debug, Clone)]
pub struct Run {
    pub devices: i64,
    pub succeeded: i64,
    pub status: JobStatus,
    /// From the job's creation to its final status, as recorded in Postgres.
    pub took: Duration,
    /// Highest resident set size of any worker while the job ran, and before it.
    pub worker_peak_rss_kib: u64,
    pub worker_idle_rss_kib: u64,
    /// CPU seconds each group of processes spent while the job ran.
    pub cpu: std::collections::BTreeMap<String, f64>,
    pub job_id: uuid::Uuid,
    /// From the job's creation to its first login attempt, and from its last device's
    /// finish to its final status: the part of `took` the devices did not fill.
    pub start: Duration,
    pub tail: Duration,
    /// What the job did to the stored configurations.
    pub configs: Configs,
    /// Write-ahead log Postgres wrote while the job ran (the whole cluster's: the bench
    /// runs alone), and how much the scratch database grew.
    pub wal_bytes: f64,
    pub db_growth_bytes: f64,
}

impl Run {
    /// The run, when every device was backed up; else what happened.
    pub fn complete(self) -> Result<Run> {
        anyhow::ensure!(
            self.succeeded == self.devices,
            "{} of {} devices backed up: {}",
            self.succeeded,
            self.devices,
            self.status
        );
        Ok(self)
    }
}

/// What one job did to the stored configurations.
#[derive(Debug, Clone, Copy, Default)]
pub struct Configs {
    /// `device_configs` rows after the job less those before it.
    pub rows_added: i64,
    /// Devices whose result says NEW or CHANGED: versions the job stored.
    pub new_versions: i64,
    /// Devices whose result says UNCHANGED.
    pub unchanged: i64,
}

/// The roles of one benchmark, started against a scratch database and namespace.
pub struct Stage {
    pub scratch: Scratch,
    roles: Vec<Role>,
    workers: Vec<u32>,
    /// Simulator processes, when the fleet runs in children (their CPU is counted apart).
    simulators: Vec<u32>,
    logs: tempfile::TempDir,
}

impl Stage {
    /// Imports the fleet's inventories and starts the roles. `simulators` are the
    /// processes serving the fleet, if it is not served by this one.
    pub async fn new(
        base: &Settings,
        label: &str,
        inventories: &[PathBuf],
        simulators: Vec<u32>,
        shape: Shape,
    ) -> Result<Stage> {
        let scratch = Scratch::new(base, label).await?;
        let logs = tempfile::tempdir()?;
        let keys = RunKeys::generate()?;
        let keyring = keys.keyring()?;
        let profiles = netraven_worker::platform::Profiles::load(
            scratch.settings.worker.profiles_dir.as_deref(),
        )?;
        for path in inventories {
            inventory::import(&mut scratch.pool.get().await?, &keyring, path, &profiles).await?;
        }
        let mut env = role_env(&scratch.settings, &keys);
        env.push((
            "NETRAVEN__WORKER__MAX_IN_FLIGHT".into(),
            shape.max_in_flight.to_string(),
        ));
        env.push(("NETRAVEN__LOG__LEVEL".into(), "warn".into()));
        env.extend(
            shape
                .env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let mut roles = vec![
            Role::spawn("dispatcher", "dispatcher", &env, logs.path())?,
            Role::spawn("aggregator", "aggregator", &env, logs.path())?,
        ];
        let mut workers = Vec::new();
        for i in 0..shape.workers {
            let role = Role::spawn("worker", &format!("worker-{i}"), &env, logs.path())?;
            workers.push(role.pid());
            roles.push(role);
        }
        // Let every role connect and declare its consumers before the clock starts.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        Ok(Stage {
            scratch,
            roles,
            workers,
            simulators,
            logs,
        })
    }

    /// The role processes, grouped by role, for CPU accounting.
    fn groups(&self) -> super::cpu::Groups {
        let roles = self.roles.iter().map(|r| {
            let group = r.name.split('-').next().unwrap_or(&r.name).to_string();
            (group, r.pid())
        });
        let simulators = self
            .simulators
            .iter()
            .map(|p| ("simulator".to_string(), *p));
        super::cpu::Groups {
            roles: roles.chain(simulators).collect(),
        }
    }

    fn worker_rss_kib(&self) -> u64 {
        self.workers
            .iter()
            .filter_map(|pid| rss_kib(*pid))
            .max()
            .unwrap_or(0)
    }

    /// Submits a backup of every device and follows it to its final status.
    pub async fn run(&self, timeout: Duration) -> Result<Run> {
        self.run_job(&["fleet"], Limits::default(), timeout).await
    }

    /// Submits a backup of the devices with any of `tags` and follows it to its final
    /// status.
    pub async fn run_job(&self, tags: &[&str], limits: Limits, timeout: Duration) -> Result<Run> {
        let idle = self.worker_rss_kib();
        let client = self.scratch.pool.get().await?;
        // Counted outside the CPU window, so that the count costs the job nothing.
        let rows_before = config_rows(&client).await?;
        let storage_before = client
            .query_one(
                "SELECT pg_current_wal_lsn()::text, pg_database_size(current_database())",
                &[],
            )
            .await?;
        let (lsn_before, size_before): (String, i64) =
            (storage_before.get(0), storage_before.get(1));
        let groups = self.groups();
        let cpu_before = groups.sample();
        let request = JobRequest {
            version: messages::VERSION,
            request_id: format!("bench-{}", uuid::Uuid::new_v4()),
            job_type: "config_backup".into(),
            targets: Targets {
                tags: tags.iter().map(|t| t.to_string()).collect(),
                ..Targets::default()
            },
            commands: Vec::new(),
            limits,
            submitted_by: None,
            priority: None,
        };
        let reply = client::submit(
            &self.scratch.settings.amqp,
            &request,
            false,
            Duration::from_secs(60),
        )
        .await?;
        let job_id = reply.reply.job_id.context("the reply names no job")?;
        let until = Instant::now() + timeout;
        let mut peak = idle;
        let view = loop {
            peak = peak.max(self.worker_rss_kib());
            let view = jobs::get(&client, job_id).await?.context("job vanished")?;
            if view.counts.status.is_final() {
                break view;
            }
            anyhow::ensure!(
                Instant::now() < until,
                "the job did not finish within {timeout:?}; logs in {}",
                self.logs.path().display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let cpu = cpu_before.until(&groups.sample());
        let finished = view.finished_at.unwrap_or(view.created_at);
        let edges = client
            .query_one(
                "SELECT (SELECT min(attempted_at) FROM credential_attempts WHERE job_id = $1),
                        (SELECT max(finished_at) FROM job_results WHERE job_id = $1)",
                &[&job_id],
            )
            .await?;
        let between = |from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>| {
            (to - from).to_std().unwrap_or_default()
        };
        let first_login: Option<chrono::DateTime<chrono::Utc>> = edges.get(0);
        let last_device: Option<chrono::DateTime<chrono::Utc>> = edges.get(1);
        let changes = client
            .query_one(
                "SELECT count(*) FILTER (WHERE config_change IN ('NEW', 'CHANGED')),
                        count(*) FILTER (WHERE config_change = 'UNCHANGED')
                 FROM job_results WHERE job_id = $1",
                &[&job_id],
            )
            .await?;
        let storage = client
            .query_one(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)::float8,
                        pg_database_size(current_database())",
                &[&lsn_before],
            )
            .await?;
        let (wal_bytes, size_after): (f64, i64) = (storage.get(0), storage.get(1));
        let configs = Configs {
            rows_added: config_rows(&client).await? - rows_before,
            new_versions: changes.get(0),
            unchanged: changes.get(1),
        };
        Ok(Run {
            devices: view.counts.total_devices,
            succeeded: view.counts.succeeded_devices,
            status: view.counts.status,
            took: (finished - view.created_at).to_std().unwrap_or_default(),
            worker_peak_rss_kib: peak,
            worker_idle_rss_kib: idle,
            cpu,
            job_id,
            start: first_login.map_or(Duration::ZERO, |t| between(view.created_at, t)),
            tail: last_device.map_or(Duration::ZERO, |t| between(t, finished)),
            configs,
            wal_bytes,
            db_growth_bytes: (size_after - size_before) as f64,
        })
    }

    /// Stops the roles with SIGTERM and removes the scratch database.
    pub async fn finish(mut self) -> Result<()> {
        for role in &mut self.roles {
            role.stop(Duration::from_secs(30))?;
        }
        self.scratch.remove().await
    }
}

/// How many configuration rows are stored.
async fn config_rows(client: &deadpool_postgres::Client) -> Result<i64> {
    let row = client
        .query_one("SELECT count(*) FROM device_configs", &[])
        .await?;
    Ok(row.get(0))
}

/// VmRSS of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
