//! `netraven bench --latency`: the fleet against devices that answer like a real network
//! (issue 25, item 2). Every device of the bench fleet waits [`REALISTIC`]'s round trips,
//! AAA delays, think time and output rate; the jobs run with 1, 2 and 4 workers, and each
//! job's completion time is set against the bounds it cannot beat:
//!
//! - **slots**: devices × the time one device takes alone ÷ the slots
//!   (workers × `max_in_flight`): a fleet that keeps every slot busy from the first device
//!   to the last ends there;
//! - **CPU**: the CPU every process spent on the job ÷ the cores: a fleet whose devices
//!   cost more CPU than the cores give ends there, however many slots it has.
//!
//! A device's time alone is measured, not computed: the bench's bare client (the worker's
//! own SSH code) backs up a sample of the fleet a few at a time, with the logins of a first
//! run (credentials in priority order) and of a second (the working one).
//!
//! The per-credential login cap (`worker.max_concurrent_logins_per_credential`, 128) is
//! lifted for these runs: with a 300 ms AAA it alone would hold a worker to about
//! 128 ÷ 0.3 s ≈ 430 logins a second of one credential, below what its slots allow. A
//! real AAA server is guarded by the fleet-wide caps instead (docs/capacity.md).

use super::{baseline, fleet, job, Figure};
use anyhow::Result;
use netraven_shared::config::Settings;
use netraven_simulator::Latency;
use std::time::Duration;

/// The documented realistic device (docs/capacity.md): a 40 ms round trip, a TACACS+
/// server that accepts in 300 ms and rejects in a second, 20 ms to think before each
/// answer, and output at 20 KB/s, so that the bench's 20 KB `show running-config` takes
/// about a second.
pub const REALISTIC: Latency = Latency {
    rtt_ms: 40,
    aaa_accept_ms: 300,
    aaa_reject_ms: 1_000,
    prompt_ms: 20,
    output_bytes_per_s: 20_000,
};

/// Worker counts the jobs run with.
const WORKERS: [usize; 3] = [1, 2, 4];

/// Devices the bare client times alone, and how many at a time.
const SAMPLE: usize = 200;
const SAMPLE_CONCURRENCY: usize = 20;

/// The roles' settings for these runs.
const ENV: &[(&str, &str)] = &[(
    "NETRAVEN__WORKER__MAX_CONCURRENT_LOGINS_PER_CREDENTIAL",
    "0",
)];

pub(super) async fn measure(
    settings: &Settings,
    devices: usize,
    max_in_flight: u16,
) -> Result<Vec<Figure>> {
    let children = fleet::Children::spawn_slow(devices, REALISTIC)?;
    let (inventories, simulators) = (children.inventories.clone(), children.pids());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mut figures = Vec::new();
    let mut alone = Vec::new();
    for (logins, name) in [
        (baseline::Logins::InOrder, "latency_device_time_in_order"),
        (baseline::Logins::Known, "latency_device_time_known"),
    ] {
        let mut targets = baseline::targets(&inventories, logins)?;
        targets.truncate(SAMPLE);
        let t = baseline::time_per_device(targets, SAMPLE_CONCURRENCY).await?;
        figures.push(Figure::seconds(
            name,
            t,
            format!(
                "one device alone (bare client, {SAMPLE} devices {SAMPLE_CONCURRENCY} at a time, mean): {}",
                describe(&REALISTIC)
            ),
        ));
        alone.push(t);
    }
    for workers in WORKERS {
        let slots = workers * usize::from(max_in_flight);
        let stage = job::Stage::new(
            settings,
            &format!("latency{workers}"),
            &inventories,
            simulators.clone(),
            job::Shape {
                workers,
                max_in_flight,
                env: ENV,
            },
        )
        .await?;
        for (run_name, t_alone) in [("first_run", alone[0]), ("second_run", alone[1])] {
            let run = stage.run(Duration::from_secs(3_600)).await?.complete()?;
            let prefix = format!("latency_{workers}w_{run_name}");
            let slot_bound = t_alone.mul_f64(run.devices as f64 / slots as f64);
            let cpu_seconds: f64 = run.cpu.values().sum();
            let cpu_bound = Duration::from_secs_f64(cpu_seconds / cores);
            let bound = slot_bound.max(cpu_bound);
            figures.push(Figure::seconds(
                &format!("{prefix}_took"),
                run.took,
                format!(
                    "{} devices, {workers} worker(s) x {max_in_flight} slots, job row to final status",
                    run.devices
                ),
            ));
            figures.push(Figure::seconds(
                &format!("{prefix}_slot_bound"),
                slot_bound,
                format!(
                    "{} devices x {:.3} s alone / {slots} slots",
                    run.devices,
                    t_alone.as_secs_f64()
                ),
            ));
            figures.push(Figure::seconds(
                &format!("{prefix}_cpu_bound"),
                cpu_bound,
                format!("{cpu_seconds:.1} CPU s of every process / {cores} cores"),
            ));
            figures.push(Figure {
                name: format!("{prefix}_bound_share"),
                value: bound.as_secs_f64() / run.took.as_secs_f64().max(1e-9),
                unit: "ratio".into(),
                detail: format!(
                    "the larger bound ({}) / the time taken: 1.0 is the bound met",
                    if slot_bound >= cpu_bound {
                        "slots"
                    } else {
                        "CPU"
                    }
                ),
            });
            // The fleet's own: every process but the simulated devices and the bench, in
            // milliseconds a device.
            let per_device = |seconds: f64| seconds * 1000.0 / run.devices.max(1) as f64;
            let fleet: Vec<(&String, f64)> = run
                .cpu
                .iter()
                .filter(|(group, _)| !group.contains("simulator"))
                .map(|(group, s)| (group, per_device(*s)))
                .collect();
            figures.push(Figure {
                name: format!("{prefix}_fleet_cpu_ms_per_device"),
                value: fleet.iter().map(|(_, ms)| ms).sum(),
                unit: "ms".into(),
                detail: format!(
                    "workers, dispatcher, aggregator, Postgres, RabbitMQ: {}",
                    fleet
                        .iter()
                        .map(|(g, ms)| format!("{g} {ms:.3}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
            figures.push(Figure {
                name: format!("{prefix}_worker_peak_rss"),
                value: run.worker_peak_rss_kib as f64 / 1024.0,
                unit: "MiB".into(),
                detail: format!(
                    "the largest worker's, idle {} MiB",
                    run.worker_idle_rss_kib / 1024
                ),
            });
        }
        stage.finish().await?;
    }
    drop(children);
    Ok(figures)
}

/// The knobs as the report names them.
pub(super) fn describe(l: &Latency) -> String {
    format!(
        "rtt {} ms, AAA accept {} ms / reject {} ms, think {} ms, output {} B/s",
        l.rtt_ms, l.aaa_accept_ms, l.aaa_reject_ms, l.prompt_ms, l.output_bytes_per_s
    )
}
