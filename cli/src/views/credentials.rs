//! `netraven credential list`: how every credential fared — counts, success rate, last use.

use super::{ago, number, shown, text, Style};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use comfy_table::{Cell, Color};
use serde::Serialize;

/// One credential's counters (never its secret).
#[derive(Debug, Clone, Serialize)]
pub struct CredentialStats {
    pub id: i64,
    pub name: String,
    pub username: String,
    pub priority: i32,
    pub enabled: bool,
    pub tags: Vec<String>,
    pub success_count: i64,
    pub failure_count: i64,
    pub attempts: i64,
    /// successes / attempts; `null` before the first attempt.
    pub success_rate: Option<f64>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    /// Devices on which this credential is the one that last worked (tried first).
    pub affinity_devices: i64,
}

pub async fn list(client: &deadpool_postgres::Client) -> Result<Vec<CredentialStats>> {
    let rows = client
        .query(
            "SELECT c.id, c.name, c.username, c.priority, c.enabled, c.success_count,
                    c.failure_count, c.success_rate, c.last_used_at, c.last_success_at,
                    c.last_failure_at,
                    ARRAY(SELECT t.name FROM credential_tags ct JOIN tags t ON t.id = ct.tag_id
                          WHERE ct.credential_id = c.id ORDER BY t.name) AS tags,
                    (SELECT count(*) FROM device_credential_affinity a
                     WHERE a.credential_id = c.id) AS affinity_devices
             FROM credentials c ORDER BY c.priority, c.id",
            &[],
        )
        .await
        .context("cannot list credentials")?;
    Ok(rows
        .iter()
        .map(|r| {
            let (ok, failed): (i64, i64) = (r.get("success_count"), r.get("failure_count"));
            CredentialStats {
                id: r.get("id"),
                name: r.get("name"),
                username: r.get("username"),
                priority: r.get("priority"),
                enabled: r.get("enabled"),
                tags: r.get("tags"),
                success_count: ok,
                failure_count: failed,
                attempts: ok + failed,
                success_rate: r.get("success_rate"),
                last_used_at: r.get("last_used_at"),
                last_success_at: r.get("last_success_at"),
                last_failure_at: r.get("last_failure_at"),
                affinity_devices: r.get("affinity_devices"),
            }
        })
        .collect())
}

pub fn render(creds: &[CredentialStats], style: Style) -> String {
    if creds.is_empty() {
        return "no credentials\n".into();
    }
    let mut table = style.table([
        "CREDENTIAL",
        "USERNAME",
        "PRIORITY",
        "TAGS",
        "SUCCESSES",
        "FAILURES",
        "RATE",
        "LAST USED",
        "LAST SUCCESS",
        "DEVICES",
    ]);
    for c in creds {
        let mut name = text(&c.name);
        if !c.enabled {
            name = Cell::new(format!("{} (disabled)", shown(&c.name))).fg(Color::DarkGrey);
        }
        table.add_row(vec![
            name,
            text(&c.username),
            number(c.priority),
            text(&c.tags.join(", ")),
            number(c.success_count),
            number(c.failure_count),
            number(
                c.success_rate
                    .map(|r| format!("{:.1}%", r * 100.0))
                    .unwrap_or_else(|| "-".into()),
            ),
            Cell::new(ago(c.last_used_at)),
            Cell::new(ago(c.last_success_at)),
            number(c.affinity_devices),
        ]);
    }
    format!("{table}\nDEVICES: devices on which the credential last worked, so it is tried first there\n")
}
