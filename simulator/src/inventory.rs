//! The inventory file `netraven inventory import` reads, with secrets in a 0600 folder.
//!
//! ```yaml
//! tags:
//!   - name: fleet
//!   - name: site-1
//! credentials:
//!   - name: tacacs
//!     username: netops
//!     priority: 10
//!     tags: [fleet]
//!     secret_file: dev.secrets/tacacs     # relative to the inventory file's folder
//! devices:
//!   - name: dev-00001
//!     host: 127.0.0.1
//!     port: 20001
//!     platform: linux
//!     tags: [fleet, site-1]
//! ```
//!
//! Each credential's password is the whole content of its secret file (no newline).
//!
//! A device that plays a bastion ([`crate::bastion`]) is written as a jump host too
//! (`jump_hosts:`, with the credential it accepts and its host key), and the devices it
//! reaches get `jump_host:` naming it.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{CredentialSpec, Platform, RunningDevice, SimError};

/// The whole inventory file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryFile {
    /// Every tag the credentials and devices name: the import refuses undeclared ones.
    #[serde(default)]
    pub tags: Vec<InventoryTag>,
    pub credentials: Vec<InventoryCredential>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jump_hosts: Vec<InventoryJumpHost>,
    pub devices: Vec<InventoryDevice>,
}

/// A jump host entry: a device of the fleet that plays a bastion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryJumpHost {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub credential: String,
    pub host_key: String,
    pub max_channels: u32,
}

/// A tag declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryTag {
    pub name: String,
}

/// A credential entry: everything but the secret, which is in `secret_file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryCredential {
    pub name: String,
    pub username: String,
    pub priority: i32,
    pub tags: Vec<String>,
    /// Relative to the inventory file's folder.
    pub secret_file: String,
    /// The credential's own enable secret, when it has one; relative as `secret_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_secret_file: Option<String>,
}

/// A device entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryDevice {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub platform: Platform,
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jump_host: Option<String>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
    move |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `<folder>/<stem>.secrets` for `<folder>/<stem>.yaml`.
pub fn secrets_dir(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "inventory".to_string());
    path.with_file_name(format!("{stem}.secrets"))
}

/// Credential names become file names: keep them to a safe alphabet.
fn file_name(credential: &str) -> String {
    credential
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

/// A device of the fleet that plays a bastion: its name, what it reaches, the logins it
/// accepts.
pub(crate) struct Bastion<'a> {
    pub(crate) name: &'a str,
    pub(crate) spec: &'a crate::BastionSpec,
    pub(crate) accepts: &'a [(String, String)],
}

/// Writes `path` and one 0600 secret file per credential in [`secrets_dir`].
pub(crate) fn write(
    path: &Path,
    credentials: &[CredentialSpec],
    devices: &[RunningDevice],
    bastions: &[Bastion<'_>],
) -> Result<(), SimError> {
    let dir = secrets_dir(path);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io_err(&dir))?;
    let dir_name = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut creds = Vec::with_capacity(credentials.len());
    for c in credentials {
        let name = file_name(&c.name);
        write_secret(&dir.join(&name), c.password.as_bytes())?;
        let enable_secret_file = match &c.enable_secret {
            Some(enable) => {
                let enable_name = format!("{name}.enable");
                write_secret(&dir.join(&enable_name), enable.as_bytes())?;
                Some(format!("{dir_name}/{enable_name}"))
            }
            None => None,
        };
        creds.push(InventoryCredential {
            name: c.name.clone(),
            username: c.username.clone(),
            priority: c.priority,
            tags: c.tags.clone(),
            secret_file: format!("{dir_name}/{name}"),
            enable_secret_file,
        });
    }
    let tags: std::collections::BTreeSet<&String> = credentials
        .iter()
        .flat_map(|c| &c.tags)
        .chain(devices.iter().flat_map(|d| &d.tags))
        .collect();
    let mut jump_hosts = Vec::with_capacity(bastions.len());
    let mut behind: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for &Bastion {
        name,
        spec,
        accepts,
    } in bastions
    {
        let Some(d) = devices.iter().find(|d| d.name == name) else {
            continue;
        };
        let credential = credentials
            .iter()
            .find(|c| accepts.contains(&(c.username.clone(), c.password.clone())))
            .ok_or_else(|| {
                SimError::InvalidSpec(format!(
                    "bastion {name:?} accepts no credential of the fleet: the inventory \
                     cannot log in to it"
                ))
            })?;
        jump_hosts.push(InventoryJumpHost {
            name: name.to_string(),
            host: d.host.to_string(),
            port: d.port,
            credential: credential.name.clone(),
            host_key: d
                .host_key
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" "),
            max_channels: spec.max_channels.unwrap_or(10),
        });
        for target in &spec.reach {
            behind.entry(target.as_str()).or_insert(name);
        }
    }
    let file = InventoryFile {
        jump_hosts,
        tags: tags
            .into_iter()
            .map(|name| InventoryTag { name: name.clone() })
            .collect(),
        credentials: creds,
        devices: devices
            .iter()
            .map(|d| InventoryDevice {
                name: d.name.clone(),
                host: d.host.to_string(),
                port: d.port,
                platform: d.platform,
                tags: d.tags.clone(),
                jump_host: behind.get(d.name.as_str()).map(|b| b.to_string()),
            })
            .collect(),
    };
    let yaml = serde_yaml_ng::to_string(&file)?;
    fs::write(path, yaml).map_err(io_err(path))
}

/// Writes one secret to a file only its owner may read.
fn write_secret(path: &Path, secret: &[u8]) -> Result<(), SimError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))?;
    // The mode above applies to new files only.
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io_err(path))?;
    f.write_all(secret).map_err(io_err(path))
}

/// Reads an inventory file back (for tests and tools).
pub fn read(path: &Path) -> Result<InventoryFile, SimError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    Ok(serde_yaml_ng::from_str(&text)?)
}
