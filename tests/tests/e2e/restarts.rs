//! RabbitMQ and Postgres restarted mid-job, for real (`rabbitmqctl stop_app`/`start_app`,
//! `pg_ctlcluster … restart`): every role reconnects on its own and the job completes with
//! every device recorded once and every login the devices saw counted once.
//!
//! These tests take the shared services down. Each holds an exclusive lock on
//! /tmp/netraven-restart.lock while it does, brings the service back in a `Drop` guard
//! (also when it fails), and the module runs alone: `.config/nextest.toml` puts it in the
//! `serial-disruptive` group and scripts/test runs it after every other test.

use crate::db_faults::progress;
use netraven_shared::domain::JobStatus;
use netraven_tests::{
    logins, recorded_logins, request, runs, sh, FleetBuilder, Logins, Roles, TestEnv,
};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(240);
const LOCK: &str = "/tmp/netraven-restart.lock";

/// One service this test stops; started again when dropped, whatever happened.
struct Outage {
    service: Service,
    _lock: std::fs::File,
}

#[derive(Clone, Copy, Debug)]
enum Service {
    RabbitMq,
    Postgres,
}

fn answers(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .is_ok()
}

const PG_CLUSTER: &str =
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | sort -V | tail -1) main";

impl Service {
    fn port(self) -> u16 {
        match self {
            Service::RabbitMq => 5672,
            Service::Postgres => 5432,
        }
    }
    fn stop(self) -> anyhow::Result<()> {
        match self {
            Service::RabbitMq => sh("rabbitmqctl stop_app").map(drop),
            Service::Postgres => sh(&format!("{PG_CLUSTER} stop -m fast")).map(drop),
        }
    }
    fn start(self) -> anyhow::Result<()> {
        match self {
            Service::RabbitMq => sh("rabbitmqctl start_app").map(drop),
            Service::Postgres => sh(&format!("{PG_CLUSTER} start")).map(drop),
        }
    }
    /// Starts it and waits until it answers (60 s at most).
    fn ensure_up(self) -> anyhow::Result<()> {
        if !answers(self.port()) {
            self.start()?;
        }
        let until = Instant::now() + Duration::from_secs(60);
        while !answers(self.port()) {
            anyhow::ensure!(Instant::now() < until, "{self:?} did not come back");
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }
}

impl Outage {
    /// Waits for the lock (no two restart tests at once), then stops `service`.
    fn begin(service: Service) -> anyhow::Result<Outage> {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK)?;
        lock.lock()?;
        let outage = Outage {
            service,
            _lock: lock,
        };
        service.stop()?;
        Ok(outage)
    }

    /// Brings the service back now (the guard would too, at the end).
    fn end(&self) -> anyhow::Result<()> {
        self.service.ensure_up()
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if let Err(e) = self.service.ensure_up() {
            eprintln!("could not restart {:?}: {e:#}", self.service);
        }
    }
}

/// Consumers per queue, as the broker counts them.
async fn consumers(env: &TestEnv) -> anyhow::Result<Vec<(String, u32)>> {
    let mut out = Vec::new();
    for q in [
        env.names.tasks_queue(),
        env.names.submit_queue(),
        env.names.results_queue(),
        env.names.dead_tasks_queue(),
    ] {
        let (_, consumers) = env.queue_depth(&q).await?;
        out.push((q, consumers));
    }
    Ok(out)
}

/// A 1,000-device job with `service` stopped for `down` once a fifth of it is done.
async fn job_through_outage(service: Service, down: Duration) -> anyhow::Result<()> {
    const DEVICES: usize = 1000;
    let mut env = TestEnv::new().await?;
    env.settings.worker.max_in_flight = 32;
    let fleet = FleetBuilder::scenario("mixed", DEVICES, 71)?.auth_rejection_ms(150);
    let want = fleet.expected();
    let fleet = fleet.start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, 2);
    let r = request("config_backup", &["fleet", "orphan"], &[]);
    let started = Instant::now();
    env.publish(&r).await?;
    let id = env.job_id(&r.request_id, TIMEOUT).await?;
    loop {
        let c = progress(&env, id).await.expect("database up");
        if c.completed_devices >= DEVICES as i64 / 5 {
            break;
        }
        assert!(started.elapsed() < TIMEOUT, "the job does not progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let outage = Outage::begin(service)?;
    let stopped_at = started.elapsed();
    tokio::time::sleep(down).await;
    outage.end()?;
    let back_at = started.elapsed();
    let counts = loop {
        if let Some(c) = progress(&env, id).await {
            if c.status.is_final() {
                break c;
            }
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "job {id} not final {TIMEOUT:?} after it started: {:?}",
            progress(&env, id).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = started.elapsed();
    drop(outage);

    // Every device once, with the outcome its spec says.
    assert_eq!(counts.status, JobStatus::CompletedPartialFailure);
    assert_eq!(counts.completed_devices, DEVICES as i64);
    let client = env.pool.get().await?;
    want.assert_job(&env, id).await?;
    // Every role is consuming again: two workers, one dispatcher, the aggregator twice.
    // A role still inside its reconnect backoff gets a moment; one that gave up never
    // comes back, and the test fails.
    let want = [
        (env.names.tasks_queue(), 2),
        (env.names.submit_queue(), 1),
        (env.names.results_queue(), 1),
        (env.names.dead_tasks_queue(), 1),
    ];
    let until = std::time::Instant::now() + Duration::from_secs(15);
    let mut now = consumers(&env).await?;
    while now != want && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(250)).await;
        now = consumers(&env).await?;
    }
    assert_eq!(now, want, "consumers after the outage");
    if let Service::RabbitMq = service {
        // Each role process (here: in-process roles sharing one registry) replaced its
        // lost connection itself.
        let text = netraven_shared::telemetry::metrics::render().map_err(anyhow::Error::msg)?;
        for (role, at_least) in [("dispatcher", 1), ("worker", 2), ("aggregator", 1)] {
            let series = format!("netraven_broker_reconnects_total{{role=\"{role}\"}} ");
            let n: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix(&series))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            assert!(n >= at_least, "{role}: {n} reconnects counted; {text}");
        }
    }
    // Tasks redelivered by the outage may still be running, or be committed after the job
    // is final (their first run's result already counted): stop the roles, which finish
    // and flush what they hold, before comparing logins with counters.
    roles.stop().await?;
    // Logins and counters follow the rule of docs/reliability.md: nothing is counted that
    // a device did not see; a login goes uncounted only when its run never committed, or
    // when the worker could not see it judged in time (recorded ERROR), and only on devices
    // whose task was in flight at the outage (at most workers x prefetch of them); the
    // counters fall short of the devices' record by exactly those logins.
    let Logins {
        per_device,
        per_user,
    } = logins(&fleet);
    let committed = recorded_logins(&env, id).await?;
    let mut reruns = 0;
    let (mut short_devices, mut short_logins) = (0, 0);
    for (name, seen) in &per_device {
        let db = committed.get(name).copied().unwrap_or(0);
        assert!(
            db <= *seen,
            "{name}: recorded {db} logins, the device saw only {seen}"
        );
        if db < *seen {
            short_devices += 1;
            short_logins += seen - db;
        }
        let runs = runs(&env, id, name).await?;
        reruns += i64::from(runs > 1);
    }
    let in_flight = 2 * i64::from(env.settings.worker.max_in_flight);
    assert!(
        short_devices <= in_flight,
        "{short_devices} devices have uncounted logins; at most {in_flight} tasks were in flight"
    );
    let (mut counted, mut seen_total) = (0, 0);
    for row in client
        .query(
            "SELECT username, success_count, failure_count FROM credentials",
            &[],
        )
        .await?
    {
        let user: String = row.get(0);
        let ok = per_user.get(&(user.clone(), true)).copied().unwrap_or(0);
        let bad = per_user.get(&(user.clone(), false)).copied().unwrap_or(0);
        let (c_ok, c_bad) = (row.get::<_, i64>(1), row.get::<_, i64>(2));
        assert!(
            c_ok <= ok && c_bad <= bad,
            "counters of {user}: ({c_ok}, {c_bad}) above the devices' ({ok}, {bad})"
        );
        counted += c_ok + c_bad;
        seen_total += ok + bad;
    }
    assert_eq!(
        seen_total - counted,
        short_logins,
        "the counters miss exactly the uncounted logins"
    );
    println!(
        "{service:?}: down at {stopped_at:.1?} for {down:?} (back at {back_at:.1?}); \
         {DEVICES} devices final after {took:.1?}; {reruns} devices re-run after the outage; \
         {short_logins} logins on {short_devices} devices uncounted"
    );
    fleet.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_restarted_mid_job_every_role_reconnects_and_nothing_is_lost() -> anyhow::Result<()>
{
    job_through_outage(Service::RabbitMq, Duration::from_secs(3)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_job_every_role_retries_and_nothing_is_lost() -> anyhow::Result<()> {
    job_through_outage(Service::Postgres, Duration::from_secs(3)).await
}
