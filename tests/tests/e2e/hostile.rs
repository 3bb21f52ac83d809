//! Hostile devices and healthy ones: 2,000 devices of which every tenth plays one of the
//! simulator's faults in turn (200 faulty, 18 of them `endless_output`).
//!
//! Every fault but `endless_output` (182 faulty devices among 1,982), and every fault (all
//! 2,000), without retries: each job finishes within the device deadline, every device is
//! accounted for once, and the 18 devices that stream without end are cut at
//! `worker.max_output_bytes` (4 MiB by default) as COMMAND_FAILED. What the faulty devices cost the healthy ones
//! is a benchmark figure, not asserted here: `netraven bench --parts hostile` (release;
//! docs/reliability.md, item 5).

use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{scenario, Fault};
use netraven_tests::{request, FleetBuilder, TestEnv};
use std::time::Duration;
use uuid::Uuid;

const DEVICES: usize = 2000;
const DEVICE_DEADLINE_MS: u64 = 10_000;
const TIMEOUT: Duration = Duration::from_secs(180);

/// The seconds from a finished job's start to its end.
async fn seconds(env: &TestEnv, id: Uuid) -> anyhow::Result<f64> {
    let client = env.pool.get().await?;
    let row = client
        .query_one(
            "SELECT EXTRACT(EPOCH FROM finished_at - started_at)::float8 FROM jobs WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(row.get(0))
}

async fn run(env: &TestEnv, tags: &[&str]) -> anyhow::Result<Uuid> {
    let mut r = request("config_backup", tags, &[]);
    r.limits.device_deadline_ms = Some(DEVICE_DEADLINE_MS);
    // Retries (2 by default, 30 s apart and more) would put each job's end minutes past the
    // deadline's bound on purpose: this test is about the bound.
    r.limits.max_retries = Some(0);
    let job = env.run_job(&r, TIMEOUT).await?;
    assert!(job.counts.status.is_final());
    Ok(job.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_devices_finish_within_the_deadline_and_every_device_is_accounted_for(
) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let mut spec = scenario("all-good", DEVICES, 91)?;
    // Every tenth device plays one fault after another; the others are healthy.
    for (i, d) in spec.devices.iter_mut().enumerate() {
        if i % 10 == 9 {
            let fault = Fault::ALL[(i / 10) % Fault::ALL.len()];
            d.fault = Some(fault);
            d.tags.push(
                if fault == Fault::EndlessOutput {
                    "endless"
                } else {
                    "faulty"
                }
                .into(),
            );
        } else {
            d.tags.push("healthy".into());
        }
    }
    let fleet = FleetBuilder::from_spec(spec).start().await?;
    env.import(&fleet).await?;
    let roles = env.start(2);

    // Warm-up: pins the healthy devices' host keys, so both measured jobs start alike.
    run(&env, &["healthy"]).await?;
    let baseline = run(&env, &["healthy"]).await?;
    let hostile = run(&env, &["healthy", "faulty"]).await?;
    let endless = run(&env, &["fleet"]).await?;
    let base_total = seconds(&env, baseline).await?;
    let client = env.pool.get().await?;
    for id in [baseline, hostile, endless] {
        let healthy_ok: i64 = client
            .query_one(
                "SELECT count(*) FROM job_results r
                 JOIN device_tags dt ON dt.device_id = r.device_id
                 JOIN tags t ON t.id = dt.tag_id AND t.name = 'healthy'
                 WHERE r.job_id = $1 AND r.outcome = 'SUCCESS'",
                &[&id],
            )
            .await?
            .get(0);
        assert_eq!(healthy_ok, 1800, "every healthy device succeeds");
    }
    for (id, devices) in [(hostile, DEVICES - 18), (endless, DEVICES)] {
        let job = netraven_dispatcher::job_rows::get(&client, id)
            .await?
            .expect("job");
        assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
        assert_eq!(job.counts.completed_devices, devices as i64);
        let results = netraven_dispatcher::job_rows::results(&client, id).await?;
        assert_eq!(results.len(), devices);
        assert!(results
            .iter()
            .all(|r| !matches!(r.outcome, Outcome::Lost | Outcome::InternalError)));
    }
    for id in [hostile, endless] {
        let t = seconds(&env, id).await?;
        assert!(
            t <= DEVICE_DEADLINE_MS as f64 / 1000.0 + base_total + 2.0,
            "a hostile job took {t:.1} s: longer than the slowest fault's deadline allows"
        );
    }
    // The endless streams were cut at the output cap, saying so.
    let results = netraven_dispatcher::job_rows::results(&client, endless).await?;
    let cut = results
        .iter()
        .filter(|r| r.outcome == Outcome::CommandFailed && r.reason.contains("exceeded"))
        .count();
    assert_eq!(cut, 18, "every endless stream ends at the output cap");
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}
