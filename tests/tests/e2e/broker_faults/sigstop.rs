//! A `netraven worker` process frozen with SIGSTOP mid-job (alive, its sockets open, but
//! silent): the broker closes its connection after about two heartbeat intervals (10 s
//! each by default; the frozen worker here asks for 4 s, so that the test waits less),
//! its unacked tasks go to the other worker, and the job completes while
//! it is still frozen. Resumed with SIGCONT, the frozen worker's late work records no
//! device twice: `job_results` keeps one row per device and the job's counters do not move.
//!
//! Runs against the shared broker: only our own worker process is signalled.

use super::{assert_each_device_once, devices_run_twice, result_rows, wait_done, JOB_TIMEOUT};
use netraven_tests::{request, FleetBuilder, RoleProcess, Roles, TestEnv};
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

const DEVICES: usize = 300;
/// Tasks a worker holds at once: what the frozen one sits on.
const MAX_IN_FLIGHT: usize = 8;
/// Generous bound on the hand-over: heartbeats (about 20 s) plus the rest of the job,
/// several times over.
const HANDOVER: Duration = Duration::from_secs(240);
/// How long the resumed worker is given to do its late writes.
const AFTER_RESUME: Duration = Duration::from_secs(8);
/// The frozen worker's heartbeat, in seconds (`heartbeat` in its `amqp.url`).
const HEARTBEAT_S: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_frozen_with_sigstop_hands_its_tasks_over_and_records_nothing_twice(
) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("mixed", DEVICES, 83)?.auth_rejection_ms(100);
    let want = fleet.expected();
    let fleet = fleet.start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start_without_workers(&env.settings);
    let url = &env.settings.amqp.url;
    let sep = if url.contains('?') { '&' } else { '?' };
    let quick_heartbeat = format!("{url}{sep}heartbeat={HEARTBEAT_S}");
    let frozen = RoleProcess::worker(
        &env,
        0,
        MAX_IN_FLIGHT,
        &[
            ("RUST_LOG", "info"),
            ("NETRAVEN__AMQP__URL", quick_heartbeat.as_str()),
        ],
    )?;
    let other = RoleProcess::worker(&env, 1, MAX_IN_FLIGHT, &[("RUST_LOG", "info")])?;
    let r = request("config_backup", &["fleet", "orphan"], &[]);
    env.publish(&r).await?;
    let id = env.job_id(&r.request_id, JOB_TIMEOUT).await?;
    let at = wait_done(&env, id, DEVICES as i64 / 10).await?;
    // Frozen while it works: it has recorded devices, and holds tasks.
    let by_frozen = format!("%:{}", frozen.pid());
    let until = Instant::now() + JOB_TIMEOUT;
    while worker_results(&env, id, &by_frozen).await? == 0 {
        anyhow::ensure!(Instant::now() < until, "worker 0 took no task");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    frozen.signal(Signal::SIGSTOP)?;
    let stopped = Instant::now();
    let job = env.wait_final(id, HANDOVER).await?;
    let handed_over = stopped.elapsed();
    assert_each_device_once(&env, id, &job, DEVICES as i64, &want).await?;
    let ran_twice_before = devices_run_twice(&env, id).await?;

    // Resumed, the frozen worker finds its broker connection closed; whatever it still
    // writes must not count a device again.
    frozen.signal(Signal::SIGCONT)?;
    tokio::time::sleep(AFTER_RESUME).await;
    let client = env.pool.get().await?;
    let after = netraven_dispatcher::job_rows::get(&client, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("job vanished"))?;
    assert_eq!(
        after.counts, job.counts,
        "the job's counts after the resume"
    );
    assert_eq!(
        result_rows(&env, id).await?,
        DEVICES as i64,
        "one job_results row per device after the resume"
    );
    want.assert_job(&env, id).await?;
    let ran_twice_after = devices_run_twice(&env, id).await?;
    let frozen_results = worker_results(&env, id, &by_frozen).await?;
    // Its claims were taken over with the redelivered tasks: its late batch records none
    // of those devices (worker/src/persist/claims.rs).
    assert_eq!(
        ran_twice_after, ran_twice_before,
        "the resumed worker logged runs of devices another worker took over"
    );
    println!(
        "{DEVICES} devices, worker frozen at {at} done; job final {handed_over:.1?} after \
         SIGSTOP; devices with two runs logged: {ran_twice_before} before SIGCONT, \
         {ran_twice_after} {AFTER_RESUME:?} after; {frozen_results} results by the frozen worker"
    );
    frozen.stop()?;
    other.stop()?;
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}

/// Results of the job recorded from the worker whose `host:pid` matches `pattern`.
async fn worker_results(env: &TestEnv, job: uuid::Uuid, pattern: &str) -> anyhow::Result<i64> {
    let client = env.pool.get().await?;
    Ok(client
        .query_one(
            "SELECT count(*) FROM job_results WHERE job_id = $1 AND worker LIKE $2",
            &[&job, &pattern],
        )
        .await?
        .get(0))
}
