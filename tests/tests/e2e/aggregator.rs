//! The aggregator: every device counted exactly once, whatever the broker repeats, however
//! many aggregators run, and whatever never comes back.

use chrono::Utc;
use netraven_shared::broker::{self, Outgoing, Publisher, RESULT_KEY};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_shared::messages::{self, TaskResult, TaskResults};
use netraven_shared::signing::Purpose;
use netraven_tests::{request, DeadLetteredJob, FleetBuilder, Roles, TestEnv};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(60);

fn result(job_id: uuid::Uuid, device_id: i64, name: &str, outcome: Outcome) -> TaskResult {
    TaskResult {
        version: messages::RESULT_VERSION,
        job_id,
        device_id,
        device_name: name.into(),
        outcome,
        reason: "replayed by the test".into(),
        credential_id: None,
        attempts: 1,
        duration_ms: 5,
        config_sha256: None,
        config: None,
        worker: "test".into(),
        finished_at: Utc::now(),
        try_number: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_aggregators_and_repeated_results_count_each_device_once() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("mixed", 80, 51)?.start().await?;
    env.import(&fleet).await?;
    let roles = env.start(2);
    let second = CancellationToken::new();
    let extra = tokio::spawn(netraven_dispatcher::run_aggregator(
        env.settings.clone(),
        second.clone(),
    ));
    let job = env
        .run_job(
            &request("config_backup", &["fleet", "orphan"], &[]),
            TIMEOUT,
        )
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    let client = env.pool.get().await?;
    let before = netraven_dispatcher::job_rows::results(&client, job.id).await?;

    // Every result once more, and a contradicting one, as a broker redelivery would:
    // half as single results (an older worker), half in one batch (this build's workers),
    // and a batch that does not decode.
    let conn = broker::connect(&env.settings.amqp, "test-replay").await?;
    let publisher = Publisher::new(&conn, 100).await?;
    let exchange = env.names.results_exchange();
    let fakes: Vec<TaskResult> = before
        .iter()
        .map(|r| result(job.id, r.device_id, &r.device_name, Outcome::Timeout))
        .collect();
    let (singles, batched) = fakes.split_at(fakes.len() / 2);
    let batch_properties = broker::json_properties().with_type(messages::RESULTS_BATCH_TYPE.into());
    // Signed with the workers' key: a redelivery carries the worker's signature.
    let signer = env.signer(Purpose::TaskResults)?;
    let mut replay: Vec<Outgoing> = Vec::new();
    for fake in singles {
        replay.push(Outgoing::json(&exchange, RESULT_KEY, fake)?.signed(&signer));
    }
    let batch = TaskResults {
        version: messages::RESULT_VERSION,
        results: batched.to_vec(),
    };
    replay.push(
        Outgoing::json(&exchange, RESULT_KEY, &batch)?
            .with_properties(batch_properties.clone())
            .signed(&signer),
    );
    replay.push(
        Outgoing {
            exchange: exchange.clone(),
            routing_key: RESULT_KEY.into(),
            body: br#"{"version":1,"results":[{"device_id":"one"}]}"#.to_vec(),
            properties: batch_properties,
            mandatory: true,
        }
        .signed(&signer),
    );
    let report = publisher.publish_all(replay).await?;
    assert_eq!(report.confirmed, singles.len() + 2);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (in_dead, _) = env.queue_depth(&env.names.dead_queue()).await?;
    assert_eq!(
        in_dead, 1,
        "the batch that does not decode is dead-lettered whole"
    );

    let after = netraven_dispatcher::job_rows::get(&client, job.id)
        .await?
        .expect("job");
    assert_eq!(after.counts, job.counts, "counters unchanged by repeats");
    let again = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    assert_eq!(again.len(), 80);
    for (a, b) in before.iter().zip(&again) {
        assert_eq!(
            (a.device_id, a.outcome),
            (b.device_id, b.outcome),
            "the first result stands"
        );
    }
    let text = netraven_shared::telemetry::metrics::render().map_err(anyhow::Error::msg)?;
    assert!(
        text.contains("netraven_results_recorded_total{result=\"duplicate\"}"),
        "duplicates are counted"
    );
    second.cancel();
    extra.await??;
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overdue_job_is_finished_by_the_sweeper_with_missing_devices_lost() -> anyhow::Result<()>
{
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", 6, 52)?.start().await?;
    env.import(&fleet).await?;
    // No worker runs: nothing will ever report.
    let roles = Roles::start_without_workers(&env.settings);
    let mut r = request("config_backup", &["fleet"], &[]);
    r.limits.job_deadline_ms = Some(1_500);
    env.publish(&r).await?;
    let id = env.job_id(&r.request_id, TIMEOUT).await?;
    // Two devices did report before the deadline (the test plays their worker).
    let signer = env.signer(Purpose::TaskResults)?;
    let conn = broker::connect(&env.settings.amqp, "test-partial").await?;
    let publisher = Publisher::new(&conn, 10).await?;
    let client = env.pool.get().await?;
    let devices = client
        .query("SELECT id, name FROM devices ORDER BY id LIMIT 2", &[])
        .await?;
    for row in &devices {
        let ok = result(id, row.get(0), row.get(1), Outcome::Success);
        publisher
            .publish(
                Outgoing::json(&env.names.results_exchange(), RESULT_KEY, &ok)?.signed(&signer),
            )
            .await?;
    }
    let job = env.wait_final(id, TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    let results = netraven_dispatcher::job_rows::results(&client, id).await?;
    assert_eq!(
        results
            .iter()
            .filter(|r| r.outcome == Outcome::Lost)
            .count(),
        4
    );
    assert_eq!(
        results
            .iter()
            .filter(|r| r.outcome == Outcome::Success)
            .count(),
        2
    );
    assert!(job.finished_at.expect("finished") >= job.deadline_at);
    let logged: i64 = client
        .query_one("SELECT count(*) FROM job_logs WHERE job_id = $1 AND message LIKE '4 devices did not report%'", &[&id])
        .await?
        .get(0);
    assert_eq!(logged, 1);
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_no_worker_can_finish_is_dead_lettered_and_counted() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    let DeadLetteredJob {
        fleet,
        roles,
        job,
        results,
    } = DeadLetteredJob::run(&mut env, 3, 53, TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedFailure);
    assert_eq!(results.len(), 3);
    for r in &results {
        assert_eq!(r.outcome, Outcome::DeadLettered, "{}", r.device_name);
        assert!(r.reason.contains("delivery_limit"), "{}", r.reason);
    }
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}
