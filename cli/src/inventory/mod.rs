//! `netraven inventory import FILE`: tags, devices and credentials from YAML, idempotently
//! (importing again updates rows, never duplicates them). Secrets, private keys and their
//! passphrases are sealed before they reach Postgres; a key is decoded at import (with its
//! passphrase) and its fingerprint stored beside it.
//!
//! The whole file is checked before anything is written ([`parse`] finds every problem and
//! where it is; a tag neither declared in the file nor already stored is one more), and
//! the writes are one transaction: a file with any problem changes nothing, and `netraven`
//! exits 10 ([`crate::exit::Exit::Invalid`]) listing them all. A platform given by an
//! alias (a Netmiko `device_type` such as `cisco_ios_ssh`) is stored as its profile's name.

pub mod parse;
pub mod platforms;

use anyhow::Result;
use deadpool_postgres::GenericClient;
use netraven_shared::sealing::KeyRing;
use netraven_worker::platform::Profiles;
use parse::Problem;
use secrecy::SecretString;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// An inventory file, checked.
#[derive(Debug, Default)]
pub struct Inventory {
    pub tags: Vec<Tag>,
    pub credentials: Vec<Credential>,
    pub devices: Vec<Device>,
}

#[derive(Debug)]
pub struct Tag {
    pub name: String,
    pub description: Option<String>,
}

/// A credential: its password read from `secret_env`, `secret_file` or `secret`, its
/// private key from `key_file` or `key_env`, or both.
pub struct Credential {
    pub name: String,
    pub username: String,
    pub priority: i32,
    pub tags: Vec<String>,
    pub secret: Option<SecretString>,
    /// The secret was written in the file itself.
    pub inline: bool,
    pub key: Option<KeyCredential>,
}

/// A credential's private key, checked at import (it decodes with its passphrase, and
/// its algorithm is one the workers sign with).
pub struct KeyCredential {
    /// The key's text, as the file or variable gave it.
    pub text: SecretString,
    pub passphrase: Option<SecretString>,
    /// `ssh-ed25519 SHA256:...`: public.
    pub fingerprint: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("name", &self.name)
            .field("username", &self.username)
            .field("priority", &self.priority)
            .field("tags", &self.tags)
            .field("key", &self.key.as_ref().map(|k| k.fingerprint.as_str()))
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct Device {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// The profile's own name, as stored.
    pub platform: String,
    /// The platform as the file gave it: the profile's name or one of its aliases.
    pub platform_given: String,
    pub tags: Vec<String>,
}

/// What an import changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub tags: usize,
    pub credentials: usize,
    pub devices: usize,
    /// Credentials whose secret was written inline in the file.
    pub inline_secrets: Vec<String>,
    /// (alias given, profile name stored) → how many devices gave it.
    pub aliases: BTreeMap<(String, String), usize>,
}

/// An inventory file with problems: nothing was imported. `netraven` exits with
/// [`crate::exit::Exit::Invalid`] for it.
#[derive(Debug)]
pub struct Invalid {
    pub path: PathBuf,
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "{} has {n} problem{}; nothing was imported:",
            self.path.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}

/// Reads and checks an inventory file without a database: every problem but undeclared
/// tags (which may be stored already) is an [`Invalid`] error.
pub fn read(path: &Path, profiles: &Profiles) -> Result<Inventory> {
    let read = parse::read_file(path, profiles)?;
    if read.problems.is_empty() {
        Ok(read.inventory)
    } else {
        Err(Invalid {
            path: path.to_path_buf(),
            problems: read.problems,
        }
        .into())
    }
}

/// Imports `path` in one transaction, after checking all of it; `profiles` are the
/// platforms a device may name (the built-ins and `worker.profiles_dir`'s).
pub async fn import(
    client: &mut deadpool_postgres::Client,
    keyring: &KeyRing,
    path: &Path,
    profiles: &Profiles,
) -> Result<Imported> {
    let read = parse::read_file(path, profiles)?;
    let mut problems = read.problems;
    let tx = client.transaction().await?;
    if !read.undeclared.is_empty() {
        let wanted: Vec<&str> = read
            .undeclared
            .iter()
            .map(|u| u.tag.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let stored: BTreeSet<String> = tx
            .query("SELECT name FROM tags WHERE name = ANY($1)", &[&wanted])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for u in &read.undeclared {
            if !stored.contains(&u.tag) {
                problems.push(Problem {
                    line: u.line,
                    column: u.column,
                    message: format!(
                        "{}: tag {:?} is neither declared under `tags:` nor stored: declare \
                         it (`- name: {}`) or correct the name",
                        u.owner, u.tag, u.tag
                    ),
                });
            }
        }
    }
    if !problems.is_empty() {
        problems.sort();
        return Err(Invalid {
            path: path.to_path_buf(),
            problems,
        }
        .into());
    }
    let inv = read.inventory;
    let n = inv.credentials.len();
    let (mut sealed, mut sealed_keys, mut sealed_passphrases, mut fingerprints) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut inline = Vec::new();
    for c in &inv.credentials {
        if c.inline {
            inline.push(c.name.clone());
        }
        sealed.push(c.secret.as_ref().map(|s| keyring.seal(s)).transpose()?);
        let key = c.key.as_ref();
        sealed_keys.push(key.map(|k| keyring.seal(&k.text)).transpose()?);
        sealed_passphrases.push(
            key.and_then(|k| k.passphrase.as_ref())
                .map(|p| keyring.seal(p))
                .transpose()?,
        );
        fingerprints.push(key.map(|k| k.fingerprint.as_str()));
    }
    let mut aliases = BTreeMap::new();
    for d in &inv.devices {
        if d.platform_given != d.platform {
            *aliases
                .entry((d.platform_given.clone(), d.platform.clone()))
                .or_insert(0) += 1;
        }
    }

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
        "INSERT INTO credentials (name, username, priority, sealed_secret, sealed_key,
                                  sealed_key_passphrase, key_fingerprint)
         SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[],
                              $6::text[], $7::text[])
         ON CONFLICT (name) DO UPDATE SET username = EXCLUDED.username, priority = EXCLUDED.priority,
             sealed_secret = EXCLUDED.sealed_secret, sealed_key = EXCLUDED.sealed_key,
             sealed_key_passphrase = EXCLUDED.sealed_key_passphrase,
             key_fingerprint = EXCLUDED.key_fingerprint, updated_at = now()",
        &[
            &c_names,
            &c_users,
            &c_prio,
            &sealed,
            &sealed_keys,
            &sealed_passphrases,
            &fingerprints,
        ],
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
        aliases,
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
