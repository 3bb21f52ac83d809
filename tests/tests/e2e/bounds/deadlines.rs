//! A device deadline the broker's consumer timeout cannot hold is refused, by name and
//! with both numbers, before any task is published.

use super::TIMEOUT;
use netraven_shared::config::DeadlineFit;
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::JobReply;
use netraven_tests::{request, FleetBuilder, Spy, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_deadline_past_the_brokers_consumer_timeout_is_refused_with_both_numbers(
) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", 2, 91)?.start().await?;
    env.import(&fleet).await?;
    let _roles = env.start(0);
    let fit = DeadlineFit::of(&env.settings);
    let mut replies = Spy::new(&env, None).await?;

    // RabbitMQ's default consumer timeout is 30 minutes: a 30-minute device deadline, plus
    // what a worker takes to record and ack, does not fit.
    let mut r = request("config_backup", &["fleet"], &[]);
    r.limits.device_deadline_ms = Some(env.settings.amqp.consumer_timeout_ms);
    let props = netraven_shared::broker::json_properties()
        .with_reply_to(replies.name.clone().into())
        .with_correlation_id("too-long".into());
    env.publish_raw(serde_json::to_vec(&r)?, props).await?;
    let reply: JobReply = serde_json::from_slice(&replies.next().await?.data)?;
    let job = env
        .wait_final(
            reply.job_id.expect("a job for a well-formed request"),
            TIMEOUT,
        )
        .await?;
    assert_eq!(job.counts.status, JobStatus::FailedInvalidRequest);
    let reason = job.counts.error.clone().unwrap_or_default();
    for needle in [
        "limits.device_deadline_ms 1800000 ms does not fit the broker's consumer timeout"
            .to_string(),
        "amqp.consumer_timeout_ms is 1800000 ms".to_string(),
        format!("the longest device deadline is {} ms", fit.longest_ms()),
    ] {
        assert!(reason.contains(&needle), "{reason:?} should say {needle:?}");
    }
    assert_eq!(
        reply.error.as_deref(),
        Some(reason.as_str()),
        "the submitter hears why"
    );
    assert_eq!(
        job.counts.total_devices, 0,
        "refused before any device is resolved"
    );

    // The longest that fits runs.
    let mut r = request("config_backup", &["fleet"], &[]);
    r.limits.device_deadline_ms = Some(fit.longest_ms());
    let id = {
        env.publish(&r).await?;
        env.job_id(&r.request_id, TIMEOUT).await?
    };
    let client = env.pool.get().await?;
    let until = std::time::Instant::now() + TIMEOUT;
    loop {
        let row = client
            .query_one(
                "SELECT status, published_tasks FROM jobs WHERE id = $1",
                &[&id],
            )
            .await?;
        let (status, published): (String, i32) = (row.get(0), row.get(1));
        if status == "RUNNING" {
            assert_eq!(published, 2);
            break;
        }
        assert!(
            status == "PENDING",
            "the longest deadline that fits is {status}"
        );
        assert!(std::time::Instant::now() < until, "still pending");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(())
}
