//! The dispatcher's connection is killed while it resolves a job's credentials: the
//! request goes back to the queue like any transient failure and the job completes; it
//! never ends `FAILED_CREDENTIAL_RESOLUTION`.

use super::{assert_clean, TIMEOUT};
use netraven_shared::db;
use netraven_shared::domain::JobStatus;
use netraven_tests::{request, FleetBuilder, Roles, TestEnv};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_lost_while_resolving_is_retried_never_a_failed_resolution(
) -> anyhow::Result<()> {
    const DEVICES: usize = 50;
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", DEVICES, 31)?;
    let want = fleet.expected();
    let fleet = fleet.start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, 1);

    // The devices' query waits on this lock, so its backend can be found and killed
    // while it resolves.
    let locker = db::connect(&env.settings.database.url).await?;
    locker
        .batch_execute("BEGIN; LOCK TABLE devices IN ACCESS EXCLUSIVE MODE")
        .await?;
    let r = request("config_backup", &["fleet"], &[]);
    let started = Instant::now();
    env.publish(&r).await?;
    let name = env.database_name().to_string();
    let watcher = db::connect(&env.settings.database.url).await?;
    let pid: i32 = loop {
        let found = watcher
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1
                 AND application_name = 'netraven-dispatcher' AND wait_event_type = 'Lock'
                 AND query LIKE '%WITH target AS%'",
                &[&name],
            )
            .await?;
        if let Some(row) = found {
            break row.get(0);
        }
        anyhow::ensure!(
            started.elapsed() < TIMEOUT,
            "the dispatcher never waited on the devices' lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let killed: bool = watcher
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await?
        .get(0);
    assert!(killed, "backend {pid} terminated");
    locker.batch_execute("ROLLBACK").await?;

    let id = env.job_id(&r.request_id, TIMEOUT).await?;
    let job = env.wait_final(id, TIMEOUT).await?;
    let took = started.elapsed();
    assert_eq!(
        job.counts.status,
        JobStatus::CompletedSuccess,
        "{:?}",
        job.counts.error
    );
    assert_clean(&env, id, &want).await?;
    let client = env.pool.get().await?;
    let failures: i64 = client
        .query_one(
            "SELECT count(*) FROM job_logs WHERE job_id = $1 AND message = 'dispatch failed'",
            &[&id],
        )
        .await?
        .get(0);
    assert_eq!(failures, 0, "the lost connection did not fail the dispatch");
    roles.stop().await?;
    println!("resolution's connection killed; {DEVICES} devices final {took:.1?} after submission");
    fleet.shutdown().await;
    Ok(())
}
