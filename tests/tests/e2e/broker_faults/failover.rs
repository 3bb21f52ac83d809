//! A three-node RabbitMQ cluster of the test's own, every role given all three addresses
//! (`amqp.url` and `amqp.urls`): the quorum queues have a member on every node, and the
//! node leading the task queue is killed (SIGKILL: a node crash) mid-job. The job still
//! completes with exactly one result per device, each the outcome its spec says.
//!
//! The test declares the topology through the first node before the roles start, so that
//! node leads every queue (RabbitMQ puts a quorum queue's leader on the node of the
//! connection declaring it) and the kill takes the results queue's leader too. A worker
//! whose connection was on that node reconnects within milliseconds and reports results
//! on a new channel before the survivors have elected a new leader: the case where
//! RabbitMQ 3.10 kept refusing that channel's publishes for good, and the job stuck at
//! 296/300, about one run in five when the queues' leaders fell where they would
//! (`stale_leader` makes it certain for one publisher).

use super::{
    assert_each_device_once, devices_run_twice, own_nodes, point_at, wait_done, JOB_TIMEOUT,
};
use netraven_shared::broker;
use netraven_tests::{logins, recorded_logins, request, FleetBuilder, Logins, Roles, TestEnv};
use std::time::Instant;

const DEVICES: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_queue_leader_killed_mid_job_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let mut cluster = own_nodes(3).await?;
    let mut env = TestEnv::new().await?;
    point_at(&mut env, &cluster);
    // Few devices at a time per worker: the job lasts long enough to be cut in the middle.
    env.settings.worker.max_in_flight = 8;
    env.settings.validate()?;
    // Every rejected login costs 100 ms, as on a real AAA server: devices are in flight.
    let fleet = FleetBuilder::scenario("mixed", DEVICES, 73)?.auth_rejection_ms(100);
    let want = fleet.expected();
    let fleet = fleet.start().await?;
    env.import(&fleet).await?;
    // Through the first node only: it leads every queue.
    let mut first = env.settings.amqp.clone();
    first.url = cluster.url(0);
    first.urls.clear();
    let declaring = broker::connect(&first, "test-declare").await?;
    let channel = declaring.create_channel().await?;
    broker::declare_topology(&channel, &env.names, &first).await?;
    channel.close(200, "declared".into()).await?;
    declaring.close(200, "declared".into()).await?;
    let roles = Roles::start(&env.settings, 2);
    let started = Instant::now();
    let r = request("config_backup", &["fleet", "orphan"], &[]);
    env.publish(&r).await?;
    let id = env.job_id(&r.request_id, JOB_TIMEOUT).await?;
    let at = wait_done(&env, id, DEVICES as i64 / 5).await?;

    // Replication: the task queue has a member on each node (the initial group size
    // defaults to the cluster's size), so a majority survives one node.
    let tasks = env.names.tasks_queue();
    let queues = cluster.queues(0, &["name", "leader", "members"])?;
    let queue = queues
        .iter()
        .find(|q| q["name"] == tasks.as_str())
        .ok_or_else(|| anyhow::anyhow!("no {tasks} in {queues:?}"))?;
    let members = queue["members"].as_array().map_or(0, Vec::len);
    assert_eq!(members, 3, "the task queue has a member per node: {queue}");
    let leader = queue["leader"].as_str().unwrap_or_default().to_string();
    let results = env.names.results_queue();
    let results_leader = queues
        .iter()
        .find(|q| q["name"] == results.as_str())
        .and_then(|q| q["leader"].as_str());
    assert_eq!(
        results_leader,
        Some(leader.as_str()),
        "the node killed leads the results queue too: {queues:?}"
    );
    let victim = cluster
        .index(&leader)
        .ok_or_else(|| anyhow::anyhow!("leader {leader:?} is none of ours"))?;
    let killed_after = started.elapsed();
    cluster.kill(victim)?;

    let job = env.wait_final(id, JOB_TIMEOUT).await?;
    let took = started.elapsed();
    assert_each_device_once(&env, id, &job, DEVICES as i64, &want).await?;

    // A new leader took over on a surviving node.
    let survivor = (victim + 1) % 3;
    let queues = cluster.queues(survivor, &["name", "leader"])?;
    let new_leader = queues
        .iter()
        .find(|q| q["name"] == tasks.as_str())
        .and_then(|q| q["leader"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        !new_leader.is_empty() && new_leader != leader,
        "the task queue's leader moved off {leader}: {new_leader:?}"
    );
    // Devices contacted more than once: only tasks in flight on a channel that died with
    // the node (redelivered) may run twice; each still has one result.
    let Logins { per_device, .. } = logins(&fleet);
    let recorded = recorded_logins(&env, id).await?;
    let contacted_twice = per_device
        .iter()
        .filter(|(name, seen)| **seen > recorded.get(*name).copied().unwrap_or(0))
        .count();
    let ran_twice = devices_run_twice(&env, id).await?;
    println!(
        "{DEVICES} devices; leader {leader} killed at {at} done ({killed_after:.1?}); \
         new leader {new_leader}; final after {took:.1?}; {ran_twice} devices ran twice; \
         {contacted_twice} devices saw logins of a run that never committed"
    );
    roles.stop().await?;
    fleet.shutdown().await;
    // The nodes go first: deleting quorum queues with a member down waits for it (about
    // 25 s), and the test's queues die with the nodes anyway.
    drop(cluster);
    drop(env);
    Ok(())
}
