//! `netraven bench`'s second run of an unchanged fleet: what it stored (nothing, or the
//! output says so loudly) and what Postgres spent per device against the first run.

use super::figures::{Figure, Tally};
use super::job::Run;

/// The second run's configuration figures and its Postgres CPU against the first's.
pub(super) fn push(
    devices: usize,
    first: &Run,
    second: &Run,
    tally: &mut Tally,
) -> std::io::Result<()> {
    let prefix = format!("job_{devices}_second_run");
    let stored = second.configs;
    tally.push(Figure {
        name: format!("{prefix}_new_config_rows"),
        value: stored.rows_added as f64,
        unit: "rows".into(),
        detail: format!(
            "device_configs rows the second run added (must be 0); the first run added {}",
            first.configs.rows_added
        ),
    })?;
    tally.push(Figure {
        name: format!("{prefix}_new_config_versions"),
        value: stored.new_versions as f64,
        unit: "versions".into(),
        detail: format!(
            "results NEW or CHANGED (must be 0); {} of {} UNCHANGED",
            stored.unchanged, second.devices
        ),
    })?;
    tally.push(postgres_ratio(&prefix, first, second))?;
    if let Some(warning) = warning(devices, second) {
        crate::say!("{warning}")?;
        crate::note!("{warning}");
    }
    Ok(())
}

/// What to shout when the second run stored anything or found a device changed.
fn warning(devices: usize, second: &Run) -> Option<String> {
    let c = second.configs;
    (c.rows_added != 0 || c.new_versions != 0 || c.unchanged != second.devices).then(|| {
        format!(
            "!!! NOT ZERO: the second run of an unchanged {devices}-device fleet added {} \
             config rows and {} versions, and found {} of {} devices unchanged: an unchanged \
             configuration must store nothing (volatile lines not removed, or a bug) !!!",
            c.rows_added, c.new_versions, c.unchanged, second.devices
        )
    })
}

/// Postgres CPU per device of the second run over the first's.
fn postgres_ratio(prefix: &str, first: &Run, second: &Run) -> Figure {
    let per_device = |run: &Run| {
        run.cpu.get("postgres").copied().unwrap_or(0.0) * 1000.0 / run.devices.max(1) as f64
    };
    let (before, after) = (per_device(first), per_device(second));
    let (value, detail) = if before > 0.0 {
        (
            after / before,
            format!("Postgres CPU per device, second run / first: {after:.3} ms / {before:.3} ms"),
        )
    } else {
        (
            0.0,
            "no Postgres CPU measured in the first run (is Postgres on this machine?)".into(),
        )
    };
    Figure {
        name: format!("{prefix}_vs_first_postgres_cpu_ratio"),
        value,
        unit: "x".into(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::{postgres_ratio, warning};
    use crate::bench::job::{Configs, Run};
    use netraven_shared::domain::JobStatus;
    use std::time::Duration;

    fn run(postgres_seconds: f64, configs: Configs) -> Run {
        Run {
            devices: 100,
            succeeded: 100,
            status: JobStatus::CompletedSuccess,
            took: Duration::from_secs(1),
            worker_peak_rss_kib: 0,
            worker_idle_rss_kib: 0,
            cpu: [("postgres".to_string(), postgres_seconds)].into(),
            job_id: uuid::Uuid::nil(),
            start: Duration::ZERO,
            tail: Duration::ZERO,
            configs,
            wal_bytes: 0.0,
            db_growth_bytes: 0.0,
        }
    }

    #[test]
    fn an_unchanged_second_run_is_quiet_and_anything_stored_is_shouted() {
        let quiet = Configs {
            rows_added: 0,
            new_versions: 0,
            unchanged: 100,
        };
        assert_eq!(warning(100, &run(1.0, quiet)), None);
        let stored = Configs {
            rows_added: 3,
            new_versions: 3,
            unchanged: 97,
        };
        let shout = warning(100, &run(1.0, stored)).expect("a warning");
        assert!(
            shout.contains("NOT ZERO") && shout.contains("added 3 config rows"),
            "{shout}"
        );
    }

    #[test]
    fn the_postgres_ratio_is_per_device_second_over_first() {
        let none = Configs::default();
        let ratio = postgres_ratio("job_100_second_run", &run(2.0, none), &run(0.5, none));
        assert_eq!(ratio.name, "job_100_second_run_vs_first_postgres_cpu_ratio");
        assert!((ratio.value - 0.25).abs() < 1e-9, "{}", ratio.value);
        let unmeasured = postgres_ratio("p", &run(0.0, none), &run(0.5, none));
        assert_eq!(unmeasured.value, 0.0);
        assert!(unmeasured.detail.contains("no Postgres CPU"));
    }
}
