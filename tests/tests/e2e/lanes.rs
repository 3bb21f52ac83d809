//! Task lanes: a small job, or one marked `priority: high`, takes the interactive lane and
//! finishes while a large job holds every bulk slot of the only worker; a high job over
//! its cap runs in the bulk lane and says so; a forged task on either lane is
//! dead-lettered from that lane's queue, and a genuine one the broker gives up on in the
//! interactive lane marks its device `DEAD_LETTERED`.

use lapin::options::BasicGetOptions;
use netraven_dispatcher::job_rows;
use netraven_shared::broker::{self, Outgoing, Publisher, INTERACTIVE_TASK_KEY, TASK_KEY};
use netraven_shared::domain::{JobStatus, Lane, Outcome, Priority};
use netraven_simulator::{scenario, Fault};
use netraven_tests::{request, CrashingWorker, FleetBuilder, Roles, TestEnv};
use std::time::{Duration, Instant};
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(60);
/// Devices of the large job, each in a slow login; the worker takes two at a time.
const BIG: usize = 16;
const SMALL: usize = 10;
const EXTRA: usize = 2;

async fn lane(env: &TestEnv, job: Uuid) -> anyhow::Result<Option<Lane>> {
    Ok(job_rows::get(&env.pool.get().await?, job)
        .await?
        .and_then(|v| v.lane))
}

/// Waits until `check` holds, polling; fails after [`TIMEOUT`] naming `what`.
async fn until(
    what: &str,
    mut check: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + TIMEOUT;
    while !check().await? {
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_and_high_jobs_overtake_a_large_one_in_their_own_lane() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    let s = &mut env.settings;
    s.dispatcher.interactive_max_devices = SMALL as u32;
    s.dispatcher.max_high_priority_devices = (SMALL + EXTRA) as u32;
    s.worker.max_in_flight = 2;
    s.worker.interactive_in_flight = 4;
    s.worker.shutdown_grace_ms = 200;
    let mut spec = scenario("all-good", BIG + SMALL + EXTRA, 171)?;
    for (i, d) in spec.devices.iter_mut().enumerate() {
        let tag = if i < BIG {
            // Slow enough that the large job outlasts the small ones many times over.
            d.fault = Some(Fault::SlowAuth { delay_ms: 3_000 });
            "big"
        } else if i < BIG + SMALL {
            "small"
        } else {
            "extra"
        };
        d.tags.push(tag.to_string());
    }
    let fleet = FleetBuilder::from_spec(spec).start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, 1);

    // A forged task on each lane is refused and dead-lettered from its own queue.
    let conn = broker::connect(&env.settings.amqp, "test-lanes").await?;
    let ch = conn.create_channel().await?;
    let publisher = Publisher::new(&conn, 4).await?;
    // Idempotent: the roles declare the same.
    broker::declare_topology(&ch, &env.names, &env.settings.amqp).await?;
    for key in [TASK_KEY, INTERACTIVE_TASK_KEY] {
        publisher
            .publish(Outgoing {
                exchange: env.names.tasks_exchange(),
                routing_key: key.into(),
                body: br#"{"forged":true}"#.to_vec(),
                properties: broker::json_properties(),
                mandatory: true,
            })
            .await?;
    }
    let mut dead = Vec::new();
    until("both forged tasks dead-lettered", async || {
        while let Some(m) = ch
            .basic_get(
                env.names.dead_queue().into(),
                BasicGetOptions { no_ack: true },
            )
            .await?
        {
            dead.push(m.delivery.properties.clone());
        }
        Ok(dead.len() >= 2)
    })
    .await?;
    let mut sources: Vec<String> = dead
        .iter()
        .filter_map(|p| broker::header(p, broker::SOURCE_HEADER))
        .collect();
    sources.sort();
    let mut lanes = env.names.task_queues().to_vec();
    lanes.sort();
    assert_eq!(sources, lanes, "one dead letter from each lane's queue");
    for p in &dead {
        let reason = broker::header(p, broker::REASON_HEADER).unwrap_or_default();
        assert!(
            reason.starts_with("device task refused") && reason.contains("unsigned"),
            "{reason}"
        );
    }

    // The large job fills both bulk slots with slow logins.
    let big = request("config_backup", &["big"], &[]);
    let big_job = {
        env.publish(&big).await?;
        env.job_id(&big.request_id, TIMEOUT).await?
    };
    until("the large job running", async || {
        Ok(fleet.reports().iter().filter(|d| d.connections > 0).count() >= 2)
    })
    .await?;

    // A small job (by size) and a high one over the size cap but within the high cap.
    let small = request("config_backup", &["small"], &[]);
    let mut high = request("config_backup", &["small", "extra"], &[]);
    high.priority = Some(Priority::High);
    let mut too_big = request("config_backup", &["small", "extra", "big"], &[]);
    too_big.priority = Some(Priority::High);
    let small_done = env.run_job(&small, TIMEOUT).await?;
    let high_done = env.run_job(&high, TIMEOUT).await?;
    let big_then = job_rows::get(&env.pool.get().await?, big_job)
        .await?
        .expect("the large job");
    for (done, devices) in [(&small_done, SMALL), (&high_done, SMALL + EXTRA)] {
        assert_eq!(done.counts.status, JobStatus::CompletedSuccess, "{done:?}");
        assert_eq!(done.counts.completed_devices, devices as i64);
        assert_eq!(done.lane, Some(Lane::Interactive));
    }
    assert_eq!(
        big_then.counts.status,
        JobStatus::Running,
        "the small jobs finished while the large one ran: {:?}",
        big_then.counts
    );
    // In one queue the small jobs' tasks would wait behind all the large job's: they could
    // start only once the worker had taken its last task, BIG - 2 devices done at least.
    assert!(
        big_then.counts.completed_devices < BIG as i64 - 2,
        "the small jobs overtook the large one: {:?}",
        big_then.counts
    );
    assert_eq!(lane(&env, big_job).await?, Some(Lane::Bulk));

    // A high job over max_high_priority_devices runs in the bulk lane, and its log says so.
    env.publish(&too_big).await?;
    let demoted = env.job_id(&too_big.request_id, TIMEOUT).await?;
    until("the demoted job's lane", async || {
        Ok(lane(&env, demoted).await?.is_some())
    })
    .await?;
    assert_eq!(lane(&env, demoted).await?, Some(Lane::Bulk));
    let client = env.pool.get().await?;
    let logged = client
        .query_one(
            "SELECT count(*) FROM job_logs WHERE job_id = $1 AND level = 'WARN'
             AND message LIKE 'priority high: % devices is over dispatcher.max_high_priority_devices%bulk lane'",
            &[&demoted],
        )
        .await?
        .get::<_, i64>(0);
    assert_eq!(logged, 1, "the demotion is in the job log");

    // The job list shows each job's lane.
    let listed = netraven_cli::views::jobs::list(&client, &Default::default(), 10).await?;
    let shown = |id: Uuid| listed.iter().find(|j| j.id == id).and_then(|j| j.lane);
    assert_eq!(shown(small_done.id), Some(Lane::Interactive));
    assert_eq!(shown(big_job), Some(Lane::Bulk));

    let _ = conn.close(200, "ok".into()).await;
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_task_the_broker_gives_up_on_marks_its_device_dead_lettered(
) -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.settings.amqp.delivery_limit = 2;
    let fleet = FleetBuilder::scenario("all-good", 2, 172)?.start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start_without_workers(&env.settings);
    let mut high = request("config_backup", &["fleet"], &[]);
    high.priority = Some(Priority::High);
    let queue = env.names.interactive_tasks_queue();
    let job = CrashingWorker::run_job_on(&env, &queue, &high, TIMEOUT).await?;
    assert_eq!(job.lane, Some(Lane::Interactive));
    assert_eq!(job.counts.completed_devices, 2, "{:?}", job.counts);
    let results = job_rows::results(&env.pool.get().await?, job.id).await?;
    assert_eq!(results.len(), 2);
    for r in &results {
        assert_eq!(r.outcome, Outcome::DeadLettered, "{}", r.device_name);
    }
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}
