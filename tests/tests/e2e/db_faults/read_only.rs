//! The test's own database made read-only mid-job (`default_transaction_read_only`, as
//! during maintenance) and its sessions ended, then writable again: every write that met
//! the read-only database (SQLSTATE 25006) is retried, a request submitted meanwhile is
//! dispatched once the database takes writes, and nothing is dead-lettered as malformed.

use super::{both_jobs_clean, progress, until_completed, TIMEOUT};
use netraven_shared::db;
use netraven_tests::{request, FleetBuilder, Roles, TestEnv};
use std::time::{Duration, Instant};

/// Longer than a request's five deliveries took when each transient failure sent it back
/// to the queue at once (5 × (connect_timeout_ms + 0.5 s) = 5 s with the timeout below):
/// the request submitted meanwhile is now tried again in place, never dead-lettered.
const READ_ONLY: Duration = Duration::from_secs(8);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_mid_job_is_waited_out_not_dead_lettered() -> anyhow::Result<()> {
    const DEVICES: usize = 300;
    let mut env = TestEnv::new().await?;
    env.settings.worker.max_in_flight = 16;
    env.settings.database.connect_timeout_ms = 500;
    let fleet = FleetBuilder::scenario("mixed", DEVICES, 29)?.auth_rejection_ms(150);
    let want = fleet.expected();
    let fleet = fleet.start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, 2);
    let first = request("config_backup", &["fleet", "orphan"], &[]);
    let started = Instant::now();
    env.publish(&first).await?;
    let id = env.job_id(&first.request_id, TIMEOUT).await?;
    until_completed(&env, id, DEVICES as i64 / 5).await?;

    // A session opened before the switch keeps writing: it turns the switch back.
    let admin = db::connect(&env.settings.database.url).await?;
    let name = env.database_name().to_string();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} SET default_transaction_read_only = on"
        ))
        .await?;
    // Sessions take the database's settings when they start: end the roles' sessions,
    // as a failover ends them, so that they reconnect to a read-only database.
    let ended: i64 = admin
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND application_name LIKE 'netraven-%') t",
            &[&name],
        )
        .await?
        .get(0);
    let before = progress(&env, id).await.map(|c| c.completed_devices);
    let second = request("config_backup", &["fleet", "orphan"], &[]);
    env.publish(&second).await?;
    tokio::time::sleep(READ_ONLY).await;
    let after = progress(&env, id).await.map(|c| c.completed_devices);
    // No session of a role lasted meanwhile: a role's pool takes writable ones only, and
    // ends the others as soon as it has asked. (The test's own pool takes read-only ones,
    // and reads.)
    let writers: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
             AND application_name LIKE 'netraven-%' \
             AND backend_start < now() - interval '1 second'",
            &[&name],
        )
        .await?
        .get(0);
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} RESET default_transaction_read_only"
        ))
        .await?;

    let took = both_jobs_clean(&env, id, &second, &want, started).await?;
    assert!(ended > 0, "the roles had sessions to end");
    assert_eq!(writers, 0, "no role session on the read-only database");
    roles.stop().await?;
    println!(
        "read-only for {READ_ONLY:?} ({ended} sessions ended): devices completed {before:?} \
         -> {after:?} meanwhile; both {DEVICES}-device jobs final {took:.1?} after the first began"
    );
    fleet.shutdown().await;
    Ok(())
}
