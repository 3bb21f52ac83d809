//! `prune` removes old rows but keeps open jobs and each device's latest config
//! (configuration versions in detail: `prune_versions.rs`).

use super::netraven::{json, netraven, JOB_TIMEOUT};
use netraven_tests::{request, FleetBuilder, Roles, TestEnv};
use std::time::{Duration, Instant};

async fn count(env: &TestEnv, sql: &str) -> anyhow::Result<i64> {
    Ok(env.pool.get().await?.query_one(sql, &[]).await?.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_removes_old_rows_but_keeps_open_jobs_and_latest_configs() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", 3, 5)?.start().await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let old = env
        .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;
    let later = env
        .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;
    roles.stop().await?;

    let client = env.pool.get().await?;
    // The first job and everything of it are 100 days old.
    client
        .execute(
            "UPDATE jobs SET created_at = now() - interval '100 days' WHERE id = $1",
            &[&old.id],
        )
        .await?;
    client
        .execute(
            "UPDATE job_logs SET created_at = now() - interval '100 days' WHERE job_id = $1",
            &[&old.id],
        )
        .await?;
    client
        .execute(
            "UPDATE credential_attempts SET attempted_at = now() - interval '100 days' WHERE job_id = $1",
            &[&old.id],
        )
        .await?;
    // A job that is still running, just as old, with a log line and a result.
    client
        .batch_execute(
            "INSERT INTO jobs (id, request_id, job_type, request, status, total_devices,
                               created_at, started_at, deadline_at)
             VALUES ('00000000-0000-0000-0000-00000000beef', 'still-running', 'config_backup',
                     '{}', 'RUNNING', 3, now() - interval '100 days',
                     now() - interval '100 days', now() + interval '1 hour');
             INSERT INTO job_logs (job_id, level, message, created_at)
             VALUES ('00000000-0000-0000-0000-00000000beef', 'INFO', 'old but open',
                     now() - interval '100 days');
             INSERT INTO job_results (job_id, device_id, device_name, outcome)
             SELECT '00000000-0000-0000-0000-00000000beef', id, name, 'SUCCESS'
             FROM devices WHERE name = 'dev-00001';
             -- dev-00001 had another configuration long ago: its version 1, the one the
             -- jobs stored becoming version 2. Among its 10 newest, so it stays for now.
             UPDATE device_configs SET version = 2
             WHERE device_id = (SELECT id FROM devices WHERE name = 'dev-00001');
             INSERT INTO device_configs (device_id, version, sha256, content, size_bytes,
                                         first_seen_at, last_seen_at)
             SELECT id, 1, repeat('0', 64), 'hostname old', 12, now() - interval '200 days',
                    now() - interval '150 days'
             FROM devices WHERE name = 'dev-00001';
             -- dev-00002's only configuration is old too: the latest is always kept.
             UPDATE device_configs SET first_seen_at = now() - interval '120 days',
                                       last_seen_at = now() - interval '100 days'
             WHERE device_id = (SELECT id FROM devices WHERE name = 'dev-00002');
             -- A schedule whose three runs are all old: its latest run stays.
             INSERT INTO schedules (id, name, cron, time_zone, job_type, targets, catch_up_ms,
                                    next_tick_at)
             VALUES (7, 'nightly', '0 2 * * *', 'UTC', 'config_backup', '{\"tags\": [\"fleet\"]}',
                     3600000, now());
             INSERT INTO schedule_runs (schedule_id, tick_at, outcome, taken_by, taken_at)
             SELECT 7, now() - make_interval(days => 100 + d), 'MISSED', 'test',
                    now() - make_interval(days => 100 + d)
             FROM generate_series(0, 2) d;",
        )
        .await?;
    let rows_of_old = "SELECT (SELECT count(*) FROM job_results WHERE job_id = '{old}')
        + (SELECT count(*) FROM job_logs WHERE job_id = '{old}')
        + (SELECT count(*) FROM credential_attempts WHERE job_id = '{old}')
        + (SELECT count(*) FROM jobs WHERE id = '{old}')"
        .replace("{old}", &old.id.to_string());
    let before = count(&env, &rows_of_old).await?;
    // 3 results, 3 login attempts, the job, and its log lines.
    assert!(before >= 7, "the old job has rows: {before}");

    // A dry run counts and deletes nothing.
    let dry = json(&env, &["prune", "--dry-run"])?;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["older_than_days"], 90, "the default retention");
    assert_eq!(dry["config_versions_kept"], 10, "the default versions kept");
    assert_eq!(dry["config_older_than_days"], 90);
    assert_eq!(dry["rows"]["jobs"], 1);
    assert_eq!(dry["rows"]["job_results"], 3);
    assert_eq!(dry["rows"]["credential_attempts"], 3);
    assert_eq!(
        dry["rows"]["schedule_runs"], 2,
        "old schedule runs go, but not a schedule's latest"
    );
    assert_eq!(
        dry["rows"]["device_configs"], 0,
        "an old version among a device's 10 newest stays"
    );
    assert_eq!(count(&env, &rows_of_old).await?, before);

    let table = netraven(&env, &["prune", "--dry-run"], 0)?;
    assert!(
        table.contains("WOULD PRUNE") && table.contains("job_results"),
        "{table}"
    );

    let done = json(&env, &["prune"])?;
    assert_eq!(
        done["rows"], dry["rows"],
        "a prune removes what the dry run counted"
    );
    assert_eq!(
        count(&env, &rows_of_old).await?,
        0,
        "every row of the old job is gone"
    );
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM schedule_runs WHERE schedule_id = 7"
        )
        .await?,
        1,
        "the schedule keeps its latest run"
    );
    let beef = "'00000000-0000-0000-0000-00000000beef'";
    assert_eq!(
        count(
            &env,
            &format!("SELECT count(*) FROM jobs WHERE id = {beef} AND status = 'RUNNING'")
        )
        .await?,
        1,
        "a running job is never pruned"
    );
    assert_eq!(
        count(
            &env,
            &format!("SELECT count(*) FROM job_logs WHERE job_id = {beef}")
        )
        .await?
            + count(
                &env,
                &format!("SELECT count(*) FROM job_results WHERE job_id = {beef}")
            )
            .await?,
        2,
        "nor its logs and results"
    );
    assert_eq!(
        count(
            &env,
            &format!("SELECT count(*) FROM jobs WHERE id = '{}'", later.id)
        )
        .await?,
        1,
        "a recent job stays"
    );
    assert_eq!(
        count(&env, "SELECT count(*) FROM device_configs").await?,
        4,
        "each device keeps its latest config, dev-00001 its old one too"
    );
    // The device still shows its config and when it changed.
    let d = json(&env, &["device", "show", "dev-00002"])?;
    assert!(d["config"]["sha256"].is_string());

    let again = json(
        &env,
        &[
            "prune",
            "--older-than-days",
            "30",
            "--keep-config-versions",
            "1",
        ],
    )?;
    assert_eq!(again["rows"]["jobs"], 0, "nothing more is that old");
    assert_eq!(
        again["rows"]["device_configs"], 1,
        "keeping one version, dev-00001's old one goes"
    );
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM device_configs WHERE sha256 = repeat('0', 64)"
        )
        .await?,
        0,
        "the superseded config went"
    );
    assert_eq!(
        count(&env, "SELECT count(*) FROM device_configs").await?,
        3,
        "each device keeps its latest config, however old"
    );

    // The aggregator prunes by itself every prune_interval_ms.
    client
        .execute(
            "UPDATE jobs SET created_at = now() - interval '100 days' WHERE id = $1",
            &[&later.id],
        )
        .await?;
    let mut settings = env.settings.clone();
    settings.aggregator.prune_interval_ms = 100;
    let roles = Roles::start_without_workers(&settings);
    let until = Instant::now() + Duration::from_secs(20);
    let left = format!(
        "SELECT count(*) FROM job_results WHERE job_id = '{}'",
        later.id
    );
    while count(&env, &left).await? > 0 {
        anyhow::ensure!(Instant::now() < until, "the aggregator did not prune");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while count(
        &env,
        &format!("SELECT count(*) FROM jobs WHERE id = '{}'", later.id),
    )
    .await?
        > 0
    {
        anyhow::ensure!(
            Instant::now() < until,
            "the aggregator did not prune the job"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    roles.stop().await?;
    assert_eq!(
        count(
            &env,
            &format!("SELECT count(*) FROM jobs WHERE id = {beef}")
        )
        .await?,
        1,
        "the aggregator leaves open jobs alone too"
    );
    fleet.shutdown().await;
    Ok(())
}
