//! RabbitMQ faults beyond a clean restart. A fault that stops, freezes or alarms a node
//! does it to RabbitMQ nodes of the test's own ([`netraven_tests::cluster::Cluster`]),
//! never to the shared broker on :5672 (which `addresses` and `sigstop` only use):
//!
//! | module | fault |
//! |---|---|
//! | [`addresses`] | several `amqps://` addresses, each checked by its own name; dead ones skipped |
//! | [`failover`] | a three-node cluster, roles given every node; the task queue's leader killed mid-job |
//! | [`alarm`] | a memory alarm mid-job: connections blocked, `/readyz` says so, nothing lost |
//! | [`confirms`] | a node frozen with SIGSTOP: a publish fails within the confirm timeout; a blocked one waits |
//! | [`sigstop`] | a worker process frozen with SIGSTOP: its tasks go to the other worker |
//! | [`stale_leader`] | a queue's leader killed just before a publisher's first publish to it: confirmed after the election |
//!
//! Each test starts its own nodes (about 6 s each on an idle machine, 100-200 MB of
//! memory each) and kills them on drop. Figures are in docs/reliability.md, "RabbitMQ
//! faults beyond a clean restart".

mod addresses;
mod alarm;
mod confirms;
mod failover;
mod sigstop;
mod stale_leader;

use anyhow::{Context, Result};
use netraven_dispatcher::job_rows::JobView;
use netraven_shared::domain::JobStatus;
use netraven_tests::cluster::Cluster;
use netraven_tests::{Outcomes, TestEnv};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Generous bound on a whole job here: several times what it takes on an idle machine.
const JOB_TIMEOUT: Duration = Duration::from_secs(300);

/// Starts `size` nodes of the test's own (clustered when more than one).
async fn own_nodes(size: usize) -> Result<Cluster> {
    tokio::task::spawn_blocking(move || Cluster::start(size)).await?
}

/// Points every role of `env` (and its client) at `cluster`: the first node as
/// `amqp.url`, the others as `amqp.urls`.
fn point_at(env: &mut TestEnv, cluster: &Cluster) {
    let mut urls = cluster.urls();
    env.settings.amqp.url = urls.remove(0);
    env.settings.amqp.urls = urls;
}

/// Waits until the job has recorded at least `at` devices (or ended): it is in flight.
async fn wait_done(env: &TestEnv, job: Uuid, at: i64) -> Result<i64> {
    let until = Instant::now() + JOB_TIMEOUT;
    let client = env.pool.get().await?;
    loop {
        let c = netraven_dispatcher::job_rows::get(&client, job)
            .await?
            .context("job vanished")?
            .counts;
        if c.completed_devices >= at || c.status.is_final() {
            return Ok(c.completed_devices);
        }
        anyhow::ensure!(
            Instant::now() < until,
            "job {job} recorded {} devices, not {at}, in {JOB_TIMEOUT:?}",
            c.completed_devices
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `job_results` rows of the job: one per device when nothing was lost or doubled.
pub(crate) async fn result_rows(env: &TestEnv, job: Uuid) -> Result<i64> {
    let client = env.pool.get().await?;
    Ok(client
        .query_one(
            "SELECT count(*) FROM job_results WHERE job_id = $1",
            &[&job],
        )
        .await?
        .get(0))
}

/// Asserts that the final `job` (`id`) ended with each of its `devices` recorded once,
/// each device's outcome what `want` says.
async fn assert_each_device_once(
    env: &TestEnv,
    id: Uuid,
    job: &JobView,
    devices: i64,
    want: &Outcomes,
) -> Result<()> {
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    assert_eq!(job.counts.completed_devices, devices);
    assert_eq!(
        result_rows(env, id).await?,
        devices,
        "one job_results row per device"
    );
    want.assert_job(env, id).await
}

/// Devices whose task ran more than once in the job (more than one `job_logs` row).
async fn devices_run_twice(env: &TestEnv, job: Uuid) -> Result<i64> {
    let client = env.pool.get().await?;
    Ok(client
        .query_one(
            "SELECT count(*) FROM (SELECT device_id FROM job_logs WHERE job_id = $1
             GROUP BY device_id HAVING count(*) > 1) twice",
            &[&job],
        )
        .await?
        .get(0))
}
