//! The dispatcher killed with SIGKILL mid-publish, and the aggregator mid-batch: real
//! `netraven` processes, every role its own. Each job still ends with exactly one result
//! per device, and each device is contacted once — including the devices whose task the
//! dispatcher published twice (once before it died, once when the request it never
//! acked came back to its replacement): the second copy finds the first's claim
//! (migration V8) and leaves the device alone.
//!
//! The fleet accepts its first credential everywhere, so "contacted once" is exact: one
//! login per device.

use netraven_shared::broker::TASK_KEY;
use netraven_shared::domain::JobStatus;
use netraven_tests::{logins, request, FleetBuilder, RoleProcess, Spy, TestEnv};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const DEVICES: usize = 2000;
const TIMEOUT: Duration = Duration::from_secs(180);

/// One publish in flight at a time: publishing the job takes long enough (about a second
/// here) to be killed in the middle of it.
const SLOW_PUBLISHING: (&str, &str) = ("NETRAVEN__AMQP__PUBLISH_WINDOW", "1");

struct World {
    env: TestEnv,
    fleet: netraven_simulator::Fleet,
    _workers: Vec<RoleProcess>,
}

/// A fleet of `DEVICES` that all accept the first credential, imported, and two worker
/// processes consuming.
async fn world() -> anyhow::Result<World> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", DEVICES, 71)?
        .start()
        .await?;
    env.import(&fleet).await?;
    let workers = (0..2)
        .map(|n| RoleProcess::start(&env, "worker", &format!("worker-{n}"), &[]))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(World {
        env,
        fleet,
        _workers: workers,
    })
}

/// Exactly one result per device, the job a success, and one login per device.
async fn assert_once_each(w: &World, id: uuid::Uuid) -> anyhow::Result<()> {
    let job = w.env.wait_final(id, TIMEOUT).await?;
    let client = w.env.pool.get().await?;
    let log: Vec<String> = client
        .query(
            "SELECT message FROM job_logs WHERE job_id = $1 AND device_id IS NULL ORDER BY id",
            &[&id],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        job.counts.status,
        JobStatus::CompletedSuccess,
        "the job's log: {log:#?}\nthe roles' warnings:\n{}",
        role_warnings(&w.env)
    );
    assert_eq!(job.counts.completed_devices, DEVICES as i64);
    let rows: i64 = client
        .query_one("SELECT count(*) FROM job_results WHERE job_id = $1", &[&id])
        .await?
        .get(0);
    assert_eq!(rows, DEVICES as i64, "one job_results row per device");
    let per_device = logins(&w.fleet).per_device;
    let twice: HashMap<&String, &i64> = per_device.iter().filter(|(_, n)| **n != 1).collect();
    assert_eq!(per_device.len(), DEVICES, "every device logged into");
    assert!(
        twice.is_empty(),
        "devices contacted other than once: {twice:?}"
    );
    Ok(())
}

/// What the roles logged (at `warn` and above), for a failure's message.
fn role_warnings(env: &TestEnv) -> String {
    let mut text = String::new();
    if let Ok(dir) = std::fs::read_dir(env.dir.path()) {
        for entry in dir.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                let log = std::fs::read_to_string(&path).unwrap_or_default();
                text.push_str(&format!("--- {}\n{log}", path.display()));
            }
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_killed_mid_publish_contacts_each_device_once() -> anyhow::Result<()> {
    let w = world().await?;
    let _aggregator = RoleProcess::start(&w.env, "aggregator", "aggregator", &[])?;
    let mut spy = Spy::new(&w.env, Some((&w.env.names.tasks_exchange(), TASK_KEY))).await?;
    let mut dispatcher =
        RoleProcess::start(&w.env, "dispatcher", "dispatcher-1", &[SLOW_PUBLISHING])?;

    let r = request("config_backup", &["fleet"], &[]);
    w.env.publish(&r).await?;
    // Killed once a tenth of the tasks are out, while the job is still PENDING: it turns
    // RUNNING only after its last task is published.
    let mut published = 0usize;
    while published < DEVICES / 10 {
        spy.next().await?;
        published += 1;
    }
    dispatcher.kill9()?;
    let id = w.env.job_id(&r.request_id, TIMEOUT).await?;
    let client = w.env.pool.get().await?;
    let status: String = client
        .query_one("SELECT status FROM jobs WHERE id = $1", &[&id])
        .await?
        .get(0);
    assert_eq!(
        status, "PENDING",
        "killed before the job was fully published"
    );

    // The replacement gets the request back (never acked) and publishes every task again.
    let _dispatcher = RoleProcess::start(&w.env, "dispatcher", "dispatcher-2", &[])?;
    assert_once_each(&w, id).await?;
    // Every task of the second publishing, and the first's before the kill: some devices'
    // tasks went out twice.
    while let Ok(next) = tokio::time::timeout(Duration::from_secs(2), spy.next()).await {
        next?;
        published += 1;
    }
    assert!(
        published > DEVICES,
        "{published} tasks published for {DEVICES} devices: no task went out twice"
    );
    let claims: i64 = client
        .query_one(
            "SELECT count(*) FROM device_claims WHERE job_id = $1",
            &[&id],
        )
        .await?
        .get(0);
    assert_eq!(claims, DEVICES as i64, "one claim per device");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aggregator_killed_mid_batch_counts_each_device_once() -> anyhow::Result<()> {
    let w = world().await?;
    let _dispatcher = RoleProcess::start(&w.env, "dispatcher", "dispatcher", &[])?;
    let mut aggregator = RoleProcess::start(&w.env, "aggregator", "aggregator-1", &[])?;

    let r = request("config_backup", &["fleet"], &[]);
    w.env.publish(&r).await?;
    let id = w.env.job_id(&r.request_id, TIMEOUT).await?;
    let client = w.env.pool.get().await?;
    // Killed once a fifth of the devices are counted: results are coming in, batch by
    // batch, and the next batch is in the aggregator's hands.
    let started = Instant::now();
    let counted = loop {
        let counted: i64 = client
            .query_one(
                "SELECT completed_devices::bigint FROM jobs WHERE id = $1",
                &[&id],
            )
            .await?
            .get(0);
        if counted as usize >= DEVICES / 5 {
            break counted;
        }
        anyhow::ensure!(started.elapsed() < TIMEOUT, "no results counted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    aggregator.kill9()?;
    assert!(
        (counted as usize) < DEVICES,
        "the job was counted whole before the kill"
    );
    let _aggregator = RoleProcess::start(&w.env, "aggregator", "aggregator-2", &[])?;
    assert_once_each(&w, id).await
}
