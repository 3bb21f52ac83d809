//! Workers killed with SIGKILL mid-job: real `netraven worker` processes, a slow-auth
//! fleet so that devices are in flight, one worker killed at a random point of each job
//! and replaced. Every job still ends with exactly one result per device, each device's
//! outcome what its spec says, and the credential counters equal the simulator's ground
//! truth minus the attempts of runs that died before their batch committed — all of them
//! on tasks the broker redelivered (the rule in docs/reliability.md).
//!
//! `NETRAVEN_KILL_ROUNDS` (default 2) and `NETRAVEN_KILL_DEVICES` (default 1000) scale it;
//! tests/scripts/worker-kill runs 10 rounds on 2,000 devices.

use netraven_shared::domain::JobStatus;
use netraven_tests::{
    logins, recorded_logins, request, runs, FleetBuilder, Logins, RoleProcess, Roles, TestEnv,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(180);
/// Prefetch of each worker: the most tasks a killed worker can take down with it.
const MAX_IN_FLIGHT: i64 = 32;

/// Credential counters by username: (successes, failures).
async fn counters(
    client: &deadpool_postgres::Client,
) -> anyhow::Result<HashMap<String, (i64, i64)>> {
    Ok(client
        .query(
            "SELECT username, success_count, failure_count FROM credentials",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect())
}

/// A number in `0..n` that differs run to run (the points are printed, to reproduce).
fn random_below(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from(nanos.wrapping_mul(2_654_435_761)) % n.max(1)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let rounds = env_or("NETRAVEN_KILL_ROUNDS", 2);
    let devices = env_or("NETRAVEN_KILL_DEVICES", 1000);
    let env = TestEnv::new().await?;
    // Every rejected login costs 100 ms, as on a real AAA server: devices are in flight.
    let fleet = FleetBuilder::scenario("mixed", devices, 61)?.auth_rejection_ms(100);
    let want = fleet.expected();
    let fleet = fleet.start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start_without_workers(&env.settings);
    let mut next = 0;
    let mut workers = Vec::new();
    for _ in 0..2 {
        workers.push(RoleProcess::worker(
            &env,
            next,
            MAX_IN_FLIGHT as usize,
            &[],
        )?);
        next += 1;
    }
    let client = env.pool.get().await?;

    for round in 1..=rounds {
        let Logins {
            per_device: dev_before,
            per_user: user_before,
        } = logins(&fleet);
        let counters_before = counters(&client).await?;
        let started = Instant::now();
        let r = request("config_backup", &["fleet", "orphan"], &[]);
        env.publish(&r).await?;
        let id = env.job_id(&r.request_id, TIMEOUT).await?;
        // Kill at a random point between 5% and 85% of the devices done.
        let at = devices as i64 * (5 + random_below(80) as i64) / 100;
        let killed_at = loop {
            let c = netraven_dispatcher::job_rows::get(&client, id)
                .await?
                .expect("job")
                .counts;
            if c.completed_devices >= at || c.status.is_final() {
                break c.completed_devices;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let victim = round % workers.len();
        workers[victim].kill9()?;
        workers[victim] = RoleProcess::worker(&env, next, MAX_IN_FLIGHT as usize, &[])?;
        next += 1;
        let job = env.wait_final(id, TIMEOUT).await?;
        let took = started.elapsed();

        // Exactly one result per device, each the outcome its spec says.
        assert_eq!(job.counts.status, JobStatus::CompletedPartialFailure);
        assert_eq!(job.counts.completed_devices, devices as i64);
        let rows: i64 = client
            .query_one("SELECT count(*) FROM job_results WHERE job_id = $1", &[&id])
            .await?
            .get(0);
        assert_eq!(rows, devices as i64, "one job_results row per device");
        want.assert_job(&env, id).await?;

        // Per device: committed attempts never exceed what the device saw; where fewer,
        // a run died before its batch committed, and the task was redelivered.
        let Logins {
            per_device: dev_after,
            per_user: user_after,
        } = logins(&fleet);
        let committed = recorded_logins(&env, id).await?;
        let mut lost_devices = 0i64;
        let mut lost_attempts = 0i64;
        let mut rerun_devices = 0i64;
        for name in want.names() {
            let seen = dev_after.get(name).copied().unwrap_or(0)
                - dev_before.get(name).copied().unwrap_or(0);
            let db = committed.get(name).copied().unwrap_or(0);
            assert!(
                db <= seen,
                "{name}: {db} attempts recorded, the device saw {seen}"
            );
            if db < seen {
                lost_devices += 1;
                lost_attempts += seen - db;
            }
            let runs = runs(&env, id, name).await?;
            if runs > 1 {
                rerun_devices += 1;
            }
        }
        assert!(
            lost_devices <= MAX_IN_FLIGHT,
            "{lost_devices} devices lost attempts: more than the killed worker's prefetch"
        );

        // Per credential: counter deltas = ground truth deltas minus the lost attempts.
        let counters_after = counters(&client).await?;
        let mut truth_total = 0;
        let mut counted_total = 0;
        for (user, (ok, bad)) in &counters_after {
            let (ok0, bad0) = counters_before.get(user).copied().unwrap_or((0, 0));
            let d = |m: &HashMap<(String, bool), i64>, acc| {
                m.get(&(user.clone(), acc)).copied().unwrap_or(0)
            };
            let (t_ok, t_bad) = (
                d(&user_after, true) - d(&user_before, true),
                d(&user_after, false) - d(&user_before, false),
            );
            assert!(
                ok - ok0 <= t_ok && bad - bad0 <= t_bad,
                "{user}: counted more than the devices saw"
            );
            truth_total += t_ok + t_bad;
            counted_total += (ok - ok0) + (bad - bad0);
        }
        assert_eq!(
            truth_total - counted_total,
            lost_attempts,
            "the counters miss exactly the attempts of runs that never committed"
        );
        println!(
            "round {round}: {devices} devices, killed at {killed_at} done, {took:.1?} to final; \
             {lost_devices} devices lost {lost_attempts} uncommitted attempts; \
             {rerun_devices} devices ran twice with both runs committed; \
             truth {truth_total} attempts, counters {counted_total}"
        );
    }
    for w in workers {
        w.stop()?;
    }
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}
