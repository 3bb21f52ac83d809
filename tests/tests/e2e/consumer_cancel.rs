//! A broker-side cancel (here: every queue deleted under the roles' feet, as an operator
//! mistake or a queue expiry would) ends each consumer's stream. No role may take that as
//! "stop": each declares its queue again, subscribes again, and the next job runs. The
//! dead-letter queue, which no role consumes, is declared again with them.
//!
//! Each role declares again only its own queue (`broker::Scope::Queue`): when every role
//! declared every queue, a queue deleted here was now and then declared again by another
//! role before its own consumer's channel had let go of the old one, and that consumer
//! stayed attached to the new queue without a cancel, holding its messages unacknowledged
//! for ever (7 runs in 25 under CPU load, the job stuck RUNNING with nothing done).

use lapin::options::QueueDeleteOptions;
use netraven_shared::broker;
use netraven_shared::domain::JobStatus;
use netraven_tests::{request, FleetBuilder, TestEnv};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);

async fn consumers(env: &TestEnv, queues: &[String]) -> anyhow::Result<Vec<u32>> {
    let mut out = Vec::new();
    for q in queues {
        // A missing queue has no consumers.
        out.push(
            env.queue_depth(q)
                .await
                .map_or(0, |(_, consumers)| consumers),
        );
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_subscribes_again_after_the_broker_cancels_its_consumer() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", 20, 81)?.start().await?;
    env.import(&fleet).await?;
    let roles = env.start(2);
    let first = env
        .run_job(&request("config_backup", &["fleet"], &[]), TIMEOUT)
        .await?;
    assert_eq!(first.counts.status, JobStatus::CompletedSuccess);

    let queues = [
        env.names.submit_queue(),
        env.names.tasks_queue(),
        env.names.results_queue(),
        env.names.dead_tasks_queue(),
        env.names.dead_queue(),
    ];
    let conn = broker::connect(&env.settings.amqp, "test-cancel").await?;
    let ch = conn.create_channel().await?;
    for q in &queues {
        ch.queue_delete(q.clone().into(), QueueDeleteOptions::default())
            .await?;
    }
    let _ = conn.close(200, "ok".into()).await;

    // Dispatcher, two workers, aggregator (results and dead tasks) consume again.
    let until = Instant::now() + TIMEOUT;
    let back = loop {
        let c = consumers(&env, &queues).await?;
        if c == [1, 2, 1, 1, 0] || Instant::now() > until {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        back,
        [1, 2, 1, 1, 0],
        "consumers per queue after the cancel"
    );
    assert!(
        env.queue_depth(&env.names.dead_queue()).await.is_ok(),
        "the dead-letter queue is declared again"
    );
    let second = env
        .run_job(&request("config_backup", &["fleet"], &[]), TIMEOUT)
        .await?;
    assert_eq!(second.counts.status, JobStatus::CompletedSuccess);
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}

/// The dead-letter queue people read, deleted alone: no consumer is cancelled, so only the
/// aggregator's periodic look brings it back, and what is dead-lettered after that is in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_queue_deleted_alone_is_declared_again() -> anyhow::Result<()> {
    const MARKER: &[u8] = b"{\"dead\": \"after the queue came back\"}";
    let env = TestEnv::new().await?;
    let roles = netraven_tests::Roles::start_without_workers(&env.settings);
    let dead = env.names.dead_queue();
    let until = Instant::now() + TIMEOUT;
    while env.queue_depth(&dead).await.is_err() {
        anyhow::ensure!(Instant::now() < until, "{dead} never declared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let conn = broker::connect(&env.settings.amqp, "test-cancel").await?;
    let ch = conn.create_channel().await?;
    // Deleted. Whether it is gone when the test next looks is a race with the aggregator,
    // whose look runs every sweep interval; that it is there again, and bound, is what
    // is checked.
    ch.queue_delete(dead.clone().into(), QueueDeleteOptions::default())
        .await?;
    let until = Instant::now() + TIMEOUT;
    while env.queue_depth(&dead).await.is_err() {
        anyhow::ensure!(
            Instant::now() < until,
            "{dead} not declared again within {TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Bound again: a dead letter reaches it.
    ch.confirm_select(Default::default()).await?;
    ch.basic_publish(
        env.names.dead_exchange().into(),
        "".into(),
        lapin::options::BasicPublishOptions::default(),
        MARKER,
        lapin::BasicProperties::default(),
    )
    .await?
    .await?;
    let until = Instant::now() + TIMEOUT;
    let first = loop {
        let got = ch
            .basic_get(
                dead.clone().into(),
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await?;
        if let Some(m) = got {
            break m.delivery.data;
        }
        anyhow::ensure!(Instant::now() < until, "nothing reached {dead}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        first, MARKER,
        "the dead letter published after the queue came back"
    );
    let _ = conn.close(200, "ok".into()).await;
    roles.stop().await?;
    Ok(())
}
