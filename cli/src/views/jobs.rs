//! The job queries and tables behind `job show`, `job list`, `job results` and `job logs`.

use super::{
    ago, duration_ms, number, outcome_cell, short_hash, shown, status_cell, text, when, Style,
};
use comfy_table::{Cell, Color};
use netraven_dispatcher::job_rows::DeviceResult;
use netraven_shared::domain::{Lane, Outcome};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

pub use netraven_reads::jobs::*;

/// The header lines of a job: id, status, counters, times.
pub fn render_header(j: &JobSummary, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "job        {}", j.id);
    let _ = writeln!(out, "request    {}", shown(&j.request_id));
    let _ = writeln!(out, "type       {}", shown(&j.job_type));
    let _ = writeln!(out, "status     {}", style.status(j.status));
    if let Some(lane) = j.lane {
        let _ = writeln!(out, "lane       {lane}");
    }
    if let Some(e) = &j.error {
        let _ = writeln!(out, "error      {}", shown(e));
    }
    let _ = writeln!(
        out,
        "devices    {} total, {} reported, {} succeeded, {} without credentials",
        j.total_devices, j.completed_devices, j.succeeded_devices, j.no_credential_devices
    );
    let _ = writeln!(
        out,
        "created    {}",
        j.created_at.format("%Y-%m-%d %H:%M:%S%.3f UTC")
    );
    if let Some(ms) = j.ran_ms() {
        let verb = if j.finished_at.is_some() {
            "ran"
        } else {
            "running"
        };
        let _ = writeln!(out, "{verb:<10} {}", duration_ms(ms));
    }
    out
}

/// Devices per outcome with their share of the job.
pub fn render_outcomes(outcomes: &BTreeMap<Outcome, i64>, style: Style) -> String {
    let total: i64 = outcomes.values().sum();
    let mut table = style.table(["OUTCOME", "DEVICES", "SHARE"]);
    for (outcome, n) in outcomes {
        let pct = if total > 0 {
            100.0 * *n as f64 / total as f64
        } else {
            0.0
        };
        table.add_row(vec![
            outcome_cell(*outcome),
            number(n),
            number(format!("{pct:.1}%")),
        ]);
    }
    if outcomes.is_empty() {
        return "no device has reported yet\n".into();
    }
    format!("{table}\n")
}

/// One row per device.
pub fn render_results(results: &[DeviceResult], style: Style) -> String {
    if results.is_empty() {
        return "no results\n".into();
    }
    let mut table = style.table([
        "DEVICE",
        "OUTCOME",
        "CREDENTIAL",
        "ATTEMPTS",
        "TRIES",
        "TIME",
        "CONFIG",
        "REASON",
    ]);
    for r in results {
        table.add_row(vec![
            text(&r.device_name),
            outcome_cell(r.outcome),
            text(r.credential.as_deref().unwrap_or("-")),
            number(r.attempts),
            text(&tries_cell(r)),
            number(duration_ms(r.duration_ms)),
            Cell::new(config_cell(r)),
            text(&r.reason),
        ]);
    }
    format!("{table}\n{} devices\n", results.len())
}

/// How many times the device was tried, with each try's outcome when it was retried:
/// `3: TIMEOUT, TIMEOUT, SUCCESS`.
pub fn tries_cell(r: &DeviceResult) -> String {
    if r.tries <= 1 {
        return r.tries.max(1).to_string();
    }
    format!("{}: {}", r.tries, r.try_outcomes.join(", "))
}

/// The configuration's short hash, with its version and a mark when it is new to the
/// device's history: `v3 1a2b3c4d5e6f changed`.
fn config_cell(r: &DeviceResult) -> String {
    let hash = short_hash(r.config_sha256.as_deref());
    match (r.config_version, r.config_change.as_deref()) {
        (Some(v), Some("CHANGED")) => format!("v{v} {hash} changed"),
        (Some(v), Some("NEW")) => format!("v{v} {hash} new"),
        (Some(v), _) => format!("v{v} {hash}"),
        _ => hash,
    }
}

pub fn render_list(jobs: &[JobSummary], style: Style) -> String {
    if jobs.is_empty() {
        return "no jobs\n".into();
    }
    let mut table = style.table([
        "JOB",
        "TYPE",
        "STATUS",
        "LANE",
        "REPORTED",
        "SUCCEEDED",
        "NO CREDS",
        "CREATED",
        "TOOK",
    ]);
    for j in jobs {
        table.add_row(vec![
            Cell::new(j.id),
            text(&j.job_type),
            status_cell(j.status),
            text(j.lane.map_or("-", Lane::as_str)),
            number(format!("{}/{}", j.completed_devices, j.total_devices)),
            number(j.succeeded_devices),
            number(j.no_credential_devices),
            Cell::new(ago(Some(j.created_at))),
            number(j.ran_ms().map(duration_ms).unwrap_or_else(|| "-".into())),
        ]);
    }
    format!("{table}\n")
}

/// Longest structured data shown in a table cell; `--json` has all of it.
const DATA_CHARS: usize = 100;

pub fn render_logs(lines: &[LogLine], style: Style) -> String {
    if lines.is_empty() {
        return "no log lines\n".into();
    }
    let mut table = style.table(["TIME", "LEVEL", "DEVICE", "MESSAGE", "DATA"]);
    for l in lines {
        let level = Cell::new(&l.level);
        let level = match l.level.as_str() {
            "ERROR" => level.fg(Color::Red),
            "WARN" => level.fg(Color::Yellow),
            "DEBUG" => level.fg(Color::DarkGrey),
            _ => level,
        };
        let data = match &l.data {
            Value::Object(m) if m.is_empty() => String::new(),
            Value::Null => String::new(),
            v => {
                // JSON escapes C0 controls, not DEL or C1 ones: escaped here as well.
                let s = shown(&v.to_string()).into_owned();
                if s.chars().count() > DATA_CHARS {
                    s.chars().take(DATA_CHARS).collect::<String>() + "…"
                } else {
                    s
                }
            }
        };
        table.add_row(vec![
            Cell::new(l.at.format("%H:%M:%S%.3f")),
            level,
            text(l.device.as_deref().unwrap_or("-")),
            text(&l.message),
            Cell::new(data),
        ]);
    }
    let first = lines.first().map(|l| l.at);
    format!("{table}\n{} lines, from {}\n", lines.len(), when(first))
}
