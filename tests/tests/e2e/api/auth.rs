//! No endpoint answers without a valid token but health; scopes are enforced; a revoked or
//! expired token is refused; refusals are problem details that name no secret. `/healthz`
//! answers at once, `/readyz` only once Postgres and RabbitMQ are reached, and says which
//! is missing until then.

use super::{start, token};
use netraven_api::auth::Scope;
use netraven_tests::TestEnv;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn only_health_answers_without_a_valid_token_of_the_scope_asked() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let api = start(&env).await?;
    let anonymous = api.http(None);
    assert_eq!(anonymous.get("/healthz").await?.status, 200);
    // The metrics are on the metrics port, as on every role, not on the port an ingress
    // exposes.
    anonymous.get("/metrics").await?.problem(404);
    // A method a path does not take is a problem too, and says which it takes.
    let wrong = anonymous.send("DELETE", "/api/devices", None, None).await?;
    assert_eq!(
        wrong.header("allow"),
        Some("GET,HEAD"),
        "{:?}",
        wrong.headers
    );
    let p = wrong.problem(405);
    assert_eq!(p["instance"], "/api/devices", "{p}");
    assert_eq!(api.metrics().get("/metrics").await?.status, 200);
    assert_eq!(api.metrics().get("/healthz").await?.status, 200);
    for path in [
        "/api/jobs",
        "/api/devices",
        "/api/credentials",
        "/api/openapi.json",
    ] {
        let p = anonymous.get(path).await?.problem(401);
        assert!(
            p["detail"].as_str().is_some_and(|d| d.contains("Bearer")),
            "{p}"
        );
    }

    let read = token(&env, "reader", Scope::Read, "reader").await?;
    assert_eq!(api.http(Some(&read)).get("/api/jobs").await?.status, 200);
    // Read may not submit: 403, and no job exists.
    let p = api
        .http(Some(&read))
        .post(
            "/api/jobs",
            &json!({"job_type": "config_backup", "targets": {"tags": ["x"]}}),
        )
        .await?
        .problem(403);
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("submit")),
        "{p}"
    );

    // Revoked: refused from the next request, like an unknown one.
    let revoked = token(&env, "gone", Scope::Admin, "gone").await?;
    let client = env.pool.get().await?;
    assert!(netraven_api::auth::store::revoke(&client, "gone").await?);
    let p = api
        .http(Some(&revoked))
        .get("/api/jobs")
        .await?
        .problem(401);
    assert_eq!(p["detail"], "the token is not valid");
    let forged = format!("nrv_{}", "A".repeat(43));
    api.http(Some(&forged)).get("/api/jobs").await?.problem(401);

    // Expired.
    let old = token(&env, "old", Scope::Read, "old").await?;
    client
        .execute(
            "UPDATE api_tokens SET expires_at = now() - interval '1 s' WHERE name = 'old'",
            &[],
        )
        .await?;
    let p = api.http(Some(&old)).get("/api/jobs").await?.problem(401);
    assert_eq!(p["detail"], "the token has expired");

    // Only the hash is stored, and last use is recorded.
    let stored: Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> = client
        .query(
            "SELECT prefix, last_used_at FROM api_tokens WHERE name = 'reader'",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(read.starts_with(&stored[0].0) && stored[0].0.len() < read.len());
    assert!(stored[0].1.is_some());
    let dump = env.dump_database().await?;
    for secret in [&read, &revoked, &old] {
        assert!(
            !dump.contains(secret.as_str()),
            "a token is stored in clear"
        );
    }

    // The refusals are counted by reason, the requests by route template.
    let text = api.metrics().get("/metrics").await?.text;
    assert!(
        text.contains("netraven_api_auth_failures_total{reason=\"revoked\"}"),
        "{text}"
    );
    assert!(
        text.contains(
            "netraven_http_requests_total{method=\"GET\",route=\"/api/jobs\",status=\"401\"}"
        ),
        "{text}"
    );
    // A method a client invents, of any length, is one label: a series per name would be
    // kept for the process's life, with no token asked.
    let invented = format!("X{}", "A".repeat(4_000));
    let answer = anonymous.send(&invented, "/api/jobs", None, None).await?;
    assert!(answer.status >= 400, "{}", answer.status);
    let text = api.metrics().get("/metrics").await?.text;
    assert!(!text.contains("XAAAA"), "the invented method is a label");
    assert!(
        text.contains("netraven_http_requests_total{method=\"other\""),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn readyz_answers_200_once_the_role_reaches_its_services() -> anyhow::Result<()> {
    let mut env = TestEnv::new().await?;

    // A broker that is not there: alive, never ready, and saying why.
    let amqp = env.settings.amqp.clone();
    env.settings.amqp.url = "amqp://nobody:nothing@127.0.0.1:1/%2f".into();
    env.settings.amqp.urls.clear();
    let api = start(&env).await?;
    let anonymous = api.http(None);
    let health = anonymous.get("/healthz").await?;
    assert_eq!((health.status, health.text.as_str()), (200, "ok\n"));
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let ready = anonymous.get("/readyz").await?;
        assert_eq!(ready.status, 503, "{}", ready.text);
        assert!(ready.text.contains("broker down"), "{}", ready.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(api);
    env.settings.amqp = amqp;

    // With both reachable: ready within the broker's first connect.
    let api = start(&env).await?;
    let anonymous = api.http(None);
    assert_eq!(anonymous.get("/healthz").await?.status, 200);
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = anonymous.get("/readyz").await?;
        if ready.status == 200 {
            assert_eq!(ready.text, "ready\n");
            break;
        }
        anyhow::ensure!(
            Instant::now() < until,
            "not ready after 20 s: {} {}",
            ready.status,
            ready.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
