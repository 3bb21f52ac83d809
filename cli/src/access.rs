//! `netraven broker setup`: one broker account per role with only the permissions it
//! needs, and the topology, as a RabbitMQ definitions file applied with `rabbitmqctl
//! import_definitions` (or printed, for the operator to apply).
//!
//! RabbitMQ checks three permissions, each a regular expression over resource names in a
//! virtual host: *configure* (declare, delete), *write* (publish to an exchange; bind a
//! queue, on the queue) and *read* (consume or get from a queue; bind, on the exchange).
//! The default exchange is the resource `amq.default`; server-named exclusive queues are
//! `amq.gen-…`. No role gets configure on a namespace resource (it would let it delete the
//! queue), so the topology is declared here and the roles run with
//! `amqp.declare_topology = false`.
//!
//! Passwords are read from files or environment variables named on the command line and go
//! into the definitions only as RabbitMQ password hashes (salted SHA-256).

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

/// The kinds of broker account, each with its own permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Dispatcher,
    Worker,
    Aggregator,
    /// `netraven dead list` and `dead replay`.
    Operator,
    /// A client that submits job requests (`netraven job submit`) and waits for the reply
    /// and the job's events.
    Submitter,
}

impl Role {
    /// The roles every namespace has one account for.
    pub const FIXED: [Role; 4] = [
        Role::Dispatcher,
        Role::Worker,
        Role::Aggregator,
        Role::Operator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Dispatcher => "dispatcher",
            Role::Worker => "worker",
            Role::Aggregator => "aggregator",
            Role::Operator => "operator",
            Role::Submitter => "submitter",
        }
    }

    pub fn parse(s: &str) -> Result<Role> {
        Ok(match s {
            "dispatcher" => Role::Dispatcher,
            "worker" => Role::Worker,
            "aggregator" => Role::Aggregator,
            "operator" => Role::Operator,
            other => bail!(
                "unknown role {other:?}: dispatcher, worker, aggregator or operator \
                 (submitters are named with --submitter)"
            ),
        })
    }
}

/// A role's permissions on the virtual host: regular expressions over resource names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    pub configure: String,
    pub write: String,
    pub read: String,
}

/// `^(a|b)$` over escaped names (`^$`, nothing, when empty).
fn only(names: &[String]) -> String {
    match names {
        [] => "^$".into(),
        [one] => format!("^{one}$"),
        many => format!("^({})$", many.join("|")),
    }
}

fn esc(name: &str) -> String {
    regex_escape(name)
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// What `role` needs in the namespace, and nothing more.
///
/// | role | configure | write (publish; bind, on the queue) | read (consume, get; bind, on the exchange) |
/// |---|---|---|---|
/// | dispatcher | — | `<ns>.tasks`, `<ns>.events`, `<ns>.dead`, `amq.default` (replies) | `<ns>.jobs.submit` |
/// | worker | — | `<ns>.results`, `<ns>.dead` | `<ns>.tasks.device` |
/// | aggregator | — | `<ns>.events`, `<ns>.dead` | `<ns>.results`, `<ns>.dead.tasks` |
/// | submitter | `amq.gen-*` (its reply queue) | `<ns>.jobs`, `amq.gen-*` (the binding) | `<ns>.events`, `amq.gen-*` |
/// | operator | — | `<ns>.jobs`, `<ns>.tasks`, `<ns>.results` (replay), `amq.default` (rotation) | `<ns>.dead` |
pub fn permissions(role: Role, names: &Names) -> Permissions {
    let n = |s: String| esc(&s);
    let default_exchange = esc("amq.default");
    let reply_queue = format!("{}.*", esc("amq.gen-"));
    let none = only(&[]);
    match role {
        Role::Dispatcher => Permissions {
            configure: none,
            write: only(&[
                n(names.tasks_exchange()),
                n(names.events_exchange()),
                n(names.dead_exchange()),
                default_exchange,
            ]),
            read: only(&[n(names.submit_queue())]),
        },
        Role::Worker => Permissions {
            configure: none,
            write: only(&[n(names.results_exchange()), n(names.dead_exchange())]),
            read: only(&[n(names.tasks_queue())]),
        },
        Role::Aggregator => Permissions {
            configure: none,
            write: only(&[n(names.events_exchange()), n(names.dead_exchange())]),
            read: only(&[n(names.results_queue()), n(names.dead_tasks_queue())]),
        },
        Role::Submitter => Permissions {
            configure: only(std::slice::from_ref(&reply_queue)),
            write: only(&[n(names.jobs_exchange()), reply_queue.clone()]),
            read: only(&[n(names.events_exchange()), reply_queue]),
        },
        Role::Operator => Permissions {
            configure: none,
            write: only(&[
                n(names.jobs_exchange()),
                n(names.tasks_exchange()),
                n(names.results_exchange()),
                default_exchange,
            ]),
            read: only(&[n(names.dead_queue())]),
        },
    }
}

/// One account to create: its name, role and password.
pub struct Account {
    pub user: String,
    pub role: Role,
    pub password: secrecy::SecretString,
}

/// Where an account's password comes from (never the command line itself).
#[derive(Debug, Clone)]
pub enum PasswordSource {
    File(std::path::PathBuf),
    Env(String),
}

impl PasswordSource {
    /// The password: the file's content or the variable's value, without a trailing
    /// newline. Errors name the source, never the content.
    pub fn read(&self, user: &str) -> Result<secrecy::SecretString> {
        let raw = match self {
            PasswordSource::File(path) => std::fs::read_to_string(path).with_context(|| {
                format!("cannot read the password of {user} from {}", path.display())
            })?,
            PasswordSource::Env(var) => std::env::var(var).with_context(|| {
                format!("the password of {user} is to come from ${var}, which is not set")
            })?,
        };
        let password = raw.trim_end_matches(['\n', '\r']).to_string();
        if password.is_empty() {
            bail!("the password of {user} is empty");
        }
        Ok(password.into())
    }
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
        // The operator replays dead job requests as they were published, user_id
        // included: RabbitMQ lets only an `impersonator` publish another user's user_id.
        let tags: &[&str] = match a.role {
            Role::Operator => &["impersonator"],
            _ => &[],
        };
        users.push(json!({
            "name": a.user,
            "password_hash": password_hash(&a.password)?,
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": tags,
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

/// What `netraven broker setup` was asked for.
pub struct SetupArgs {
    /// `ROLE=USER` overrides of the fixed roles' account names.
    pub users: Vec<String>,
    /// Submitter accounts.
    pub submitters: Vec<String>,
    /// `USER=PATH`.
    pub password_files: Vec<String>,
    /// `USER=VAR`.
    pub password_envs: Vec<String>,
}

fn pair<'a>(flag: &str, s: &'a str) -> Result<(&'a str, &'a str)> {
    match s.split_once('=') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok((a, b)),
        _ => bail!("{flag} takes NAME=VALUE, not {s:?}"),
    }
}

/// The accounts `args` name, each with its password read. The fixed roles' accounts are
/// `<namespace>-<role>` unless `--user ROLE=USER` names them.
pub fn accounts(namespace: &str, args: &SetupArgs) -> Result<Vec<Account>> {
    let mut named: Vec<(String, Role)> = Role::FIXED
        .iter()
        .map(|r| (format!("{namespace}-{}", r.as_str()), *r))
        .collect();
    for u in &args.users {
        let (role, user) = pair("--user", u)?;
        let role = Role::parse(role)?;
        if let Some(slot) = named.iter_mut().find(|(_, r)| *r == role) {
            slot.0 = user.to_string();
        }
    }
    for s in &args.submitters {
        named.push((s.clone(), Role::Submitter));
    }
    let mut sources: Vec<(String, PasswordSource)> = Vec::new();
    for f in &args.password_files {
        let (user, path) = pair("--password-file", f)?;
        sources.push((user.to_string(), PasswordSource::File(path.into())));
    }
    for e in &args.password_envs {
        let (user, var) = pair("--password-env", e)?;
        sources.push((user.to_string(), PasswordSource::Env(var.to_string())));
    }
    for (user, _) in &sources {
        if !named.iter().any(|(n, _)| n == user) {
            bail!(
                "a password is given for {user:?}, which is not one of the accounts: {}",
                named
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let mut accounts = Vec::new();
    for (i, (user, role)) in named.iter().enumerate() {
        if named[..i].iter().any(|(n, _)| n == user) {
            bail!("{user:?} is named for two accounts: give each role its own user");
        }
        let mut given = sources.iter().filter(|(u, _)| u == user);
        let source = match (given.next(), given.next()) {
            (Some((_, s)), None) => s,
            (None, _) => bail!(
                "no password for {user} ({} account): --password-file {user}=PATH or \
                 --password-env {user}=VARIABLE",
                role.as_str()
            ),
            (Some(_), Some(_)) => bail!("two passwords given for {user}"),
        };
        accounts.push(Account {
            user: user.clone(),
            role: *role,
            password: source.read(user)?,
        });
    }
    Ok(accounts)
}

/// Applies the definitions, then declares the topology over AMQP with `settings` (an
/// account allowed to: the administrator's), so that it stands when this returns.
pub async fn setup(settings: &AmqpSettings, rabbitmqctl: &str, accounts: &[Account]) -> Result<()> {
    let names = Names::new(&settings.namespace);
    let defs = definitions(accounts, &names, settings)?;
    let users: Vec<String> = accounts.iter().map(|a| a.user.clone()).collect();
    let vhost = vhost(settings)?;
    let ctl = rabbitmqctl.to_string();
    tokio::task::spawn_blocking(move || {
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        apply(&ctl, &defs, &vhost, &users)
    })
    .await??;
    let connection = broker::connect(settings, "broker-setup")
        .await
        .with_context(|| {
            format!(
                "accounts made, but cannot reach RabbitMQ at {} to declare the topology",
                netraven_shared::config::mask_url(&settings.url)
            )
        })?;
    let channel = connection.create_channel().await?;
    broker::declare_topology(&channel, &names, settings)
        .await
        .context("cannot declare the topology")?;
    let _ = connection.close(200, "done".into()).await;
    Ok(())
}
