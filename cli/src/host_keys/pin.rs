//! `netraven device host-key pin` and `forget`: one device's pin set, replaced or removed.

use super::known_hosts::{choose_from_known_hosts, parse_fingerprint};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::Path;

/// What to pin.
#[derive(Debug, Clone)]
pub enum PinFrom<'a> {
    KnownHosts(&'a Path),
    Fingerprint(&'a str),
}

/// The result of `pin` and `forget`, for people and scripts.
#[derive(Debug, Clone, Serialize)]
pub struct PinChange {
    pub device: String,
    /// `pinned`, `unchanged` (the same pin was there), `replaced`, `forgotten`, `not_pinned`.
    pub action: &'static str,
    pub source: Option<String>,
    pub algorithm: Option<String>,
    pub fingerprint: Option<String>,
    /// The fingerprint pinned before, when this replaced or forgot one.
    pub previous_fingerprint: Option<String>,
    pub notes: Vec<String>,
}

pub(super) struct Device {
    id: i64,
    host: String,
    port: u16,
}

pub(super) async fn device(client: &deadpool_postgres::Client, name: &str) -> Result<Device> {
    let row = client
        .query_opt(
            "SELECT id, host, port FROM devices WHERE name = $1",
            &[&name],
        )
        .await
        .context("cannot read the device")?
        .with_context(|| format!("no device named {name:?}"))?;
    let port: i32 = row.get("port");
    Ok(Device {
        id: row.get("id"),
        host: row.get("host"),
        port: u16::try_from(port).with_context(|| format!("device {name:?} has port {port}"))?,
    })
}

/// Pins `device`'s host key from a `known_hosts` file or a fingerprint. A different pin
/// already there is replaced only with `replace`.
pub async fn pin(
    client: &mut deadpool_postgres::Client,
    name: &str,
    from: PinFrom<'_>,
    replace: bool,
) -> Result<PinChange> {
    let d = device(client, name).await?;
    let (source, algorithm, public_key, fingerprint, notes) = match from {
        PinFrom::KnownHosts(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let c = choose_from_known_hosts(&text, &d.host, d.port)
                .with_context(|| format!("{}", path.display()))?;
            let mut notes = vec![format!("from {} line {}", path.display(), c.line)];
            notes.extend(c.notes);
            (
                "known-hosts",
                Some(c.algorithm),
                c.public_key,
                c.fingerprint,
                notes,
            )
        }
        PinFrom::Fingerprint(f) => {
            let f = parse_fingerprint(f)?;
            ("fingerprint", None, f.clone(), f, Vec::new())
        }
    };
    // The device row is locked FOR UPDATE: a worker pinning on first contact locks it FOR
    // KEY SHARE, so it waits for this pin (and then honours it), or this waits for its pin
    // (and then sees it): a pin is never overwritten without --replace.
    let tx = client
        .transaction()
        .await
        .context("cannot start a transaction")?;
    let live = tx
        .query_opt("SELECT 1 FROM devices WHERE id = $1 FOR UPDATE", &[&d.id])
        .await
        .context("cannot lock the device")?;
    if live.is_none() {
        bail!("device {name:?} was deleted meanwhile");
    }
    let previous = tx
        .query_opt(
            "SELECT public_key, fingerprint FROM host_keys WHERE device_id = $1",
            &[&d.id],
        )
        .await
        .context("cannot read the device's pin")?
        .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)));
    let action = match &previous {
        Some((key, _)) if *key == public_key => "unchanged",
        Some((_, fp)) if !replace => {
            bail!("device {name:?} is already pinned to {fp}; give --replace to pin another key")
        }
        Some(_) => "replaced",
        None => "pinned",
    };
    if action != "unchanged" {
        tx.execute(
            "INSERT INTO host_keys (device_id, algorithm, public_key, fingerprint, source)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (device_id) DO UPDATE SET algorithm = EXCLUDED.algorithm,
                 public_key = EXCLUDED.public_key, fingerprint = EXCLUDED.fingerprint,
                 source = EXCLUDED.source, first_seen_at = now(), last_seen_at = now()",
            &[&d.id, &algorithm, &public_key, &fingerprint, &source],
        )
        .await
        .context("cannot store the pin")?;
    }
    tx.commit().await.context("cannot store the pin")?;
    Ok(PinChange {
        device: name.to_string(),
        action,
        source: Some(source.to_string()),
        algorithm,
        fingerprint: Some(fingerprint),
        previous_fingerprint: previous.filter(|_| action == "replaced").map(|(_, fp)| fp),
        notes,
    })
}

/// Removes `device`'s pin. Under `accept-new` the next contact pins again; under
/// `strict` the device is refused until pinned.
pub async fn forget(client: &deadpool_postgres::Client, name: &str) -> Result<PinChange> {
    let d = device(client, name).await?;
    let gone = client
        .query_opt(
            "DELETE FROM host_keys WHERE device_id = $1 RETURNING fingerprint, source",
            &[&d.id],
        )
        .await
        .context("cannot remove the pin")?;
    Ok(PinChange {
        device: name.to_string(),
        action: if gone.is_some() {
            "forgotten"
        } else {
            "not_pinned"
        },
        source: gone.as_ref().map(|r| r.get(1)),
        algorithm: None,
        fingerprint: None,
        previous_fingerprint: gone.map(|r| r.get(0)),
        notes: Vec::new(),
    })
}
