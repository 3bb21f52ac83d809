//! The whole pipeline on real services: a job message in, dispatcher, RabbitMQ, workers
//! over SSH against simulated devices, aggregator, Postgres — checked against the
//! simulator's own record of every login.

use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{scenario, AuthMethod, Fleet, FleetOptions, FleetSpec};
use netraven_tests::{request, TestEnv};
use std::collections::HashMap;
use std::time::Duration;

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// What a device must end as, from its spec: orphans have no credential, a device that
/// accepts nothing rejects all three, others log in with the credential they accept.
fn expected(spec: &FleetSpec) -> HashMap<String, (Outcome, Option<String>, usize)> {
    let mut creds = spec.credentials.clone();
    creds.sort_by_key(|c| c.priority);
    spec.devices
        .iter()
        .map(|d| {
            let e = if d.tags == ["orphan"] {
                (Outcome::NoCredentials, None, 0)
            } else {
                match creds.iter().position(|c| {
                    d.accepts
                        .contains(&(c.username.clone(), c.password.clone()))
                }) {
                    Some(i) => (Outcome::Success, Some(creds[i].name.clone()), i + 1),
                    None => (Outcome::AuthFailed, None, creds.len()),
                }
            };
            (d.name.clone(), e)
        })
        .collect()
}

/// Password logins the simulator saw per device: (attempts, accepted username).
fn ground_truth(fleet: &Fleet) -> HashMap<String, (usize, Option<String>)> {
    fleet
        .all_attempts()
        .into_iter()
        .map(|(device, attempts)| {
            let pw: Vec<_> = attempts
                .iter()
                .filter(|a| a.method == AuthMethod::Password)
                .collect();
            let accepted = pw.iter().find(|a| a.accepted).map(|a| a.username.clone());
            (device, (pw.len(), accepted))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_fleet_ends_partial_failure_with_every_login_accounted_for() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    // More devices than the dispatcher's first chunk of tasks (128): the job is resolved
    // and published in two chunks while workers already run the first.
    const DEVICES: i64 = 300;
    let spec = scenario("mixed", DEVICES as usize, 7)?;
    let want = expected(&spec);
    let fleet = Fleet::start(spec.clone(), FleetOptions::random_base()).await?;
    env.import(&fleet).await?;
    let roles = env.start(2);

    let job = env
        .run_job(
            &request("config_backup", &["fleet", "orphan"], &[]),
            JOB_TIMEOUT,
        )
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    assert_eq!(job.counts.total_devices, DEVICES);
    assert_eq!(job.counts.completed_devices, DEVICES);
    assert_eq!(
        job.counts.succeeded_devices,
        DEVICES * 8 / 10,
        "50% + 20% + 10% of the devices log in"
    );
    assert_eq!(job.counts.no_credential_devices, DEVICES / 10);

    let client = env.pool.get().await?;
    let row = client
        .query_one(
            "SELECT published_tasks, cardinality(device_ids) FROM jobs WHERE id = $1",
            &[&job.id],
        )
        .await?;
    let published = i64::from(row.get::<_, i32>(0));
    let listed = i64::from(row.get::<_, i32>(1));
    assert_eq!(
        (published, listed),
        (DEVICES - DEVICES / 10, DEVICES),
        "a task for every device with a credential, every device listed for the sweeper"
    );
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    assert_eq!(
        results.len(),
        DEVICES as usize,
        "exactly one result per device"
    );
    let truth = ground_truth(&fleet);
    for r in &results {
        let (outcome, credential, attempts) = &want[&r.device_name];
        assert_eq!(&r.outcome, outcome, "{}: {}", r.device_name, r.reason);
        assert_eq!(&r.credential, credential, "{}", r.device_name);
        assert_eq!(r.attempts as usize, *attempts, "{} attempts", r.device_name);
        // The simulator saw exactly the logins we recorded, and accepted the one we used.
        let (seen, accepted) = truth.get(&r.device_name).cloned().unwrap_or((0, None));
        assert_eq!(
            seen, *attempts,
            "{}: simulator saw {seen} password logins",
            r.device_name
        );
        let used = credential.as_ref().map(|c| {
            spec.credentials
                .iter()
                .find(|x| &x.name == c)
                .map(|x| x.username.clone())
        });
        assert_eq!(accepted, used.flatten(), "{}", r.device_name);
        let stored: i64 = client
            .query_one(
                "SELECT count(*) FROM credential_attempts WHERE job_id = $1 AND device_id = $2",
                &[&job.id, &r.device_id],
            )
            .await?
            .get(0);
        assert_eq!(stored as usize, *attempts, "{} attempt rows", r.device_name);
        if r.outcome == Outcome::Success {
            let config = fleet
                .expected_config(&r.device_name)
                .expect("simulated config");
            let redacted = netraven_worker::redact::redact(&config);
            let row = client
                .query_one(
                    "SELECT content, sha256 FROM device_configs WHERE device_id = $1",
                    &[&r.device_id],
                )
                .await?;
            assert_eq!(
                row.get::<_, String>(0),
                redacted,
                "{} stored config",
                r.device_name
            );
            assert_eq!(r.config_sha256.as_deref(), Some(row.get::<_, &str>(1)));
            for secret in fleet.config_secrets(&r.device_name) {
                assert!(
                    !row.get::<_, String>(0).contains(&secret),
                    "{}: secret stored",
                    r.device_name
                );
            }
        }
    }

    // Credential counters equal the simulator's accepted and rejected logins per username.
    for c in &spec.credentials {
        let (mut ok, mut bad) = (0i64, 0i64);
        for attempts in fleet.all_attempts().values() {
            for a in attempts
                .iter()
                .filter(|a| a.method == AuthMethod::Password && a.username == c.username)
            {
                if a.accepted {
                    ok += 1
                } else {
                    bad += 1
                }
            }
        }
        let row = client
            .query_one("SELECT success_count, failure_count, success_rate, last_used_at IS NOT NULL FROM credentials WHERE name = $1", &[&c.name])
            .await?;
        assert_eq!(
            (row.get::<_, i64>(0), row.get::<_, i64>(1)),
            (ok, bad),
            "counters of {}",
            c.name
        );
        let rate: f64 = row.get(2);
        assert!(
            (rate - ok as f64 / (ok + bad) as f64).abs() < 1e-9,
            "rate of {}",
            c.name
        );
        assert!(row.get::<_, bool>(3));
    }

    // One log line per device a worker handled, naming its outcome and the attempt trail.
    let logs = client
        .query(
            "SELECT level, message, data FROM job_logs WHERE job_id = $1 AND device_id IS NOT NULL",
            &[&job.id],
        )
        .await?;
    assert_eq!(
        logs.len() as i64,
        DEVICES - DEVICES / 10,
        "one line per device with a credential"
    );
    for row in &logs {
        let message: &str = row.get(1);
        let data: serde_json::Value = row.get(2);
        let outcome = data["outcome"].as_str().unwrap_or_default();
        assert!(message.contains(outcome), "{message}");
        assert_eq!(
            row.get::<_, &str>(0),
            if outcome == "SUCCESS" { "INFO" } else { "WARN" }
        );
        assert!(
            data["attempts"].as_array().is_some_and(|a| !a.is_empty()),
            "{data}"
        );
    }

    // Affinity: the second run tries the credential that worked last time first.
    let again = env
        .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;
    assert_eq!(again.counts.status, JobStatus::CompletedPartialFailure);
    for r in netraven_dispatcher::job_rows::results(&client, again.id).await? {
        let want = if r.outcome == Outcome::Success { 1 } else { 3 };
        assert_eq!(r.attempts, want, "{} on the second run", r.device_name);
    }
    let unchanged: i64 = client
        .query_one("SELECT count(*) FROM device_configs", &[])
        .await?
        .get(0);
    assert_eq!(
        unchanged,
        DEVICES * 8 / 10,
        "an unchanged configuration adds no second copy"
    );

    roles.stop().await?;
    fleet.shutdown().await;
    env.teardown().await
}

async fn run_status_case(spec: FleetSpec, tags: &[&str], want: JobStatus) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let devices = spec.devices.len() as i64;
    let fleet = Fleet::start(spec, FleetOptions::random_base()).await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let job = env
        .run_job(&request("config_backup", tags, &[]), JOB_TIMEOUT)
        .await?;
    assert_eq!(job.counts.status, want, "{:?}", job.counts);
    let client = env.pool.get().await?;
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    assert_eq!(results.len() as i64, job.counts.total_devices);
    match want {
        JobStatus::CompletedSuccess => {
            assert_eq!(job.counts.succeeded_devices, devices);
            assert!(results
                .iter()
                .all(|r| r.outcome == Outcome::Success && r.attempts == 1));
        }
        JobStatus::CompletedFailure => {
            assert_eq!(job.counts.succeeded_devices, 0);
            assert!(results
                .iter()
                .all(|r| r.outcome == Outcome::AuthFailed && r.attempts == 3));
            assert!(
                results.iter().all(|r| r.reason.contains("rejected")),
                "{results:?}"
            );
        }
        JobStatus::CompletedNoCredentials => {
            assert_eq!(job.counts.no_credential_devices, job.counts.total_devices);
            assert!(results.iter().all(|r| r.outcome == Outcome::NoCredentials));
            assert!(fleet.all_attempts().is_empty(), "no device may see a login");
        }
        JobStatus::CompletedNoDevices => {
            assert_eq!(job.counts.total_devices, 0);
            assert!(results.is_empty());
            assert!(fleet.all_attempts().is_empty());
        }
        other => panic!("no case for {other}"),
    }
    roles.stop().await?;
    fleet.shutdown().await;
    env.teardown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_logging_in_ends_completed_success() -> anyhow::Result<()> {
    run_status_case(
        scenario("all-good", 20, 11)?,
        &["fleet"],
        JobStatus::CompletedSuccess,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_device_logging_in_ends_completed_failure() -> anyhow::Result<()> {
    let mut spec = scenario("all-good", 12, 12)?;
    for d in &mut spec.devices {
        d.accepts.clear();
    }
    run_status_case(spec, &["fleet"], JobStatus::CompletedFailure).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_without_a_matching_credential_end_completed_no_credentials() -> anyhow::Result<()>
{
    let spec = scenario("mixed", 30, 13)?;
    run_status_case(spec, &["orphan"], JobStatus::CompletedNoCredentials).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_matching_no_device_end_completed_no_devices() -> anyhow::Result<()> {
    run_status_case(
        scenario("all-good", 5, 14)?,
        &["no-such-tag"],
        JobStatus::CompletedNoDevices,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linux_cisco_ios_and_junos_devices_are_all_backed_up() -> anyhow::Result<()> {
    back_up_multi_vendor(TestEnv::new().await?).await.map(drop)
}

/// Every configuration is past the allowance, and the worker has one large-output turn:
/// the devices take it in turns (on exec channels and in shells) and each is backed up
/// whole; every turn is given back once the results are recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_past_the_allowance_take_turns_and_are_stored_whole() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.settings.worker.output_allowance_bytes = 512;
    env.settings.worker.large_outputs = 1;
    let backed_up = back_up_multi_vendor(env).await?;
    let m = netraven_shared::telemetry::metrics::get();
    assert_eq!(
        m.output_turns_total.get(),
        backed_up,
        "each device backed up took a turn"
    );
    assert_eq!(m.large_outputs.get(), 0, "every turn was given back");
    Ok(())
}

/// Backs up a 30-device multi-vendor fleet, checks each stored configuration and returns
/// how many were backed up.
async fn back_up_multi_vendor(env: TestEnv) -> anyhow::Result<u64> {
    let mut spec = scenario("multi-vendor", 30, 31)?;
    // The enable secret is the login secret, as on most AAA-backed devices.
    for d in &mut spec.devices {
        if d.enable_secret.is_some() {
            d.enable_secret = d.accepts.first().map(|(_, p)| p.clone());
        }
    }
    let want = expected(&spec);
    let fleet = Fleet::start(spec.clone(), FleetOptions::random_base()).await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let job = env
        .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;
    let client = env.pool.get().await?;
    let mut platforms = std::collections::BTreeSet::new();
    let mut backed_up = 0;
    for r in netraven_dispatcher::job_rows::results(&client, job.id).await? {
        assert_eq!(
            r.outcome, want[&r.device_name].0,
            "{}: {}",
            r.device_name, r.reason
        );
        if r.outcome != Outcome::Success {
            continue;
        }
        let device = spec
            .devices
            .iter()
            .find(|d| d.name == r.device_name)
            .expect("in spec");
        platforms.insert(device.platform.as_str());
        backed_up += 1;
        let config = fleet
            .expected_config(&r.device_name)
            .expect("simulated config");
        let stored: String = client
            .query_one(
                "SELECT content FROM device_configs WHERE device_id = $1",
                &[&r.device_id],
            )
            .await?
            .get(0);
        assert_eq!(
            stored.trim_end(),
            netraven_worker::redact::redact(&config).trim_end(),
            "{} ({:?})",
            r.device_name,
            device.platform
        );
        // No enable secret or login secret was typed where a command log would keep it.
        for secret in spec.credentials.iter().map(|c| &c.password) {
            assert!(
                !fleet
                    .commands(&r.device_name)
                    .iter()
                    .any(|c| c.contains(secret.as_str())),
                "{}",
                r.device_name
            );
        }
    }
    assert_eq!(
        platforms.len(),
        3,
        "every platform backed up: {platforms:?}"
    );
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    roles.stop().await?;
    fleet.shutdown().await;
    env.teardown().await?;
    Ok(backed_up)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_overrides_the_workers_phase_timeouts() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.settings.worker.auth_timeout_ms = 5_000;
    let mut spec = scenario("all-good", 2, 81)?;
    spec.devices[0].fault = Some(netraven_simulator::Fault::SlowAuth { delay_ms: 1_500 });
    let fleet = Fleet::start(spec, FleetOptions::random_base()).await?;
    env.import(&fleet).await?;
    let roles = env.start(1);

    // With the worker's 5 s, the slow device logs in; with the job's 400 ms, it cannot.
    let job = env
        .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    let mut r = request("config_backup", &["fleet"], &[]);
    r.limits.auth_timeout_ms = Some(400);
    let job = env.run_job(&r, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    let client = env.pool.get().await?;
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    let slow = results
        .iter()
        .find(|r| r.device_name == "dev-00001")
        .expect("slow device");
    assert_eq!(slow.outcome, Outcome::Timeout, "{}", slow.reason);
    assert!(
        slow.reason.contains("400 ms"),
        "the reason names the job's limit: {}",
        slow.reason
    );
    assert!(
        slow.duration_ms < 1_500,
        "cut at the job's limit, not the worker's: {} ms",
        slow.duration_ms
    );

    // An override out of range makes the request one that cannot run.
    let mut bad = request("config_backup", &["fleet"], &[]);
    bad.limits.command_idle_timeout_ms = Some(5);
    let job = env.run_job(&bad, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::FailedInvalidRequest);
    assert!(job
        .counts
        .error
        .unwrap_or_default()
        .contains("limits.command_idle_timeout_ms"));
    roles.stop().await?;
    fleet.shutdown().await;
    env.teardown().await
}
