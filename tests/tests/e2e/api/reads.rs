//! Devices, their configuration history and diff, and credentials over HTTP, paged; and
//! nothing a credential holds beyond its counters.

use super::{start, token};
use netraven_api::auth::Scope;
use netraven_tests::{FleetBuilder, Roles, TestEnv};
use std::time::Duration;

#[tokio::test]
async fn devices_history_and_credentials_read_as_the_cli_reads_them() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", 3, 25)?.start().await?;
    env.import(&fleet).await?;
    let roles = Roles::start(&env.settings, 1);
    // Three runs: three outcomes in every device's history.
    let mut jobs = Vec::new();
    for _ in 0..3 {
        let request = netraven_tests::request("config_backup", &["fleet"], &[]);
        jobs.push(env.run_job(&request, Duration::from_secs(60)).await?.id);
    }
    roles.stop().await?;
    let api = start(&env).await?;
    let http = api.http(Some(&token(&env, "ops", Scope::Read, "ops").await?));

    let first = http.get("/api/devices?limit=2").await?.json();
    let names: Vec<&str> = first["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names.len(), 2, "{first}");
    let cursor = first["next_cursor"].as_str().unwrap_or_default();
    let rest = http
        .get(&format!("/api/devices?limit=2&cursor={cursor}"))
        .await?
        .json();
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1), "{rest}");
    http.get("/api/devices?cursor=garbage").await?.problem(400);
    http.get("/api/devices?limit=100000").await?.problem(400);
    http.get("/api/devices?bogus=1").await?.problem(400);

    let device = names[0];
    let shown = http.get(&format!("/api/devices/{device}")).await?.json();
    assert_eq!(shown["name"], device, "{shown}");
    http.get("/api/devices/no-such-device").await?.problem(404);
    assert_eq!(shown["recent"].as_array().map(Vec::len), Some(3), "{shown}");

    // The whole outcome history, newest first, a page at a time.
    let results = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["job_id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let newest = http
        .get(&format!("/api/devices/{device}/results?limit=2"))
        .await?
        .json();
    let cursor = newest["next_cursor"].as_str().unwrap_or_default();
    let oldest = http
        .get(&format!(
            "/api/devices/{device}/results?limit=2&cursor={cursor}"
        ))
        .await?
        .json();
    assert!(oldest.get("next_cursor").is_none(), "{oldest}");
    let mut history = results(&newest);
    history.extend(results(&oldest));
    let expected: Vec<String> = jobs.iter().rev().map(ToString::to_string).collect();
    assert_eq!(history, expected, "{newest} {oldest}");
    assert_eq!(newest["items"][0]["outcome"], "SUCCESS", "{newest}");
    http.get(&format!("/api/devices/{device}/results?cursor=garbage"))
        .await?
        .problem(400);
    http.get("/api/devices/no-such-device/results")
        .await?
        .problem(404);
    let versions = http
        .get(&format!("/api/devices/{device}/configs"))
        .await?
        .json();
    assert_eq!(
        versions["versions"].as_array().map(Vec::len),
        Some(1),
        "{versions}"
    );
    let latest = http
        .get(&format!("/api/devices/{device}/configs/latest"))
        .await?
        .json();
    assert!(
        latest["content"].as_str().is_some_and(|c| !c.is_empty()),
        "{latest}"
    );
    http.get(&format!("/api/devices/{device}/configs/7"))
        .await?
        .problem(404);
    http.get(&format!("/api/devices/{device}/configs/0"))
        .await?
        .problem(400);
    // One version: nothing to diff against.
    http.get(&format!("/api/devices/{device}/diff"))
        .await?
        .problem(404);
    let same = http
        .get(&format!("/api/devices/{device}/diff?from=1&to=latest"))
        .await?
        .json();
    assert_eq!(same["hunks"], serde_json::json!([]), "{same}");

    let creds = http.get("/api/credentials").await?;
    assert_eq!(creds.status, 200, "{}", creds.text);
    assert!(creds.json().as_array().is_some_and(|a| !a.is_empty()));
    for field in ["sealed", "secret_refs", "nrv1:"] {
        assert!(!creds.text.contains(field), "{field} in {}", creds.text);
    }
    http.get("/api/nothing-here").await?.problem(404);
    Ok(())
}
