//! `netraven bench`: what the fleet costs, measured on this machine, against a baseline
//! measured in the same run. Each part writes its figures as JSON under `bench/results/`.

pub mod baseline;
pub mod cpu;
pub mod fleet;
pub mod hostile;
pub mod ingest;
pub mod job;
pub mod publish;
pub mod resolution;
pub mod scratch;
pub mod signatures;

use anyhow::Result;
use netraven_shared::config::Settings;
use netraven_simulator::Fault;
use serde::Serialize;
use std::time::Duration;

/// One measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    /// What it was measured on (sizes, concurrency).
    pub detail: String,
}

impl Figure {
    pub fn rate(name: &str, count: usize, took: Duration, unit: &str, detail: String) -> Figure {
        Figure {
            name: name.into(),
            value: count as f64 / took.as_secs_f64().max(1e-9),
            unit: unit.into(),
            detail,
        }
    }

    pub fn seconds(name: &str, took: Duration, detail: String) -> Figure {
        Figure {
            name: name.into(),
            value: took.as_secs_f64(),
            unit: "s".into(),
            detail,
        }
    }
}

/// CPU milliseconds per device, by process group, for one job run: the profile of where
/// the shared cores went.
fn cpu_figures(prefix: &str, run: &job::Run) -> Vec<Figure> {
    let devices = run.devices.max(1) as f64;
    let mut out: Vec<Figure> = run
        .cpu
        .iter()
        .map(|(group, seconds)| Figure {
            name: format!("{prefix}_cpu_ms_per_device_{}", group.replace('+', "_")),
            value: seconds * 1000.0 / devices,
            unit: "ms".into(),
            detail: format!("{group}: user + system CPU while the job ran, / devices"),
        })
        .collect();
    let total: f64 = run.cpu.values().sum();
    out.push(Figure {
        name: format!("{prefix}_cpu_ms_per_device_total"),
        value: total * 1000.0 / devices,
        unit: "ms".into(),
        detail: format!(
            "every process above; wall time x 2 cores = {:.2} ms",
            run.took.as_secs_f64() * 2000.0 / devices
        ),
    });
    out
}

/// Every part, the default.
const ALL_PARTS: &str = "jobs,resolution,pipes,memory,hostile";

/// `netraven bench` options.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// A smaller run, under a minute.
    #[arg(long)]
    pub quick: bool,
    /// Worker processes in the job runs.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Devices each worker handles at once (the worker's default).
    #[arg(long, default_value_t = netraven_shared::config::WorkerSettings::default().max_in_flight)]
    pub max_in_flight: u16,
    /// Where the JSON report goes.
    #[arg(long, default_value = "bench/results")]
    pub out: std::path::PathBuf,
    /// Which parts to run: jobs (with the baseline), resolution, pipes (ingest and
    /// publishing), memory, hostile (healthy devices among faulty ones).
    #[arg(long, value_delimiter = ',', default_value = ALL_PARTS)]
    pub parts: Vec<String>,
    /// Job sizes to run instead of the plan's (1,000, 10,000 and 50,000; --quick: 500
    /// and 2,000). The baselines and the second run go with the 10,000-device job
    /// (--quick: 2,000).
    #[arg(long, value_delimiter = ',')]
    pub jobs: Vec<usize>,
}

/// Sizes of one run.
struct Plan {
    jobs: Vec<usize>,
    baseline_at: usize,
    resolution: Vec<i64>,
    ingest: i64,
    publish: usize,
    memory_in_flight: u16,
    hostile_rounds: usize,
    /// Rounds of the jobs at the baseline's size, each between two baselines.
    rounds: usize,
}

impl Plan {
    fn of(quick: bool) -> Plan {
        if quick {
            Plan {
                jobs: vec![500, 2_000],
                baseline_at: 2_000,
                resolution: vec![1_000, 10_000],
                ingest: 10_000,
                publish: 10_000,
                memory_in_flight: 300,
                hostile_rounds: 1,
                rounds: 1,
            }
        } else {
            Plan {
                // 50,000 devices run in several simulator processes (bench::fleet).
                jobs: vec![1_000, 10_000, 50_000],
                baseline_at: 10_000,
                resolution: vec![1_000, 10_000, 100_000],
                ingest: 50_000,
                publish: 100_000,
                memory_in_flight: 1_000,
                hostile_rounds: 5,
                rounds: 3,
            }
        }
    }
}

/// The whole report, as written to JSON.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: String,
    /// `release` or `debug`: only release figures are comparable.
    pub build: String,
    pub quick: bool,
    pub figures: Vec<Figure>,
}

fn machine() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown cpu")
        .trim()
        .to_string();
    let mem_kib: u64 = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!(
        "{cores} cores ({cpu}), {:.1} GiB, Linux {}",
        mem_kib as f64 / 1_048_576.0,
        read("/proc/sys/kernel/osrelease").trim()
    )
}

/// The index of the median of `values` (the upper one of an even count).
fn median_index(values: &[f64]) -> usize {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    order.get(values.len() / 2).copied().unwrap_or(0)
}

pub(crate) fn median(values: &[f64]) -> f64 {
    values.get(median_index(values)).copied().unwrap_or(0.0)
}

/// `1.234, 2.345, …` with `decimals` decimals.
pub(crate) fn list(values: &[f64], decimals: usize) -> String {
    values
        .iter()
        .map(|v| format!("{v:.decimals$}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn say(f: &Figure) {
    println!(
        "{:<38} {:>12.3} {:<10} {}",
        f.name, f.value, f.unit, f.detail
    );
}

/// Runs every measurement, prints a table and writes the JSON report — with what was
/// measured before a failure, if one stops the run.
pub async fn run(settings: Settings, args: BenchArgs) -> Result<Report> {
    let mut figures = Vec::new();
    let outcome = measure(&settings, &args, &mut figures).await;
    let report = Report {
        machine: machine(),
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .into(),
        quick: args.quick,
        figures,
    };
    std::fs::create_dir_all(&args.out)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let text = serde_json::to_string_pretty(&report)?;
    std::fs::write(args.out.join(format!("bench-{stamp}.json")), &text)?;
    let every_part = ALL_PARTS
        .split(',')
        .all(|p| args.parts.iter().any(|a| a == p));
    if outcome.is_ok() && every_part && args.jobs.is_empty() {
        let latest = if args.quick {
            "latest-quick.json"
        } else {
            "latest.json"
        };
        std::fs::write(args.out.join(latest), &text)?;
    }
    println!("\n{} — written to {}", report.machine, args.out.display());
    outcome.map(|()| report)
}

async fn measure(settings: &Settings, args: &BenchArgs, figures: &mut Vec<Figure>) -> Result<()> {
    let settings = settings.clone();
    let wants = |part: &str| args.parts.iter().any(|p| p == part);
    let mut plan = Plan::of(args.quick);
    if !args.jobs.is_empty() {
        plan.jobs.clone_from(&args.jobs);
    }
    let shape = job::Shape {
        workers: args.workers,
        max_in_flight: args.max_in_flight,
    };
    let concurrency = args.workers * usize::from(args.max_in_flight);
    let mut push = |f: Figure| {
        say(&f);
        figures.push(f);
    };
    // The fleet's CPU per device in the job at the baseline's size: what the signatures'
    // cost is set against.
    let mut job_cpu_ms: Option<(String, f64)> = None;
    println!(
        "{:<38} {:>12} {:<10} MEASURED ON",
        "FIGURE", "VALUE", "UNIT"
    );

    // Two baselines, same fleet, same run: the logins a first job makes (credentials in
    // priority order) and the logins of a job that affinity already taught. At the
    // baseline's size the jobs run in rounds, each on a fresh database (a first run
    // again) and each between two measurements of both baselines, so that the machine's
    // drift — its speed moves by a quarter within minutes — falls on both sides of every
    // ratio; the medians are reported, every round in the details.
    let mut per_device_ms = Vec::new();
    let jobs: &[usize] = if wants("jobs") { &plan.jobs } else { &[] };
    for &devices in jobs {
        // The fleet runs in simulator processes: the baselines' bare client and the
        // workers are each a process apart from the devices they log in to.
        let children = fleet::Children::spawn(devices)?;
        let (inventories, simulators) = (children.inventories.clone(), children.pids());
        let with_baselines = devices == plan.baseline_at;
        let baselines = || async {
            let mut both = Vec::new();
            for logins in [baseline::Logins::InOrder, baseline::Logins::Known] {
                let targets = baseline::targets(&inventories, logins)?;
                both.push(baseline::measure(targets, concurrency, logins, &simulators).await?);
            }
            anyhow::Ok(both)
        };
        let mut brackets = Vec::new();
        if with_baselines {
            brackets.push(baselines().await?);
        }
        let mut rounds = Vec::new();
        for _ in 0..if with_baselines { plan.rounds } else { 1 } {
            let stage = job::Stage::new(
                &settings,
                &format!("job{devices}"),
                &inventories,
                simulators.clone(),
                shape,
            )
            .await?;
            let first = stage.run(Duration::from_secs(900)).await?;
            anyhow::ensure!(
                first.succeeded == first.devices,
                "{} of {} devices backed up: {}",
                first.succeeded,
                first.devices,
                first.status
            );
            let second = if with_baselines {
                Some(stage.run(Duration::from_secs(900)).await?)
            } else {
                None
            };
            stage.finish().await?;
            if with_baselines {
                brackets.push(baselines().await?);
            }
            rounds.push((first, second));
        }
        drop(children);

        let rate = |run: &job::Run| run.devices as f64 / run.took.as_secs_f64().max(1e-9);
        // Each round's ratios: its job over the mean of the baselines either side of it.
        let ratio = |r: usize, which: usize, run: &job::Run| {
            let around = (brackets[r][which][0].value + brackets[r + 1][which][0].value) / 2.0;
            rate(run) / around
        };
        let firsts: Vec<f64> = rounds.iter().map(|(f, _)| rate(f)).collect();
        let first_ratios: Vec<f64> = if with_baselines {
            (0..rounds.len())
                .map(|r| ratio(r, 0, &rounds[r].0))
                .collect()
        } else {
            Vec::new()
        };
        let chosen = median_index(&first_ratios);
        if with_baselines {
            // The baselines: the median measurement of each (its CPU figures with it).
            for which in 0..2 {
                let rates: Vec<f64> = brackets.iter().map(|b| b[which][0].value).collect();
                let m = median_index(&rates);
                for (i, f) in brackets[m][which].iter().enumerate() {
                    let mut f = f.clone();
                    if i == 0 {
                        f.detail = format!(
                            "{}; median of {}: {}",
                            f.detail,
                            rates.len(),
                            list(&rates, 0)
                        );
                    }
                    push(f);
                }
            }
        }
        let (first, second) = &rounds[chosen];
        let mut detail = format!(
            "config_backup, 60/30/10 % on credentials 1/2/3, 20 KB configs, {} workers x {} in flight",
            args.workers, args.max_in_flight
        );
        if rounds.len() > 1 {
            detail = format!(
                "{detail}; the round of the median ratio, rounds: {}",
                list(&firsts, 0)
            );
        }
        detail = format!(
            "{detail}; its first login {} ms after the job row, its final status {} ms after its last device",
            first.start.as_millis(),
            first.tail.as_millis()
        );
        per_device_ms.push((devices, 1000.0 / rate(first)));
        push(Figure::rate(
            &format!("job_{devices}_devices_per_second"),
            devices,
            first.took,
            "devices/s",
            detail,
        ));
        for f in cpu_figures(&format!("job_{devices}"), first) {
            if with_baselines && f.name.ends_with("_total") {
                job_cpu_ms = Some((f.name.clone(), f.value));
            }
            push(f);
        }
        if !with_baselines {
            continue;
        }
        let known_ratios: Vec<f64> = (0..rounds.len())
            .map(|r| ratio(r, 1, &rounds[r].0))
            .collect();
        let second_ratios: Vec<f64> = (0..rounds.len())
            .filter_map(|r| rounds[r].1.as_ref().map(|s| ratio(r, 1, s)))
            .collect();
        let ratio_figure = |name: &str, what: String, values: &[f64]| Figure {
            name: name.into(),
            value: median(values),
            unit: "x".into(),
            detail: format!("{what}; median of {}", list(values, 3)),
        };
        push(ratio_figure(
            "job_vs_baseline_ratio",
            format!("{devices}-device job / bare SSH making the same logins, each round between two baselines"),
            &first_ratios,
        ));
        push(ratio_figure(
            "job_vs_known_credential_baseline_ratio",
            "first run / bare SSH that knows each device's credential".into(),
            &known_ratios,
        ));
        if let Some(second) = second {
            push(ratio_figure(
                "second_run_vs_baseline_ratio",
                "with affinity / bare SSH with the working credential".into(),
                &second_ratios,
            ));
            push(Figure::rate(
                &format!("job_{devices}_second_run_devices_per_second"),
                devices,
                second.took,
                "devices/s",
                "the same job again: affinity puts the credential that worked first".into(),
            ));
            for f in cpu_figures(&format!("job_{devices}_second_run"), second) {
                push(f);
            }
        }
    }
    if let (Some((small, a)), Some((large, b))) = (per_device_ms.first(), per_device_ms.last()) {
        push(Figure {
            name: "cost_per_device_growth".into(),
            value: b / a,
            unit: "x".into(),
            detail: format!("ms per device at {large} devices / at {small} devices"),
        });
    }

    let resolution: &[i64] = if wants("resolution") {
        &plan.resolution
    } else {
        &[]
    };
    for &devices in resolution {
        let scratch = scratch::Scratch::new(&settings, &format!("res{devices}")).await?;
        resolution::populate(&scratch, devices).await?;
        push(resolution::measure(&scratch, devices, 3).await?);
        scratch.remove().await?;
    }
    if wants("pipes") {
        let scratch = scratch::Scratch::new(&settings, "pipes").await?;
        push(ingest::measure(&scratch, plan.ingest, 500).await?);
        push(publish::measure(&scratch, plan.publish).await?);
        scratch.remove().await?;
        let signing = signatures::measure(plan.publish)?;
        let us: f64 = signing.iter().map(|f| f.value).sum();
        for f in signing {
            push(f);
        }
        // Against what a device costs the whole fleet in this run's job at the
        // baseline's size, when the jobs part ran.
        if let Some((name, ms)) = &job_cpu_ms {
            push(Figure {
                name: "signatures_share_of_job_cpu".into(),
                value: us / (ms * 1000.0),
                unit: "ratio".into(),
                detail: format!(
                    "sign + verify of a task and of its share of a results batch, {us:.1} us, \
                     over {name} {ms:.3} ms"
                ),
            });
        }
    }
    if wants("hostile") {
        for f in hostile::measure(
            &settings,
            args.workers,
            args.max_in_flight,
            plan.hostile_rounds,
            !args.quick,
        )
        .await?
        {
            push(f);
        }
    }
    if !wants("memory") {
        return Ok(());
    }

    // Worker memory: devices held in flight by slow logins.
    let n = usize::from(plan.memory_in_flight);
    let fleets = fleet::start(n, Some(Fault::SlowAuth { delay_ms: 3_000 })).await?;
    let dir = tempfile::tempdir()?;
    let stage = job::Stage::new(
        &settings,
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
    push(Figure {
        name: "worker_peak_rss".into(),
        value: run.worker_peak_rss_kib as f64 / 1024.0,
        unit: "MiB".into(),
        detail: format!("one worker, {n} devices in flight"),
    });
    push(Figure {
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
    });

    Ok(())
}
