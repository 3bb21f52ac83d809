//! `netraven schedule list` and `schedule show` as tables; the queries are in
//! `netraven_schedules::view`.

use super::{number, shown, status_cell, text, Style};
use chrono::{DateTime, Utc};
use comfy_table::Cell;
use netraven_schedules::view::{ScheduleDetail, ScheduleView};
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{Limits, Targets};
use std::fmt::Write;

pub use netraven_schedules::view::{list, show};

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
