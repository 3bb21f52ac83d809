//! The job queries and tables behind `job show`, `job list`, `job results` and `job logs`.

use super::{
    ago, duration_ms, number, outcome_cell, short_hash, shown, status_cell, text, when, Style,
};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use comfy_table::{Cell, Color};
use netraven_dispatcher::job_rows::{self as jobs, DeviceResult, JobView};
use netraven_shared::domain::{JobStatus, Lane, Outcome};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use uuid::Uuid;

type Client = deadpool_postgres::Client;

/// A job's status and counters; `outcomes` (devices per outcome) when asked for.
#[derive(Debug, Clone, Serialize)]
pub struct JobSummary {
    pub id: Uuid,
    pub request_id: String,
    pub job_type: String,
    pub status: JobStatus,
    pub error: Option<String>,
    pub total_devices: i64,
    pub completed_devices: i64,
    pub succeeded_devices: i64,
    pub no_credential_devices: i64,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub deadline_at: DateTime<Utc>,
    /// The task lane (`bulk`, `interactive`); `null` when no task went out.
    pub lane: Option<Lane>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<BTreeMap<Outcome, i64>>,
}

impl JobSummary {
    fn from_view(v: JobView, outcomes: Option<BTreeMap<Outcome, i64>>) -> JobSummary {
        JobSummary {
            id: v.id,
            request_id: v.counts.request_id,
            job_type: v.job_type,
            status: v.counts.status,
            error: v.counts.error,
            total_devices: v.counts.total_devices,
            completed_devices: v.counts.completed_devices,
            succeeded_devices: v.counts.succeeded_devices,
            no_credential_devices: v.counts.no_credential_devices,
            created_at: v.created_at,
            started_at: v.started_at,
            finished_at: v.finished_at,
            deadline_at: v.deadline_at,
            lane: v.lane,
            outcomes,
        }
    }

    /// Run time so far (or in all, once finished), in milliseconds.
    pub fn ran_ms(&self) -> Option<i64> {
        let end = self.finished_at.unwrap_or_else(Utc::now);
        self.started_at.map(|s| (end - s).num_milliseconds())
    }
}

/// Devices per outcome.
pub async fn outcomes(client: &Client, job_id: Uuid) -> Result<BTreeMap<Outcome, i64>> {
    Ok(jobs::outcome_counts(client, job_id)
        .await?
        .into_iter()
        .collect())
}

/// The job's row alone (one cheap query); an error naming the id when there is none.
pub async fn summary_counts(client: &Client, job_id: Uuid) -> Result<JobSummary> {
    let view = jobs::get(client, job_id)
        .await?
        .with_context(|| format!("no job {job_id}"))?;
    Ok(JobSummary::from_view(view, None))
}

/// The job, with its outcome counts.
pub async fn summary(client: &Client, job_id: Uuid) -> Result<JobSummary> {
    let mut job = summary_counts(client, job_id).await?;
    job.outcomes = Some(outcomes(client, job_id).await?);
    Ok(job)
}

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

/// `netraven job list`: the newest jobs first.
pub async fn list(
    client: &Client,
    status: Option<JobStatus>,
    limit: i64,
) -> Result<Vec<JobSummary>> {
    let rows = client
        .query(
            "SELECT id, request_id, job_type, status, error, total_devices, completed_devices,
                    succeeded_devices, no_credential_devices, created_at, started_at,
                    finished_at, deadline_at, lane
             FROM jobs WHERE ($1::text IS NULL OR status = $1)
             ORDER BY created_at DESC, id DESC LIMIT $2",
            &[&status.map(JobStatus::as_str), &limit],
        )
        .await
        .context("cannot list jobs")?;
    Ok(rows
        .iter()
        .map(|r| JobSummary {
            id: r.get("id"),
            request_id: r.get("request_id"),
            job_type: r.get("job_type"),
            status: r
                .get::<_, &str>("status")
                .parse()
                .unwrap_or(JobStatus::FailedUnexpected),
            error: r.get("error"),
            total_devices: i64::from(r.get::<_, i32>("total_devices")),
            completed_devices: i64::from(r.get::<_, i32>("completed_devices")),
            succeeded_devices: i64::from(r.get::<_, i32>("succeeded_devices")),
            no_credential_devices: i64::from(r.get::<_, i32>("no_credential_devices")),
            created_at: r.get("created_at"),
            started_at: r.get("started_at"),
            finished_at: r.get("finished_at"),
            deadline_at: r.get("deadline_at"),
            lane: jobs::lane_of(r),
            outcomes: None,
        })
        .collect())
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

/// `netraven job results`: every device's result, or those with the given outcomes.
pub async fn results(client: &Client, job_id: Uuid, only: &[Outcome]) -> Result<Vec<DeviceResult>> {
    jobs::get(client, job_id)
        .await?
        .with_context(|| format!("no job {job_id}"))?;
    let mut results = jobs::results(client, job_id).await?;
    if !only.is_empty() {
        results.retain(|r| only.contains(&r.outcome));
    }
    Ok(results)
}

/// One job log line.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub level: String,
    pub device_id: Option<i64>,
    /// The device's name, `null` for lines about the whole job.
    pub device: Option<String>,
    pub message: String,
    pub data: Value,
}

/// `netraven job logs`: the job's log lines in order, or one device's.
pub async fn logs(client: &Client, job_id: Uuid, device: Option<&str>) -> Result<Vec<LogLine>> {
    jobs::get(client, job_id)
        .await?
        .with_context(|| format!("no job {job_id}"))?;
    let rows = client
        .query(
            "SELECT l.id, l.created_at, l.level, l.device_id, d.name AS device, l.message, l.data
             FROM job_logs l LEFT JOIN devices d ON d.id = l.device_id
             WHERE l.job_id = $1 AND ($2::text IS NULL OR d.name = $2)
             ORDER BY l.id",
            &[&job_id, &device],
        )
        .await
        .context("cannot read the job's logs")?;
    Ok(rows
        .iter()
        .map(|r| LogLine {
            id: r.get("id"),
            at: r.get("created_at"),
            level: r.get("level"),
            device_id: r.get("device_id"),
            device: r.get("device"),
            message: r.get("message"),
            data: r.get("data"),
        })
        .collect())
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
