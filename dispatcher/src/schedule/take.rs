//! Taking due ticks, a page of schedules per transaction.
//!
//! The page's rows are locked (`FOR UPDATE SKIP LOCKED`: another dispatcher takes the
//! others), each due tick gets its run row (the key `(schedule, tick)` admits one), a
//! FIRED tick's job request is confirmed by the broker, the schedule moves to its next
//! tick, and only then does the transaction commit. A dispatcher that dies before the
//! commit leaves the tick due for the next one, which sends the same request id again:
//! the intake makes one job of both. A tick is never lost and never two jobs.

use super::Scheduler;
use crate::error::Result;
use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::{Client, Transaction};
use netraven_shared::broker::{self, Outgoing, SUBMIT_KEY};
use netraven_shared::domain::JobStatus;
use netraven_shared::schedule::plan::{self, Take};
use netraven_shared::schedule::{Calendar, Overlap, ScheduleSpec};
use netraven_shared::telemetry::metrics;
use std::str::FromStr;
use tokio_postgres::Row;

/// Schedules locked and looked at per transaction.
const PAGE: i64 = 64;

/// How long a fired tick whose job row does not exist yet counts as still going: its
/// request is on its way through `<ns>.jobs.submit`.
const REQUEST_IN_TRANSIT: Duration = Duration::minutes(10);

/// What a tick became.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TickOutcome {
    Fired,
    /// Overlap policy `skip`, and the previous run's job still going.
    Skipped,
    /// Later than the catch-up window, or the definition no longer parses.
    Missed,
}

impl TickOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            TickOutcome::Fired => "FIRED",
            TickOutcome::Skipped => "SKIPPED",
            TickOutcome::Missed => "MISSED",
        }
    }
}

/// One tick taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub schedule: String,
    pub tick: DateTime<Utc>,
    pub outcome: TickOutcome,
    /// The job request sent, for a fired tick.
    pub request_id: Option<String>,
    /// Older ticks of the same downtime passed over for this one.
    pub missed: u32,
    pub reason: Option<String>,
}

pub(super) struct Page {
    pub(super) taken: Vec<Taken>,
    /// The page's last row (its key), to start the next page after.
    pub(super) last: Option<(DateTime<Utc>, i64)>,
    pub(super) full: bool,
}

const DUE_SQL: &str = "
SELECT id, name, description, cron, time_zone, job_type, targets, commands, limits, overlap, catch_up_ms,
       next_tick_at
FROM schedules
WHERE NOT paused AND next_tick_at <= $1
  AND ($2::timestamptz IS NULL OR (next_tick_at, id) > ($2, $3))
ORDER BY next_tick_at, id
LIMIT $4
FOR UPDATE SKIP LOCKED";

/// Takes the due ticks of one page of schedules whose next tick has come (some may still
/// wait for their spread offset), in one transaction.
pub(super) async fn page(
    s: &Scheduler,
    client: &mut Client,
    now: DateTime<Utc>,
    after: Option<(DateTime<Utc>, i64)>,
) -> Result<Page> {
    let tx = client.transaction().await?;
    let (after_tick, after_id) = (after.map(|a| a.0), after.map_or(0, |a| a.1));
    let rows = tx
        .query(DUE_SQL, &[&now, &after_tick, &after_id, &PAGE])
        .await?;
    let mut page = Page {
        taken: Vec::new(),
        last: rows.last().map(|r| (r.get("next_tick_at"), r.get("id"))),
        full: rows.len() as i64 == PAGE,
    };
    for row in &rows {
        if let Some(t) = take_one(s, &tx, row, now).await? {
            page.taken.push(t);
        }
    }
    tx.commit().await?;
    for t in &page.taken {
        let m = &metrics::get().schedule_ticks_total;
        m.with_label_values(&[&t.outcome.as_str().to_ascii_lowercase()])
            .inc();
        m.with_label_values(&["passed_over"])
            .inc_by(u64::from(t.missed));
        match t.outcome {
            TickOutcome::Fired => tracing::info!(schedule = %t.schedule, tick = %t.tick,
                request.id = t.request_id.as_deref().unwrap_or_default(), passed_over = t.missed,
                "schedule fired"),
            _ => {
                tracing::warn!(schedule = %t.schedule, tick = %t.tick, outcome = t.outcome.as_str(),
                reason = t.reason.as_deref().unwrap_or_default(), passed_over = t.missed,
                "schedule tick not run")
            }
        }
    }
    Ok(page)
}

/// One schedule: its latest due tick taken, if one is due.
async fn take_one(
    s: &Scheduler,
    tx: &Transaction<'_>,
    row: &Row,
    now: DateTime<Utc>,
) -> Result<Option<Taken>> {
    let id: i64 = row.get("id");
    let name: String = row.get("name");
    let next_tick: DateTime<Utc> = row.get("next_tick_at");
    let (spec, calendar) = match definition(row) {
        Ok(d) => d,
        Err(why) => {
            // Stored by hand, or by a newer build: it cannot run until it is fixed.
            let reason = format!("the stored definition does not check out: {why}");
            record(
                s,
                tx,
                id,
                next_tick,
                TickOutcome::Missed,
                None,
                0,
                Some(&reason),
                now,
            )
            .await?;
            advance(tx, id, None).await?;
            return Ok(Some(Taken {
                schedule: name,
                tick: next_tick,
                outcome: TickOutcome::Missed,
                request_id: None,
                missed: 0,
                reason: Some(reason),
            }));
        }
    };
    let catch_up = Duration::from_std(spec.catch_up()).unwrap_or(Duration::MAX);
    let step = plan::step(&calendar, &name, next_tick, now, s.timing(catch_up));
    let Some(due) = step.due else {
        return Ok(None);
    };
    let (outcome, reason) = match due.take {
        Take::Miss => (
            TickOutcome::Missed,
            Some(format!(
                "due at {} and taken at {}, later than its catch-up window of {}",
                due.due_at,
                now,
                humantime::format_duration(spec.catch_up())
            )),
        ),
        Take::Fire if spec.overlap == Overlap::Skip => match still_going(tx, id, now).await? {
            Some(previous) => (
                TickOutcome::Skipped,
                Some(format!(
                    "the previous run's job ({previous}) is still going"
                )),
            ),
            None => (TickOutcome::Fired, None),
        },
        Take::Fire => (TickOutcome::Fired, None),
    };
    let request = spec.request(due.tick);
    let request_id = (outcome == TickOutcome::Fired).then(|| request.request_id.clone());
    let inserted = record(
        s,
        tx,
        id,
        due.tick,
        outcome,
        request_id.as_deref(),
        due.missed,
        reason.as_deref(),
        now,
    )
    .await?;
    advance(tx, id, step.next_tick).await?;
    if !inserted {
        // Taken before (a dispatcher whose clock runs ahead, or a resume that landed on
        // a tick already run): only the schedule moves on.
        return Ok(None);
    }
    if outcome == TickOutcome::Fired {
        let props = broker::json_properties().with_user_id(s.user.clone().into());
        let msg =
            Outgoing::json(&s.names.jobs_exchange(), SUBMIT_KEY, &request)?.with_properties(props);
        // Not confirmed: the transaction rolls back and the tick stays due.
        s.publisher.publish(msg).await?;
    }
    Ok(Some(Taken {
        schedule: name,
        tick: due.tick,
        outcome,
        request_id,
        missed: due.missed,
        reason,
    }))
}

/// The schedule as stored, checked again: the row may predate a rule, or be hand-made.
fn definition(row: &Row) -> std::result::Result<(ScheduleSpec, Calendar), String> {
    let spec = ScheduleSpec::from_row(row)?;
    let calendar = spec.check()?;
    Ok((spec, calendar))
}

/// The request id of the schedule's latest fired run, when its job is still going (or
/// its request is still on its way to becoming one).
async fn still_going(
    tx: &Transaction<'_>,
    schedule_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    let row = tx
        .query_opt(
            "SELECT r.request_id, r.taken_at, j.status
             FROM schedule_runs r LEFT JOIN jobs j ON j.request_id = r.request_id
             WHERE r.schedule_id = $1 AND r.outcome = 'FIRED'
             ORDER BY r.tick_at DESC LIMIT 1",
            &[&schedule_id],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let request_id: String = row.get("request_id");
    let going = match row.get::<_, Option<String>>("status") {
        Some(status) => JobStatus::from_str(&status).is_ok_and(|s| !s.is_final()),
        None => now - row.get::<_, DateTime<Utc>>("taken_at") < REQUEST_IN_TRANSIT,
    };
    Ok(going.then_some(request_id))
}

/// The run row of a tick; `false` when the tick had one already.
#[allow(clippy::too_many_arguments)]
async fn record(
    s: &Scheduler,
    tx: &Transaction<'_>,
    schedule_id: i64,
    tick: DateTime<Utc>,
    outcome: TickOutcome,
    request_id: Option<&str>,
    missed: u32,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let missed = i32::try_from(missed).unwrap_or(i32::MAX);
    let n = tx
        .execute(
            "INSERT INTO schedule_runs (schedule_id, tick_at, outcome, request_id, ticks_missed,
                                        reason, taken_by, taken_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (schedule_id, tick_at) DO NOTHING",
            &[
                &schedule_id,
                &tick,
                &outcome.as_str(),
                &request_id,
                &missed,
                &reason,
                &s.who,
                &now,
            ],
        )
        .await?;
    Ok(n == 1)
}

async fn advance(tx: &Transaction<'_>, id: i64, next: Option<DateTime<Utc>>) -> Result<()> {
    tx.execute(
        "UPDATE schedules SET next_tick_at = $2 WHERE id = $1",
        &[&id, &next],
    )
    .await?;
    Ok(())
}
