//! Retries of transient failures: flapping devices end `SUCCESS` after their retries, a
//! dead port `UNREACHABLE` after every try, a refused login and a changed host key are
//! tried once; then `job rerun --failed` targets exactly the devices that failed.

use netraven_dispatcher::job_rows::{self as jobs, DeviceResult};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{DeviceSpec, Fault, FleetSpec, Platform};
use netraven_tests::{credential, request, FleetBuilder, TestEnv};
use std::collections::HashMap;
use std::time::Duration;

const JOB_TIMEOUT: Duration = Duration::from_secs(40);
const MAX_RETRIES: u32 = 2;

fn device(name: &str, fault: Option<Fault>, password: &str) -> DeviceSpec {
    let mut d = DeviceSpec::new(name, Platform::Linux);
    d.tags = vec!["retries".into()];
    d.accepts = vec![("netops".into(), password.into())];
    d.fault = fault;
    d
}

fn fleet() -> FleetSpec {
    let ok = "tacacs-secret";
    FleetSpec {
        drift: 0.0,
        seed: 23,
        credentials: vec![credential("tacacs", "netops", ok).tags(&["retries"]).into()],
        devices: vec![
            device("healthy", None, ok),
            device("flap-1", Some(Fault::Flapping { drops: 1 }), ok),
            device("flap-2", Some(Fault::Flapping { drops: 2 }), ok),
            device("dead-port", Some(Fault::PortClosed), ok),
            device("wrong-password", None, "another-secret"),
            device("changed-key", None, ok),
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_and_rerun_targets_the_failed() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.settings.worker.connect_timeout_ms = 1_000;
    let fleet = FleetBuilder::from_spec(fleet()).start().await?;
    env.import(&fleet).await?;
    let client = env.pool.get().await?;
    // A pin that no key matches: the device fails its host key check on every try.
    client
        .execute(
            "INSERT INTO host_keys (device_id, algorithm, public_key, fingerprint, source)
             SELECT id, NULL, $2, $2, 'fingerprint' FROM devices WHERE name = $1",
            &[&"changed-key", &format!("SHA256:{}", "A".repeat(43))],
        )
        .await?;
    let _roles = env.start(1);

    let mut r = request("config_backup", &["retries"], &[]);
    r.limits.max_retries = Some(MAX_RETRIES);
    r.limits.retry_backoff_ms = Some(200);
    r.limits.device_deadline_ms = Some(5_000);
    r.limits.job_deadline_ms = Some(60_000);
    let job = env.run_job(&r, JOB_TIMEOUT).await?;
    let results = jobs::results(&client, job.id).await?;
    let by_name: HashMap<&str, &DeviceResult> = results
        .iter()
        .map(|r| (r.device_name.as_str(), r))
        .collect();
    let table: String = results
        .iter()
        .map(|r| {
            format!(
                "{:<15} {:<18} tries {} {:?}  {}\n",
                r.device_name,
                r.outcome.as_str(),
                r.tries,
                r.try_outcomes,
                r.reason
            )
        })
        .collect();
    eprintln!("{table}");
    assert_eq!(results.len(), 6, "{table}");
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);

    const U: &str = "UNREACHABLE";
    const S: &str = "SUCCESS";
    let expected: [(&str, Outcome, &[&str]); 6] = [
        ("healthy", Outcome::Success, &[S]),
        ("flap-1", Outcome::Success, &[U, S]),
        ("flap-2", Outcome::Success, &[U, U, S]),
        ("dead-port", Outcome::Unreachable, &[U, U, U]),
        ("wrong-password", Outcome::AuthFailed, &["AUTH_FAILED"]),
        (
            "changed-key",
            Outcome::HostKeyMismatch,
            &["HOST_KEY_MISMATCH"],
        ),
    ];
    for (name, outcome, outcomes) in expected {
        let r = by_name[name];
        assert_eq!(r.outcome, outcome, "{name}: {table}");
        assert_eq!(r.tries as usize, outcomes.len(), "{name}: {table}");
        assert_eq!(r.try_outcomes, outcomes, "{name}: {table}");
    }
    // The simulator saw each try: a dropped connection per flap, then one that worked.
    let connections = |name: &str| fleet.report(name).map(|d| d.connections);
    assert_eq!(connections("flap-1"), Some(2));
    assert_eq!(connections("flap-2"), Some(3));
    assert_eq!(connections("wrong-password"), Some(1));
    assert_eq!(connections("changed-key"), Some(1));
    // Every retried try is recorded with its worker and reason.
    let tries: i64 = client
        .query_one(
            "SELECT count(*) FROM device_tries WHERE job_id = $1 AND worker IS NOT NULL
                 AND reason <> ''",
            &[&job.id],
        )
        .await?
        .get(0);
    assert_eq!(tries, 1 + 2 + i64::from(MAX_RETRIES), "{table}");
    let pending: i64 = client
        .query_one("SELECT count(*) FROM task_retries", &[])
        .await?
        .get(0);
    assert_eq!(pending, 0, "no retry left behind");

    // `job results` shows each try's outcome.
    let out = env
        .command()?
        .args(["job", "results", &job.id.to_string()])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("3: UNREACHABLE, UNREACHABLE, SUCCESS"),
        "{text}"
    );

    // The rerun targets exactly the three devices that failed, with the same limits.
    let rerun = |extra: &[&str]| -> anyhow::Result<std::process::Output> {
        let mut cmd = env.command()?;
        cmd.args(["job", "rerun", &job.id.to_string(), "--failed"]);
        cmd.args(extra);
        Ok(cmd.output()?)
    };
    let out = rerun(&["--wait", "--timeout-secs", "40"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "all three fail again: {stderr}");
    let new_id: uuid::Uuid = String::from_utf8_lossy(&out.stdout).trim().parse()?;
    assert!(stderr.contains("rerunning 3 devices"), "{stderr}");
    let mut again: Vec<String> = jobs::results(&client, new_id)
        .await?
        .into_iter()
        .map(|r| r.device_name)
        .collect();
    again.sort();
    assert_eq!(again, ["changed-key", "dead-port", "wrong-password"]);
    let stored: serde_json::Value = client
        .query_one("SELECT request FROM jobs WHERE id = $1", &[&new_id])
        .await?
        .get(0);
    assert_eq!(stored["limits"]["max_retries"], MAX_RETRIES);
    assert_eq!(stored["request_id"], format!("rerun-failed:{}", job.id));
    // A repeat by mistake is the same job.
    let out = rerun(&[])?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        new_id.to_string()
    );
    // Nothing to rerun: exit 7 with a message.
    let mut ok = request("config_backup", &[], &["healthy"]);
    ok.limits.max_retries = Some(0);
    let done = env.run_job(&ok, JOB_TIMEOUT).await?;
    let out = env
        .command()?
        .args(["job", "rerun", &done.id.to_string(), "--failed"])
        .output()?;
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to rerun"));
    Ok(())
}

/// A result of try `try_number` of a device, as a worker would report it.
fn reported(
    job_id: uuid::Uuid,
    device: &(i64, String),
    outcome: Outcome,
    try_number: u32,
) -> netraven_shared::messages::TaskResult {
    netraven_shared::messages::TaskResult {
        version: netraven_shared::messages::RESULT_VERSION,
        job_id,
        device_id: device.0,
        device_name: device.1.clone(),
        outcome,
        reason: format!("played by the test, try {try_number}"),
        credential_id: None,
        attempts: 1,
        duration_ms: 5,
        config_sha256: None,
        config: None,
        worker: "test".into(),
        finished_at: chrono::Utc::now(),
        try_number: (try_number > 1).then_some(try_number),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_try_counts_once_and_a_retry_that_never_reports_keeps_its_last_try(
) -> anyhow::Result<()> {
    use netraven_dispatcher::aggregate::ingest;
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", 3, 61)?.start().await?;
    env.import(&fleet).await?;
    // No worker: the test plays it, and the retry the dispatcher publishes never runs.
    let roles = netraven_tests::Roles::start_without_workers(&env.settings);
    let mut r = request("config_backup", &["fleet"], &[]);
    r.limits.max_retries = Some(1);
    r.limits.retry_backoff_ms = Some(100);
    r.limits.device_deadline_ms = Some(1_000);
    r.limits.job_deadline_ms = Some(5_000);
    env.publish(&r).await?;
    let id = env.job_id(&r.request_id, JOB_TIMEOUT).await?;
    let client = env.pool.get().await?;
    // The limits are on the job before its first task goes out.
    let mut started = false;
    for _ in 0..100 {
        let row = client
            .query_one("SELECT status, max_retries FROM jobs WHERE id = $1", &[&id])
            .await?;
        if row.get::<_, &str>(0) == "RUNNING" {
            assert_eq!(row.get::<_, i32>(1), 1);
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started, "the job runs");
    let devices: Vec<(i64, String)> = client
        .query("SELECT id, name FROM devices ORDER BY id", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let (a, b, c) = (&devices[0], &devices[1], &devices[2]);

    // Try 1 of `a` times out, twice over (a redelivery): one try, one retry, no result.
    let first = reported(id, a, Outcome::Timeout, 1);
    let done = ingest(&env.pool, &[first.clone(), first.clone()]).await?;
    assert_eq!((done.retried, done.recorded, done.duplicates), (1, 0, 1));
    // `b` succeeds at once; `c` is unreachable and retried.
    let done = ingest(
        &env.pool,
        &[
            reported(id, b, Outcome::Success, 1),
            reported(id, c, Outcome::Unreachable, 1),
        ],
    )
    .await?;
    assert_eq!((done.retried, done.recorded), (1, 1));
    // Try 2 of `a` times out too: no tries left, its result is final.
    let done = ingest(&env.pool, &[reported(id, a, Outcome::Timeout, 2)]).await?;
    assert_eq!((done.retried, done.recorded), (0, 1));
    // A late copy of try 1 changes nothing, whatever it says.
    for outcome in [Outcome::Timeout, Outcome::Success] {
        let done = ingest(&env.pool, &[reported(id, a, outcome, 1)]).await?;
        assert_eq!((done.retried, done.recorded, done.duplicates), (0, 0, 1));
    }
    let view = jobs::get(&client, id).await?.expect("job");
    assert_eq!(view.counts.completed_devices, 2);
    assert_eq!(view.counts.succeeded_devices, 1);

    // `c`'s retry is published and never reported: at the deadline it keeps try 1.
    let job = env.wait_final(id, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    let results = jobs::results(&client, id).await?;
    let of = |d: &(i64, String)| {
        results
            .iter()
            .find(|r| r.device_id == d.0)
            .expect("a result")
            .clone()
    };
    let ra = of(a);
    assert_eq!((ra.outcome, ra.tries), (Outcome::Timeout, 2));
    assert_eq!(ra.try_outcomes, ["TIMEOUT", "TIMEOUT"]);
    assert_eq!(ra.reason, "played by the test, try 2");
    let rc = of(c);
    assert_eq!((rc.outcome, rc.tries), (Outcome::Unreachable, 1), "{rc:?}");
    assert!(
        rc.reason
            .starts_with("retry 2 did not report by the job deadline; try 1: played by the test"),
        "{}",
        rc.reason
    );
    let left: i64 = client
        .query_one("SELECT count(*) FROM task_retries", &[])
        .await?
        .get(0);
    assert_eq!(left, 0, "no retry left behind");
    // The dispatcher published the retry of `c` (one of `a` too, which the test
    // answered itself): three first tries and two retries wait in the queue.
    let (queued, _) = env.queue_depth(&env.names.tasks_queue()).await?;
    assert_eq!(queued, 5);
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}

/// A cancel does not wait out a retry's backoff: the retries a cancelled job has waiting
/// end their devices with their last try at the next poll, and the job ends `CANCELLED`
/// long before the backoff would have passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_ends_waiting_retries_with_their_last_try() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let ok = "tacacs-secret";
    let fleet = FleetBuilder::new(2302)
        .credential(credential("tacacs", "netops", ok).tags(&["retries"]))
        .device(device("healthy", None, ok))
        .device(device("flapping", Some(Fault::Flapping { drops: 5 }), ok))
        .start()
        .await?;
    env.import(&fleet).await?;
    let client = env.pool.get().await?;
    let _roles = env.start(1);

    let mut r = request("config_backup", &["retries"], &[]);
    r.limits.max_retries = Some(MAX_RETRIES);
    // Far longer than the test waits: only the cancel can end the job in time.
    r.limits.retry_backoff_ms = Some(600_000);
    r.limits.job_deadline_ms = Some(3_600_000);
    env.publish(&r).await?;
    let id = env.job_id(&r.request_id, JOB_TIMEOUT).await?;
    let until = std::time::Instant::now() + JOB_TIMEOUT;
    while client
        .query_one(
            "SELECT count(*) FROM task_retries WHERE job_id = $1",
            &[&id],
        )
        .await?
        .get::<_, i64>(0)
        == 0
    {
        anyhow::ensure!(std::time::Instant::now() < until, "no retry was scheduled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = env
        .command()?
        .args(["job", "cancel", &id.to_string()])
        .output()?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = env.wait_final(id, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::Cancelled);
    let results = jobs::results(&client, id).await?;
    let flapping = results
        .iter()
        .find(|r| r.device_name == "flapping")
        .ok_or_else(|| anyhow::anyhow!("no result for the flapping device"))?;
    assert_eq!(
        flapping.outcome,
        Outcome::Unreachable,
        "{}",
        flapping.reason
    );
    assert_eq!(flapping.tries, 1);
    assert!(
        flapping.reason.contains("cancelled"),
        "the reason says why the retry never ran: {}",
        flapping.reason
    );
    assert_eq!(
        fleet.report("flapping").map(|d| d.connections),
        Some(1),
        "the device was not contacted again"
    );
    Ok(())
}
