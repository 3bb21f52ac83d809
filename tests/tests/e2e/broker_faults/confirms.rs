//! Publisher confirms have a timeout: a node of the test's own frozen with SIGSTOP (it
//! keeps its sockets open and answers nothing, not even heartbeats) makes a publish fail
//! within `amqp.confirm_timeout_ms`, not hang; once the node resumes (SIGCONT) the same
//! publisher publishes again, on a new channel. A connection blocked by a memory alarm, on
//! the other hand, is waited out past the timeout.

use super::own_nodes;
use netraven_shared::broker::{self, Link, Names, Outgoing, Publisher, TASK_KEY};
use netraven_shared::config::AmqpSettings;
use netraven_shared::Error;
use netraven_tests::cluster::Cluster;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The confirm timeout under test.
const CONFIRM: Duration = Duration::from_secs(2);
/// Generous bound on the failed publish: several times `CONFIRM`, and well under what the
/// heartbeat (120 s here) would take to end it.
const BOUND: Duration = Duration::from_secs(40);

/// Resumes the frozen node when dropped, even if the test panicked.
struct Thaw<'a>(&'a Cluster);

impl Drop for Thaw<'_> {
    fn drop(&mut self) {
        let _ = self.0.freeze(0, false);
    }
}

fn task(names: &Names, n: u32) -> Outgoing {
    Outgoing {
        exchange: names.tasks_exchange(),
        routing_key: TASK_KEY.into(),
        body: format!("{{\"probe\":{n}}}").into_bytes(),
        properties: broker::json_properties(),
        mandatory: true,
    }
}

/// A link to the broker at `url` with the topology of a namespace declared, and a
/// publisher on it with the confirm timeout under test whose first task is confirmed: all
/// works before the fault.
struct Publishing {
    names: Names,
    shutdown: CancellationToken,
    link: Arc<Link>,
    connection: Arc<lapin::Connection>,
    publisher: Publisher,
}

impl Publishing {
    /// Opens it as `test-<namespace>`.
    async fn open(url: String, namespace: &str) -> anyhow::Result<Publishing> {
        let settings = AmqpSettings {
            url,
            namespace: namespace.into(),
            confirm_timeout_ms: CONFIRM.as_millis() as u64,
            ..AmqpSettings::default()
        };
        let names = Names::new(&settings.namespace);
        let shutdown = CancellationToken::new();
        let link = Link::open(&settings, &format!("test-{namespace}"), &shutdown, None)
            .await
            .ok_or_else(|| anyhow::anyhow!("no link"))?;
        let connection = link
            .connection()
            .await
            .ok_or_else(|| anyhow::anyhow!("no connection"))?;
        broker::declare_topology(&connection.create_channel().await?, &names, &settings).await?;
        let publisher = Publisher::on(link.clone(), 16).await?;
        publisher.publish(task(&names, 1)).await?;
        Ok(Publishing {
            names,
            shutdown,
            link,
            connection,
            publisher,
        })
    }

    async fn close(&self) {
        self.shutdown.cancel();
        self.link.close("test done").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_broker_fails_a_publish_within_the_confirm_timeout() -> anyhow::Result<()> {
    let node = own_nodes(1).await?;
    // Heartbeats would end the wait too, after two intervals: push them out of the way so
    // that only the confirm timeout can.
    let amqp = Publishing::open(format!("{}?heartbeat=120", node.url(0)), "confirms").await?;
    let Publishing {
        names, publisher, ..
    } = &amqp;

    node.freeze(0, true)?;
    let thaw = Thaw(&node);
    let started = Instant::now();
    let frozen = tokio::time::timeout(BOUND, publisher.publish(task(names, 2))).await;
    let took = started.elapsed();
    drop(thaw);
    match frozen {
        Ok(Err(Error::NotConfirmed { reason, .. })) => {
            assert!(reason.contains("confirm_timeout_ms"), "why: {reason}");
        }
        Ok(other) => panic!("a publish to a frozen node: {other:?}"),
        Err(_) => panic!("a publish to a frozen node still waits after {BOUND:?}"),
    }
    assert!(
        took >= CONFIRM,
        "gave up after {took:?}, before the timeout"
    );

    let resumed = Instant::now();
    tokio::time::timeout(BOUND, publisher.publish(task(names, 3)))
        .await
        .map_err(|_| anyhow::anyhow!("no publish within {BOUND:?} of SIGCONT"))??;
    println!(
        "confirm timeout {CONFIRM:?}: the publish to the frozen node failed after {took:.2?}; \
         after SIGCONT the next publish was confirmed in {:.2?}",
        resumed.elapsed()
    );
    amqp.close().await;
    drop(node);
    Ok(())
}

/// How long the alarm of the blocked test stands: several confirm timeouts.
const ALARM: Duration = Duration::from_secs(8);

/// A connection the broker blocked (a memory alarm) is not a broker that stopped
/// answering: a publish waits it out, well past the confirm timeout, and is confirmed once
/// the alarm clears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_connection_waits_past_the_confirm_timeout() -> anyhow::Result<()> {
    let node = own_nodes(1).await?;
    let amqp = Publishing::open(node.url(0), "blocked").await?;
    let Publishing {
        names,
        connection,
        publisher,
        ..
    } = &amqp;

    node.ctl(0, &["set_vm_memory_high_watermark", "0.000001"])?;
    let publishing = publisher.publish(task(names, 2));
    tokio::pin!(publishing);
    let early = tokio::select! {
        done = &mut publishing => Some(done),
        () = tokio::time::sleep(ALARM) => None,
    };
    let blocked = connection.status().blocked();
    node.ctl(0, &["set_vm_memory_high_watermark", "0.4"])?;
    if let Some(done) = early {
        panic!("the publish ended during the alarm instead of waiting: {done:?}");
    }
    assert!(
        blocked,
        "the broker blocked the connection during the alarm"
    );
    let cleared = Instant::now();
    tokio::time::timeout(BOUND, &mut publishing)
        .await
        .map_err(|_| anyhow::anyhow!("not confirmed within {BOUND:?} of the alarm clearing"))??;
    println!(
        "blocked for {ALARM:?} ({}x the confirm timeout): the publish waited, and was \
         confirmed {:.2?} after the alarm cleared",
        ALARM.as_secs() / CONFIRM.as_secs(),
        cleared.elapsed()
    );
    amqp.close().await;
    Ok(())
}
