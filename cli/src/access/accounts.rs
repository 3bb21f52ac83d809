//! The accounts `broker setup` is asked for, their passwords (from files or environment
//! variables, never argv), and the setup itself.

use super::definitions::{apply, definitions, vhost, Account};
use super::roles::Role;
use anyhow::{bail, Context, Result};
use netraven_shared::broker::{self, Names};
use netraven_shared::config::AmqpSettings;

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
        if password.chars().any(char::is_control) {
            bail!("the password of {user} holds a line break or another control character");
        }
        Ok(password.into())
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
