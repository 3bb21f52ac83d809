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
    /// The host key pinned for the device, if any.
    pub pinned_host_key: Option<String>,
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
SELECT d.id, d.name, d.host, d.port, d.platform, a.credential_id AS affinity, h.public_key AS pinned,
       ARRAY(SELECT x.tag_id FROM device_tags x WHERE x.device_id = d.id) AS tags
FROM target t
JOIN devices d ON d.id = t.id AND d.enabled
LEFT JOIN device_credential_affinity a ON a.device_id = d.id
LEFT JOIN host_keys h ON h.device_id = d.id
ORDER BY d.id";

/// Every enabled credential with its tag ids: a few hundred rows at most.
const CREDENTIALS_SQL: &str = "
SELECT c.id, c.name, c.username, c.sealed_secret, c.priority,
       ARRAY(SELECT ct.tag_id FROM credential_tags ct WHERE ct.credential_id = c.id) AS tags
FROM credentials c WHERE c.enabled";

struct Candidate {
    credential: Arc<TaskCredential>,
    priority: i32,
}

/// Resolves `targets`, keeping at most `max_credentials` per device.
///
/// Two queries, whatever the fleet's size: the devices with their tags, and the
/// credentials with theirs; tags are matched here, which keeps Postgres out of a join
/// and sort of (devices × tags × credentials) rows that spills to disk at fleet scale.
pub async fn resolve<C: GenericClient>(
    db: &C,
    targets: &Targets,
    max_credentials: usize,
) -> Result<Resolution> {
    let fail =
        |e: tokio_postgres::Error| DispatchError::Resolution(netraven_shared::db::describe(&e));
    let rows = db
        .query(
            DEVICES_SQL,
            &[&targets.devices, &targets.device_ids, &targets.tags],
        )
        .await
        .map_err(fail)?;
    let credential_rows = db.query(CREDENTIALS_SQL, &[]).await.map_err(fail)?;

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
            }),
            priority: r.get("priority"),
        });
    }

    let mut devices = Vec::with_capacity(rows.len());
    let mut matched: Vec<usize> = Vec::new();
    for r in &rows {
        let port: i32 = r.get("port");
        let affinity: Option<i64> = r.get("affinity");
        matched.clear();
        for tag in r.get::<_, Vec<i64>>("tags") {
            matched.extend(by_tag.get(&tag).into_iter().flatten());
        }
        matched.sort_unstable();
        matched.dedup();
        // The credential that last worked first, then priority, then id.
        matched.sort_by_key(|&i| {
            let c = &candidates[i];
            (
                Some(c.credential.id) != affinity,
                c.priority,
                c.credential.id,
            )
        });
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
            credentials: matched
                .iter()
                .take(max_credentials)
                .map(|&i| candidates[i].credential.clone())
                .collect(),
            pinned_host_key: r.get("pinned"),
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
