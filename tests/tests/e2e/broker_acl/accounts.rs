//! Broker accounts per role, made per test and deleted on drop; publishing and getting as one.

use lapin::BasicProperties;
use netraven_cli::access::{self, Account, Role, SetupArgs};
use netraven_shared::broker::{self, Outgoing, Publisher};
use netraven_shared::config::{AmqpSettings, Settings};
use netraven_tests::{request, sh, TestEnv};
use std::collections::HashMap;
use std::time::Duration;

pub(super) const TIMEOUT: Duration = Duration::from_secs(90);

/// The accounts of one test's namespace, deleted from the broker on drop.
pub(super) struct Accounts {
    /// Role name (or the submitter's user name) → settings that log in as that account.
    pub(super) amqp: HashMap<String, AmqpSettings>,
    pub(super) users: Vec<String>,
    pub(super) made: Vec<Account>,
}

impl Accounts {
    /// Runs `broker setup` for the test's namespace with one submitter per name in
    /// `submitters`; passwords go through files, as an operator would pass them.
    pub(super) async fn setup(env: &TestEnv, submitters: &[String]) -> anyhow::Result<Accounts> {
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

    pub(super) fn settings(&self, env: &TestEnv, role: &str) -> Settings {
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
pub(super) async fn publish(
    amqp: &AmqpSettings,
    exchange: String,
    key: &str,
    properties: BasicProperties,
) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&request("config_backup", &["fleet"], &[]))?;
    publish_body(amqp, exchange, key, body, properties).await
}

pub(super) async fn publish_body(
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
pub(super) async fn get(amqp: &AmqpSettings, queue: String) -> anyhow::Result<()> {
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

pub(super) fn refused_by_broker(result: anyhow::Result<()>, what: &str, needle: &str) {
    match result {
        Ok(()) => panic!("{what}: the broker accepted it"),
        Err(e) => {
            let text = format!("{e:#}");
            assert!(text.contains(needle), "{what}: {text}");
        }
    }
}
