//! A changed configuration becomes a new version, a `config.changed` event and a count;
//! an unchanged one becomes nothing new.

use netraven_shared::broker;
use netraven_shared::messages::{events, CloudEvent, ConfigChangedEvent, EventRole};
use netraven_shared::telemetry::metrics;
use netraven_simulator::scenario;
use netraven_tests::{request, FleetBuilder, Spy, TestEnv};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// A fleet backed up twice, with five devices' stored versions edited in between (as if
/// each device had one line fewer than it did): those five, and only they, get version 2,
/// their lines counted, a `config.changed` event each (with its CloudEvents attributes)
/// and `CHANGED` in their result;
/// every other device stays at version 1, `UNCHANGED`, with no new row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_configuration_is_a_new_version_an_event_and_a_count() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::from_spec(scenario("all-good", 20, 20)?)
        .start()
        .await?;
    env.import(&fleet).await?;
    let _roles = env.start(1);
    let mut spy = Spy::new(
        &env,
        Some((&env.names.events_exchange(), events::CONFIG_CHANGED)),
    )
    .await?;
    let backup = || request("config_backup", &["fleet"], &[]);
    let first = env.run_job(&backup(), JOB_TIMEOUT).await?;
    let client = env.pool.get().await?;
    let changes = |job: uuid::Uuid| {
        let client = &client;
        async move {
            let rows = client
                .query(
                    "SELECT device_name, config_change, config_version FROM job_results
                     WHERE job_id = $1",
                    &[&job],
                )
                .await?;
            anyhow::Ok(
                rows.iter()
                    .map(|r| {
                        (
                            r.get::<_, String>(0),
                            (r.get::<_, String>(1), r.get::<_, i32>(2)),
                        )
                    })
                    .collect::<BTreeMap<_, _>>(),
            )
        }
    };
    let after_first = changes(first.id).await?;
    assert_eq!(after_first.len(), 20);
    assert!(
        after_first.values().all(|c| *c == ("NEW".to_string(), 1)),
        "{after_first:?}"
    );

    // Five devices' stored configuration gains a line the devices do not have: the next
    // backup finds each changed, one line removed.
    let edited: Vec<String> = after_first.keys().take(5).cloned().collect();
    let old: BTreeMap<String, String> = client
        .query(
            "UPDATE device_configs c
             SET content = c.content || 'ntp server 192.0.2.1' || chr(10),
                 sha256 = encode(sha256(convert_to(c.content || 'ntp server 192.0.2.1' || chr(10), 'UTF8')), 'hex')
             FROM devices d WHERE d.id = c.device_id AND d.name = ANY($1)
             RETURNING d.name, c.sha256",
            &[&edited],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(old.len(), 5);

    let second = env.run_job(&backup(), JOB_TIMEOUT).await?;
    let after_second = changes(second.id).await?;
    for (name, change) in &after_second {
        let want = if edited.contains(name) {
            ("CHANGED".to_string(), 2)
        } else {
            ("UNCHANGED".to_string(), 1)
        };
        assert_eq!(change, &want, "{name}");
    }
    let rows: i64 = client
        .query_one("SELECT count(*) FROM device_configs", &[])
        .await?
        .get(0);
    assert_eq!(rows, 25, "20 first versions and 5 new ones, nothing else");
    let counted: Vec<(String, i32, i32)> = client
        .query(
            "SELECT d.name, c.lines_added, c.lines_removed FROM device_configs c
             JOIN devices d ON d.id = c.device_id WHERE c.version = 2 ORDER BY d.name",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let want: Vec<(String, i32, i32)> = edited.iter().map(|n| (n.clone(), 0, 1)).collect();
    assert_eq!(counted, want);

    let mut seen = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for _ in 0..5 {
        let delivery = spy.next_within(Duration::from_secs(10)).await?;
        let event: ConfigChangedEvent = serde_json::from_slice(&delivery.data)?;
        assert_eq!(event.event, events::CONFIG_CHANGED);
        // Its CloudEvents attributes: about the device, from the aggregator, one id each.
        let attributes = broker::cloud_event(&delivery.properties).map_err(anyhow::Error::msg)?;
        let source = CloudEvent::source(&env.names.namespace, EventRole::Aggregator);
        assert_eq!(attributes, event.cloud_event(source));
        assert_eq!(attributes.subject, event.device_name);
        assert!(ids.insert(attributes.id), "two config.changed share an id");
        assert_eq!(event.job_id, second.id);
        assert_eq!(
            (event.config_version, event.lines_added, event.lines_removed),
            (2, 0, 1)
        );
        assert_eq!(Some(&event.old_sha256), old.get(&event.device_name));
        assert_ne!(event.new_sha256, event.old_sha256);
        seen.insert(event.device_name.clone(), event);
    }
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), edited);
    assert!(
        spy.next_within(Duration::from_millis(500)).await.is_err(),
        "one event per changed device, none for the others"
    );
    let m = &metrics::get().config_changes_total;
    assert_eq!(m.with_label_values(&["new"]).get(), 20);
    assert_eq!(m.with_label_values(&["changed"]).get(), 5);
    Ok(())
}
