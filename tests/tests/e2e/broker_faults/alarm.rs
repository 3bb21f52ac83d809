//! A memory alarm mid-job on a RabbitMQ node of the test's own
//! (`set_vm_memory_high_watermark 0.000001`, then back to 0.4): the broker blocks every
//! connection that publishes, lapin reports `connection.blocked`, the roles say so in
//! `/readyz` and a log line and wait; once the alarm clears the job completes with
//! exactly one result per device.

use super::{assert_each_device_once, own_nodes, point_at, wait_done, JOB_TIMEOUT};
use crate::operations::probes::get;
use netraven_tests::cluster::free_port;
use netraven_tests::{request, FleetBuilder, Roles, TestEnv};
use std::time::{Duration, Instant};

const DEVICES: usize = 300;
/// Generous bound on the broker blocking a publishing connection and on `/readyz`
/// following (well under a second on an idle machine).
const NOTICE: Duration = Duration::from_secs(60);
/// How long the alarm stands once the worker is blocked.
const ALARM: Duration = Duration::from_secs(8);

/// Polls `/readyz` on `addr` until `pred(status, body)` or `NOTICE` passes.
async fn readyz_until(
    addr: &str,
    what: &str,
    pred: impl Fn(u16, &str) -> bool,
) -> anyhow::Result<(u16, String, Duration)> {
    let started = Instant::now();
    loop {
        // The role may not serve yet: a refused connection is one more try.
        let (status, body) = get(addr, "/readyz")
            .await
            .unwrap_or_else(|e| (0, format!("{e:#}")));
        if pred(status, &body) {
            return Ok((status, body, started.elapsed()));
        }
        anyhow::ensure!(
            started.elapsed() < NOTICE,
            "{addr}/readyz not {what} after {NOTICE:?}: {status} {body:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_alarm_mid_job_blocks_publishers_and_loses_nothing() -> anyhow::Result<()> {
    let node = own_nodes(1).await?;
    let mut env = TestEnv::new().await?;
    point_at(&mut env, &node);
    let worker_addr = format!("127.0.0.1:{}", free_port()?);
    env.settings.worker.metrics_addr = worker_addr.clone();
    // Few devices at a time, so that the job is still publishing results when the alarm
    // comes (the broker blocks a connection only once it publishes).
    env.settings.worker.max_in_flight = 8;
    let fleet = FleetBuilder::scenario("mixed", DEVICES, 79)?.auth_rejection_ms(200);
    let want = fleet.expected();
    let fleet = fleet.start().await?;
    env.import(&fleet).await?;
    // One worker, so that the /readyz asked is the one whose connection publishes.
    let roles = Roles::start(&env.settings, 1);
    let r = request("config_backup", &["fleet", "orphan"], &[]);
    env.publish(&r).await?;
    let id = env.job_id(&r.request_id, JOB_TIMEOUT).await?;
    readyz_until(&worker_addr, "ready", |s, _| s == 200).await?;
    // Early in the job: the worker goes on publishing results for a while.
    let at = wait_done(&env, id, 20).await?;

    node.ctl(0, &["set_vm_memory_high_watermark", "0.000001"])?;
    let alarm = Instant::now();
    let cleared = async {
        let (status, body, noticed) =
            readyz_until(&worker_addr, "blocked", |_, b| b.contains("blocked"))
                .await
                .map_err(|e| {
                    let conns = node.ctl(0, &["list_connections", "name", "state"]);
                    e.context(format!("the node's connections: {conns:?}"))
                })?;
        assert_eq!(status, 503, "a blocked worker is not ready: {body}");
        let client = env.pool.get().await?;
        let before = netraven_dispatcher::job_rows::get(&client, id)
            .await?
            .map_or(0, |j| j.counts.completed_devices);
        tokio::time::sleep(ALARM).await;
        let (_, body) = get(&worker_addr, "/readyz").await?;
        assert!(
            body.contains("blocked"),
            "still blocked during the alarm: {body}"
        );
        let during = netraven_dispatcher::job_rows::get(&client, id)
            .await?
            .map_or(0, |j| j.counts.completed_devices);
        anyhow::Ok((noticed, before, during))
    }
    .await;
    // Whatever happened above, the alarm goes.
    node.ctl(0, &["set_vm_memory_high_watermark", "0.4"])?;
    let (noticed, before, during) = cleared?;
    let alarm_for = alarm.elapsed();
    let (_, _, unblocked) = readyz_until(&worker_addr, "ready", |s, _| s == 200).await?;

    let job = env.wait_final(id, JOB_TIMEOUT).await?;
    assert_each_device_once(&env, id, &job, DEVICES as i64, &want).await?;
    println!(
        "{DEVICES} devices; alarm raised at {at} done, /readyz blocked after {noticed:.1?}; \
         devices recorded during the alarm: {before} -> {during}; alarm stood {alarm_for:.1?}; \
         /readyz ready {unblocked:.1?} after it cleared"
    );
    roles.stop().await?;
    fleet.shutdown().await;
    drop(env);
    drop(node);
    Ok(())
}
