//! What a job did, as tables a person reads at a glance.

use anyhow::{Context, Result};
use netraven_dispatcher::jobs;
use std::fmt::Write;
use uuid::Uuid;

/// `netraven job show`: status, counters, then one line per device.
pub async fn job(
    client: &deadpool_postgres::Client,
    job_id: Uuid,
    devices: bool,
) -> Result<String> {
    let view = jobs::get(client, job_id)
        .await?
        .with_context(|| format!("no job {job_id}"))?;
    let c = &view.counts;
    let mut out = String::new();
    writeln!(out, "job        {}", view.id)?;
    writeln!(out, "request    {}", c.request_id)?;
    writeln!(out, "type       {}", view.job_type)?;
    writeln!(out, "status     {}", c.status)?;
    if let Some(e) = &c.error {
        writeln!(out, "error      {e}")?;
    }
    writeln!(
        out,
        "devices    {} total, {} reported, {} succeeded, {} without credentials",
        c.total_devices, c.completed_devices, c.succeeded_devices, c.no_credential_devices
    )?;
    writeln!(
        out,
        "created    {}",
        view.created_at.format("%Y-%m-%d %H:%M:%S%.3f UTC")
    )?;
    if let (Some(s), Some(f)) = (view.started_at, view.finished_at) {
        let secs = (f - s).num_milliseconds() as f64 / 1000.0;
        writeln!(out, "ran        {secs:.2} s")?;
    }
    writeln!(out)?;
    out.push_str(&outcomes(client, job_id).await?);
    if devices {
        let results = jobs::results(client, job_id).await?;
        writeln!(out)?;
        writeln!(
            out,
            "{:<24} {:<18} {:<16} {:>8} {:>9}  reason",
            "DEVICE", "OUTCOME", "CREDENTIAL", "ATTEMPTS", "MS"
        )?;
        for r in results {
            writeln!(
                out,
                "{:<24} {:<18} {:<16} {:>8} {:>9}  {}",
                r.device_name,
                r.outcome.as_str(),
                r.credential.as_deref().unwrap_or("-"),
                r.attempts,
                r.duration_ms,
                r.reason
            )?;
        }
    }
    Ok(out)
}

/// Devices per outcome, with their share of the job.
pub async fn outcomes(client: &deadpool_postgres::Client, job_id: Uuid) -> Result<String> {
    let counts = jobs::outcome_counts(client, job_id).await?;
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let mut out = String::new();
    writeln!(out, "{:<18} {:>7} {:>7}", "OUTCOME", "DEVICES", "SHARE")?;
    for (outcome, n) in &counts {
        let pct = if total > 0 {
            100.0 * *n as f64 / total as f64
        } else {
            0.0
        };
        writeln!(out, "{:<18} {:>7} {:>6.1}%", outcome.as_str(), n, pct)?;
    }
    Ok(out)
}

/// Every credential's counters, for the demo and `netraven credential list`.
pub async fn credentials(client: &deadpool_postgres::Client) -> Result<String> {
    let rows = client
        .query(
            "SELECT name, username, priority, success_count, failure_count, success_rate
             FROM credentials ORDER BY priority, id",
            &[],
        )
        .await?;
    let mut out = String::new();
    writeln!(
        out,
        "{:<18} {:<12} {:>8} {:>9} {:>9} {:>8}",
        "CREDENTIAL", "USERNAME", "PRIORITY", "SUCCESSES", "FAILURES", "RATE"
    )?;
    for r in rows {
        let rate: Option<f64> = r.get("success_rate");
        writeln!(
            out,
            "{:<18} {:<12} {:>8} {:>9} {:>9} {:>8}",
            r.get::<_, String>("name"),
            r.get::<_, String>("username"),
            r.get::<_, i32>("priority"),
            r.get::<_, i64>("success_count"),
            r.get::<_, i64>("failure_count"),
            rate.map(|r| format!("{:.1}%", r * 100.0))
                .unwrap_or_else(|| "-".into()),
        )?;
    }
    Ok(out)
}
