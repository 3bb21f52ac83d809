//! `netraven device host-key list`: pinned devices, one device, or the unpinned ones.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One device's pin, as `list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PinRow {
    pub device: String,
    pub host: String,
    pub port: i32,
    /// `first-use` (a worker under `accept-new`), `known-hosts`, `fingerprint`; `null`
    /// when nothing is pinned.
    pub source: Option<String>,
    /// `null` for a pin by fingerprint.
    pub algorithm: Option<String>,
    pub fingerprint: Option<String>,
    pub pinned_at: Option<DateTime<Utc>>,
    /// When a worker last pinned or confirmed this key on first contact.
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// Which devices `list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListScope<'a> {
    /// Every pinned device.
    Pinned,
    /// Every enabled device without a pin: what `strict` would refuse.
    Unpinned,
    /// One device, pinned or not.
    Device(&'a str),
}

pub async fn list(client: &deadpool_postgres::Client, scope: ListScope<'_>) -> Result<Vec<PinRow>> {
    let (filter, name) = match scope {
        ListScope::Pinned => ("h.device_id IS NOT NULL", None),
        ListScope::Unpinned => ("h.device_id IS NULL AND d.enabled", None),
        ListScope::Device(n) => ("d.name = $1", Some(n)),
    };
    let sql = format!(
        "SELECT d.name, d.host, d.port, h.source, h.algorithm, h.fingerprint,
                h.first_seen_at, h.last_seen_at
         FROM devices d LEFT JOIN host_keys h ON h.device_id = d.id
         WHERE {filter} ORDER BY d.name"
    );
    let rows = match name {
        Some(n) => client.query(&sql, &[&n]).await,
        None => client.query(&sql, &[]).await,
    }
    .context("cannot read host keys")?;
    if let (Some(n), true) = (name, rows.is_empty()) {
        bail!("no device named {n:?}");
    }
    Ok(rows
        .iter()
        .map(|r| PinRow {
            device: r.get(0),
            host: r.get(1),
            port: r.get(2),
            source: r.get(3),
            algorithm: r.get(4),
            fingerprint: r.get(5),
            pinned_at: r.get(6),
            last_seen_at: r.get(7),
        })
        .collect())
}
