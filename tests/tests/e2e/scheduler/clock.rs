//! The scheduler of `netraven_dispatcher::schedule` polled by the test at times of its
//! choosing (a night of daylight-saving change, hours of downtime), against real Postgres
//! and RabbitMQ; the roles' own scheduler is off, and a real dispatcher turns each fired
//! tick's request into its job.

use super::{add, jobs_of, runs, utc};
use chrono::{DateTime, Duration, Utc};
use netraven_dispatcher::schedule::{Scheduler, TickOutcome};
use netraven_shared::broker::{self, Publisher};
use netraven_shared::domain::JobStatus;
use netraven_tests::{FleetBuilder, RoleProcess, Roles, TestEnv};

const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

struct World {
    env: TestEnv,
    fleet: netraven_simulator::Fleet,
    roles: Roles,
    scheduler: Scheduler,
    _conn: lapin::Connection,
}

/// A fleet of four devices, the roles with `workers` workers and no scheduler of their
/// own, and a scheduler for the test to poll. No spread: a tick is due at its time.
async fn world(workers: usize) -> anyhow::Result<World> {
    let mut env = TestEnv::new().await?;
    env.settings.dispatcher.schedules = false;
    env.settings.dispatcher.schedule_spread_ms = 0;
    let fleet = FleetBuilder::scenario("all-good", 4, 11)?.start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, workers);
    let conn = broker::connect(&env.settings.amqp, "test-scheduler").await?;
    // The dispatcher declares it too, but maybe not before the first poll.
    broker::declare_topology(
        &conn.create_channel().await?,
        &env.names,
        &env.settings.amqp,
    )
    .await?;
    let publisher = Publisher::new(&conn, 1).await?;
    let scheduler = Scheduler::new(
        &env.settings,
        env.pool.clone(),
        publisher,
        env.names.clone(),
    )?;
    Ok(World {
        env,
        fleet,
        roles,
        scheduler,
        _conn: conn,
    })
}

impl World {
    /// Polls at `now`: (schedule, tick, outcome, passed over) of each tick taken.
    async fn poll(
        &self,
        now: &str,
    ) -> anyhow::Result<Vec<(String, DateTime<Utc>, TickOutcome, u32)>> {
        Ok(self
            .scheduler
            .poll(utc(now))
            .await?
            .into_iter()
            .map(|t| (t.schedule, t.tick, t.outcome, t.missed))
            .collect())
    }

    async fn job_status(&self, request_id: &str) -> anyhow::Result<JobStatus> {
        let id = self.env.job_id(request_id, WAIT).await?;
        Ok(self.env.wait_final(id, WAIT).await?.counts.status)
    }

    async fn end(self) -> anyhow::Result<()> {
        self.roles.stop().await?;
        self.fleet.shutdown().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downtime_fires_the_latest_tick_once_within_the_catch_up_window() -> anyhow::Result<()> {
    let w = world(1).await?;
    let hour = Duration::hours(1).num_milliseconds();
    add(
        &w.env,
        "every-5s",
        "*/5 * * * * *",
        "UTC",
        "allow",
        hour,
        utc("2026-12-06T00:00:00Z"),
    )
    .await?;

    // Every dispatcher away for ten minutes: 121 ticks came due; the latest runs, once.
    let taken = w.poll("2026-12-06T00:10:02Z").await?;
    assert_eq!(
        taken,
        [(
            "every-5s".into(),
            utc("2026-12-06T00:10:00Z"),
            TickOutcome::Fired,
            120
        )]
    );
    assert!(
        w.poll("2026-12-06T00:10:02Z").await?.is_empty(),
        "a tick is taken once"
    );
    let r = &runs(&w.env, "every-5s").await?[0];
    assert_eq!((r.outcome.as_str(), r.ticks_missed), ("FIRED", 120));
    let request = r.request_id.clone().expect("a fired run names its request");
    assert_eq!(request, "schedule:every-5s:2026-12-06T00:10:00Z");
    assert_eq!(w.job_status(&request).await?, JobStatus::CompletedSuccess);
    // Back on time: the next tick, nothing passed over.
    let taken = w.poll("2026-12-06T00:10:05Z").await?;
    assert_eq!(
        taken,
        [(
            "every-5s".into(),
            utc("2026-12-06T00:10:05Z"),
            TickOutcome::Fired,
            0
        )]
    );

    // A nightly backup whose dispatchers came back 2.5 h late: past a 1 h window it is
    // recorded missed and runs nothing; within a 6 h window it runs, once.
    add(
        &w.env,
        "nightly-1h",
        "0 2 * * *",
        "Europe/Paris",
        "skip",
        hour,
        utc("2026-12-06T01:00:00Z"),
    )
    .await?;
    add(
        &w.env,
        "nightly-6h",
        "0 2 * * *",
        "Europe/Paris",
        "skip",
        6 * hour,
        utc("2026-12-06T01:00:00Z"),
    )
    .await?;
    let mut taken = w.poll("2026-12-06T03:30:00Z").await?;
    taken.retain(|t| t.0.starts_with("nightly"));
    taken.sort();
    let tick = utc("2026-12-06T01:00:00Z");
    assert_eq!(
        taken,
        [
            ("nightly-1h".into(), tick, TickOutcome::Missed, 0),
            ("nightly-6h".into(), tick, TickOutcome::Fired, 0)
        ]
    );
    assert!(
        jobs_of(&w.env, "nightly-1h").await?.is_empty(),
        "a missed tick runs nothing"
    );
    let fired = format!("schedule:nightly-6h:{}", "2026-12-06T01:00:00Z");
    assert_eq!(w.job_status(&fired).await?, JobStatus::CompletedSuccess);
    let client = w.env.pool.get().await?;
    let next: DateTime<Utc> = client
        .query_one(
            "SELECT next_tick_at FROM schedules WHERE name = 'nightly-1h'",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(
        next,
        utc("2026-12-07T01:00:00Z"),
        "the next night's tick is next"
    );
    drop(client);
    w.end().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlap_skip_waits_for_the_running_job_and_allow_does_not() -> anyhow::Result<()> {
    // No worker: a fired job stays running until one starts.
    let w = world(0).await?;
    let hour = Duration::hours(1).num_milliseconds();
    let t0 = utc("2026-12-06T00:00:00Z");
    add(&w.env, "skip", "*/10 * * * * *", "UTC", "skip", hour, t0).await?;
    add(&w.env, "allow", "*/10 * * * * *", "UTC", "allow", hour, t0).await?;
    assert_eq!(w.poll("2026-12-06T00:00:00Z").await?.len(), 2);
    for name in ["skip", "allow"] {
        let id = w
            .env
            .job_id(&format!("schedule:{name}:2026-12-06T00:00:00Z"), WAIT)
            .await?;
        let client = w.env.pool.get().await?;
        let status: String = client
            .query_one("SELECT status FROM jobs WHERE id = $1", &[&id])
            .await?
            .get(0);
        assert!(
            ["PENDING", "RUNNING"].contains(&status.as_str()),
            "{name}: {status}"
        );
    }
    let mut taken = w.poll("2026-12-06T00:00:10Z").await?;
    taken.sort();
    let tick = utc("2026-12-06T00:00:10Z");
    assert_eq!(
        taken,
        [
            ("allow".into(), tick, TickOutcome::Fired, 0),
            ("skip".into(), tick, TickOutcome::Skipped, 0)
        ]
    );
    let skipped = &runs(&w.env, "skip").await?[1];
    assert_eq!(skipped.request_id, None);

    // A worker finishes the jobs; the next tick of `skip` runs again.
    let worker = RoleProcess::worker(&w.env, 0, 16, &[])?;
    for r in jobs_of(&w.env, "skip")
        .await?
        .iter()
        .chain(&jobs_of(&w.env, "allow").await?)
    {
        assert_eq!(w.job_status(r).await?, JobStatus::CompletedSuccess, "{r}");
    }
    let mut taken = w.poll("2026-12-06T00:00:20Z").await?;
    taken.sort();
    let tick = utc("2026-12-06T00:00:20Z");
    assert_eq!(
        taken,
        [
            ("allow".into(), tick, TickOutcome::Fired, 0),
            ("skip".into(), tick, TickOutcome::Fired, 0)
        ]
    );
    for name in ["skip", "allow"] {
        let r = format!("schedule:{name}:2026-12-06T00:00:20Z");
        assert_eq!(w.job_status(&r).await?, JobStatus::CompletedSuccess, "{r}");
    }
    assert_eq!(jobs_of(&w.env, "skip").await?.len(), 2);
    assert_eq!(jobs_of(&w.env, "allow").await?.len(), 3);
    worker.stop()?;
    w.end().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_schedule_takes_no_tick() -> anyhow::Result<()> {
    let w = world(1).await?;
    let hour = Duration::hours(1).num_milliseconds();
    add(
        &w.env,
        "paused",
        "*/5 * * * * *",
        "UTC",
        "skip",
        hour,
        utc("2026-12-06T00:00:00Z"),
    )
    .await?;
    let client = w.env.pool.get().await?;
    client
        .execute(
            "UPDATE schedules SET paused = true WHERE name = 'paused'",
            &[],
        )
        .await?;
    assert!(w.poll("2026-12-06T00:00:30Z").await?.is_empty());
    assert!(runs(&w.env, "paused").await?.is_empty());
    // Resumed as `schedule resume` does it: from the next tick after now, none caught up.
    client
        .execute(
            "UPDATE schedules SET paused = false, next_tick_at = '2026-12-06T00:00:35Z'
             WHERE name = 'paused'",
            &[],
        )
        .await?;
    assert!(w.poll("2026-12-06T00:00:31Z").await?.is_empty());
    let taken = w.poll("2026-12-06T00:00:35Z").await?;
    assert_eq!(
        taken,
        [(
            "paused".into(),
            utc("2026-12-06T00:00:35Z"),
            TickOutcome::Fired,
            0
        )]
    );
    drop(client);
    w.end().await
}

/// The ticks fired (schedule, Paris wall clock) while the clock walks from `from` to `to` in `step`s.
async fn walk(
    w: &World,
    from: &str,
    to: &str,
    step: Duration,
) -> anyhow::Result<Vec<(String, String)>> {
    let (mut now, end) = (utc(from), utc(to));
    let mut fired = Vec::new();
    while now <= end {
        for t in w.scheduler.poll(now).await? {
            assert_eq!(t.outcome, TickOutcome::Fired, "{t:?}");
            let local = t.tick.with_timezone(&chrono_tz::Europe::Paris);
            fired.push((t.schedule, local.format("%m-%d %H:%M %Z").to_string()));
        }
        now += step;
    }
    Ok(fired)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daylight_saving_changes_in_paris_run_a_nightly_backup_once_a_night() -> anyhow::Result<()>
{
    let w = world(1).await?;
    let hour = Duration::hours(1).num_milliseconds();
    let step = Duration::minutes(10);
    // Spring forward, 2026-03-29: 02:00 CET is 03:00 CEST; 02:30 does not exist that night.
    add(
        &w.env,
        "spring",
        "30 2 * * *",
        "Europe/Paris",
        "allow",
        hour,
        utc("2026-03-28T01:30:00Z"),
    )
    .await?;
    let fired = walk(&w, "2026-03-28T00:00:00Z", "2026-03-30T02:00:00Z", step).await?;
    let want = ["03-28 02:30 CET", "03-29 03:00 CEST", "03-30 02:30 CEST"];
    assert_eq!(fired, want.map(|t| ("spring".to_string(), t.to_string())));
    let client = w.env.pool.get().await?;
    client
        .execute(
            "UPDATE schedules SET paused = true WHERE name = 'spring'",
            &[],
        )
        .await?;
    drop(client);

    // Fall back, 2026-10-25: 03:00 CEST is 02:00 CET; 02:30 happens twice. The nightly
    // backup runs at the first; an hourly job runs in both passes.
    add(
        &w.env,
        "fall",
        "30 2 * * *",
        "Europe/Paris",
        "allow",
        hour,
        utc("2026-10-24T00:30:00Z"),
    )
    .await?;
    let fired = walk(&w, "2026-10-24T00:00:00Z", "2026-10-26T02:00:00Z", step).await?;
    let want = ["10-24 02:30 CEST", "10-25 02:30 CEST", "10-26 02:30 CET"];
    assert_eq!(fired, want.map(|t| ("fall".to_string(), t.to_string())));
    add(
        &w.env,
        "hourly",
        "0 * * * *",
        "Europe/Paris",
        "allow",
        hour,
        utc("2026-10-24T23:00:00Z"),
    )
    .await?;
    let fired = walk(&w, "2026-10-24T22:30:00Z", "2026-10-25T02:30:00Z", step).await?;
    let want = [
        "10-25 01:00 CEST",
        "10-25 02:00 CEST",
        "10-25 02:00 CET",
        "10-25 03:00 CET",
    ];
    assert_eq!(fired, want.map(|t| ("hourly".to_string(), t.to_string())));

    // Each fired tick is one job, run to the end.
    for name in ["spring", "fall"] {
        let jobs = jobs_of(&w.env, name).await?;
        assert_eq!(jobs.len(), 3, "{name}: {jobs:?}");
        for r in &jobs {
            assert_eq!(w.job_status(r).await?, JobStatus::CompletedSuccess, "{r}");
        }
    }
    w.end().await
}
