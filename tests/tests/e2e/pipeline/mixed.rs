//! A mixed fleet ends PARTIAL_FAILURE with every login accounted for.

use super::truth::{expected, ground_truth, JOB_TIMEOUT};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{scenario, AuthMethod};
use netraven_tests::{request, FleetBuilder, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_fleet_ends_partial_failure_with_every_login_accounted_for() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    // More devices than the dispatcher's first chunk of tasks (128): the job is resolved
    // and published in two chunks while workers already run the first.
    const DEVICES: i64 = 300;
    let spec = scenario("mixed", DEVICES as usize, 7)?;
    let want = expected(&spec);
    let fleet = FleetBuilder::from_spec(spec.clone()).start().await?;
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
            "SELECT published_tasks, (SELECT count(*)::integer FROM job_devices WHERE job_id = $1)
             FROM jobs WHERE id = $1",
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
    Ok(())
}
