//! A site behind a bastion: one shared connection per worker, the cap, tags, chains.

use super::{
    bastion, behind_one_bastion, import, inventory, site_device, Jump, JOB_TIMEOUT, JUMP_SECRET,
    JUMP_USER,
};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::Platform;
use netraven_tests::{request, FleetBuilder, TestEnv};

const SITE: usize = 24;
const CAP: u32 = 4;

fn site_names() -> Vec<String> {
    (1..=SITE).map(|i| format!("site-{i:02}")).collect()
}

/// Twenty-four devices reached through the tag `site`'s jump host: every backup
/// succeeds; one worker makes one SSH connection to the bastion and never has more than
/// the cap's channels open on it; two workers make one each. The bastion's login is its
/// own credential's, never a device's. A reachability job goes through it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_behind_a_bastion_shares_one_connection_per_worker_under_the_cap(
) -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    env.settings.worker.max_in_flight = 32;
    let names = site_names();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let platforms = [Platform::Linux, Platform::CiscoIos, Platform::JuniperJunos];
    let sim = FleetBuilder::new(2201)
        .device(bastion("bastion-1", &refs))
        .devices(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| site_device(n, platforms[i % 3])),
        )
        .start()
        .await?;
    let yaml = behind_one_bastion(&sim, "bastion-1", &refs, CAP);
    import(&env, &yaml).await?;

    let roles = env.start(1);
    let job = env
        .run_job(&request("config_backup", &["site"], &[]), JOB_TIMEOUT)
        .await?;
    let client = env.pool.get().await?;
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    for r in &results {
        assert_eq!(
            r.outcome,
            Outcome::Success,
            "{}: {}",
            r.device_name,
            r.reason
        );
        assert_eq!(r.credential.as_deref(), Some("tacacs"));
    }
    assert_eq!(results.len(), SITE);
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    let b = sim.bastion("bastion-1").expect("a bastion");
    eprintln!(
        "one worker: {b:?}, connections {}",
        sim.connections("bastion-1")
    );
    assert_eq!(sim.connections("bastion-1"), 1, "one shared connection");
    assert_eq!(b.opened, SITE as u64, "one channel per device: {b:?}");
    assert!(b.most_open <= u64::from(CAP), "the cap: {b:?}");
    assert_eq!(b.refused, 0);
    // The bastion saw its own login only; each device saw the device credential's.
    let at_bastion = sim.attempts("bastion-1");
    assert!(
        at_bastion.iter().all(|a| a.username == JUMP_USER),
        "{at_bastion:?}"
    );
    assert_eq!(at_bastion.iter().filter(|a| a.accepted).count(), 1);
    for n in &names {
        let attempts = sim.attempts(n);
        assert!(
            attempts.iter().all(|a| a.username == super::USER) && attempts.len() == 1,
            "{n}: {attempts:?}"
        );
    }
    // The jump login is recorded against no credential.
    let recorded: i64 = client
        .query_one(
            "SELECT count(*) FROM credential_attempts a JOIN credentials c ON c.id = a.credential_id
             WHERE c.name = 'jump-cred'",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(recorded, 0);

    // Reachability through the bastion: the bastion connects, no device login.
    let job = env
        .run_job(&request("reachability", &["site"], &[]), JOB_TIMEOUT)
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    let r = &netraven_dispatcher::job_rows::results(&client, job.id).await?[0];
    assert!(
        r.reason.contains("from jump host bastion-1"),
        "{}",
        r.reason
    );
    roles.stop().await?;

    // Two workers: one connection each, at most.
    let before = sim.connections("bastion-1");
    let roles = env.start(2);
    let job = env
        .run_job(&request("config_backup", &["site"], &[]), JOB_TIMEOUT)
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    let made = sim.connections("bastion-1") - before;
    eprintln!(
        "two workers: {made} connections, {:?}",
        sim.bastion("bastion-1")
    );
    assert!((1..=2).contains(&made), "{made} connections");
    assert!(sim.bastion("bastion-1").expect("bastion").most_open <= 2 * u64::from(CAP));
    roles.stop().await?;
    sim.shutdown().await;
    Ok(())
}

/// A chain: the outer bastion reaches only the inner one, the inner one only the site.
/// The device's own jump host (the inner) wins over its tag's (the outer alone cannot
/// reach it). One channel through the outer carries the inner connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_hop_chain_reaches_the_inner_site() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let inner_site = ["inner-1", "inner-2", "inner-3"];
    let sim = FleetBuilder::new(2202)
        .device(bastion("outer", &["inner-bastion"]))
        .device(bastion("inner-bastion", &inner_site))
        .devices(inner_site.iter().map(|n| site_device(n, Platform::Linux)))
        .start()
        .await?;
    let devices: Vec<(&str, &[&str], Option<&str>)> = inner_site
        .iter()
        .map(|n| (*n, &["site"][..], Some("inner")))
        .collect();
    let yaml = inventory(
        &sim,
        &[
            Jump {
                name: "inner",
                device: "inner-bastion",
                credential: "jump-cred",
                key_of: "inner-bastion",
                via: Some("outer"),
                max_channels: 10,
            },
            Jump {
                name: "outer",
                device: "outer",
                credential: "jump-cred",
                key_of: "outer",
                via: None,
                max_channels: 10,
            },
        ],
        &[("site", Some("outer"))],
        &devices,
        &[("jump-cred", JUMP_USER, JUMP_SECRET)],
    );
    import(&env, &yaml).await?;
    let roles = env.start(1);
    let job = env
        .run_job(&request("config_backup", &["site"], &[]), JOB_TIMEOUT)
        .await?;
    let client = env.pool.get().await?;
    for r in netraven_dispatcher::job_rows::results(&client, job.id).await? {
        assert_eq!(
            r.outcome,
            Outcome::Success,
            "{}: {}",
            r.device_name,
            r.reason
        );
    }
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    let outer = sim.bastion("outer").expect("outer");
    let inner = sim.bastion("inner-bastion").expect("inner");
    eprintln!("outer {outer:?}, inner {inner:?}");
    assert_eq!(sim.connections("outer"), 1);
    assert_eq!(outer.opened, 1, "one channel carries the inner connection");
    assert_eq!(sim.connections("inner-bastion"), 1);
    assert_eq!(inner.opened, inner_site.len() as u64);
    roles.stop().await?;
    sim.shutdown().await;
    Ok(())
}

/// The scenario file's `bastion:` option: the simulator's own inventory puts the devices
/// of the named tags behind its bastion, and a job reaches them through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_files_bastion_fronts_its_tags_devices() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let file: netraven_simulator::scenario_file::ScenarioFile = serde_yaml_ng::from_str(
        "groups:\n  - { count: 8, platform: linux }\nbastion: { tags: [site-1], max_channels: 2 }\n",
    )?;
    let spec =
        netraven_simulator::scenario_file::build(&file, None, 2204).map_err(anyhow::Error::msg)?;
    let behind = spec
        .devices
        .iter()
        .filter(|d| d.tags.iter().any(|t| t == "site-1"))
        .count();
    assert!(behind >= 2, "{behind} devices behind the bastion");
    let sim = FleetBuilder::from_spec(spec).start().await?;
    let imported = env.import(&sim).await?;
    assert_eq!(imported.jump_hosts, 1);
    let roles = env.start(1);
    let job = env
        .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    assert_eq!(job.counts.total_devices, 8);
    let b = sim
        .bastion(netraven_simulator::scenario_file::BASTION)
        .expect("a bastion");
    assert_eq!(b.opened, behind as u64, "{b:?}");
    assert!(b.most_open <= 2, "{b:?}");
    roles.stop().await?;
    sim.shutdown().await;
    Ok(())
}
