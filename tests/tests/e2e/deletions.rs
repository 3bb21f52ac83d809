//! Deleting from the inventory: a device, a credential or a job takes its rows with it
//! (migration V3's triggers, where foreign keys used to cascade), and a device deleted
//! while its task is in flight costs only itself — its worker's batch is written.

use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{DeviceSpec, Fault, Platform};
use netraven_tests::{credential, request, FleetBuilder, TestEnv};
use std::time::{Duration, Instant};

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// `devices` quick devices and `slow` ones whose logins take 1.5 s each (all finish
/// together, so their results share a batch); `del-00` accepts the first credential, the
/// others the second.
fn fleet(devices: usize, slow: usize) -> FleetBuilder {
    let device = |name: String, fault: Option<Fault>| {
        let mut d = DeviceSpec::new(name, Platform::Linux);
        d.tags = vec!["fleet".into()];
        d.accepts = vec![("netops".into(), "second-secret".into())];
        d.fault = fault;
        d
    };
    let mut specs: Vec<DeviceSpec> = (0..devices)
        .map(|i| device(format!("del-{i:02}"), None))
        .collect();
    specs[0].accepts = vec![("admin".into(), "first-secret".into())];
    specs.extend((0..slow).map(|i| {
        device(
            format!("del-slow-{i}"),
            Some(Fault::SlowAuth { delay_ms: 1_500 }),
        )
    }));
    FleetBuilder::new(31)
        .credential(credential("first", "admin", "first-secret").tags(&["fleet"]))
        .credential(
            credential("second", "netops", "second-secret")
                .priority(20)
                .tags(&["fleet"]),
        )
        .devices(specs)
}

/// Rows a device has in each table a deletion must reach.
async fn rows_of(env: &TestEnv, device_id: i64) -> anyhow::Result<[i64; 3]> {
    let client = env.pool.get().await?;
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM device_configs WHERE device_id = $1),
                    (SELECT count(*) FROM host_keys WHERE device_id = $1),
                    (SELECT count(*) FROM device_credential_affinity WHERE device_id = $1)",
            &[&device_id],
        )
        .await?;
    Ok([row.get(0), row.get(1), row.get(2)])
}

async fn device_id(env: &TestEnv, name: &str) -> anyhow::Result<i64> {
    Ok(env
        .pool
        .get()
        .await?
        .query_one("SELECT id FROM devices WHERE name = $1", &[&name])
        .await?
        .get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_deleted_while_in_flight_costs_only_itself() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    // The slow devices finish within milliseconds of each other: with a long group-commit
    // interval the deleted one is written in one batch with the three others.
    env.settings.worker.flush_interval_ms = 1_000;
    let fleet = fleet(8, 4).start().await?;
    env.import(&fleet).await?;
    let slow = device_id(&env, "del-slow-0").await?;
    let roles = env.start(1);

    let req = request("config_backup", &["fleet"], &[]);
    env.publish(&req).await?;
    let job = env.job_id(&req.request_id, JOB_TIMEOUT).await?;
    // Its key is pinned on first contact, before its two logins, a second and a half each:
    // from then on the device is in its worker's hands.
    let until = Instant::now() + JOB_TIMEOUT;
    while rows_of(&env, slow).await?[1] == 0 {
        anyhow::ensure!(Instant::now() < until, "del-slow-0 was never contacted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = env.pool.get().await?;
    client
        .execute("DELETE FROM devices WHERE id = $1", &[&slow])
        .await?;
    let view = env.wait_final(job, JOB_TIMEOUT).await?;

    // Every device, the deleted one included, backed up once: its batch was written the
    // first time (a batch that failed would have gone back to the queue, and the deleted
    // device, met again as new, could not have been pinned).
    let results = netraven_dispatcher::job_rows::results(&client, job).await?;
    let failed: Vec<_> = results
        .iter()
        .filter(|r| r.outcome != Outcome::Success)
        .map(|r| (&r.device_name, &r.reason))
        .collect();
    assert_eq!(
        view.counts.status,
        JobStatus::CompletedSuccess,
        "{failed:?}"
    );
    assert_eq!(results.len(), 12);
    // The deleted device's logins were written in the same transaction — the same
    // batch — as the three other slow devices' (one xmin), and that batch went through.
    let slow_ids: Vec<i64> = results
        .iter()
        .filter(|r| r.device_name.starts_with("del-slow-"))
        .map(|r| r.device_id)
        .collect();
    assert_eq!(slow_ids.len(), 4);
    let batches: i64 = client
        .query_one(
            "SELECT count(DISTINCT xmin::text) FROM credential_attempts
             WHERE job_id = $1 AND device_id = ANY($2)",
            &[&job, &slow_ids],
        )
        .await?
        .get(0);
    assert_eq!(batches, 1, "the slow devices were written in one batch");
    for r in &results {
        assert_eq!(
            r.outcome,
            Outcome::Success,
            "{}: {}",
            r.device_name,
            r.reason
        );
        let logins = if r.device_name == "del-00" { 1 } else { 2 };
        assert_eq!(
            r.attempts, logins,
            "{}: the credentials up to the one it accepts",
            r.device_name
        );
        let attempts: i64 = client
            .query_one(
                "SELECT count(*) FROM credential_attempts WHERE job_id = $1 AND device_id = $2",
                &[&job, &r.device_id],
            )
            .await?
            .get(0);
        assert_eq!(
            attempts,
            i64::from(logins),
            "{}: its logins recorded once",
            r.device_name
        );
        let [configs, pins, affinity] = rows_of(&env, r.device_id).await?;
        if r.device_id == slow {
            assert_eq!(
                [configs, pins, affinity],
                [0, 0, 0],
                "nothing is kept for a deleted device"
            );
        } else {
            assert_eq!([configs, pins, affinity], [1, 1, 1], "{}", r.device_name);
        }
    }
    roles.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_device_a_credential_or_a_job_takes_its_rows_along() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = fleet(4, 0).start().await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let view = env
            .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
            .await?;
        assert_eq!(view.counts.status, JobStatus::CompletedSuccess);
        jobs.push(view.id);
    }
    roles.stop().await?;
    let mut ids = Vec::new();
    for i in 0..4 {
        let id = device_id(&env, &format!("del-{i:02}")).await?;
        assert_eq!(rows_of(&env, id).await?, [1, 1, 1]);
        ids.push(id);
    }
    let client = env.pool.get().await?;

    // Devices, two in one statement: their snapshots, pinned keys and affinities go with
    // them; the others keep theirs.
    client
        .execute("DELETE FROM devices WHERE id = ANY($1)", &[&&ids[1..3]])
        .await?;
    assert_eq!(rows_of(&env, ids[1]).await?, [0, 0, 0]);
    assert_eq!(rows_of(&env, ids[2]).await?, [0, 0, 0]);
    assert_eq!(rows_of(&env, ids[0]).await?, [1, 1, 1]);
    assert_eq!(rows_of(&env, ids[3]).await?, [1, 1, 1]);

    // A credential: the affinities that name it (del-03's), not the others (del-00 logs
    // in with the first credential).
    client
        .execute("DELETE FROM credentials WHERE name = 'second'", &[])
        .await?;
    assert_eq!(rows_of(&env, ids[3]).await?, [1, 1, 0]);
    assert_eq!(rows_of(&env, ids[0]).await?, [1, 1, 1]);
    // Its attempts stay, named by the tombstone the deletion left (migration V12).
    let named: i64 = client
        .query_one(
            "SELECT count(*) FROM credential_attempts a
             JOIN removed_credentials rc ON rc.id = a.credential_id WHERE rc.name = 'second'",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(named, 6, "del-01 to del-03, two jobs each");

    // A job: its results, not the other job's.
    let results = "SELECT count(*) FROM job_results WHERE job_id = $1";
    for job in &jobs {
        let count: i64 = client.query_one(results, &[job]).await?.get(0);
        assert_eq!(count, 4);
    }
    client
        .execute("DELETE FROM jobs WHERE id = $1", &[&jobs[0]])
        .await?;
    let count: i64 = client.query_one(results, &[&jobs[0]]).await?.get(0);
    assert_eq!(count, 0);
    let count: i64 = client.query_one(results, &[&jobs[1]]).await?.get(0);
    assert_eq!(count, 4, "the other job keeps its results");
    Ok(())
}
