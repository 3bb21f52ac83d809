//! Least privilege on the broker: `netraven broker setup` makes an account per role, and
//! RabbitMQ itself refuses what a role may not do. Real RabbitMQ (users made per test with
//! unique names and deleted on drop), Postgres and SSH devices.

use lapin::BasicProperties;
use netraven_cli::access::{self, Account, Role, SetupArgs};
use netraven_shared::broker::{self, Outgoing, Publisher, SUBMIT_KEY, TASK_KEY};
use netraven_shared::config::{AmqpSettings, Settings};
use netraven_shared::domain::JobStatus;
use netraven_simulator::{scenario, Fleet, FleetOptions};
use netraven_tests::{request, sh, Roles, TestEnv};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(90);

/// The accounts of one test's namespace, deleted from the broker on drop.
struct Accounts {
    /// Role name (or the submitter's user name) → settings that log in as that account.
    amqp: HashMap<String, AmqpSettings>,
    users: Vec<String>,
    made: Vec<Account>,
}

impl Accounts {
    /// Runs `broker setup` for the test's namespace with one submitter per name in
    /// `submitters`; passwords go through files, as an operator would pass them.
    async fn setup(env: &TestEnv, submitters: &[String]) -> anyhow::Result<Accounts> {
        sh("command -v rabbitmqctl").map_err(|_| {
            anyhow::anyhow!(
                "rabbitmqctl is not on PATH: install RabbitMQ on this machine \
                 (`netraven services ensure` does, as root)"
            )
        })?;
        let ns = &env.settings.amqp.namespace;
        let mut users: Vec<String> = Role::FIXED
            .iter()
            .map(|r| format!("{ns}-{}", r.as_str()))
            .collect();
        users.extend(submitters.iter().cloned());
        let mut password_files = Vec::new();
        let mut passwords = HashMap::new();
        for user in &users {
            let password = uuid::Uuid::new_v4().simple().to_string();
            let path = env.dir.path().join(format!("{user}.password"));
            std::fs::write(&path, format!("{password}\n"))?;
            password_files.push(format!("{user}={}", path.display()));
            passwords.insert(user.clone(), password);
        }
        let args = SetupArgs {
            users: Vec::new(),
            submitters: submitters.to_vec(),
            password_files,
            password_envs: Vec::new(),
        };
        let accounts: Vec<Account> = access::accounts(ns, &args)?;
        // Deleted on drop from here on, even if setup fails half-way.
        let mut made = Accounts {
            amqp: HashMap::new(),
            users: users.clone(),
            made: Vec::new(),
        };
        access::setup(&env.settings.amqp, "rabbitmqctl", &accounts).await?;
        for a in &accounts {
            let mut amqp = env.settings.amqp.clone();
            amqp.url = format!(
                "amqp://{}:{}@127.0.0.1:5672/%2f",
                a.user, passwords[&a.user]
            );
            amqp.declare_topology = false;
            let key = match a.role {
                Role::Submitter => a.user.clone(),
                r => r.as_str().to_string(),
            };
            made.amqp.insert(key, amqp);
        }
        made.made = accounts;
        Ok(made)
    }

    fn settings(&self, env: &TestEnv, role: &str) -> Settings {
        let mut s = env.settings.clone();
        s.amqp = self.amqp[role].clone();
        s
    }
}

impl Drop for Accounts {
    fn drop(&mut self) {
        for user in &self.users {
            let _ = std::process::Command::new("rabbitmqctl")
                .args(["delete_user", "--quiet", user])
                .output();
        }
    }
}

/// Publishes a job request as `amqp`'s account; the error the broker gave, if any.
async fn publish(
    amqp: &AmqpSettings,
    exchange: String,
    key: &str,
    properties: BasicProperties,
) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&request("config_backup", &["fleet"], &[]))?;
    publish_body(amqp, exchange, key, body, properties).await
}

async fn publish_body(
    amqp: &AmqpSettings,
    exchange: String,
    key: &str,
    body: Vec<u8>,
    properties: BasicProperties,
) -> anyhow::Result<()> {
    let conn = broker::connect(amqp, "test-acl").await?;
    let publisher = Publisher::new(&conn, 1).await?;
    let sent = publisher
        .publish(Outgoing {
            exchange,
            routing_key: key.into(),
            body,
            properties,
            mandatory: true,
        })
        .await;
    let _ = conn.close(200, "ok".into()).await;
    Ok(sent?)
}

/// Takes one message from `queue` as `amqp`'s account; the error the broker gave, if any.
async fn get(amqp: &AmqpSettings, queue: String) -> anyhow::Result<()> {
    let conn = broker::connect(amqp, "test-acl").await?;
    let channel = conn.create_channel().await?;
    let got = channel
        .basic_get(
            queue.into(),
            lapin::options::BasicGetOptions { no_ack: false },
        )
        .await;
    let _ = conn.close(200, "ok".into()).await;
    got?;
    Ok(())
}

fn refused_by_broker(result: anyhow::Result<()>, what: &str, needle: &str) {
    match result {
        Ok(()) => panic!("{what}: the broker accepted it"),
        Err(e) => {
            let text = format!("{e:#}");
            assert!(text.contains(needle), "{what}: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_refuses_what_a_role_may_not_do() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let alice = format!("{}-alice", env.settings.amqp.namespace);
    let accounts = Accounts::setup(&env, std::slice::from_ref(&alice)).await?;
    let submitter = &accounts.amqp[&alice];
    let names = &env.names;
    let props = broker::json_properties();

    refused_by_broker(
        publish(submitter, names.tasks_exchange(), TASK_KEY, props.clone()).await,
        "a submitter publishing a device task",
        "ACCESS_REFUSED",
    );
    refused_by_broker(
        publish(
            &accounts.amqp["worker"],
            names.jobs_exchange(),
            SUBMIT_KEY,
            props.clone(),
        )
        .await,
        "a worker publishing a job request",
        "ACCESS_REFUSED",
    );
    refused_by_broker(
        publish(
            &accounts.amqp["aggregator"],
            names.tasks_exchange(),
            TASK_KEY,
            props.clone(),
        )
        .await,
        "the aggregator publishing a device task",
        "ACCESS_REFUSED",
    );
    // A request claiming another user: RabbitMQ checks user_id against the login.
    refused_by_broker(
        publish(
            submitter,
            names.jobs_exchange(),
            SUBMIT_KEY,
            props.clone().with_user_id("guest".into()),
        )
        .await,
        "a request with a forged user_id",
        "user_id",
    );
    // Its own user_id: accepted.
    publish(
        submitter,
        names.jobs_exchange(),
        SUBMIT_KEY,
        props.clone().with_user_id(alice.clone().into()),
    )
    .await?;
    // Device tasks carry sealed secrets: only workers may take them, and only the
    // operator may read the dead letters (which include tasks).
    for (role, queue) in [
        (alice.as_str(), names.tasks_queue()),
        ("dispatcher", names.tasks_queue()),
        ("aggregator", names.tasks_queue()),
        ("operator", names.tasks_queue()),
        (alice.as_str(), names.dead_queue()),
        ("worker", names.dead_queue()),
        (alice.as_str(), names.submit_queue()),
        ("worker", names.results_queue()),
    ] {
        refused_by_broker(
            get(&accounts.amqp[role], queue.clone()).await,
            &format!("{role} taking from {queue}"),
            "ACCESS_REFUSED",
        );
    }
    get(&accounts.amqp["worker"], names.tasks_queue()).await?;

    // Setup again (as after a password change, or by mistake): nothing breaks.
    access::setup(&env.settings.amqp, "rabbitmqctl", &accounts.made).await?;
    publish(
        submitter,
        names.jobs_exchange(),
        SUBMIT_KEY,
        props.clone().with_user_id(alice.clone().into()),
    )
    .await?;
    refused_by_broker(
        publish(submitter, names.tasks_exchange(), TASK_KEY, props.clone()).await,
        "a submitter publishing a device task, after a second setup",
        "ACCESS_REFUSED",
    );
    // No role may declare (or so delete) the namespace's queues.
    let conn = broker::connect(&accounts.amqp["worker"], "test-acl").await?;
    let channel = conn.create_channel().await?;
    let declared = broker::declare_topology(&channel, names, &env.settings.amqp).await;
    let text = format!(
        "{:?}",
        declared.expect_err("a worker declared the topology")
    );
    assert!(text.contains("ACCESS_REFUSED"), "{text}");
    let _ = conn.close(200, "ok".into()).await;

    drop(accounts);
    env.teardown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_runs_with_an_account_per_role_and_the_operator_replays() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let alice = format!("{}-alice", env.settings.amqp.namespace);
    let accounts = Accounts::setup(&env, std::slice::from_ref(&alice)).await?;
    let fleet = Fleet::start(
        scenario("all-good", 3, 9)?,
        FleetOptions {
            base_port: 25750,
            ..FleetOptions::default()
        },
    )
    .await?;
    env.import(&fleet).await?;
    let roles = Roles::start_each(
        &accounts.settings(&env, "dispatcher"),
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
    let by: Option<String> = env
        .pool
        .get()
        .await?
        .query_one("SELECT submitted_by FROM jobs WHERE id = $1", &[&job])
        .await?
        .get(0);
    assert_eq!(by, Some(alice.clone()), "the submitter is the broker user");

    // A request of alice's that the broker dead-lettered (as after too many deliveries):
    // it keeps her user_id. The operator account, which may not publish as alice, lists it
    // and replays it as itself; the job records the operator as its submitter.
    let replayed_request = request("config_backup", &["fleet"], &[]);
    let mut headers = lapin::types::FieldTable::default();
    headers.insert(
        broker::SOURCE_HEADER.into(),
        lapin::types::AMQPValue::LongString(env.names.submit_queue().into()),
    );
    let admin = broker::user(&env.settings.amqp)?;
    let dead = broker::json_properties()
        .with_user_id(admin.clone().into())
        .with_headers(headers);
    publish_body(
        &env.settings.amqp,
        env.names.dead_exchange(),
        &env.names.submit_queue(),
        serde_json::to_vec(&replayed_request)?,
        dead,
    )
    .await?;
    let operator = &accounts.amqp["operator"];
    let until = Instant::now() + TIMEOUT;
    loop {
        let listing = netraven_cli::dead_letters::list(operator, 10).await?;
        if listing.total == 1 {
            let by = listing.dead_letters[0].published_by.as_deref();
            assert_eq!(by, Some(admin.as_str()), "kept through the rotation");
            break;
        }
        assert!(Instant::now() < until, "no dead letter: {listing:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let replayed = netraven_cli::dead_letters::replay(operator, Some("requests"), 10).await?;
    assert_eq!((replayed.replayed, replayed.failed), (1, 0), "{replayed:?}");
    let job = env.job_id(&replayed_request.request_id, TIMEOUT).await?;
    let view = env.wait_final(job, TIMEOUT).await?;
    assert_eq!(view.counts.status, JobStatus::CompletedSuccess);
    let by: Option<String> = env
        .pool
        .get()
        .await?
        .query_one("SELECT submitted_by FROM jobs WHERE id = $1", &[&job])
        .await?
        .get(0);
    let operator_user = broker::user(operator)?;
    assert_eq!(
        by,
        Some(operator_user),
        "replayed by the operator, as itself"
    );

    roles.stop().await?;
    fleet.stop().await;
    drop(accounts);
    env.teardown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_prints_definitions_with_password_hashes_only() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let ns = env.settings.amqp.namespace.clone();
    let secret = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let file = env.dir.path().join("worker.password");
    std::fs::write(&file, format!("{secret}-file\n"))?;
    let mut args: Vec<String> = vec!["broker".into(), "setup".into(), "--print".into()];
    for role in ["dispatcher", "aggregator", "operator"] {
        args.push("--password-env".into());
        args.push(format!("{ns}-{role}=NR_TEST_PASSWORD"));
    }
    args.push("--password-file".into());
    args.push(format!("{ns}-worker={}", file.display()));
    args.extend(["--submitter".into(), "alice".into()]);

    // A password missing for one account: refused, naming the account and the flags.
    let out = env
        .command()?
        .args(&args)
        .env("NR_TEST_PASSWORD", &secret)
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("no password for alice") && err.contains("--password-file alice=PATH"),
        "{err}"
    );

    args.extend(["--password-env".into(), "alice=NR_TEST_PASSWORD".into()]);
    let out = env
        .command()?
        .args(&args)
        .env("NR_TEST_PASSWORD", &secret)
        .output()?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stdout.contains(&secret) && !stderr.contains(&secret),
        "a password was printed"
    );
    let defs: serde_json::Value = serde_json::from_str(&stdout)?;
    let users = defs["users"].as_array().expect("users");
    assert_eq!(users.len(), 5);
    for u in users {
        assert_eq!(u["hashing_algorithm"], "rabbit_password_hashing_sha256");
        // base64 of a 4-byte salt and a SHA-256 digest.
        assert_eq!(u["password_hash"].as_str().map(str::len), Some(48), "{u}");
    }
    let worker = defs["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .find(|p| p["user"] == format!("{ns}-worker"))
        .expect("the worker's permissions");
    let esc = ns.replace('.', "\\.");
    assert_eq!(worker["configure"], "^$");
    assert_eq!(worker["read"], format!("^{esc}\\.tasks\\.device$"));
    assert_eq!(worker["write"], format!("^({esc}\\.results|{esc}\\.dead)$"));
    assert_eq!(defs["queues"].as_array().map(Vec::len), Some(5));
    assert_eq!(defs["bindings"].as_array().map(Vec::len), Some(5));
    env.teardown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_declaring_names_the_missing_queue_and_the_fix() -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let mut amqp = env.settings.amqp.clone();
    amqp.declare_topology = false;
    let conn = broker::connect(&amqp, "test-acl").await?;
    // Nothing declared this namespace yet.
    let queue = env.names.tasks_queue();
    let err = broker::consume(&conn, &env.names, &amqp, &queue, 1)
        .await
        .expect_err("no queue to consume from");
    let text = err.to_string();
    assert!(
        text.contains(&queue)
            && text.contains("netraven broker setup")
            && text.contains("NOT_FOUND"),
        "{text}"
    );
    // Nor did the check declare it.
    let channel = conn.create_channel().await?;
    let passive = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    assert!(channel
        .queue_declare(queue.into(), passive, Default::default())
        .await
        .is_err());
    let _ = conn.close(200, "ok".into()).await;
    env.teardown().await
}
