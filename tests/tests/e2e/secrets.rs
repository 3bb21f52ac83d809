//! No plaintext secret leaves a worker's memory: not in logs, not on the broker, not in
//! Postgres — checked by capturing all three during a whole mixed job.

use futures::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use netraven_shared::broker;
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::TaskResults;
use netraven_simulator::scenario;
use netraven_tests::{request, Captured, FleetBuilder, TestEnv};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_secret_reaches_logs_messages_or_the_database() -> anyhow::Result<()> {
    let logs = Captured::install()?;

    let env = TestEnv::new().await?;
    let mut spec = scenario("multi-vendor", 30, 61)?;
    // The first credential carries an enable secret of its own, which its devices ask.
    let first = &mut spec.credentials[0];
    let own_enable = format!("enable-{}", first.password);
    first.enable_secret = Some(own_enable.clone());
    let first_login = (first.username.clone(), first.password.clone());
    for d in &mut spec.devices {
        if d.enable_secret.is_some() {
            d.enable_secret = match d.accepts.first() {
                Some(login) if *login == first_login => Some(own_enable.clone()),
                other => other.map(|(_, p)| p.clone()),
            };
        }
    }
    let secrets: Vec<String> = spec
        .credentials
        .iter()
        .flat_map(|c| std::iter::once(c.password.clone()).chain(c.enable_secret.clone()))
        .collect();
    let fleet = FleetBuilder::from_spec(spec).start().await?;
    env.import(&fleet).await?;

    // A copy of everything that crosses every exchange.
    let conn = broker::connect(&env.settings.amqp, "test-wiretap").await?;
    let ch = conn.create_channel().await?;
    broker::declare_topology(&ch, &env.names, &env.settings.amqp).await?;
    let tap = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let tap = tap.name().as_str().to_string();
    for (exchange, key) in [
        (env.names.jobs_exchange(), broker::SUBMIT_KEY),
        (env.names.tasks_exchange(), broker::TASK_KEY),
        (env.names.results_exchange(), broker::RESULT_KEY),
        (env.names.events_exchange(), "#"),
        (env.names.dead_exchange(), ""),
    ] {
        ch.queue_bind(
            tap.clone().into(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    let roles = env.start(2);
    let job = env
        .run_job(
            &request("config_backup", &["fleet", "orphan"], &[]),
            Duration::from_secs(60),
        )
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
    roles.stop().await?;

    let mut consumer = ch
        .basic_consume(
            tap.into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let mut bodies = Vec::new();
    while let Ok(Some(Ok(d))) =
        tokio::time::timeout(Duration::from_millis(500), consumer.next()).await
    {
        bodies.push(String::from_utf8_lossy(&d.data).into_owned());
    }
    let broker_text = bodies.join("\n");
    let batches: Vec<usize> = bodies
        .iter()
        .filter_map(|b| TaskResults::decode(b.as_bytes()).ok())
        .map(|b| b.results.len())
        .collect();
    assert_eq!(
        batches.iter().sum::<usize>(),
        27,
        "27 results (3 devices have no credential), in the workers' batches: {batches:?}"
    );
    assert_eq!(
        bodies.len(),
        1 + 27 + batches.len() + 3,
        "the request, 27 tasks, the result batches and 3 events"
    );
    assert!(
        broker_text.contains("nrv1:"),
        "tasks carry the sealed secrets"
    );

    let dump = env.dump_database().await?;
    assert!(dump.contains("nrv1:"), "credentials are stored sealed");

    let log_text = logs.text()?;
    assert!(
        log_text.lines().count() > 100,
        "the roles logged at TRACE: {} lines",
        log_text.lines().count()
    );
    for secret in &secrets {
        assert!(
            !log_text.contains(secret.as_str()),
            "a secret is in the logs"
        );
        assert!(
            !broker_text.contains(secret.as_str()),
            "a secret crossed the broker"
        );
        assert!(
            !dump.contains(secret.as_str()),
            "a secret is in the database"
        );
    }
    fleet.shutdown().await;
    Ok(())
}
