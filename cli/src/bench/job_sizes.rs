//! `netraven bench`'s jobs part: a job at each size, and at the baseline's size several
//! rounds, each between two measurements of both bare-SSH baselines.
//!
//! Two baselines, same fleet, same run: the logins a first job makes (credentials in
//! priority order) and the logins of a job that affinity already taught. At the baseline's
//! size the jobs run in rounds, each on a fresh database (a first run again) and each
//! between two measurements of both baselines, so that the machine's drift — its speed
//! moves by a quarter within minutes — falls on both sides of every ratio; the medians are
//! reported, every round in the details. The second run finds every configuration
//! unchanged: what it stored and cost is `unchanged.rs`.

use super::figures::{cpu_figures, list, median, median_index, Figure, Tally};
use super::plan::{BenchArgs, Plan};
use super::{baseline, fleet, job, unchanged};
use anyhow::Result;
use netraven_shared::config::Settings;
use std::time::Duration;

/// Both baselines (in order, known), each a list of figures with its rate first.
type Baselines = Vec<Vec<Figure>>;

/// One size's runs: the baselines around the rounds (none off the baseline's size) and
/// each round's first run and, at the baseline's size, its second.
struct Measured {
    brackets: Vec<Baselines>,
    rounds: Vec<(job::Run, Option<job::Run>)>,
}

impl Measured {
    fn with_baselines(&self) -> bool {
        !self.brackets.is_empty()
    }

    /// Round `r`'s job over the mean of the baselines either side of it (`which`: 0 in
    /// order, 1 known).
    fn ratio(&self, r: usize, which: usize, run: &job::Run) -> f64 {
        let around =
            (self.brackets[r][which][0].value + self.brackets[r + 1][which][0].value) / 2.0;
        rate(run) / around
    }

    /// The most round `r`'s ratio could be while the job pays for its broker messages and
    /// database rows: the bare run's CPU per device (client and simulator, the mean of the
    /// baselines either side) over that plus the job's RabbitMQ and Postgres CPU per device.
    /// That is the ratio the job would reach on CPU-bound cores if its worker cost what the
    /// bare client does and its dispatcher and aggregator nothing.
    fn ceiling(&self, r: usize, which: usize, run: &job::Run) -> f64 {
        let total = |b: &Baselines| {
            b[which]
                .iter()
                .find(|f| f.name.ends_with("_total"))
                .map_or(0.0, |f| f.value)
        };
        let bare = (total(&self.brackets[r]) + total(&self.brackets[r + 1])) / 2.0;
        let devices = run.devices.max(1) as f64;
        let beside: f64 = ["rabbitmq", "postgres"]
            .iter()
            .filter_map(|group| run.cpu.get(*group))
            .sum::<f64>()
            * 1000.0
            / devices;
        bare / (bare + beside)
    }
}

fn rate(run: &job::Run) -> f64 {
    run.devices as f64 / run.took.as_secs_f64().max(1e-9)
}

/// Runs the jobs at every size of `plan`. Returns the fleet's CPU per device at the
/// baseline's size (figure name, ms), what the signatures' cost is set against.
pub(super) async fn measure(
    settings: &Settings,
    args: &BenchArgs,
    plan: &Plan,
    tally: &mut Tally,
) -> Result<Option<(String, f64)>> {
    let mut job_cpu_ms = None;
    let mut per_device_ms = Vec::new();
    for &devices in &plan.jobs {
        let measured = run_size(settings, args, plan, devices).await?;
        let first_ratios: Vec<f64> = if measured.with_baselines() {
            push_baselines(&measured.brackets, tally)?;
            (0..measured.rounds.len())
                .map(|r| measured.ratio(r, 0, &measured.rounds[r].0))
                .collect()
        } else {
            Vec::new()
        };
        let (first, _) = &measured.rounds[median_index(&first_ratios)];
        per_device_ms.push((devices, 1000.0 / rate(first)));
        let cpu = push_first_run(args, devices, &measured, first, tally)?;
        if measured.with_baselines() {
            job_cpu_ms = cpu;
            push_ratios(devices, &measured, &first_ratios, tally)?;
        }
    }
    if let (Some((small, a)), Some((large, b))) = (per_device_ms.first(), per_device_ms.last()) {
        tally.push(Figure {
            name: "cost_per_device_growth".into(),
            value: b / a,
            unit: "x".into(),
            detail: format!("ms per device at {large} devices / at {small} devices"),
        })?;
    }
    Ok(job_cpu_ms)
}

/// The job at `devices`, in rounds between baselines when it is the baseline's size.
async fn run_size(
    settings: &Settings,
    args: &BenchArgs,
    plan: &Plan,
    devices: usize,
) -> Result<Measured> {
    let shape = job::Shape {
        workers: args.workers,
        max_in_flight: args.max_in_flight,
        env: &[],
    };
    let concurrency = args.workers * usize::from(args.max_in_flight);
    // The fleet runs in simulator processes: the baselines' bare client and the workers
    // are each a process apart from the devices they log in to.
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
            settings,
            &format!("job{devices}"),
            &inventories,
            simulators.clone(),
            shape,
        )
        .await?;
        let first = stage.run(Duration::from_secs(900)).await?.complete()?;
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
    Ok(Measured { brackets, rounds })
}

/// The baselines: the median measurement of each (its CPU figures with it).
fn push_baselines(brackets: &[Baselines], tally: &mut Tally) -> std::io::Result<()> {
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
            tally.push(f)?;
        }
    }
    Ok(())
}

/// The chosen round's first run: its rate and CPU figures. Returns its total CPU per device
/// (figure name, ms).
fn push_first_run(
    args: &BenchArgs,
    devices: usize,
    measured: &Measured,
    first: &job::Run,
    tally: &mut Tally,
) -> std::io::Result<Option<(String, f64)>> {
    let mut detail = format!(
        "config_backup, 60/30/10 % on credentials 1/2/3, 20 KB configs, {} workers x {} in flight",
        args.workers, args.max_in_flight
    );
    if measured.rounds.len() > 1 {
        let firsts: Vec<f64> = measured.rounds.iter().map(|(f, _)| rate(f)).collect();
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
    tally.push(Figure::rate(
        &format!("job_{devices}_devices_per_second"),
        devices,
        first.took,
        "devices/s",
        detail,
    ))?;
    let mut total = None;
    for f in cpu_figures(&format!("job_{devices}"), first) {
        if f.name.ends_with("_total") {
            total = Some((f.name.clone(), f.value));
        }
        tally.push(f)?;
    }
    Ok(total)
}

/// The job against both baselines and, when there is one, the second run's figures.
fn push_ratios(
    devices: usize,
    measured: &Measured,
    first_ratios: &[f64],
    tally: &mut Tally,
) -> std::io::Result<()> {
    let rounds = &measured.rounds;
    let known_ratios: Vec<f64> = (0..rounds.len())
        .map(|r| measured.ratio(r, 1, &rounds[r].0))
        .collect();
    let second_ratios: Vec<f64> = (0..rounds.len())
        .filter_map(|r| rounds[r].1.as_ref().map(|s| measured.ratio(r, 1, s)))
        .collect();
    let ratio_figure = |name: &str, what: String, values: &[f64]| Figure {
        name: name.into(),
        value: median(values),
        unit: "x".into(),
        detail: format!("{what}; median of {}", list(values, 3)),
    };
    tally.push(ratio_figure(
        "job_vs_baseline_ratio",
        format!("{devices}-device job / bare SSH making the same logins, each round between two baselines"),
        first_ratios,
    ))?;
    let ceiling_what = "the ratio's ceiling with the broker's and the database's work: bare CPU per device / (bare + RabbitMQ + Postgres CPU per device), each round";
    let first_ceilings: Vec<f64> = (0..rounds.len())
        .map(|r| measured.ceiling(r, 0, &rounds[r].0))
        .collect();
    tally.push(ratio_figure(
        "job_vs_baseline_ceiling",
        ceiling_what.into(),
        &first_ceilings,
    ))?;
    tally.push(ratio_figure(
        "job_vs_known_credential_baseline_ratio",
        "first run / bare SSH that knows each device's credential".into(),
        &known_ratios,
    ))?;
    let chosen = median_index(first_ratios);
    if let Some(second) = &rounds[chosen].1 {
        tally.push(ratio_figure(
            "second_run_vs_baseline_ratio",
            "with affinity / bare SSH with the working credential".into(),
            &second_ratios,
        ))?;
        let second_ceilings: Vec<f64> = (0..rounds.len())
            .filter_map(|r| rounds[r].1.as_ref().map(|s| measured.ceiling(r, 1, s)))
            .collect();
        tally.push(ratio_figure(
            "second_run_vs_baseline_ceiling",
            ceiling_what.into(),
            &second_ceilings,
        ))?;
        tally.push(Figure::rate(
            &format!("job_{devices}_second_run_devices_per_second"),
            devices,
            second.took,
            "devices/s",
            "the same job again: affinity puts the credential that worked first".into(),
        ))?;
        tally.extend(cpu_figures(&format!("job_{devices}_second_run"), second))?;
        unchanged::push(devices, &rounds[chosen].0, second, tally)?;
    }
    Ok(())
}
