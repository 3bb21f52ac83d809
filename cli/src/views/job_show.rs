//! `netraven job show`: a job's summary (status, devices per outcome, timings, the
//! credentials that logged in, who cancelled it) and its devices only when asked, capped for large jobs.

use super::history::{self, ConfigChanges};
use super::jobs::{self, JobSummary};
use super::{duration_ms, shown, when, Style};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use netraven_dispatcher::job_rows::DeviceResult;
use netraven_shared::domain::Outcome;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use uuid::Uuid;

/// `netraven job show --json`: the summary, the credentials that logged in and, unless
/// left out, every device's result.
#[derive(Debug, Clone, Serialize)]
pub struct JobDetail {
    #[serde(flatten)]
    pub job: JobSummary,
    /// Devices that succeeded, per credential that logged in, most used first.
    pub credentials: Vec<CredentialUse>,
    /// How long devices took, over those that reported; `null` before any did.
    pub device_time: Option<DeviceTime>,
    /// Devices whose backup stored their first configuration, a new version, or found the
    /// latest unchanged; all 0 for a job that stores no configuration.
    pub config_changes: ConfigChanges,
    /// Who cancelled the job, when and why, and what ran; `null` when nobody did.
    pub cancel: Option<Cancel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<DeviceResult>>,
}

/// A cancelled job: the cancel, and its devices by what came of them.
#[derive(Debug, Clone, Serialize)]
pub struct Cancel {
    /// The broker user that cancelled it.
    pub cancelled_by: String,
    pub requested_at: DateTime<Utc>,
    pub reason: Option<String>,
    /// Devices that ran and succeeded.
    pub succeeded: i64,
    /// Devices that ran (or were refused before running) and did not succeed.
    pub failed: i64,
    /// Devices skipped: outcome `CANCELLED`, never contacted.
    pub skipped: i64,
}

/// How long the job's devices took, from first connect to result.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceTime {
    pub mean_ms: i64,
    pub max_ms: i64,
    /// The slowest device.
    pub slowest: String,
}

/// How many devices of the job one credential logged in to.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialUse {
    pub credential: String,
    pub devices: i64,
}

/// The job's summary and, with `devices`, every device's result.
pub async fn show(
    client: &deadpool_postgres::Client,
    job_id: Uuid,
    devices: bool,
) -> Result<JobDetail> {
    let job = jobs::summary(client, job_id).await?;
    let credentials = credential_uses(client, job_id).await?;
    let device_time = device_time(client, job_id).await?;
    let config_changes = history::config_changes(client, job_id).await?;
    let cancel = cancel(&job);
    let results = if devices {
        Some(netraven_dispatcher::job_rows::results(client, job_id).await?)
    } else {
        None
    };
    Ok(JobDetail {
        job,
        credentials,
        device_time,
        config_changes,
        cancel,
        results,
    })
}

/// The job's cancel, if it has one, with its devices counted from `job`'s outcomes.
fn cancel(job: &JobSummary) -> Option<Cancel> {
    let request = job.cancel.clone()?;
    let count = |o: Outcome| {
        job.outcomes
            .as_ref()
            .and_then(|m| m.get(&o).copied())
            .unwrap_or(0)
    };
    let (succeeded, skipped) = (count(Outcome::Success), count(Outcome::Cancelled));
    Some(Cancel {
        cancelled_by: request.cancelled_by,
        requested_at: request.requested_at,
        reason: request.reason,
        succeeded,
        failed: job.completed_devices - succeeded - skipped,
        skipped,
    })
}

async fn credential_uses(
    client: &deadpool_postgres::Client,
    job_id: Uuid,
) -> Result<Vec<CredentialUse>> {
    let rows = client
        .query(
            // A removed credential is named by its tombstone (migration V12).
            "SELECT COALESCE(c.name, rc.name) AS name, count(*) FROM job_results r
             LEFT JOIN credentials c ON c.id = r.credential_id
             LEFT JOIN removed_credentials rc ON rc.id = r.credential_id
             WHERE r.job_id = $1 AND r.outcome = $2
               AND COALESCE(c.name, rc.name) IS NOT NULL
             GROUP BY 1 ORDER BY count(*) DESC, 1",
            &[&job_id, &Outcome::Success.as_str()],
        )
        .await
        .context("cannot count the job's credentials")?;
    Ok(rows
        .iter()
        .map(|r| CredentialUse {
            credential: r.get(0),
            devices: r.get(1),
        })
        .collect())
}

async fn device_time(
    client: &deadpool_postgres::Client,
    job_id: Uuid,
) -> Result<Option<DeviceTime>> {
    let row = client
        .query_opt(
            "SELECT (avg(duration_ms) OVER ())::bigint, duration_ms, device_name
             FROM job_results WHERE job_id = $1 ORDER BY duration_ms DESC LIMIT 1",
            &[&job_id],
        )
        .await
        .context("cannot time the job's devices")?;
    Ok(row.map(|r| DeviceTime {
        mean_ms: r.get(0),
        max_ms: r.get(1),
        slowest: r.get(2),
    }))
}

/// The summary, then (when fetched) at most `rows` device rows and a line saying how many
/// more there are; `None` lists them all.
pub fn render(d: &JobDetail, rows: Option<usize>, style: Style) -> String {
    let mut out = jobs::render_header(&d.job, style);
    match d.job.finished_at {
        Some(at) => {
            let _ = writeln!(out, "finished   {}", when(Some(at)));
        }
        None => {
            // Not `when`: the deadline is ahead, and "… ago" would read wrong.
            let _ = writeln!(
                out,
                "deadline   {}",
                d.job.deadline_at.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
    }
    if let Some(c) = &d.cancel {
        let why = c
            .reason
            .as_deref()
            .map(|r| format!(": {}", shown(r)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "cancelled  by {} at {}{why}",
            shown(&c.cancelled_by),
            c.requested_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        let _ = writeln!(
            out,
            "cancel     {} succeeded, {} failed, {} skipped (never contacted)",
            c.succeeded, c.failed, c.skipped
        );
    }
    if let Some(t) = &d.device_time {
        let _ = writeln!(
            out,
            "per device {} on average, slowest {} ({})",
            duration_ms(t.mean_ms),
            duration_ms(t.max_ms),
            shown(&t.slowest)
        );
    }
    if !d.credentials.is_empty() {
        let uses: Vec<String> = d
            .credentials
            .iter()
            .map(|c| format!("{} {}", shown(&c.credential), c.devices))
            .collect();
        let _ = writeln!(out, "logged in  {}", uses.join(" · "));
    }
    let c = &d.config_changes;
    if c.new + c.changed + c.unchanged > 0 {
        let _ = writeln!(
            out,
            "configs    {} changed, {} new, {} unchanged",
            c.changed, c.new, c.unchanged
        );
    }
    out.push('\n');
    out.push_str(&jobs::render_outcomes(
        d.job.outcomes.as_ref().unwrap_or(&BTreeMap::new()),
        style,
    ));
    match &d.results {
        Some(results) => {
            let shown = rows.unwrap_or(results.len()).min(results.len());
            out.push('\n');
            out.push_str(&jobs::render_results(&results[..shown], style));
            if shown < results.len() {
                let _ = writeln!(
                    out,
                    "{} more devices not shown: --limit N shows more, --limit 0 all, \
                     `job results` filters by outcome",
                    results.len() - shown
                );
            }
        }
        None if d.job.completed_devices > 0 => {
            let _ = writeln!(
                out,
                "\n`netraven job show {} --devices` lists the devices",
                d.job.id
            );
        }
        None => {}
    }
    out
}
