//! A validly signed result that Postgres refuses (a NUL byte in its reason) is
//! dead-lettered with its reason; the other results of its message and of other messages
//! are recorded, its job completes, and the aggregator goes on to record later jobs.

use super::{publish_signed, result, Running};
use anyhow::{ensure, Context, Result};
use lapin::options::BasicGetOptions;
use netraven_shared::broker::{self, Publisher, REASON_HEADER, SOURCE_HEADER};
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{self, TaskResults};
use netraven_shared::telemetry::metrics;
use netraven_tests::{request, FleetBuilder, Roles, TestEnv};
use std::time::{Duration, Instant};

const DEVICES: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_postgres_refuses_is_dead_lettered_and_the_aggregator_goes_on() -> Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", DEVICES, 91)?
        .start()
        .await?;
    env.import(&fleet).await?;
    // The dispatcher and the aggregator, no worker: the test plays the worker.
    let roles = Roles::start_without_workers(&env.settings);
    let job = request("config_backup", &["fleet"], &[]);
    env.publish(&job).await?;
    let job_id = env.job_id(&job.request_id, Duration::from_secs(30)).await?;
    let client = env.pool.get().await?;
    // As a worker would, answer only once the job's tasks are out (it is RUNNING).
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let status: String = client
            .query_one("SELECT status FROM jobs WHERE id = $1", &[&job_id])
            .await?
            .get(0);
        if status == "RUNNING" {
            break;
        }
        ensure!(
            Instant::now() < until,
            "the job is still {status} after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let devices: Vec<(i64, String)> = client
        .query("SELECT id, name FROM devices ORDER BY id", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    ensure!(devices.len() == DEVICES, "{devices:?}");
    let ok = |i: usize| result(job_id, devices[i].0, &devices[i].1, "ok");

    // Message A: a batch of three whose middle result Postgres cannot store (text holds
    // no NUL). Messages B (one result) and C (a batch of two) are clean.
    let mut poison = ok(1);
    poison.reason = "output\0with a NUL".into();
    let a = TaskResults {
        version: messages::RESULT_VERSION,
        results: vec![ok(0), poison, ok(2)],
    };
    let conn = broker::connect(&env.settings.amqp, "test-worker").await?;
    let publisher = Publisher::new(&conn, 16).await?;
    let a_body = serde_json::to_vec(&a)?;
    publish_signed(&env, &publisher, a_body.clone(), true).await?;
    publish_signed(&env, &publisher, serde_json::to_vec(&ok(3))?, false).await?;
    let c = TaskResults {
        version: messages::RESULT_VERSION,
        results: vec![ok(4)],
    };
    publish_signed(&env, &publisher, serde_json::to_vec(&c)?, true).await?;

    // The job completes: four results recorded, the refused one stands as DEAD_LETTERED.
    let done = env.wait_final(job_id, Duration::from_secs(60)).await?;
    assert_eq!(done.counts.status, JobStatus::CompletedPartialFailure);
    assert_eq!(done.counts.completed_devices, DEVICES as i64);
    assert_eq!(done.counts.succeeded_devices, DEVICES as i64 - 1);
    let rows = client
        .query(
            "SELECT device_id, outcome, reason, worker FROM job_results WHERE job_id = $1",
            &[&job_id],
        )
        .await?;
    assert_eq!(rows.len(), DEVICES);
    for r in &rows {
        let (id, outcome, reason, worker): (i64, String, String, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        if id == devices[1].0 {
            assert_eq!(outcome, "DEAD_LETTERED");
            assert_eq!(worker, "aggregator");
            assert!(
                reason.contains("could not record") && reason.contains("dead-letter queue"),
                "{reason}"
            );
        } else {
            assert_eq!((outcome.as_str(), reason.as_str()), ("SUCCESS", "ok"));
        }
    }
    let refused = metrics::get()
        .results_recorded_total
        .with_label_values(&["refused"])
        .get();
    assert_eq!(refused, 1, "one refused result counted");

    // Message A waits in the dead-letter queue, whole and with the reason.
    let ch = conn.create_channel().await?;
    let dead = env.names.dead_queue();
    let until = Instant::now() + Duration::from_secs(30);
    let reason = loop {
        if let Some(m) = ch
            .basic_get(dead.as_str().into(), BasicGetOptions { no_ack: true })
            .await?
        {
            let props = &m.delivery.properties;
            if broker::header(props, SOURCE_HEADER).as_deref()
                == Some(env.names.results_queue().as_str())
            {
                assert_eq!(
                    m.delivery.data, a_body,
                    "the message is dead-lettered whole"
                );
                break broker::header(props, REASON_HEADER).context("no reason header")?;
            }
        }
        ensure!(
            Instant::now() < until,
            "no results message in {dead} after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let device = format!("device {} of job {job_id}", devices[1].0);
    assert!(
        reason.contains("Postgres refused 1 of the 3 results") && reason.contains(&device),
        "{reason}"
    );

    // The same aggregator records the next job, run by a real worker.
    let worker = Running::worker(&env.settings);
    let next = env
        .run_job(
            &request("config_backup", &["fleet"], &[]),
            Duration::from_secs(90),
        )
        .await?;
    assert_eq!(next.counts.status, JobStatus::CompletedSuccess);
    assert_eq!(next.counts.completed_devices, DEVICES as i64);
    worker.stop().await?;
    roles.stop().await?;
    let _ = conn.close(200, "ok".into()).await;
    Ok(())
}
