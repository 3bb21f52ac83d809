//! `netraven bench`'s report: every figure with the machine it was measured on, written as
//! JSON under `bench/results/`.

use super::figures::{Figure, Tally};
use super::measure;
use super::plan::{BenchArgs, ALL_PARTS};
use anyhow::Result;
use netraven_shared::config::Settings;
use serde::Serialize;

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

/// Runs every measurement, prints a table and writes the JSON report — with what was
/// measured before a failure, if one stops the run.
pub async fn run(settings: Settings, args: BenchArgs) -> Result<Report> {
    let mut tally = Tally::default();
    let outcome = measure::measure(&settings, &args, &mut tally).await;
    let report = Report {
        machine: machine(),
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .into(),
        quick: args.quick,
        figures: tally.figures,
    };
    std::fs::create_dir_all(&args.out)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let text = serde_json::to_string_pretty(&report)?;
    std::fs::write(args.out.join(format!("bench-{stamp}.json")), &text)?;
    let every_part = !args.latency
        && ALL_PARTS
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
    crate::say!("\n{} — written to {}", report.machine, args.out.display())?;
    outcome.map(|()| report)
}
