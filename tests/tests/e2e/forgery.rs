//! The broker is not trusted: a device task captured from the queue, altered and published
//! back with an ordinary broker account (retargeted, its host-key policy, pin, credentials
//! or deadline changed) — or forged from scratch — makes no worker open a
//! secret or contact anything (the other SSH servers' ground truth shows no login), and
//! forged results or dead letters change no job, no device result and no credential
//! counter. What is refused is dead-lettered with its reason and counted.

use lapin::options::{BasicGetOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use netraven_shared::broker::{self, Outgoing, Publisher, REASON_HEADER, RESULT_KEY, TASK_KEY};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_shared::messages::{self, TaskResult, TaskResults};
use netraven_shared::signing::{Issuer, Purpose, SigningKeys, SIGNATURE_HEADER};
use netraven_shared::telemetry::metrics;
use netraven_simulator::Fleet;
use netraven_tests::{request, FleetBuilder, Roles, TestEnv};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const DEVICES: usize = 4;

/// A message as it sat on the broker.
struct Captured {
    body: Vec<u8>,
    properties: BasicProperties,
}

/// Takes one message from `queue` and puts it back, as anyone allowed to read it could.
async fn capture(ch: &lapin::Channel, queue: &str) -> anyhow::Result<Captured> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(m) = ch
            .basic_get(queue.into(), BasicGetOptions::default())
            .await?
        {
            let captured = Captured {
                body: m.delivery.data.clone(),
                properties: m.delivery.properties.clone(),
            };
            m.delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await?;
            return Ok(captured);
        }
        anyhow::ensure!(Instant::now() < until, "no message in {queue} after 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every message in `queue`, taken off it.
async fn drain(ch: &lapin::Channel, queue: &str) -> anyhow::Result<Vec<Captured>> {
    let mut out = Vec::new();
    while let Some(m) = ch
        .basic_get(queue.into(), BasicGetOptions { no_ack: true })
        .await?
    {
        out.push(Captured {
            body: m.delivery.data.clone(),
            properties: m.delivery.properties.clone(),
        });
    }
    Ok(out)
}

/// `props` with the signature header set to `signature`, or removed.
fn with_signature(props: &BasicProperties, signature: Option<String>) -> BasicProperties {
    let mut headers = props.headers().clone().unwrap_or_default();
    let mut kept = FieldTable::default();
    for (k, v) in headers.inner() {
        if k.as_str() != SIGNATURE_HEADER {
            kept.insert(k.clone(), v.clone());
        }
    }
    headers = kept;
    if let Some(s) = signature {
        headers.insert(SIGNATURE_HEADER.into(), AMQPValue::LongString(s.into()));
    }
    props.clone().with_headers(headers)
}

async fn publish(
    publisher: &Publisher,
    exchange: String,
    key: &str,
    body: Vec<u8>,
    properties: BasicProperties,
) -> anyhow::Result<()> {
    publisher
        .publish(Outgoing {
            exchange,
            routing_key: key.into(),
            body,
            properties,
            mandatory: true,
        })
        .await?;
    Ok(())
}

fn rejected(queue: &str, reason: &str) -> u64 {
    metrics::get()
        .messages_rejected_total
        .with_label_values(&[queue, reason])
        .get()
}

/// Waits until `queue` holds `n` messages (the roles dead-letter asynchronously).
async fn wait_for_messages(ch: &lapin::Channel, queue: &str, n: u32) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let q = ch
            .queue_declare(
                queue.into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        if q.message_count() >= n {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < until,
            "{queue} holds {} messages after 30 s, expected {n}",
            q.message_count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A job whose tasks wait in the queue (the dispatcher and the aggregator run, no worker),
/// and one of its tasks as a broker account can read it.
struct Waiting {
    dispatching: Roles,
    job_id: uuid::Uuid,
    conn: lapin::Connection,
    ch: lapin::Channel,
    tasks_queue: String,
    genuine: Captured,
    task: Value,
}

impl Waiting {
    async fn start(env: &TestEnv) -> anyhow::Result<Waiting> {
        let dispatching = Roles::start_without_workers(&env.settings);
        let job = request("config_backup", &["fleet"], &[]);
        env.publish(&job).await?;
        let job_id = env.job_id(&job.request_id, Duration::from_secs(30)).await?;
        let conn = broker::connect(&env.settings.amqp, "test-attacker").await?;
        let ch = conn.create_channel().await?;
        let tasks_queue = env.names.tasks_queue();
        wait_for_messages(&ch, &tasks_queue, DEVICES as u32).await?;
        let genuine = capture(&ch, &tasks_queue).await?;
        let task = serde_json::from_slice(&genuine.body)?;
        Ok(Waiting {
            dispatching,
            job_id,
            conn,
            ch,
            tasks_queue,
            genuine,
            task,
        })
    }
}

/// A fleet of `DEVICES` healthy simulated devices.
async fn healthy_fleet(seed: u64) -> anyhow::Result<Fleet> {
    FleetBuilder::scenario("all-good", DEVICES, seed)?
        .start()
        .await
}

/// Login attempts the credentials' counters recorded, all credentials together.
async fn counters(env: &TestEnv) -> anyhow::Result<(i64, i64)> {
    let row = env
        .pool
        .get()
        .await?
        .query_one(
            "SELECT coalesce(sum(success_count), 0)::bigint, coalesce(sum(failure_count), 0)::bigint
             FROM credentials",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_or_forged_tasks_send_no_secret_anywhere() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = healthy_fleet(81).await?;
    // The attacker's SSH servers: every login they receive is recorded.
    let decoy = healthy_fleet(82).await?;
    env.import(&fleet).await?;

    let Waiting {
        dispatching,
        job_id,
        conn,
        ch,
        tasks_queue,
        genuine,
        task,
    } = Waiting::start(&env).await?;
    dispatching.stop().await?;
    let signature = broker::header(&genuine.properties, SIGNATURE_HEADER);
    assert!(signature.is_some(), "the dispatcher signs every task");

    let target = &decoy.devices()[0];
    let altered = |change: &dyn Fn(&mut Value)| -> anyhow::Result<Vec<u8>> {
        let mut t = task.clone();
        change(&mut t);
        Ok(serde_json::to_vec(&t)?)
    };
    let retarget = |t: &mut Value| {
        t["device"]["host"] = json!(target.host.to_string());
        t["device"]["port"] = json!(target.port);
    };
    // A dispatcher key the attacker made, and the workers' own key (a compromised worker).
    let attacker = SigningKeys::parse(&SigningKeys::generate_line(Issuer::Dispatcher)?)?
        .signer(Purpose::DeviceTask, &env.names.namespace)?;
    let workers_key = SigningKeys::parse(&env.signing_keys)?
        .signer(Purpose::TaskResults, &env.names.namespace)?;
    let retargeted = altered(&retarget)?;
    let forgeries: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("retargeted", retargeted.clone(), signature.clone()),
        (
            "port only",
            altered(&|t| t["device"]["port"] = json!(target.port))?,
            signature.clone(),
        ),
        (
            "host-key checks off",
            altered(&|t| {
                retarget(t);
                t["host_key_policy"] = json!("off");
            })?,
            signature.clone(),
        ),
        (
            "pin replaced",
            altered(&|t| {
                retarget(t);
                t["host_key_policy"] = json!("strict");
                t["pinned_host_key"] = json!(target.host_key.clone());
            })?,
            signature.clone(),
        ),
        (
            "credentials reordered",
            altered(&|t| {
                retarget(t);
                if let Some(c) = t["credentials"].as_array_mut() {
                    c.reverse();
                }
            })?,
            signature.clone(),
        ),
        (
            "deadline stretched",
            altered(&|t| {
                retarget(t);
                t["device_deadline_ms"] = json!(3_600_000);
            })?,
            signature.clone(),
        ),
        ("unsigned", retargeted.clone(), None),
        (
            "attacker's key",
            retargeted.clone(),
            Some(attacker.sign(&retargeted)),
        ),
        (
            "a worker's key",
            retargeted.clone(),
            Some(workers_key.sign(&retargeted)),
        ),
    ];
    let publisher = Publisher::new(&conn, 16).await?;
    for (_, body, sig) in &forgeries {
        publish(
            &publisher,
            env.names.tasks_exchange(),
            TASK_KEY,
            body.clone(),
            with_signature(&genuine.properties, sig.clone()),
        )
        .await?;
    }

    let roles = env.start(2);
    let done = env.wait_final(job_id, Duration::from_secs(60)).await?;
    assert_eq!(done.counts.status, JobStatus::CompletedSuccess);
    assert_eq!(done.counts.completed_devices, DEVICES as i64);
    let dead_queue = env.names.dead_queue();
    wait_for_messages(&ch, &dead_queue, forgeries.len() as u32).await?;
    roles.stop().await?;

    // Not one login reached the attacker's servers; the real devices saw one task each.
    assert_eq!(
        decoy.all_attempts(),
        Default::default(),
        "a forged task made a worker log in elsewhere"
    );
    let logins: usize = fleet.all_attempts().values().map(Vec::len).sum();
    let (successes, failures) = counters(&env).await?;
    assert_eq!(successes, DEVICES as i64, "one success per device, no more");
    assert_eq!(
        (successes + failures) as usize,
        logins,
        "the credential counters count the real devices' logins only"
    );

    // Every forgery is in the dead queue with its reason; nothing else is.
    let dead = drain(&ch, &dead_queue).await?;
    let reasons: Vec<String> = dead
        .iter()
        .filter_map(|d| broker::header(&d.properties, REASON_HEADER))
        .collect();
    assert_eq!(reasons.len(), forgeries.len(), "{reasons:#?}");
    assert!(reasons.iter().all(|r| r.starts_with("device task refused")));
    let count = |needle: &str| reasons.iter().filter(|r| r.contains(needle)).count();
    assert_eq!(count("altered or forged"), 6, "{reasons:#?}");
    assert_eq!(count("unsigned"), 1, "{reasons:#?}");
    assert_eq!(count("not a trusted dispatcher key"), 2, "{reasons:#?}");
    assert_eq!(rejected(&tasks_queue, "bad_signature"), 6);
    assert_eq!(rejected(&tasks_queue, "unsigned"), 1);
    assert_eq!(rejected(&tasks_queue, "unknown_key"), 2);
    // The forged tasks marked no device DEAD_LETTERED either: every device succeeded above.

    let _ = conn.close(200, "ok".into()).await;
    fleet.shutdown().await;
    decoy.shutdown().await;
    Ok(())
}

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
        version: messages::VERSION,
        results: devices
            .iter()
            .map(|(id, name)| TaskResult {
                version: messages::VERSION,
                job_id,
                device_id: *id,
                device_name: name.clone(),
                outcome: Outcome::Success,
                reason: "forged".into(),
                credential_id: task["credentials"][0]["id"].as_i64(),
                attempts: 1,
                duration_ms: 1,
                config_sha256: None,
                worker: "forger".into(),
                finished_at: chrono::Utc::now(),
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
    assert_eq!(rejected(&results_queue, "unsigned"), 1);
    assert_eq!(rejected(&results_queue, "unknown_key"), 2);
    let (successes, _) = counters(&env).await?;
    assert_eq!(successes, DEVICES as i64);

    let _ = conn.close(200, "ok".into()).await;
    fleet.shutdown().await;
    Ok(())
}
