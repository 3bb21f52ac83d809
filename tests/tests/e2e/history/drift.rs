//! Two backups of a drifting fleet, read as its users read them: the devices that changed,
//! and only they, have a new version, a diff, a `config.changed` event, a count in
//! `job show` and a commit in the git export.

use crate::export::seed::{commits, git_text};
use crate::views::netraven::{json, netraven};
use netraven_shared::messages::{events, ConfigChangedEvent};
use netraven_simulator::scenario;
use netraven_tests::{request, FleetBuilder, Spy, TestEnv};
use std::collections::BTreeMap;
use std::time::Duration;

const JOB_TIMEOUT: Duration = Duration::from_secs(60);
const DEVICES: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_devices_that_drifted_have_versions_diffs_events_and_commits() -> anyhow::Result<()>
{
    let env = TestEnv::new().await?;
    // linux, cisco_ios and juniper_junos in turn: IOS prints new volatile lines each time.
    let mut spec = scenario("all-good", DEVICES, 4242)?;
    spec.drift = 0.2;
    let fleet = FleetBuilder::from_spec(spec).start().await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let mut spy = Spy::new(
        &env,
        Some((&env.names.events_exchange(), events::CONFIG_CHANGED)),
    )
    .await?;
    let first = env
        .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;
    let epoch = fleet.advance_drift();
    let drifted: BTreeMap<String, (u32, u32)> = epoch
        .devices
        .iter()
        .map(|d| (d.name.clone(), (d.lines_added, d.lines_removed)))
        .collect();
    assert_eq!(drifted.len(), DEVICES / 5, "{epoch:?}");
    let second = env
        .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;

    // job show counts them.
    let shown = json(&env, &["job", "show", &second.id.to_string()])?;
    let counts = &shown["config_changes"];
    assert_eq!(
        (
            counts["changed"].as_u64(),
            counts["unchanged"].as_u64(),
            counts["new"].as_u64()
        ),
        (
            Some(drifted.len() as u64),
            Some((DEVICES - drifted.len()) as u64),
            Some(0)
        ),
        "{shown}"
    );

    // One event per drifted device, with the simulator's line counts; none for the rest.
    let mut heard = BTreeMap::new();
    for _ in 0..drifted.len() {
        let delivery = spy.next_within(Duration::from_secs(10)).await?;
        let e: ConfigChangedEvent = serde_json::from_slice(&delivery.data)?;
        assert_eq!((e.job_id, e.config_version), (second.id, 2));
        heard.insert(e.device_name.clone(), (e.lines_added, e.lines_removed));
    }
    assert_eq!(heard, drifted);
    assert!(spy.next_within(Duration::from_millis(500)).await.is_err());

    // A drifted device's diff is its drift; an unchanged device has nothing to diff.
    let device_names: Vec<String> = fleet.devices().iter().map(|d| d.name.clone()).collect();
    for name in &device_names {
        match drifted.get(name) {
            Some(&(added, removed)) => {
                let diff = json(&env, &["device", "diff", name])?;
                assert_eq!(
                    (
                        diff["from"]["version"].as_i64(),
                        diff["to"]["version"].as_i64(),
                        diff["lines_added"].as_u64(),
                        diff["lines_removed"].as_u64()
                    ),
                    (Some(1), Some(2), Some(added.into()), Some(removed.into())),
                    "{name}: {diff}"
                );
                let text = netraven(&env, &["device", "diff", name], 0)?;
                let plus = text
                    .lines()
                    .filter(|l| l.starts_with('+') && !l.starts_with("+++"));
                assert_eq!(plus.count(), added as usize, "{name}:\n{text}");
            }
            None => {
                netraven(&env, &["device", "diff", name], 9)?;
            }
        }
    }

    // The git export: the first job adds every device, the second changes exactly the
    // drifted devices' files; each drifted file's log has both commits.
    let dir = tempfile::tempdir()?;
    let repo = dir.path().join("configs");
    let repo_arg = repo.to_string_lossy().into_owned();
    netraven(&env, &["export", "git", &repo_arg], 0)?;
    assert_eq!(commits(&repo)?, 2);
    let subjects = git_text(&repo, &["log", "--format=%s", "main"])?;
    assert!(subjects.contains(&second.id.to_string()), "{subjects}");
    assert!(subjects.contains(&first.id.to_string()), "{subjects}");
    let touched = git_text(&repo, &["show", "--name-only", "--format=", "main"])?;
    let mut touched: Vec<String> = touched.lines().map(str::to_string).collect();
    touched.sort();
    assert_eq!(touched, drifted.keys().cloned().collect::<Vec<_>>());
    for name in drifted.keys() {
        let log = git_text(&repo, &["log", "--format=%H", "main", "--", name])?;
        assert_eq!(log.lines().count(), 2, "{name}");
    }
    netraven(&env, &["export", "git", &repo_arg], 0)?;
    assert_eq!(commits(&repo)?, 2, "a second export adds nothing");

    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}
