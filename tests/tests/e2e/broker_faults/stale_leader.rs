//! A publisher whose first publish to a quorum queue comes just after that queue's leader
//! died is confirmed once a new leader is elected, not refused for as long as its channel
//! lives.
//!
//! RabbitMQ 3.10 gives a channel its view of a quorum queue (the leader first, then the
//! other members) the first time the channel routes a message to it, from the queue's
//! record, and never updates it. Before the channel's first enqueue it asks the node it
//! thinks leads for the queue's machine version; when that node is down the publish is
//! nacked and the view stays as it was, so every later publish on that channel asks the
//! dead node again and is nacked again, long after the record names the new leader. The
//! failover test hit this about one run in five: the worker whose connection was on the
//! killed node reconnected within milliseconds and reported its first results before the
//! election, and its results were refused until the test timed out. A fresh channel reads
//! the record again, so the publisher replaces its channel after a nack
//! (`shared/src/broker/publisher.rs`).
//!
//! Here the race is not left to chance: the publisher's connection is on a node that
//! survives, and its first publish to the results queue is sent right after the node
//! leading that queue is killed, before the survivors can have elected a new leader.

use super::own_nodes;
use netraven_shared::broker::{self, Link, Names, Outgoing, Publisher, RESULT_KEY};
use netraven_shared::config::AmqpSettings;
use netraven_shared::Error;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Generous bound on publishing through the election: it takes well under a second on an
/// idle machine. A channel that keeps the dead leader never gets there.
const BOUND: Duration = Duration::from_secs(60);
/// Between publishes of the same message: about what the worker waits first.
const AGAIN: Duration = Duration::from_millis(100);

fn result(names: &Names) -> Outgoing {
    Outgoing {
        exchange: names.results_exchange(),
        routing_key: RESULT_KEY.into(),
        body: b"{\"probe\":1}".to_vec(),
        properties: broker::json_properties(),
        mandatory: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_publish_after_the_leader_died_is_confirmed_after_the_election(
) -> anyhow::Result<()> {
    let mut cluster = own_nodes(3).await?;
    let namespace = "stale";
    let names = Names::new(namespace);
    let shutdown = CancellationToken::new();
    let settings = |url: String| AmqpSettings {
        url,
        namespace: namespace.into(),
        ..AmqpSettings::default()
    };

    // The topology, declared once; then the node leading the results queue, and a link
    // to another one.
    let declaring = Link::open(&settings(cluster.url(0)), "test-declare", &shutdown, None)
        .await
        .ok_or_else(|| anyhow::anyhow!("no link to node 0"))?;
    let connection = declaring
        .connection()
        .await
        .ok_or_else(|| anyhow::anyhow!("no connection to node 0"))?;
    broker::declare_topology(
        &connection.create_channel().await?,
        &names,
        &settings(cluster.url(0)),
    )
    .await?;
    let results = names.results_queue();
    let queues = cluster.queues(0, &["name", "leader", "members"])?;
    let queue = queues
        .iter()
        .find(|q| q["name"] == results.as_str())
        .ok_or_else(|| anyhow::anyhow!("no {results} in {queues:?}"))?;
    let members = queue["members"].as_array().map_or(0, Vec::len);
    assert_eq!(
        members, 3,
        "the results queue has a member per node: {queue}"
    );
    let leader = queue["leader"].as_str().unwrap_or_default().to_string();
    let victim = cluster
        .index(&leader)
        .ok_or_else(|| anyhow::anyhow!("leader {leader:?} is none of ours"))?;
    let survivor = (victim + 1) % 3;
    let link = Link::open(
        &settings(cluster.url(survivor)),
        "test-publish",
        &shutdown,
        None,
    )
    .await
    .ok_or_else(|| anyhow::anyhow!("no link to node {survivor}"))?;
    // The channel is open before the kill; it has not published to the results queue.
    let publisher = Publisher::on(link.clone(), 16).await?;

    cluster.kill(victim)?;
    let killed = Instant::now();
    let mut refused = 0;
    loop {
        match publisher.publish(result(&names)).await {
            Ok(()) => break,
            Err(Error::NotConfirmed { reason, .. }) if killed.elapsed() < BOUND => {
                assert!(
                    reason.contains("nack"),
                    "only a refusal is expected while the queue has no leader: {reason}"
                );
                refused += 1;
                tokio::time::sleep(AGAIN).await;
            }
            Err(e) => panic!(
                "the results queue still refused the publish {:.1?} after its leader \
                 {leader} was killed ({refused} refusals): {e}",
                killed.elapsed()
            ),
        }
    }
    let took = killed.elapsed();
    let new_leader = cluster
        .queues(survivor, &["name", "leader"])?
        .iter()
        .find(|q| q["name"] == results.as_str())
        .and_then(|q| q["leader"].as_str().map(str::to_string))
        .unwrap_or_default();
    assert!(
        !new_leader.is_empty() && new_leader != leader,
        "the results queue's leader moved off {leader}: {new_leader:?}"
    );
    println!(
        "results queue leader {leader} killed; published from {} and confirmed {took:.2?} \
         later, after {refused} refusals; new leader {new_leader}",
        cluster.nodes[survivor].name
    );
    shutdown.cancel();
    link.close("test done").await;
    drop(cluster);
    Ok(())
}
