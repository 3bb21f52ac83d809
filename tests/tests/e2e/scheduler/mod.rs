//! Schedules fired by the dispatchers: each tick one job, whatever dispatchers run or die
//! ([`dispatchers`]); catch-up, overlap, pause and daylight-saving changes with the
//! scheduler's clock in the test's hand ([`clock`]).

mod clock;
mod dispatchers;

use chrono::{DateTime, Utc};
use netraven_tests::TestEnv;

/// Stores a schedule of a reachability job on the fleet, its next tick `next_tick`.
pub(crate) async fn add(
    env: &TestEnv,
    name: &str,
    cron: &str,
    time_zone: &str,
    overlap: &str,
    catch_up_ms: i64,
    next_tick: DateTime<Utc>,
) -> anyhow::Result<()> {
    let client = env.pool.get().await?;
    client
        .execute(
            "INSERT INTO schedules (name, cron, time_zone, job_type, targets, overlap,
                                    catch_up_ms, next_tick_at)
             VALUES ($1, $2, $3, 'reachability', '{\"tags\": [\"fleet\"]}', $4, $5, $6)",
            &[&name, &cron, &time_zone, &overlap, &catch_up_ms, &next_tick],
        )
        .await?;
    Ok(())
}

/// One run row.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub tick: DateTime<Utc>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub ticks_missed: i32,
    pub taken_at: DateTime<Utc>,
}

/// The schedule's runs, oldest tick first.
pub(crate) async fn runs(env: &TestEnv, name: &str) -> anyhow::Result<Vec<Run>> {
    let client = env.pool.get().await?;
    let rows = client
        .query(
            "SELECT r.tick_at, r.outcome, r.request_id, r.ticks_missed, r.taken_at
             FROM schedule_runs r JOIN schedules s ON s.id = r.schedule_id
             WHERE s.name = $1 ORDER BY r.tick_at",
            &[&name],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Run {
            tick: r.get(0),
            outcome: r.get(1),
            request_id: r.get(2),
            ticks_missed: r.get(3),
            taken_at: r.get(4),
        })
        .collect())
}

/// The request ids of the jobs a schedule made, sorted.
pub(crate) async fn jobs_of(env: &TestEnv, name: &str) -> anyhow::Result<Vec<String>> {
    let client = env.pool.get().await?;
    let rows = client
        .query(
            "SELECT request_id FROM jobs WHERE starts_with(request_id, $1) ORDER BY request_id",
            &[&format!("schedule:{name}:")],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(crate) fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}
