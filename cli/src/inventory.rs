//! `netraven inventory import FILE`: tags, devices and credentials from YAML, idempotently
//! (importing again updates rows, never duplicates them). Secrets are sealed before they
//! reach Postgres.

use anyhow::{bail, Context, Result};
use deadpool_postgres::GenericClient;
use netraven_shared::sealing::KeyRing;
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub credentials: Vec<Credential>,
    #[serde(default)]
    pub devices: Vec<Device>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// A credential; exactly one of `secret_env`, `secret_file` and `secret` gives its secret.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    pub name: String,
    pub username: String,
    #[serde(default = "default_priority")]
    pub priority: i32,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default)]
    pub secret_file: Option<String>,
    #[serde(default)]
    pub secret: Option<SecretString>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("name", &self.name)
            .field("username", &self.username)
            .field("priority", &self.priority)
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}

fn default_priority() -> i32 {
    100
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    pub name: String,
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub platform: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

fn default_port() -> u16 {
    22
}

/// What an import changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub tags: usize,
    pub credentials: usize,
    pub devices: usize,
    /// Credentials whose secret was written inline in the file.
    pub inline_secrets: Vec<String>,
}

/// Reads and checks an inventory file.
pub fn read(path: &Path) -> Result<Inventory> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let inv: Inventory = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("{} is not a valid inventory", path.display()))?;
    let mut seen = BTreeSet::new();
    for d in &inv.devices {
        if !seen.insert(d.name.as_str()) {
            bail!("device {:?} appears twice in {}", d.name, path.display());
        }
        if d.port == 0 {
            bail!("device {:?}: port must be 1 to 65535", d.name);
        }
    }
    seen.clear();
    for c in &inv.credentials {
        if !seen.insert(c.name.as_str()) {
            bail!(
                "credential {:?} appears twice in {}",
                c.name,
                path.display()
            );
        }
    }
    Ok(inv)
}

fn secret_of(c: &Credential, base: &Path) -> Result<(SecretString, bool)> {
    match (&c.secret_env, &c.secret_file, &c.secret) {
        (Some(var), None, None) => {
            let value = std::env::var(var).with_context(|| {
                format!(
                    "credential {:?}: environment variable {var} is not set",
                    c.name
                )
            })?;
            Ok((SecretString::from(value), false))
        }
        (None, Some(file), None) => {
            let path = base.join(file);
            let value = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "credential {:?}: cannot read secret_file {}",
                    c.name,
                    path.display()
                )
            })?;
            Ok((
                SecretString::from(value.trim_end_matches(['\n', '\r']).to_string()),
                false,
            ))
        }
        (None, None, Some(secret)) => Ok((secret.clone(), true)),
        _ => bail!(
            "credential {:?}: give exactly one of secret_env, secret_file or secret",
            c.name
        ),
    }
}

/// Imports `path` in one transaction.
pub async fn import(
    client: &mut deadpool_postgres::Client,
    keyring: &KeyRing,
    path: &Path,
) -> Result<Imported> {
    let inv = read(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut sealed = Vec::with_capacity(inv.credentials.len());
    let mut inline = Vec::new();
    for c in &inv.credentials {
        let (secret, is_inline) = secret_of(c, base)?;
        if is_inline {
            inline.push(c.name.clone());
        }
        sealed.push(keyring.seal(&secret)?);
    }

    let tx = client.transaction().await?;
    let mut tag_names: BTreeSet<&str> = inv.tags.iter().map(|t| t.name.as_str()).collect();
    tag_names.extend(
        inv.devices
            .iter()
            .flat_map(|d| d.tags.iter().map(String::as_str)),
    );
    tag_names.extend(
        inv.credentials
            .iter()
            .flat_map(|c| c.tags.iter().map(String::as_str)),
    );
    let names: Vec<&str> = tag_names.iter().copied().collect();
    let descriptions: Vec<Option<&str>> = names
        .iter()
        .map(|n| {
            inv.tags
                .iter()
                .find(|t| t.name == *n)
                .and_then(|t| t.description.as_deref())
        })
        .collect();
    tx.execute(
        "INSERT INTO tags (name, description) SELECT * FROM unnest($1::text[], $2::text[])
         ON CONFLICT (name) DO UPDATE SET description = COALESCE(EXCLUDED.description, tags.description)",
        &[&names, &descriptions],
    )
    .await?;

    let c_names: Vec<&str> = inv.credentials.iter().map(|c| c.name.as_str()).collect();
    let c_users: Vec<&str> = inv
        .credentials
        .iter()
        .map(|c| c.username.as_str())
        .collect();
    let c_prio: Vec<i32> = inv.credentials.iter().map(|c| c.priority).collect();
    tx.execute(
        "INSERT INTO credentials (name, username, priority, sealed_secret)
         SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[])
         ON CONFLICT (name) DO UPDATE SET username = EXCLUDED.username, priority = EXCLUDED.priority,
             sealed_secret = EXCLUDED.sealed_secret, updated_at = now()",
        &[&c_names, &c_users, &c_prio, &sealed],
    )
    .await?;
    let (pair_a, pair_t): (Vec<&str>, Vec<&str>) = inv
        .credentials
        .iter()
        .flat_map(|c| c.tags.iter().map(move |t| (c.name.as_str(), t.as_str())))
        .unzip();
    replace_tags(&tx, "credential", &c_names, &pair_a, &pair_t).await?;

    let d_names: Vec<&str> = inv.devices.iter().map(|d| d.name.as_str()).collect();
    let d_hosts: Vec<&str> = inv.devices.iter().map(|d| d.host.as_str()).collect();
    let d_ports: Vec<i32> = inv.devices.iter().map(|d| i32::from(d.port)).collect();
    let d_platforms: Vec<&str> = inv.devices.iter().map(|d| d.platform.as_str()).collect();
    tx.execute(
        "INSERT INTO devices (name, host, port, platform)
         SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[])
         ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, port = EXCLUDED.port,
             platform = EXCLUDED.platform, updated_at = now()",
        &[&d_names, &d_hosts, &d_ports, &d_platforms],
    )
    .await?;
    let (pair_d, pair_t): (Vec<&str>, Vec<&str>) = inv
        .devices
        .iter()
        .flat_map(|d| d.tags.iter().map(move |t| (d.name.as_str(), t.as_str())))
        .unzip();
    replace_tags(&tx, "device", &d_names, &pair_d, &pair_t).await?;
    tx.commit().await?;
    Ok(Imported {
        tags: names.len(),
        credentials: c_names.len(),
        devices: d_names.len(),
        inline_secrets: inline,
    })
}

/// Makes the tags of the named rows exactly the given (name, tag) pairs.
async fn replace_tags<C: GenericClient>(
    db: &C,
    kind: &str,
    owners: &[&str],
    pair_owner: &[&str],
    pair_tag: &[&str],
) -> Result<()> {
    let (table, link, id) = match kind {
        "device" => ("devices", "device_tags", "device_id"),
        _ => ("credentials", "credential_tags", "credential_id"),
    };
    db.execute(
        &format!("DELETE FROM {link} WHERE {id} IN (SELECT id FROM {table} WHERE name = ANY($1))"),
        &[&owners],
    )
    .await?;
    db.execute(
        &format!(
            "INSERT INTO {link} ({id}, tag_id)
             SELECT o.id, t.id FROM unnest($1::text[], $2::text[]) AS p(owner, tag)
             JOIN {table} o ON o.name = p.owner JOIN tags t ON t.name = p.tag
             ON CONFLICT DO NOTHING"
        ),
        &[&pair_owner, &pair_tag],
    )
    .await?;
    Ok(())
}
