//! `netraven bench`'s steps, in order: the jobs (with their baselines), credential
//! resolution, the pipes (ingest, publishing, signatures), key and password logins, hostile
//! fleets, worker memory; when named, the lanes and the big job.

use super::figures::{Figure, Tally};
use super::plan::{BenchArgs, Plan};
use super::{
    api, big_job, fleet, hostile, ingest, job, job_sizes, lanes, logins, publish, resolution,
    scratch, signatures,
};
use anyhow::Result;
use netraven_shared::config::Settings;
use netraven_simulator::Fault;
use std::time::Duration;

/// Runs the parts `args` asks for, each figure into `tally` as it is measured.
pub(super) async fn measure(
    settings: &Settings,
    args: &BenchArgs,
    tally: &mut Tally,
) -> Result<()> {
    let wants = |part: &str| args.parts.iter().any(|p| p == part);
    let mut plan = Plan::of(args.quick);
    if !args.jobs.is_empty() {
        plan.jobs.clone_from(&args.jobs);
    }
    if !args.devices.is_empty() {
        plan.big_jobs.clone_from(&args.devices);
    }
    tally.header()?;
    // The fleet's CPU per device in the job at the baseline's size: what the signatures'
    // cost is set against.
    let job_cpu_ms = if wants("jobs") {
        job_sizes::measure(settings, args, &plan, tally).await?
    } else {
        None
    };
    if wants("resolution") {
        credential_resolution(settings, &plan, tally).await?;
    }
    if wants("pipes") {
        pipes(settings, &plan, job_cpu_ms, tally).await?;
    }
    if wants("logins") {
        let concurrency = usize::from(args.max_in_flight).min(100);
        tally.extend(logins::measure(settings, plan.logins, concurrency).await?)?;
    }
    if wants("hostile") {
        let figures = hostile::measure(
            settings,
            args.workers,
            args.max_in_flight,
            plan.hostile_rounds,
            !args.quick,
        )
        .await?;
        tally.extend(figures)?;
    }
    if wants("memory") {
        worker_memory(settings, &plan, tally).await?;
    }
    if wants("lanes") {
        tally.extend(lanes::measure(settings, args, plan.baseline_at).await?)?;
    }
    if wants("api") {
        tally.extend(api::measure(settings).await?)?;
    }
    if wants("big-job") {
        tally.extend(big_job::measure(settings, &plan.big_jobs).await?)?;
    }
    Ok(())
}

/// Resolving credentials for jobs of each size, each on a scratch database.
async fn credential_resolution(settings: &Settings, plan: &Plan, tally: &mut Tally) -> Result<()> {
    for &devices in &plan.resolution {
        let scratch = scratch::Scratch::new(settings, &format!("res{devices}")).await?;
        resolution::populate(&scratch, devices).await?;
        tally.push(resolution::measure(&scratch, devices, 3).await?)?;
        scratch.remove().await?;
    }
    Ok(())
}

/// Result ingest and task publishing, then the signatures' cost, set against the job's
/// CPU per device (`job_cpu_ms`: figure name and ms) when the jobs part ran.
async fn pipes(
    settings: &Settings,
    plan: &Plan,
    job_cpu_ms: Option<(String, f64)>,
    tally: &mut Tally,
) -> Result<()> {
    let scratch = scratch::Scratch::new(settings, "pipes").await?;
    tally.push(ingest::measure(&scratch, plan.ingest, 500).await?)?;
    tally.push(publish::measure(&scratch, plan.publish).await?)?;
    scratch.remove().await?;
    let signing = signatures::measure(plan.publish)?;
    let us: f64 = signing.iter().map(|f| f.value).sum();
    tally.extend(signing)?;
    if let Some((name, ms)) = &job_cpu_ms {
        tally.push(Figure {
            name: "signatures_share_of_job_cpu".into(),
            value: us / (ms * 1000.0),
            unit: "ratio".into(),
            detail: format!(
                "sign + verify of a task and of its share of a results batch, {us:.1} us, \
                 over {name} {ms:.3} ms"
            ),
        })?;
    }
    Ok(())
}

/// Worker memory: devices held in flight by slow logins.
async fn worker_memory(settings: &Settings, plan: &Plan, tally: &mut Tally) -> Result<()> {
    let n = usize::from(plan.memory_in_flight);
    let fleets = fleet::start(n, Some(Fault::SlowAuth { delay_ms: 3_000 })).await?;
    let dir = tempfile::tempdir()?;
    let stage = job::Stage::new(
        settings,
        "memory",
        &fleet::write_inventories(&fleets, dir.path())?,
        Vec::new(),
        job::Shape {
            workers: 1,
            max_in_flight: plan.memory_in_flight,
        },
    )
    .await?;
    let run = stage.run(Duration::from_secs(120)).await?;
    stage.finish().await?;
    for f in fleets {
        f.shutdown().await;
    }
    tally.push(Figure {
        name: "worker_peak_rss".into(),
        value: run.worker_peak_rss_kib as f64 / 1024.0,
        unit: "MiB".into(),
        detail: format!("one worker, {n} devices in flight"),
    })?;
    tally.push(Figure {
        name: "worker_memory_per_device".into(),
        value: run
            .worker_peak_rss_kib
            .saturating_sub(run.worker_idle_rss_kib) as f64
            / n as f64,
        unit: "KiB".into(),
        detail: format!(
            "(peak - idle) / {n} in flight; idle {} MiB",
            run.worker_idle_rss_kib / 1024
        ),
    })?;
    Ok(())
}
