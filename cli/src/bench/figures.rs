//! What `netraven bench` measures and reports: figures, their statistics, and the tally
//! that prints each one as it comes.

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
/// the shared cores went; and what Postgres wrote per device (WAL, database growth).
pub(super) fn cpu_figures(prefix: &str, run: &super::job::Run) -> Vec<Figure> {
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
    out.push(Figure {
        name: format!("{prefix}_wal_kib_per_device"),
        value: run.wal_bytes / 1024.0 / devices,
        unit: "KiB".into(),
        detail: "Postgres write-ahead log written while the job ran, / devices".into(),
    });
    out.push(Figure {
        name: format!("{prefix}_db_growth_kib_per_device"),
        value: run.db_growth_bytes / 1024.0 / devices,
        unit: "KiB".into(),
        detail: "pg_database_size after the job less before, / devices".into(),
    });
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

/// The index of the median of `values` (the upper one of an even count).
pub(super) fn median_index(values: &[f64]) -> usize {
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

/// The figures measured so far; each is printed as a table row when it comes, so that a run
/// that fails later has shown (and written) what it measured.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) figures: Vec<Figure>,
}

impl Tally {
    /// The table's header row.
    pub(super) fn header(&self) -> std::io::Result<()> {
        crate::say!(
            "{:<38} {:>12} {:<10} MEASURED ON",
            "FIGURE",
            "VALUE",
            "UNIT"
        )
    }

    pub(super) fn push(&mut self, f: Figure) -> std::io::Result<()> {
        crate::say!(
            "{:<38} {:>12.3} {:<10} {}",
            f.name,
            f.value,
            f.unit,
            f.detail
        )?;
        self.figures.push(f);
        Ok(())
    }

    pub(super) fn extend(
        &mut self,
        figures: impl IntoIterator<Item = Figure>,
    ) -> std::io::Result<()> {
        figures.into_iter().try_for_each(|f| self.push(f))
    }
}
