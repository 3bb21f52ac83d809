//! Graceful shutdown of a real worker process in the middle of a job: SIGTERM, in-flight
//! devices finish within the grace period or go back to the queue, counters are flushed,
//! exit 0 — and the job still ends with exactly one result per device.
//!
//! The workers run as `netraven worker` processes (build the binary first:
//! `cargo build -p netraven-cli`); the dispatcher and aggregator run in-process.

use crate::broker_faults::result_rows;
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{scenario, Fault, Fleet};
use netraven_tests::{request, FleetBuilder, Roles, TestEnv};
use std::collections::HashMap;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// A worker process; killed if the test fails before it is stopped.
struct Worker {
    child: Child,
}

impl Worker {
    fn spawn(env: &TestEnv, grace_ms: u64, max_in_flight: u16) -> anyhow::Result<Worker> {
        let child = env
            .command()?
            .arg("worker")
            .env("NETRAVEN__WORKER__SHUTDOWN_GRACE_MS", grace_ms.to_string())
            .env("NETRAVEN__WORKER__MAX_IN_FLIGHT", max_in_flight.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Worker { child })
    }

    /// The name it records with its results (`host:pid`).
    fn name(&self) -> String {
        format!(
            "{}:{}",
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "localhost".into()),
            self.child.id()
        )
    }

    /// SIGTERM, then waits up to `limit` for the exit; returns its status and how long it took.
    async fn terminate(&mut self, limit: Duration) -> anyhow::Result<(ExitStatus, Duration)> {
        use nix::sys::signal::{kill, Signal};
        kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.child.id())?),
            Signal::SIGTERM,
        )?;
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok((status, started.elapsed()));
            }
            anyhow::ensure!(
                started.elapsed() < limit,
                "the worker did not exit within {limit:?} of SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An all-good fleet whose every login takes `auth_ms`: devices stay in flight.
async fn slow_fleet(devices: usize, auth_ms: u64, seed: u64) -> anyhow::Result<Fleet> {
    let mut spec = scenario("all-good", devices, seed)?;
    for d in &mut spec.devices {
        d.fault = Some(Fault::SlowAuth { delay_ms: auth_ms });
    }
    FleetBuilder::from_spec(spec).start().await
}

async fn wait_for(
    what: &str,
    mut ready: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let until = Instant::now() + JOB_TIMEOUT;
    while !ready().await? {
        anyhow::ensure!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok(())
}

/// Devices the simulator saw more than one TCP connection on (worked more than once).
fn reconnected(fleet: &Fleet) -> Vec<String> {
    fleet
        .reports()
        .into_iter()
        .filter(|d| d.connections > 1)
        .map(|d| d.name)
        .collect()
}

/// Exactly one result per device, all `SUCCESS`; one `SUCCESS` attempt row per device;
/// the credential's counters equal the devices. Returns each device's recording worker.
async fn assert_exactly_once(
    env: &TestEnv,
    job: uuid::Uuid,
    devices: i64,
) -> anyhow::Result<HashMap<String, String>> {
    let client = env.pool.get().await?;
    let view = env.wait_final(job, JOB_TIMEOUT).await?;
    assert_eq!(
        view.counts.status,
        JobStatus::CompletedSuccess,
        "{:?}",
        view.counts
    );
    assert_eq!(view.counts.total_devices, devices);
    assert_eq!(view.counts.completed_devices, devices);
    let results = netraven_dispatcher::job_rows::results(&client, job).await?;
    assert_eq!(results.len() as i64, devices, "one result per device");
    for r in &results {
        assert_eq!(
            r.outcome,
            Outcome::Success,
            "{}: {}",
            r.device_name,
            r.reason
        );
        assert_eq!(r.attempts, 1, "{}", r.device_name);
    }
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT device_id), count(*) FILTER (WHERE outcome = 'SUCCESS')
             FROM credential_attempts WHERE job_id = $1",
            &[&job],
        )
        .await?;
    assert_eq!(
        (
            row.get::<_, i64>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2)
        ),
        (devices, devices, devices),
        "one recorded login per device, none twice"
    );
    let row = client
        .query_one(
            "SELECT success_count, failure_count FROM credentials WHERE name = 'tacacs'",
            &[],
        )
        .await?;
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, i64>(1)),
        (devices, 0),
        "credential counters flushed, each login counted once"
    );
    let rows = client
        .query(
            "SELECT device_name, worker FROM job_results WHERE job_id = $1",
            &[&job],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                r.get::<_, Option<String>>(1).unwrap_or_default(),
            )
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_job_finishes_in_flight_devices_flushes_and_exits_zero() -> anyhow::Result<()> {
    const DEVICES: usize = 300;
    const GRACE_MS: u64 = 2_000;
    const IN_FLIGHT: u16 = 40;
    let env = TestEnv::new().await?;
    let fleet = slow_fleet(DEVICES, 500, 61).await?;
    env.import(&fleet).await?;
    let roles = Roles::start_without_workers(&env.settings);
    let mut a = Worker::spawn(&env, GRACE_MS, IN_FLIGHT)?;
    let request = request("config_backup", &["fleet"], &[]);
    env.publish(&request).await?;
    let job = env.job_id(&request.request_id, JOB_TIMEOUT).await?;

    // A has done a round and is in the middle of the next; B joins.
    wait_for("a first round", async || {
        Ok(result_rows(&env, job).await? >= i64::from(IN_FLIGHT))
    })
    .await?;
    let b = Worker::spawn(&env, 30_000, IN_FLIGHT)?;
    wait_for("a second round", async || {
        Ok(result_rows(&env, job).await? >= 2 * i64::from(IN_FLIGHT))
    })
    .await?;
    let done_before = result_rows(&env, job).await?;
    assert!(done_before < DEVICES as i64, "the job is still running");

    let (status, took) = a.terminate(Duration::from_millis(GRACE_MS + 5_000)).await?;
    eprintln!(
        "worker A exited {status} {took:?} after SIGTERM ({done_before} of {DEVICES} devices done)"
    );
    assert!(status.success(), "exit status {status}");

    let workers = assert_exactly_once(&env, job, DEVICES as i64).await?;
    let by_a = workers.values().filter(|w| **w == a.name()).count();
    let by_b = workers.values().filter(|w| **w == b.name()).count();
    eprintln!("A recorded {by_a}, B {by_b}");
    assert_eq!(by_a + by_b, DEVICES);
    assert!(
        by_a >= usize::from(IN_FLIGHT) && by_b > 0,
        "A {by_a}, B {by_b}"
    );
    // A finished what it had in flight within its grace: no device was worked twice.
    assert_eq!(
        reconnected(&fleet),
        Vec::<String>::new(),
        "devices worked twice"
    );
    for attempts in fleet.all_attempts().values() {
        assert_eq!(
            attempts.iter().filter(|a| a.accepted).count(),
            1,
            "{attempts:?}"
        );
    }

    drop(b);
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_outlasting_the_grace_period_go_back_to_the_queue_and_finish_elsewhere(
) -> anyhow::Result<()> {
    const DEVICES: usize = 100;
    const GRACE_MS: u64 = 300;
    const IN_FLIGHT: u16 = 40;
    let env = TestEnv::new().await?;
    let fleet = slow_fleet(DEVICES, 2_500, 62).await?;
    env.import(&fleet).await?;
    let roles = Roles::start_without_workers(&env.settings);
    let mut a = Worker::spawn(&env, GRACE_MS, IN_FLIGHT)?;
    let request = request("config_backup", &["fleet"], &[]);
    env.publish(&request).await?;
    let job = env.job_id(&request.request_id, JOB_TIMEOUT).await?;

    // A has its full prefetch in flight, each device in a 2.5 s login.
    wait_for("A's devices in flight", async || {
        Ok(fleet.reports().iter().filter(|d| d.connections > 0).count() >= usize::from(IN_FLIGHT))
    })
    .await?;
    let b = Worker::spawn(&env, 30_000, DEVICES as u16)?;
    let (status, took) = a.terminate(Duration::from_millis(GRACE_MS + 5_000)).await?;
    eprintln!("worker A exited {status} {took:?} after SIGTERM");
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        result_rows(&env, job).await?,
        0,
        "nothing could finish before A stopped"
    );

    let workers = assert_exactly_once(&env, job, DEVICES as i64).await?;
    assert!(
        workers.values().all(|w| *w == b.name()),
        "B finished every device, A's returned ones included"
    );
    let returned = reconnected(&fleet);
    eprintln!(
        "{} devices returned to the queue by A and worked again by B",
        returned.len()
    );
    assert_eq!(returned.len(), usize::from(IN_FLIGHT), "{returned:?}");

    drop(b);
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}
