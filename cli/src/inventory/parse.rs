//! Reading an inventory file and finding every problem in it, each with the line and
//! column it is on: empty names, hosts, usernames and secrets; a secret given none or
//! several ways, or from an unset variable or unreadable file; names given twice; ports out
//! of range; unknown platforms; fields that are not there or not known. Tags that the file
//! names but does not declare are handed back for the import to look up in Postgres.
//!
//! Why `marked-yaml` and not `serde_yaml_ng` (which the rest of the CLI uses):
//! `serde_yaml_ng` gives a position only for the one error that stops it, never for a
//! value that parsed but is wrong (an empty host, a duplicate name, an unknown platform),
//! and it stops at the first bad entry. `marked-yaml` (on `yaml-rust2`, pure Rust, both
//! maintained) parses once to nodes that keep their marks, and its serde support fills
//! `Spanned<T>` fields from them. Each entry is deserialized on its own, so a malformed
//! entry is one problem and the others are still checked. What it refuses that
//! `serde_yaml_ng` took: anchors and aliases (`&a`, `*a`) and explicit tags (`!!str`),
//! each reported with its position; an inventory has no need of them.
//!
//! Jump hosts (`jump_hosts:`) are checked the same way: a host key that is not an
//! OpenSSH public key line, `max_channels` out of range, a `via` chain that loops or is
//! longer than four hops, a device whose tags name two different jump hosts. The names a
//! jump host, device or tag refers to (credentials, jump hosts) that the file does not
//! define are handed back for the import to look up in Postgres.
//!
//! Secrets never reach a message: problems name the credential, the variable or the file,
//! never a value.

use super::{Credential, Device, Inventory, JumpHost, KeyCredential, Tag};
use marked_yaml::{LoadError, LoaderOptions, Node, Span, Spanned};
use netraven_worker::client_keys;
use netraven_worker::platform::Profiles;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// One problem in the file, and where it is (1-based; 0 when the parser gave no mark).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.message
            )
        }
    }
}

/// A tag named by a device or credential that the file's `tags:` does not declare: a
/// problem unless Postgres has it already.
#[derive(Debug)]
pub struct Undeclared {
    pub tag: String,
    pub line: usize,
    pub column: usize,
    /// `device "r1"` or `credential "tacacs"`.
    pub owner: String,
}

/// A credential or jump host named in the file but not defined in it: a problem unless
/// Postgres has it already.
#[derive(Debug)]
pub struct Reference {
    /// `credential` or `jump host`.
    pub kind: &'static str,
    pub name: String,
    pub line: usize,
    pub column: usize,
    /// `jump host "bastion-1"`, `device "r1"` or `tag "site-a"`.
    pub owner: String,
}

/// What reading a file found: the inventory (meaningful only without problems), the
/// problems, and the tags, credentials and jump hosts to look up.
#[derive(Debug, Default)]
pub struct Read {
    pub inventory: Inventory,
    pub problems: Vec<Problem>,
    pub undeclared: Vec<Undeclared>,
    pub references: Vec<Reference>,
}

/// The most channels a jump host's `max_channels` may allow.
pub const MAX_CHANNELS: i64 = 1000;
/// The longest jump host chain.
pub const MAX_HOPS: usize = 4;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTag {
    name: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    jump_host: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJumpHost {
    name: Spanned<String>,
    host: Spanned<String>,
    #[serde(default)]
    port: Option<Spanned<i64>>,
    credential: Spanned<String>,
    host_key: Spanned<String>,
    #[serde(default)]
    via: Option<Spanned<String>>,
    #[serde(default)]
    max_channels: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredential {
    name: Spanned<String>,
    username: Spanned<String>,
    #[serde(default = "default_priority")]
    priority: i32,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    #[serde(default)]
    secret_env: Option<Spanned<String>>,
    #[serde(default)]
    secret_file: Option<Spanned<String>>,
    #[serde(default)]
    secret: Option<Spanned<SecretString>>,
    /// A private key's file (OpenSSH, PEM or PKCS#8).
    #[serde(default)]
    key_file: Option<Spanned<String>>,
    /// An environment variable that holds a private key's text.
    #[serde(default)]
    key_env: Option<Spanned<String>>,
    #[serde(default)]
    key_passphrase_env: Option<Spanned<String>>,
    #[serde(default)]
    key_passphrase_file: Option<Spanned<String>>,
    #[serde(default)]
    enable_secret_env: Option<Spanned<String>>,
    #[serde(default)]
    enable_secret_file: Option<Spanned<String>>,
    #[serde(default)]
    enable_secret: Option<Spanned<SecretString>>,
    /// Fleet-wide: at most this many logins with the credential at once, over every worker.
    #[serde(default)]
    max_concurrent_logins: Option<Spanned<i64>>,
    /// Fleet-wide: at most this many logins with the credential start in any one second.
    #[serde(default)]
    max_logins_per_second: Option<Spanned<i64>>,
    /// Written by `inventory export` where it could not say where a secret is read from
    /// (it was inline, or imported before V20 recorded sources): always a problem.
    #[serde(default)]
    not_exported: Option<Spanned<bool>>,
}

/// The highest fleet-wide login cap a credential may name (a larger one caps nothing).
const MAX_LOGIN_CAP: i64 = 100_000;

fn default_priority() -> i32 {
    100
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    name: Spanned<String>,
    host: Spanned<String>,
    /// Wider than a port, so that 70000 is "out of range" with its line, not a type error.
    #[serde(default)]
    port: Option<Spanned<i64>>,
    platform: Spanned<String>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    #[serde(default)]
    jump_host: Option<Spanned<String>>,
}

fn at(span: &Span) -> (usize, usize) {
    span.start().map_or((0, 0), |m| (m.line(), m.column()))
}

/// Collects problems, sorted by position when done.
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, span: &Span, message: String) {
        let (line, column) = at(span);
        self.0.push(Problem {
            line,
            column,
            message,
        });
    }
}

/// Reads the file at `path`; `Err` only when it cannot be read at all. Relative
/// `secret_file`s are read from the file's folder.
pub fn read_file(path: &Path, profiles: &Profiles) -> anyhow::Result<Read> {
    use anyhow::Context as _;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(read_str(&text, base, profiles))
}

/// Reads an inventory from `text`.
pub fn read_str(text: &str, base: &Path, profiles: &Profiles) -> Read {
    let mut problems = Problems(Vec::new());
    let mut read = Read::default();
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    let root = match marked_yaml::parse_yaml_with_options(0, text, options) {
        Ok(root) => root,
        Err(e) => {
            read.problems = vec![load_problem(&e)];
            return read;
        }
    };
    let Some(top) = root.as_mapping() else {
        problems.add(
            root.span(),
            "an inventory is a mapping of tags, credentials, jump_hosts and devices".into(),
        );
        read.problems = problems.0;
        return read;
    };
    let mut sections: [&[Node]; 4] = [&[], &[], &[], &[]];
    for (key, value) in top.iter() {
        let slot = match key.as_str() {
            "tags" => 0,
            "credentials" => 1,
            "devices" => 2,
            "jump_hosts" => 3,
            other => {
                problems.add(
                    key.span(),
                    format!(
                        "unknown section {other:?}: an inventory has tags, credentials, \
                         jump_hosts and devices"
                    ),
                );
                continue;
            }
        };
        match slot {
            0 => read.inventory.sections.tags = true,
            1 => read.inventory.sections.credentials = true,
            2 => read.inventory.sections.devices = true,
            _ => read.inventory.sections.jump_hosts = true,
        }
        match value {
            Node::Sequence(seq) => sections[slot] = seq.as_slice(),
            // `devices:` with nothing after it: an empty section.
            Node::Scalar(s) if s.as_str().is_empty() || s.as_str() == "~" => {}
            other => problems.add(
                other.span(),
                format!("{}: give a list (`- name: ...` entries)", key.as_str()),
            ),
        }
    }

    let mut declared: HashMap<String, usize> = HashMap::new();
    let mut tag_jumps: Vec<(String, Spanned<String>)> = Vec::new();
    for node in sections[0] {
        let Some(t) = entry::<RawTag>(node, "tag", &mut problems) else {
            continue;
        };
        let (name, _) = named("tag", &t.name, &mut declared, &mut problems);
        let jump_host = t.jump_host.as_ref().map(|j| j.as_str().trim().to_string());
        if let Some(j) = &t.jump_host {
            tag_jumps.push((format!("tag {name:?}"), j.clone()));
        }
        read.inventory.tags.push(Tag {
            name: t.name.to_string(),
            description: t.description,
            jump_host,
        });
    }

    let mut seen: HashMap<String, usize> = HashMap::new();
    for node in sections[1] {
        let Some(c) = entry::<RawCredential>(node, "credential", &mut problems) else {
            continue;
        };
        let (_, owner) = named("credential", &c.name, &mut seen, &mut problems);
        if c.username.as_str().trim().is_empty() {
            problems.add(c.username.span(), format!("{owner}: username is empty"));
        }
        let tags = tags_of(&c.tags, &owner, &declared, &mut problems, &mut read);
        if let Some(flag) = &c.not_exported {
            problems.add(
                flag.span(),
                format!(
                    "{owner}: its secrets were not exported (they were written inline, or \
                     imported before their sources were recorded): replace `not_exported` \
                     with secret_env or secret_file (and key_file, enable_secret_env, ... \
                     as the credential needs)"
                ),
            );
            continue;
        }
        let before = problems.0.len();
        let mut cap = |field: &str, given: &Option<Spanned<i64>>| match given {
            None => None,
            Some(n) if (1..=MAX_LOGIN_CAP).contains(&**n) => Some(**n as u32),
            Some(n) => {
                problems.add(
                    n.span(),
                    format!(
                        "{owner}: {field} {} is out of range (1 to {MAX_LOGIN_CAP}; leave it \
                         out for no cap)",
                        **n
                    ),
                );
                None
            }
        };
        let max_concurrent_logins = cap("max_concurrent_logins", &c.max_concurrent_logins);
        let max_logins_per_second = cap("max_logins_per_second", &c.max_logins_per_second);
        let secret = Given {
            field: "secret",
            env: c.secret_env.as_ref(),
            file: c.secret_file.as_ref(),
            inline: c.secret.as_ref(),
        }
        .read(node.span(), &owner, base, &mut problems);
        let enable = Given {
            field: "enable_secret",
            env: c.enable_secret_env.as_ref(),
            file: c.enable_secret_file.as_ref(),
            inline: c.enable_secret.as_ref(),
        }
        .read(node.span(), &owner, base, &mut problems);
        let key = key_of(&c, node.span(), &owner, base, &mut problems);
        if problems.0.len() > before {
            continue;
        }
        if secret.is_none() && key.is_none() {
            problems.add(
                node.span(),
                format!(
                    "{owner}: give a secret (secret_env, secret_file or secret), a key \
                     (key_file or key_env), or both"
                ),
            );
            continue;
        }
        let inline = [&secret, &enable]
            .iter()
            .any(|s| s.as_ref().is_some_and(|(_, inline)| *inline));
        let refs = [
            ("secret_env", &c.secret_env),
            ("secret_file", &c.secret_file),
            ("key_file", &c.key_file),
            ("key_env", &c.key_env),
            ("key_passphrase_env", &c.key_passphrase_env),
            ("key_passphrase_file", &c.key_passphrase_file),
            ("enable_secret_env", &c.enable_secret_env),
            ("enable_secret_file", &c.enable_secret_file),
        ]
        .into_iter()
        .filter_map(|(field, given)| {
            let given = given.as_ref()?.as_str();
            // A file is recorded by its absolute path, so that an export read from
            // another folder reads the same file.
            let value = if field.ends_with("_file") {
                let path = base.join(given);
                std::fs::canonicalize(&path)
                    .unwrap_or(path)
                    .to_string_lossy()
                    .into_owned()
            } else {
                given.to_string()
            };
            Some((field.to_string(), value))
        })
        .collect();
        read.inventory.credentials.push(Credential {
            name: c.name.to_string(),
            username: c.username.to_string(),
            priority: c.priority,
            tags,
            secret: secret.map(|(s, _)| s),
            enable_secret: enable.map(|(s, _)| s),
            inline,
            key,
            max_concurrent_logins,
            max_logins_per_second,
            refs,
        });
    }

    let credential_names: HashSet<String> = read
        .inventory
        .credentials
        .iter()
        .map(|c| c.name.trim().to_string())
        .collect();
    jump_hosts(sections[3], &credential_names, &mut problems, &mut read);
    let jump_names: HashSet<String> = read
        .inventory
        .jump_hosts
        .iter()
        .map(|j| j.name.clone())
        .collect();
    for (owner, j) in &tag_jumps {
        refer_jump_host(j, owner, &jump_names, &mut problems, &mut read);
    }

    let known = profiles.names().join(", ");
    seen.clear();
    for node in sections[2] {
        let Some(d) = entry::<RawDevice>(node, "device", &mut problems) else {
            continue;
        };
        let (_, owner) = named("device", &d.name, &mut seen, &mut problems);
        let port = address(&owner, &d.host, d.port.as_ref(), &mut problems);
        let given = d.platform.as_str().trim();
        let platform = match profiles.resolve(given) {
            Some(found) => found.canonical().to_string(),
            None => {
                let lower = given.to_ascii_lowercase();
                let hint = match profiles.resolve(&lower) {
                    Some(_) if lower != given => format!(" (did you mean {lower:?}?)"),
                    _ => String::new(),
                };
                let what = if given.is_empty() {
                    "platform is empty".to_string()
                } else {
                    format!("unknown platform {given:?}{hint}")
                };
                problems.add(
                    d.platform.span(),
                    format!(
                        "{owner}: {what}; known platforms: {known} (`netraven inventory \
                         platforms` lists their aliases too)"
                    ),
                );
                String::new()
            }
        };
        let tags = tags_of(&d.tags, &owner, &declared, &mut problems, &mut read);
        let jump_host = d
            .jump_host
            .as_ref()
            .and_then(|j| refer_jump_host(j, &owner, &jump_names, &mut problems, &mut read));
        let (line, column) = at(d.name.span());
        read.inventory.devices.push(Device {
            name: d.name.to_string(),
            host: d.host.to_string(),
            port,
            platform_given: given.to_string(),
            platform,
            tags,
            jump_host,
            line,
            column,
        });
    }
    // A device's tags are made as they are named (a device's tags group it; a tag no
    // credential shares only means no credential fits it yet). A credential's tag must
    // be declared, stored, or carried by a device of the file: one that nothing carries
    // is a misspelling that would make the credential fit no device.
    let device_tags: HashSet<&str> = read
        .inventory
        .devices
        .iter()
        .flat_map(|d| d.tags.iter().map(String::as_str))
        .collect();
    let owned: Vec<Undeclared> = std::mem::take(&mut read.undeclared);
    read.undeclared = owned
        .into_iter()
        .filter(|u| u.owner.starts_with("credential") && !device_tags.contains(u.tag.as_str()))
        .collect();
    let file_tags: HashMap<String, String> = read
        .inventory
        .tags
        .iter()
        .filter_map(|t| Some((t.name.trim().to_string(), t.jump_host.clone()?)))
        .collect();
    let declared_tags: HashSet<String> = read
        .inventory
        .tags
        .iter()
        .map(|t| t.name.trim().to_string())
        .collect();
    problems.0.extend(tag_conflicts(
        &read.inventory,
        &file_tags,
        &declared_tags,
        &HashMap::new(),
    ));
    problems.0.sort();
    read.problems = problems.0;
    read
}

/// Devices that name no jump host of their own but whose tags name two different ones:
/// which to use would depend on the order of the tags. `file` maps the file's tags to
/// their jump host, `declared` lists every tag the file declares (its word wins over
/// Postgres's, even for no jump host), `stored` maps stored tags to theirs.
pub fn tag_conflicts(
    inventory: &Inventory,
    file: &HashMap<String, String>,
    declared: &HashSet<String>,
    stored: &HashMap<String, String>,
) -> Vec<Problem> {
    let mut out = Vec::new();
    for d in inventory.devices.iter().filter(|d| d.jump_host.is_none()) {
        let mut named: Vec<(&str, &str)> = d
            .tags
            .iter()
            .filter_map(|t| {
                let jump = if declared.contains(t) {
                    file.get(t)
                } else {
                    stored.get(t)
                };
                jump.map(|j| (t.as_str(), j.as_str()))
            })
            .collect();
        named.sort_by_key(|&(_, j)| j);
        named.dedup_by_key(|&mut (_, j)| j);
        if named.len() > 1 {
            let list: Vec<String> = named
                .iter()
                .map(|(t, j)| format!("tag {t:?} names {j:?}"))
                .collect();
            out.push(Problem {
                line: d.line,
                column: d.column,
                message: format!(
                    "device {:?}: its tags name different jump hosts ({}): give the device \
                     its own `jump_host:` or correct a tag",
                    d.name.trim(),
                    list.join(", ")
                ),
            });
        }
    }
    out
}

/// Checks the `jump_hosts:` section into `read`.
fn jump_hosts(
    nodes: &[Node],
    credentials: &HashSet<String>,
    problems: &mut Problems,
    read: &mut Read,
) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut vias: Vec<(String, Spanned<String>)> = Vec::new();
    for node in nodes {
        let Some(j) = entry::<RawJumpHost>(node, "jump host", problems) else {
            continue;
        };
        let (_, owner) = named("jump host", &j.name, &mut seen, problems);
        let port = address(&owner, &j.host, j.port.as_ref(), problems);
        let max_channels = match &j.max_channels {
            None => 10,
            Some(m) if (1..=MAX_CHANNELS).contains(&**m) => **m as u32,
            Some(m) => {
                problems.add(
                    m.span(),
                    format!(
                        "{owner}: max_channels {} is out of range (1 to {MAX_CHANNELS})",
                        **m
                    ),
                );
                0
            }
        };
        let host_key = j.host_key.as_str().trim().to_string();
        if host_key.starts_with("SHA256:") {
            problems.add(
                j.host_key.span(),
                format!(
                    "{owner}: host_key is a fingerprint; give the jump host's OpenSSH public \
                     key line (`ssh-ed25519 AAAA...`, as in known_hosts or \
                     /etc/ssh/ssh_host_*_key.pub)"
                ),
            );
        } else if netraven_worker::ssh::fingerprint_of_line(&host_key).is_none() {
            problems.add(
                j.host_key.span(),
                format!(
                    "{owner}: host_key is not an OpenSSH public key line (`ssh-ed25519 \
                     AAAA...`); a jump host's key is pinned, never learnt on first use"
                ),
            );
        }
        let credential = j.credential.as_str().trim().to_string();
        if credential.is_empty() {
            problems.add(j.credential.span(), format!("{owner}: credential is empty"));
        } else if !credentials.contains(&credential) {
            let (line, column) = at(j.credential.span());
            read.references.push(Reference {
                kind: "credential",
                name: credential.clone(),
                line,
                column,
                owner: owner.clone(),
            });
        }
        let via = j.via.as_ref().map(|v| v.as_str().trim().to_string());
        if let Some(v) = &j.via {
            vias.push((owner.clone(), v.clone()));
        }
        read.inventory.jump_hosts.push(JumpHost {
            name: j.name.to_string(),
            host: j.host.to_string(),
            port,
            credential,
            host_key,
            via,
            max_channels,
        });
    }
    let names: HashSet<String> = read
        .inventory
        .jump_hosts
        .iter()
        .map(|j| j.name.trim().to_string())
        .collect();
    for (owner, v) in &vias {
        refer_jump_host(v, owner, &names, problems, read);
    }
    // Chains within the file: a loop, or more than MAX_HOPS hops (a chain that goes on
    // through stored jump hosts is checked by Postgres at import).
    let via_of: HashMap<&str, (&str, &Spanned<String>)> = read
        .inventory
        .jump_hosts
        .iter()
        .filter_map(|j| {
            let owner = format!("jump host {:?}", j.name.trim());
            let span = vias.iter().find(|(o, _)| *o == owner).map(|(_, s)| s)?;
            Some((j.name.trim(), (j.via.as_deref()?, span)))
        })
        .collect();
    for j in &read.inventory.jump_hosts {
        let start = j.name.trim();
        let Some(&(_, span)) = via_of.get(start) else {
            continue;
        };
        let mut chain = vec![start];
        let mut looped = None;
        while let Some(&(next, _)) = chain.last().and_then(|c| via_of.get(c)) {
            if let Some(i) = chain.iter().position(|c| *c == next) {
                looped = Some(i);
                break;
            }
            chain.push(next);
        }
        match looped {
            // Reported once, by the loop's first member in name order.
            Some(0) if chain.iter().min() == Some(&start) => {
                let mut cycle = chain.clone();
                cycle.push(start);
                problems.add(
                    span.span(),
                    format!(
                        "jump host {start:?}: its via chain loops ({})",
                        cycle.join(" → ")
                    ),
                );
            }
            Some(_) => {}
            None if chain.len() > MAX_HOPS => {
                chain.reverse();
                problems.add(
                    span.span(),
                    format!(
                        "jump host {start:?}: its chain has {} hops ({}); at most {MAX_HOPS}",
                        chain.len(),
                        chain.join(" → ")
                    ),
                );
            }
            None => {}
        }
    }
}

/// A jump host named by `owner`: its trimmed name, with a reference for the import to
/// look up when the file does not define it; `None` (and a problem) when empty.
fn refer_jump_host(
    j: &Spanned<String>,
    owner: &str,
    defined: &HashSet<String>,
    problems: &mut Problems,
    read: &mut Read,
) -> Option<String> {
    let name = j.as_str().trim();
    if name.is_empty() {
        problems.add(j.span(), format!("{owner}: jump_host is empty"));
        return None;
    }
    if !defined.contains(name) {
        let (line, column) = at(j.span());
        read.references.push(Reference {
            kind: "jump host",
            name: name.to_string(),
            line,
            column,
            owner: owner.to_string(),
        });
    }
    Some(name.to_string())
}

/// An entry's name, trimmed, and how problems name its entry (`device "r1"`); an empty
/// name or one `seen` already (name → line) is a problem.
fn named(
    kind: &str,
    name: &Spanned<String>,
    seen: &mut HashMap<String, usize>,
    problems: &mut Problems,
) -> (String, String) {
    let trimmed = name.as_str().trim().to_string();
    let owner = format!("{kind} {trimmed:?}");
    if trimmed.is_empty() {
        problems.add(name.span(), format!("{kind} name is empty"));
    } else if let Some(first) = seen.insert(trimmed.clone(), at(name.span()).0) {
        problems.add(
            name.span(),
            format!("{owner} is declared twice (first on line {first})"),
        );
    }
    (trimmed, owner)
}

/// The port of a `host` and `port` (22 when not given); an empty host or a port out of
/// range is a problem (the port is then 0).
fn address(
    owner: &str,
    host: &Spanned<String>,
    port: Option<&Spanned<i64>>,
    problems: &mut Problems,
) -> u16 {
    if host.as_str().trim().is_empty() {
        problems.add(host.span(), format!("{owner}: host is empty"));
    }
    match port {
        None => 22,
        Some(p) => match u16::try_from(**p) {
            Ok(port) if port > 0 => port,
            _ => {
                problems.add(
                    p.span(),
                    format!("{owner}: port {} is out of range (1 to 65535)", **p),
                );
                0
            }
        },
    }
}

/// One entry of a section, or `None` with its problem recorded.
fn entry<T: DeserializeOwned>(node: &Node, kind: &str, problems: &mut Problems) -> Option<T> {
    match marked_yaml::from_node::<T>(node) {
        Ok(t) => Some(t),
        Err(e) => {
            // Missing and unknown fields carry no mark: point at the field's key when it
            // is there, else at the entry.
            let span = match &*e {
                marked_yaml::Error::UnknownFieldError(field, _, _) => node
                    .as_mapping()
                    .and_then(|m| m.keys().find(|k| k.as_str() == field))
                    .map(|k| *k.span()),
                _ => e.start_mark().map(Span::new_start),
            }
            .unwrap_or(*node.span());
            let name = node
                .as_mapping()
                .and_then(|m| m.get_scalar("name"))
                .map(|n| format!(" {:?}", n.as_str()))
                .unwrap_or_default();
            problems.add(&span, format!("{kind}{name}: {}", describe(&e)));
            None
        }
    }
}

/// The deserializer's words, made to read like the rest of our messages.
fn describe(e: &marked_yaml::FromNodeError) -> String {
    match &**e {
        marked_yaml::Error::UnknownFieldError(field, expected, _) => format!(
            "unknown field {field:?} (the fields are {})",
            expected.join(", ")
        ),
        marked_yaml::Error::IntegerParseFailure(_, _) => "not a whole number".into(),
        other => other.to_string(),
    }
}

fn tags_of(
    tags: &[Spanned<String>],
    owner: &str,
    declared: &HashMap<String, usize>,
    problems: &mut Problems,
    read: &mut Read,
) -> Vec<String> {
    let mut names = Vec::with_capacity(tags.len());
    for t in tags {
        let name = t.as_str().trim();
        if name.is_empty() {
            problems.add(t.span(), format!("{owner}: a tag name is empty"));
            continue;
        }
        if !declared.contains_key(name) {
            let (line, column) = at(t.span());
            read.undeclared.push(Undeclared {
                tag: name.to_string(),
                line,
                column,
                owner: owner.to_string(),
            });
        }
        names.push(name.to_string());
    }
    names
}

/// One secret of a credential as the file may give it: from an environment variable, a
/// file, or inline (`secret_env`, `secret_file`, `secret`; the same with `enable_`).
struct Given<'a> {
    /// The inline field's name, `secret` or `enable_secret`: its words name it in
    /// problems (`enable secret`).
    field: &'static str,
    env: Option<&'a Spanned<String>>,
    file: Option<&'a Spanned<String>>,
    inline: Option<&'a Spanned<SecretString>>,
}

impl Given<'_> {
    /// The secret and whether it was inline; `None` when not given, or with the problem
    /// recorded (given two ways, unreadable, empty).
    fn read(
        &self,
        entry: &Span,
        owner: &str,
        base: &Path,
        problems: &mut Problems,
    ) -> Option<(SecretString, bool)> {
        let field = self.field;
        let what = field.replace('_', " ");
        let given = [
            self.env.is_some(),
            self.file.is_some(),
            self.inline.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            problems.add(
                entry,
                format!("{owner}: give at most one of {field}_env, {field}_file or {field}"),
            );
            return None;
        }
        let (secret, inline, span) = match self.inline {
            Some(secret) => ((**secret).clone(), true, *secret.span()),
            None => {
                let (secret, span) =
                    env_or_file(self.env, self.file, &what, owner, base, problems)?;
                (secret, false, span)
            }
        };
        if secret.expose_secret().is_empty() {
            problems.add(&span, format!("{owner}: the {what} is empty"));
            return None;
        }
        Some((secret, inline))
    }
}

/// Reads a value from the environment variable `var` or the file `file` (relative to
/// `base`), trailing newlines removed; `what` names it in problems. `None` with the
/// problem recorded.
fn env_or_file(
    var: Option<&Spanned<String>>,
    file: Option<&Spanned<String>>,
    what: &str,
    owner: &str,
    base: &Path,
    problems: &mut Problems,
) -> Option<(SecretString, Span)> {
    match (var, file) {
        (Some(var), None) => match std::env::var(var.as_str()) {
            Ok(value) => Some((SecretString::from(value), *var.span())),
            Err(_) => {
                problems.add(
                    var.span(),
                    format!(
                        "{owner}: environment variable {} ({what}) is not set (or not UTF-8)",
                        var.as_str()
                    ),
                );
                None
            }
        },
        (None, Some(file)) => {
            let path = base.join(file.as_str());
            match std::fs::read_to_string(&path) {
                Ok(value) => Some((
                    SecretString::from(value.trim_end_matches(['\n', '\r']).to_string()),
                    *file.span(),
                )),
                Err(e) => {
                    problems.add(
                        file.span(),
                        format!("{owner}: cannot read {what} file {}: {e}", path.display()),
                    );
                    None
                }
            }
        }
        _ => None,
    }
}

/// The credential's private key, decoded with its passphrase to check it: `None` when it
/// gives none, or with the problem recorded. Problems name the file or the variable and
/// what is wrong, never the key or the passphrase.
fn key_of(
    c: &RawCredential,
    entry: &Span,
    owner: &str,
    base: &Path,
    problems: &mut Problems,
) -> Option<KeyCredential> {
    if c.key_env.is_some() && c.key_file.is_some() {
        problems.add(
            entry,
            format!("{owner}: give at most one of key_file or key_env"),
        );
        return None;
    }
    if c.key_passphrase_env.is_some() && c.key_passphrase_file.is_some() {
        problems.add(
            entry,
            format!("{owner}: give at most one of key_passphrase_env or key_passphrase_file"),
        );
        return None;
    }
    let passphrase_given = c
        .key_passphrase_env
        .as_ref()
        .or(c.key_passphrase_file.as_ref());
    if c.key_env.is_none() && c.key_file.is_none() {
        if let Some(p) = passphrase_given {
            problems.add(
                p.span(),
                format!("{owner}: a key passphrase is given but no key (key_file or key_env)"),
            );
        }
        return None;
    }
    let (text, span) = env_or_file(
        c.key_env.as_ref(),
        c.key_file.as_ref(),
        "private key",
        owner,
        base,
        problems,
    )?;
    let passphrase = match passphrase_given {
        None => None,
        Some(_) => Some(env_or_file(
            c.key_passphrase_env.as_ref(),
            c.key_passphrase_file.as_ref(),
            "key passphrase",
            owner,
            base,
            problems,
        )?),
    };
    let source = match (&c.key_file, &c.key_env) {
        (Some(f), _) => format!("key_file {}", f.as_str()),
        (_, Some(v)) => format!("key_env {}", v.as_str()),
        _ => "key".to_string(),
    };
    match client_keys::decode(
        text.expose_secret(),
        passphrase.as_ref().map(|(p, _)| p.expose_secret()),
    ) {
        Ok(key) => Some(KeyCredential {
            fingerprint: client_keys::fingerprint(&key),
            text,
            passphrase: passphrase.map(|(p, _)| p),
        }),
        Err(problem) => {
            let at = match (&problem, &passphrase) {
                (client_keys::KeyProblem::WrongPassphrase, Some((_, p))) => *p,
                _ => span,
            };
            problems.add(&at, format!("{owner}: {source}: {problem}"));
            None
        }
    }
}

/// A file the parser refused, where it stopped.
fn load_problem(e: &LoadError) -> Problem {
    let (mark, message) = match e {
        LoadError::TopLevelMustBeMapping(m) | LoadError::TopLevelMustBeSequence(m) => (
            Some(*m),
            "an inventory is a mapping of tags, credentials and devices".to_string(),
        ),
        LoadError::UnexpectedAnchor(m) => (
            Some(*m),
            "anchors and aliases (&name, *name) are not supported in an inventory: write \
             the values out"
                .to_string(),
        ),
        LoadError::MappingKeyMustBeScalar(m) => (Some(*m), "a key must be a plain name".into()),
        LoadError::UnexpectedTag(m) => (
            Some(*m),
            "explicit YAML tags (!!str, !foo) are not supported in an inventory".into(),
        ),
        LoadError::ScanError(m, e) => (Some(*m), format!("not valid YAML: {}", e.info())),
        LoadError::DuplicateKey(inner) => (
            inner.key.span().start().copied(),
            format!(
                "the key {:?} is given twice in one entry (first on line {})",
                inner.key.as_str(),
                inner.prev_key.span().start().map_or(0, |m| m.line())
            ),
        ),
    };
    Problem {
        line: mark.map_or(0, |m| m.line()),
        column: mark.map_or(0, |m| m.column()),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Read {
        let profiles = Profiles::load(None).expect("built-ins");
        read_str(yaml, Path::new("."), &profiles)
    }

    fn lines(r: &Read) -> Vec<String> {
        r.problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_empty_file_is_an_empty_inventory_and_defaults_apply() {
        let r = read("# nothing yet\n");
        assert!(r.problems.is_empty() && r.inventory.devices.is_empty());
        let r = read("devices:\n  - { name: r1, host: h, platform: ios, tags: [a] }\n");
        assert!(r.problems.is_empty(), "{:?}", lines(&r));
        let d = &r.inventory.devices[0];
        assert_eq!(
            (d.port, d.platform.as_str(), d.platform_given.as_str()),
            (22, "cisco_ios", "ios")
        );
        // A device's undeclared tag is made at import.
        assert!(r.undeclared.is_empty());
        // A credential's tag that no device carries and the file does not declare: the
        // import asks Postgres, reading alone does not judge it.
        let r = read("credentials:\n  - { name: c, username: u, secret: s, tags: [b] }\n");
        assert_eq!(r.undeclared.len(), 1, "{:?}", lines(&r));
        assert_eq!((r.undeclared[0].line, r.undeclared[0].column), (2, 47));
    }

    #[test]
    fn what_the_parser_refuses_is_one_problem_with_its_place() {
        let r = read("devices:\n  - &r1\n    name: r1\n");
        assert_eq!(r.problems.len(), 1);
        assert!(
            r.problems[0]
                .to_string()
                .starts_with("line 3, column 9: anchors"),
            "{:?}",
            lines(&r)
        );
        let r = read("devices:\n  - name: r1\n    name: r2\n");
        assert_eq!(
            lines(&r),
            ["line 3, column 5: the key \"name\" is given twice in one entry (first on line 2)"]
        );
    }

    #[test]
    fn unknown_sections_and_missing_fields_are_named_with_every_other_problem() {
        let r = read(
            "devcies: []\ndevices:\n  - { name: r1, platform: linux }\n  - { name: r2, host: h, platform: linux, port: 0 }\n",
        );
        assert_eq!(
            lines(&r),
            [
                "line 1, column 1: unknown section \"devcies\": an inventory has tags, credentials, jump_hosts and devices",
                "line 3, column 5: device \"r1\": missing field `host`",
                "line 4, column 49: device \"r2\": port 0 is out of range (1 to 65535)",
            ]
        );
    }

    #[test]
    fn an_enable_secret_is_optional_and_checked_as_the_secret_is() {
        let r = read(
            "credentials:\n  - { name: a, username: u, secret: s, enable_secret: e }\n  - { name: b, username: u, secret: s }\n",
        );
        assert!(r.problems.is_empty(), "{:?}", lines(&r));
        let enables: Vec<bool> = r
            .inventory
            .credentials
            .iter()
            .map(|c| c.enable_secret.is_some())
            .collect();
        assert_eq!(enables, [true, false]);
        let r = read(
            "credentials:\n  - { name: a, username: u, secret: s, enable_secret: en-value, enable_secret_env: HOME }\n  - { name: b, username: u, secret: s, enable_secret: '' }\n  - { name: c, username: u, secret: s, enable_secret_env: NRT_SURELY_UNSET_VAR }\n",
        );
        let all = lines(&r).join("\n");
        assert_eq!(
            lines(&r),
            [
                "line 2, column 5: credential \"a\": give at most one of enable_secret_env, enable_secret_file or enable_secret",
                "line 3, column 55: credential \"b\": the enable secret is empty",
                "line 4, column 59: credential \"c\": environment variable NRT_SURELY_UNSET_VAR (enable secret) is not set (or not UTF-8)",
            ]
        );
        assert!(!all.contains("en-value"));
    }

    #[test]
    fn login_caps_are_optional_and_must_be_positive() {
        let r = read(
            "credentials:\n  - { name: a, username: u, secret: s, max_concurrent_logins: 5, max_logins_per_second: 2 }\n  - { name: b, username: u, secret: s }\n",
        );
        assert!(r.problems.is_empty(), "{:?}", lines(&r));
        let caps: Vec<(Option<u32>, Option<u32>)> = r
            .inventory
            .credentials
            .iter()
            .map(|c| (c.max_concurrent_logins, c.max_logins_per_second))
            .collect();
        assert_eq!(caps, [(Some(5), Some(2)), (None, None)]);
        let r = read(
            "credentials:\n  - { name: a, username: u, secret: s, max_concurrent_logins: 0 }\n  - { name: b, username: u, secret: s, max_logins_per_second: 100001 }\n",
        );
        assert_eq!(
            lines(&r),
            [
                "line 2, column 63: credential \"a\": max_concurrent_logins 0 is out of range (1 to 100000; leave it out for no cap)",
                "line 3, column 63: credential \"b\": max_logins_per_second 100001 is out of range (1 to 100000; leave it out for no cap)",
            ]
        );
    }

    #[test]
    fn a_secret_given_twice_or_not_at_all_is_refused_without_printing_it() {
        let r = read(
            "credentials:\n  - { name: a, username: u, secret: s3cr3t-value, secret_env: HOME }\n  - { name: b, username: u }\n",
        );
        let all = lines(&r).join("\n");
        assert_eq!(r.problems.len(), 2, "{all}");
        assert!(
            all.contains("credential \"a\": give at most one of"),
            "{all}"
        );
        assert!(
            all.contains(
                "credential \"b\": give a secret (secret_env, secret_file or secret), a key"
            ),
            "{all}"
        );
        assert!(!all.contains("s3cr3t-value"));
    }

    #[test]
    fn a_key_is_a_login_of_its_own_and_what_is_not_a_key_is_named() {
        std::env::set_var("NRT_PARSE_NOT_A_KEY", "hunter2-not-a-key");
        let r = read(
            "credentials:\n\
             \x20 - { name: a, username: u, key_env: NRT_PARSE_NOT_A_KEY }\n\
             \x20 - { name: b, username: u, key_env: X, key_file: y }\n\
             \x20 - { name: c, username: u, secret: s, key_passphrase_env: HOME }\n\
             \x20 - { name: d, username: u }\n",
        );
        let all = lines(&r).join("\n");
        assert_eq!(
            lines(&r),
            [
                "line 2, column 38: credential \"a\": key_env NRT_PARSE_NOT_A_KEY: not a private key (give an OpenSSH, PEM or PKCS#8 private key)",
                "line 3, column 5: credential \"b\": give at most one of key_file or key_env",
                "line 4, column 60: credential \"c\": a key passphrase is given but no key (key_file or key_env)",
                "line 5, column 5: credential \"d\": give a secret (secret_env, secret_file or secret), a key (key_file or key_env), or both",
            ],
            "{all}"
        );
        assert!(!all.contains("hunter2"));
    }

    #[test]
    fn sections_and_secret_sources_are_recorded_and_not_exported_is_refused() {
        std::env::set_var("NRT_PARSE_REF", "ref-secret-value");
        let r = read(
            "credentials:\n  - { name: a, username: u, secret_env: NRT_PARSE_REF }\ndevices: []\n",
        );
        assert!(r.problems.is_empty(), "{:?}", lines(&r));
        let s = r.inventory.sections;
        assert!(s.credentials && s.devices && !s.tags && !s.jump_hosts);
        let refs: Vec<(&str, &str)> = r.inventory.credentials[0]
            .refs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(refs, [("secret_env", "NRT_PARSE_REF")]);
        let r = read("credentials:\n  - { name: b, username: u, not_exported: true }\n");
        let all = lines(&r).join("\n");
        assert_eq!(r.problems.len(), 1, "{all}");
        assert!(
            all.starts_with("line 2, column 43: credential \"b\": its secrets were not exported"),
            "{all}"
        );
    }
}
