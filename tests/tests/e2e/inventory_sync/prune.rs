//! `import --prune` and `--dry-run`, `export` round trip, a removed device's history.

use super::{devices, ok, run, text};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{DeviceSpec, Platform};
use netraven_tests::{credential, request, FleetBuilder, TestEnv};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_removes_devices_but_never_their_history_and_export_round_trips() -> anyhow::Result<()>
{
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::new(2323)
        .credential(credential("tacacs", "netops", "sync-secret-value").tags(&["sync"]))
        .devices(["keep-1", "gone-1"].map(|name| {
            let mut d = DeviceSpec::new(name, Platform::Linux);
            d.tags = vec!["sync".into()];
            d.accepts = vec![("netops".into(), "sync-secret-value".into())];
            d
        }))
        .start()
        .await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let first = env
        .run_job(
            &request("config_backup", &["sync"], &[]),
            Duration::from_secs(60),
        )
        .await?;
    assert_eq!(first.counts.status, JobStatus::CompletedSuccess);

    // Export: the same format, the secret's file named, never its value; importing it
    // back with --prune changes nothing.
    let dir = tempfile::tempdir()?;
    let exported = dir.path().join("exported.yaml");
    let path = exported.to_str().unwrap_or_default();
    ok(&env, &["inventory", "export", "-o", path], 0)?;
    let yaml = std::fs::read_to_string(&exported)?;
    assert!(!yaml.contains("sync-secret-value"), "{yaml}");
    assert!(yaml.contains("secret_file: /"), "{yaml}");
    let dry = ok(
        &env,
        &["inventory", "import", "--prune", "--dry-run", path],
        0,
    )?;
    assert!(dry.contains("no change; dry run"), "{dry}");

    // Without gone-1, keep-1 with one tag more: the dry run says what, and writes nothing.
    let mut doc: Value = serde_yaml_ng::from_str(&yaml)?;
    let list = doc["devices"]
        .as_array_mut()
        .ok_or_else(|| anyhow::anyhow!("no devices in the export"))?;
    list.retain(|d| d["name"] != "gone-1");
    list[0]["tags"] = json!(["extra", "sync"]);
    let pruned = dir.path().join("pruned.yaml");
    std::fs::write(&pruned, serde_yaml_ng::to_string(&doc)?)?;
    let pruned = pruned.to_str().unwrap_or_default();
    let dry = ok(
        &env,
        &["inventory", "import", "--prune", "--dry-run", pruned],
        0,
    )?;
    for want in [
        "devices: 0 to add, 1 to change, 1 to remove",
        "  ~ keep-1: tags",
        "  - gone-1",
        "tags: 1 to add",
        "credentials: 0 to add, 0 to change, 0 to remove",
        "dry run: nothing was written",
    ] {
        assert!(dry.contains(want), "{want:?} missing:\n{dry}");
    }
    assert_eq!(
        devices(&env).await?,
        [("gone-1".to_string(), false), ("keep-1".to_string(), false)]
    );

    // Applied: gone-1 is marked removed; its results and configuration stay readable.
    let done = ok(&env, &["inventory", "import", "--prune", pruned], 0)?;
    assert!(
        done.contains("removed 1 devices (their history stays)"),
        "{done}"
    );
    assert_eq!(
        devices(&env).await?,
        [("gone-1".to_string(), true), ("keep-1".to_string(), false)]
    );
    let show: Value = serde_json::from_str(&ok(&env, &["device", "show", "gone-1", "--json"], 0)?)?;
    assert!(show["removed_at"].is_string(), "{show}");
    assert_eq!(show["last_result"]["outcome"], "SUCCESS", "{show}");
    assert_eq!(show["tags"], json!([]));
    let configs = ok(&env, &["device", "configs", "gone-1", "--json"], 0)?;
    assert_eq!(
        serde_json::from_str::<Value>(&configs)?["versions"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let job = ok(
        &env,
        &["job", "show", &first.id.to_string(), "--devices"],
        0,
    )?;
    assert!(job.contains("gone-1") && job.contains("keep-1"), "{job}");
    let table = ok(&env, &["device", "show", "gone-1"], 0)?;
    assert!(
        table.contains("no job targets it; its history stays"),
        "{table}"
    );

    // A new job by tag and by name: only keep-1; gone-1 is a missing target.
    let second = env
        .run_job(
            &request("config_backup", &["sync"], &["gone-1", "keep-1"]),
            Duration::from_secs(60),
        )
        .await?;
    let client = env.pool.get().await?;
    let results = netraven_dispatcher::job_rows::results(&client, second.id).await?;
    let names: Vec<&str> = results.iter().map(|r| r.device_name.as_str()).collect();
    assert_eq!(names, ["keep-1"], "{:?}", second.counts.status);
    assert_eq!(results[0].outcome, Outcome::Success);
    roles.stop().await?;
    fleet.shutdown().await;

    // Listed again: it comes back, same id, its history with it.
    let id_before: i64 = client
        .query_one("SELECT id FROM devices WHERE name = 'gone-1'", &[])
        .await?
        .get(0);
    let dry = ok(&env, &["inventory", "import", "--dry-run", path], 0)?;
    assert!(
        dry.contains("+ gone-1 (removed before: comes back with its history)"),
        "{dry}"
    );
    ok(&env, &["inventory", "import", path], 0)?;
    let row = client
        .query_one(
            "SELECT id, enabled, removed_at IS NULL,
                    (SELECT count(*) FROM job_results r WHERE r.device_id = d.id)
             FROM devices d WHERE name = 'gone-1'",
            &[],
        )
        .await?;
    assert_eq!(
        (
            row.get::<_, i64>(0),
            row.get::<_, bool>(1),
            row.get::<_, bool>(2),
            row.get::<_, i64>(3)
        ),
        (id_before, true, true, 1)
    );

    // A file without `credentials:` keeps them under --prune; one with an empty
    // `credentials:` would remove them: the dry run says so.
    let only_devices = dir.path().join("only-devices.yaml");
    let mut doc: Value = serde_yaml_ng::from_str(&yaml)?;
    if let Some(map) = doc.as_object_mut() {
        map.remove("credentials");
    }
    std::fs::write(&only_devices, serde_yaml_ng::to_string(&doc)?)?;
    let dry = ok(
        &env,
        &[
            "inventory",
            "import",
            "--prune",
            "--dry-run",
            only_devices.to_str().unwrap_or_default(),
        ],
        0,
    )?;
    assert!(
        dry.contains("credentials: 0 to add, 0 to change, 0 to remove"),
        "{dry}"
    );
    doc["credentials"] = json!([]);
    std::fs::write(&only_devices, serde_yaml_ng::to_string(&doc)?)?;
    let dry = ok(
        &env,
        &[
            "inventory",
            "import",
            "--prune",
            "--dry-run",
            only_devices.to_str().unwrap_or_default(),
        ],
        0,
    )?;
    assert!(dry.contains("  - tacacs"), "{dry}");
    let stored: i64 = client
        .query_one("SELECT count(*) FROM credentials", &[])
        .await?
        .get(0);
    assert_eq!(stored, 1, "a dry run writes nothing");

    // A credential whose secret was inline is exported as `not_exported`, which the
    // import refuses with what to write instead.
    let inline = dir.path().join("inline.yaml");
    std::fs::write(
        &inline,
        "credentials:\n  - { name: inline, username: u, secret: inline-secret-value }\n",
    )?;
    ok(
        &env,
        &["inventory", "import", inline.to_str().unwrap_or_default()],
        0,
    )?;
    let again = ok(&env, &["inventory", "export"], 0)?;
    assert!(!again.contains("inline-secret-value"), "{again}");
    std::fs::write(&inline, &again)?;
    let out = run(
        &env,
        &["inventory", "import", inline.to_str().unwrap_or_default()],
    )?;
    assert_eq!(out.status.code(), Some(10), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("credential \"inline\": its secrets were not exported"),
        "{}",
        text(&out.stderr)
    );
    Ok(())
}
