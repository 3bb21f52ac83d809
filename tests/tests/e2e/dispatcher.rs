//! The dispatcher as clients meet it: the contract, refusals, idempotency, events, and a
//! final status for each way dispatch can fail — on real RabbitMQ and Postgres.

use futures::StreamExt;
use lapin::options::BasicConsumeOptions;
use lapin::types::FieldTable;
use netraven_shared::broker::{self, REASON_HEADER, SOURCE_HEADER};
use netraven_shared::domain::{JobStatus, Outcome};
use netraven_shared::messages::{JobEvent, JobReply};
use netraven_simulator::AuthMethod;
use netraven_tests::{request, FleetBuilder, Roles, Spy, TestEnv};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(60);

async fn dead_letters(env: &TestEnv, n: usize) -> anyhow::Result<Vec<lapin::message::Delivery>> {
    let conn = broker::connect(&env.settings.amqp, "test-dead").await?;
    let ch = conn.create_channel().await?;
    let mut consumer = ch
        .basic_consume(
            env.names.dead_queue().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let mut out = Vec::new();
    while out.len() < n {
        let d = tokio::time::timeout(TIMEOUT, consumer.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("closed"))??;
        out.push(d);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_dead_lettered_with_their_reason_and_answered() -> anyhow::Result<()>
{
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", 3, 41)?.start().await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let mut replies = Spy::new(&env, None).await?;
    let bad: [(&[u8], &str); 4] = [
        (b"this is not json", "not a valid job request"),
        (br#"{"version":1,"request_id":"x1","job_type":"config_backup","surprise":true}"#, "unknown field `surprise`"),
        (br#"{"version":2,"request_id":"x2","job_type":"config_backup"}"#, "version 2"),
        (br#"{"version":1,"request_id":"x3","job_type":"config_backup","limits":{"host_key_policy":"maybe"}}"#, "unknown variant"),
    ];
    for (i, (body, _)) in bad.iter().enumerate() {
        let props = broker::json_properties()
            .with_reply_to(replies.name.clone().into())
            .with_correlation_id(format!("bad-{i}").into());
        env.publish_raw(body.to_vec(), props).await?;
    }
    let mut reasons = Vec::new();
    for _ in 0..bad.len() {
        let d = replies.next().await?;
        let reply: JobReply = serde_json::from_slice(&d.data)?;
        assert!(!reply.accepted && reply.job_id.is_none(), "{reply:?}");
        let correlation = d
            .properties
            .correlation_id()
            .as_ref()
            .map(|c| c.as_str().to_string());
        reasons.push((
            correlation.unwrap_or_default(),
            reply.error.unwrap_or_default(),
        ));
    }
    for (i, (_, needle)) in bad.iter().enumerate() {
        let (_, reason) = reasons
            .iter()
            .find(|(c, _)| *c == format!("bad-{i}"))
            .expect("a reply per request");
        assert!(
            reason.contains(needle),
            "reply {i}: {reason:?} should say {needle:?}"
        );
    }
    let dead = dead_letters(&env, bad.len()).await?;
    for d in &dead {
        let reason = broker::header(&d.properties, REASON_HEADER).unwrap_or_default();
        let source = broker::header(&d.properties, SOURCE_HEADER).unwrap_or_default();
        assert_eq!(source, env.names.submit_queue());
        let original = bad
            .iter()
            .find(|(body, _)| *body == d.data.as_slice())
            .expect("original body kept");
        assert!(reason.contains(original.1), "{reason:?}");
    }
    let client = env.pool.get().await?;
    let jobs: i64 = client
        .query_one("SELECT count(*) FROM jobs", &[])
        .await?
        .get(0);
    assert_eq!(jobs, 0, "a malformed request gets no job row");
    // ... and the dispatcher keeps going.
    let job = env
        .run_job(&request("config_backup", &["fleet"], &[]), TIMEOUT)
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    let text = netraven_shared::telemetry::metrics::render().map_err(anyhow::Error::msg)?;
    assert!(
        text.contains("netraven_job_requests_total{result=\"malformed\"}"),
        "malformed requests are counted"
    );
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_cannot_run_become_failed_invalid_request_jobs() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let roles = env.start(1);
    let mut unknown = request("firmware_upgrade", &["fleet"], &[]);
    unknown.request_id = "unknown-type".into();
    let mut deadline = request("config_backup", &["fleet"], &[]);
    deadline.limits.device_deadline_ms = Some(5);
    let commandless = request("command", &["fleet"], &[]);
    for (r, needle) in [
        (&unknown, "unknown JobType \"firmware_upgrade\""),
        (&deadline, "limits.device_deadline_ms"),
        (&commandless, "needs at least one command"),
    ] {
        let job = env.run_job(r, TIMEOUT).await?;
        assert_eq!(job.counts.status, JobStatus::FailedInvalidRequest);
        let error = job.counts.error.clone().unwrap_or_default();
        assert!(
            error.contains(needle),
            "{error:?} should mention {needle:?}"
        );
    }
    roles.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_request_id_twice_yields_one_job_run_once_and_events_announce_it(
) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", 8, 42)?.start().await?;
    env.import(&fleet).await?;
    let mut events = Spy::new(&env, Some((&env.names.events_exchange(), "job.*"))).await?;
    let roles = env.start(2);
    let r = request("config_backup", &["fleet"], &[]);
    env.publish(&r).await?;
    env.publish(&r).await?;
    let job_id = env.job_id(&r.request_id, TIMEOUT).await?;
    let job = env.wait_final(job_id, TIMEOUT).await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);

    let mut seen = Vec::new();
    while !seen.iter().any(|e: &JobEvent| e.event == "job.completed") {
        let d = events.next().await?;
        let e: JobEvent = serde_json::from_slice(&d.data)?;
        assert_eq!(d.routing_key.as_str(), e.event);
        seen.push(e);
    }
    let kinds: Vec<&str> = seen.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["job.created", "job.running", "job.completed"]);
    let done = seen.last().expect("completed");
    assert_eq!(
        (done.job_id, done.status, done.succeeded_devices),
        (job_id, JobStatus::CompletedSuccess, 8)
    );
    // A resubmission publishes no task: every device saw exactly one login.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (device, attempts) in fleet.all_attempts() {
        let logins = attempts
            .iter()
            .filter(|a| a.method == AuthMethod::Password)
            .count();
        assert_eq!(logins, 1, "{device}");
    }
    let client = env.pool.get().await?;
    let jobs: i64 = client
        .query_one("SELECT count(*) FROM jobs", &[])
        .await?
        .get(0);
    assert_eq!(jobs, 1);
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolution_coverage_is_logged_and_counted() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("mixed", 20, 43)?.start().await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let job = env
        .run_job(
            &request("config_backup", &["fleet", "orphan"], &["no-such-device"]),
            TIMEOUT,
        )
        .await?;
    let client = env.pool.get().await?;
    let row = client
        .query_one(
            "SELECT message, data FROM job_logs WHERE job_id = $1 AND message LIKE 'resolved%'",
            &[&job.id],
        )
        .await?;
    assert_eq!(
        row.get::<_, &str>(0),
        "resolved credentials for 18 of 20 devices (90.0%)"
    );
    let data: serde_json::Value = row.get(1);
    assert_eq!(data["unresolved"], 2);
    assert_eq!(
        data["missing_targets"],
        serde_json::json!(["no-such-device"])
    );
    let results = netraven_dispatcher::job_rows::results(&client, job.id).await?;
    assert_eq!(
        results
            .iter()
            .filter(|r| r.outcome == Outcome::NoCredentials)
            .count(),
        2,
        "never silently dropped"
    );
    let text = netraven_shared::telemetry::metrics::render().map_err(anyhow::Error::msg)?;
    assert!(
        text.contains("netraven_devices_resolved_total{result=\"unresolved\"}"),
        "{text}"
    );
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_dispatcher_failure_gives_its_final_status() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", 4, 44)?.start().await?;
    env.import(&fleet).await?;
    let roles = env.start(1);
    let client = env.pool.get().await?;

    // The database fails at the resolution step.
    client
        .batch_execute("ALTER TABLE credential_tags RENAME TO credential_tags_away")
        .await?;
    let job = env
        .run_job(&request("config_backup", &["fleet"], &[]), TIMEOUT)
        .await?;
    assert_eq!(
        job.counts.status,
        JobStatus::FailedCredentialResolution,
        "{:?}",
        job.counts
    );
    assert!(job
        .counts
        .error
        .clone()
        .unwrap_or_default()
        .contains("credential_tags"));
    client
        .batch_execute("ALTER TABLE credential_tags_away RENAME TO credential_tags")
        .await?;

    // Something nobody planned for: the job log refuses writes.
    client
        .batch_execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'job log is read-only'; END $$;
             CREATE TRIGGER refuse BEFORE INSERT ON job_logs FOR EACH ROW EXECUTE FUNCTION refuse();",
        )
        .await?;
    let job = env
        .run_job(&request("config_backup", &["fleet"], &[]), TIMEOUT)
        .await?;
    assert_eq!(
        job.counts.status,
        JobStatus::FailedUnexpected,
        "{:?}",
        job.counts
    );
    client
        .batch_execute("DROP TRIGGER refuse ON job_logs")
        .await?;

    // And with everything repaired, the same dispatcher runs a job to success.
    let job = env
        .run_job(&request("config_backup", &["fleet"], &[]), TIMEOUT)
        .await?;
    assert_eq!(job.counts.status, JobStatus::CompletedSuccess);
    roles.stop().await?;
    fleet.shutdown().await;
    Ok(())
}

/// A RabbitMQ user that may do everything but publish to one exchange, deleted when
/// dropped. The broker refuses each publish there with ACCESS_REFUSED, every time: a
/// failure that nothing in the system can undo behind the test's back.
struct RefusingUser {
    name: String,
    vhost: String,
    url: String,
}

impl RefusingUser {
    fn create(env: &TestEnv, refused_exchange: &str) -> anyhow::Result<RefusingUser> {
        let base = &env.settings.amqp.url;
        let (scheme, rest) = base.split_once("://").expect("an amqp URL");
        let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let vhost = match host.split_once('/') {
            Some((_, "%2f" | "%2F" | "")) | None => "/".to_string(),
            Some((_, v)) => v.to_string(),
        };
        let name = format!("nrt-{}", env.settings.amqp.namespace);
        let password = uuid::Uuid::new_v4().simple().to_string();
        netraven_tests::sh(&format!("rabbitmqctl add_user '{name}' '{password}'"))?;
        let user = RefusingUser {
            url: format!("{scheme}://{name}:{password}@{host}"),
            name,
            vhost,
        };
        let refused = refused_exchange.replace('.', "\\.");
        user.permit(&format!("^(?!{refused}$).*"))?;
        Ok(user)
    }

    /// Sets what the user may publish to (a regular expression over exchange names).
    fn permit(&self, write: &str) -> anyhow::Result<()> {
        netraven_tests::sh(&format!(
            "rabbitmqctl set_permissions -p '{}' '{}' '.*' '{write}' '.*'",
            self.vhost, self.name
        ))
        .map(drop)
    }
}

impl Drop for RefusingUser {
    fn drop(&mut self) {
        if let Err(e) = netraven_tests::sh(&format!("rabbitmqctl delete_user '{}'", self.name)) {
            eprintln!("could not delete the test user {}: {e:#}", self.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_the_broker_refuses_end_the_job_failed_dispatcher_error() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", 4, 45)?.start().await?;
    env.import(&fleet).await?;
    let mut events = Spy::new(&env, Some((&env.names.events_exchange(), "job.completed"))).await?;
    // Every role connects as a user the broker lets do all but publish tasks.
    let user = RefusingUser::create(&env, &env.names.tasks_exchange())?;
    let mut settings = env.settings.clone();
    settings.amqp.url = user.url.clone();
    let roles = Roles::start(&settings, 1);

    let job = env
        .run_job(&request("config_backup", &["fleet"], &[]), TIMEOUT)
        .await?;
    assert_eq!(
        job.counts.status,
        JobStatus::FailedDispatcherError,
        "{:?}",
        job.counts
    );
    let error = job.counts.error.clone().unwrap_or_default();
    assert!(
        error.contains("0 of 4 tasks published, 4 not") && error.contains("ACCESS_REFUSED"),
        "the job says what was and was not published, and why: {error:?}"
    );
    let done: JobEvent = serde_json::from_slice(&events.next().await?.data)?;
    assert_eq!(
        (done.job_id, done.status),
        (job.id, JobStatus::FailedDispatcherError)
    );
    let contacted = fleet.all_attempts();
    assert!(
        contacted.is_empty(),
        "no device was contacted: {contacted:?}"
    );

    // Once the broker accepts tasks again, the same dispatcher runs the next job: it
    // reopened the channel the refusal closed.
    user.permit(".*")?;
    let job = env
        .run_job(&request("config_backup", &["fleet"], &[]), TIMEOUT)
        .await?;
    assert_eq!(
        job.counts.status,
        JobStatus::CompletedSuccess,
        "{:?}",
        job.counts
    );
    roles.stop().await?;
    drop(user);
    fleet.shutdown().await;
    Ok(())
}

/// A request dispatched again — its first dispatcher made the job row and died before the
/// job left PENDING, so the broker delivers the request once more — gives its tasks the
/// job row's deadline, the one the sweeper ends the job at. Before, the second dispatch
/// counted a new deadline from its own moment, and workers went on contacting devices of
/// a job the sweeper had already ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_dispatched_again_keeps_its_jobs_deadline() -> anyhow::Result<()> {
    use lapin::options::BasicGetOptions;
    use netraven_dispatcher::job_rows::{self, Created};
    let env = TestEnv::new().await?;
    let fleet = FleetBuilder::scenario("all-good", 2, 17)?.start().await?;
    env.import(&fleet).await?;
    let r = request("config_backup", &["fleet"], &[]);
    // The row as the first dispatcher left it: PENDING, its deadline 20 minutes off (a new
    // one would be the default job deadline from now).
    let client = env.pool.get().await?;
    let deadline = chrono::Utc::now() + chrono::Duration::minutes(20);
    let user = broker::user(&env.settings.amqp)?;
    let Created::New(job_id) = job_rows::create(&client, &r, Some(&user), deadline).await? else {
        anyhow::bail!("a new job expected");
    };
    // The request, delivered once to a dispatcher that died: back in the queue, redelivered.
    env.publish_redelivered(&r).await?;
    let conn = broker::connect(&env.settings.amqp, "test-tasks").await?;
    let ch = conn.create_channel().await?;

    let dispatching = Roles::start_without_workers(&env.settings);
    let tasks = env.names.tasks_queue();
    let until = std::time::Instant::now() + Duration::from_secs(30);
    let task = loop {
        if let Some(m) = ch
            .basic_get(tasks.as_str().into(), BasicGetOptions { no_ack: true })
            .await?
        {
            break m;
        }
        anyhow::ensure!(std::time::Instant::now() < until, "no task after 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let body: serde_json::Value = serde_json::from_slice(&task.delivery.data)?;
    assert_eq!(body["job_id"], job_id.to_string());
    let sent: chrono::DateTime<chrono::Utc> =
        body["job_deadline"].as_str().unwrap_or_default().parse()?;
    let stored: chrono::DateTime<chrono::Utc> = client
        .query_one("SELECT deadline_at FROM jobs WHERE id = $1", &[&job_id])
        .await?
        .get(0);
    assert!(
        (sent - stored).num_milliseconds().abs() <= 1,
        "the task says {sent}, the job row {stored}"
    );
    dispatching.stop().await?;
    let _ = conn.close(200, "ok".into()).await;
    Ok(())
}
