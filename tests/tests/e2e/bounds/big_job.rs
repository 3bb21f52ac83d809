//! A 20,000-device job resolved and published by a dispatcher process in bounded memory:
//! its members recorded as rows, its devices resolved and published a page at a time.
//! (The 1,000,000-device figure is `netraven bench --parts big-job`'s.)

use super::{populate, DispatcherProcess, TIMEOUT};
use netraven_shared::broker;
use netraven_shared::messages::JobReply;
use netraven_tests::{request, Spy, TestEnv};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEVICES: i64 = 20_000;
/// Peak resident memory the dispatcher may reach on this job: several times what it
/// takes here, and what it takes does not grow with the job (docs/performance.md).
const PEAK_BOUND_KIB: u64 = 150 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20000_device_job_is_published_in_bounded_memory() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    populate(&env, "big", DEVICES).await?;
    // The tasks are taken off the queue as they come: the shared broker holds none.
    let mut tasks = Spy::on_queue(&env, &env.names.tasks_queue()).await?;
    let drained = Arc::new(AtomicUsize::new(0));
    let counter = drained.clone();
    let drain = tokio::spawn(async move {
        // No time limit of its own: aborted once every task has arrived.
        while tasks.next_within(Duration::MAX).await.is_ok() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });

    let mut dispatcher = DispatcherProcess::start(&env, &[])?;
    dispatcher.consuming().await?;
    let mut replies = Spy::new(&env, None).await?;
    let r = request("config_backup", &["big"], &[]);
    let props = broker::json_properties()
        .with_reply_to(replies.name.clone().into())
        .with_correlation_id("big".into());
    env.publish_raw(serde_json::to_vec(&r)?, props).await?;
    // The reply comes once every task is confirmed; a debug build signs slowly.
    let reply = tokio::time::timeout(TIMEOUT * 3, replies.next()).await??;
    let reply: JobReply = serde_json::from_slice(&reply.data)?;
    let job_id = reply.job_id.expect("a job");
    let peak = dispatcher.peak_kib()?;

    let client = env.pool.get().await?;
    let row = client
        .query_one(
            "SELECT status, published_tasks, total_devices,
                    (SELECT count(*) FROM job_devices WHERE job_id = $1)
             FROM jobs WHERE id = $1",
            &[&job_id],
        )
        .await?;
    let (status, published, total, members): (String, i32, i32, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(status, "RUNNING", "{}", dispatcher.logged());
    assert_eq!(i64::from(published), DEVICES);
    assert_eq!(i64::from(total), DEVICES);
    assert_eq!(members, DEVICES, "every device a member row");
    let until = Instant::now() + TIMEOUT;
    while (drained.load(Ordering::Relaxed) as i64) < DEVICES {
        assert!(Instant::now() < until, "the tasks did not all arrive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drain.abort();
    eprintln!(
        "dispatcher VmHWM after a {DEVICES}-device job: {} MiB",
        peak / 1024
    );
    assert!(
        peak < PEAK_BOUND_KIB,
        "the dispatcher peaked at {peak} KiB on a {DEVICES}-device job"
    );
    Ok(())
}
