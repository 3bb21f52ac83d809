//! The dispatcher's resolution query is cancelled, then its connection killed, while it
//! resolves a job's credentials: each time the request goes back to the queue like any
//! transient failure, and the job completes; it never ends `FAILED_CREDENTIAL_RESOLUTION`.

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
    // First the statement is cancelled (57014: the connection lives on), then, on the
    // redelivery, the connection is killed (57P01: it is gone). Before the fix the first
    // ended the job FAILED_CREDENTIAL_RESOLUTION; the second was requeued only because
    // the dead connection could not record that status either.
    let mut since = None;
    for action in ["pg_cancel_backend", "pg_terminate_backend"] {
        let (pid, began) = loop {
            if let Some(found) = waiting(&watcher, &name, since).await? {
                break found;
            }
            let failed = watcher
                .query_opt(
                    "SELECT status, error FROM jobs WHERE request_id = $1 AND status LIKE 'FAILED%'",
                    &[&r.request_id],
                )
                .await?;
            if let Some(row) = failed {
                anyhow::bail!(
                    "before {action} the job ended {}: {:?}",
                    row.get::<_, String>(0),
                    row.get::<_, Option<String>>(1)
                );
            }
            anyhow::ensure!(
                started.elapsed() < TIMEOUT,
                "the dispatcher never waited on the devices' lock (again) before {action}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let done: bool = watcher
            .query_one(&format!("SELECT {action}($1)"), &[&pid])
            .await?
            .get(0);
        assert!(done, "{action}({pid})");
        since = Some(began);
    }
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
    println!(
        "resolution's statement cancelled, then its connection killed; {DEVICES} devices \
         final {took:.1?} after submission"
    );
    fleet.shutdown().await;
    Ok(())
}

/// The dispatcher's backend waiting on a lock in the devices' query, started after
/// `since`: its pid and when its statement began.
async fn waiting(
    watcher: &tokio_postgres::Client,
    db: &str,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<Option<(i32, chrono::DateTime<chrono::Utc>)>> {
    Ok(watcher
        .query_opt(
            "SELECT pid, query_start FROM pg_stat_activity WHERE datname = $1
             AND application_name = 'netraven-dispatcher' AND wait_event_type = 'Lock'
             AND query LIKE '%WITH target AS%'
             AND ($2::timestamptz IS NULL OR query_start > $2)",
            &[&db, &since],
        )
        .await?
        .map(|r| (r.get(0), r.get(1))))
}
