//! `netraven prune` removes schedule runs older than the job retention, and keeps each
//! schedule's latest run however old.

use super::one;
use crate::views::netraven::json;
use netraven_tests::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_removes_old_schedule_runs_but_keeps_each_latest() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    // `busy` ran 100, 99 and 98 days ago and yesterday; `idle` only 100 and 99 days ago.
    env.pool
        .get()
        .await?
        .batch_execute(
            "INSERT INTO schedules (name, cron, time_zone, job_type, targets, catch_up_ms)
             VALUES ('busy', '0 2 * * *', 'UTC', 'config_backup', '{\"tags\":[\"core\"]}', 3600000),
                    ('idle', '0 2 * * *', 'UTC', 'config_backup', '{\"tags\":[\"lab\"]}', 3600000);
             INSERT INTO schedule_runs (schedule_id, tick_at, outcome, taken_by, taken_at)
             SELECT s.id, date_trunc('day', now()) - d * interval '1 day', 'SKIPPED', 'test',
                    date_trunc('day', now()) - d * interval '1 day'
             FROM schedules s, (VALUES (100), (99), (98), (1)) AS v(d)
             WHERE s.name = 'busy' OR d IN (100, 99);",
        )
        .await?;
    let dry = json(&env, &["prune", "--dry-run"])?;
    assert_eq!(
        dry["rows"]["schedule_runs"], 4,
        "busy's three old runs and idle's older one: {dry}"
    );
    assert_eq!(
        one::<i64>(&env, "SELECT count(*) FROM schedule_runs").await?,
        6
    );
    let done = json(&env, &["prune"])?;
    assert_eq!(
        done["rows"], dry["rows"],
        "a prune removes what the dry run counted"
    );
    let left: Vec<(String, i64)> = env
        .pool
        .get()
        .await?
        .query(
            "SELECT s.name, round(extract(epoch FROM date_trunc('day', now()) - r.tick_at) / 86400)::bigint
             FROM schedule_runs r JOIN schedules s ON s.id = r.schedule_id ORDER BY s.name",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        left,
        [("busy".to_string(), 1), ("idle".to_string(), 99)],
        "busy keeps yesterday's run, idle its latest, 99 days old"
    );
    Ok(())
}
