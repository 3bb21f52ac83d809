//! Retention: prunes old jobs, results, logs, outputs, login attempts, schedule runs and
//! superseded config snapshots in bounded batches, never touching a job that is still open.
//!
//! Every batch is one short statement that deletes at most `batch_size` rows picked by a
//! `LIMIT`ed subquery, so a prune never holds many locks or a long transaction, and any
//! number of processes may prune at once (they only wait on each other's rows). Jobs are
//! old by `created_at`; their children go with them. Login attempts and log lines are also
//! old by their own timestamps. A configuration version goes only when it is neither among
//! the newest `config_versions_kept` of its device nor last seen within
//! `config_older_than_days`; a device's latest version is among its newest, so it never goes.

use super::periodic::Periodic;
use crate::error::Result;
use chrono::{DateTime, Duration as Age, Utc};
use deadpool_postgres::GenericClient;
use netraven_shared::config::{AggregatorSettings, MAX_RETENTION_DAYS};
use serde::Serialize;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What a prune may remove.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Finished jobs (with their rows), log lines and login attempts older than this many
    /// days go.
    pub older_than_days: u32,
    /// Each device keeps this many of its newest configuration versions (at least 1: the
    /// latest is always kept).
    pub config_versions_kept: u32,
    /// Each device keeps every configuration version last seen within this many days.
    pub config_older_than_days: u32,
    /// Rows deleted per statement at most.
    pub batch_size: u32,
    /// Count what would go, delete nothing.
    pub dry_run: bool,
}

impl Policy {
    /// The aggregator's settings as a policy that deletes.
    pub fn of(settings: &AggregatorSettings) -> Policy {
        Policy {
            older_than_days: settings.retention_days,
            config_versions_kept: settings.config_retention_versions,
            config_older_than_days: settings.config_retention_days,
            batch_size: settings.prune_batch_size,
            dry_run: false,
        }
    }
}

/// Rows removed (or, on a dry run, that would be removed), per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub jobs: u64,
    pub job_results: u64,
    pub job_logs: u64,
    pub command_outputs: u64,
    pub credential_attempts: u64,
    pub device_configs: u64,
    pub schedule_runs: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.jobs
            + self.job_results
            + self.job_logs
            + self.command_outputs
            + self.credential_attempts
            + self.device_configs
            + self.schedule_runs
    }
}

/// One table's prunable rows: the table, the key a batch deletes by, the condition (rows
/// older than `$1`), the cutoff bound to `$1`, and where its count goes.
struct Target {
    table: &'static str,
    key: &'static str,
    condition: String,
    cutoff: DateTime<Utc>,
    counter: Counter,
}

/// A job that may go: created before the cutoff ($1) and final.
const OLD_JOB: &str = "j.created_at < $1 AND j.status NOT IN ('PENDING', 'RUNNING')";
/// The row's job ($job) is still open.
const OPEN: &str =
    "EXISTS (SELECT 1 FROM jobs o WHERE o.id = $job AND o.status IN ('PENDING', 'RUNNING'))";

/// Where a table's count goes in [`Pruned`].
type Counter = fn(&mut Pruned) -> &mut u64;

/// Every table's prunable rows under `policy`, jobs last so that the cascade from jobs
/// finds nothing left to delete.
fn targets(policy: &Policy) -> [Target; 7] {
    let old_job =
        |col: &str| format!("EXISTS (SELECT 1 FROM jobs j WHERE j.id = {col} AND {OLD_JOB})");
    let open = |col: &str| OPEN.replace("$job", col);
    let jobs = cutoff(policy.older_than_days);
    let by_age =
        |table: &'static str, key: &'static str, condition: String, counter: Counter| Target {
            table,
            key,
            condition,
            cutoff: jobs,
            counter,
        };
    // A version at or below its device's (kept + 1)-th newest is not among the kept
    // newest; a device with no more versions than that has no such version (NULL).
    let kept = policy.config_versions_kept.max(1);
    let old_version = format!(
        "t.last_seen_at < $1 AND t.version <= (
             SELECT n.version FROM device_configs n WHERE n.device_id = t.device_id
             ORDER BY n.version DESC OFFSET {kept} LIMIT 1)"
    );
    [
        by_age("job_results", "ctid", old_job("t.job_id"), |p| {
            &mut p.job_results
        }),
        by_age("command_outputs", "ctid", old_job("t.job_id"), |p| {
            &mut p.command_outputs
        }),
        by_age(
            "job_logs",
            "id",
            format!(
                "({} OR t.created_at < $1) AND NOT {}",
                old_job("t.job_id"),
                open("t.job_id")
            ),
            |p| &mut p.job_logs,
        ),
        by_age(
            "credential_attempts",
            "id",
            format!(
                "({} OR t.attempted_at < $1) AND NOT {}",
                old_job("t.job_id"),
                open("t.job_id")
            ),
            |p| &mut p.credential_attempts,
        ),
        Target {
            table: "device_configs",
            key: "id",
            condition: old_version,
            cutoff: cutoff(policy.config_older_than_days),
            counter: |p| &mut p.device_configs,
        },
        // A schedule's runs by when they were taken; its latest run stays, whatever its
        // age, for `schedule show` and the overlap check.
        by_age(
            "schedule_runs",
            "ctid",
            "t.taken_at < $1 AND t.tick_at < (SELECT max(n.tick_at) FROM schedule_runs n
                 WHERE n.schedule_id = t.schedule_id)"
                .to_string(),
            |p| &mut p.schedule_runs,
        ),
        by_age("jobs", "id", OLD_JOB.replace("j.", "t."), |p| &mut p.jobs),
    ]
}

/// The cutoff for `days`: now minus that many days (at most [`MAX_RETENTION_DAYS`], which
/// settings and `netraven prune` refuse to exceed).
pub fn cutoff(days: u32) -> DateTime<Utc> {
    Utc::now() - Age::days(i64::from(days.min(MAX_RETENTION_DAYS)))
}

/// Prunes (or counts, on a dry run) everything older than the policy allows. Stops between
/// batches when `stop` is cancelled, returning what it removed so far.
pub async fn prune<C: GenericClient>(
    db: &C,
    policy: Policy,
    stop: &CancellationToken,
) -> Result<Pruned> {
    let batch = i64::from(policy.batch_size.max(1));
    let mut pruned = Pruned::default();
    for Target {
        table,
        key,
        condition,
        cutoff,
        counter,
    } in targets(&policy)
    {
        let mut removed = 0u64;
        if policy.dry_run {
            let row = db
                .query_one(
                    &format!("SELECT count(*) FROM {table} t WHERE {condition}"),
                    &[&cutoff],
                )
                .await?;
            removed = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
        } else {
            let statement = format!(
                "DELETE FROM {table} WHERE {key} = ANY(ARRAY(
                     SELECT t.{key} FROM {table} t WHERE {condition} LIMIT $2))"
            );
            loop {
                if stop.is_cancelled() {
                    break;
                }
                let n = db.execute(&statement, &[&cutoff, &batch]).await?;
                removed += n;
                if n < batch as u64 {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        *counter(&mut pruned) = removed;
    }
    Ok(pruned)
}

/// The aggregator's retention task: prunes at start and then every `every`, until `stop`.
/// A failed prune is logged and tried again at the next interval.
pub(super) async fn run(
    pool: deadpool_postgres::Pool,
    policy: Policy,
    every: Duration,
    stop: CancellationToken,
) {
    let mut clock = Periodic::every(every);
    while clock.tick(&stop).await {
        let started = std::time::Instant::now();
        let pruned = async {
            let client = pool.get().await?;
            prune(&client, policy, &stop).await
        };
        match pruned.await {
            Ok(p) if p.total() > 0 => tracing::info!(
                jobs = p.jobs,
                job_results = p.job_results,
                job_logs = p.job_logs,
                command_outputs = p.command_outputs,
                credential_attempts = p.credential_attempts,
                device_configs = p.device_configs,
                schedule_runs = p.schedule_runs,
                retention_days = policy.older_than_days,
                config_retention_versions = policy.config_versions_kept,
                config_retention_days = policy.config_older_than_days,
                duration_ms = started.elapsed().as_millis() as u64,
                "pruned rows past retention"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "prune failed; trying again next interval"),
        }
    }
}
