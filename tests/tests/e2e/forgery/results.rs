//! Forged results and dead letters change no job and no counter.

use super::messages::{
    counters, healthy_fleet, publish, rejected, with_signature, Waiting, DEVICES,
};
use lapin::types::AMQPValue;
use netraven_shared::broker::{self, Publisher, REASON_HEADER, RESULT_KEY};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_shared::messages::{self, TaskResult, TaskResults};
use netraven_shared::signing::{Issuer, Purpose, SigningKeys};
use netraven_shared::telemetry::metrics;
use netraven_tests::TestEnv;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_results_and_dead_letters_change_no_job_and_no_counter() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = healthy_fleet(83).await?;
    env.import(&fleet).await?;
    let Waiting {
        dispatching,
        job_id,
        conn,
        ch: _,
        tasks_queue,
        genuine,
        task,
    } = Waiting::start(&env).await?;
    let devices: Vec<(i64, String)> = env
        .pool
        .get()
        .await?
        .query("SELECT id, name FROM devices ORDER BY id", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();

    // Every device "succeeded", says the forger, on a credential that never logged in.
    let forged = TaskResults {
        version: messages::RESULT_VERSION,
        results: devices
            .iter()
            .map(|(id, name)| TaskResult {
                version: messages::RESULT_VERSION,
                job_id,
                device_id: *id,
                device_name: name.clone(),
                outcome: Outcome::Success,
                reason: "forged".into(),
                credential_id: task["credentials"][0]["id"].as_i64(),
                attempts: 1,
                duration_ms: 1,
                config_sha256: None,
                config: None,
                worker: "forger".into(),
                finished_at: chrono::Utc::now(),
                try_number: None,
            })
            .collect(),
    };
    let body = serde_json::to_vec(&forged)?;
    let batch_props = broker::json_properties().with_type(messages::RESULTS_BATCH_TYPE.into());
    let ns = &env.names.namespace;
    let attacker = SigningKeys::parse(&SigningKeys::generate_line(Issuer::Worker)?)?
        .signer(Purpose::TaskResults, ns)?;
    // The dispatcher's key is trusted, but not to speak for workers.
    let dispatcher_key = SigningKeys::parse(&env.signing_keys)?.signer(Purpose::DeviceTask, ns)?;
    let publisher = Publisher::new(&conn, 16).await?;
    for sig in [
        None,
        Some(attacker.sign(&body)),
        Some(dispatcher_key.sign(&body)),
    ] {
        publish(
            &publisher,
            env.names.results_exchange(),
            RESULT_KEY,
            body.clone(),
            with_signature(&batch_props, sig),
        )
        .await?;
    }
    // A dead-lettered task made up from the captured one, for another device: would mark
    // it DEAD_LETTERED if believed.
    let mut other = task.clone();
    let victim = devices
        .iter()
        .find(|(id, _)| Some(*id) != task["device"]["id"].as_i64())
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no second device"))?;
    other["device"]["id"] = json!(victim.0);
    other["device"]["name"] = json!(victim.1);
    let mut dead_headers = genuine.properties.headers().clone().unwrap_or_default();
    dead_headers.insert(
        broker::SOURCE_HEADER.into(),
        AMQPValue::LongString(tasks_queue.clone().into()),
    );
    dead_headers.insert(
        REASON_HEADER.into(),
        AMQPValue::LongString("delivery_limit".into()),
    );
    publish(
        &publisher,
        env.names.dead_exchange(),
        "",
        serde_json::to_vec(&other)?,
        genuine.properties.clone().with_headers(dead_headers),
    )
    .await?;

    // The aggregator is running: the forged results are refused, not recorded.
    let results_queue = env.names.results_queue();
    let until = Instant::now() + Duration::from_secs(30);
    while rejected(&results_queue, "unsigned") + rejected(&results_queue, "unknown_key") < 3 {
        anyhow::ensure!(
            Instant::now() < until,
            "the forged results were not refused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let client = env.pool.get().await?;
    let recorded: i64 = client
        .query_one(
            "SELECT count(*) FROM job_results WHERE job_id = $1",
            &[&job_id],
        )
        .await?
        .get(0);
    assert_eq!(recorded, 0, "a forged result or dead letter was recorded");
    let view = env.wait_final(job_id, Duration::from_millis(1)).await;
    assert!(view.is_err(), "the job must still be running: {view:?}");
    assert_eq!(counters(&env).await?, (0, 0));
    dispatching.stop().await?;

    // The real workers finish the job with the real results.
    let roles = env.start(2);
    let done = env.wait_final(job_id, Duration::from_secs(60)).await?;
    roles.stop().await?;
    assert_eq!(done.counts.status, JobStatus::CompletedSuccess);
    let rows = client
        .query(
            "SELECT outcome, worker, reason FROM job_results WHERE job_id = $1",
            &[&job_id],
        )
        .await?;
    assert_eq!(rows.len(), DEVICES);
    for r in &rows {
        let (outcome, worker, reason): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        assert_eq!(outcome, "SUCCESS");
        assert_ne!(worker, "forger");
        assert_ne!(reason, "forged");
    }
    // Each forged message refused for its own reason. At least once: one refused but not
    // yet acked when the first aggregator stopped is delivered again, and refused again.
    assert!(rejected(&results_queue, "unsigned") >= 1);
    assert!(rejected(&results_queue, "unknown_key") >= 2);
    let (successes, _) = counters(&env).await?;
    assert_eq!(successes, DEVICES as i64);

    let _ = conn.close(200, "ok".into()).await;
    fleet.shutdown().await;
    Ok(())
}

/// A flood of refused results (unsigned: a worker whose key the aggregator does not trust
/// yet sends the same) while the aggregator batches with no linger and 4 prefetch
/// places: each is dead-lettered and settled, and a real job's results still get through.
/// Before, a refused delivery whose dead letter was awaiting its confirm when the linger
/// ended was dropped unsettled: each took a prefetch place for good (all but one of
/// them, here) and stayed "in hand", so an idle aggregator reported itself stalled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refused_results_leaves_no_delivery_unsettled() -> anyhow::Result<()> {
    use netraven_tests::request;
    const FORGED: u64 = 300;
    let mut env = TestEnv::new().await?;
    env.settings.aggregator.batch_size = 2;
    env.settings.aggregator.batch_linger_ms = 0;
    env.settings.health.database_check_interval_ms = 100;
    let fleet = healthy_fleet(85).await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let conn = broker::connect(&env.settings.amqp, "test-attacker").await?;
    // The roles declare the topology as they start; the flood may come first.
    broker::declare_topology(
        &conn.create_channel().await?,
        &env.names,
        &env.settings.amqp,
    )
    .await?;
    let publisher = Publisher::new(&conn, 64).await?;
    let results_queue = env.names.results_queue();
    for _ in 0..FORGED {
        publish(
            &publisher,
            env.names.results_exchange(),
            RESULT_KEY,
            b"{}".to_vec(),
            broker::json_properties(),
        )
        .await?;
    }
    let job = env
        .run_job(
            &request("config_backup", &["fleet"], &[]),
            Duration::from_secs(60),
        )
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    let until = Instant::now() + Duration::from_secs(30);
    while rejected(&results_queue, "unsigned") < FORGED {
        anyhow::ensure!(
            Instant::now() < until,
            "{} of {FORGED} forged results refused after 30 s",
            rejected(&results_queue, "unsigned")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every delivery the aggregator took was settled: none is left in its hands (the
    // gauge is set at each health check, every `health.database_check_interval_ms`: a
    // few of them first, so that it is not the value from before the flood).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let in_hand = || {
        metrics::get()
            .work_in_hand
            .with_label_values(&["aggregator"])
            .get()
    };
    let until = Instant::now() + Duration::from_secs(30);
    while in_hand() != 0 {
        anyhow::ensure!(
            Instant::now() < until,
            "{} deliveries still in the aggregator's hands after 30 s",
            in_hand()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    roles.stop().await?;
    let _ = conn.close(200, "ok".into()).await;
    Ok(())
}
