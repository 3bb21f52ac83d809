//! The database stops answering without closing connections: every role's requests in
//! flight are noticed within `database.response_timeout_ms`, their connections dropped,
//! and the job completes once the database answers again.

use super::{both_jobs_clean, progress, until_completed, TIMEOUT};
use netraven_tests::proxy::postgres_proxy;
use netraven_tests::{request, FleetBuilder, Roles, TestEnv};
use std::time::{Duration, Instant};

/// The bound under test, short so that the test is; the default is 30 s.
const RESPONSE_TIMEOUT_MS: u64 = 2_000;
/// Three times the bound: every role with a request in flight must notice within it.
const BLACKHOLE: Duration = Duration::from_millis(3 * RESPONSE_TIMEOUT_MS);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_database_is_noticed_by_every_role_and_the_job_completes() -> anyhow::Result<()>
{
    const DEVICES: usize = 400;
    let env = TestEnv::new().await?;
    let proxy = postgres_proxy().await?;
    // The roles reach Postgres through the proxy, in plain text so that the proxy reads
    // each connection's application_name; the test's own pool goes direct.
    let mut roles = env.settings.clone();
    roles.database.url = format!(
        "postgres://postgres@127.0.0.1:{}/{}?sslmode=disable",
        proxy.port,
        env.database_name()
    );
    roles.database.statement_timeout_ms = 1_000;
    roles.database.response_timeout_ms = RESPONSE_TIMEOUT_MS;
    roles.database.connect_timeout_ms = 2_000;
    roles.worker.max_in_flight = 16;
    let fleet = FleetBuilder::scenario("mixed", DEVICES, 19)?.auth_rejection_ms(150);
    let want = fleet.expected();
    let fleet = fleet.start().await?;
    env.import(&fleet).await?;
    let running = Roles::start(&roles, 2);
    let first = request("config_backup", &["fleet", "orphan"], &[]);
    let started = Instant::now();
    env.publish(&first).await?;
    let id = env.job_id(&first.request_id, TIMEOUT).await?;
    until_completed(&env, id, DEVICES as i64 / 5).await?;

    proxy.blackhole();
    let dark = Instant::now();
    // The dispatcher has nothing in hand once a job is out: a second request gives it a
    // statement to wait on. Its job is the same fleet's, recorded apart.
    let second = request("config_backup", &["fleet", "orphan"], &[]);
    env.publish(&second).await?;
    tokio::time::sleep(BLACKHOLE).await;
    let during = progress(&env, id).await;
    proxy.forward();
    let light = dark.elapsed();

    let took = both_jobs_clean(&env, id, &second, &want, started).await?;

    // Every role gave up a connection while the database was dark, each within the
    // blackhole (three times the bound).
    let connections = proxy.connections();
    let mut noticed = Vec::new();
    for role in [
        "netraven-dispatcher",
        "netraven-aggregator",
        "netraven-worker",
    ] {
        let first_given_up = connections
            .iter()
            .filter(|c| c.application == role)
            .filter_map(|c| c.given_up_in_blackhole)
            .filter(|at| *at >= dark)
            .map(|at| at - dark)
            .min();
        let Some(after) = first_given_up else {
            panic!(
                "{role} gave up no connection during the {BLACKHOLE:?} blackhole: {:?}",
                connections
                    .iter()
                    .map(|c| (&c.application, c.given_up_in_blackhole.is_some()))
                    .collect::<Vec<_>>()
            );
        };
        noticed.push(format!("{role} after {after:.1?}"));
    }
    running.stop().await?;
    println!(
        "blackhole of {light:.1?} (response timeout {RESPONSE_TIMEOUT_MS} ms): {}; \
         progress during it {:?}; both {DEVICES}-device jobs final {took:.1?} after the first began",
        noticed.join(", "),
        during.map(|c| c.completed_devices)
    );
    fleet.shutdown().await;
    Ok(())
}
