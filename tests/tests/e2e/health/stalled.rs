//! An aggregator that holds results and records none, or a dispatcher that holds a job
//! request and handles none (their statements wait on a lock the test holds), is reported
//! stalled on `/readyz` and by `netraven_role_stalled`, while its database answers; once
//! the lock goes, the work is done and the role is ready again.

use super::{publish_signed, quick_health, readyz_until, result, sample, Running};
use crate::operations::probes::free_port;
use anyhow::{ensure, Result};
use netraven_shared::broker::{self, Publisher};
use netraven_tests::{request, TestEnv};
use std::time::{Duration, Instant};

const STALLED: &str = "netraven_role_stalled{role=\"aggregator\"}";

/// A connection to the test's own database holding `table` in ACCESS EXCLUSIVE mode, in
/// a transaction: the roles' statements on it wait until [`TableLock::release`].
struct TableLock(tokio_postgres::Client);

impl TableLock {
    async fn take(env: &TestEnv, table: &str) -> Result<TableLock> {
        let (client, conn) =
            tokio_postgres::connect(&env.settings.database.url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        client.batch_execute("BEGIN").await?;
        client
            .batch_execute(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            .await?;
        Ok(TableLock(client))
    }

    async fn release(self) -> Result<()> {
        self.0.batch_execute("ROLLBACK").await?;
        Ok(())
    }
}

/// Waits for `/readyz` at `addr` to say the role is stalled with one piece of work in
/// hand while its database answers; returns what it said.
async fn stalled_with_one_in_hand(addr: &str) -> Result<String> {
    let (_, why) = readyz_until(addr, "stalled", |s, b| s == 503 && b.contains("stalled")).await?;
    ensure!(
        why.contains("1 in hand") && !why.contains("database down"),
        "the database answers; only the work is stuck: {why}"
    );
    Ok(why)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregator_whose_statements_hang_is_reported_stalled() -> Result<()> {
    let mut env = TestEnv::new().await?;
    quick_health(&mut env.settings);
    let addr = format!("127.0.0.1:{}", free_port()?);
    env.settings.aggregator.metrics_addr = addr.clone();
    let aggregator = Running::aggregator(&env.settings);
    readyz_until(&addr, "ready", |s, _| s == 200).await?;
    assert_eq!(sample(&addr, STALLED).await?, Some(0.0));

    // The test's own database: the aggregator's insert waits on this lock.
    let lock = TableLock::take(&env, "job_results").await?;

    let conn = broker::connect(&env.settings.amqp, "test-worker").await?;
    let publisher = Publisher::new(&conn, 4).await?;
    let job_id = uuid::Uuid::new_v4();
    let body = serde_json::to_vec(&result(job_id, 1, "r1", "ok"))?;
    let sent = Instant::now();
    publish_signed(&env, &publisher, body, false).await?;

    let why = stalled_with_one_in_hand(&addr).await?;
    eprintln!(
        "/readyz said {why:?} {} ms after the result was published",
        sent.elapsed().as_millis()
    );
    assert_eq!(sample(&addr, STALLED).await?, Some(1.0));
    assert_eq!(
        sample(&addr, "netraven_work_in_hand{role=\"aggregator\"}").await?,
        Some(1.0)
    );
    let waited = sample(
        &addr,
        "netraven_seconds_since_progress{role=\"aggregator\"}",
    )
    .await?
    .unwrap_or(0.0);
    assert!(waited > 2.0, "seconds since progress: {waited}");

    // The lock goes: the batch commits (a result for no job records nothing) and the
    // stall ends.
    lock.release().await?;
    readyz_until(&addr, "ready again", |s, _| s == 200).await?;
    assert_eq!(sample(&addr, STALLED).await?, Some(0.0));
    let until = Instant::now() + Duration::from_secs(30);
    while sample(&addr, "netraven_work_in_hand{role=\"aggregator\"}").await? != Some(0.0) {
        ensure!(Instant::now() < until, "the result stayed in hand");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    aggregator.stop().await?;
    let _ = conn.close(200, "ok".into()).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_whose_statements_hang_is_reported_stalled() -> Result<()> {
    let mut env = TestEnv::new().await?;
    quick_health(&mut env.settings);
    let addr = format!("127.0.0.1:{}", free_port()?);
    env.settings.dispatcher.metrics_addr = addr.clone();
    let dispatcher = Running::dispatcher(&env.settings);
    readyz_until(&addr, "ready", |s, _| s == 200).await?;

    // Creating the job waits on this lock.
    let lock = TableLock::take(&env, "jobs").await?;
    let job = request("config_backup", &["nothing-has-this-tag"], &[]);
    env.publish(&job).await?;
    stalled_with_one_in_hand(&addr).await?;
    assert_eq!(
        sample(&addr, "netraven_role_stalled{role=\"dispatcher\"}").await?,
        Some(1.0)
    );

    lock.release().await?;
    readyz_until(&addr, "ready again", |s, _| s == 200).await?;
    let job_id = env.job_id(&job.request_id, Duration::from_secs(30)).await?;
    let done = env.wait_final(job_id, Duration::from_secs(30)).await?;
    assert_eq!(
        done.counts.status,
        netraven_shared::domain::JobStatus::CompletedNoDevices
    );
    dispatcher.stop().await?;
    Ok(())
}
