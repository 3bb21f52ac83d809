//! `prune` and configuration versions: a version goes only when it is neither among its
//! device's newest N nor seen within D days, and a device's latest version never goes.

use super::netraven::{json, netraven, run, text};
use netraven_tests::TestEnv;

/// Each seeded device's versions, as `name: 1,2,3` lines in name order.
async fn versions(env: &TestEnv) -> anyhow::Result<String> {
    let row = env
        .pool
        .get()
        .await?
        .query_one(
            "SELECT string_agg(name || ': ' || versions, E'\\n' ORDER BY name)
             FROM (SELECT d.name, string_agg(c.version::text, ',' ORDER BY c.version) AS versions
                   FROM devices d JOIN device_configs c ON c.device_id = d.id
                   GROUP BY d.name) v",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// Five devices whose versions were last seen `days` ago, version by version:
/// - many-old: 15 versions, 290 to 150 days old: the 5 oldest go by default;
/// - all-recent: 12 versions within 12 days: past the newest 10 but recent, all stay;
/// - mixed: 14 versions, 1 and 2 over 190 days old, 3 to 14 within 12 days: 1 and 2 go;
/// - one-old: a single version 400 days old: the latest, it stays;
/// - few-old: 3 versions 300 days old: among the newest 10, they stay.
const SEED: &str = "
    INSERT INTO devices (name, host, platform)
    SELECT n, '192.0.2.1', 'cisco_ios'
    FROM unnest(ARRAY['many-old', 'all-recent', 'mixed', 'one-old', 'few-old']) n;
    INSERT INTO device_configs (device_id, version, sha256, content, size_bytes,
                                first_seen_at, last_seen_at, lines_added, lines_removed)
    SELECT d.id, v.version, md5(d.name || v.version) || md5(d.name), 'hostname ' || d.name,
           9, now() - make_interval(days => v.days + 1), now() - make_interval(days => v.days),
           CASE WHEN v.version > 1 THEN 1 END, CASE WHEN v.version > 1 THEN 1 END
    FROM devices d
    CROSS JOIN LATERAL (
        SELECT s AS version,
               CASE d.name
                   WHEN 'many-old' THEN 300 - 10 * s
                   WHEN 'all-recent' THEN 13 - s
                   WHEN 'mixed' THEN CASE WHEN s <= 2 THEN 210 - 10 * s ELSE 15 - s END
                   WHEN 'one-old' THEN 400
                   ELSE 300
               END AS days
        FROM generate_series(1, CASE d.name
                                    WHEN 'many-old' THEN 15
                                    WHEN 'all-recent' THEN 12
                                    WHEN 'mixed' THEN 14
                                    WHEN 'one-old' THEN 1
                                    ELSE 3
                                END) s
    ) v;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_newest_versions_recent_ones_and_always_the_latest() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    env.pool.get().await?.batch_execute(SEED).await?;
    let seeded = versions(&env).await?;
    assert_eq!(
        seeded,
        "all-recent: 1,2,3,4,5,6,7,8,9,10,11,12\n\
         few-old: 1,2,3\n\
         many-old: 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\
         mixed: 1,2,3,4,5,6,7,8,9,10,11,12,13,14\n\
         one-old: 1"
    );

    // Defaults: the 10 newest and everything seen within 90 days stay.
    let dry = json(&env, &["prune", "--dry-run"])?;
    assert_eq!(dry["config_versions_kept"], 10);
    assert_eq!(dry["config_older_than_days"], 90);
    assert_eq!(
        dry["rows"]["device_configs"], 7,
        "many-old's 5 oldest and mixed's 2 oldest"
    );
    assert_eq!(versions(&env).await?, seeded, "a dry run deletes nothing");
    let table = netraven(&env, &["prune", "--dry-run"], 0)?;
    assert!(
        table.contains("device_configs (old versions)")
            && table.contains("newest and older than 90 days"),
        "{table}"
    );

    // In batches of 2: four statements, the same 7 rows.
    let out = run(env
        .command()?
        .env("NETRAVEN__AGGREGATOR__PRUNE_BATCH_SIZE", "2")
        .args(["prune", "--json"]))?;
    anyhow::ensure!(out.status.success(), "{}", text(&out.stderr));
    let done: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(
        done["rows"], dry["rows"],
        "a prune removes what the dry run counted"
    );
    assert_eq!(
        versions(&env).await?,
        "all-recent: 1,2,3,4,5,6,7,8,9,10,11,12\n\
         few-old: 1,2,3\n\
         many-old: 6,7,8,9,10,11,12,13,14,15\n\
         mixed: 3,4,5,6,7,8,9,10,11,12,13,14\n\
         one-old: 1"
    );
    let again = json(&env, &["prune"])?;
    assert_eq!(again["rows"]["device_configs"], 0, "nothing more to prune");

    // Keep one version and 30 days: only versions seen in the last 30 days stay with the
    // latest; all-recent and mixed are all that recent.
    let args = [
        "prune",
        "--keep-config-versions",
        "1",
        "--config-older-than-days",
        "30",
    ];
    let dry = json(&env, &[&args[..], &["--dry-run"]].concat())?;
    assert_eq!(
        dry["rows"]["device_configs"], 11,
        "many-old's 9 and few-old's 2"
    );
    let done = json(&env, &args)?;
    assert_eq!(done["rows"], dry["rows"]);
    assert_eq!(
        versions(&env).await?,
        "all-recent: 1,2,3,4,5,6,7,8,9,10,11,12\n\
         few-old: 3\n\
         many-old: 15\n\
         mixed: 3,4,5,6,7,8,9,10,11,12,13,14\n\
         one-old: 1"
    );

    // However hard it is asked, a prune leaves each device its latest version.
    let done = json(
        &env,
        &[
            "prune",
            "--keep-config-versions",
            "1",
            "--config-older-than-days",
            "0",
        ],
    )?;
    assert_eq!(done["rows"]["device_configs"], 22);
    assert_eq!(
        versions(&env).await?,
        "all-recent: 12\nfew-old: 3\nmany-old: 15\nmixed: 14\none-old: 1"
    );

    // Keeping no version is a usage error; a bad setting names its key.
    let out = run(env
        .command()?
        .args(["prune", "--keep-config-versions", "0"]))?;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--keep-config-versions"));
    let out = run(env
        .command()?
        .env("NETRAVEN__AGGREGATOR__CONFIG_RETENTION_VERSIONS", "0")
        .args(["prune", "--dry-run"]))?;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("aggregator.config_retention_versions") && err.contains("greater than 0"),
        "{err}"
    );
    Ok(())
}
