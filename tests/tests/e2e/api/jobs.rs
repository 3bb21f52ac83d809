//! Jobs through the API go the dispatchers' way, as the token's submitter: one runs to its
//! final status on simulated devices, one the submitter's policy refuses (403, recorded
//! `FAILED_NOT_PERMITTED`), a cancel of another's job is refused. Then every job read. A
//! job on a slow fleet is cancelled mid-way over HTTP and ends `CANCELLED`, its log read
//! back line by line.

use super::{start, token};
use netraven_api::auth::Scope;
use netraven_shared::broker;
use netraven_tests::{FleetBuilder, Roles, TestEnv};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_job_submitted_over_http_runs_under_its_submitters_rules() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;
    // The test's broker user is the api role's account, trusted to name submitters.
    env.settings.dispatcher.gateways = vec![broker::user(&env.settings.amqp)?];
    let fleet = FleetBuilder::scenario("all-good", 3, 24)?.start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, 1);
    let api = start(&env).await?;
    let noc = api.http(Some(&token(&env, "noc", Scope::Submit, "noc").await?));

    let answer = noc
        .post(
            "/api/jobs",
            &json!({"request_id": "api-1", "job_type": "config_backup",
                    "targets": {"tags": ["fleet"]}}),
        )
        .await?;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let id = answer.json()["job_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        answer.header("location"),
        Some(format!("/api/jobs/{id}").as_str())
    );
    let job = env.wait_final(id.parse()?, Duration::from_secs(60)).await?;
    assert_eq!(job.counts.status.as_str(), "COMPLETED_SUCCESS");
    let client = env.pool.get().await?;
    let by: Option<String> = client
        .query_one("SELECT submitted_by FROM jobs WHERE id = $1", &[&job.id])
        .await?
        .get(0);
    assert_eq!(
        by.as_deref(),
        Some("noc"),
        "recorded as the token's submitter"
    );

    // The default permissions do not run commands: refused, recorded, no task sent.
    let p = noc
        .post(
            "/api/jobs",
            &json!({"job_type": "command", "commands": ["show version"],
                    "targets": {"tags": ["fleet"]}}),
        )
        .await?
        .problem(403);
    assert!(p["job_id"].is_string(), "{p}");
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("command")),
        "{p}"
    );

    // A body that is not JSON, or not a job: problems, no job.
    let bad = noc
        .send(
            "POST",
            "/api/jobs",
            Some("{not json"),
            Some("application/json"),
        )
        .await?;
    bad.problem(400);
    noc.post(
        "/api/jobs",
        &json!({"job_type": "config_backup", "bogus": 1}),
    )
    .await?
    .problem(422);

    // Reads of the job: show, results (paged), logs.
    let shown = noc.get(&format!("/api/jobs/{id}")).await?.json();
    assert_eq!(shown["status"], "COMPLETED_SUCCESS");
    assert_eq!(shown["outcomes"]["SUCCESS"], 3);
    let first = noc
        .get(&format!("/api/jobs/{id}/results?limit=2"))
        .await?
        .json();
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
    let cursor = first["next_cursor"].as_str().unwrap_or_default();
    let second = noc
        .get(&format!("/api/jobs/{id}/results?limit=2&cursor={cursor}"))
        .await?
        .json();
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert!(second["next_cursor"].is_null(), "{second}");
    assert_ne!(
        first["items"][1]["device_name"],
        second["items"][0]["device_name"]
    );
    let failed = noc
        .get(&format!("/api/jobs/{id}/results?outcome=TIMEOUT"))
        .await?
        .json();
    assert_eq!(failed["items"], json!([]));
    noc.get(&format!("/api/jobs/{id}/results?outcome=NOPE"))
        .await?
        .problem(400);
    let logs = noc.get(&format!("/api/jobs/{id}/logs")).await?;
    assert_eq!(logs.status, 200, "{}", logs.text);
    let listed = noc
        .get("/api/jobs?submitter=noc&status=COMPLETED_SUCCESS")
        .await?
        .json();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    noc.get("/api/jobs?status=WHATEVER").await?.problem(400);
    noc.get("/api/jobs/not-a-uuid").await?.problem(400);
    noc.get(&format!("/api/jobs/{}", uuid::Uuid::new_v4()))
        .await?
        .problem(404);

    // Cancel: a final job is a conflict; another submitter's job is not theirs to cancel.
    noc.post(
        &format!("/api/jobs/{id}/cancel"),
        &json!({"reason": "late"}),
    )
    .await?
    .problem(409);
    let eve = api.http(Some(&token(&env, "eve", Scope::Submit, "eve").await?));
    let p = eve
        .post(&format!("/api/jobs/{id}/cancel"), &json!({}))
        .await?
        .problem(403);
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("noc")),
        "{p}"
    );
    roles.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_is_cancelled_over_http_and_its_log_read() -> anyhow::Result<()> {
    const DEVICES: usize = 6;
    let mut env = TestEnv::new().await?;
    env.settings.dispatcher.gateways = vec![broker::user(&env.settings.amqp)?];
    // One worker, one device at a time in either lane, every login 1.5 s: the job is still
    // running well after its first device is recorded.
    env.settings.worker.max_in_flight = 1;
    env.settings.worker.interactive_in_flight = 1;
    let fleet = FleetBuilder::slow_logins(DEVICES, 26)?.start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, 1);
    let api = start(&env).await?;
    let noc = api.http(Some(&token(&env, "noc", Scope::Submit, "noc").await?));

    let accepted = noc
        .post(
            "/api/jobs",
            &json!({"job_type": "config_backup", "targets": {"tags": ["fleet"]}}),
        )
        .await?;
    assert_eq!(accepted.status, 202, "{}", accepted.text);
    let id = accepted.json()["job_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let until = Instant::now() + Duration::from_secs(60);
    let first = loop {
        let job = noc.get(&format!("/api/jobs/{id}")).await?.json();
        assert!(
            job["status"] == "PENDING" || job["status"] == "RUNNING",
            "the job ended before the cancel: {job}"
        );
        if job["completed_devices"].as_i64() >= Some(1) {
            break job;
        }
        anyhow::ensure!(Instant::now() < until, "no device recorded: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        first["completed_devices"].as_i64() < Some(DEVICES as i64),
        "{first}"
    );

    // A cancel body that is not JSON, or not a cancel: problems, and the job runs on.
    noc.send(
        "POST",
        &format!("/api/jobs/{id}/cancel"),
        Some("{not json"),
        Some("application/json"),
    )
    .await?
    .problem(400);
    noc.post(&format!("/api/jobs/{id}/cancel"), &json!({"reason": 5}))
        .await?
        .problem(422);
    let job = noc.get(&format!("/api/jobs/{id}")).await?.json();
    assert_eq!(job["status"], "RUNNING", "{job}");

    let cancelled = noc
        .post(
            &format!("/api/jobs/{id}/cancel"),
            &json!({"reason": "wrong tag"}),
        )
        .await?;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    let reply = cancelled.json();
    assert_eq!(
        (&reply["answer"], &reply["job_id"], &reply["status"]),
        (&json!("cancelled"), &json!(id), &json!("RUNNING")),
        "{reply}"
    );
    let job = env.wait_final(id.parse()?, Duration::from_secs(60)).await?;
    assert_eq!(job.counts.status.as_str(), "CANCELLED");
    let shown = noc.get(&format!("/api/jobs/{id}")).await?.json();
    assert_eq!(shown["status"], "CANCELLED", "{shown}");
    assert_eq!(shown["completed_devices"], DEVICES, "{shown}");
    assert_eq!(
        (&shown["cancel"]["cancelled_by"], &shown["cancel"]["reason"]),
        (&json!("noc"), &json!("wrong tag")),
        "{shown}"
    );
    assert!(shown["cancel"]["requested_at"].is_string(), "{shown}");
    let listed = noc.get("/api/jobs?limit=1").await?.json();
    assert_eq!(listed["items"][0]["cancel"], shown["cancel"], "{listed}");
    assert!(
        shown["outcomes"]["CANCELLED"].as_i64() >= Some(1),
        "devices not started are skipped: {shown}"
    );
    roles.stop().await?;

    // The log: the cancel, for the whole job and by whom; a line per device recorded,
    // naming it, with its outcome.
    let logs = noc.get(&format!("/api/jobs/{id}/logs")).await?;
    assert_eq!(logs.status, 200, "{}", logs.text);
    let lines = logs.json()["items"].as_array().cloned().unwrap_or_default();
    let cancel = lines
        .iter()
        .find(|l| l["message"] == "job cancelled by noc")
        .unwrap_or_else(|| panic!("no cancel line in {}", logs.text));
    assert_eq!(cancel["level"], "WARN", "{cancel}");
    assert!(cancel["device"].is_null(), "{cancel}");
    assert_eq!(cancel["data"]["reason"], "wrong tag", "{cancel}");
    assert!(
        cancel["at"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()),
        "{cancel}"
    );
    let names: Vec<String> = fleet.devices().iter().map(|d| d.name.clone()).collect();
    let success = lines
        .iter()
        .find(|l| l["data"]["outcome"] == "SUCCESS")
        .unwrap_or_else(|| panic!("no device line in {}", logs.text));
    let device = success["device"].as_str().unwrap_or_default();
    assert!(names.iter().any(|n| n == device), "{success}");
    assert!(
        success["message"]
            .as_str()
            .is_some_and(|m| m.starts_with(&format!("{device}: SUCCESS"))),
        "{success}"
    );
    assert_eq!(success["level"], "INFO", "{success}");
    // In order, and one device's alone when asked.
    let ids: Vec<i64> = lines.iter().filter_map(|l| l["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let own = noc
        .get(&format!("/api/jobs/{id}/logs?device={device}"))
        .await?
        .json();
    let own = own["items"].as_array().cloned().unwrap_or_default();
    assert!(
        !own.is_empty() && own.iter().all(|l| l["device"] == device),
        "{own:?}"
    );
    fleet.shutdown().await;
    Ok(())
}
