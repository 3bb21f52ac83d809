//! `netraven device list`: each device's tags, last outcome and last good backup, and
//! `--stale AGE` for the devices whose backups stopped, on rows seeded in SQL.

use super::netraven::{json, netraven, run, text};
use netraven_tests::TestEnv;
use serde_json::Value;

const JOB: &str = "00000000-0000-0000-0000-0000000000d1";

/// Four devices: `fresh` backed up an hour ago; `old` last backed up three days ago and
/// failing since; `never` never backed up; `edge-1` (tag edge) backed up an hour ago.
async fn seed(env: &TestEnv) -> anyhow::Result<()> {
    env.pool
        .get()
        .await?
        .batch_execute(&format!(
            "INSERT INTO tags (name) VALUES ('core'), ('edge');
             INSERT INTO devices (name, host, platform) VALUES
                 ('fresh', '10.0.0.1', 'cisco_ios'), ('old', '10.0.0.2', 'juniper_junos'),
                 ('never', '10.0.0.3', 'cisco_ios'), ('edge-1', '10.0.0.4', 'linux');
             INSERT INTO device_tags SELECT d.id, t.id FROM devices d, tags t
             WHERE (d.name <> 'edge-1' AND t.name = 'core') OR (d.name = 'edge-1' AND t.name = 'edge');
             INSERT INTO jobs (id, request_id, job_type, request, status, total_devices,
                               completed_devices, created_at, deadline_at)
             VALUES ('{JOB}', 'list', 'config_backup', '{{}}', 'COMPLETED_PARTIAL_FAILURE',
                     4, 4, now() - interval '1 hour', now());
             INSERT INTO job_results (job_id, device_id, device_name, outcome, finished_at)
             SELECT '{JOB}', id, name,
                    CASE name WHEN 'old' THEN 'TIMEOUT' WHEN 'never' THEN 'AUTH_FAILED'
                              ELSE 'SUCCESS' END,
                    now() - interval '1 hour'
             FROM devices;
             INSERT INTO device_configs (device_id, version, sha256, content, size_bytes,
                                         first_seen_at, last_seen_at)
             SELECT id, 1, repeat('a', 64), 'hostname ' || name, 12,
                    now() - interval '10 days',
                    CASE name WHEN 'old' THEN now() - interval '3 days'
                              ELSE now() - interval '1 hour' END
             FROM devices WHERE name <> 'never';"
        ))
        .await?;
    Ok(())
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(|d| d["name"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_list_shows_last_outcomes_and_stale_backups() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    seed(&env).await?;

    let all = json(&env, &["device", "list"])?;
    assert_eq!(names(&all), ["edge-1", "fresh", "never", "old"]);
    let old = &all[3];
    assert_eq!(old["platform"], "juniper_junos");
    assert_eq!(old["tags"], serde_json::json!(["core"]));
    assert_eq!(old["last_outcome"], "TIMEOUT");
    assert!(old["last_good_backup_at"].is_string(), "{old}");
    assert!(all[2]["last_good_backup_at"].is_null(), "never backed up");

    // Older than 26 hours, or never: the devices whose backups stopped.
    let stale = json(&env, &["device", "list", "--stale", "26h"])?;
    assert_eq!(names(&stale), ["never", "old"]);
    let stale = json(&env, &["device", "list", "--stale", "4d"])?;
    assert_eq!(names(&stale), ["never"]);
    let edge = json(
        &env,
        &["device", "list", "--tag", "edge", "--stale", "30min"],
    )?;
    assert_eq!(names(&edge), ["edge-1"]);

    let table = netraven(&env, &["device", "list", "--stale", "26h"], 0)?;
    for want in [
        "LAST GOOD BACKUP",
        "TIMEOUT",
        "AUTH_FAILED",
        "never",
        "3 d ago",
        "2 devices",
    ] {
        assert!(table.contains(want), "{want:?} missing:\n{table}");
    }
    netraven(&env, &["device", "list", "--stale", "yesterday"], 2)?;

    // --platform (a name or an alias), --outcome (any case; `none` for no result yet),
    // each repeatable (any of), all of them together (each must hold).
    let ios = json(&env, &["device", "list", "--platform", "ios"])?;
    assert_eq!(names(&ios), ["fresh", "never"]);
    let two = json(
        &env,
        &[
            "device",
            "list",
            "--platform",
            "linux",
            "--platform",
            "juniper_junos",
        ],
    )?;
    assert_eq!(names(&two), ["edge-1", "old"]);
    let failing = json(
        &env,
        &[
            "device",
            "list",
            "--outcome",
            "timeout",
            "--outcome",
            "AUTH_FAILED",
        ],
    )?;
    assert_eq!(names(&failing), ["never", "old"]);
    let mixed = json(
        &env,
        &[
            "device",
            "list",
            "--tag",
            "core",
            "--platform",
            "cisco_ios",
            "--outcome",
            "success",
        ],
    )?;
    assert_eq!(names(&mixed), ["fresh"]);
    env.pool
        .get()
        .await?
        .batch_execute(
            "INSERT INTO devices (name, host, platform) VALUES ('new', '10.0.0.5', 'linux');
             INSERT INTO devices (name, host, platform, enabled, removed_at)
                 VALUES ('gone', '10.0.0.6', 'linux', false, now());",
        )
        .await?;
    let none = json(&env, &["device", "list", "--outcome", "none"])?;
    assert_eq!(names(&none), ["new"], "a removed device is not listed");
    let removed = json(&env, &["device", "list", "--removed"])?;
    assert_eq!(names(&removed), ["gone"]);
    assert!(removed[0]["removed_at"].is_string(), "{removed}");
    let out = run(env
        .command()?
        .args(["device", "list", "--outcome", "sucess"]))?;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not an outcome"),
        "{}",
        text(&out.stderr)
    );
    Ok(())
}
