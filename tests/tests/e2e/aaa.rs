//! One AAA budget per credential for the whole fleet: a credential's
//! `max_concurrent_logins` and `max_logins_per_second` hold over three worker processes
//! together, as the simulator's AAA record (every authentication request of every device,
//! by username) shows; a worker killed while it holds a login gives its share back.

use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{DeviceSpec, Fault, Platform};
use netraven_tests::{credential, request, FleetBuilder, RoleProcess, Roles, TestEnv};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(120);

fn device(name: &str, tag: &str, user: &str, fault: Option<Fault>) -> DeviceSpec {
    let mut d = DeviceSpec::new(name, Platform::Linux);
    d.tags = vec![tag.into()];
    d.accepts = vec![(user.into(), format!("{user}-pw"))];
    d.fault = fault;
    d
}

/// Adds the fleet-wide caps to the credentials of the inventory at `path`, as an operator
/// writes them.
fn with_caps(path: &std::path::Path, caps: &[(&str, &str, i64)]) -> anyhow::Result<()> {
    let mut inventory: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path)?)?;
    let credentials = inventory["credentials"]
        .as_sequence_mut()
        .ok_or_else(|| anyhow::anyhow!("no credentials in the inventory"))?;
    for (name, field, value) in caps {
        let c = credentials
            .iter_mut()
            .find(|c| c["name"].as_str() == Some(name))
            .ok_or_else(|| anyhow::anyhow!("no credential {name}"))?;
        c[*field] = serde_yaml_ng::Value::from(*value);
    }
    std::fs::write(path, serde_yaml_ng::to_string(&inventory)?)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_caps_hold_across_workers_and_a_dead_worker_keeps_no_share() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    // Slow logins (a busy TACACS server) keep many logins in progress at once.
    let slow = Some(Fault::SlowAuth { delay_ms: 400 });
    let fleet = FleetBuilder::new(2301)
        .credential(credential("tacacs", "tacacs", "tacacs-pw").tags(&["core"]))
        .credential(credential("radius", "radius", "radius-pw").tags(&["edge"]))
        .credential(credential("lonely", "lonely", "lonely-pw").tags(&["lab"]))
        .devices((0..12).map(|i| device(&format!("core-{i:02}"), "core", "tacacs", slow)))
        .devices((0..24).map(|i| device(&format!("edge-{i:02}"), "edge", "radius", None)))
        .devices((0..3).map(|i| {
            device(
                &format!("lab-{i}"),
                "lab",
                "lonely",
                Some(Fault::SlowAuth { delay_ms: 1500 }),
            )
        }))
        .start()
        .await?;
    let path = env.dir.path().join("inventory.yaml");
    fleet.write_inventory(&path)?;
    with_caps(
        &path,
        &[
            ("tacacs", "max_concurrent_logins", 2),
            ("radius", "max_logins_per_second", 8),
            ("lonely", "max_concurrent_logins", 1),
        ],
    )?;
    env.import_file(&path).await?;
    let client = env.pool.get().await?;
    let stored: Vec<(String, Option<i32>, Option<i32>)> = client
        .query(
            "SELECT name, max_concurrent_logins, max_logins_per_second FROM credentials ORDER BY name",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        stored,
        [
            ("lonely".to_string(), Some(1), None),
            ("radius".to_string(), None, Some(8)),
            ("tacacs".to_string(), Some(2), None),
        ]
    );

    let listed = env.command()?.args(["credential", "list"]).output()?;
    let listed = String::from_utf8_lossy(&listed.stdout);
    for caps in ["password; fleet: 2 at once", "password; fleet: 8/s"] {
        assert!(listed.contains(caps), "{caps:?} not in:\n{listed}");
    }
    // The export writes them back as the import reads them.
    let exported = env.command()?.args(["inventory", "export"]).output()?;
    let exported: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&exported.stdout)?;
    let tacacs = exported["credentials"]
        .as_sequence()
        .and_then(|cs| cs.iter().find(|c| c["name"].as_str() == Some("tacacs")))
        .ok_or_else(|| anyhow::anyhow!("tacacs not exported"))?;
    assert_eq!(tacacs["max_concurrent_logins"].as_i64(), Some(2));

    // Three workers, each free to run 16 logins of a credential at once on its own.
    let roles = Roles::start_without_workers(&env.settings);
    // A short login timeout: a lease outlives a dead worker by it and a 2 s margin.
    let vars = [("NETRAVEN__WORKER__AUTH_TIMEOUT_MS", "3000")];
    let mut workers = (0..3)
        .map(|n| RoleProcess::worker(&env, n, 16, &vars))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let job = env
        .run_job(&request("config_backup", &["core", "edge"], &[]), TIMEOUT)
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    let aaa = fleet.aaa();
    let tacacs = &aaa["tacacs"];
    assert_eq!(tacacs.arrived_ms.len(), 12, "one login per core device");
    assert!(
        tacacs.peak_concurrent <= 2,
        "the AAA server saw {} tacacs logins at once; the fleet's cap is 2",
        tacacs.peak_concurrent
    );
    let radius = &aaa["radius"];
    assert_eq!(radius.arrived_ms.len(), 24, "one login per edge device");
    // Leases start in Postgres; requests arrive a network hop later, so a window a little
    // shorter than a second is what the cap guarantees at the device.
    let busiest = radius.most_within(900);
    assert!(
        busiest <= 8,
        "{busiest} radius logins arrived within 900 ms; the fleet's cap is 8 a second"
    );
    let span = radius.arrived_ms[23] - radius.arrived_ms[0];
    assert!(
        span >= 1900,
        "24 logins at 8 a second take two seconds at least, not {span} ms: {:?}",
        radius.arrived_ms
    );

    // A worker killed mid-login holds the only slot of `lonely`: the slot comes back when
    // its lease expires, and the job still ends with every device backed up.
    let lab = request("config_backup", &["lab"], &[]);
    env.publish(&lab).await?;
    let lab = env.job_id(&lab.request_id, TIMEOUT).await?;
    let until = Instant::now() + TIMEOUT;
    let holder: String = loop {
        let row = client
            .query_opt(
                "SELECT holder FROM login_leases WHERE credential_id =
                     (SELECT id FROM credentials WHERE name = 'lonely')
                 AND released_at IS NULL AND expires_at > now()",
                &[],
            )
            .await?;
        if let Some(row) = row {
            break row.get(0);
        }
        anyhow::ensure!(Instant::now() < until, "no lease of lonely was ever taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let pid: i32 = holder
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("lease holder {holder:?} names no process"))?;
    let victim = workers
        .iter()
        .position(|w| w.pid().as_raw() == pid)
        .ok_or_else(|| anyhow::anyhow!("lease holder {holder:?} is none of the workers"))?;
    workers[victim].kill9()?;
    let done = env.wait_final(lab, TIMEOUT).await?;
    assert_eq!(done.counts.status, JobStatus::CompletedSuccess);
    let results = netraven_dispatcher::job_rows::results(&client, lab).await?;
    assert!(results.iter().all(|r| r.outcome == Outcome::Success));
    let lonely = &fleet.aaa()["lonely"];
    assert!(
        lonely.peak_concurrent <= 1,
        "the AAA server saw {} lonely logins at once; the cap is 1",
        lonely.peak_concurrent
    );

    for w in workers
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
    {
        w.1.stop()?;
    }
    roles.stop().await?;
    Ok(())
}

/// Leases of credential 42 neither released nor expired.
async fn live_leases(env: &TestEnv) -> anyhow::Result<i64> {
    let row = env
        .pool
        .get()
        .await?
        .query_one(
            "SELECT count(*) FROM login_leases
             WHERE credential_id = 42 AND released_at IS NULL AND expires_at > clock_timestamp()",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

fn capped(id: i64) -> netraven_shared::messages::TaskCredential {
    netraven_shared::messages::TaskCredential {
        id,
        name: format!("c{id}"),
        username: "u".into(),
        sealed_secret: Some("nrv1:k:x".into()),
        sealed_key: None,
        sealed_key_passphrase: None,
        sealed_enable: None,
        max_concurrent_logins: Some(1),
        max_logins_per_second: None,
    }
}

/// A take whose answer was lost is asked again with its token, and granted the lease it
/// holds rather than made to wait for it to expire; the cap still holds for others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_asked_again_with_its_token_is_granted_not_counted_against_itself(
) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let db = env.pool.get().await?;
    let take = "SELECT netraven_take_login(42, $1, 'w', 1, NULL, 60000)";
    let (mine, other) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let first: i32 = db.query_one(take, &[&mine]).await?.get(0);
    assert_eq!(first, 0, "granted");
    let again: i32 = db.query_one(take, &[&mine]).await?.get(0);
    assert_eq!(again, 0, "the same token asked again: granted, not a wait");
    let theirs: i32 = db.query_one(take, &[&other]).await?.get(0);
    assert!(
        theirs > 0,
        "the cap of 1 holds for another login: wait {theirs} ms"
    );
    assert_eq!(live_leases(&env).await?, 1);
    Ok(())
}

/// A login whose device gave up while its lease was being taken (the take blocked in
/// Postgres, then committed after the caller was gone) leaves no lease holding the slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_after_its_login_gave_up_is_released() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let limits =
        netraven_worker::login_limits::LoginLimits::new(0, 0, Some((env.pool.clone(), "w".into())));
    // Another session holds the credential's lock: the take waits inside the function.
    let mut blocker = env.pool.get().await?;
    let tx = blocker.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock(7473, 42)", &[])
        .await?;
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        limits.acquire(&capped(42), Duration::from_secs(30)),
    )
    .await;
    assert!(gave_up.is_err(), "the take waits on the lock");
    tx.commit().await?;
    // The take commits now, for nobody: it must be released, not held for 32 s.
    let until = Instant::now() + Duration::from_secs(5);
    let mut taken = false;
    loop {
        let rows: i64 = env
            .pool
            .get()
            .await?
            .query_one(
                "SELECT count(*) FROM login_leases WHERE credential_id = 42",
                &[],
            )
            .await?
            .get(0);
        taken |= rows > 0;
        if taken && live_leases(&env).await? == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < until,
            "the abandoned lease still holds the slot (taken: {taken})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
