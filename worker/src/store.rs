//! What a worker writes to Postgres while working on a device: pinned host keys,
//! configuration snapshots and command outputs. Every write is idempotent, so a
//! redelivered task changes nothing twice.

use crate::ssh::PresentedKey;
use deadpool_postgres::{GenericClient, Pool};
use sha2::{Digest, Sha256};
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

/// Pins the first key seen. Returns the key pinned now, which differs from `key` when
/// another worker pinned a different key first.
pub async fn pin_host_key(pool: &Pool, device_id: i64, key: &PresentedKey) -> StoreResult<String> {
    retrying("pinning a host key", || pin_once(pool, device_id, key)).await
}

async fn pin_once(pool: &Pool, device_id: i64, key: &PresentedKey) -> Result<String, Failure> {
    let client = pool.get().await.map_err(Failure::pool)?;
    // Prepared once per pooled connection: one of these runs per device on first contact.
    let statement = client
        .prepare_cached(
            "WITH pinned AS (
                 INSERT INTO host_keys (device_id, algorithm, public_key, fingerprint)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (device_id) DO NOTHING
                 RETURNING public_key
             )
             SELECT public_key FROM pinned
             UNION ALL SELECT public_key FROM host_keys WHERE device_id = $1
             LIMIT 1",
        )
        .await
        .map_err(Failure::pg)?;
    let row = client
        .query_one(
            &statement,
            &[
                &device_id,
                &key.algorithm,
                &key.public_key,
                &key.fingerprint,
            ],
        )
        .await
        .map_err(Failure::pg)?;
    Ok(row.get(0))
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
    tx.execute(
        "INSERT INTO device_configs (device_id, sha256, content, size_bytes, first_job_id)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::uuid[])
         ON CONFLICT (device_id, sha256) DO UPDATE SET last_seen_at = now()",
        &[&devices, &hashes, &contents, &sizes, &jobs],
    )
    .await
    .map_err(db_err)?;
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
