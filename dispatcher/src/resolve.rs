//! Target and credential resolution: which devices a job runs on, and for every one of
//! them the credentials that may fit, in the order a worker tries them.
//!
//! A credential matches a device when they share a tag. Order: the credential that last
//! succeeded on the device (affinity) first, then `priority` ascending, then id ascending.
//! The whole job resolves in two queries, whatever its size.

use crate::error::{DispatchError, Result};
use deadpool_postgres::GenericClient;
use netraven_shared::messages::{Targets, TaskCredential, TaskDevice};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One target device and its ordered credentials.
#[derive(Debug, Clone)]
pub struct ResolvedDevice {
    pub device: TaskDevice,
    pub credentials: Vec<Arc<TaskCredential>>,
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

const RESOLVE_SQL: &str = "
WITH target AS (
    SELECT d.id FROM devices d
    WHERE d.enabled AND (d.name = ANY($1) OR d.id = ANY($2))
    UNION
    SELECT dt.device_id FROM device_tags dt
    JOIN tags t ON t.id = dt.tag_id
    JOIN devices d ON d.id = dt.device_id AND d.enabled
    WHERE t.name = ANY($3)
),
matches AS (
    SELECT DISTINCT dt.device_id, ct.credential_id
    FROM target tg
    JOIN device_tags dt ON dt.device_id = tg.id
    JOIN credential_tags ct ON ct.tag_id = dt.tag_id
)
SELECT d.id, d.name, d.host, d.port, d.platform,
       COALESCE(
           array_agg(c.id ORDER BY (c.id = a.credential_id) IS TRUE DESC, c.priority, c.id)
               FILTER (WHERE c.id IS NOT NULL),
           '{}') AS credential_ids
FROM target tg
JOIN devices d ON d.id = tg.id
LEFT JOIN matches m ON m.device_id = d.id
LEFT JOIN credentials c ON c.id = m.credential_id AND c.enabled
LEFT JOIN device_credential_affinity a ON a.device_id = d.id
GROUP BY d.id
ORDER BY d.id";

/// Resolves `targets`, keeping at most `max_credentials` per device.
pub async fn resolve<C: GenericClient>(
    db: &C,
    targets: &Targets,
    max_credentials: usize,
) -> Result<Resolution> {
    let fail =
        |e: tokio_postgres::Error| DispatchError::Resolution(netraven_shared::db::describe(&e));
    let rows = db
        .query(
            RESOLVE_SQL,
            &[&targets.devices, &targets.device_ids, &targets.tags],
        )
        .await
        .map_err(fail)?;

    let mut wanted: Vec<i64> = rows
        .iter()
        .flat_map(|r| r.get::<_, Vec<i64>>("credential_ids"))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let credentials: HashMap<i64, Arc<TaskCredential>> = db
        .query(
            "SELECT id, name, username, sealed_secret FROM credentials WHERE id = ANY($1)",
            &[&wanted],
        )
        .await
        .map_err(fail)?
        .iter()
        .map(|r| {
            let c = TaskCredential {
                id: r.get("id"),
                name: r.get("name"),
                username: r.get("username"),
                sealed_secret: r.get("sealed_secret"),
            };
            (c.id, Arc::new(c))
        })
        .collect();

    let mut devices = Vec::with_capacity(rows.len());
    for r in &rows {
        let port: i32 = r.get("port");
        let ids: Vec<i64> = r.get("credential_ids");
        devices.push(ResolvedDevice {
            device: TaskDevice {
                id: r.get("id"),
                name: r.get("name"),
                host: r.get("host"),
                port: u16::try_from(port).map_err(|_| {
                    DispatchError::Resolution(format!("device port {port} out of range"))
                })?,
                platform: r.get("platform"),
            },
            credentials: ids
                .iter()
                .filter_map(|id| credentials.get(id).cloned())
                .take(max_credentials)
                .collect(),
        });
    }

    let found_names: HashSet<&str> = devices.iter().map(|d| d.device.name.as_str()).collect();
    let found_ids: HashSet<i64> = devices.iter().map(|d| d.device.id).collect();
    let mut missing_names: Vec<String> = targets
        .devices
        .iter()
        .filter(|n| !found_names.contains(n.as_str()))
        .cloned()
        .collect();
    missing_names.extend(
        targets
            .device_ids
            .iter()
            .filter(|id| !found_ids.contains(id))
            .map(|id| format!("#{id}")),
    );
    Ok(Resolution {
        devices,
        missing_names,
    })
}
