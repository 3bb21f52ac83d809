//! `netraven token create|list|revoke` as an operator runs them, against the api role: the
//! token printed once and only to stdout, listed by its prefix and never whole, refused by
//! the api from the moment it is revoked.

use super::process::{run, text};
use crate::api;
use netraven_tests::TestEnv;

#[tokio::test]
async fn a_token_made_by_the_cli_is_shown_once_listed_by_prefix_and_revoked() -> anyhow::Result<()>
{
    let env = TestEnv::new().await?;
    let api = api::start(&env).await?;
    let token = |args: &[&str]| run(env.command()?.arg("token").args(args));

    let made = token(&[
        "create",
        "ops-grafana",
        "--scope",
        "read",
        "--expires",
        "30d",
    ])?;
    assert!(made.status.success(), "{}", text(&made.stderr));
    let secret = text(&made.stdout).trim().to_string();
    assert!(
        secret.starts_with("nrv_") && !secret.contains(char::is_whitespace),
        "stdout holds the token and nothing else: {secret:?}"
    );
    let note = text(&made.stderr);
    assert!(
        note.contains("shown once")
            && note.contains("token:ops-grafana")
            && !note.contains(&secret),
        "{note}"
    );
    // The name is taken, even by a different scope; nothing new is printed.
    let again = token(&["create", "ops-grafana", "--scope", "admin"])?;
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("exists"),
        "{}",
        text(&again.stderr)
    );
    assert!(text(&again.stdout).is_empty());

    // It works, with the scope it was given.
    let reader = api.http(Some(&secret));
    assert_eq!(reader.get("/api/jobs").await?.status, 200);
    reader
        .post(
            "/api/jobs",
            &serde_json::json!({"job_type": "config_backup", "targets": {"tags": ["x"]}}),
        )
        .await?
        .problem(403);

    // Listed by prefix: the secret appears in neither the table nor the JSON.
    let table = token(&["list"])?;
    assert!(table.status.success(), "{}", text(&table.stderr));
    let listed = token(&["list", "--json"])?;
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    for out in [&table, &listed] {
        assert!(
            !text(&out.stdout).contains(&secret),
            "{}",
            text(&out.stdout)
        );
    }
    let rows: serde_json::Value = serde_json::from_slice(&listed.stdout)?;
    let row = rows
        .as_array()
        .and_then(|r| r.iter().find(|t| t["name"] == "ops-grafana"))
        .ok_or_else(|| anyhow::anyhow!("ops-grafana not listed: {rows}"))?;
    let prefix = row["prefix"].as_str().unwrap_or_default();
    assert!(
        prefix.len() >= 8 && prefix.len() < secret.len() && secret.starts_with(prefix),
        "{row}"
    );
    assert_eq!(row["scope"], "read");
    assert_eq!(row["submitter"], "token:ops-grafana");
    assert!(
        row["expires_at"].is_string() && row["revoked_at"].is_null(),
        "{row}"
    );
    assert!(
        row["last_used_at"].is_string(),
        "the api recorded its use: {row}"
    );

    // Revoked: refused at once; revoking it twice is an error that says so.
    let revoked = token(&["revoke", "ops-grafana"])?;
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let p = reader.get("/api/jobs").await?.problem(401);
    assert_eq!(p["detail"], "the token is not valid");
    let twice = token(&["revoke", "ops-grafana"])?;
    assert!(!twice.status.success());
    assert!(
        text(&twice.stderr).contains("revoked already"),
        "{}",
        text(&twice.stderr)
    );
    let listed = token(&["list", "--json"])?;
    let rows: serde_json::Value = serde_json::from_slice(&listed.stdout)?;
    assert!(
        rows.as_array()
            .and_then(|r| r.iter().find(|t| t["name"] == "ops-grafana"))
            .is_some_and(|t| t["revoked_at"].is_string()),
        "{rows}"
    );
    Ok(())
}
