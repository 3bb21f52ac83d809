//! A `schedules` row and the [`ScheduleSpec`] it holds: read, inserted, compared column by
//! column (so that `apply` touches only what changed).

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use deadpool_postgres::tokio_postgres::Row as PgRow;
use deadpool_postgres::GenericClient;
use netraven_shared::domain::JobType;
use netraven_shared::schedule::{Overlap, ScheduleSpec};
use serde_json::Value;
use std::time::Duration;

/// A stored schedule. `spec.paused` is `None` (the row's state is `paused`) and
/// `spec.catch_up` is always set (the stored window, the default included).
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub spec: ScheduleSpec,
    pub paused: bool,
    pub next_tick_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub(crate) const COLUMNS: &str = "id, name, description, cron, time_zone, job_type, targets, \
     commands, limits, overlap, catch_up_ms, paused, next_tick_at, created_at, updated_at";

impl Row {
    /// A row selected with [`COLUMNS`] (any table alias-free query of them).
    pub fn from_pg(r: &PgRow) -> Result<Row> {
        let spec = ScheduleSpec::from_row(r)
            .map_err(|e| anyhow::anyhow!("schedule {}: {e}", r.get::<_, &str>("name")))?;
        Ok(Row {
            id: r.get("id"),
            spec,
            paused: r.get("paused"),
            next_tick_at: r.get("next_tick_at"),
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
        })
    }
}

/// One schedule by name; `lock` takes its row lock (until the transaction ends).
pub async fn load<C: GenericClient>(db: &C, name: &str, lock: bool) -> Result<Option<Row>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM schedules WHERE name = $1{lock}"),
            &[&name],
        )
        .await
        .context("cannot read the schedule")?;
    row.as_ref().map(Row::from_pg).transpose()
}

/// Every schedule, by name; `lock` takes every row lock (`apply`).
pub async fn load_all<C: GenericClient>(db: &C, lock: bool) -> Result<Vec<Row>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM schedules ORDER BY name{lock}"),
            &[],
        )
        .await
        .context("cannot read the schedules")?;
    rows.iter().map(Row::from_pg).collect()
}

/// The stored columns of a spec, compared one by one.
#[derive(Debug, PartialEq)]
struct Columns<'a> {
    description: &'a str,
    cron: &'a str,
    time_zone: &'a str,
    job_type: JobType,
    targets: &'a netraven_shared::messages::Targets,
    commands: &'a [String],
    limits: &'a netraven_shared::messages::Limits,
    overlap: Overlap,
    catch_up: Duration,
}

fn columns(s: &ScheduleSpec) -> Columns<'_> {
    Columns {
        description: &s.description,
        cron: &s.cron,
        time_zone: &s.time_zone,
        job_type: s.job_type,
        targets: &s.targets,
        commands: &s.commands,
        limits: &s.limits,
        overlap: s.overlap,
        catch_up: s.catch_up(),
    }
}

/// The names of the stored columns in which `new` differs from `old` (paused aside), in
/// the order of the file format.
pub fn columns_changed(old: &ScheduleSpec, new: &ScheduleSpec) -> Vec<&'static str> {
    let (a, b) = (columns(old), columns(new));
    let mut changed = Vec::new();
    let mut diff = |same: bool, name: &'static str| {
        if !same {
            changed.push(name);
        }
    };
    diff(a.description == b.description, "description");
    diff(a.cron == b.cron, "cron");
    diff(a.time_zone == b.time_zone, "time_zone");
    diff(a.job_type == b.job_type, "job_type");
    diff(a.targets == b.targets, "targets");
    diff(a.commands == b.commands, "commands");
    diff(a.limits == b.limits, "limits");
    diff(a.overlap == b.overlap, "overlap");
    // Stored in milliseconds.
    diff(a.catch_up.as_millis() == b.catch_up.as_millis(), "catch_up");
    changed
}

/// The values of a spec's columns, as SQL parameters are built from them.
struct Values {
    job_type: &'static str,
    targets: Value,
    commands: Value,
    limits: Value,
    overlap: &'static str,
    catch_up_ms: i64,
}

fn values(s: &ScheduleSpec) -> Result<Values> {
    Ok(Values {
        job_type: s.job_type.as_str(),
        targets: serde_json::to_value(&s.targets)?,
        commands: serde_json::to_value(&s.commands)?,
        limits: serde_json::to_value(&s.limits)?,
        overlap: s.overlap.as_str(),
        catch_up_ms: i64::try_from(s.catch_up().as_millis()).unwrap_or(i64::MAX),
    })
}

/// Inserts `spec` (paused when it says so); false when the name exists already.
pub(crate) async fn insert<C: GenericClient>(
    db: &C,
    spec: &ScheduleSpec,
    next_tick_at: Option<DateTime<Utc>>,
) -> Result<bool> {
    let v = values(spec)?;
    let n = db
        .execute(
            "INSERT INTO schedules (name, description, cron, time_zone, job_type, targets,
                                    commands, limits, overlap, catch_up_ms, paused,
                                    next_tick_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (name) DO NOTHING",
            &[
                &spec.name,
                &spec.description,
                &spec.cron,
                &spec.time_zone,
                &v.job_type,
                &v.targets,
                &v.commands,
                &v.limits,
                &v.overlap,
                &v.catch_up_ms,
                &spec.paused.unwrap_or(false),
                &next_tick_at,
            ],
        )
        .await
        .with_context(|| format!("cannot store schedule {}", spec.name))?;
    Ok(n == 1)
}

/// Rewrites schedule `id`'s definition from `spec`, with `paused` and `next_tick_at` as
/// given (the caller keeps or recomputes them).
pub(crate) async fn update<C: GenericClient>(
    db: &C,
    id: i64,
    spec: &ScheduleSpec,
    paused: bool,
    next_tick_at: Option<DateTime<Utc>>,
) -> Result<()> {
    let v = values(spec)?;
    db.execute(
        "UPDATE schedules SET description = $2, cron = $3, time_zone = $4, job_type = $5,
                targets = $6, commands = $7, limits = $8, overlap = $9, catch_up_ms = $10,
                paused = $11, next_tick_at = $12, updated_at = now()
         WHERE id = $1",
        &[
            &id,
            &spec.description,
            &spec.cron,
            &spec.time_zone,
            &v.job_type,
            &v.targets,
            &v.commands,
            &v.limits,
            &v.overlap,
            &v.catch_up_ms,
            &paused,
            &next_tick_at,
        ],
    )
    .await
    .with_context(|| format!("cannot update schedule {}", spec.name))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ScheduleSpec {
        let f = netraven_shared::schedule::ScheduleFile::parse(
            "schedules:\n  - { name: a, cron: '0 2 * * *', job_type: config_backup, targets: { tags: [core] } }\n",
        )
        .expect("test value");
        f.schedules[0].clone()
    }

    #[test]
    fn a_default_catch_up_equals_its_stored_value() {
        let a = spec();
        let mut b = a.clone();
        b.catch_up = Some(netraven_shared::schedule::DEFAULT_CATCH_UP);
        b.paused = Some(true);
        assert_eq!(columns_changed(&a, &b), Vec::<&str>::new());
    }

    #[test]
    fn each_changed_column_is_named() {
        let a = spec();
        let mut b = a.clone();
        b.cron = "0 3 * * *".into();
        b.targets.devices.push("r1".into());
        b.limits.job_deadline_ms = Some(1000);
        assert_eq!(columns_changed(&a, &b), ["cron", "targets", "limits"]);
    }
}
