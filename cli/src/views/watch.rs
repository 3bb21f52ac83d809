//! `netraven job watch`: follows a job to its final status with a progress bar on stderr,
//! then prints the per-outcome table on stdout and returns the status's exit code.

use super::jobs::{self, JobSummary};
use super::{duration_ms, outcome_color, Style};
use crate::exit::Exit;
use anyhow::Result;
use comfy_table::Color;
use netraven_shared::domain::{JobStatus, Outcome};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How to watch.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    /// Time between polls.
    pub every: Duration,
    /// Give up after this long.
    pub timeout: Duration,
    /// Redraw one line in place (stderr is a terminal); otherwise print a line per change.
    pub live: bool,
    /// Print no progress, then the final summary as JSON.
    pub json: bool,
    /// The final summary's style (stdout).
    pub style: Style,
    /// The progress lines' style (stderr).
    pub progress_style: Style,
}

/// At most one plain progress line this often (when not live).
const PLAIN_EVERY: Duration = Duration::from_secs(1);
const BAR_WIDTH: usize = 30;

/// Follows the job, printing progress to stderr, then the final summary to stdout. Returns
/// the exit code for the status it ended with ([`Exit::GaveUp`] when still open).
pub async fn watch(client: &deadpool_postgres::Client, job_id: Uuid, how: Watch) -> Result<Exit> {
    let started = Instant::now();
    let mut progress = std::io::stderr();
    let mut outcomes: BTreeMap<Outcome, i64> = BTreeMap::new();
    let mut seen: Option<(i64, JobStatus)> = None;
    let mut printed_at: Option<Instant> = None;
    let mut pending_line = false;
    let job = loop {
        let job = jobs::summary_counts(client, job_id).await?;
        let now = (job.completed_devices, job.status);
        if seen != Some(now) {
            // Only a change in the counters makes the outcome query worth running.
            outcomes = jobs::outcomes(client, job_id).await?;
            seen = Some(now);
            pending_line = true;
        }
        let done = job.status.is_final();
        let timed_out = started.elapsed() >= how.timeout;
        if !how.json {
            let line = progress_line(&job, &outcomes, how.live, how.progress_style);
            if how.live {
                write!(progress, "\r\x1b[2K{line}")?;
                progress.flush()?;
            } else if pending_line
                && (done || printed_at.is_none_or(|t| t.elapsed() >= PLAIN_EVERY))
            {
                writeln!(progress, "{line}")?;
                printed_at = Some(Instant::now());
                pending_line = false;
            }
        }
        if done || timed_out {
            break job;
        }
        tokio::time::sleep(how.every).await;
    };
    if how.live && !how.json {
        writeln!(progress)?;
    }
    let code = Exit::for_status(job.status);
    let mut out = std::io::stdout().lock();
    let mut summary = job;
    summary.outcomes = Some(outcomes);
    if how.json {
        write!(out, "{}", super::json(&summary)?)?;
    } else {
        write!(out, "{}", jobs::render_header(&summary, how.style))?;
        writeln!(out)?;
        write!(
            out,
            "{}",
            jobs::render_outcomes(
                summary.outcomes.as_ref().unwrap_or(&BTreeMap::new()),
                how.style
            )
        )?;
    }
    out.flush()?;
    if code == Exit::GaveUp {
        crate::note!(
            "gave up after {} s: job {job_id} is still {}",
            how.timeout.as_secs(),
            summary.status
        );
    }
    Ok(code)
}

/// `[██████░░░░]  32/40  80%  RUNNING  SUCCESS 30 · AUTH_FAILED 2  4.1 s`
fn progress_line(
    job: &JobSummary,
    outcomes: &BTreeMap<Outcome, i64>,
    live: bool,
    style: Style,
) -> String {
    let total = job.total_devices.max(0) as usize;
    let (full, empty) = if live { ("█", "░") } else { ("#", "-") };
    let mut bar = String::new();
    let mut used = 0;
    // Segments in outcome order, each coloured as its outcomes are.
    let mut acc = 0usize;
    for (o, n) in outcomes {
        acc += (*n).max(0) as usize;
        let upto = (acc * BAR_WIDTH)
            .checked_div(total)
            .unwrap_or(0)
            .min(BAR_WIDTH);
        if upto > used {
            bar.push_str(&style.paint(&full.repeat(upto - used), Some(outcome_color(*o))));
            used = upto;
        }
    }
    bar.push_str(&style.paint(&empty.repeat(BAR_WIDTH - used), Some(Color::DarkGrey)));
    let pct = (100 * job.completed_devices.max(0) as usize)
        .checked_div(total)
        .unwrap_or(0);
    let counts: Vec<String> = outcomes
        .iter()
        .map(|(o, n)| format!("{} {n}", style.outcome(*o)))
        .collect();
    let mut line = format!(
        "[{bar}] {:>5}/{} {pct:>3}%  {}",
        job.completed_devices,
        job.total_devices,
        style.status(job.status)
    );
    if !counts.is_empty() {
        line.push_str("  ");
        line.push_str(&counts.join(" · "));
    }
    if let Some(ms) = job.ran_ms() {
        line.push_str(&format!("  {}", duration_ms(ms)));
    }
    line
}
