//! Each final status of a job, from the fleet that earns it.

use super::truth::JOB_TIMEOUT;
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{scenario, FleetSpec};
use netraven_tests::{request, FleetBuilder, TestEnv};

async fn run_status_case(spec: FleetSpec, tags: &[&str], want: JobStatus) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let devices = spec.devices.len() as i64;
    let fleet = FleetBuilder::from_spec(spec).start().await?;
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
    Ok(())
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
