//! Reachability checks log in with no credential.

use super::setup::{device, faults_fleet, tune, JOB_TIMEOUT, MARGIN_MS};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{Fault, Platform};
use netraven_tests::{request, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reachability_checks_use_no_credential() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    tune(&mut env)?;
    let fleet = faults_fleet([
        device("up-linux", Platform::Linux, None, "faults"),
        device("up-ios", Platform::CiscoIos, None, "faults"),
        device("closed", Platform::Linux, Some(Fault::PortClosed), "faults"),
        device("mute", Platform::Linux, Some(Fault::Silent), "faults"),
    ])
    .start()
    .await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let job = env
        .run_job(&request("reachability", &["faults"], &[]), JOB_TIMEOUT)
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    let client = env.pool.get().await?;
    for r in netraven_dispatcher::job_rows::results(&client, job.id).await? {
        eprintln!(
            "{:<10} {:<12} {:>5} ms  {}",
            r.device_name,
            r.outcome.as_str(),
            r.duration_ms,
            r.reason
        );
        let (want, words) = match r.device_name.as_str() {
            "closed" => (Outcome::Unreachable, "refused"),
            // TCP answers; that is all a reachability check asks.
            _ => (Outcome::Success, "open"),
        };
        assert_eq!(r.outcome, want, "{}: {}", r.device_name, r.reason);
        assert!(r.reason.contains(words), "{}: {}", r.device_name, r.reason);
        assert_eq!(r.attempts, 0, "{}", r.device_name);
        assert!(r.credential.is_none());
        assert!(r.duration_ms < 1_000 + MARGIN_MS as i64);
    }
    // Ground truth: not one login, not one secret.
    assert!(
        fleet.all_attempts().is_empty(),
        "{:?}",
        fleet.all_attempts()
    );
    assert!(fleet.reports().iter().all(|d| d.secrets_received == 0));
    let attempts: i64 = client
        .query_one("SELECT count(*) FROM credential_attempts", &[])
        .await?
        .get(0);
    assert_eq!(attempts, 0);

    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}
