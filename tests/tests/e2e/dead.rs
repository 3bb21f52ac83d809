//! Poison messages: a task no worker can finish is dead-lettered after the delivery limit,
//! its device shows DEAD_LETTERED, `netraven dead list` shows it (as many times as asked,
//! nothing lost), and `netraven dead replay` sends it back to the task queue.

use netraven_shared::broker;
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_tests::{DeadLetteredJob, TestEnv};
use serde_json::Value;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `netraven dead ARGS --json` against the test's namespace.
fn dead(env: &TestEnv, args: &[&str]) -> anyhow::Result<(Value, String)> {
    let out = env
        .command()?
        .arg("dead")
        .args(args)
        .arg("--json")
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "netraven dead {args:?} failed: {}{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((serde_json::from_str(&text)?, text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_task_is_dead_lettered_listed_without_loss_and_replayed() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    let DeadLetteredJob {
        fleet,
        roles,
        job,
        results,
    } = DeadLetteredJob::run(&mut env, 3, 54, TIMEOUT).await?;
    let id = job.id;
    assert_eq!(job.counts.status, JobStatus::CompletedFailure);
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(|r| r.outcome == Outcome::DeadLettered));
    let client = env.pool.get().await?;

    // A malformed job request: dead-lettered by the dispatcher with our own headers.
    env.publish_raw(b"{not json".to_vec(), broker::json_properties())
        .await?;

    // Listing more times than the delivery limit loses nothing and keeps the order.
    let until = Instant::now() + TIMEOUT;
    let mut first: Option<Value> = None;
    for _ in 0..4 {
        let (listing, text) = loop {
            let (l, t) = dead(&env, &["list"])?;
            if l["total"] == 4 || Instant::now() > until {
                break (l, t);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(listing["total"], 4, "{text}");
        assert!(
            !text.contains("sealed") && !text.contains("secret"),
            "{text}"
        );
        let letters = listing["dead_letters"].as_array().expect("array").clone();
        let order: Vec<Value> = letters.iter().map(|d| d["summary"].clone()).collect();
        match &first {
            None => first = Some(Value::Array(order)),
            Some(f) => assert_eq!(f, &Value::Array(order), "order kept"),
        }
        let tasks: Vec<&Value> = letters
            .iter()
            .filter(|d| d["source"] == env.names.tasks_queue())
            .collect();
        assert_eq!(tasks.len(), 3, "{text}");
        for t in &tasks {
            assert_eq!(t["reason"], "delivery_limit", "{text}");
            let s = t["summary"].as_str().unwrap_or_default();
            assert!(
                s.starts_with(&format!("device task: job {id} device ")),
                "{s}"
            );
            assert!(t["age_secs"].as_i64().is_some(), "{text}");
        }
        let request = letters
            .iter()
            .find(|d| d["source"] == env.names.submit_queue())
            .expect("the malformed request is listed");
        assert!(request["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("not a valid job request"));
        assert_eq!(request["summary"], "9 bytes that do not decode");
        // Published by the tests' broker user (the harness sets user_id).
        let user = netraven_shared::broker::user(&env.settings.amqp)?;
        assert_eq!(request["published_by"], user.as_str(), "{text}");
    }
    let listed = dead(&env, &["list", "--limit", "1"])?.0;
    assert_eq!(listed["dead_letters"].as_array().map(Vec::len), Some(1));

    // Replay the tasks only; the request stays.
    let (replayed, text) = dead(&env, &["replay", "--source", "tasks"])?;
    assert_eq!(replayed["replayed"], 3, "{text}");
    assert_eq!(replayed["kept"], 1, "{text}");
    let (left, text) = dead(&env, &["list"])?;
    assert_eq!(left["total"], 1, "{text}");
    // A healthy worker now does the replayed tasks: the devices really see the logins.
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn(netraven_worker::run(env.settings.clone(), stop.clone()));
    let until = Instant::now() + TIMEOUT;
    let attempts: i64 = loop {
        let n: i64 = client
            .query_one(
                "SELECT count(DISTINCT device_id) FROM credential_attempts WHERE job_id = $1 AND outcome = 'SUCCESS'",
                &[&id],
            )
            .await?
            .get(0);
        if n == 3 || Instant::now() > until {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(attempts, 3, "every replayed task ran on a worker");
    // The job's recorded results stand: one per device, counted once.
    let again = netraven_dispatcher::job_rows::results(&client, id).await?;
    assert_eq!(again.len(), 3);
    stop.cancel();
    worker.await??;
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}
