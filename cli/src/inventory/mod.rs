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
//!
//! Jump hosts (`jump_hosts:`) are imported with the rest: each names its credential (in
//! the file or stored), its pinned host key and the jump host it is reached through
//! (`via`). A device's `jump_host:` is the file's word for it (none given: none); a
//! declared tag's `jump_host:` likewise.
//!
//! [`apply`] also serves `--prune` and `--dry-run` ([`plan`] works out what changes,
//! [`prune`] removes), `inventory sync netbox` ([`netbox`] reads the devices) and
//! `inventory export` ([`export`]).

pub mod export;
pub mod netbox;
pub mod parse;
pub mod plan;
pub mod platforms;
pub mod prune;
mod stored;
mod write;

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
    pub jump_hosts: Vec<JumpHost>,
    pub devices: Vec<Device>,
    /// The sections the file has (even empty): what `--prune` makes equal to the file.
    pub sections: Sections,
}

/// Which sections an inventory file has.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sections {
    pub tags: bool,
    pub credentials: bool,
    pub jump_hosts: bool,
    pub devices: bool,
}

#[derive(Debug)]
pub struct Tag {
    pub name: String,
    pub description: Option<String>,
    /// The jump host the tag's devices are reached through (unless they name their own).
    pub jump_host: Option<String>,
}

/// A jump host (bastion): its credential by name, its pinned host key, and the jump host
/// it is itself reached through (`via`).
#[derive(Debug)]
pub struct JumpHost {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub credential: String,
    /// An OpenSSH public key line.
    pub host_key: String,
    pub via: Option<String>,
    pub max_channels: u32,
}

/// A credential: its password read from `secret_env`, `secret_file` or `secret`, its
/// private key from `key_file` or `key_env`, or both.
pub struct Credential {
    pub name: String,
    pub username: String,
    pub priority: i32,
    pub tags: Vec<String>,
    pub secret: Option<SecretString>,
    /// Its own privileged-mode secret (`enable_secret_env`, `enable_secret_file` or
    /// `enable_secret`), when it has one.
    pub enable_secret: Option<SecretString>,
    /// A secret was written in the file itself.
    pub inline: bool,
    pub key: Option<KeyCredential>,
    /// The fleet-wide caps on its logins (`None`: no cap).
    pub max_concurrent_logins: Option<u32>,
    pub max_logins_per_second: Option<u32>,
    /// Where the file said to read the secrets from (`secret_env` → the variable's name,
    /// `key_file` → the path as written): names only, recorded for `inventory export`.
    pub refs: BTreeMap<String, String>,
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
            .field("enable_secret", &self.enable_secret.is_some())
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
    /// The device's own jump host.
    pub jump_host: Option<String>,
    /// Where the device's entry is in the file (its name).
    pub line: usize,
    pub column: usize,
}

/// What an import changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    pub tags: usize,
    pub credentials: usize,
    pub jump_hosts: usize,
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
    let done = apply(
        client,
        keyring,
        read,
        path,
        Source::File,
        Options::default(),
    )
    .await?;
    Ok(done.imported)
}

/// Who writes a device: the source a prune is scoped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// An inventory file (`inventory import`).
    File,
    /// NetBox (`inventory sync netbox`).
    NetBox,
}

impl Source {
    /// As stored in `devices.source`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::File => "file",
            Source::NetBox => "netbox",
        }
    }
}

/// How to apply an inventory.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options {
    /// Make the stored rows of the kinds the inventory has a section for equal to it:
    /// remove what it does not list.
    pub prune: bool,
    /// Work everything out, report it, write nothing.
    pub dry_run: bool,
}

/// What applying an inventory did (or, in a dry run, would do).
#[derive(Debug)]
pub struct Synced {
    pub imported: Imported,
    pub plan: plan::Plan,
    pub dry_run: bool,
}

/// Applies a read inventory in one transaction: checks what needs Postgres (undeclared
/// tags, references, jump hosts of stored tags), works out the [`plan::Plan`], writes,
/// prunes, and commits (or, with `dry_run`, rolls back). Any problem, and nothing is
/// written: an [`Invalid`] error naming `origin`.
pub async fn apply(
    client: &mut deadpool_postgres::Client,
    keyring: &KeyRing,
    read: parse::Read,
    origin: &Path,
    source: Source,
    options: Options,
) -> Result<Synced> {
    let path = origin;
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
    problems.extend(stored::check_references(&tx, &read.references).await?);
    problems.extend(stored::stored_tag_conflicts(&tx, &read.inventory).await?);
    if !problems.is_empty() {
        problems.sort();
        return Err(Invalid {
            path: path.to_path_buf(),
            problems,
        }
        .into());
    }
    let sections = read.inventory.sections;
    let scope = options.prune.then_some(plan::PruneScope {
        credentials: sections.credentials,
        jump_hosts: sections.jump_hosts,
        devices: sections.devices,
    });
    let plan = plan::compute(&tx, &read.inventory, source, scope).await?;
    let inv = read.inventory;
    write::lock_in_batch_order(&tx, &inv, &plan).await?;
    let n = inv.credentials.len();
    let (mut sealed, mut sealed_keys, mut sealed_passphrases, mut fingerprints) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut sealed_enable: Vec<Option<String>> = Vec::with_capacity(n);
    let mut inline = Vec::new();
    for c in &inv.credentials {
        if c.inline {
            inline.push(c.name.clone());
        }
        sealed.push(c.secret.as_ref().map(|s| keyring.seal(s)).transpose()?);
        sealed_enable.push(
            c.enable_secret
                .as_ref()
                .map(|s| keyring.seal(s))
                .transpose()?,
        );
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
    let as_int = |n: Option<u32>| n.map(|n| n as i32);
    let c_concurrent: Vec<Option<i32>> = inv
        .credentials
        .iter()
        .map(|c| as_int(c.max_concurrent_logins))
        .collect();
    let c_rate: Vec<Option<i32>> = inv
        .credentials
        .iter()
        .map(|c| as_int(c.max_logins_per_second))
        .collect();
    let c_refs: Vec<String> = inv
        .credentials
        .iter()
        .map(|c| serde_json::to_string(&c.refs))
        .collect::<Result<_, _>>()?;
    tx.execute(
        "INSERT INTO credentials (name, username, priority, sealed_secret, sealed_key,
                                  sealed_key_passphrase, key_fingerprint, sealed_enable,
                                  secret_refs, max_concurrent_logins, max_logins_per_second)
         SELECT c.name, c.username, c.priority, c.sealed_secret, c.sealed_key,
                c.sealed_key_passphrase, c.key_fingerprint, c.sealed_enable, c.refs::jsonb,
                c.concurrent, c.rate
         FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::int[], $11::int[])
              AS c(name, username, priority, sealed_secret, sealed_key, sealed_key_passphrase,
                   key_fingerprint, sealed_enable, refs, concurrent, rate)
         ON CONFLICT (name) DO UPDATE SET username = EXCLUDED.username, priority = EXCLUDED.priority,
             sealed_secret = EXCLUDED.sealed_secret, sealed_key = EXCLUDED.sealed_key,
             sealed_key_passphrase = EXCLUDED.sealed_key_passphrase,
             key_fingerprint = EXCLUDED.key_fingerprint, sealed_enable = EXCLUDED.sealed_enable,
             secret_refs = EXCLUDED.secret_refs,
             max_concurrent_logins = EXCLUDED.max_concurrent_logins,
             max_logins_per_second = EXCLUDED.max_logins_per_second, updated_at = now()",
        &[
            &c_names,
            &c_users,
            &c_prio,
            &sealed,
            &sealed_keys,
            &sealed_passphrases,
            &fingerprints,
            &sealed_enable,
            &c_refs,
            &c_concurrent,
            &c_rate,
        ],
    )
    .await?;
    let (pair_a, pair_t): (Vec<&str>, Vec<&str>) = inv
        .credentials
        .iter()
        .flat_map(|c| c.tags.iter().map(move |t| (c.name.as_str(), t.as_str())))
        .unzip();
    write::replace_tags(&tx, "credential", &c_names, &pair_a, &pair_t).await?;
    write::write_jump_hosts(&tx, &inv).await?;

    let d_names: Vec<&str> = inv.devices.iter().map(|d| d.name.as_str()).collect();
    let d_hosts: Vec<&str> = inv.devices.iter().map(|d| d.host.as_str()).collect();
    let d_ports: Vec<i32> = inv.devices.iter().map(|d| i32::from(d.port)).collect();
    let d_platforms: Vec<&str> = inv.devices.iter().map(|d| d.platform.as_str()).collect();
    let d_jumps: Vec<Option<&str>> = inv.devices.iter().map(|d| d.jump_host.as_deref()).collect();
    tx.execute(
        "INSERT INTO devices (name, host, port, platform, jump_host_id, source)
         SELECT d.name, d.host, d.port, d.platform, j.id, $6
         FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[])
              AS d(name, host, port, platform, jump)
         LEFT JOIN jump_hosts j ON j.name = d.jump
         ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, port = EXCLUDED.port,
             platform = EXCLUDED.platform, jump_host_id = EXCLUDED.jump_host_id,
             source = EXCLUDED.source,
             enabled = devices.enabled OR devices.removed_at IS NOT NULL, removed_at = NULL,
             updated_at = now()",
        &[
            &d_names,
            &d_hosts,
            &d_ports,
            &d_platforms,
            &d_jumps,
            &source.as_str(),
        ],
    )
    .await?;
    let (pair_d, pair_t): (Vec<&str>, Vec<&str>) = inv
        .devices
        .iter()
        .flat_map(|d| d.tags.iter().map(move |t| (d.name.as_str(), t.as_str())))
        .unzip();
    write::replace_tags(&tx, "device", &d_names, &pair_d, &pair_t).await?;
    let refused = prune::remove(&tx, &plan).await?;
    if !refused.is_empty() {
        return Err(Invalid {
            path: path.to_path_buf(),
            problems: refused,
        }
        .into());
    }
    if options.dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(Synced {
        imported: Imported {
            tags: names.len(),
            credentials: c_names.len(),
            jump_hosts: inv.jump_hosts.len(),
            devices: d_names.len(),
            inline_secrets: inline,
            aliases,
        },
        plan,
        dry_run: options.dry_run,
    })
}
