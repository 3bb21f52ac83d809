//! A schedule added, paused, resumed, removed or exported (the writes to the `schedules`
//! table, migration V11, and the YAML that goes in and out of it).
//!
//! A schedule is checked by [`ScheduleSpec::check`] before any row is written, so a stored
//! schedule always sends a job request the dispatcher can decode. `next_tick_at` is set
//! from now when a schedule is created, when its cron or zone changes, and when it is
//! resumed (ticks that came due while it was paused are not run); any other change keeps
//! it, so that a dispatcher's next tick is not moved by an edit of the description.

use crate::row::{self, load, load_all};
use crate::Invalid;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use netraven_shared::schedule::{Calendar, ScheduleFile, ScheduleSpec};

/// The error for a name that is not stored.
pub fn no_such(name: &str) -> anyhow::Error {
    crate::NotFound(format!(
        "no schedule {name:?}: `netraven schedule list` shows the schedules there are"
    ))
    .into()
}

/// The first tick after `now`, as stored in `next_tick_at`.
pub fn next_tick(calendar: &Calendar, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    calendar.next_after(now)
}

/// Checks `spec`, as `schedule add` and `apply` do; the problem as [`Invalid`].
pub fn check(spec: &ScheduleSpec) -> Result<Calendar> {
    spec.check().map_err(|e| Invalid(e).into())
}

/// Reads and checks a schedules file: every problem in one [`Invalid`] error.
pub fn read_file(path: &std::path::Path) -> Result<ScheduleFile> {
    let yaml =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    ScheduleFile::parse(&yaml).map_err(|problems| {
        let n = problems.lines().count();
        let list: String = problems.lines().map(|p| format!("\n  - {p}")).collect();
        Invalid(format!(
            "{} has {n} problem{}; nothing was changed:{list}",
            path.display(),
            if n == 1 { "" } else { "s" }
        ))
        .into()
    })
}

/// Stores a new schedule; a name that exists is refused, saying how to change it.
pub async fn add<C: GenericClient>(db: &C, spec: &ScheduleSpec) -> Result<Option<DateTime<Utc>>> {
    let calendar = check(spec)?;
    let next = next_tick(&calendar, Utc::now());
    let created = row::insert(db, spec, next).await?;
    if !created {
        return Err(crate::Exists(format!(
            "schedule {:?} exists already: change it with `netraven schedule apply FILE` \
             (`netraven schedule export {}` prints its YAML to start from), or remove it first",
            spec.name, spec.name
        ))
        .into());
    }
    Ok(next)
}

/// What `pause` or `resume` did.
#[derive(Debug, Clone)]
pub struct StateChange {
    /// False when the schedule already was in the state asked for.
    pub changed: bool,
    pub paused: bool,
    pub next_tick_at: Option<DateTime<Utc>>,
    pub calendar: Calendar,
}

/// Pauses (`paused`) or resumes a schedule. Resuming sets the next tick from now: the
/// ticks that came due while it was paused are not run.
pub async fn set_paused(
    client: &mut deadpool_postgres::Client,
    name: &str,
    paused: bool,
) -> Result<StateChange> {
    let tx = client.transaction().await?;
    let row = load(&tx, name, true).await?.ok_or_else(|| no_such(name))?;
    let calendar = Calendar::new(&row.spec.cron, &row.spec.time_zone)
        .map_err(|e| anyhow::anyhow!("schedule {name}: stored {e}"))?;
    let mut next = row.next_tick_at;
    let changed = row.paused != paused;
    if changed {
        if !paused {
            next = next_tick(&calendar, Utc::now());
        }
        tx.execute(
            "UPDATE schedules SET paused = $2, next_tick_at = $3, updated_at = now()
             WHERE id = $1",
            &[&row.id, &paused, &next],
        )
        .await
        .context("cannot change the schedule's state")?;
    }
    tx.commit().await?;
    Ok(StateChange {
        changed,
        paused,
        next_tick_at: next,
        calendar,
    })
}

/// Deletes a schedule and its runs; returns how many runs went. The jobs stay.
pub async fn remove(client: &mut deadpool_postgres::Client, name: &str) -> Result<i64> {
    let tx = client.transaction().await?;
    let row = load(&tx, name, true).await?.ok_or_else(|| no_such(name))?;
    let runs: i64 = tx
        .query_one(
            "SELECT count(*) FROM schedule_runs WHERE schedule_id = $1",
            &[&row.id],
        )
        .await?
        .get(0);
    tx.execute("DELETE FROM schedules WHERE id = $1", &[&row.id])
        .await
        .context("cannot remove the schedule")?;
    tx.commit().await?;
    Ok(runs)
}

/// The stored schedules (all, or those named, each of which must exist) as a schedules
/// file. A paused schedule says `paused: true`; a running one says nothing, so that
/// applying the file leaves a schedule paused later by hand as it is.
pub async fn export<C: GenericClient>(db: &C, names: &[String]) -> Result<ScheduleFile> {
    let rows = load_all(db, false).await?;
    let mut schedules = Vec::new();
    for name in names {
        if !rows.iter().any(|r| &r.spec.name == name) {
            return Err(no_such(name));
        }
    }
    for r in rows {
        if names.is_empty() || names.contains(&r.spec.name) {
            let mut spec = r.spec;
            spec.paused = r.paused.then_some(true);
            schedules.push(spec);
        }
    }
    Ok(ScheduleFile { schedules })
}

/// The YAML of `file`, with a header saying where it came from and what to do with it.
pub fn to_yaml(file: &ScheduleFile) -> Result<String> {
    let body = serde_yaml_ng::to_string(file).context("cannot write the schedules as YAML")?;
    Ok(format!(
        "# Schedules exported by `netraven schedule export` at {}.\n\
         # `netraven schedule apply FILE` makes the database hold them (applying this file\n\
         # as it is changes nothing). Absent `paused` leaves a schedule's state as it is.\n{body}",
        Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    ))
}
