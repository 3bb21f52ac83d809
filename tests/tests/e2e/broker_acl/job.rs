//! A job runs with an account per role (the api role's included), and the operator replays.

use super::accounts::{publish_body, Accounts, TIMEOUT};
use netraven_cli::dead_letters;
use netraven_shared::broker::{self};
use netraven_shared::domain::JobStatus;
use netraven_tests::{request, FleetBuilder, Roles, TestEnv};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_with_an_account_per_role_and_the_operator_replays() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let alice = format!("{}-alice", env.settings.amqp.namespace);
    let accounts = Accounts::setup(&env, std::slice::from_ref(&alice)).await?;
    let fleet = FleetBuilder::scenario("all-good", 3, 9)?
        .base_port(25750)
        .start()
        .await?;
    env.import(&fleet).await?;
    let mut dispatcher = accounts.settings(&env, "dispatcher");
    let api_user = format!("{}-api", env.settings.amqp.namespace);
    dispatcher.dispatcher.gateways = vec![api_user.clone()];
    let roles = Roles::start_each(
        &dispatcher,
        &accounts.settings(&env, "aggregator"),
        &accounts.settings(&env, "worker"),
        1,
    );

    // Submitted as alice, with `netraven job submit`'s client: recorded as alice.
    let submitter = &accounts.amqp[&alice];
    let r = request("config_backup", &["fleet"], &[]);
    let done = netraven_cli::client::submit(submitter, &r, true, TIMEOUT).await?;
    let status = done.completed.map(|e| e.status).or(done.reply.status);
    assert_eq!(
        status,
        Some(JobStatus::CompletedSuccess),
        "{:?}",
        done.reply
    );
    let job = done.reply.job_id.expect("job id");
    let by: Option<String> = submitted_by(&env, job).await?;
    assert_eq!(by, Some(alice.clone()), "the submitter is the broker user");

    // The api role on its own account (reply queue and the jobs exchange only), trusted
    // as a gateway: a token's submitter is recorded, as deployed.
    let mut api = accounts.settings(&env, "api");
    api.api.listen_addr = "127.0.0.1:0".into();
    api.api.metrics_addr = String::new();
    let stop = tokio_util::sync::CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let addr = netraven_api::role::start(api, stop).await?.addr;
    let token = crate::api::token(&env, "noc", netraven_api::auth::Scope::Submit, "noc").await?;
    let http = crate::api::client::Http::new(addr, Some(&token));
    let body = serde_json::json!({"job_type": "config_backup", "targets": {"tags": ["fleet"]}});
    let answer = http.post("/api/jobs", &body).await?;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let id: uuid::Uuid = answer.json()["job_id"]
        .as_str()
        .unwrap_or_default()
        .parse()?;
    let by: Option<String> = submitted_by(&env, id).await?;
    assert_eq!(
        by.as_deref(),
        Some("noc"),
        "the api's account names the submitter"
    );
    env.wait_final(id, TIMEOUT).await?;

    // A request of alice's that the broker dead-lettered (as after too many deliveries):
    // it keeps her user_id. The operator account, which may not publish as alice, lists it
    // and replays it as itself; the job records the operator as its submitter.
    let replayed_request = request("config_backup", &["fleet"], &[]);
    let admin = broker::user(&env.settings.amqp)?;
    dead_request(&env, &replayed_request, None).await?;
    let operator = &accounts.amqp["operator"];
    let until = Instant::now() + TIMEOUT;
    loop {
        let filter = dead_letters::Filter {
            source: None,
            offset: 0,
            limit: 10,
        };
        let listing = dead_letters::list(operator, "test-dead", &filter).await?;
        if listing.total == 1 {
            let by = listing.dead_letters[0].published_by.as_deref();
            assert_eq!(by, Some(admin.as_str()), "kept through the rotation");
            break;
        }
        assert!(Instant::now() < until, "no dead letter: {listing:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let what = dead_letters::Replay {
        source: Some("requests".into()),
        limit: 10,
        on_behalf: None,
    };
    let replayed = dead_letters::replay(operator, "test-dead", &what).await?;
    assert_eq!((replayed.replayed, replayed.failed), (1, 0), "{replayed:?}");
    let job = env.job_id(&replayed_request.request_id, TIMEOUT).await?;
    let view = env.wait_final(job, TIMEOUT).await?;
    assert_eq!(view.counts.status, JobStatus::CompletedSuccess);
    let by: Option<String> = submitted_by(&env, job).await?;
    let operator_user = broker::user(operator)?;
    assert_eq!(
        by,
        Some(operator_user),
        "replayed by the operator, as itself"
    );

    // Another dead request, claiming a submitter in the header the dispatcher believes from
    // gateways only: over the API, refused to a read token (a listing republishes every
    // message), listed and replayed by an admin token on the api's own account, for the
    // admin's submitter.
    let claimed = request("config_backup", &["fleet"], &[]);
    dead_request(&env, &claimed, Some("mallory")).await?;
    let read = crate::api::token(&env, "viewer", netraven_api::auth::Scope::Read, "viewer").await?;
    let reader = crate::api::client::Http::new(addr, Some(&read));
    let refused = reader.get("/api/dead-letters?source=requests").await?;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let ops = crate::api::token(&env, "ops", netraven_api::auth::Scope::Admin, "ops").await?;
    let admin_http = crate::api::client::Http::new(addr, Some(&ops));
    let until = Instant::now() + TIMEOUT;
    loop {
        let answer = admin_http
            .get("/api/dead-letters?source=requests&limit=5")
            .await?;
        assert_eq!(answer.status, 200, "{}", answer.text);
        let listing = answer.json();
        if listing["total"] == 1 {
            let summary = listing["dead_letters"][0]["summary"]
                .as_str()
                .unwrap_or_default();
            assert!(
                summary.contains(&claimed.request_id.to_string()),
                "{listing}"
            );
            break;
        }
        assert!(Instant::now() < until, "no dead letter: {listing}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let body = serde_json::json!({ "source": "requests" });
    let refused = reader.post("/api/dead-letters/replay", &body).await?;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let answer = admin_http.post("/api/dead-letters/replay", &body).await?;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["replayed"], 1, "{}", answer.text);
    let job = env.job_id(&claimed.request_id, TIMEOUT).await?;
    env.wait_final(job, TIMEOUT).await?;
    let by: Option<String> = submitted_by(&env, job).await?;
    assert_eq!(
        by.as_deref(),
        Some("ops"),
        "replayed for the admin token's submitter, never the header it died with"
    );

    roles.stop().await?;
    fleet.stop().await;
    drop(accounts);
    Ok(())
}

/// `request` as the broker dead-letters it from the submit queue (as after too many
/// deliveries), published by the test's own user, with `x-netraven-submitter` if given.
async fn dead_request(
    env: &TestEnv,
    request: &netraven_shared::messages::JobRequest,
    claims: Option<&str>,
) -> anyhow::Result<()> {
    use lapin::types::{AMQPValue, FieldTable};
    let mut headers = FieldTable::default();
    headers.insert(
        broker::SOURCE_HEADER.into(),
        AMQPValue::LongString(env.names.submit_queue().into()),
    );
    if let Some(submitter) = claims {
        headers.insert(
            broker::SUBMITTER_HEADER.into(),
            AMQPValue::LongString(submitter.into()),
        );
    }
    let dead = broker::json_properties()
        .with_user_id(broker::user(&env.settings.amqp)?.into())
        .with_headers(headers);
    publish_body(
        &env.settings.amqp,
        env.names.dead_exchange(),
        &env.names.submit_queue(),
        serde_json::to_vec(request)?,
        dead,
    )
    .await
}

async fn submitted_by(env: &TestEnv, job: uuid::Uuid) -> anyhow::Result<Option<String>> {
    let client = env.pool.get().await?;
    let row = client
        .query_one("SELECT submitted_by FROM jobs WHERE id = $1", &[&job])
        .await?;
    Ok(row.get(0))
}
