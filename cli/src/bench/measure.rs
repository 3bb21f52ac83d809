//! `netraven bench`'s steps, in order: the jobs (with their baselines), credential
//! resolution, the pipes (ingest, publishing, signatures), key and password logins, hostile
//! fleets, worker memory; when named, the lanes and the big job.

use super::figures::{Figure, Tally};
use super::plan::{BenchArgs, Plan};
use super::{
    api, big_job, fleet, hostile, ingest, job, job_sizes, lanes, latency, logins, publish,
    resolution, scratch, signatures,
};
use anyhow::Result;
use netraven_shared::config::Settings;
use netraven_simulator::{Fault, Latency};
use std::time::Duration;

/// Runs the parts `args` asks for, each figure into `tally` as it is measured.
pub(super) async fn measure(
    settings: &Settings,
    args: &BenchArgs,
    tally: &mut Tally,
) -> Result<()> {
    let wants = |part: &str| {
        if args.latency {
            part == "latency"
        } else {
            args.parts.iter().any(|p| p == part)
        }
    };
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
    if wants("latency") {
        tally
            .extend(latency::measure(settings, plan.latency_devices, args.max_in_flight).await?)?;
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

/// What a device waiting in a worker costs, in the three places a device waits: before its
/// SSH handshake (a device slow to send its banner: the task, its TCP connection, the
/// device's future), at its login (a slow AAA server: that and the SSH transport after
/// the key exchange) and in its session (a slow device thinking before it answers, then
/// its 20 KB configuration: that and the channel, the output, the result). Every device
/// of the fleet is in flight at once (one worker, `memory_in_flight` slots). The largest
/// cost sets how many devices fit in the worker's Kubernetes memory limit.
async fn worker_memory(settings: &Settings, plan: &Plan, tally: &mut Tally) -> Result<()> {
    let n = usize::from(plan.memory_in_flight);
    let login = Latency {
        aaa_accept_ms: 5_000,
        ..Latency::default()
    };
    let session = Latency {
        prompt_ms: 5_000,
        ..Latency::default()
    };
    let mut idle_kib = 0;
    let mut per_device = Vec::new();
    let slow_banner = Some(Fault::SlowBanner { delay_ms: 5_000 });
    for (phase, fault, latency) in [
        ("before_handshake", slow_banner, Latency::default()),
        ("at_login", None, login),
        ("in_session", None, session),
    ] {
        let run = hold(settings, n, fault, latency).await?;
        idle_kib = idle_kib.max(run.worker_idle_rss_kib);
        let kib = run
            .worker_peak_rss_kib
            .saturating_sub(run.worker_idle_rss_kib) as f64
            / n as f64;
        tally.push(Figure {
            name: format!("worker_peak_rss_{phase}"),
            value: run.worker_peak_rss_kib as f64 / 1024.0,
            unit: "MiB".into(),
            detail: format!(
                "one worker, {n} devices in flight, each waiting 5 s {}",
                match phase {
                    "before_handshake" => "for its SSH banner",
                    "at_login" => "for its login's answer",
                    _ => "for its command's answer",
                }
            ),
        })?;
        tally.push(Figure {
            name: format!("worker_memory_per_device_{phase}"),
            value: kib,
            unit: "KiB".into(),
            detail: format!(
                "(peak - idle) / {n} in flight; idle {} MiB",
                run.worker_idle_rss_kib / 1024
            ),
        })?;
        per_device.push(kib);
    }
    let worst = per_device.iter().copied().fold(0.0, f64::max);
    tally.push(Figure {
        name: "worker_memory_per_device".into(),
        value: worst,
        unit: "KiB".into(),
        detail: "the largest of the three: what a slot costs".into(),
    })?;
    let limit_kib = f64::from(WORKER_MEMORY_LIMIT_MIB) * 1024.0;
    tally.push(Figure {
        name: "worker_devices_in_flight_at_limit".into(),
        value: ((limit_kib - idle_kib as f64) / worst.max(1e-9)).floor(),
        unit: "devices".into(),
        detail: format!(
            "({WORKER_MEMORY_LIMIT_MIB} MiB, the Kubernetes limit, - idle {} MiB) / {worst:.1} KiB",
            idle_kib / 1024
        ),
    })?;
    Ok(())
}

/// The worker's memory limit in deploy/k8s/base/worker.yaml.
const WORKER_MEMORY_LIMIT_MIB: u32 = 1024;

/// One job over `n` in-process devices with `fault` that answer as slowly as `latency`
/// says, with every device in flight in one worker.
async fn hold(
    settings: &Settings,
    n: usize,
    fault: Option<Fault>,
    latency: Latency,
) -> Result<job::Run> {
    let fleets = fleet::start(n, fault, latency).await?;
    let dir = tempfile::tempdir()?;
    let in_flight = u16::try_from(n).unwrap_or(u16::MAX);
    let stage = job::Stage::new(
        settings,
        "memory",
        &fleet::write_inventories(&fleets, dir.path())?,
        Vec::new(),
        job::Shape {
            workers: 1,
            max_in_flight: in_flight,
            env: &[(
                "NETRAVEN__WORKER__MAX_CONCURRENT_LOGINS_PER_CREDENTIAL",
                "0",
            )],
        },
    )
    .await?;
    let run = stage.run(Duration::from_secs(300)).await?;
    stage.finish().await?;
    for f in fleets {
        f.shutdown().await;
    }
    run.complete()
}
