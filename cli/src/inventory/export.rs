//! `netraven inventory export`: the stored inventory (tags, credentials, jump hosts and
//! the devices not removed) in the import's YAML format, so that importing it again
//! changes nothing.
//!
//! Secrets are never written. A credential's secrets are written as where the import read
//! them from (`secret_env: NAME`, `key_file: /abs/path`, ...: V20's `secret_refs`); where
//! that is not known (an inline secret, or one imported before V20), the credential gets
//! `not_exported: true`, which the import refuses with a message saying what to write.

use anyhow::Result;
use deadpool_postgres::GenericClient;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
pub struct File {
    pub tags: Vec<Tag>,
    pub credentials: Vec<Credential>,
    pub jump_hosts: Vec<JumpHost>,
    pub devices: Vec<Device>,
}

#[derive(Debug, Serialize)]
pub struct Tag {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jump_host: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Credential {
    pub name: String,
    pub username: String,
    pub priority: i32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent_logins: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_logins_per_second: Option<i32>,
    /// `secret_env: NAME`, `key_file: PATH`, ...: where the import read the secrets.
    #[serde(flatten)]
    pub refs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_exported: bool,
}

#[derive(Debug, Serialize)]
pub struct JumpHost {
    pub name: String,
    pub host: String,
    pub port: i32,
    pub credential: String,
    pub host_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    pub max_channels: i32,
}

#[derive(Debug, Serialize)]
pub struct Device {
    pub name: String,
    pub host: String,
    pub port: i32,
    pub platform: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jump_host: Option<String>,
}

/// The stored inventory, by name.
pub async fn read<C: GenericClient>(db: &C) -> Result<File> {
    let tags = db
        .query(
            "SELECT t.name, t.description, j.name FROM tags t
             LEFT JOIN jump_hosts j ON j.id = t.jump_host_id ORDER BY t.name",
            &[],
        )
        .await?
        .iter()
        .map(|r| Tag {
            name: r.get(0),
            description: r.get(1),
            jump_host: r.get(2),
        })
        .collect();
    let mut credentials = Vec::new();
    for r in db
        .query(
            "SELECT c.name, c.username, c.priority,
                    ARRAY(SELECT t.name FROM credential_tags ct JOIN tags t ON t.id = ct.tag_id
                          WHERE ct.credential_id = c.id ORDER BY t.name),
                    c.secret_refs::text, c.sealed_secret IS NOT NULL, c.sealed_key IS NOT NULL,
                    c.sealed_key_passphrase IS NOT NULL, c.sealed_enable IS NOT NULL,
                    c.max_concurrent_logins, c.max_logins_per_second
             FROM credentials c ORDER BY c.name",
            &[],
        )
        .await?
    {
        let refs: BTreeMap<String, String> = serde_json::from_str(r.get(4))?;
        let has = |prefix: &str| {
            refs.contains_key(&format!("{prefix}_env"))
                || refs.contains_key(&format!("{prefix}_file"))
        };
        let not_exported = (r.get::<_, bool>(5) && !has("secret"))
            || (r.get::<_, bool>(6) && !has("key"))
            || (r.get::<_, bool>(7) && !has("key_passphrase"))
            || (r.get::<_, bool>(8) && !has("enable_secret"));
        credentials.push(Credential {
            name: r.get(0),
            username: r.get(1),
            priority: r.get(2),
            tags: r.get(3),
            max_concurrent_logins: r.get(9),
            max_logins_per_second: r.get(10),
            refs: if not_exported { BTreeMap::new() } else { refs },
            not_exported,
        });
    }
    let jump_hosts = db
        .query(
            "SELECT j.name, j.host, j.port, c.name, j.host_key, v.name, j.max_channels
             FROM jump_hosts j JOIN credentials c ON c.id = j.credential_id
             LEFT JOIN jump_hosts v ON v.id = j.via_id ORDER BY j.name",
            &[],
        )
        .await?
        .iter()
        .map(|r| JumpHost {
            name: r.get(0),
            host: r.get(1),
            port: r.get(2),
            credential: r.get(3),
            host_key: r.get(4),
            via: r.get(5),
            max_channels: r.get(6),
        })
        .collect();
    let devices = db
        .query(
            "SELECT d.name, d.host, d.port, d.platform,
                    ARRAY(SELECT t.name FROM device_tags dt JOIN tags t ON t.id = dt.tag_id
                          WHERE dt.device_id = d.id ORDER BY t.name),
                    j.name
             FROM devices d LEFT JOIN jump_hosts j ON j.id = d.jump_host_id
             WHERE d.removed_at IS NULL ORDER BY d.name",
            &[],
        )
        .await?
        .iter()
        .map(|r| Device {
            name: r.get(0),
            host: r.get(1),
            port: r.get(2),
            platform: r.get(3),
            tags: r.get(4),
            jump_host: r.get(5),
        })
        .collect();
    Ok(File {
        tags,
        credentials,
        jump_hosts,
        devices,
    })
}

/// The file's text, with a header saying what it is.
pub fn render(file: &File) -> Result<String> {
    let unexported = file.credentials.iter().filter(|c| c.not_exported).count();
    let mut out = String::from(
        "# NetRaven inventory, written by `netraven inventory export`: secrets are never\n\
         # exported, only where they are read from (secret_env, key_file, ...).\n",
    );
    if unexported > 0 {
        out.push_str(&format!(
            "# {unexported} credential(s) have `not_exported: true`: give their secrets' sources \
             before importing this file.\n"
        ));
    }
    out.push_str(&serde_yaml_ng::to_string(file)?);
    Ok(out)
}
