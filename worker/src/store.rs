//! What a worker writes to Postgres while working on a device: pinned host keys (in
//! group commit, [`Pinner`]), configuration snapshots and command outputs. Every write is
//! idempotent, so a
//! redelivered task changes nothing twice.

use crate::ssh::PresentedKey;
use deadpool_postgres::{GenericClient, Pool};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

pub type StoreResult<T> = Result<T, String>;

fn db_err(e: impl Into<netraven_shared::Error>) -> String {
    e.into().to_string()
}

/// Why one try of a write failed: worth another try, or not.
enum Failure {
    /// The database is unreachable or restarting: the pool could not give a connection,
    /// the connection was lost, or the server is shutting down or starting (`57P0x`).
    Transient(String),
    Permanent(String),
}

impl Failure {
    fn pool(e: deadpool_postgres::PoolError) -> Failure {
        Failure::Transient(db_err(e))
    }
    fn pg(e: tokio_postgres::Error) -> Failure {
        let transient = match e.code() {
            None => true,
            Some(code) => code.code().starts_with("08") || code.code().starts_with("57P0"),
        };
        if transient {
            Failure::Transient(db_err(e))
        } else {
            Failure::Permanent(db_err(e))
        }
    }
}

/// Runs `op` again while the database is unreachable or restarting, with capped backoff,
/// so a Postgres restart does not turn healthy devices into INTERNAL_ERROR. The device's
/// deadline bounds the wait (its whole work runs under it). Every write here is
/// idempotent, so a try whose outcome was unknown changes nothing twice.
async fn retrying<T, F, Fut>(what: &str, mut op: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(Failure::Permanent(e)) => return Err(e),
            Err(Failure::Transient(e)) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64,
                    "{what}: database unavailable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(2));
            }
        }
    }
}

/// Pins a batch holds at most.
const MAX_PINS: usize = 256;

/// How long the first pin of a batch waits for others. A first contact waits this much
/// longer before its secrets go out; Postgres does one statement and one commit for
/// every device that arrived meanwhile instead of one each.
const PIN_WINDOW: std::time::Duration = std::time::Duration::from_millis(10);

struct PinRequest {
    device_id: i64,
    key: PresentedKey,
    reply: oneshot::Sender<StoreResult<String>>,
}

/// Host-key pins in group commit. A device's pin is in the database, committed, before
/// [`Pinner::pin`] returns — as with a statement of its own, so no secret is ever sent
/// to a device whose first key is not pinned, and a second worker that meets the device
/// with another key refuses it — but the devices of one worker that make first contact
/// within [`PIN_WINDOW`] share one statement.
#[derive(Clone)]
pub struct Pinner {
    requests: mpsc::Sender<PinRequest>,
}

impl Pinner {
    /// Starts the pinning task; it ends once every handle is dropped.
    pub fn start(pool: Pool) -> Pinner {
        let (requests, rx) = mpsc::channel(MAX_PINS * 4);
        tokio::spawn(run_pins(pool, rx));
        Pinner { requests }
    }

    /// Pins the first key seen for `device_id`. Returns the key pinned now, which
    /// differs from `key` when another worker (or another task of this one) pinned a
    /// different key first.
    pub async fn pin(&self, device_id: i64, key: &PresentedKey) -> StoreResult<String> {
        let (reply, answer) = oneshot::channel();
        let request = PinRequest {
            device_id,
            key: key.clone(),
            reply,
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| "host key pinning has stopped".to_string())?;
        answer
            .await
            .map_err(|_| "host key pinning has stopped".to_string())?
    }
}

async fn run_pins(pool: Pool, mut rx: mpsc::Receiver<PinRequest>) {
    let mut batch = Vec::with_capacity(MAX_PINS);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let until = tokio::time::Instant::now() + PIN_WINDOW;
        while batch.len() < MAX_PINS {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(r)) => batch.push(r),
                Ok(None) | Err(_) => break,
            }
        }
        pin_batch(&pool, std::mem::take(&mut batch)).await;
    }
}

/// Pins a batch and answers each request. Transient failures are retried (a waiting
/// device's deadline bounds its wait; a request nobody waits for any more is dropped);
/// a device deleted meanwhile is answered with an error of its own; any other permanent
/// failure fails only its own device: the batch is then pinned again one device at a
/// time.
async fn pin_batch(pool: &Pool, batch: Vec<PinRequest>) {
    let mut work = vec![batch];
    while let Some(mut batch) = work.pop() {
        let mut delay = std::time::Duration::from_millis(100);
        loop {
            batch.retain(|r| !r.reply.is_closed());
            // One row per device: a second request for the same device is answered with
            // whatever the first pinned.
            let mut rows: BTreeMap<i64, &PresentedKey> = BTreeMap::new();
            for r in &batch {
                rows.entry(r.device_id).or_insert(&r.key);
            }
            if rows.is_empty() {
                break;
            }
            match pins_once(pool, &rows).await {
                Ok(pinned) => {
                    // Every device comes back, with its pinned key or as unknown.
                    for r in batch.drain(..) {
                        let _ = r
                            .reply
                            .send(pinned_answer(r.device_id, pinned.get(&r.device_id)));
                    }
                    break;
                }
                Err(Failure::Transient(e)) => {
                    tracing::warn!(error = %e, devices = rows.len(), retry_in_ms = delay.as_millis() as u64,
                        "pinning host keys: database unavailable; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(2));
                }
                Err(Failure::Permanent(e)) if batch.len() > 1 => {
                    tracing::warn!(error = %e, devices = rows.len(),
                        "pinning host keys in one statement failed; pinning them one by one");
                    work.extend(batch.drain(..).map(|r| vec![r]));
                    break;
                }
                Err(Failure::Permanent(e)) => {
                    for r in batch.drain(..) {
                        let _ = r.reply.send(Err(e.clone()));
                    }
                    break;
                }
            }
        }
    }
}

async fn pins_once(
    pool: &Pool,
    rows: &BTreeMap<i64, &PresentedKey>,
) -> Result<HashMap<i64, Option<String>>, Failure> {
    let devices: Vec<i64> = rows.keys().copied().collect();
    let algorithms: Vec<&str> = rows.values().map(|k| k.algorithm.as_str()).collect();
    let keys: Vec<&str> = rows.values().map(|k| k.public_key.as_str()).collect();
    let fingerprints: Vec<&str> = rows.values().map(|k| k.fingerprint.as_str()).collect();
    let client = pool.get().await.map_err(Failure::pool)?;
    let statement = client
        .prepare_cached(
            // A device pinned already keeps its key: the update returns it (waiting for a
            // concurrent pin to commit first), and marks it seen only if this is the key
            // shown. A device no longer in the inventory gets no pin (migration V3) and
            // comes back with no key; the others are locked against deletion until the
            // pin commits. No join back into host_keys: its plan, made once per
            // connection while the table may still be empty, would scan it whole on
            // every call.
            "WITH live AS (
                 SELECT id FROM devices WHERE id = ANY($1) ORDER BY id FOR KEY SHARE
             ), input AS (
                 SELECT t.*, t.device_id IN (SELECT id FROM live) AS known
                 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])
                     AS t(device_id, algorithm, public_key, fingerprint)
             ), pinned AS (
                 INSERT INTO host_keys (device_id, algorithm, public_key, fingerprint)
                 SELECT device_id, algorithm, public_key, fingerprint FROM input WHERE known
                 ON CONFLICT (device_id) DO UPDATE SET last_seen_at = CASE
                     WHEN host_keys.public_key IN (EXCLUDED.public_key, EXCLUDED.fingerprint)
                     THEN now()
                     ELSE host_keys.last_seen_at END
                 RETURNING device_id, public_key
             )
             SELECT device_id, public_key FROM pinned
             UNION ALL
             SELECT device_id, NULL FROM input WHERE NOT known",
        )
        .await
        .map_err(Failure::pg)?;
    let found = client
        .query(&statement, &[&devices, &algorithms, &keys, &fingerprints])
        .await
        .map_err(Failure::pg)?;
    Ok(found.iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// The answer to one device's pin request: the key pinned, or why there is none.
fn pinned_answer(device_id: i64, pinned: Option<&Option<String>>) -> StoreResult<String> {
    match pinned {
        Some(Some(key)) => Ok(key.clone()),
        Some(None) => Err(format!(
            "device {device_id} is no longer in the inventory: no host key pinned"
        )),
        None => Err(format!(
            "pinning the host key of device {device_id}: no answer"
        )),
    }
}

/// SHA-256 of `content`, lower-case hex.
pub fn sha256_hex(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

/// Stores the configuration snapshots of a batch of finished devices, keyed by SHA-256:
/// an unchanged configuration adds no copy, the existing snapshot is marked seen.
pub async fn store_configs(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &[crate::flusher::Finished],
) -> StoreResult<()> {
    // One row per device and hash (a redelivered task may sit in the same batch twice).
    let mut rows: std::collections::BTreeMap<(i64, &str), (Uuid, &str)> =
        std::collections::BTreeMap::new();
    for f in batch {
        if let Some(c) = &f.report.config {
            rows.insert(
                (f.device_id, c.sha256.as_str()),
                (f.job_id, c.content.as_str()),
            );
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let devices: Vec<i64> = rows.keys().map(|k| k.0).collect();
    let hashes: Vec<&str> = rows.keys().map(|k| k.1).collect();
    let jobs: Vec<Uuid> = rows.values().map(|v| v.0).collect();
    let contents: Vec<&str> = rows.values().map(|v| v.1).collect();
    let sizes: Vec<i32> = contents
        .iter()
        .map(|c| i32::try_from(c.len()).unwrap_or(i32::MAX))
        .collect();
    crate::flusher::execute(
        tx,
        // A device deleted while its task was in flight has nothing stored (migration V3);
        // the others are locked against deletion until the batch commits, so a deletion
        // waits for it and its trigger then finds the rows.
        "WITH live AS (SELECT id FROM devices WHERE id = ANY($1) ORDER BY id FOR KEY SHARE)
         INSERT INTO device_configs (device_id, sha256, content, size_bytes, first_job_id)
         SELECT t.* FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::uuid[])
             AS t(device_id, sha256, content, size_bytes, first_job_id)
         WHERE t.device_id IN (SELECT id FROM live)
         ON CONFLICT (device_id, sha256) DO UPDATE SET last_seen_at = now()",
        &[&devices, &hashes, &contents, &sizes, &jobs],
    )
    .await?;
    Ok(())
}

/// One command's output, for the `command` job type.
pub struct CommandOutput {
    pub command: String,
    pub output: String,
    pub exit_status: Option<i32>,
}

/// Stores every output of a `command` job for one device (a repeat overwrites nothing).
pub async fn store_command_outputs(
    pool: &Pool,
    job_id: Uuid,
    device_id: i64,
    outputs: &[CommandOutput],
) -> StoreResult<()> {
    retrying("storing command outputs", || {
        outputs_once(pool, job_id, device_id, outputs)
    })
    .await
}

async fn outputs_once(
    pool: &Pool,
    job_id: Uuid,
    device_id: i64,
    outputs: &[CommandOutput],
) -> Result<(), Failure> {
    let client = pool.get().await.map_err(Failure::pool)?;
    let seq: Vec<i16> = (0..outputs.len())
        .map(|i| i16::try_from(i).unwrap_or(i16::MAX))
        .collect();
    let commands: Vec<&str> = outputs.iter().map(|o| o.command.as_str()).collect();
    let texts: Vec<&str> = outputs.iter().map(|o| o.output.as_str()).collect();
    let statuses: Vec<Option<i32>> = outputs.iter().map(|o| o.exit_status).collect();
    client
        .execute(
            "INSERT INTO command_outputs (job_id, device_id, seq, command, output, exit_status)
             SELECT $1, $2, t.seq, t.command, t.output, t.exit_status
             FROM unnest($3::smallint[], $4::text[], $5::text[], $6::int[])
                  AS t(seq, command, output, exit_status)
             ON CONFLICT (job_id, device_id, seq) DO NOTHING",
            &[&job_id, &device_id, &seq, &commands, &texts, &statuses],
        )
        .await
        .map_err(Failure::pg)?;
    Ok(())
}
