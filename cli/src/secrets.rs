//! `netraven secrets`: creating the sealing key ring and rotating it without an outage.
//!
//! A rotation is four steps, each safe to stop after:
//! 1. [`add_key`]: a new key at the end of the ring. It opens but does not seal yet.
//! 2. The workers pick it up: each polls its key file and reloads it when it changes, and
//!    reports the key ids it holds to Postgres (`worker_key_reports`).
//! 3. [`reseal`]: only when every running worker holds the new key, it becomes the first
//!    (sealing) key and every credential is re-sealed under it in one transaction.
//! 4. [`retire`]: removes an old key, refused while a credential is still sealed with it or
//!    a job that may carry its secrets in flight is still open.
//!
//! [`rotate`] runs 1 to 3, waiting for the workers in between. The key file is rewritten
//! in place, keeping its owner and mode ([`rewrite`]).

use anyhow::{bail, Context, Result};
use netraven_shared::sealing::{ring_file, KeyRing};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

const HEADER: &str = "# NetRaven sealing key ring: the first key seals, every key opens.\n";

/// Jobs whose tasks may still carry secrets sealed with a key (open, created before it
/// stopped sealing) are listed up to this many when `retire` refuses.
const LISTED: i64 = 10;

/// Writes a new key file with mode 0600, atomically (a reader never sees half a file).
/// Refuses to replace an existing file.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    if path.exists() {
        bail!(
            "{} exists; refusing to overwrite a key file (its keys may still be in use)",
            path.display()
        );
    }
    write_atomically(path, text, None)
}

/// Replaces the key file's text atomically, keeping its owner, group and mode: a temporary
/// file in the same folder gets the original's owner and mode, the text, an fsync, then
/// takes the original's name; the folder is fsynced so the rename survives a crash. A
/// symbolic link is followed: the file it points to is replaced and the link stays.
pub fn rewrite(path: &Path, text: &str) -> Result<()> {
    let target =
        std::fs::canonicalize(path).with_context(|| format!("cannot read {}", path.display()))?;
    let meta =
        std::fs::metadata(&target).with_context(|| format!("cannot read {}", target.display()))?;
    write_atomically(&target, text, Some(&meta))
}

fn write_atomically(path: &Path, text: &str, like: Option<&std::fs::Metadata>) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?
        .to_string_lossy();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| -> Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        if let Some(meta) = like {
            let mine = f.metadata()?;
            if (mine.uid(), mine.gid()) != (meta.uid(), meta.gid()) {
                std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid())).with_context(
                    || {
                        format!(
                            "cannot give the new {} its owner {}:{} (run as that user or root)",
                            path.display(),
                            meta.uid(),
                            meta.gid()
                        )
                    },
                )?;
            }
            f.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync {}", dir.display()))?;
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn read_ring(path: &Path) -> Result<(String, KeyRing)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let ring = KeyRing::parse(&text)
        .with_context(|| format!("{} is not a valid key ring", path.display()))?;
    Ok((text, ring))
}

/// `netraven secrets init`: a new key ring of one key.
pub fn init(path: &Path) -> Result<String> {
    let line = KeyRing::generate_line()?;
    write_private(path, &format!("{HEADER}{line}\n"))?;
    Ok(line.split(' ').next().unwrap_or_default().to_string())
}

/// What `add-key` did.
#[derive(Debug)]
pub struct Added {
    pub key_id: String,
    pub sealing_key_id: String,
    pub keys_in_ring: usize,
}

/// `netraven secrets add-key`: a new key at the end of the ring; it does not seal yet.
pub fn add_key(path: &Path) -> Result<Added> {
    let (text, _) = read_ring(path)?;
    let (text, key_id) = ring_file::add_key(&text)?;
    rewrite(path, &text)?;
    let ring = KeyRing::parse(&text)?;
    Ok(Added {
        key_id,
        sealing_key_id: ring.sealing_key_id().to_string(),
        keys_in_ring: ring.key_ids().len(),
    })
}

/// A worker that reported its keys within three of its report intervals.
#[derive(Debug, Clone)]
pub struct RunningWorker {
    /// `host:pid`
    pub worker: String,
    pub key_ids: Vec<String>,
    pub seen_secs_ago: f64,
}

impl std::fmt::Display for RunningWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (holds {}; seen {:.1} s ago)",
            self.worker,
            self.key_ids.join(", "),
            self.seen_secs_ago
        )
    }
}

/// The workers running now, by their reports.
pub async fn running_workers(client: &deadpool_postgres::Client) -> Result<Vec<RunningWorker>> {
    let rows = client
        .query(
            "SELECT worker, key_ids, extract(epoch FROM now() - seen_at)::float8 \
             FROM worker_key_reports \
             WHERE seen_at > now() - make_interval(secs => report_interval_ms * 3 / 1000.0) \
             ORDER BY worker, started_at",
            &[],
        )
        .await
        .context("cannot read the workers' key reports (has `netraven migrate` run?)")?;
    Ok(rows
        .iter()
        .map(|r| RunningWorker {
            worker: r.get(0),
            key_ids: r.get(1),
            seen_secs_ago: r.get(2),
        })
        .collect())
}

/// The key `reseal` seals under when none is named: the last key of the ring that has
/// never sealed (added by `add-key`, not yet resealed), else the sealing key itself.
async fn default_target(client: &deadpool_postgres::Client, ring: &KeyRing) -> Result<String> {
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

/// Re-seals every credential not sealed with `target` (the ring's first key) and records
/// the change of sealing key, in one transaction. Returns how many were re-sealed.
async fn reseal_credentials(
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
    let rows = tx
        .query(
            "SELECT id, name, sealed_secret FROM credentials ORDER BY id FOR NO KEY UPDATE",
            &[],
        )
        .await?;
    let (mut ids, mut sealed_now) = (Vec::new(), Vec::new());
    for row in rows {
        let (id, name, sealed): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
        if ring.is_current(&sealed) {
            continue;
        }
        let secret = ring.open(&sealed).with_context(|| {
            format!(
                "credential {name:?} cannot be opened with {} (nothing was re-sealed)",
                path.display()
            )
        })?;
        ids.push(id);
        sealed_now.push(ring.seal(&secret)?);
    }
    // One statement: the credentials stay locked (workers' counter updates wait) for as
    // short a time as possible.
    tx.execute(
        "UPDATE credentials c SET sealed_secret = n.sealed, updated_at = now() \
         FROM unnest($1::bigint[], $2::text[]) AS n(id, sealed) WHERE c.id = n.id",
        &[&ids, &sealed_now],
    )
    .await?;
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
            "SELECT name FROM credentials WHERE sealed_secret LIKE $1 ORDER BY name",
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

/// What `rotate` did.
#[derive(Debug)]
pub struct Rotated {
    pub added: Added,
    pub resealed: Resealed,
}

/// `netraven secrets rotate`: add-key, then wait up to `wait` for every running worker to
/// hold the new key, then reseal. When the workers do not all get it in time, the new key
/// stays in the ring (not sealing) and the error names the workers and the next step.
pub async fn rotate(
    client: &mut deadpool_postgres::Client,
    path: &Path,
    wait: Duration,
) -> Result<Rotated> {
    let added = add_key(path)?;
    let until = Instant::now() + wait;
    loop {
        let workers = running_workers(client).await?;
        if workers.iter().all(|w| w.key_ids.contains(&added.key_id)) {
            break;
        }
        if Instant::now() >= until {
            let lacking: Vec<String> = workers
                .iter()
                .filter(|w| !w.key_ids.contains(&added.key_id))
                .map(|w| format!("  {w}"))
                .collect();
            bail!(
                "added key {} to {} (it does not seal yet), but after {:?} these running \
                 workers still cannot open it:\n{}\nGive them the key file or restart them, \
                 then run `netraven secrets reseal`.",
                added.key_id,
                path.display(),
                wait,
                lacking.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let resealed = reseal(client, path, Some(&added.key_id)).await?;
    Ok(Rotated { added, resealed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewriting_keeps_the_files_mode_and_owner_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ring.key");
        let id = init(&path).expect("init");
        let meta = std::fs::metadata(&path).expect("meta");
        assert_eq!(meta.mode() & 0o777, 0o600, "init writes 0600");
        assert!(init(&path).is_err(), "init never overwrites");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let added = add_key(&path).expect("add");
        assert_eq!(added.sealing_key_id, id);
        assert_eq!(added.keys_in_ring, 2);
        let after = std::fs::metadata(&path).expect("meta");
        assert_eq!(after.mode() & 0o777, 0o640, "mode kept");
        assert_eq!(
            (after.uid(), after.gid()),
            (meta.uid(), meta.gid()),
            "owner kept"
        );
        assert_ne!(
            after.ino(),
            meta.ino(),
            "replaced by rename, not written in place"
        );
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.starts_with(HEADER), "{text}");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["ring.key".to_string()]);

        // A link to the key file stays a link; the file it points to is rewritten.
        let link = dir.path().join("current.key");
        std::os::unix::fs::symlink(&path, &link).expect("symlink");
        let added = add_key(&link).expect("add through the link");
        assert_eq!(added.keys_in_ring, 3);
        assert!(std::fs::symlink_metadata(&link)
            .expect("meta")
            .file_type()
            .is_symlink());
        assert_eq!(
            KeyRing::parse(&std::fs::read_to_string(&path).expect("read"))
                .expect("ring")
                .key_ids()
                .len(),
            3
        );
        assert_eq!(
            std::fs::metadata(&path).expect("meta").mode() & 0o777,
            0o640
        );
    }
}
