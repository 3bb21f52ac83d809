//! Deleting from the inventory: a device, a credential or a job takes its rows with it
//! (migration V3's triggers, where foreign keys used to cascade), and a device deleted
//! while its task is in flight costs only itself — its worker's batch is written.

use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{
    CredentialSpec, DeviceSpec, Fault, Fleet, FleetOptions, FleetSpec, Platform,
};
use netraven_tests::{request, TestEnv};
use std::time::{Duration, Instant};

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

fn fleet(devices: usize, slow: Option<&str>) -> FleetSpec {
    let mut specs: Vec<DeviceSpec> = (0..devices)
        .map(|i| {
            let mut d = DeviceSpec::new(format!("del-{i:02}"), Platform::Linux);
            d.tags = vec!["fleet".into()];
            d.accepts = vec![("netops".into(), "second-secret".into())];
            d
        })
        .collect();
    if let Some(name) = slow {
        let mut d = DeviceSpec::new(name, Platform::Linux);
        d.tags = vec!["fleet".into()];
        d.accepts = vec![("netops".into(), "second-secret".into())];
        d.fault = Some(Fault::SlowAuth { delay_ms: 1_500 });
        specs.push(d);
    }
    let credential = |name: &str, username: &str, password: &str, priority| CredentialSpec {
        name: name.into(),
        username: username.into(),
        password: password.into(),
        priority,
        tags: vec!["fleet".into()],
    };
    FleetSpec {
        seed: 31,
        credentials: vec![
            credential("first", "admin", "first-secret", 10),
            credential("second", "netops", "second-secret", 20),
        ],
        devices: specs,
    }
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
    let env = TestEnv::new().await?;
    let spec = fleet(8, Some("del-slow"));
    let fleet = Fleet::start(spec, FleetOptions::random_base()).await?;
    env.import(&fleet).await?;
    let slow = device_id(&env, "del-slow").await?;
    let roles = env.start(1);

    let req = request("config_backup", &["fleet"], &[]);
    env.publish(&req).await?;
    let job = env.job_id(&req.request_id, JOB_TIMEOUT).await?;
    // Its key is pinned on first contact, before its two logins, a second and a half each:
    // from then on the device is in its worker's hands.
    let until = Instant::now() + JOB_TIMEOUT;
    while rows_of(&env, slow).await?[1] == 0 {
        anyhow::ensure!(Instant::now() < until, "del-slow was never contacted");
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
    let results = netraven_dispatcher::jobs::results(&client, job).await?;
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
    assert_eq!(results.len(), 9);
    for r in &results {
        assert_eq!(
            r.outcome,
            Outcome::Success,
            "{}: {}",
            r.device_name,
            r.reason
        );
        assert_eq!(
            r.attempts, 2,
            "{}: one rejected login, one accepted",
            r.device_name
        );
        let attempts: i64 = client
            .query_one(
                "SELECT count(*) FROM credential_attempts WHERE job_id = $1 AND device_id = $2",
                &[&job, &r.device_id],
            )
            .await?
            .get(0);
        assert_eq!(attempts, 2, "{}: its logins recorded once", r.device_name);
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
    env.teardown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_device_a_credential_or_a_job_takes_its_rows_along() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = Fleet::start(fleet(3, None), FleetOptions::random_base()).await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let view = env
        .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;
    assert_eq!(view.counts.status, JobStatus::CompletedSuccess);
    roles.stop().await?;
    let ids = [
        device_id(&env, "del-00").await?,
        device_id(&env, "del-01").await?,
        device_id(&env, "del-02").await?,
    ];
    for id in ids {
        assert_eq!(rows_of(&env, id).await?, [1, 1, 1]);
    }
    let client = env.pool.get().await?;

    // A device: its snapshots, its pinned key and its affinity go with it.
    client
        .execute("DELETE FROM devices WHERE id = $1", &[&ids[0]])
        .await?;
    assert_eq!(rows_of(&env, ids[0]).await?, [0, 0, 0]);
    assert_eq!(
        rows_of(&env, ids[1]).await?,
        [1, 1, 1],
        "the others keep theirs"
    );

    // A credential: the affinities that name it.
    client
        .execute("DELETE FROM credentials WHERE name = 'second'", &[])
        .await?;
    assert_eq!(rows_of(&env, ids[1]).await?, [1, 1, 0]);
    assert_eq!(rows_of(&env, ids[2]).await?, [1, 1, 0]);

    // A job: its results.
    let results = "SELECT count(*) FROM job_results WHERE job_id = $1";
    let count = client
        .query_one(results, &[&view.id])
        .await?
        .get::<_, i64>(0);
    assert_eq!(count, 3);
    client
        .execute("DELETE FROM jobs WHERE id = $1", &[&view.id])
        .await?;
    let count = client
        .query_one(results, &[&view.id])
        .await?
        .get::<_, i64>(0);
    assert_eq!(count, 0);
    env.teardown().await
}
