//! `netraven secrets retire`: an old key out of the ring, once nothing needs it.

use super::key_file::{read_ring, rewrite, LISTED};
use super::SEALED_COLUMNS;
use anyhow::{bail, Result};
use netraven_shared::sealing::{ring_file, KeyRing};
use std::path::Path;

/// What `retire` did.
#[derive(Debug)]
pub struct Retired {
    pub key_id: String,
    pub keys_left: Vec<String>,
}

/// `netraven secrets retire KEY_ID`: removes the key from the ring. Refused for the sealing
/// key, while any credential is sealed with it, and while any open job was created before
/// it stopped sealing (its tasks may carry secrets sealed with it).
pub async fn retire(client: &deadpool_postgres::Client, path: &Path, key: &str) -> Result<Retired> {
    let (text, ring) = read_ring(path)?;
    if !ring.contains(key) {
        bail!(
            "{} holds no key {key:?} (it holds {})",
            path.display(),
            ring.key_ids().join(", ")
        );
    }
    if ring.sealing_key_id() == key {
        bail!(
            "refused: {key} is the sealing key. Add a new key (`netraven secrets add-key`), \
             let the workers load it, reseal (`netraven secrets reseal`), then retire {key}."
        );
    }
    let pattern = format!("nrv1:{key}:%");
    let sealed: Vec<String> = client
        .query(
            &format!(
                "SELECT name FROM credentials WHERE {} ORDER BY name",
                SEALED_COLUMNS
                    .iter()
                    .map(|c| format!("{c} LIKE $1"))
                    .collect::<Vec<_>>()
                    .join(" OR ")
            ),
            &[&pattern],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !sealed.is_empty() {
        bail!(
            "refused: {} credentials are still sealed with {key}: {}. Nothing was changed. \
             Run `netraven secrets reseal` (it re-seals them under the sealing key {}), then \
             retire {key} again.",
            sealed.len(),
            sealed.join(", "),
            ring.sealing_key_id()
        );
    }
    // Tasks carry the secrets sealed when their job resolved: an open job created before
    // the key stopped sealing may still have some in flight. A key with no record sealed
    // before records were kept, so every open job counts.
    let until: Option<chrono::DateTime<chrono::Utc>> = client
        .query_opt(
            "SELECT sealing_until FROM sealing_keys WHERE key_id = $1",
            &[&key],
        )
        .await?
        .and_then(|r| r.get(0));
    let open = client
        .query(
            "SELECT id::text, status, count(*) OVER () FROM jobs \
             WHERE status IN ('PENDING', 'RUNNING') AND created_at <= coalesce($1, now()) \
             ORDER BY created_at LIMIT $2",
            &[&until, &LISTED],
        )
        .await?;
    if let Some(first) = open.first() {
        let total: i64 = first.get(2);
        let list: Vec<String> = open
            .iter()
            .map(|r| format!("{} ({})", r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect();
        bail!(
            "refused: {total} open jobs may still carry secrets sealed with {key} in their \
             tasks: {}{}. Nothing was changed. Retire {key} once they finish \
             (`netraven job watch ID`).",
            list.join(", "),
            if total > LISTED { ", …" } else { "" }
        );
    }
    let text = ring_file::remove(&text, key)?;
    rewrite(path, &text)?;
    let ring = KeyRing::parse(&text)?;
    Ok(Retired {
        key_id: key.to_string(),
        keys_left: ring.key_ids().into_iter().map(str::to_string).collect(),
    })
}
