//! A schedule that ticks every two seconds, made with `netraven schedule add` and run by
//! two `netraven dispatcher` processes on real time: one is killed with SIGKILL mid-way, then the other, and a third starts after
//! a downtime of several ticks. Every tick is taken once (one run row, one job), the
//! downtime's ticks are run once together (the latest, the others counted), and no tick
//! is lost or doubled by a dispatcher dying.

use super::{jobs_of, runs};
use crate::views::netraven::{json, netraven};
use chrono::{Duration, Utc};
use netraven_shared::domain::JobStatus;
use netraven_shared::schedule::Calendar;
use netraven_tests::{FleetBuilder, RoleProcess, TestEnv};
use std::time::Duration as StdDuration;

const CRON: &str = "*/2 * * * * *";

fn dispatcher(env: &TestEnv, name: &str) -> anyhow::Result<RoleProcess> {
    RoleProcess::start(
        env,
        "dispatcher",
        name,
        &[
            ("NETRAVEN__DISPATCHER__SCHEDULE_POLL_MS", "100"),
            ("NETRAVEN__DISPATCHER__SCHEDULE_SPREAD_MS", "0"),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dispatchers_one_killed_make_one_job_per_tick() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", 4, 13)?.start().await?;
    env.import(&fleet).await?;
    let _aggregator = RoleProcess::start(&env, "aggregator", "aggregator", &[])?;
    let _worker = RoleProcess::worker(&env, 0, 32, &[])?;
    let mut a = dispatcher(&env, "dispatcher-a")?;
    let mut b = dispatcher(&env, "dispatcher-b")?;
    let calendar = Calendar::new(CRON, "UTC").map_err(anyhow::Error::msg)?;
    // As an operator makes it: the whole path, from the CLI's row to the dispatchers.
    netraven(
        &env,
        &[
            "schedule",
            "add",
            "beat",
            "--cron",
            CRON,
            "--job-type",
            "reachability",
            "--tag",
            "fleet",
            "--overlap",
            "allow",
        ],
        0,
    )?;
    let client = env.pool.get().await?;
    let first: chrono::DateTime<Utc> = client
        .query_one(
            "SELECT next_tick_at FROM schedules WHERE name = 'beat'",
            &[],
        )
        .await?
        .get(0);

    tokio::time::sleep(StdDuration::from_secs(9)).await;
    a.kill9()?;
    tokio::time::sleep(StdDuration::from_secs(7)).await;
    b.kill9()?;
    // Every dispatcher down for four ticks or so.
    tokio::time::sleep(StdDuration::from_secs(8)).await;
    let back = Utc::now();
    let c = dispatcher(&env, "dispatcher-c")?;
    tokio::time::sleep(StdDuration::from_secs(6)).await;
    let client = env.pool.get().await?;
    client
        .execute(
            "UPDATE schedules SET paused = true WHERE name = 'beat'",
            &[],
        )
        .await?;
    // A poll under way when it was paused finishes its tick.
    tokio::time::sleep(StdDuration::from_millis(500)).await;

    let runs = runs(&env, "beat").await?;
    let fired: Vec<&str> = runs
        .iter()
        .filter(|r| r.outcome == "FIRED")
        .filter_map(|r| r.request_id.as_deref())
        .collect();
    assert_eq!(
        fired.len(),
        runs.len(),
        "every tick fired (overlap allow): {runs:?}"
    );
    // One job per fired tick: each request id became exactly one job.
    let jobs = jobs_of(&env, "beat").await?;
    let mut want: Vec<String> = fired.iter().map(|s| s.to_string()).collect();
    want.sort();
    let deadline = std::time::Instant::now() + StdDuration::from_secs(60);
    let mut jobs = jobs;
    while jobs != want && std::time::Instant::now() < deadline {
        tokio::time::sleep(StdDuration::from_millis(200)).await;
        jobs = jobs_of(&env, "beat").await?;
    }
    assert_eq!(jobs, want, "one job per fired tick");
    for r in &want {
        let id = env.job_id(r, StdDuration::from_secs(60)).await?;
        let view = env.wait_final(id, StdDuration::from_secs(60)).await?;
        assert_eq!(view.counts.status, JobStatus::CompletedSuccess, "{r}");
    }

    // Every tick from the first to the last is one run, or counted passed over by the
    // run that ended the downtime; and only that run passed any over.
    let last = runs
        .last()
        .map(|r| r.tick)
        .ok_or_else(|| anyhow::anyhow!("no run"))?;
    let mut ticks = 1;
    let mut t = first;
    while let Some(n) = calendar.next_after(t).filter(|n| *n <= last) {
        ticks += 1;
        t = n;
    }
    let passed_over: i32 = runs.iter().map(|r| r.ticks_missed).sum();
    assert_eq!(
        runs.len() as i32 + passed_over,
        ticks,
        "each tick taken once: {runs:?}"
    );
    let catch_up: Vec<_> = runs.iter().filter(|r| r.ticks_missed > 0).collect();
    assert_eq!(catch_up.len(), 1, "one catch-up run: {runs:?}");
    assert!(
        catch_up[0].ticks_missed >= 2 && catch_up[0].taken_at >= back,
        "the downtime's ticks were run once, when a dispatcher came back: {runs:?}"
    );
    // Ticks ran on both sides of each kill.
    assert!(runs
        .iter()
        .any(|r| r.taken_at < back - Duration::seconds(10)));
    assert!(runs
        .iter()
        .any(|r| r.taken_at > back + Duration::seconds(2)));
    let shown = json(&env, &["schedule", "show", "beat", "--runs", "100"])?;
    let shown_runs = shown["runs"].as_array().map_or(0, Vec::len);
    assert_eq!(
        shown_runs,
        runs.len(),
        "schedule show lists the runs: {shown}"
    );
    println!(
        "{} ticks: {} runs, {} passed over during the downtime",
        ticks,
        runs.len(),
        passed_over
    );
    drop(client);
    c.stop()?;
    fleet.shutdown().await;
    Ok(())
}
