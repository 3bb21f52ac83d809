//! A dispatcher whose pool is as small as its prefetch handles many requests at once
//! without ever waiting on its own pool: each request holds one connection at a time.

use super::{populate, DispatcherProcess, TIMEOUT};
use netraven_tests::{request, TestEnv};
use std::time::{Duration, Instant};

const JOBS: usize = 40;
const DEVICES: i64 = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_as_small_as_the_prefetch_handles_40_requests_at_once() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    populate(&env, "pooled", DEVICES).await?;
    // A short pool timeout: a request that waited on the pool would fail fast and be
    // deferred, which the log would show.
    let mut dispatcher = DispatcherProcess::start(
        &env,
        &[
            ("NETRAVEN__DATABASE__POOL_SIZE", "2"),
            ("NETRAVEN__DATABASE__POOL_TIMEOUT_MS", "3000"),
            ("NETRAVEN__DISPATCHER__PREFETCH", "2"),
        ],
    )?;
    dispatcher.consuming().await?;

    let requests: Vec<_> = (0..JOBS)
        .map(|_| request("config_backup", &["pooled"], &[]))
        .collect();
    let publishing = requests.iter().map(|r| env.publish(r));
    for published in futures::future::join_all(publishing).await {
        published?;
    }

    let client = env.pool.get().await?;
    let ids: Vec<String> = requests.iter().map(|r| r.request_id.clone()).collect();
    let until = Instant::now() + TIMEOUT * 2;
    loop {
        let row = client
            .query_one(
                "SELECT count(*) FILTER (WHERE status = 'RUNNING' AND published_tasks = $2),
                        count(*)
                 FROM jobs WHERE request_id = ANY($1)",
                &[&ids, &(DEVICES as i32)],
            )
            .await?;
        let (running, made): (i64, i64) = (row.get(0), row.get(1));
        if running == JOBS as i64 {
            break;
        }
        assert!(
            Instant::now() < until,
            "{running} of {JOBS} jobs running ({made} made): {}",
            dispatcher.logged()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = dispatcher.logged();
    assert!(
        !log.contains("request deferred") && !log.contains("database pool"),
        "no request waited on the pool: {log}"
    );
    Ok(())
}
