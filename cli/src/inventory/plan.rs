//! What an import or a sync would do to the stored inventory: the devices, credentials,
//! jump hosts and tags it adds, the fields it changes on each, and (with `--prune`) what
//! it removes. Computed from Postgres inside the import's transaction, before it writes;
//! `--dry-run` prints it and writes nothing.
//!
//! A secret is never compared (it is sealed with a fresh nonce each time, and the plan
//! must not open it): an import seals the file's secrets again whatever they are, and
//! the plan reports a credential changed only for its username, priority, tags, login caps
//! or where its secrets are read from (`secret_env`, `key_file`, ...).

use super::{Inventory, Source};
use anyhow::Result;
use deadpool_postgres::GenericClient;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What an import changes, kind by kind.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Plan {
    pub tags: KindPlan,
    pub credentials: KindPlan,
    pub jump_hosts: KindPlan,
    pub devices: KindPlan,
}

/// The rows of one kind the import adds, changes and removes, by name.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct KindPlan {
    pub added: Vec<String>,
    /// Removed devices that come back (same id, their history with them): also in `added`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revived: Vec<String>,
    pub changed: Vec<Change>,
    pub removed: Vec<String>,
}

/// One row the import changes, and which of its fields.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    pub name: String,
    pub fields: Vec<String>,
}

impl Plan {
    /// Whether the import would change nothing.
    pub fn is_empty(&self) -> bool {
        [
            &self.tags,
            &self.credentials,
            &self.jump_hosts,
            &self.devices,
        ]
        .iter()
        .all(|k| k.added.is_empty() && k.changed.is_empty() && k.removed.is_empty())
    }
}

/// Which kinds a prune removes from: those the file has a section for (a NetBox sync
/// has only devices). Tags are never removed.
#[derive(Debug, Default, Clone, Copy)]
pub struct PruneScope {
    pub credentials: bool,
    pub jump_hosts: bool,
    pub devices: bool,
}

/// Compares `inv` with what Postgres has.
pub async fn compute<C: GenericClient>(
    db: &C,
    inv: &Inventory,
    source: Source,
    prune: Option<PruneScope>,
) -> Result<Plan> {
    let mut plan = Plan::default();

    // Tags: added, or their description or jump host changed (only the file's
    // declarations say those). A device's or credential's new tag is added too.
    let stored: BTreeMap<String, (Option<String>, Option<String>)> = db
        .query(
            "SELECT t.name, t.description, j.name FROM tags t
             LEFT JOIN jump_hosts j ON j.id = t.jump_host_id",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    let mut named: BTreeSet<&str> = inv.tags.iter().map(|t| t.name.as_str()).collect();
    named.extend(
        inv.devices
            .iter()
            .flat_map(|d| d.tags.iter().map(String::as_str)),
    );
    named.extend(
        inv.credentials
            .iter()
            .flat_map(|c| c.tags.iter().map(String::as_str)),
    );
    for name in named {
        match stored.get(name) {
            None => plan.tags.added.push(name.to_string()),
            Some((description, jump)) => {
                let Some(t) = inv.tags.iter().find(|t| t.name == name) else {
                    continue;
                };
                let mut fields = Vec::new();
                if t.description.is_some() && t.description != *description {
                    fields.push("description".to_string());
                }
                if t.jump_host != *jump {
                    fields.push("jump_host".to_string());
                }
                changed(&mut plan.tags, name, fields);
            }
        }
    }

    // Credentials.
    type StoredCredential = (String, i32, Vec<String>, String, Option<i32>, Option<i32>);
    let stored: BTreeMap<String, StoredCredential> = db
        .query(
            "SELECT c.name, c.username, c.priority,
                    ARRAY(SELECT t.name FROM credential_tags ct JOIN tags t ON t.id = ct.tag_id
                          WHERE ct.credential_id = c.id ORDER BY t.name),
                    c.secret_refs::text, c.max_concurrent_logins, c.max_logins_per_second
             FROM credentials c",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            (
                r.get(0),
                (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)),
            )
        })
        .collect();
    let as_int = |n: Option<u32>| n.map(|n| n as i32);
    for c in &inv.credentials {
        match stored.get(&c.name) {
            None => plan.credentials.added.push(c.name.clone()),
            Some((username, priority, tags, refs, concurrent, per_second)) => {
                let mut fields = Vec::new();
                if *username != c.username {
                    fields.push("username".to_string());
                }
                if *priority != c.priority {
                    fields.push("priority".to_string());
                }
                if *tags != sorted(&c.tags) {
                    fields.push("tags".to_string());
                }
                if *concurrent != as_int(c.max_concurrent_logins) {
                    fields.push("max_concurrent_logins".to_string());
                }
                if *per_second != as_int(c.max_logins_per_second) {
                    fields.push("max_logins_per_second".to_string());
                }
                let refs: BTreeMap<String, String> = serde_json::from_str(refs)?;
                if refs != c.refs {
                    fields.push("secret source".to_string());
                }
                changed(&mut plan.credentials, &c.name, fields);
            }
        }
    }
    if prune.is_some_and(|p| p.credentials) {
        let file: BTreeSet<&str> = inv.credentials.iter().map(|c| c.name.as_str()).collect();
        plan.credentials.removed = stored
            .keys()
            .filter(|n| !file.contains(n.as_str()))
            .cloned()
            .collect();
    }

    // Jump hosts.
    type StoredJump = (String, i32, String, String, Option<String>, i32);
    let stored: BTreeMap<String, StoredJump> = db
        .query(
            "SELECT j.name, j.host, j.port, c.name, j.host_key, v.name, j.max_channels
             FROM jump_hosts j JOIN credentials c ON c.id = j.credential_id
             LEFT JOIN jump_hosts v ON v.id = j.via_id",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            (
                r.get(0),
                (r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)),
            )
        })
        .collect();
    for j in &inv.jump_hosts {
        let name = j.name.trim();
        match stored.get(name) {
            None => plan.jump_hosts.added.push(name.to_string()),
            Some((host, port, credential, host_key, via, max_channels)) => {
                let mut fields = Vec::new();
                for (field, same) in [
                    ("host", *host == j.host),
                    ("port", *port == i32::from(j.port)),
                    ("credential", *credential == j.credential),
                    ("host_key", *host_key == j.host_key),
                    ("via", *via == j.via),
                    (
                        "max_channels",
                        i64::from(*max_channels) == i64::from(j.max_channels),
                    ),
                ] {
                    if !same {
                        fields.push(field.to_string());
                    }
                }
                changed(&mut plan.jump_hosts, name, fields);
            }
        }
    }
    if prune.is_some_and(|p| p.jump_hosts) {
        let file: BTreeSet<&str> = inv.jump_hosts.iter().map(|j| j.name.trim()).collect();
        plan.jump_hosts.removed = stored
            .keys()
            .filter(|n| !file.contains(n.as_str()))
            .cloned()
            .collect();
    }

    // Devices.
    struct StoredDevice {
        host: String,
        port: i32,
        platform: String,
        jump: Option<String>,
        tags: Vec<String>,
        removed: bool,
        source: String,
    }
    let stored: BTreeMap<String, StoredDevice> = db
        .query(
            "SELECT d.name, d.host, d.port, d.platform, j.name,
                    ARRAY(SELECT t.name FROM device_tags dt JOIN tags t ON t.id = dt.tag_id
                          WHERE dt.device_id = d.id ORDER BY t.name),
                    d.removed_at IS NOT NULL, d.source
             FROM devices d LEFT JOIN jump_hosts j ON j.id = d.jump_host_id",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            (
                r.get(0),
                StoredDevice {
                    host: r.get(1),
                    port: r.get(2),
                    platform: r.get(3),
                    jump: r.get(4),
                    tags: r.get(5),
                    removed: r.get(6),
                    source: r.get(7),
                },
            )
        })
        .collect();
    for d in &inv.devices {
        match stored.get(&d.name) {
            None => plan.devices.added.push(d.name.clone()),
            Some(s) if s.removed => {
                plan.devices.added.push(d.name.clone());
                plan.devices.revived.push(d.name.clone());
            }
            Some(s) => {
                let mut fields = Vec::new();
                for (field, same) in [
                    ("host", s.host == d.host),
                    ("port", s.port == i32::from(d.port)),
                    ("platform", s.platform == d.platform),
                    ("jump_host", s.jump == d.jump_host),
                    ("tags", s.tags == sorted(&d.tags)),
                    ("source", s.source == source.as_str()),
                ] {
                    if !same {
                        fields.push(field.to_string());
                    }
                }
                changed(&mut plan.devices, &d.name, fields);
            }
        }
    }
    if prune.is_some_and(|p| p.devices) {
        let file: BTreeSet<&str> = inv.devices.iter().map(|d| d.name.as_str()).collect();
        plan.devices.removed = stored
            .iter()
            .filter(|(n, s)| {
                !s.removed && s.source == source.as_str() && !file.contains(n.as_str())
            })
            .map(|(n, _)| n.clone())
            .collect();
    }
    Ok(plan)
}

fn changed(kind: &mut KindPlan, name: &str, fields: Vec<String>) {
    if !fields.is_empty() {
        kind.changed.push(Change {
            name: name.to_string(),
            fields,
        });
    }
}

fn sorted(tags: &[String]) -> Vec<String> {
    let set: BTreeSet<&String> = tags.iter().collect();
    set.into_iter().cloned().collect()
}

/// The plan as a person reads it: one line per kind with counts, then `+ name` for each
/// addition, `~ name: fields` for each change and `- name` for each removal.
pub fn render(plan: &Plan, dry_run: bool) -> String {
    let mut out = String::new();
    for (kind, k) in [
        ("tags", &plan.tags),
        ("credentials", &plan.credentials),
        ("jump hosts", &plan.jump_hosts),
        ("devices", &plan.devices),
    ] {
        let verb = if dry_run { "to " } else { "" };
        let (add, change, remove) = if dry_run {
            ("add", "change", "remove")
        } else {
            ("added", "changed", "removed")
        };
        out.push_str(&format!(
            "{kind}: {} {verb}{add}, {} {verb}{change}, {} {verb}{remove}\n",
            k.added.len(),
            k.changed.len(),
            k.removed.len()
        ));
        for name in &k.added {
            let back = if k.revived.contains(name) {
                " (removed before: comes back with its history)"
            } else {
                ""
            };
            out.push_str(&format!("  + {}{back}\n", crate::views::shown(name)));
        }
        for c in &k.changed {
            out.push_str(&format!(
                "  ~ {}: {}\n",
                crate::views::shown(&c.name),
                c.fields.join(", ")
            ));
        }
        for name in &k.removed {
            out.push_str(&format!("  - {}\n", crate::views::shown(name)));
        }
    }
    if dry_run {
        out.push_str(if plan.is_empty() {
            "no change; dry run: nothing was written\n"
        } else {
            "dry run: nothing was written\n"
        });
    }
    out
}
