//! The primary stops mid-job and its streaming replica is promoted: the roles, given both
//! hosts with `target_session_attrs=read-write`, pass over the standby while it is one,
//! follow it once promoted, and the job completes with every device once and nothing
//! dead-lettered.

use super::{assert_clean, until_completed, TIMEOUT};
use netraven_shared::db;
use netraven_shared::domain::JobStatus;
use netraven_tests::standby::Replicated;
use netraven_tests::{request, FleetBuilder, Roles, TestEnv};
use std::time::{Duration, Instant};

/// How long only the read-only standby answers.
const LEADERLESS: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_promoted_mid_job_is_followed_and_nothing_is_dead_lettered() -> anyhow::Result<()>
{
    const DEVICES: usize = 300;
    let set_up = Instant::now();
    let pg = tokio::task::spawn_blocking(Replicated::start).await??;
    let primary = pg.url_of(pg.primary_port, "postgres");
    db::connect(&primary)
        .await?
        .batch_execute("CREATE DATABASE netraven")
        .await?;
    db::migrate(&pg.url_of(pg.primary_port, "netraven")).await?;
    let set_up = set_up.elapsed();

    // The test's broker namespace and keys; its database is the replicated pair's.
    let mut env = TestEnv::new().await?;
    env.settings.database.url = pg.url("netraven");
    env.settings.worker.max_in_flight = 16;
    env.pool = db::pool(&env.settings.database)?;
    let fleet = FleetBuilder::scenario("mixed", DEVICES, 23)?.auth_rejection_ms(150);
    let want = fleet.expected();
    let fleet = fleet.start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, 2);
    let r = request("config_backup", &["fleet", "orphan"], &[]);
    let started = Instant::now();
    env.publish(&r).await?;
    let id = env.job_id(&r.request_id, TIMEOUT).await?;
    until_completed(&env, id, DEVICES as i64 / 5).await?;

    // Between the primary's stop and the promotion only the standby answers, read-only:
    // the roles must pass it over, not write to it nor fail on it.
    let pg = std::sync::Arc::new(pg);
    let stopping = pg.clone();
    tokio::task::spawn_blocking(move || stopping.stop_primary()).await??;
    tokio::time::sleep(LEADERLESS).await;
    let standby = db::connect(&pg.url_of(pg.standby_port, "postgres")).await?;
    let held: i64 = standby
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'netraven-%' \
             AND backend_start < now() - interval '1 second'",
            &[],
        )
        .await?
        .get(0);
    // The test's own pool wants a writable host too: read the standby directly.
    let replica = db::connect(&pg.url_of(pg.standby_port, "netraven")).await?;
    let during: i32 = replica
        .query_one("SELECT completed_devices FROM jobs WHERE id = $1", &[&id])
        .await?
        .get(0);
    let promoting = pg.clone();
    let promoted = Instant::now();
    tokio::task::spawn_blocking(move || promoting.promote()).await??;
    let promotion = promoted.elapsed();

    let job = env
        .wait_final(id, TIMEOUT)
        .await
        .map_err(|e| anyhow::anyhow!("{e:#}\nstandby log:\n{}", pg.log("standby")))?;
    let took = started.elapsed();
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    assert_clean(&env, id, &want).await?;
    // The rows are on the promoted standby, the only server left.
    let promoted_db = db::connect(&pg.url_of(pg.standby_port, "netraven")).await?;
    let rows: i64 = promoted_db
        .query_one("SELECT count(*) FROM job_results WHERE job_id = $1", &[&id])
        .await?
        .get(0);
    assert_eq!(rows, DEVICES as i64);
    assert_eq!(
        held, 0,
        "no role kept a session on the standby while it was one"
    );
    roles.stop().await?;
    println!(
        "primary and standby ready in {set_up:.1?}; no primary for {LEADERLESS:?} \
         ({during} devices done then), promotion took {promotion:.1?}; {DEVICES} devices final \
         {took:.1?} after the job began"
    );
    fleet.shutdown().await;
    Ok(())
}
