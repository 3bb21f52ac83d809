//! `netraven bench --parts big-job`: one job over a whole large fleet, resolved and
//! published by a real dispatcher process through a real broker namespace, with the
//! dispatcher's peak memory (VmHWM) and its rate at each size.
//!
//! No workers: a consumer in this process takes every task off the queue as it comes and
//! drops it, so the broker never holds more than the tasks in transit (a million tasks of
//! ~1.5 KB left in a quorum queue would be ~1.5 GB of the shared broker's memory and
//! disk). The inventory is the resolution part's (3 tags of 1,000 per device, 200
//! credentials whose secrets are never opened: nothing logs in), targeted by every tag.

use super::resolution::{populate, TAGS};
use super::scratch::Scratch;
use super::Figure;
use crate::processes::{role_env, Role, RunKeys};
use anyhow::{Context, Result};
use futures::StreamExt;
use netraven_dispatcher::job_rows;
use netraven_shared::broker;
use netraven_shared::config::Settings;
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{self, JobRequest, Limits, Targets};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one size measured.
struct Measured {
    devices: usize,
    /// From the job's row to `RUNNING` (every task confirmed), as Postgres recorded them.
    dispatch: Duration,
    peak_kib: u64,
    idle_kib: u64,
    /// Recording the job's members alone, timed apart on a job row of its own.
    membership: Duration,
}

/// Runs the job at each size; figures per size, then how time per device grew.
pub async fn measure(settings: &Settings, sizes: &[usize]) -> Result<Vec<Figure>> {
    let mut runs = Vec::new();
    for &devices in sizes {
        runs.push(run(settings, devices).await?);
    }
    let mut figures = Vec::new();
    for m in &runs {
        figures.push(Figure::rate(
            &format!("big_job_{}_devices_per_second", m.devices),
            m.devices,
            m.dispatch,
            "devices/s",
            format!(
                "resolved and published by one dispatcher process, from the job's row to RUNNING; \
                 {TAGS} tags, 3 per device, 200 credentials, no workers (tasks drained as published)"
            ),
        ));
        figures.push(Figure {
            name: format!("big_job_{}_dispatcher_peak_rss", m.devices),
            value: m.peak_kib as f64 / 1024.0,
            unit: "MiB".into(),
            detail: format!(
                "the dispatcher's VmHWM after the job; {} MiB before it",
                m.idle_kib / 1024
            ),
        });
        figures.push(Figure {
            name: format!("big_job_{}_membership_us_per_device", m.devices),
            value: m.membership.as_secs_f64() * 1e6 / m.devices as f64,
            unit: "us".into(),
            detail: "recording the job's members (job_devices), one statement, timed alone".into(),
        });
    }
    if let (Some(small), Some(large)) = (runs.first(), runs.last()) {
        if large.devices > small.devices {
            let per = |m: &Measured, d: Duration| d.as_secs_f64() / m.devices as f64;
            figures.push(Figure {
                name: "big_job_time_per_device_growth".into(),
                value: per(large, large.dispatch) / per(small, small.dispatch),
                unit: "x".into(),
                detail: format!(
                    "dispatch time per device at {} devices / at {} (1.0 = linear)",
                    large.devices, small.devices
                ),
            });
            figures.push(Figure {
                name: "big_job_membership_per_device_growth".into(),
                value: per(large, large.membership) / per(small, small.membership),
                unit: "x".into(),
                detail: format!(
                    "membership time per device at {} devices / at {} (1.0 = linear)",
                    large.devices, small.devices
                ),
            });
        }
    }
    Ok(figures)
}

async fn run(settings: &Settings, devices: usize) -> Result<Measured> {
    let scratch = Scratch::new(settings, &format!("big{devices}")).await?;
    let measured = run_on(&scratch, devices).await;
    scratch.remove().await?;
    measured
}

async fn run_on(scratch: &Scratch, devices: usize) -> Result<Measured> {
    populate(scratch, i64::try_from(devices)?).await?;
    let names = scratch.names();
    let amqp = &scratch.settings.amqp;
    // The drain: every task taken and dropped as soon as the broker has it.
    let conn = broker::connect(amqp, "bench-drain").await?;
    let channel = conn.create_channel().await?;
    broker::declare_topology(&channel, &names, amqp).await?;
    let mut consumer = channel
        .basic_consume(
            names.tasks_queue().into(),
            "bench-drain".into(),
            lapin::options::BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await?;
    let drained = Arc::new(AtomicUsize::new(0));
    let counter = drained.clone();
    let drain = tokio::spawn(async move {
        while let Some(Ok(_)) = consumer.next().await {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });

    let logs = tempfile::tempdir()?;
    let keys = RunKeys::generate()?;
    let mut env = role_env(&scratch.settings, &keys);
    env.push(("NETRAVEN__LOG__LEVEL".into(), "warn".into()));
    let mut dispatcher = Role::spawn("dispatcher", "dispatcher", &env, logs.path())?;
    // Let it connect and start consuming before the clock starts.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let idle_kib = vm_hwm_kib(dispatcher.pid()).context("the dispatcher is not running")?;
    let request = JobRequest {
        version: messages::VERSION,
        request_id: format!("big-{devices}-{}", uuid::Uuid::new_v4()),
        job_type: "config_backup".into(),
        targets: Targets {
            tags: (1..=TAGS).map(|g| format!("tag-{g}")).collect(),
            ..Targets::default()
        },
        commands: Vec::new(),
        limits: Limits::default(),
        submitted_by: None,
        priority: None,
    };
    // The reply comes once every task is confirmed.
    let reply = crate::client::submit(amqp, &request, false, Duration::from_secs(3_600)).await?;
    let job_id = reply.reply.job_id.context("the reply names no job")?;
    let peak_kib = vm_hwm_kib(dispatcher.pid()).context("the dispatcher died")?;
    let client = scratch.pool.get().await?;
    let row = client
        .query_one(
            "SELECT status, published_tasks,
                    (extract(epoch FROM started_at - created_at) * 1000)::float8
             FROM jobs WHERE id = $1",
            &[&job_id],
        )
        .await?;
    let status: String = row.get(0);
    let published = usize::try_from(row.get::<_, i32>(1))?;
    let dispatch_ms: Option<f64> = row.get(2);
    anyhow::ensure!(
        status == JobStatus::Running.as_str() && published == devices,
        "job {job_id} is {status} with {published} of {devices} tasks published; logs in {}",
        logs.path().display()
    );
    let until = Instant::now() + Duration::from_secs(600);
    while drained.load(Ordering::Relaxed) < devices {
        anyhow::ensure!(Instant::now() < until, "the tasks did not all arrive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    dispatcher.stop(Duration::from_secs(30))?;
    drain.abort();
    let _ = conn.close(200, "ok".into()).await;

    let membership = time_membership(&client, &request.targets).await?;
    Ok(Measured {
        devices,
        dispatch: Duration::from_secs_f64(dispatch_ms.unwrap_or_default() / 1000.0),
        peak_kib,
        idle_kib,
        membership,
    })
}

/// Records the members of a fresh pending job with the same targets, as the dispatcher
/// does, and returns how long that took.
async fn time_membership(
    client: &deadpool_postgres::Client,
    targets: &Targets,
) -> Result<Duration> {
    let job_id = uuid::Uuid::now_v7();
    client
        .execute(
            "INSERT INTO jobs (id, request_id, job_type, request, status, deadline_at)
             VALUES ($1, $2, 'config_backup', '{}', 'PENDING', now() + interval '1 hour')",
            &[&job_id, &format!("membership-{job_id}")],
        )
        .await?;
    let started = Instant::now();
    job_rows::add_members(client, job_id, targets).await?;
    Ok(started.elapsed())
}

/// A process's peak resident set size (VmHWM), in KiB.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
