//! A mixed job read at a glance and as JSON: `job watch/list/results/logs/show`, `credential list`, `device show`.

use super::netraven::{json, names, netraven, run, text, JOB_TIMEOUT};
use netraven_tests::{request, FleetBuilder, TestEnv};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_job_reads_at_a_glance_and_as_json() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    // By i % 10: 0-4 tacacs, 5-6 breakglass, 7 vendor-default, 8 nothing, 9 orphan.
    let fleet = FleetBuilder::scenario("mixed", 20, 11)?.start().await?;
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
    Ok(())
}
