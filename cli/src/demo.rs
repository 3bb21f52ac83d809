//! `netraven demo`: the whole system on this machine, end to end, in one command.
//!
//! Ensures Postgres and RabbitMQ, migrates a fresh `netraven_demo` database, serves a
//! simulated fleet, imports its inventory, starts the dispatcher, workers and aggregator
//! as child processes (the same binary, as in production), submits a job by message,
//! shows its progress and result, changes a tenth of the devices' configurations and backs
//! up again to show what changed, and stops everything.

use crate::processes::{self, Role};
use crate::{client, demo_summary, inventory, output, say, services};
use anyhow::{bail, Context, Result};
use netraven_dispatcher::job_rows as jobs;
use netraven_shared::broker::{self, Names};
use netraven_shared::config::Settings;
use netraven_shared::messages::{self, JobRequest, Limits, Targets};
use netraven_shared::{db, domain::JobStatus};
use netraven_simulator::{scenario, Fleet, FleetOptions};
use std::time::{Duration, Instant};

const DEMO_DATABASE: &str = "netraven_demo";
const DEMO_NAMESPACE: &str = "netraven-demo";

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Simulated devices.
    #[arg(long, default_value_t = 500)]
    pub devices: usize,
    /// Worker processes.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// all-good, mixed or multi-vendor.
    #[arg(long, default_value = "mixed")]
    pub scenario: String,
    /// First simulator port (taken ports are skipped).
    #[arg(long, default_value_t = 20000)]
    pub base_port: u16,
    /// Give up if the job has not finished after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout_secs: u64,
}

/// A progress line, on stderr: stdout carries the result alone.
fn step(n: usize, text: &str) {
    crate::note!("[{n}/7] {text}");
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

pub async fn run(settings: Settings, args: DemoArgs) -> Result<()> {
    let started = Instant::now();
    step(1, "checking PostgreSQL and RabbitMQ");
    services::ensure(&settings.database.url, &settings.amqp.url, |m| {
        crate::note!("      {m}")
    })?;

    step(2, &format!("creating a fresh database {DEMO_DATABASE:?}"));
    let demo_url = with_database(&settings.database.url, DEMO_DATABASE);
    let admin = db::connect(&with_database(&settings.database.url, "postgres")).await?;
    for sql in [
        format!("DROP DATABASE IF EXISTS {DEMO_DATABASE} WITH (FORCE)"),
        format!("CREATE DATABASE {DEMO_DATABASE}"),
    ] {
        admin
            .batch_execute(&sql)
            .await
            .context("cannot create the demo database")?;
    }
    let applied = db::migrate(&demo_url).await?;
    crate::note!("      migrated: {}", applied.join(", "));

    step(
        3,
        &format!(
            "serving {} simulated devices ({} scenario)",
            args.devices, args.scenario
        ),
    );
    let work_dir = std::env::temp_dir().join(format!("netraven-demo-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir)?;
    let fleet = Fleet::start(
        scenario(&args.scenario, args.devices, 42)?,
        FleetOptions {
            base_port: args.base_port,
            ..FleetOptions::default()
        },
    )
    .await?;
    let inventory_file = work_dir.join("inventory.yaml");
    fleet.write_inventory(&inventory_file)?;
    let keys = processes::RunKeys::generate()?;
    let keyring = keys.keyring()?;
    let mut demo_settings = settings.clone();
    demo_settings.database.url = demo_url.clone();
    demo_settings.amqp.namespace = DEMO_NAMESPACE.to_string();
    let pool = db::pool(&demo_settings.database)?;
    let profiles =
        netraven_worker::platform::Profiles::load(settings.worker.profiles_dir.as_deref())?;
    let imported =
        inventory::import(&mut pool.get().await?, &keyring, &inventory_file, &profiles).await?;
    crate::note!(
        "      imported {} devices and {} credentials (secrets sealed with a key made for this demo)",
        imported.devices, imported.credentials
    );

    step(
        4,
        &format!(
            "starting the dispatcher, {} workers and the aggregator",
            args.workers
        ),
    );
    reset_namespace(&demo_settings).await?;
    let env = processes::role_env(&demo_settings, &keys);
    let mut roles = vec![
        Role::spawn("dispatcher", "dispatcher", &env, &work_dir)?,
        Role::spawn("aggregator", "aggregator", &env, &work_dir)?,
    ];
    for i in 1..=args.workers {
        roles.push(Role::spawn(
            "worker",
            &format!("worker-{i}"),
            &env,
            &work_dir,
        )?);
    }
    crate::note!("      logs in {}", work_dir.display());

    step(
        5,
        "submitting a config_backup job by message, and waiting for it",
    );
    let client = pool.get().await?;
    let backup = Backup {
        settings: &demo_settings,
        client: &client,
        timeout: Duration::from_secs(args.timeout_secs),
        work_dir: &work_dir,
    };
    let (job_id, _) = backup.run().await?;

    step(6, "result");
    output::data(&format!(
        "\n{}\n{}\n",
        demo_summary::job(&client, job_id, false).await?,
        demo_summary::credentials(&client).await?
    ))?;

    step(
        7,
        "a tenth of the devices change their configuration; backing up again",
    );
    let drifted = fleet.advance_drift_by(0.1)?;
    let (job_id, status) = backup.run().await?;
    let names: Vec<&str> = drifted.devices.iter().map(|d| d.name.as_str()).collect();
    output::data(&format!(
        "\n{}\n{}",
        demo_summary::job(&client, job_id, false).await?,
        demo_summary::first_diff(&client, &names).await?
    ))?;

    let mut clean = true;
    for role in &mut roles {
        let ok = role.stop(Duration::from_secs(30))?;
        if !ok {
            crate::note!(
                "      {} did not stop cleanly; see {}",
                role.name,
                work_dir.join(format!("{}.log", role.name)).display()
            );
        }
        clean &= ok;
    }
    fleet.shutdown().await;
    cleanup_namespace(&demo_settings).await;
    say!(
        "{} in {:.1} s; every role {}. Inspect it later with:\n  NETRAVEN__DATABASE__URL={demo_url} netraven job show {job_id}\n  NETRAVEN__DATABASE__URL={demo_url} netraven device configs {}",
        status,
        started.elapsed().as_secs_f64(),
        if clean { "stopped cleanly on SIGTERM" } else { "was stopped" },
        names.first().copied().unwrap_or("NAME")
    )?;
    if status == JobStatus::FailedUnexpected {
        bail!(
            "the demo job failed unexpectedly; see the logs in {}",
            work_dir.display()
        );
    }
    Ok(())
}

/// Removes queues a previous, interrupted demo may have left, so this one starts empty.
/// Submits a `config_backup` of the whole fleet by message and waits for its final
/// status, printing progress.
struct Backup<'a> {
    settings: &'a Settings,
    client: &'a deadpool_postgres::Client,
    timeout: Duration,
    work_dir: &'a std::path::Path,
}

impl Backup<'_> {
    async fn run(&self) -> Result<(uuid::Uuid, JobStatus)> {
        let request = JobRequest {
            version: messages::VERSION,
            request_id: format!("demo-{}", uuid::Uuid::new_v4()),
            job_type: "config_backup".into(),
            targets: Targets {
                tags: vec!["fleet".into(), "orphan".into()],
                ..Targets::default()
            },
            commands: Vec::new(),
            // No retries: the mixed scenario's dead and silent devices end at their first
            // try, so the demo takes as long as it did before retries.
            limits: Limits {
                max_retries: Some(0),
                ..Limits::default()
            },
            submitted_by: None,
            priority: None,
        };
        let submitted = client::submit(
            &self.settings.amqp,
            &request,
            false,
            Duration::from_secs(60),
        )
        .await?;
        let job_id = submitted
            .reply
            .job_id
            .context("the dispatcher's reply names no job")?;
        crate::note!("      job {job_id}");
        let deadline = Instant::now() + self.timeout;
        let mut last = -1;
        loop {
            let view = jobs::get(self.client, job_id)
                .await?
                .context("the job row vanished")?;
            let c = &view.counts;
            if c.completed_devices != last {
                crate::note!(
                    "      {:>5}/{} devices reported, {} succeeded  [{}]",
                    c.completed_devices,
                    c.total_devices,
                    c.succeeded_devices,
                    c.status
                );
                last = c.completed_devices;
            }
            if c.status.is_final() {
                return Ok((job_id, c.status));
            }
            if Instant::now() > deadline {
                bail!(
                    "the job did not finish within {} s; see the logs in {}",
                    self.timeout.as_secs(),
                    self.work_dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

async fn reset_namespace(settings: &Settings) -> Result<()> {
    let conn = broker::connect(&settings.amqp, "demo").await?;
    let channel = conn.create_channel().await?;
    let names = Names::new(&settings.amqp.namespace);
    broker::declare_topology(&channel, &names, &settings.amqp).await?;
    broker::delete_topology(&channel, &names).await?;
    let _ = conn.close(200, "ok".into()).await;
    Ok(())
}

async fn cleanup_namespace(settings: &Settings) {
    if let Err(e) = reset_namespace(settings).await {
        crate::note!("      could not remove the demo's queues: {e:#}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name_of_a_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/netraven", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
