//! What people and scripts see: `job watch`, `job list/results/logs/show`, `credential
//! list`, `device show` and `prune`, as real `netraven` processes on real services.

use netraven_simulator::{scenario, Fleet, FleetOptions};
use netraven_tests::{request, Roles, TestEnv};
use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    Ok(cmd.stdin(Stdio::null()).output()?)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `netraven ARGS`, insists on exit code `code`, and returns stdout.
fn netraven(env: &TestEnv, args: &[&str], code: i32) -> anyhow::Result<String> {
    let out = run(env.command()?.args(args))?;
    let stdout = text(&out.stdout);
    anyhow::ensure!(
        out.status.code() == Some(code),
        "netraven {args:?} exited {:?}, not {code}\n{stdout}\n{}",
        out.status.code(),
        text(&out.stderr)
    );
    anyhow::ensure!(
        !stdout.contains('\x1b'),
        "colour on a pipe from {args:?}:\n{stdout}"
    );
    eprintln!("$ netraven {}\n{stdout}", args.join(" "));
    Ok(stdout)
}

/// Runs `netraven ARGS --json` (exit 0) and parses what it prints.
fn json(env: &TestEnv, args: &[&str]) -> anyhow::Result<Value> {
    let mut all = args.to_vec();
    all.push("--json");
    let out = netraven(env, &all, 0)?;
    serde_json::from_str(&out).map_err(|e| anyhow::anyhow!("{args:?}: {e}\n{out}"))
}

fn names(v: &Value, field: &str) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x[field].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_job_reads_at_a_glance_and_as_json() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    // By i % 10: 0-4 tacacs, 5-6 breakglass, 7 vendor-default, 8 nothing, 9 orphan.
    let fleet = Fleet::start(scenario("mixed", 20, 11)?, FleetOptions::random_base()).await?;
    env.import(&fleet).await?;
    let roles = env.start(2);
    let partial = env
        .run_job(
            &request("config_backup", &["fleet", "orphan"], &[]),
            JOB_TIMEOUT,
        )
        .await?;
    let id = partial.id.to_string();

    // job watch on a finished partial job: the final table at once, exit code 3.
    let watched = netraven(&env, &["job", "watch", &id], 3)?;
    for want in [
        "COMPLETED_PARTIAL_FAILURE",
        "20 total, 20 reported, 16 succeeded, 2 without credentials",
        "SUCCESS",
        "AUTH_FAILED",
        "NO_CREDENTIALS",
        "80.0%",
    ] {
        assert!(watched.contains(want), "{want} missing:\n{watched}");
    }
    let out = run(env.command()?.args(["job", "watch", &id, "--json"]))?;
    assert_eq!(out.status.code(), Some(3));
    let summary: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(summary["status"], "COMPLETED_PARTIAL_FAILURE");
    assert_eq!(summary["total_devices"], 20);
    assert_eq!(summary["outcomes"]["SUCCESS"], 16);
    assert_eq!(summary["outcomes"]["AUTH_FAILED"], 2);
    assert_eq!(summary["outcomes"]["NO_CREDENTIALS"], 2);

    // job watch follows a job that is still running, and exits 0 on success.
    let ok = request("config_backup", &[], &["dev-00001", "dev-00005"]);
    env.publish(&ok).await?;
    let ok_id = env.job_id(&ok.request_id, JOB_TIMEOUT).await?.to_string();
    let out = run(env
        .command()?
        .args(["job", "watch", &ok_id, "--timeout-secs", "60"]))?;
    assert_eq!(out.status.code(), Some(0));
    let (watched, progress) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(watched.contains("COMPLETED_SUCCESS"), "{watched}");
    // Progress goes to stderr, the final table to stdout.
    assert!(
        progress.contains("2/2 100%"),
        "no progress line:\n{progress}"
    );
    assert!(
        watched.contains("2 total, 2 reported, 2 succeeded"),
        "{watched}"
    );

    // job list: newest first, filtered by status, table and JSON.
    let listed = json(&env, &["job", "list"])?;
    assert_eq!(names(&listed, "id"), vec![ok_id.clone(), id.clone()]);
    assert_eq!(listed[1]["status"], "COMPLETED_PARTIAL_FAILURE");
    assert_eq!(listed[1]["succeeded_devices"], 16);
    let only = json(&env, &["job", "list", "--status", "completed_success"])?;
    assert_eq!(names(&only, "id"), vec![ok_id.clone()]);
    assert_eq!(
        names(&json(&env, &["job", "list", "--limit", "1"])?, "id").len(),
        1
    );
    let table = netraven(&env, &["job", "list"], 0)?;
    assert!(
        table.contains(&id)
            && table.contains("COMPLETED_PARTIAL_FAILURE")
            && table.contains("20/20"),
        "{table}"
    );

    // job results, all and by outcome.
    let all = json(&env, &["job", "results", &id])?;
    assert_eq!(all.as_array().map(Vec::len), Some(20));
    let failed = json(&env, &["job", "results", &id, "--outcome", "AUTH_FAILED"])?;
    assert_eq!(names(&failed, "device_name"), ["dev-00008", "dev-00018"]);
    assert!(failed.as_array().is_some_and(|a| a
        .iter()
        .all(|r| r["attempts"] == 3 && r["credential"].is_null())));
    let two = json(
        &env,
        &[
            "job",
            "results",
            &id,
            "--outcome",
            "auth_failed",
            "--outcome",
            "NO_CREDENTIALS",
        ],
    )?;
    assert_eq!(two.as_array().map(Vec::len), Some(4));
    let table = netraven(&env, &["job", "results", &id, "--outcome", "SUCCESS"], 0)?;
    assert!(
        table.contains("dev-00001") && table.contains("tacacs") && !table.contains("dev-00008"),
        "{table}"
    );
    assert!(table.contains("16 devices"), "{table}");
    let bad = run(env
        .command()?
        .args(["job", "results", &id, "--outcome", "NOPE"]))?;
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("AUTH_FAILED"),
        "the error lists outcomes"
    );

    // job logs: the job's lines with level and data; --device narrows to one device.
    let logs = json(&env, &["job", "logs", &id])?;
    let lines = logs.as_array().cloned().unwrap_or_default();
    assert!(!lines.is_empty(), "a job logs at least its resolution");
    for l in &lines {
        for field in ["id", "at", "level", "device", "message", "data"] {
            assert!(l.get(field).is_some(), "{field} missing from {l}");
        }
    }
    let one = json(&env, &["job", "logs", &id, "--device", "dev-00008"])?;
    assert!(one
        .as_array()
        .is_some_and(|a| a.iter().all(|l| l["device"] == "dev-00008")));
    let table = netraven(&env, &["job", "logs", &id], 0)?;
    assert!(table.contains("LEVEL") && table.contains("INFO"), "{table}");

    // job show keeps its text, and gains JSON.
    let shown = netraven(&env, &["job", "show", &id, "--devices"], 0)?;
    assert!(
        shown.contains("20 total, 20 reported, 16 succeeded, 2 without credentials")
            && shown.contains("dev-00019")
            && shown.contains("NO_CREDENTIALS"),
        "{shown}"
    );
    let shown = json(&env, &["job", "show", &id])?;
    assert_eq!(shown["results"].as_array().map(Vec::len), Some(20));
    assert_eq!(shown["outcomes"]["SUCCESS"], 16);
    let brief = json(&env, &["job", "show", &id, "--summary"])?;
    assert!(brief.get("results").is_none());

    // credential list: the counters as stored, with the rate and last use.
    let creds = json(&env, &["credential", "list"])?;
    assert_eq!(
        names(&creds, "name"),
        ["tacacs", "breakglass", "vendor-default"]
    );
    let client = env.pool.get().await?;
    for c in creds.as_array().cloned().unwrap_or_default() {
        let row = client
            .query_one(
                "SELECT success_count, failure_count, success_rate FROM credentials WHERE name = $1",
                &[&c["name"].as_str()],
            )
            .await?;
        assert_eq!(c["success_count"], row.get::<_, i64>(0));
        assert_eq!(c["failure_count"], row.get::<_, i64>(1));
        assert_eq!(c["attempts"], row.get::<_, i64>(0) + row.get::<_, i64>(1));
        assert_eq!(c["success_rate"].as_f64(), row.get::<_, Option<f64>>(2));
        assert!(c["last_used_at"].is_string() && c["last_success_at"].is_string());
        assert_eq!(c["tags"], serde_json::json!(["fleet"]));
    }
    // 10 devices log in with tacacs, then dev-00001 again; 8 reject it.
    assert_eq!(creds[0]["success_count"], 11);
    assert_eq!(creds[0]["failure_count"], 8);
    assert_eq!(creds[0]["affinity_devices"], 10);
    let table = netraven(&env, &["credential", "list"], 0)?;
    assert!(
        table.contains("tacacs") && table.contains("57.9%") && table.contains("just now"),
        "{table}"
    );

    // device show after two runs: config unchanged, the credential that worked, host key.
    for (device, credential) in [("dev-00001", "tacacs"), ("dev-00005", "breakglass")] {
        let d = json(&env, &["device", "show", device])?;
        let platform: String = client
            .query_one("SELECT platform FROM devices WHERE name = $1", &[&device])
            .await?
            .get(0);
        assert_eq!(d["platform"], platform.as_str());
        assert_eq!(d["affinity"]["credential"], credential);
        assert_eq!(d["last_result"]["outcome"], "SUCCESS");
        assert_eq!(d["last_result"]["job_id"], ok_id.as_str());
        assert_eq!(d["recent"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            d["config"]["versions"], 1,
            "an unchanged config is one version"
        );
        let sha = d["config"]["sha256"].clone();
        assert!(sha.as_str().is_some_and(|s| s.len() == 64));
        assert_eq!(d["recent"][0]["config_sha256"], sha);
        assert_eq!(d["recent"][1]["config_sha256"], sha);
        assert!(d["host_key"]["fingerprint"].is_string());
        assert_eq!(
            d["tags"],
            serde_json::json!([
                "fleet",
                format!("site-{}", &device[8..].parse::<usize>()? % 4)
            ])
        );
        // It changed when first seen, in the first job.
        assert_eq!(d["config"]["first_job_id"], id.as_str());
        let shown = netraven(&env, &["device", "show", device], 0)?;
        assert!(
            shown.contains(credential)
                && shown.contains(&format!("sha256:{}", sha.as_str().unwrap_or_default()))
                && shown.contains("SUCCESS")
                && shown.contains("1 version stored"),
            "{shown}"
        );
    }
    let orphan = json(&env, &["device", "show", "dev-00009"])?;
    assert_eq!(orphan["last_result"]["outcome"], "NO_CREDENTIALS");
    assert!(orphan["affinity"].is_null() && orphan["config"].is_null());
    let missing = run(env.command()?.args(["device", "show", "no-such-device"]))?;
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("no device named \"no-such-device\""),
        "{}",
        text(&missing.stderr)
    );
    let missing = run(env
        .command()?
        .args(["job", "watch", &uuid::Uuid::nil().to_string()]))?;
    assert_eq!(missing.status.code(), Some(1));

    roles.stop().await?;
    fleet.shutdown().await;
    env.teardown().await
}

async fn count(env: &TestEnv, sql: &str) -> anyhow::Result<i64> {
    Ok(env.pool.get().await?.query_one(sql, &[]).await?.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_removes_old_rows_but_keeps_open_jobs_and_latest_configs() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = Fleet::start(scenario("all-good", 3, 5)?, FleetOptions::random_base()).await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let old = env
        .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;
    let later = env
        .run_job(&request("config_backup", &["fleet"], &[]), JOB_TIMEOUT)
        .await?;
    roles.stop().await?;

    let client = env.pool.get().await?;
    // The first job and everything of it are 100 days old.
    client
        .execute(
            "UPDATE jobs SET created_at = now() - interval '100 days' WHERE id = $1",
            &[&old.id],
        )
        .await?;
    client
        .execute(
            "UPDATE job_logs SET created_at = now() - interval '100 days' WHERE job_id = $1",
            &[&old.id],
        )
        .await?;
    client
        .execute(
            "UPDATE credential_attempts SET attempted_at = now() - interval '100 days' WHERE job_id = $1",
            &[&old.id],
        )
        .await?;
    // A job that is still running, just as old, with a log line and a result.
    client
        .batch_execute(
            "INSERT INTO jobs (id, request_id, job_type, request, status, total_devices,
                               created_at, started_at, deadline_at)
             VALUES ('00000000-0000-0000-0000-00000000beef', 'still-running', 'config_backup',
                     '{}', 'RUNNING', 3, now() - interval '100 days',
                     now() - interval '100 days', now() + interval '1 hour');
             INSERT INTO job_logs (job_id, level, message, created_at)
             VALUES ('00000000-0000-0000-0000-00000000beef', 'INFO', 'old but open',
                     now() - interval '100 days');
             INSERT INTO job_results (job_id, device_id, device_name, outcome)
             SELECT '00000000-0000-0000-0000-00000000beef', id, name, 'SUCCESS'
             FROM devices WHERE name = 'dev-00001';
             -- dev-00001 had another configuration long ago: superseded, so it goes.
             INSERT INTO device_configs (device_id, sha256, content, size_bytes,
                                         first_seen_at, last_seen_at)
             SELECT id, repeat('0', 64), 'hostname old', 12, now() - interval '200 days',
                    now() - interval '150 days'
             FROM devices WHERE name = 'dev-00001';
             -- dev-00002's only configuration is old too: the latest is always kept.
             UPDATE device_configs SET first_seen_at = now() - interval '120 days',
                                       last_seen_at = now() - interval '100 days'
             WHERE device_id = (SELECT id FROM devices WHERE name = 'dev-00002');",
        )
        .await?;
    let rows_of_old = "SELECT (SELECT count(*) FROM job_results WHERE job_id = '{old}')
        + (SELECT count(*) FROM job_logs WHERE job_id = '{old}')
        + (SELECT count(*) FROM credential_attempts WHERE job_id = '{old}')
        + (SELECT count(*) FROM jobs WHERE id = '{old}')"
        .replace("{old}", &old.id.to_string());
    let before = count(&env, &rows_of_old).await?;
    // 3 results, 3 login attempts, the job, and its log lines.
    assert!(before >= 7, "the old job has rows: {before}");

    // A dry run counts and deletes nothing.
    let dry = json(&env, &["prune", "--dry-run"])?;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["older_than_days"], 90, "the default retention");
    assert_eq!(dry["rows"]["jobs"], 1);
    assert_eq!(dry["rows"]["job_results"], 3);
    assert_eq!(dry["rows"]["credential_attempts"], 3);
    assert_eq!(dry["rows"]["device_configs"], 1);
    assert_eq!(count(&env, &rows_of_old).await?, before);

    let table = netraven(&env, &["prune", "--dry-run"], 0)?;
    assert!(
        table.contains("WOULD PRUNE") && table.contains("job_results"),
        "{table}"
    );

    let done = json(&env, &["prune"])?;
    assert_eq!(
        done["rows"], dry["rows"],
        "a prune removes what the dry run counted"
    );
    assert_eq!(
        count(&env, &rows_of_old).await?,
        0,
        "every row of the old job is gone"
    );
    let beef = "'00000000-0000-0000-0000-00000000beef'";
    assert_eq!(
        count(
            &env,
            &format!("SELECT count(*) FROM jobs WHERE id = {beef} AND status = 'RUNNING'")
        )
        .await?,
        1,
        "a running job is never pruned"
    );
    assert_eq!(
        count(
            &env,
            &format!("SELECT count(*) FROM job_logs WHERE job_id = {beef}")
        )
        .await?
            + count(
                &env,
                &format!("SELECT count(*) FROM job_results WHERE job_id = {beef}")
            )
            .await?,
        2,
        "nor its logs and results"
    );
    assert_eq!(
        count(
            &env,
            &format!("SELECT count(*) FROM jobs WHERE id = '{}'", later.id)
        )
        .await?,
        1,
        "a recent job stays"
    );
    assert_eq!(
        count(&env, "SELECT count(*) FROM device_configs").await?,
        3,
        "each device keeps its latest config"
    );
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM device_configs WHERE sha256 = repeat('0', 64)"
        )
        .await?,
        0,
        "the superseded config went"
    );
    // The device still shows its config and when it changed.
    let d = json(&env, &["device", "show", "dev-00002"])?;
    assert!(d["config"]["sha256"].is_string());

    let again = json(&env, &["prune", "--older-than-days", "30"])?;
    assert_eq!(again["rows"]["jobs"], 0, "nothing more is that old");

    // The aggregator prunes by itself every prune_interval_ms.
    client
        .execute(
            "UPDATE jobs SET created_at = now() - interval '100 days' WHERE id = $1",
            &[&later.id],
        )
        .await?;
    let mut settings = env.settings.clone();
    settings.aggregator.prune_interval_ms = 100;
    let roles = Roles::start_without_workers(&settings);
    let until = Instant::now() + Duration::from_secs(20);
    let left = format!(
        "SELECT count(*) FROM job_results WHERE job_id = '{}'",
        later.id
    );
    while count(&env, &left).await? > 0 {
        anyhow::ensure!(Instant::now() < until, "the aggregator did not prune");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while count(
        &env,
        &format!("SELECT count(*) FROM jobs WHERE id = '{}'", later.id),
    )
    .await?
        > 0
    {
        anyhow::ensure!(
            Instant::now() < until,
            "the aggregator did not prune the job"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    roles.stop().await?;
    assert_eq!(
        count(
            &env,
            &format!("SELECT count(*) FROM jobs WHERE id = {beef}")
        )
        .await?,
        1,
        "the aggregator leaves open jobs alone too"
    );
    fleet.shutdown().await;
    env.teardown().await
}
