//! The schedules as people read them (`netraven schedule list|show`, `GET /api/schedules`):
//! their next ticks and their runs, each FIRED run with its job (joined on the request id
//! the tick sent).

use crate::row::Row;
use crate::write::no_such;
use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::tokio_postgres::Row as PgRow;
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{Limits, Targets};
use netraven_shared::schedule::{plan, Calendar};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

type Client = deadpool_postgres::Client;

/// A schedule as `schedule list --json` and `schedule show --json` give it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScheduleView {
    pub name: String,
    pub description: String,
    pub cron: String,
    pub time_zone: String,
    pub job_type: String,
    #[schema(value_type = Object)]
    pub targets: Targets,
    pub commands: Vec<String>,
    #[schema(value_type = Object)]
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
    #[schema(value_type = Option<RunView>)]
    pub last_run: Option<Option<RunView>>,
}

/// One tick a dispatcher took.
#[derive(Debug, Clone, Serialize, ToSchema)]
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
#[derive(Debug, Clone, Serialize, ToSchema)]
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

pub fn view(r: Row) -> ScheduleView {
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

/// The schedules by name, each with its latest run: those named after `after`, at most
/// `limit` of them (`None`: every one, as `netraven schedule list` shows them).
pub async fn list(
    client: &Client,
    after: Option<&str>,
    limit: Option<i64>,
) -> Result<Vec<ScheduleView>> {
    let rows = client
        .query(
            &format!(
                "SELECT s.*, {RUN_COLUMNS}
                 FROM schedules s
                 LEFT JOIN LATERAL (SELECT * FROM schedule_runs x WHERE x.schedule_id = s.id
                                    ORDER BY x.tick_at DESC LIMIT 1) r ON true
                 LEFT JOIN jobs j ON j.request_id = r.request_id
                 WHERE ($1::text IS NULL OR s.name > $1)
                 ORDER BY s.name LIMIT $2"
            ),
            &[&after, &limit],
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
    let row = crate::row::load(client, name, false)
        .await?
        .ok_or_else(|| no_such(name))?;
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
