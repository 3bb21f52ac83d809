//! Every platform backed up, outputs past the allowance stored whole, a job's own phase timeouts.

use super::truth::{expected, JOB_TIMEOUT};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::scenario;
use netraven_tests::{request, FleetBuilder, TestEnv};

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
    let fleet = FleetBuilder::from_spec(spec.clone()).start().await?;
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
    Ok(backed_up)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_overrides_the_workers_phase_timeouts() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.settings.worker.auth_timeout_ms = 5_000;
    let mut spec = scenario("all-good", 2, 81)?;
    spec.devices[0].fault = Some(netraven_simulator::Fault::SlowAuth { delay_ms: 1_500 });
    let fleet = FleetBuilder::from_spec(spec).start().await?;
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
    Ok(())
}
