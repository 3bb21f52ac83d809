//! `netraven device show`: one device's inventory, last outcome, the credential that worked,
//! its latest configuration and pinned host key, and its recent jobs.

use crate::page::Page;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use netraven_shared::domain::Outcome;
use serde::Serialize;
use uuid::Uuid;

/// How many recent results `device show` lists.
const RECENT: i64 = 10;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeviceDetail {
    pub id: i64,
    pub name: String,
    pub host: String,
    pub port: i32,
    pub platform: String,
    pub enabled: bool,
    /// When `--prune` removed it from the inventory: no job targets it; its history stays.
    pub removed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Who wrote it last: `file` or `netbox`.
    pub source: String,
    pub tags: Vec<String>,
    /// The newest recorded result, `null` before the first job.
    pub last_result: Option<DeviceJobResult>,
    /// The credential that last logged in, tried first next time.
    pub affinity: Option<Affinity>,
    /// The latest configuration snapshot.
    pub config: Option<ConfigSnapshot>,
    pub host_key: Option<HostKey>,
    /// The newest results first, at most ten (`/api/devices/{name}/results` pages through
    /// them all).
    pub recent: Vec<DeviceJobResult>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeviceJobResult {
    pub job_id: Uuid,
    pub job_type: Option<String>,
    pub outcome: Outcome,
    pub reason: String,
    pub credential: Option<String>,
    pub attempts: i32,
    pub duration_ms: i64,
    pub config_sha256: Option<String>,
    pub finished_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Affinity {
    pub credential: String,
    pub username: String,
    pub succeeded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigSnapshot {
    /// The latest version's number (`device configs` lists them all).
    pub version: i32,
    pub sha256: String,
    pub size_bytes: i32,
    /// When this configuration was first seen: when the device's config last changed.
    pub changed_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub first_job_id: Option<Uuid>,
    /// Distinct configurations stored for the device.
    pub versions: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HostKey {
    /// `null` for a pin by fingerprint.
    pub algorithm: Option<String>,
    /// `first-use`, `known-hosts` or `fingerprint`.
    pub source: String,
    pub fingerprint: String,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

pub async fn show(client: &deadpool_postgres::Client, name: &str) -> Result<DeviceDetail> {
    let d = client
        .query_opt(
            "SELECT d.id, d.name, d.host, d.port, d.platform, d.enabled, d.removed_at, d.source,
                    ARRAY(SELECT t.name FROM device_tags dt JOIN tags t ON t.id = dt.tag_id
                          WHERE dt.device_id = d.id ORDER BY t.name) AS tags
             FROM devices d WHERE d.name = $1",
            &[&name],
        )
        .await
        .context("cannot read the device")?
        .ok_or_else(|| crate::NotFound(format!("no device named {name:?}")))?;
    let id: i64 = d.get("id");
    let recent = results_of(client, id, None, RECENT).await?;
    let affinity = client
        .query_opt(
            "SELECT c.name, c.username, a.succeeded_at
             FROM device_credential_affinity a JOIN credentials c ON c.id = a.credential_id
             WHERE a.device_id = $1",
            &[&id],
        )
        .await
        .context("cannot read the device's credential affinity")?
        .map(|r| Affinity {
            credential: r.get("name"),
            username: r.get("username"),
            succeeded_at: r.get("succeeded_at"),
        });
    let config = client
        .query_opt(
            "SELECT version, sha256, size_bytes, first_seen_at, last_seen_at, first_job_id,
                    (SELECT count(*) FROM device_configs WHERE device_id = $1) AS versions
             FROM device_configs WHERE device_id = $1
             ORDER BY version DESC LIMIT 1",
            &[&id],
        )
        .await
        .context("cannot read the device's configuration")?
        .map(|r| ConfigSnapshot {
            version: r.get("version"),
            sha256: r.get("sha256"),
            size_bytes: r.get("size_bytes"),
            changed_at: r.get("first_seen_at"),
            last_seen_at: r.get("last_seen_at"),
            first_job_id: r.get("first_job_id"),
            versions: r.get("versions"),
        });
    let host_key = client
        .query_opt(
            "SELECT algorithm, source, fingerprint, first_seen_at, last_seen_at
             FROM host_keys WHERE device_id = $1",
            &[&id],
        )
        .await
        .context("cannot read the device's host key")?
        .map(|r| HostKey {
            algorithm: r.get("algorithm"),
            source: r.get("source"),
            fingerprint: r.get("fingerprint"),
            first_seen_at: r.get("first_seen_at"),
            last_seen_at: r.get("last_seen_at"),
        });
    Ok(DeviceDetail {
        id,
        name: d.get("name"),
        host: d.get("host"),
        port: d.get("port"),
        platform: d.get("platform"),
        enabled: d.get("enabled"),
        removed_at: d.get("removed_at"),
        source: d.get("source"),
        tags: d.get("tags"),
        last_result: recent.first().cloned(),
        affinity,
        config,
        host_key,
        recent,
    })
}

/// Where a page of a device's results resumes: after the result that finished at `.0` for
/// job `.1` (newest first, so "after" is older).
pub type ResultKey = (DateTime<Utc>, Uuid);

/// A device's outcome history, newest first, a page at a time: every job that reached it,
/// however long ago. A page costs the same at any depth (the `(device_id, finished_at)`
/// index, resumed from the last key).
pub async fn results(
    client: &deadpool_postgres::Client,
    name: &str,
    after: Option<ResultKey>,
    limit: usize,
) -> Result<Page<DeviceJobResult>> {
    let id: i64 = client
        .query_opt("SELECT id FROM devices WHERE name = $1", &[&name])
        .await
        .context("cannot read the device")?
        .ok_or_else(|| crate::NotFound(format!("no device named {name:?}")))?
        .get(0);
    results_page(client, id, after, limit).await
}

/// [`results`] of the device with this id (one already read, as by [`show`]).
pub async fn results_page(
    client: &deadpool_postgres::Client,
    device: i64,
    after: Option<ResultKey>,
    limit: usize,
) -> Result<Page<DeviceJobResult>> {
    let rows = results_of(client, device, after, limit as i64 + 1).await?;
    Ok(Page::of(rows, limit, |r| (r.finished_at, r.job_id)))
}

async fn results_of(
    client: &deadpool_postgres::Client,
    device: i64,
    after: Option<ResultKey>,
    limit: i64,
) -> Result<Vec<DeviceJobResult>> {
    // The first page starts after the end of time; `<=` keeps the index's range scan.
    let (before_at, before_job) = after.unwrap_or((DateTime::<Utc>::MAX_UTC, Uuid::max()));
    Ok(client
        .query(
            "SELECT r.job_id, j.job_type, r.outcome, r.reason,
                    COALESCE(c.name, rc.name) AS credential, r.attempts,
                    r.duration_ms, r.config_sha256, r.finished_at
             FROM job_results r
             LEFT JOIN credentials c ON c.id = r.credential_id
             LEFT JOIN removed_credentials rc ON rc.id = r.credential_id
             LEFT JOIN jobs j ON j.id = r.job_id
             WHERE r.device_id = $1
               AND r.finished_at <= $2 AND (r.finished_at < $2 OR r.job_id < $3)
             ORDER BY r.finished_at DESC, r.job_id DESC LIMIT $4",
            &[&device, &before_at, &before_job, &limit],
        )
        .await
        .context("cannot read the device's results")?
        .iter()
        .map(|r| DeviceJobResult {
            job_id: r.get("job_id"),
            job_type: r.get("job_type"),
            outcome: r
                .get::<_, &str>("outcome")
                .parse()
                .unwrap_or(Outcome::InternalError),
            reason: r.get("reason"),
            credential: r.get("credential"),
            attempts: r.get("attempts"),
            duration_ms: r.get("duration_ms"),
            config_sha256: r.get("config_sha256"),
            finished_at: r.get("finished_at"),
        })
        .collect())
}
