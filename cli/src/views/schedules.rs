//! `netraven schedule list` and `schedule show`: the schedules, their next ticks and their
//! runs, each FIRED run with its job (joined on the request id the tick sent).

use super::{number, shown, status_cell, text, Style};
use crate::schedules::{self, Row};
use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use comfy_table::Cell;
use deadpool_postgres::tokio_postgres::Row as PgRow;
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{Limits, Targets};
use netraven_shared::schedule::{plan, Calendar};
use serde::Serialize;
use std::fmt::Write;
use uuid::Uuid;

type Client = deadpool_postgres::Client;

/// A schedule as `schedule list --json` and `schedule show --json` give it.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleView {
    pub name: String,
    pub description: String,
    pub cron: String,
    pub time_zone: String,
    pub job_type: String,
    pub targets: Targets,
    pub commands: Vec<String>,
    pub limits: Limits,
    pub overlap: String,
    /// How late a tick may still fire, in milliseconds.
    pub catch_up_ms: u64,
    pub paused: bool,
    /// The next tick, UTC (`null`: the expression has no future tick).
    pub next_tick_at: Option<DateTime<Utc>>,
    /// The same tick on the wall clock of the schedule's zone.
    pub next_tick_local: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The latest run (`list` only; `show` has `runs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<Option<RunView>>,
}

/// One tick a dispatcher took.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub tick_at: DateTime<Utc>,
    /// FIRED, SKIPPED or MISSED.
    pub outcome: String,
    pub ticks_missed: i32,
    pub reason: Option<String>,
    pub taken_by: String,
    pub taken_at: DateTime<Utc>,
    pub request_id: Option<String>,
    /// The FIRED run's job, once the intake made it (`null` before, or once pruned).
    pub job_id: Option<Uuid>,
    pub job_status: Option<JobStatus>,
}

/// `schedule show --json`.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleDetail {
    #[serde(flatten)]
    pub schedule: ScheduleView,
    /// When a dispatcher fires the next tick: the tick plus the schedule's spread offset.
    pub next_due_at: Option<DateTime<Utc>>,
    /// That offset, in milliseconds (the same on every dispatcher, at every tick).
    pub spread_offset_ms: Option<i64>,
    /// The latest runs, newest first.
    pub runs: Vec<RunView>,
}

fn view(r: Row) -> ScheduleView {
    let local = Calendar::new(&r.spec.cron, &r.spec.time_zone)
        .ok()
        .zip(r.next_tick_at)
        .map(|(c, t)| c.local(t));
    ScheduleView {
        catch_up_ms: u64::try_from(r.spec.catch_up().as_millis()).unwrap_or(u64::MAX),
        name: r.spec.name,
        description: r.spec.description,
        cron: r.spec.cron,
        time_zone: r.spec.time_zone,
        job_type: r.spec.job_type.as_str().to_string(),
        targets: r.spec.targets,
        commands: r.spec.commands,
        limits: r.spec.limits,
        overlap: r.spec.overlap.as_str().to_string(),
        paused: r.paused,
        next_tick_at: r.next_tick_at,
        next_tick_local: local,
        created_at: r.created_at,
        updated_at: r.updated_at,
        last_run: None,
    }
}

/// The run columns of a query that selects `schedule_runs r` joined with `jobs j`.
const RUN_COLUMNS: &str = "r.tick_at, r.outcome, r.ticks_missed, r.reason, r.taken_by, \
     r.taken_at, r.request_id, j.id AS job_id, j.status AS job_status";

fn run(r: &PgRow) -> Option<RunView> {
    let tick_at: Option<DateTime<Utc>> = r.get("tick_at");
    Some(RunView {
        tick_at: tick_at?,
        outcome: r.get("outcome"),
        ticks_missed: r.get("ticks_missed"),
        reason: r.get("reason"),
        taken_by: r.get("taken_by"),
        taken_at: r.get("taken_at"),
        request_id: r.get("request_id"),
        job_id: r.get("job_id"),
        job_status: r
            .get::<_, Option<&str>>("job_status")
            .and_then(|s| s.parse().ok()),
    })
}

/// `netraven schedule list`: every schedule by name, with its latest run.
pub async fn list(client: &Client) -> Result<Vec<ScheduleView>> {
    let rows = client
        .query(
            &format!(
                "SELECT s.*, {RUN_COLUMNS}
                 FROM schedules s
                 LEFT JOIN LATERAL (SELECT * FROM schedule_runs x WHERE x.schedule_id = s.id
                                    ORDER BY x.tick_at DESC LIMIT 1) r ON true
                 LEFT JOIN jobs j ON j.request_id = r.request_id
                 ORDER BY s.name"
            ),
            &[],
        )
        .await
        .context("cannot list the schedules")?;
    rows.iter()
        .map(|r| {
            let mut v = view(Row::from_pg(r)?);
            v.last_run = Some(run(r));
            Ok(v)
        })
        .collect()
}

/// `netraven schedule show`: one schedule, when its next tick is due, its latest `runs`.
pub async fn show(
    client: &Client,
    name: &str,
    runs: u32,
    spread: Duration,
) -> Result<ScheduleDetail> {
    let row = schedules::load(client, name, false)
        .await?
        .ok_or_else(|| schedules::no_such(name))?;
    let calendar = Calendar::new(&row.spec.cron, &row.spec.time_zone).ok();
    let due = calendar.as_ref().zip(row.next_tick_at).map(|(c, t)| {
        let at = plan::due_at(c, name, t, spread);
        (at, (at - t).num_milliseconds())
    });
    let id = row.id;
    let rows = client
        .query(
            &format!(
                "SELECT {RUN_COLUMNS} FROM schedule_runs r
                 LEFT JOIN jobs j ON j.request_id = r.request_id
                 WHERE r.schedule_id = $1 ORDER BY r.tick_at DESC LIMIT $2"
            ),
            &[&id, &i64::from(runs)],
        )
        .await
        .context("cannot read the schedule's runs")?;
    Ok(ScheduleDetail {
        schedule: view(row),
        next_due_at: due.map(|d| d.0),
        spread_offset_ms: due.map(|d| d.1),
        runs: rows.iter().filter_map(run).collect(),
    })
}

/// `tags core, edge; devices r1` (as the request carries them).
fn targets(t: &Targets) -> String {
    let mut parts = Vec::new();
    if !t.tags.is_empty() {
        parts.push(format!("tags {}", t.tags.join(", ")));
    }
    if !t.devices.is_empty() {
        parts.push(format!("devices {}", t.devices.join(", ")));
    }
    if !t.device_ids.is_empty() {
        let ids: Vec<String> = t.device_ids.iter().map(i64::to_string).collect();
        parts.push(format!("device ids {}", ids.join(", ")));
    }
    parts.join("; ")
}

/// A UTC time as the tables show it.
fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The next tick on its zone's wall clock and in UTC, or why there is none.
fn next_cell(s: &ScheduleView) -> String {
    match (&s.next_tick_local, s.next_tick_at) {
        (Some(local), Some(t)) if s.time_zone != "UTC" => format!("{local}\n{}", utc(t)),
        (_, Some(t)) => utc(t),
        _ => "none (no future tick)".into(),
    }
}

fn humantime_ms(ms: u64) -> String {
    humantime::format_duration(std::time::Duration::from_millis(ms)).to_string()
}

pub fn render_list(schedules: &[ScheduleView], style: Style) -> String {
    if schedules.is_empty() {
        return "no schedules (`netraven schedule add` or `schedule apply FILE` makes them)\n"
            .into();
    }
    let mut table = style.table([
        "SCHEDULE",
        "CRON",
        "ZONE",
        "TYPE",
        "TARGETS",
        "OVERLAP",
        "STATE",
        "NEXT TICK",
        "LAST RUN",
    ]);
    for s in schedules {
        let last = match s.last_run.as_ref().and_then(Option::as_ref) {
            None => Cell::new("-"),
            Some(r) => {
                let status = r
                    .job_status
                    .map(JobStatus::as_str)
                    .unwrap_or(if r.outcome == "FIRED" { "no job" } else { "" });
                Cell::new(format!("{} {}\n{status}", r.outcome, utc(r.tick_at)))
            }
        };
        table.add_row(vec![
            text(&s.name),
            text(&s.cron),
            text(&s.time_zone),
            Cell::new(&s.job_type),
            text(&targets(&s.targets)),
            Cell::new(&s.overlap),
            Cell::new(if s.paused { "paused" } else { "running" }),
            Cell::new(next_cell(s)),
            last,
        ]);
    }
    let n = schedules.len();
    format!("{table}\n{n} schedule{}\n", if n == 1 { "" } else { "s" })
}

pub fn render_show(d: &ScheduleDetail, style: Style) -> String {
    let s = &d.schedule;
    let mut out = String::new();
    let _ = writeln!(out, "schedule     {}", shown(&s.name));
    if !s.description.is_empty() {
        let _ = writeln!(out, "description  {}", shown(&s.description));
    }
    let _ = writeln!(
        out,
        "cron         {} ({})",
        shown(&s.cron),
        shown(&s.time_zone)
    );
    let _ = writeln!(
        out,
        "job          {} on {}",
        s.job_type,
        shown(&targets(&s.targets))
    );
    for c in &s.commands {
        let _ = writeln!(out, "command      {}", shown(c));
    }
    if s.limits != Limits::default() {
        let limits = serde_json::to_string(&s.limits).unwrap_or_default();
        let _ = writeln!(out, "limits       {}", shown(&limits));
    }
    let _ = writeln!(out, "overlap      {}", s.overlap);
    let _ = writeln!(out, "catch-up     {}", humantime_ms(s.catch_up_ms));
    let state = if s.paused {
        "paused (resume takes the ticks from the next one after then)"
    } else {
        "running"
    };
    let _ = writeln!(out, "state        {state}");
    let _ = writeln!(out, "next tick    {}", next_cell(s).replace('\n', " = "));
    if s.paused {
        out.push_str("due at       - (paused; resume sets the next tick afresh)\n");
    } else if let (Some(at), Some(ms)) = (d.next_due_at, d.spread_offset_ms) {
        let _ = writeln!(
            out,
            "due at       {} (the tick + {} spread offset)",
            utc(at),
            super::duration_ms(ms)
        );
    }
    let _ = writeln!(out, "created      {}", utc(s.created_at));
    let _ = writeln!(out, "updated      {}", utc(s.updated_at));
    if d.runs.is_empty() {
        out.push_str("no runs yet\n");
        return out;
    }
    let mut table = style.table([
        "TICK", "OUTCOME", "MISSED", "JOB", "STATUS", "TAKEN BY", "REASON",
    ]);
    for r in &d.runs {
        table.add_row(vec![
            Cell::new(utc(r.tick_at)),
            Cell::new(&r.outcome),
            number(r.ticks_missed),
            Cell::new(
                r.job_id
                    .map(|j| j.to_string())
                    .unwrap_or_else(|| "-".into()),
            ),
            match r.job_status {
                Some(st) => status_cell(st),
                None => Cell::new("-"),
            },
            text(&r.taken_by),
            text(r.reason.as_deref().unwrap_or("")),
        ]);
    }
    let _ = write!(out, "{table}\n{} latest runs\n", d.runs.len());
    out
}
