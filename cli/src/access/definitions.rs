//! The RabbitMQ definitions document (users as password hashes, permissions, topology)
//! and applying it with `rabbitmqctl import_definitions`.

use super::roles::{permissions, Role};
use anyhow::{bail, Context, Result};
use base64::Engine;
use lapin::types::AMQPValue;
use lapin::ExchangeKind;
use netraven_shared::broker::{self, Names};
use netraven_shared::config::AmqpSettings;
use serde_json::{json, Value};
use sha2::Digest;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One account to create: its name, role and password.
pub struct Account {
    pub user: String,
    pub role: Role,
    pub password: secrecy::SecretString,
}

/// RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt ‖ SHA-256(salt ‖ password))
/// with a random 32-bit salt.
pub fn password_hash(password: &secrecy::SecretString) -> Result<String> {
    use ring::rand::SecureRandom;
    use secrecy::ExposeSecret;
    let mut salt = [0u8; 4];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| anyhow::anyhow!("no randomness for a password salt"))?;
    let mut hasher = sha2::Sha256::new();
    hasher.update(salt);
    hasher.update(password.expose_secret().as_bytes());
    let mut salted = salt.to_vec();
    salted.extend_from_slice(&hasher.finalize());
    Ok(base64::engine::general_purpose::STANDARD.encode(salted))
}

/// The virtual host `amqp.url` names (`/` when it names none).
pub fn vhost(settings: &AmqpSettings) -> Result<String> {
    let uri: lapin::uri::AMQPUri = settings
        .url
        .parse()
        .map_err(|e| anyhow::anyhow!("amqp.url: {e}"))?;
    Ok(uri.vhost)
}

fn kind(k: &ExchangeKind) -> &'static str {
    match k {
        ExchangeKind::Direct => "direct",
        ExchangeKind::Fanout => "fanout",
        ExchangeKind::Topic => "topic",
        ExchangeKind::Headers => "headers",
        _ => "direct",
    }
}

fn json_value(v: &AMQPValue) -> Value {
    match v {
        AMQPValue::LongString(s) => json!(String::from_utf8_lossy(s.as_bytes())),
        AMQPValue::ShortString(s) => json!(s.as_str()),
        AMQPValue::LongInt(i) => json!(i),
        AMQPValue::LongLongInt(i) => json!(i),
        AMQPValue::LongUInt(i) => json!(i),
        AMQPValue::Boolean(b) => json!(b),
        other => json!(format!("{other:?}")),
    }
}

/// The definitions document: users (password hashes only), their permissions, and the
/// namespace's exchanges, queues and bindings.
pub fn definitions(accounts: &[Account], names: &Names, settings: &AmqpSettings) -> Result<Value> {
    let vhost = vhost(settings)?;
    let mut users = Vec::new();
    let mut permissions_list = Vec::new();
    for a in accounts {
        // No tags: no management access, and no `impersonator` (which could publish with
        // anyone's user_id).
        users.push(json!({
            "name": a.user,
            "password_hash": password_hash(&a.password)?,
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": [],
        }));
        let p = permissions(a.role, names);
        permissions_list.push(json!({
            "user": a.user,
            "vhost": vhost,
            "configure": p.configure,
            "write": p.write,
            "read": p.read,
        }));
    }
    let exchanges: Vec<Value> = broker::exchanges(names)
        .iter()
        .map(|(name, k)| {
            json!({
                "name": name, "vhost": vhost, "type": kind(k), "durable": true,
                "auto_delete": false, "internal": false, "arguments": {},
            })
        })
        .collect();
    let queues = broker::queues(names, settings);
    let queue_defs: Vec<Value> = queues
        .iter()
        .map(|q| {
            let arguments: serde_json::Map<String, Value> = q
                .arguments
                .inner()
                .iter()
                .map(|(k, v)| (k.to_string(), json_value(v)))
                .collect();
            json!({
                "name": q.name, "vhost": vhost, "durable": true, "auto_delete": false,
                "arguments": arguments,
            })
        })
        .collect();
    let bindings: Vec<Value> = queues
        .iter()
        .map(|q| {
            json!({
                "source": q.exchange, "vhost": vhost, "destination": q.name,
                "destination_type": "queue", "routing_key": q.routing_key, "arguments": {},
            })
        })
        .collect();
    Ok(json!({
        "users": users,
        "permissions": permissions_list,
        "exchanges": exchanges,
        "queues": queue_defs,
        "bindings": bindings,
    }))
}

/// Applies `definitions` with one `rabbitmqctl import_definitions` call (the document goes
/// through its standard input, never a file), then waits until every account has its
/// permissions (the import finishes asynchronously).
pub fn apply(rabbitmqctl: &str, definitions: &Value, vhost: &str, users: &[&str]) -> Result<()> {
    let mut child = Command::new(rabbitmqctl)
        .args(["import_definitions", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "cannot run {rabbitmqctl} (RabbitMQ's own tool, on the broker's machine); \
                 or print the definitions with --print and apply them yourself"
            )
        })?;
    child
        .stdin
        .take()
        .context("no stdin for rabbitmqctl")?
        .write_all(definitions.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{rabbitmqctl} import_definitions failed: {}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = Command::new(rabbitmqctl)
            .args([
                "list_permissions",
                "--quiet",
                "--no-table-headers",
                "-p",
                vhost,
            ])
            .output()
            .with_context(|| format!("cannot run {rabbitmqctl}"))?;
        let text = String::from_utf8_lossy(&listed.stdout);
        let present: Vec<&str> = text.lines().filter_map(|l| l.split('\t').next()).collect();
        let missing: Vec<&&str> = users.iter().filter(|u| !present.contains(u)).collect();
        if listed.status.success() && missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > until {
            bail!("after 30 s the broker still lists no permissions for {missing:?} on {vhost}");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}
