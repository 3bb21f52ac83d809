//! Postgres faults beyond a clean restart, each against real servers on this machine:
//!
//! | test | fault |
//! |---|---|
//! | [`blackhole`] | the database stops answering without closing connections (a proxy stops forwarding) |
//! | [`failover`] | the primary stops and its streaming replica is promoted mid-job |
//! | [`read_only`] | the test's database made read-only mid-job, then writable again |
//! | [`resolution`] | the dispatcher's connection killed while it resolves a job's credentials |
//!
//! None touches the shared server's configuration: the proxy and the replicated pair are
//! the tests' own (`netraven_tests::proxy`, `netraven_tests::standby`), and the read-only
//! switch is on the test's own database. docs/reliability.md has the figures.

mod blackhole;
mod failover;
mod read_only;
mod resolution;

use netraven_dispatcher::job_rows::JobCounts;
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_shared::messages::JobRequest;
use netraven_tests::TestEnv;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Generous bound on a job's run, faults included (they last seconds).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(180);

/// The job's counters, or `None` while the test's pool cannot read them.
pub(crate) async fn progress(env: &TestEnv, id: Uuid) -> Option<JobCounts> {
    let client = env.pool.get().await.ok()?;
    Some(
        netraven_dispatcher::job_rows::get(&client, id)
            .await
            .ok()??
            .counts,
    )
}

/// Waits until `at_least` of the job's devices have their result.
pub(crate) async fn until_completed(env: &TestEnv, id: Uuid, at_least: i64) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        if let Some(c) = progress(env, id).await {
            anyhow::ensure!(
                !c.status.is_final(),
                "job {id} ended before the fault: {c:?}"
            );
            if c.completed_devices >= at_least {
                return Ok(());
            }
        }
        anyhow::ensure!(started.elapsed() < TIMEOUT, "job {id} does not progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Messages in the namespace's dead-letter queue: every dead letter, requests and tasks.
pub(crate) async fn dead_letters(env: &TestEnv) -> anyhow::Result<u32> {
    Ok(env.queue_depth(&env.names.dead_queue()).await?.0)
}

/// Checks what every fault must leave: one result per device (as the fleet's spec says,
/// so none `DEAD_LETTERED` or `INTERNAL_ERROR`), nothing dead-lettered.
pub(crate) async fn assert_clean(
    env: &TestEnv,
    id: Uuid,
    want: &netraven_tests::Outcomes,
) -> anyhow::Result<()> {
    want.assert_job(env, id).await?;
    let client = env.pool.get().await?;
    for r in netraven_dispatcher::job_rows::results(&client, id).await? {
        anyhow::ensure!(
            !matches!(r.outcome, Outcome::DeadLettered | Outcome::InternalError),
            "{}: {:?} ({})",
            r.device_name,
            r.outcome,
            r.reason
        );
    }
    assert_eq!(dead_letters(env).await?, 0, "nothing is dead-lettered");
    Ok(())
}

/// Waits for the first job (`id`) and the one `second` asked for to end, and checks that
/// both completed clean, as `want` says. Returns how long after `started` both were final.
pub(crate) async fn both_jobs_clean(
    env: &TestEnv,
    id: Uuid,
    second: &JobRequest,
    want: &netraven_tests::Outcomes,
    started: Instant,
) -> anyhow::Result<Duration> {
    let job = env.wait_final(id, TIMEOUT).await?;
    let second_id = env.job_id(&second.request_id, TIMEOUT).await?;
    let second_job = env.wait_final(second_id, TIMEOUT).await?;
    let took = started.elapsed();
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    assert_eq!(second_job.counts.status, JobStatus::CompletedPartialFailure);
    assert_clean(env, id, want).await?;
    assert_clean(env, second_id, want).await?;
    Ok(took)
}
