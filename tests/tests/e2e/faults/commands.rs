//! Command jobs: each output stored, a refused command reported.

use super::setup::{device, faults_fleet, tune, JOB_TIMEOUT};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::Platform;
use netraven_tests::{request, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_jobs_store_each_output_and_report_a_refused_command() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    tune(&mut env)?;
    let fleet = faults_fleet([
        device("cmd-linux", Platform::Linux, None, "faults"),
        device("cmd-ios", Platform::CiscoIos, None, "faults"),
    ])
    .start()
    .await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let client = env.pool.get().await?;
    let outputs = |job: uuid::Uuid, device: &'static str| {
        let client = &client;
        async move {
            let rows = client
                .query(
                    "SELECT o.command, o.output, o.exit_status FROM command_outputs o
                     JOIN devices d ON d.id = o.device_id WHERE o.job_id = $1 AND d.name = $2 ORDER BY o.seq",
                    &[&job, &device],
                )
                .await?;
            anyhow::Ok(
                rows.iter()
                    .map(|r| {
                        (
                            r.get::<_, String>(0),
                            r.get::<_, String>(1),
                            r.get::<_, Option<i32>>(2),
                        )
                    })
                    .collect::<Vec<_>>(),
            )
        }
    };

    // Exec: every command runs and its output is stored, in order.
    let mut r = request("command", &[], &["cmd-linux"]);
    r.commands = vec!["hostname".into(), "echo hello from the test".into()];
    let job = env.run_job(&r, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    let stored = outputs(job.id, "cmd-linux").await?;
    assert_eq!(
        stored,
        vec![
            ("hostname".into(), "cmd-linux\n".into(), Some(0)),
            (
                "echo hello from the test".into(),
                "hello from the test\n".into(),
                Some(0)
            ),
        ]
    );
    assert_eq!(
        fleet.commands("cmd-linux"),
        r.commands,
        "the device ran exactly these"
    );

    // Shell: the same through enable, paging off and the prompt.
    let mut r = request("command", &[], &["cmd-ios"]);
    r.commands = vec!["show version".into()];
    let job = env.run_job(&r, JOB_TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    let stored = outputs(job.id, "cmd-ios").await?;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].1.contains("Cisco IOS"), "{:?}", stored[0].1);
    assert!(
        !stored[0].1.contains("cmd-ios#"),
        "no prompt in the output: {:?}",
        stored[0].1
    );

    // A command the device refuses: COMMAND_FAILED with the device's own words.
    for (device, bad, words) in [
        (
            "cmd-linux",
            "frobnicate --all",
            "sh: 1: frobnicate: not found",
        ),
        ("cmd-ios", "show frobnication", "% Invalid input detected"),
    ] {
        let mut r = request("command", &[], &[device]);
        r.commands = vec![bad.to_string()];
        let job = env.run_job(&r, JOB_TIMEOUT).await?;
        let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
        let r = &results[0];
        eprintln!(
            "{:<10} {:<15} {:>5} ms  {}",
            r.device_name,
            r.outcome.as_str(),
            r.duration_ms,
            r.reason
        );
        assert_eq!(r.outcome, Outcome::CommandFailed, "{device}: {}", r.reason);
        assert!(
            r.reason.contains(bad) && r.reason.contains(words),
            "{device}: {}",
            r.reason
        );
        // The login itself succeeded, and is counted as such.
        assert_eq!(r.attempts, 1);
    }

    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}
