//! `netraven bench --parts lanes`: how soon a 10-device job starts and ends while a large
//! job runs, against the same job on an idle fleet — what the interactive lane buys.

use super::figures::Figure;
use super::job::{Shape, Stage};
use super::{fleet, plan::BenchArgs};
use crate::client;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use netraven_dispatcher::job_rows as jobs;
use netraven_shared::domain::Lane;
use netraven_shared::messages::{self, JobRequest, Targets};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Devices of the small job.
const SMALL: usize = 10;

/// A job's start (submit to its first login) and end (submit to its final status).
struct Latency {
    start: Duration,
    end: Duration,
    lane: Option<Lane>,
}

/// The small job on an idle fleet, then again while a job over `big` devices runs.
pub(super) async fn measure(
    settings: &netraven_shared::config::Settings,
    args: &BenchArgs,
    big: usize,
) -> Result<Vec<Figure>> {
    let children = fleet::Children::spawn(big)?;
    let shape = Shape {
        workers: args.workers,
        max_in_flight: args.max_in_flight,
        env: &[],
    };
    let stage = Stage::new(
        settings,
        "lanes",
        &children.inventories,
        children.pids(),
        shape,
    )
    .await?;
    let measured = run(&stage, big).await;
    stage.finish().await?;
    drop(children);
    let (idle, loaded, big_took) = measured?;
    let detail = |what: &str, l: &Latency| {
        format!(
            "{SMALL}-device job, {what}; lane {}; {} workers x {} bulk slots",
            l.lane.map_or("-", Lane::as_str),
            args.workers,
            args.max_in_flight
        )
    };
    let busy = format!("while a {big}-device job runs");
    Ok(vec![
        Figure::seconds(
            "lanes_small_job_start_idle",
            idle.start,
            detail("idle fleet", &idle),
        ),
        Figure::seconds(
            "lanes_small_job_end_idle",
            idle.end,
            detail("idle fleet", &idle),
        ),
        Figure::seconds(
            "lanes_small_job_start_busy",
            loaded.start,
            detail(&busy, &loaded),
        ),
        Figure::seconds(
            "lanes_small_job_end_busy",
            loaded.end,
            detail(&busy, &loaded),
        ),
        Figure::seconds(
            "lanes_big_job_took",
            big_took,
            format!("the {big}-device job the small one ran beside, created to final"),
        ),
    ])
}

/// The idle run, the loaded run and how long the large job took.
async fn run(stage: &Stage, big: usize) -> Result<(Latency, Latency, Duration)> {
    let client = stage.scratch.pool.get().await?;
    let rows = client
        .query(
            "SELECT name FROM devices ORDER BY id LIMIT $1",
            &[&(SMALL as i64)],
        )
        .await?;
    let small: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let timeout = Duration::from_secs(900);
    let idle = submit(
        stage,
        Targets {
            devices: small.clone(),
            ..Targets::default()
        },
    )
    .await?;
    let idle = follow(stage, idle, timeout).await?;

    let large = submit(
        stage,
        Targets {
            tags: vec!["fleet".into()],
            ..Targets::default()
        },
    )
    .await?;
    // Loaded: the large job's first results are in, its tasks fill every bulk slot.
    let until = Instant::now() + timeout;
    loop {
        let done = jobs::get(&client, large)
            .await?
            .context("the large job vanished")?;
        if done.counts.completed_devices > 0 {
            break;
        }
        anyhow::ensure!(Instant::now() < until, "the {big}-device job never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let loaded = submit(
        stage,
        Targets {
            devices: small,
            ..Targets::default()
        },
    )
    .await?;
    let loaded = follow(stage, loaded, timeout).await?;
    let large = follow(stage, large, timeout).await?;
    Ok((idle, loaded, large.end))
}

async fn submit(stage: &Stage, targets: Targets) -> Result<Uuid> {
    let request = JobRequest {
        version: messages::VERSION,
        request_id: format!("bench-lanes-{}", Uuid::new_v4()),
        job_type: "config_backup".into(),
        targets,
        commands: Vec::new(),
        limits: Default::default(),
        submitted_by: None,
        priority: None,
    };
    let reply = client::submit(
        &stage.scratch.settings.amqp,
        &request,
        false,
        Duration::from_secs(60),
    )
    .await?;
    reply.reply.job_id.context("the reply names no job")
}

/// Follows the job to its final status; its start and end from its row and first login.
async fn follow(stage: &Stage, job_id: Uuid, timeout: Duration) -> Result<Latency> {
    let client = stage.scratch.pool.get().await?;
    let until = Instant::now() + timeout;
    let view = loop {
        let view = jobs::get(&client, job_id).await?.context("job vanished")?;
        if view.counts.status.is_final() {
            break view;
        }
        anyhow::ensure!(
            Instant::now() < until,
            "job {job_id} not final within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let first: Option<DateTime<Utc>> = client
        .query_one(
            "SELECT min(attempted_at) FROM credential_attempts WHERE job_id = $1",
            &[&job_id],
        )
        .await?
        .get(0);
    let since = |t: DateTime<Utc>| (t - view.created_at).to_std().unwrap_or_default();
    Ok(Latency {
        start: first.map_or(Duration::ZERO, since),
        end: since(view.finished_at.unwrap_or(view.created_at)),
        lane: view.lane,
    })
}
