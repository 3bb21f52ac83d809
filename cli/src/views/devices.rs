//! `netraven device show`: one device's inventory, last outcome, the credential that worked,
//! its latest configuration and pinned host key, and its recent jobs.

use super::{ago, duration_ms, number, outcome_cell, short_hash, shown, text, when, Style};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use comfy_table::Cell;
use netraven_shared::domain::Outcome;
use serde::Serialize;
use std::fmt::Write;
use uuid::Uuid;

/// How many recent results `device show` lists.
const RECENT: i64 = 10;

#[derive(Debug, Clone, Serialize)]
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
    /// The newest results first.
    pub recent: Vec<DeviceJobResult>,
}

#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
pub struct Affinity {
    pub credential: String,
    pub username: String,
    pub succeeded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
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
        .with_context(|| format!("no device named {name:?}"))?;
    let id: i64 = d.get("id");
    let recent: Vec<DeviceJobResult> = client
        .query(
            "SELECT r.job_id, j.job_type, r.outcome, r.reason,
                    COALESCE(c.name, rc.name) AS credential, r.attempts,
                    r.duration_ms, r.config_sha256, r.finished_at
             FROM job_results r
             LEFT JOIN credentials c ON c.id = r.credential_id
             LEFT JOIN removed_credentials rc ON rc.id = r.credential_id
             LEFT JOIN jobs j ON j.id = r.job_id
             WHERE r.device_id = $1 ORDER BY r.finished_at DESC LIMIT $2",
            &[&id, &RECENT],
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
        .collect();
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

pub fn render(d: &DeviceDetail, style: Style) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| {
        let _ = writeln!(out, "{k:<14} {v}");
    };
    line("device", shown(&d.name).into_owned());
    line("host", format!("{}:{}", shown(&d.host), d.port));
    line("platform", shown(&d.platform).into_owned());
    line("tags", shown(&d.tags.join(", ")).into_owned());
    if let Some(at) = d.removed_at {
        line(
            "removed",
            format!(
                "{} (from the inventory: no job targets it; its history stays)",
                at.format("%Y-%m-%d %H:%M:%S UTC")
            ),
        );
    } else if !d.enabled {
        line("enabled", "no (jobs skip it)".into());
    }
    if d.source != "file" {
        line("source", shown(&d.source).into_owned());
    }
    match &d.last_result {
        Some(r) => {
            line(
                "last outcome",
                format!("{} {}", style.outcome(r.outcome), ago(Some(r.finished_at))),
            );
            if !r.reason.is_empty() {
                line("reason", shown(&r.reason).into_owned());
            }
            line("last job", r.job_id.to_string());
        }
        None => line("last outcome", "- (never in a job)".into()),
    }
    line(
        "credential",
        match &d.affinity {
            Some(a) => format!(
                "{} ({}), worked {}; tried first",
                shown(&a.credential),
                shown(&a.username),
                ago(Some(a.succeeded_at))
            ),
            None => "- (none has worked yet)".into(),
        },
    );
    match &d.config {
        Some(c) => {
            line(
                "config",
                format!("version {} sha256:{}", c.version, c.sha256),
            );
            line(
                "",
                format!(
                    "{} bytes; changed {}; last seen {}; {} version{} stored \
                     (`device configs` lists them)",
                    c.size_bytes,
                    when(Some(c.changed_at)),
                    ago(Some(c.last_seen_at)),
                    c.versions,
                    if c.versions == 1 { "" } else { "s" }
                ),
            );
        }
        None => line("config", "- (no backup yet)".into()),
    }
    line(
        "host key",
        match &d.host_key {
            Some(k) => format!(
                "{} {} (pinned {}, {})",
                shown(k.algorithm.as_deref().unwrap_or("by fingerprint")),
                shown(&k.fingerprint),
                ago(Some(k.first_seen_at)),
                shown(&k.source)
            ),
            None => "- (not pinned yet)".into(),
        },
    );
    if !d.recent.is_empty() {
        let mut table = style.table([
            "FINISHED",
            "JOB",
            "TYPE",
            "OUTCOME",
            "CREDENTIAL",
            "ATTEMPTS",
            "TIME",
            "CONFIG",
        ]);
        for r in &d.recent {
            table.add_row(vec![
                Cell::new(ago(Some(r.finished_at))),
                Cell::new(r.job_id),
                text(r.job_type.as_deref().unwrap_or("-")),
                outcome_cell(r.outcome),
                text(r.credential.as_deref().unwrap_or("-")),
                number(r.attempts),
                number(duration_ms(r.duration_ms)),
                Cell::new(short_hash(r.config_sha256.as_deref())),
            ]);
        }
        let _ = write!(out, "\nrecent jobs\n{table}\n");
    }
    out
}
