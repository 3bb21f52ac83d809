//! Schedules over HTTP by the rules of `netraven schedule`: added, listed, shown, changed,
//! paused, resumed and removed with an admin token; refused to a read token; an invalid
//! one refused whole (422) and a taken name a conflict (409).

use super::{start, token};
use netraven_api::auth::Scope;
use netraven_tests::TestEnv;
use serde_json::json;

#[tokio::test]
async fn schedules_change_over_http_as_the_cli_changes_them() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let api = start(&env).await?;
    let admin = api.http(Some(&token(&env, "ops", Scope::Admin, "ops").await?));
    let reader = api.http(Some(&token(&env, "noc", Scope::Read, "noc").await?));
    let nightly = json!({"name": "nightly", "cron": "0 2 * * *", "time_zone": "Europe/Paris",
                         "job_type": "config_backup", "targets": {"tags": ["core"]}});

    reader.post("/api/schedules", &nightly).await?.problem(403);
    let added = admin.post("/api/schedules", &nightly).await?;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.header("location"), Some("/api/schedules/nightly"));
    let body = added.json();
    assert_eq!(body["paused"], false, "{body}");
    assert!(body["next_tick_at"].is_string(), "{body}");
    admin.post("/api/schedules", &nightly).await?.problem(409);
    let mut bad = nightly.clone();
    bad["name"] = json!("bad");
    bad["cron"] = json!("61 * * * *");
    let p = admin.post("/api/schedules", &bad).await?.problem(422);
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("cron")),
        "{p}"
    );
    bad["cron"] = json!("0 2 * * *");
    bad["bogus"] = json!(1);
    admin.post("/api/schedules", &bad).await?.problem(422);

    let listed = reader.get("/api/schedules").await?.json();
    let names = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(names(&listed), ["nightly"], "{listed}");
    assert!(listed.get("next_cursor").is_none(), "{listed}");
    // A page at a time, by name.
    let mut weekly = nightly.clone();
    weekly["name"] = json!("weekly");
    weekly["cron"] = json!("0 3 * * 0");
    let added = admin.post("/api/schedules", &weekly).await?;
    assert_eq!(added.status, 201, "{}", added.text);
    let first = reader.get("/api/schedules?limit=1").await?.json();
    assert_eq!(names(&first), ["nightly"], "{first}");
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = reader
        .get(&format!("/api/schedules?limit=1&cursor={cursor}"))
        .await?
        .json();
    assert_eq!(names(&second), ["weekly"], "{second}");
    assert!(second.get("next_cursor").is_none(), "{second}");
    reader.get("/api/schedules?cursor=nope").await?.problem(400);
    let removed = admin.delete("/api/schedules/weekly").await?;
    assert_eq!(removed.status, 200, "{}", removed.text);
    let shown = reader.get("/api/schedules/nightly?runs=5").await?.json();
    assert_eq!(shown["time_zone"], "Europe/Paris", "{shown}");
    assert!(
        shown["runs"].is_array() && shown["next_due_at"].is_string(),
        "{shown}"
    );
    reader.get("/api/schedules/nope").await?.problem(404);

    // PUT is `schedule apply` of one: a new description keeps the next tick.
    let mut changed = nightly.clone();
    changed["description"] = json!("every night");
    let updated = admin.put("/api/schedules/nightly", &changed).await?;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(
        updated.json()["action"]["updated"]["changed"],
        json!(["description"])
    );
    assert_eq!(updated.json()["retick"], false);
    assert_eq!(
        admin.put("/api/schedules/nightly", &changed).await?.json()["action"],
        "unchanged"
    );
    admin
        .put("/api/schedules/other", &changed)
        .await?
        .problem(422);
    let mut weekly = nightly.clone();
    weekly["name"] = json!("weekly");
    assert_eq!(
        admin.put("/api/schedules/weekly", &weekly).await?.status,
        201
    );

    reader
        .post("/api/schedules/nightly/pause", &json!({}))
        .await?
        .problem(403);
    let paused = admin
        .post("/api/schedules/nightly/pause", &json!({}))
        .await?
        .json();
    assert_eq!(
        (&paused["paused"], &paused["changed"]),
        (&json!(true), &json!(true))
    );
    let again = admin
        .post("/api/schedules/nightly/pause", &json!({}))
        .await?
        .json();
    assert_eq!(again["changed"], false, "{again}");
    let resumed = admin
        .post("/api/schedules/nightly/resume", &json!({}))
        .await?
        .json();
    assert_eq!(resumed["paused"], false, "{resumed}");
    assert!(resumed["next_tick_at"].is_string(), "{resumed}");
    admin
        .post("/api/schedules/nope/pause", &json!({}))
        .await?
        .problem(404);

    let removed = admin.delete("/api/schedules/nightly").await?;
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.json()["runs_removed"], 0);
    admin.delete("/api/schedules/nightly").await?.problem(404);
    let left: i64 = env
        .pool
        .get()
        .await?
        .query_one("SELECT count(*) FROM schedules", &[])
        .await?
        .get(0);
    assert_eq!(left, 1, "weekly stays");
    Ok(())
}
