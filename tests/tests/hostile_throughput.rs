//! Hostile devices and healthy ones: 2,000 devices of which every tenth plays one of the
//! simulator's faults in turn (200 faulty, 18 of them `endless_output`).
//!
//! - Every fault but `endless_output` (182 faulty devices among 1,982), and every fault
//!   (all 2,000): each job finishes within the device deadline, every device accounted
//!   for, and the 1,800 healthy devices go through within 20 % of their rate in a job
//!   without the faulty ones. The 18 devices that stream without end are read up to
//!   `worker.max_output_bytes` (4 MiB by default) and fail COMMAND_FAILED; at 16 MiB they
//!   cost the healthy ones about half their rate on this 2-core machine
//!   (docs/reliability.md, item 5).

use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{scenario, Fault, Fleet, FleetOptions};
use netraven_tests::{request, TestEnv};
use std::time::Duration;
use uuid::Uuid;

const DEVICES: usize = 2000;
const DEVICE_DEADLINE_MS: u64 = 10_000;
const TIMEOUT: Duration = Duration::from_secs(180);

/// Healthy devices per second of a finished job: from its start to the last healthy
/// device's result.
async fn healthy_rate(env: &TestEnv, id: Uuid) -> anyhow::Result<(f64, i64, f64)> {
    let client = env.pool.get().await?;
    let row = client
        .query_one(
            "SELECT count(*), EXTRACT(EPOCH FROM max(r.finished_at) - j.started_at)::float8,
                    EXTRACT(EPOCH FROM j.finished_at - j.started_at)::float8
             FROM job_results r JOIN jobs j ON j.id = r.job_id
             JOIN device_tags dt ON dt.device_id = r.device_id
             JOIN tags t ON t.id = dt.tag_id AND t.name = 'healthy'
             WHERE r.job_id = $1 AND r.outcome = 'SUCCESS'
             GROUP BY j.started_at, j.finished_at",
            &[&id],
        )
        .await?;
    let (n, secs, total): (i64, f64, f64) = (row.get(0), row.get(1), row.get(2));
    Ok((n as f64 / secs, n, total))
}

async fn run(env: &TestEnv, tags: &[&str]) -> anyhow::Result<Uuid> {
    let mut r = request("config_backup", tags, &[]);
    r.limits.device_deadline_ms = Some(DEVICE_DEADLINE_MS);
    let job = env.run_job(&r, TIMEOUT).await?;
    assert!(job.counts.status.is_final());
    Ok(job.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_devices_finish_within_the_deadline_and_slow_healthy_ones_under_20_percent(
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
    let fleet = Fleet::start(spec, FleetOptions::random_base()).await?;
    env.import(&fleet).await?;
    let roles = env.start(2);

    // Warm-up: pins the healthy devices' host keys, so both measured jobs start alike.
    run(&env, &["healthy"]).await?;
    let baseline = run(&env, &["healthy"]).await?;
    let hostile = run(&env, &["healthy", "faulty"]).await?;
    let endless = run(&env, &["fleet"]).await?;
    let (base_rate, base_n, base_total) = healthy_rate(&env, baseline).await?;
    let (rate, n, total) = healthy_rate(&env, hostile).await?;
    let (all_rate, all_n, all_total) = healthy_rate(&env, endless).await?;
    assert_eq!(
        (base_n, n, all_n),
        (1800, 1800, 1800),
        "every healthy device succeeds"
    );

    let client = env.pool.get().await?;
    for (id, devices) in [(hostile, DEVICES - 18), (endless, DEVICES)] {
        let job = netraven_dispatcher::jobs::get(&client, id)
            .await?
            .expect("job");
        assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
        assert_eq!(job.counts.completed_devices, devices as i64);
        let results = netraven_dispatcher::jobs::results(&client, id).await?;
        assert_eq!(results.len(), devices);
        assert!(results
            .iter()
            .all(|r| !matches!(r.outcome, Outcome::Lost | Outcome::InternalError)));
    }
    println!(
        "healthy devices: {base_rate:.0}/s alone ({base_total:.1} s); {rate:.0}/s among 182 \
         faulty, every fault but endless_output ({total:.1} s for 1,982; device deadline {} s): \
         {:+.1} %; {all_rate:.0}/s among all 200 faulty ({all_total:.1} s for 2,000): {:+.1} %",
        DEVICE_DEADLINE_MS / 1000,
        (rate / base_rate - 1.0) * 100.0,
        (all_rate / base_rate - 1.0) * 100.0
    );
    for t in [total, all_total] {
        assert!(
            t <= DEVICE_DEADLINE_MS as f64 / 1000.0 + base_total + 2.0,
            "a hostile job took {t:.1} s: longer than the slowest fault's deadline allows"
        );
    }
    for (faults, r) in [
        ("182 faulty devices", rate),
        ("all 200 faulty devices", all_rate),
    ] {
        assert!(
            r >= base_rate * 0.8,
            "among {faults}, healthy throughput fell from {base_rate:.0}/s to {r:.0}/s (more than 20 %)"
        );
    }
    // The endless streams were cut at the output cap, saying so.
    let results = netraven_dispatcher::jobs::results(&client, endless).await?;
    let cut = results
        .iter()
        .filter(|r| r.outcome == Outcome::CommandFailed && r.reason.contains("exceeded"))
        .count();
    assert_eq!(cut, 18, "every endless stream ends at the output cap");
    roles.stop().await?;
    fleet.shutdown().await;
    env.teardown().await
}
