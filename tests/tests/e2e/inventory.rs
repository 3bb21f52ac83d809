//! `netraven inventory import` checks the whole file before it writes anything: every
//! problem listed with its line, exit 10, nothing imported; platforms given by a Netmiko
//! or NAPALM alias stored as the profile's name; `inventory platforms` lists them; a worker
//! backs up a device whose stored platform is an alias.

use netraven_shared::domain::{JobStatus, Outcome};
use netraven_simulator::{DeviceSpec, Platform};
use netraven_tests::{credential, request, FleetBuilder, TestEnv};
use serde_json::Value;
use std::process::Output;
use std::time::Duration;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn import(env: &TestEnv, file: &std::path::Path) -> anyhow::Result<Output> {
    Ok(env
        .command()?
        .args(["inventory", "import"])
        .arg(file)
        .env("NRT_INV_SECRET", "from-the-environment")
        .env_remove("NRT_INV_UNSET")
        .output()?)
}

async fn count(env: &TestEnv, table: &str) -> anyhow::Result<i64> {
    let client = env.pool.get().await?;
    Ok(client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await?
        .get(0))
}

const GOOD: &str = "\
tags:
  - name: core
credentials:
  - name: tacacs
    username: netops
    tags: [core]
    secret_env: NRT_INV_SECRET
devices:
  - name: r1
    host: 10.0.0.1
    port: 22
    platform: cisco_ios
    tags: [core]
";

/// One of each problem, on known lines; `hunter2-inline` must never be printed.
const BAD: &str = "\
tags:
  - name: edge
  - name: edge
credentials:
  - name: tacacs
    username: netops
    tags: [core, cores]
    secret: hunter2-inline
  - name: tacacs
    username: ''
    secret_env: NRT_INV_UNSET
  - name: empty
    username: x
    secret: ''
devices:
  - name: r1
    host: 10.0.0.9
    port: 70000
    platform: cisco_ios
    tags: [edge]
  - name: ''
    host: ''
    platform: cisco_iosxe_turbo
  - name: r1
    host: 10.0.0.3
    platform: Cisco_IOS
    tags: [nowhere]
  - name: r4
    host: 10.0.0.4
    platform: linux
    colour: blue
";

#[tokio::test]
async fn every_problem_is_listed_with_its_line_and_nothing_is_imported() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let dir = tempfile::tempdir()?;
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, GOOD)?;
    let out = import(&env, &good)?;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, BAD)?;
    let out = import(&env, &bad)?;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(10), "{stderr}");
    assert!(
        stderr.contains("has 13 problems; nothing was imported"),
        "{stderr}"
    );
    for expected in [
        "line 3, column 11: tag \"edge\" is declared twice (first on line 2)",
        // `core` is stored by the first import: not a problem; `cores` is nowhere. (A
        // device's undeclared tag, `nowhere` below, is made at import: not a problem.)
        "line 7, column 18: credential \"tacacs\": tag \"cores\" is neither declared",
        "line 9, column 11: credential \"tacacs\" is declared twice (first on line 5)",
        "line 10, column 15: credential \"tacacs\": username is empty",
        "line 11, column 17: credential \"tacacs\": environment variable NRT_INV_UNSET (secret) is not set",
        "line 14, column 13: credential \"empty\": the secret is empty",
        "line 18, column 11: device \"r1\": port 70000 is out of range (1 to 65535)",
        "line 21, column 11: device name is empty",
        "line 22, column 11: device \"\": host is empty",
        "line 23, column 15: device \"\": unknown platform \"cisco_iosxe_turbo\"; known \
         platforms: arista_eos, aruba_aoscx, cisco_asa, cisco_ios, cisco_nxos, cisco_xe, cisco_xr, fortinet, generic, hp_procurve, huawei_vrp, juniper_junos, linux, mikrotik_routeros, paloalto_panos",
        "line 24, column 11: device \"r1\" is declared twice (first on line 16)",
        "line 26, column 15: device \"r1\": unknown platform \"Cisco_IOS\" (did you mean \
         \"cisco_ios\"?)",
        "line 31, column 5: device \"r4\": unknown field \"colour\"",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in\n{stderr}"
        );
    }
    assert!(!stderr.contains("hunter2-inline"), "a secret was printed");
    assert!(
        !text(&out.stdout).contains("imported"),
        "{}",
        text(&out.stdout)
    );

    // Nothing of the bad file is there: the first import's rows are as they were.
    assert_eq!(
        (
            count(&env, "devices").await?,
            count(&env, "credentials").await?,
            count(&env, "tags").await?
        ),
        (1, 1, 1)
    );
    let client = env.pool.get().await?;
    let host: String = client
        .query_one("SELECT host FROM devices WHERE name = 'r1'", &[])
        .await?
        .get(0);
    assert_eq!(host, "10.0.0.1");

    // A file the YAML parser stops on is one problem, with its place.
    std::fs::write(&bad, "devices:\n  - name: r1\n    host: [oops\n")?;
    let out = import(&env, &bad)?;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(10), "{stderr}");
    assert!(stderr.contains("has 1 problem;"), "{stderr}");
    assert!(stderr.contains("not valid YAML"), "{stderr}");
    Ok(())
}

#[tokio::test]
async fn aliases_are_stored_as_the_profile_name_and_unknown_platforms_name_the_known(
) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let dir = tempfile::tempdir()?;
    let profiles = dir.path().join("profiles");
    std::fs::create_dir_all(&profiles)?;
    std::fs::write(
        profiles.join("opengear.toml"),
        "name = \"opengear\"\ntransport = \"exec\"\naliases = [\"opengear_ssh\"]\n\
         [commands]\nconfig_backup = \"config -g config\"\n",
    )?;
    let file = dir.path().join("inv.yaml");
    std::fs::write(
        &file,
        "devices:\n\
         - { name: a, host: 10.0.0.1, platform: cisco_ios_ssh }\n\
         - { name: b, host: 10.0.0.2, platform: cisco_ios_ssh }\n\
         - { name: c, host: 10.0.0.3, platform: juniper }\n\
         - { name: d, host: 10.0.0.4, platform: eos }\n\
         - { name: e, host: 10.0.0.5, platform: opengear_ssh }\n\
         - { name: f, host: 10.0.0.6, platform: linux }\n",
    )?;
    let out = import(&env, &file)?;
    // Without the profiles folder, opengear_ssh is unknown, and the list says what is.
    assert_eq!(out.status.code(), Some(10), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(
            "line 6, column 40: device \"e\": unknown platform \"opengear_ssh\"; known \
             platforms: arista_eos, aruba_aoscx, cisco_asa, cisco_ios, cisco_nxos, cisco_xe, cisco_xr, fortinet, generic, hp_procurve, huawei_vrp, juniper_junos, linux, mikrotik_routeros, paloalto_panos"
        ),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(count(&env, "devices").await?, 0);

    let with_profiles = |cmd: &mut std::process::Command| {
        cmd.env("NETRAVEN__WORKER__PROFILES_DIR", &profiles);
    };
    let mut cmd = env.command()?;
    cmd.args(["inventory", "import"]).arg(&file);
    with_profiles(&mut cmd);
    let out = cmd.output()?;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("imported 6 devices"), "{stdout}");
    assert!(
        stdout.contains(
            "5 device platforms given by alias, stored as the profile's name: \
             cisco_ios_ssh -> cisco_ios (2), eos -> arista_eos (1), juniper -> juniper_junos (1), \
             opengear_ssh -> opengear (1)"
        ),
        "{stdout}"
    );
    let client = env.pool.get().await?;
    let stored: Vec<(String, String)> = client
        .query("SELECT name, platform FROM devices ORDER BY name", &[])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want = [
        ("a", "cisco_ios"),
        ("b", "cisco_ios"),
        ("c", "juniper_junos"),
        ("d", "arista_eos"),
        ("e", "opengear"),
        ("f", "linux"),
    ];
    assert_eq!(
        stored,
        want.map(|(n, p)| (n.to_string(), p.to_string())).to_vec()
    );

    // `inventory platforms --json`: every profile, its aliases and where it came from.
    let mut cmd = env.command()?;
    cmd.args(["inventory", "platforms", "--json"]);
    with_profiles(&mut cmd);
    let out = cmd.output()?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout)?;
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "arista_eos",
            "aruba_aoscx",
            "cisco_asa",
            "cisco_ios",
            "cisco_nxos",
            "cisco_xe",
            "cisco_xr",
            "fortinet",
            "generic",
            "hp_procurve",
            "huawei_vrp",
            "juniper_junos",
            "linux",
            "mikrotik_routeros",
            "opengear",
            "paloalto_panos"
        ]
    );
    let junos = &rows[11];
    assert_eq!(
        junos["aliases"],
        serde_json::json!(["juniper_junos_ssh", "juniper", "juniper_ssh", "junos"])
    );
    assert_eq!(junos["origin"], "built-in");
    assert_eq!(rows[14]["aliases"], serde_json::json!(["opengear_ssh"]));
    assert!(rows[14]["origin"]
        .as_str()
        .is_some_and(|o| o.ends_with("opengear.toml")));
    // The table says the same to a person.
    let mut cmd = env.command()?;
    cmd.args(["inventory", "platforms"]);
    let out = cmd.output()?;
    let table = text(&out.stdout);
    assert!(
        table.contains("cisco_ios_ssh, ios") && !table.contains("opengear"),
        "{table}"
    );
    Ok(())
}

/// A device row that names a platform by alias (stored before imports resolved aliases,
/// or written by another tool) is backed up with the alias's profile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_backs_up_a_device_stored_under_an_alias() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::new(2222)
        .credential(credential("tacacs", "netops", "alias-secret").tags(&["alias"]))
        .devices(["by-alias", "by-name"].map(|name| {
            let mut d = DeviceSpec::new(name, Platform::Linux);
            d.tags = vec!["alias".into()];
            d.accepts = vec![("netops".into(), "alias-secret".into())];
            d
        }))
        .start()
        .await?;
    env.import(&fleet).await?;
    let client = env.pool.get().await?;
    let updated = client
        .execute(
            "UPDATE devices SET platform = 'linux_ssh' WHERE name = 'by-alias'",
            &[],
        )
        .await?;
    assert_eq!(updated, 1);

    let roles = env.start(1);
    let job = env
        .run_job(
            &request("config_backup", &["alias"], &[]),
            Duration::from_secs(45),
        )
        .await?;
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    roles.stop().await?;
    fleet.shutdown().await;
    assert_eq!(results.len(), 2);
    for r in &results {
        assert_eq!(
            r.outcome,
            Outcome::Success,
            "{}: {}",
            r.device_name,
            r.reason
        );
    }
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    Ok(())
}

/// A worker's batch locks the devices whose configuration it stores, then updates its
/// credentials' counters (worker/src/persist/results.rs). An import run meanwhile must wait
/// for the batch, not hold a credential the batch needs while waiting for one of its
/// devices: Postgres would fail one of them as a deadlock, as it once failed an import run
/// mid-job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_waits_for_a_batch_in_flight_instead_of_deadlocking_with_it() -> anyhow::Result<()>
{
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::new(2222)
        .credential(credential("tacacs", "netops", "batch-secret").tags(&["batch"]))
        .devices(["in-batch", "beside"].map(|name| {
            let mut d = DeviceSpec::new(name, Platform::CiscoIos);
            d.tags = vec!["batch".into()];
            d
        }))
        .start()
        .await?;
    env.import(&fleet).await?;

    // The batch, as far as its device locks.
    let mut batch_client = env.pool.get().await?;
    let batch = batch_client.transaction().await?;
    batch
        .execute(
            "SELECT 1 FROM devices WHERE name = 'in-batch' FOR NO KEY UPDATE",
            &[],
        )
        .await?;
    let watcher = env.pool.get().await?;
    let db = env.database_name().to_string();
    let import = env.import(&fleet);
    let rest_of_batch = async {
        // Once the import waits on a lock, the batch goes on to its counters.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let waiting: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity
                     WHERE datname = $1 AND wait_event_type = 'Lock'",
                    &[&db],
                )
                .await?
                .get(0);
            if waiting > 0 {
                break;
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the import never waited for the batch's device lock"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        batch
            .execute(
                "UPDATE credentials SET success_count = success_count + 1 WHERE name = 'tacacs'",
                &[],
            )
            .await?;
        batch.commit().await?;
        anyhow::Ok(())
    };
    let (imported, batched) = tokio::join!(import, rest_of_batch);
    batched.map_err(|e| anyhow::anyhow!("the batch: {e:#}"))?;
    let imported = imported.map_err(|e| anyhow::anyhow!("the import: {e:#}"))?;
    assert_eq!(imported.devices, 2);
    let client = env.pool.get().await?;
    let successes: i64 = client
        .query_one(
            "SELECT success_count FROM credentials WHERE name = 'tacacs'",
            &[],
        )
        .await?
        .get(0);
    assert_eq!(successes, 1, "the batch's counter committed");
    fleet.shutdown().await;
    Ok(())
}
