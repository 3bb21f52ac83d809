//! Issue 8, item 5: hostile devices against healthy ones. 2,000 devices of which every
//! tenth plays one of the simulator's faults in turn (200 faulty, 18 of them streaming
//! without end), two workers, a device deadline of 10 s and no retries. The healthy
//! devices' rate —
//! their successes over the time from the job's creation (request accepted) to the last
//! of them — in jobs of the healthy devices alone and in jobs with the faulty ones. The
//! machine's speed drifts by a quarter within minutes, so every job with faults runs
//! between two jobs of the healthy devices alone and is compared with their mean; the
//! change is the median of those bracketed comparisons.

use super::{fleet, job, list, median, Figure};
use anyhow::Result;
use netraven_shared::messages::Limits;
use netraven_simulator::{Fault, Latency};
use std::time::Duration;

pub const DEVICES: usize = 2_000;
/// The device deadline of every job here: the slowest fault (a device that never answers)
/// costs this much, and no more.
pub const DEVICE_DEADLINE_MS: u64 = 10_000;
/// Retries of devices that end `TIMEOUT` or `UNREACHABLE`: none, so that a job's length
/// shows the deadline's bound. With the dispatcher's default (2 retries, 30 s backoff
/// doubling, with jitter) each job with faults waits out its retries, over 3 minutes here.
pub const MAX_RETRIES: u32 = 0;

/// The healthy devices' rate in one job, and the job's length.
struct Healthy {
    rate: f64,
    job_seconds: f64,
}

/// Healthy devices in the fleet: every one of them must succeed in every job.
const HEALTHY: i64 = (DEVICES - DEVICES / 10) as i64;

async fn healthy(stage: &job::Stage, tags: &[&str]) -> Result<Healthy> {
    let limits = Limits {
        device_deadline_ms: Some(DEVICE_DEADLINE_MS),
        max_retries: Some(MAX_RETRIES),
        ..Limits::default()
    };
    let run = stage
        .run_job(tags, limits, Duration::from_secs(300))
        .await?;
    anyhow::ensure!(run.status.is_final(), "job ended {}, not final", run.status);
    let client = stage.scratch.pool.get().await?;
    let row = client
        .query_one(
            "SELECT count(*), EXTRACT(EPOCH FROM max(r.finished_at) - j.created_at)::float8,
                    (SELECT count(*) FROM job_results WHERE job_id = j.id)
             FROM job_results r JOIN jobs j ON j.id = r.job_id
             JOIN device_tags dt ON dt.device_id = r.device_id
             JOIN tags t ON t.id = dt.tag_id AND t.name = 'healthy'
             WHERE r.job_id = $1 AND r.outcome = 'SUCCESS'
             GROUP BY j.id, j.created_at",
            &[&run.job_id],
        )
        .await?;
    let (n, secs, results): (i64, f64, i64) = (row.get(0), row.get(1), row.get(2));
    anyhow::ensure!(
        results == run.devices,
        "{results} results for {} devices",
        run.devices
    );
    anyhow::ensure!(n == HEALTHY, "{n} of {HEALTHY} healthy devices succeeded");
    Ok(Healthy {
        rate: n as f64 / secs.max(1e-3),
        job_seconds: run.took.as_secs_f64(),
    })
}

/// Runs the comparison `rounds` times in turns and reports the medians. `partial` adds a
/// job with every fault but endless output to each round.
pub async fn measure(
    settings: &netraven_shared::config::Settings,
    workers: usize,
    max_in_flight: u16,
    rounds: usize,
    partial: bool,
) -> Result<Vec<Figure>> {
    let mut spec = fleet::spec_range(0, DEVICES, None, Latency::default());
    let mut endless = 0;
    for (i, d) in spec.devices.iter_mut().enumerate() {
        let tag = if i % 10 == 9 {
            let fault = Fault::ALL[(i / 10) % Fault::ALL.len()];
            d.fault = Some(fault);
            if fault == Fault::EndlessOutput {
                endless += 1;
                "endless"
            } else {
                "faulty"
            }
        } else {
            "healthy"
        };
        d.tags.push(tag.into());
    }
    let faulty = DEVICES / 10;
    let fleet = fleet::serve(spec, fleet::address(0)).await?;
    let dir = tempfile::tempdir()?;
    let inventories = fleet::write_inventories(std::slice::from_ref(&fleet), dir.path())?;
    let stage = job::Stage::new(
        settings,
        "hostile",
        &inventories,
        Vec::new(),
        job::Shape {
            workers,
            max_in_flight,
            env: &[],
        },
    )
    .await?;
    // Warm-up: pins the healthy devices' host keys, so every measured job starts alike.
    healthy(&stage, &["healthy"]).await?;
    let mut alone = vec![healthy(&stage, &["healthy"]).await?.rate];
    let (mut some, mut all) = (Vec::new(), Vec::new());
    let mut longest = 0.0f64;
    for _ in 0..rounds.max(1) {
        let b = if partial {
            Some(healthy(&stage, &["healthy", "faulty"]).await?)
        } else {
            None
        };
        let c = healthy(&stage, &["fleet"]).await?;
        alone.push(healthy(&stage, &["healthy"]).await?.rate);
        longest = longest.max(c.job_seconds);
        if let Some(b) = b {
            longest = longest.max(b.job_seconds);
            some.push(b.rate);
        }
        all.push(c.rate);
    }
    stage.finish().await?;
    fleet.shutdown().await;
    // Each job with faults against the mean of the jobs alone just before and after it.
    let bracketed = |rates: &[f64]| -> Vec<f64> {
        rates
            .iter()
            .zip(alone.windows(2))
            .map(|(r, around)| (r / ((around[0] + around[1]) / 2.0) - 1.0) * 100.0)
            .collect()
    };
    let (some_change, all_change) = (bracketed(&some), bracketed(&all));

    let (alone_rounds, some_rounds, all_rounds) = (list(&alone, 0), list(&some, 0), list(&all, 0));
    let (alone, all) = (median(&alone), median(&all));
    let mut figures = vec![Figure {
        name: "hostile_healthy_alone_devices_per_second".into(),
        value: alone,
        unit: "devices/s".into(),
        detail: format!("{HEALTHY} healthy devices alone, median of {alone_rounds}"),
    }];
    let mut partial_change = String::new();
    if !some.is_empty() {
        let some = median(&some);
        partial_change = format!(
            "; every fault but endless output: {:+.1} % (rounds {})",
            median(&some_change),
            list(&some_change, 1)
        );
        figures.push(Figure {
            name: "hostile_healthy_among_faults_devices_per_second".into(),
            value: some,
            unit: "devices/s".into(),
            detail: format!(
                "the same among {} faulty devices, every fault but endless output; median of {some_rounds}",
                faulty - endless
            ),
        });
    }
    figures.extend([
        Figure {
            name: "hostile_healthy_among_all_faults_devices_per_second".into(),
            value: all,
            unit: "devices/s".into(),
            detail: format!(
                "the same among all {faulty} faulty devices ({endless} stream without end); median of {all_rounds}"
            ),
        },
        Figure {
            name: "hostile_healthy_rate_change_percent".into(),
            value: median(&all_change),
            unit: "%".into(),
            detail: format!(
                "among all faults vs the jobs alone just before and after, median of rounds {}{partial_change}; target within 20 %",
                list(&all_change, 1)
            ),
        },
        Figure {
            name: "hostile_longest_job_seconds".into(),
            value: longest,
            unit: "s".into(),
            detail: format!(
                "the longest job with faulty devices; device deadline {} s, {MAX_RETRIES} retries",
                DEVICE_DEADLINE_MS / 1000
            ),
        },
    ]);
    Ok(figures)
}
