//! `netraven secrets reseal`: a new sealing key, and every credential re-sealed under it.

use super::key_file::{read_ring, rewrite};
use super::workers::{running_workers, RunningWorker};
use super::SEALED_COLUMNS;
use anyhow::{bail, Context, Result};
use netraven_shared::sealing::{ring_file, KeyRing};
use std::path::Path;

/// The key `reseal` seals under when none is named: the last key of the ring that has
/// never sealed (added by `add-key`, not yet resealed), else the sealing key itself.
pub(super) async fn default_target(
    client: &deadpool_postgres::Client,
    ring: &KeyRing,
) -> Result<String> {
    let known: Vec<String> = client
        .query("SELECT key_id FROM sealing_keys", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(ring
        .key_ids()
        .iter()
        .skip(1)
        .rev()
        .find(|id| !known.iter().any(|k| k == *id))
        .unwrap_or(&ring.sealing_key_id())
        .to_string())
}

/// What `reseal` did.
#[derive(Debug)]
pub struct Resealed {
    pub key_id: String,
    pub previous_key_id: String,
    pub resealed: usize,
    pub workers: usize,
}

/// `netraven secrets reseal`: makes `key` (default: the newest key that never sealed) the
/// sealing key and re-seals every credential under it, only when every running worker
/// holds it. A refusal names the workers that lack it and changes nothing.
pub async fn reseal(
    client: &mut deadpool_postgres::Client,
    path: &Path,
    key: Option<&str>,
) -> Result<Resealed> {
    let (text, ring) = read_ring(path)?;
    let target = match key {
        Some(k) => k.to_string(),
        None => default_target(client, &ring).await?,
    };
    if !ring.contains(&target) {
        bail!(
            "{} holds no key {target:?} (it holds {})",
            path.display(),
            ring.key_ids().join(", ")
        );
    }
    let workers = running_workers(client).await?;
    let lacking: Vec<&RunningWorker> = workers
        .iter()
        .filter(|w| !w.key_ids.contains(&target))
        .collect();
    if !lacking.is_empty() {
        let list: Vec<String> = lacking.iter().map(|w| format!("  {w}")).collect();
        bail!(
            "refused: {} of {} running workers cannot open key {target} yet:\n{}\n\
             Nothing was changed. Give them the key file with {target} (a worker reloads it \
             within worker.key_file_poll_interval_ms of a change) or restart them, then run \
             `netraven secrets reseal` again. A worker that is gone stops counting three \
             report intervals after its last report.",
            lacking.len(),
            workers.len(),
            list.join("\n")
        );
    }
    let previous = ring.sealing_key_id().to_string();
    let original = text.clone();
    let text = ring_file::promote(&text, &target)?;
    let ring = KeyRing::parse(&text)?;
    if previous != target {
        rewrite(path, &text)?;
    }

    let committed = reseal_credentials(client, path, &ring, &previous, &target).await;
    let resealed = match committed {
        Ok(n) => n,
        Err(e) if previous != target => {
            // Nothing was re-sealed: put the previous sealing key back in front, so that the
            // file and the database agree and a second `reseal` starts from the same place.
            return Err(match rewrite(path, &original) {
                Ok(()) => e.context(format!(
                    "{} is as it was ({previous} seals)",
                    path.display()
                )),
                Err(undo) => e.context(format!(
                    "nothing was re-sealed, and {} could not be put back ({undo:#}): it now \
                     seals with {target}; run `netraven secrets reseal --key {target}`",
                    path.display()
                )),
            });
        }
        Err(e) => return Err(e),
    };
    Ok(Resealed {
        key_id: target,
        previous_key_id: previous,
        resealed,
        workers: workers.len(),
    })
}

/// Re-seals every sealed value ([`SEALED_COLUMNS`]) of every credential not sealed with
/// `target` (the ring's first key) and records
/// the change of sealing key, in one transaction. Returns how many were re-sealed.
pub(super) async fn reseal_credentials(
    client: &mut deadpool_postgres::Client,
    path: &Path,
    ring: &KeyRing,
    previous: &str,
    target: &str,
) -> Result<usize> {
    let tx = client.transaction().await?;
    // NO KEY UPDATE, the lock the UPDATE below takes (no key changes), in id order, as the
    // workers' counter updates take it. FOR UPDATE would also wait on the KEY SHARE locks a
    // worker's batch holds on its credentials while it goes on to update their counters:
    // a deadlock, seen with a job running.
    let columns = SEALED_COLUMNS.join(", ");
    let rows = tx
        .query(
            &format!("SELECT id, name, {columns} FROM credentials ORDER BY id FOR NO KEY UPDATE"),
            &[],
        )
        .await?;
    // Per column, the new sealed value of each re-sealed credential (None: kept as is).
    let mut ids = Vec::new();
    let mut sealed_now: Vec<Vec<Option<String>>> = vec![Vec::new(); SEALED_COLUMNS.len()];
    for row in rows {
        let (id, name): (i64, String) = (row.get(0), row.get(1));
        let mut fresh = Vec::with_capacity(SEALED_COLUMNS.len());
        for (i, column) in SEALED_COLUMNS.iter().enumerate() {
            let sealed: Option<String> = row.get(i + 2);
            fresh.push(match sealed {
                Some(sealed) if !ring.is_current(&sealed) => {
                    let secret = ring.open(&sealed).with_context(|| {
                        format!(
                            "credential {name:?} ({column}) cannot be opened with {} (nothing \
                             was re-sealed)",
                            path.display()
                        )
                    })?;
                    Some(ring.seal(&secret)?)
                }
                _ => None,
            });
        }
        if fresh.iter().any(Option::is_some) {
            ids.push(id);
            for (column, value) in sealed_now.iter_mut().zip(fresh) {
                column.push(value);
            }
        }
    }
    // One statement: the credentials stay locked (workers' counter updates wait) for as
    // short a time as possible.
    let sets: Vec<String> = SEALED_COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = coalesce(n.v{i}, c.{c})"))
        .collect();
    let arrays: Vec<String> = (0..SEALED_COLUMNS.len())
        .map(|i| format!("${}::text[]", i + 2))
        .collect();
    let names: Vec<String> = (0..SEALED_COLUMNS.len()).map(|i| format!("v{i}")).collect();
    let update = format!(
        "UPDATE credentials c SET {}, updated_at = now() \
         FROM unnest($1::bigint[], {}) AS n(id, {}) WHERE c.id = n.id",
        sets.join(", "),
        arrays.join(", "),
        names.join(", ")
    );
    let mut params: Vec<&(dyn deadpool_postgres::tokio_postgres::types::ToSql + Sync)> = vec![&ids];
    params.extend(
        sealed_now
            .iter()
            .map(|c| c as &(dyn deadpool_postgres::tokio_postgres::types::ToSql + Sync)),
    );
    tx.execute(&update, &params).await?;
    let resealed = ids.len();
    if previous != target {
        tx.execute(
            "INSERT INTO sealing_keys (key_id, sealing_since, sealing_until) \
             VALUES ($1, NULL, now()) \
             ON CONFLICT (key_id) DO UPDATE SET sealing_until = now()",
            &[&previous],
        )
        .await?;
    }
    tx.execute(
        "INSERT INTO sealing_keys (key_id, sealing_since) VALUES ($1, now()) \
         ON CONFLICT (key_id) DO UPDATE \
         SET sealing_since = CASE WHEN sealing_keys.sealing_until IS NULL \
                                  THEN sealing_keys.sealing_since ELSE now() END, \
             sealing_until = NULL",
        &[&target],
    )
    .await?;
    tx.commit().await?;
    Ok(resealed)
}
