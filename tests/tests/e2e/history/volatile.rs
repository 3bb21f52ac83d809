//! Volatile lines never make a version; a drifting fleet makes exactly the versions the
//! simulator's ground truth says, with its line counts.

use netraven_shared::domain::JobStatus;
use netraven_simulator::{scenario, Fleet, Platform};
use netraven_tests::{request, FleetBuilder, TestEnv};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use uuid::Uuid;

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// What `cisco_ios` prints anew on every show, none of which may be stored.
const VOLATILE: &[&str] = &[
    "Building configuration",
    "Current configuration :",
    "! Last configuration change at",
    "! NVRAM config last updated at",
    "ntp clock-period",
];

/// One device's stored versions: (version, content, lines added, lines removed).
type Versions = Vec<(i32, String, Option<i32>, Option<i32>)>;

async fn backup(env: &TestEnv) -> anyhow::Result<Uuid> {
    let job = env
        .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    Ok(job.id)
}

/// `config_change` and `config_version` of each device in `job`, by device name.
async fn changes(
    env: &TestEnv,
    job: Uuid,
) -> anyhow::Result<BTreeMap<String, (Option<String>, Option<i32>)>> {
    let client = env.pool.get().await?;
    let rows = client
        .query(
            "SELECT d.name, r.config_change, r.config_version FROM job_results r
             JOIN devices d ON d.id = r.device_id WHERE r.job_id = $1",
            &[&job],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect())
}

async fn versions(env: &TestEnv) -> anyhow::Result<HashMap<String, Versions>> {
    let client = env.pool.get().await?;
    let rows = client
        .query(
            "SELECT d.name, c.version, c.content, c.lines_added, c.lines_removed
             FROM device_configs c JOIN devices d ON d.id = c.device_id
             ORDER BY d.name, c.version",
            &[],
        )
        .await?;
    let mut out: HashMap<String, Versions> = HashMap::new();
    for r in rows {
        out.entry(r.get(0))
            .or_default()
            .push((r.get(1), r.get(2), r.get(3), r.get(4)));
    }
    Ok(out)
}

/// What the device's latest version must hold: its configuration now, redacted, without
/// the lines it prints anew in every session.
fn stored_form(fleet: &Fleet, device: &str) -> String {
    netraven_worker::redact::redact(&fleet.expected_config(device).expect("a device"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volatile_lines_make_no_version_and_drift_makes_exactly_its_own() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    // all-good: linux, cisco_ios and juniper_junos in turn, five of each.
    let mut spec = scenario("all-good", 15, 2020)?;
    spec.drift = 0.2;
    let fleet = FleetBuilder::from_spec(spec).start().await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let devices = fleet.devices();
    let ios: Vec<&str> = devices
        .iter()
        .filter(|d| d.platform == Platform::CiscoIos)
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(ios.len(), 5);

    let first = backup(&env).await?;
    let printed: Vec<String> = ios.iter().filter_map(|d| fleet.config_sent(d)).collect();
    assert_eq!(
        printed.len(),
        ios.len(),
        "every IOS device printed its configuration"
    );
    let second = backup(&env).await?;
    for (d, before) in ios.iter().zip(&printed) {
        let again = fleet.config_sent(d).expect("printed again");
        assert_ne!(
            &again, before,
            "{d}: without the volatile filter the run looks changed"
        );
    }

    let stored = versions(&env).await?;
    for d in &devices {
        let v = stored.get(&d.name).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            v.len(),
            1,
            "{}: one version after two unchanged runs",
            d.name
        );
        let (version, content, added, removed) = &v[0];
        assert_eq!((*version, *added, *removed), (1, None, None), "{}", d.name);
        assert_eq!(content, &stored_form(&fleet, &d.name), "{}", d.name);
        for line in VOLATILE {
            assert!(!content.contains(line), "{}: {line:?} stored", d.name);
        }
    }
    for (job, change) in [(first, "NEW"), (second, "UNCHANGED")] {
        let got = changes(&env, job).await?;
        assert_eq!(got.len(), devices.len());
        for (name, c) in got {
            assert_eq!(c, (Some(change.to_string()), Some(1)), "{name}");
        }
    }

    // Drift: three of fifteen devices change one line each; only they get a version 2.
    let epoch = fleet.advance_drift();
    assert_eq!((epoch.epoch, epoch.devices.len()), (1, 3), "{epoch:?}");
    let drifted: HashMap<&str, _> = epoch.devices.iter().map(|d| (d.name.as_str(), d)).collect();
    let third = backup(&env).await?;
    let stored = versions(&env).await?;
    let got = changes(&env, third).await?;
    for d in &devices {
        let v = &stored[&d.name];
        let change = &got[&d.name];
        match drifted.get(d.name.as_str()) {
            Some(truth) => {
                assert_eq!(v.len(), 2, "{}: a second version", d.name);
                let (version, content, added, removed) = &v[1];
                assert_eq!(
                    (*version, *added, *removed),
                    (
                        2,
                        Some(truth.lines_added as i32),
                        Some(truth.lines_removed as i32)
                    ),
                    "{}: {truth:?}",
                    d.name
                );
                assert_eq!(content, &stored_form(&fleet, &d.name), "{}", d.name);
                assert_eq!(
                    change,
                    &(Some("CHANGED".to_string()), Some(2)),
                    "{}",
                    d.name
                );
            }
            None => {
                assert_eq!(v.len(), 1, "{}: still one version", d.name);
                assert_eq!(
                    change,
                    &(Some("UNCHANGED".to_string()), Some(1)),
                    "{}",
                    d.name
                );
            }
        }
    }
    assert_eq!(fleet.drift_epochs(), vec![epoch]);
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}
