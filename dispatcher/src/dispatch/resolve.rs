//! Target and credential resolution: which devices a job runs on, and for every one of
//! them the credentials that may fit, in the order a worker tries them.
//!
//! A credential matches a device when it is enabled and they share a tag. Order: the
//! credential that last succeeded on the device (affinity) first, then `priority`
//! ascending, then id ascending; the job's cap cuts the list. [`Stream::explain`] gives
//! the same list for one device with what the cap cut, for `netraven device credentials`:
//! it runs this module's code, so the view cannot disagree with a job.
//! A device reached through jump hosts gets its path, outermost first: its own jump host,
//! else its tags' (the lowest id, should two tags name different ones: import refuses
//! that), each hop preceded by the hops it is reached through (`via`).
//! The whole job resolves in two queries, whatever its size (and two small ones for the
//! jump hosts); the dispatcher reads a job's
//! devices from its membership a page at a time instead ([`Stream::page`]), so that it
//! holds one connection, and one page, at a time.
//!
//! A query that fails because the database went away (a lost connection, a server
//! shutting down, a read-only server after a failover, a statement cancelled) is the
//! infrastructure's failure, not the job's: it is reported as a database error, which the
//! dispatcher retries, and never as [`DispatchError::Resolution`], which ends the job
//! `FAILED_CREDENTIAL_RESOLUTION`.

use crate::error::{DispatchError, Result};
use deadpool_postgres::GenericClient;
use netraven_shared::messages::{Targets, TaskCredential, TaskDevice, TaskJumpHost};
use netraven_shared::Transient;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

/// One target device and its ordered credentials.
#[derive(Debug, Clone)]
pub struct ResolvedDevice {
    pub device: TaskDevice,
    pub credentials: Vec<Arc<TaskCredential>>,
    /// The host key pinned for the device, if any.
    pub pinned_host_key: Option<String>,
    /// The jump hosts the device is reached through, outermost first; empty: directly.
    pub jump: Arc<[TaskJumpHost]>,
    /// Which try of the device its task is: `None` for the first, set for a retry.
    pub try_number: Option<u32>,
}

/// What a job resolved to.
#[derive(Debug, Default)]
pub struct Resolution {
    pub devices: Vec<ResolvedDevice>,
    /// Named devices (or ids) that do not exist or are disabled.
    pub missing_names: Vec<String>,
}

impl Resolution {
    pub fn resolved_count(&self) -> usize {
        self.devices
            .iter()
            .filter(|d| !d.credentials.is_empty())
            .count()
    }
}

/// The target devices, each with its tag ids and the credential that last worked on it.
const DEVICES_SQL: &str = "
WITH target AS (
    SELECT dt.device_id AS id FROM device_tags dt
    WHERE dt.tag_id = ANY(ARRAY(SELECT t.id FROM tags t WHERE t.name = ANY($3)))
    UNION
    SELECT d.id FROM devices d WHERE d.name = ANY($1) OR d.id = ANY($2)
)
SELECT d.id, d.name, d.host, d.port, d.platform, a.credential_id AS affinity, h.public_key AS pinned, d.jump_host_id AS jump,
       ARRAY(SELECT x.tag_id FROM device_tags x WHERE x.device_id = d.id) AS tags
FROM target t
JOIN devices d ON d.id = t.id AND d.enabled
LEFT JOIN device_credential_affinity a ON a.device_id = d.id
LEFT JOIN host_keys h ON h.device_id = d.id
ORDER BY d.id";

/// One device by name, enabled or not, as [`DEVICES_SQL`] gives it, with its `enabled`.
const ONE_DEVICE_SQL: &str = "
SELECT d.id, d.name, d.host, d.port, d.platform, d.enabled, a.credential_id AS affinity,
       h.public_key AS pinned, d.jump_host_id AS jump,
       ARRAY(SELECT x.tag_id FROM device_tags x WHERE x.device_id = d.id) AS tags
FROM devices d
LEFT JOIN device_credential_affinity a ON a.device_id = d.id
LEFT JOIN host_keys h ON h.device_id = d.id
WHERE d.name = $1";

/// One page of a job's members (`job_devices`) after a device id, as [`DEVICES_SQL`]
/// gives them. A member whose device was deleted since comes with `gone` and no device.
const MEMBERS_SQL: &str = "
SELECT m.device_id AS id, d.id IS NULL AS gone, d.name, d.host, d.port, d.platform,
       a.credential_id AS affinity, h.public_key AS pinned, d.jump_host_id AS jump,
       ARRAY(SELECT x.tag_id FROM device_tags x WHERE x.device_id = m.device_id) AS tags
FROM job_devices m
LEFT JOIN devices d ON d.id = m.device_id
LEFT JOIN device_credential_affinity a ON a.device_id = m.device_id
LEFT JOIN host_keys h ON h.device_id = m.device_id
WHERE m.job_id = $1 AND m.device_id > $2
ORDER BY m.device_id
LIMIT $3";

/// One page of a job's members, resolved.
#[derive(Debug, Default)]
pub struct Page {
    pub devices: Vec<ResolvedDevice>,
    /// The last member the page read, where the next page starts; `None` past the end.
    pub last: Option<i64>,
}

/// Every enabled credential with its tag ids: a few hundred rows at most. A disabled
/// credential (`netraven credential disable`) is never tried by a job dispatched after.
const CREDENTIALS_SQL: &str = "
SELECT c.id, c.name, c.username, c.sealed_secret, c.sealed_key, c.sealed_key_passphrase,
       c.sealed_enable, c.priority, c.max_concurrent_logins, c.max_logins_per_second,
       ARRAY(SELECT ct.tag_id FROM credential_tags ct WHERE ct.credential_id = c.id) AS tags
FROM credentials c WHERE c.enabled";

/// Every jump host with its credential (whether enabled or not: disabling a credential
/// stops devices' logins with it, and a jump host names its own) — a handful of rows.
const JUMP_HOSTS_SQL: &str = "
SELECT j.id, j.name, j.host, j.port, j.host_key, j.via_id, j.max_channels,
       c.id AS credential_id, c.name AS credential_name, c.username, c.sealed_secret,
       c.sealed_key, c.sealed_key_passphrase
FROM jump_hosts j JOIN credentials c ON c.id = j.credential_id";

/// The tags that name a jump host.
const TAG_JUMP_HOSTS_SQL: &str = "SELECT id, jump_host_id FROM tags WHERE jump_host_id IS NOT NULL";

/// A credential's fleet-wide login cap (migration V19 keeps it positive), `None` for none.
fn cap(row: &tokio_postgres::Row, column: &str) -> Option<u32> {
    row.get::<_, Option<i32>>(column)
        .and_then(|n| u32::try_from(n).ok())
}

/// The longest jump host path (the database refuses longer chains, and loops).
pub const MAX_HOPS: usize = 4;

/// A resolution query's failure: transient ones are the database's (retried), the
/// others the job's.
fn failed(e: tokio_postgres::Error) -> DispatchError {
    if e.is_transient() {
        DispatchError::Db(e)
    } else {
        DispatchError::Resolution(e)
    }
}

struct Candidate {
    credential: Arc<TaskCredential>,
    priority: i32,
}

/// One device as a job would resolve it, for `netraven device credentials`.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// What a task for the device carries: its credentials in order, cut at the cap.
    pub resolved: ResolvedDevice,
    /// A disabled device is in no job; `resolved` says what it would get if enabled.
    pub enabled: bool,
    pub tag_ids: Vec<i64>,
    /// The credential that last logged in to the device, enabled or not.
    pub affinity: Option<i64>,
    /// Every credential that matches the device, in order, before the cap: those past
    /// `resolved.credentials.len()` are the ones the cap left out.
    pub matching: Vec<Arc<TaskCredential>>,
}

/// Resolves `targets`, keeping at most `max_credentials` per device: the whole job at once
/// (the dispatcher streams it instead, see [`Stream`]).
pub async fn resolve<C: GenericClient>(
    db: &C,
    targets: &Targets,
    max_credentials: usize,
) -> Result<Resolution> {
    let mut stream = Stream::open(db, targets, max_credentials).await?;
    let mut devices = Vec::new();
    loop {
        let chunk = stream.next_chunk(10_000).await?;
        if chunk.is_empty() {
            break;
        }
        devices.extend(chunk);
    }
    Ok(Resolution {
        devices,
        missing_names: stream.missing_names(),
    })
}

/// A job's devices resolved as Postgres returns them, so that the first tasks can be
/// published while the rest are still coming (a 50,000-device job resolves in a few
/// hundred milliseconds).
///
/// Two queries, whatever the fleet's size: the devices with their tags, and the
/// credentials with theirs; tags are matched here, which keeps Postgres out of a join
/// and sort of (devices × tags × credentials) rows that spills to disk at fleet scale.
pub struct Stream {
    /// The devices' rows; none for a stream that reads a job's members page by page.
    rows: Option<std::pin::Pin<Box<tokio_postgres::RowStream>>>,
    candidates: Vec<Candidate>,
    by_tag: HashMap<i64, Vec<usize>>,
    max_credentials: usize,
    /// Devices named (or numbered) in the targets, struck off as they are found.
    wanted_names: HashSet<String>,
    wanted_ids: HashSet<i64>,
    named: Vec<String>,
    numbered: Vec<i64>,
    /// Reused for every device's matching credentials.
    matched: Vec<usize>,
    /// The rows have all come (a row stream must not be polled again after its end).
    ended: bool,
    /// Each jump host's path, outermost first, ending with itself.
    paths: HashMap<i64, Arc<[TaskJumpHost]>>,
    /// The jump host each tag names, for devices that name none of their own.
    tag_jump: HashMap<i64, i64>,
}

impl Stream {
    /// Loads the credentials and starts the devices' query. `db` must not be used for
    /// anything else until the stream has ended.
    pub async fn open<C: GenericClient>(
        db: &C,
        targets: &Targets,
        max_credentials: usize,
    ) -> Result<Stream> {
        let mut stream = Stream::credentials(db, max_credentials).await?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&targets.devices, &targets.device_ids, &targets.tags];
        let rows = db
            .query_raw(DEVICES_SQL, params.iter().copied())
            .await
            .map_err(failed)?;
        stream.rows = Some(Box::pin(rows));
        stream.wanted_names = targets.devices.iter().cloned().collect();
        stream.wanted_ids = targets.device_ids.iter().copied().collect();
        stream.named.clone_from(&targets.devices);
        stream.numbered.clone_from(&targets.device_ids);
        Ok(stream)
    }

    /// Loads the credentials only: the devices then come from a job's members, a page
    /// at a time ([`Stream::page`]), and `db` is free between calls.
    pub async fn credentials<C: GenericClient>(db: &C, max_credentials: usize) -> Result<Stream> {
        let credential_rows = db.query(CREDENTIALS_SQL, &[]).await.map_err(failed)?;
        let mut candidates = Vec::with_capacity(credential_rows.len());
        let mut by_tag: HashMap<i64, Vec<usize>> = HashMap::new();
        for r in &credential_rows {
            let index = candidates.len();
            for tag in r.get::<_, Vec<i64>>("tags") {
                by_tag.entry(tag).or_default().push(index);
            }
            candidates.push(Candidate {
                credential: Arc::new(TaskCredential {
                    id: r.get("id"),
                    name: r.get("name"),
                    username: r.get("username"),
                    sealed_secret: r.get("sealed_secret"),
                    sealed_key: r.get("sealed_key"),
                    sealed_key_passphrase: r.get("sealed_key_passphrase"),
                    sealed_enable: r.get("sealed_enable"),
                    max_concurrent_logins: cap(r, "max_concurrent_logins"),
                    max_logins_per_second: cap(r, "max_logins_per_second"),
                }),
                priority: r.get("priority"),
            });
        }
        let (paths, tag_jump) = jump_paths(db).await?;
        Ok(Stream {
            paths,
            tag_jump,
            rows: None,
            candidates,
            by_tag,
            max_credentials,
            wanted_names: HashSet::new(),
            wanted_ids: HashSet::new(),
            named: Vec::new(),
            numbered: Vec::new(),
            matched: Vec::new(),
            ended: false,
        })
    }

    /// The job's members after device id `after`, at most `n` of them, in id order, each
    /// with its credentials. A member whose device is gone is skipped (the sweeper marks
    /// it `LOST` at the job's deadline).
    pub async fn page<C: GenericClient>(
        &mut self,
        db: &C,
        job_id: Uuid,
        after: i64,
        n: usize,
    ) -> Result<Page> {
        let limit = i64::try_from(n).unwrap_or(i64::MAX);
        let rows = db
            .query(MEMBERS_SQL, &[&job_id, &after, &limit])
            .await
            .map_err(failed)?;
        let mut page = Page {
            devices: Vec::with_capacity(rows.len()),
            last: None,
        };
        for row in &rows {
            page.last = Some(row.get("id"));
            if !row.get::<_, bool>("gone") {
                page.devices.push(self.device(row)?);
            }
        }
        Ok(page)
    }

    /// The next devices, at most `n` of them, in id order; none once the stream has ended.
    pub async fn next_chunk(&mut self, n: usize) -> Result<Vec<ResolvedDevice>> {
        use futures::StreamExt;
        let mut devices = Vec::with_capacity(n.min(10_000));
        while devices.len() < n && !self.ended {
            let Some(rows) = self.rows.as_mut() else {
                self.ended = true;
                break;
            };
            let Some(row) = rows.next().await else {
                self.ended = true;
                break;
            };
            let device = self.device(&row.map_err(failed)?)?;
            self.wanted_names.remove(&device.device.name);
            self.wanted_ids.remove(&device.device.id);
            devices.push(device);
        }
        Ok(devices)
    }

    /// One device by name, enabled or not, resolved as a job with this stream's cap
    /// would resolve it, with every matching credential beyond the cap; `None` when there
    /// is no such device.
    pub async fn explain<C: GenericClient>(
        &mut self,
        db: &C,
        name: &str,
    ) -> Result<Option<Explanation>> {
        let Some(row) = db
            .query_opt(ONE_DEVICE_SQL, &[&name])
            .await
            .map_err(failed)?
        else {
            return Ok(None);
        };
        let resolved = self.device(&row)?;
        let tag_ids: Vec<i64> = row.get("tags");
        let affinity: Option<i64> = row.get("affinity");
        let mut all = Vec::new();
        order(&self.by_tag, &self.candidates, &tag_ids, affinity, &mut all);
        Ok(Some(Explanation {
            resolved,
            enabled: row.get("enabled"),
            tag_ids,
            affinity,
            matching: all
                .iter()
                .map(|&i| self.candidates[i].credential.clone())
                .collect(),
        }))
    }

    fn device(&mut self, r: &tokio_postgres::Row) -> Result<ResolvedDevice> {
        let id: i64 = r.get("id");
        let port: i32 = r.get("port");
        let affinity: Option<i64> = r.get("affinity");
        let tags: Vec<i64> = r.get("tags");
        let matched = &mut self.matched;
        order(&self.by_tag, &self.candidates, &tags, affinity, matched);
        let candidates = &self.candidates;
        Ok(ResolvedDevice {
            device: TaskDevice {
                id,
                name: r.get("name"),
                host: r.get("host"),
                port: u16::try_from(port).map_err(|_| DispatchError::DevicePort {
                    device_id: id,
                    port,
                })?,
                platform: r.get("platform"),
            },
            credentials: matched
                .iter()
                .take(self.max_credentials)
                .map(|&i| candidates[i].credential.clone())
                .collect(),
            pinned_host_key: r.get("pinned"),
            jump: self.path_of(r.get("jump"), &tags),
            try_number: None,
        })
    }

    /// The path of a device whose own jump host is `own`, with tags `tags`.
    fn path_of(&self, own: Option<i64>, tags: &[i64]) -> Arc<[TaskJumpHost]> {
        let chosen = own.or_else(|| {
            tags.iter()
                .filter_map(|t| self.tag_jump.get(t))
                .min()
                .copied()
        });
        chosen
            .and_then(|j| self.paths.get(&j).cloned())
            .unwrap_or_else(|| Arc::from(Vec::new()))
    }

    /// The most credentials a device gets.
    pub fn max_credentials(&self) -> usize {
        self.max_credentials
    }

    /// Named devices (or ids) that do not exist or are disabled, in the targets' order:
    /// complete once the stream has ended.
    pub fn missing_names(&self) -> Vec<String> {
        let mut missing: Vec<String> = self
            .named
            .iter()
            .filter(|n| self.wanted_names.contains(n.as_str()))
            .cloned()
            .collect();
        missing.extend(
            self.numbered
                .iter()
                .filter(|id| self.wanted_ids.contains(id))
                .map(|id| format!("#{id}")),
        );
        missing
    }
}

/// Every jump host's path (outermost first, ending with itself) and the tags' jump hosts:
/// two small queries per job, whatever its size.
async fn jump_paths<C: GenericClient>(
    db: &C,
) -> Result<(HashMap<i64, Arc<[TaskJumpHost]>>, HashMap<i64, i64>)> {
    let rows = db.query(JUMP_HOSTS_SQL, &[]).await.map_err(failed)?;
    let mut hops: HashMap<i64, (TaskJumpHost, Option<i64>)> = HashMap::with_capacity(rows.len());
    for r in &rows {
        let id: i64 = r.get("id");
        let port: i32 = r.get("port");
        let max_channels: i32 = r.get("max_channels");
        let hop = TaskJumpHost {
            name: r.get("name"),
            host: r.get("host"),
            port: u16::try_from(port).map_err(|_| DispatchError::DevicePort {
                device_id: id,
                port,
            })?,
            host_key: r.get("host_key"),
            max_channels: u32::try_from(max_channels).unwrap_or(1).max(1),
            credential: TaskCredential {
                id: r.get("credential_id"),
                name: r.get("credential_name"),
                username: r.get("username"),
                sealed_secret: r.get("sealed_secret"),
                sealed_key: r.get("sealed_key"),
                sealed_key_passphrase: r.get("sealed_key_passphrase"),
                // A jump host is a login, never a privileged shell.
                sealed_enable: None,
                max_concurrent_logins: None,
                max_logins_per_second: None,
            },
        };
        hops.insert(id, (hop, r.get("via_id")));
    }
    let mut paths = HashMap::with_capacity(hops.len());
    for &id in hops.keys() {
        let mut path = Vec::new();
        let mut at = Some(id);
        while let Some(j) = at {
            let Some((hop, via)) = hops.get(&j) else {
                break;
            };
            if path.len() == MAX_HOPS {
                // The database refuses such a chain: one that got there anyway is cut
                // where it should have ended, and said so.
                tracing::warn!(
                    jump_host.id = id,
                    "jump host chain longer than {MAX_HOPS} hops: cut"
                );
                break;
            }
            path.push(hop.clone());
            at = *via;
        }
        path.reverse();
        paths.insert(id, Arc::from(path));
    }
    let tag_jump = db
        .query(TAG_JUMP_HOSTS_SQL, &[])
        .await
        .map_err(failed)?
        .iter()
        .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)))
        .collect();
    Ok((paths, tag_jump))
}

/// Fills `matched` with the candidates that share a tag with a device of `tags`, in the
/// order a worker tries them: the credential that last worked on the device (`affinity`)
/// first, then priority, then id. The one ordering of the fleet: jobs and `netraven device
/// credentials` both come here.
fn order(
    by_tag: &HashMap<i64, Vec<usize>>,
    candidates: &[Candidate],
    tags: &[i64],
    affinity: Option<i64>,
    matched: &mut Vec<usize>,
) {
    matched.clear();
    for tag in tags {
        matched.extend(by_tag.get(tag).into_iter().flatten());
    }
    matched.sort_unstable();
    matched.dedup();
    matched.sort_by_key(|&i| {
        let c = &candidates[i];
        (
            Some(c.credential.id) != affinity,
            c.priority,
            c.credential.id,
        )
    });
}
