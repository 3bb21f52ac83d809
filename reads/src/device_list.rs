//! The device list (`netraven device list`, `GET /api/devices`): every device with its tags, its last outcome and its last good
//! backup; filtered by tag, platform, last outcome, or a last good backup older than an
//! age (`--stale`). Devices removed from the inventory are listed only with `--removed`.
//! [`search`] also matches a text inside the names (the console's devices filter).

use anyhow::Result;
use chrono::{DateTime, Utc};
use deadpool_postgres::Client;
use netraven_shared::domain::Outcome;
use serde::Serialize;

/// One device as the list shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeviceRow {
    pub name: String,
    pub platform: String,
    pub enabled: bool,
    pub tags: Vec<String>,
    /// The outcome of its latest recorded result in any job, and when.
    pub last_outcome: Option<Outcome>,
    pub last_result_at: Option<DateTime<Utc>>,
    /// When a backup last succeeded: the latest configuration version's last sighting
    /// (a successful backup stores a version or marks the latest seen).
    pub last_good_backup_at: Option<DateTime<Utc>>,
    /// When `--prune` removed it from the inventory (listed only with `--removed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<DateTime<Utc>>,
}

/// Which devices to list: each filter that is not empty must hold (within one filter,
/// any of its values).
#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub tags: &'a [String],
    /// Platform names, as stored.
    pub platforms: &'a [String],
    /// Last outcomes, as stored (`SUCCESS`), or `NONE` for no result yet.
    pub outcomes: &'a [String],
    /// Only those whose last good backup is older than this, or who never had one.
    pub stale_before: Option<DateTime<Utc>>,
    /// The removed devices instead of the others.
    pub removed: bool,
    /// Keyset: only devices named after this one, for the next page.
    pub after: Option<String>,
    /// At most this many (all when `None`).
    pub limit: Option<i64>,
}

/// The devices `filter` keeps, by name.
pub async fn list(client: &Client, filter: &Filter<'_>) -> Result<Vec<DeviceRow>> {
    search(client, filter, None).await
}

/// A `LIKE` pattern for names that contain `text`, its own `%`, `_` and `\` taken
/// literally; `None` for a text that is empty or only spaces (no name filter).
pub fn name_pattern(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Some(pattern)
}

/// The devices `filter` keeps whose name contains `name` (ignoring case: `edge-sw` finds
/// `AMS1-EDGE-SW01`), by name. The trigram index of migration V23 finds them without
/// reading every device.
pub async fn search(
    client: &Client,
    filter: &Filter<'_>,
    name: Option<&str>,
) -> Result<Vec<DeviceRow>> {
    let pattern = name.and_then(name_pattern);
    let rows = client
        .query(
            "SELECT d.name, d.platform, d.enabled,
                    ARRAY(SELECT t.name FROM device_tags dt JOIN tags t ON t.id = dt.tag_id
                          WHERE dt.device_id = d.id ORDER BY t.name) AS tags,
                    r.outcome, r.finished_at, c.last_seen_at, d.removed_at
             FROM devices d
             LEFT JOIN LATERAL (
                 SELECT outcome, finished_at FROM job_results
                 WHERE device_id = d.id ORDER BY finished_at DESC LIMIT 1
             ) r ON true
             LEFT JOIN LATERAL (
                 SELECT last_seen_at FROM device_configs
                 WHERE device_id = d.id ORDER BY version DESC LIMIT 1
             ) c ON true
             WHERE (cardinality($1::text[]) = 0 OR EXISTS (
                        SELECT 1 FROM device_tags dt JOIN tags t ON t.id = dt.tag_id
                        WHERE dt.device_id = d.id AND t.name = ANY($1)))
               AND ($2::timestamptz IS NULL OR c.last_seen_at IS NULL
                    OR c.last_seen_at < $2)
               AND (cardinality($3::text[]) = 0 OR d.platform = ANY($3))
               AND (cardinality($4::text[]) = 0 OR COALESCE(r.outcome, 'NONE') = ANY($4))
               AND ((d.removed_at IS NOT NULL) = $5)
               AND ($6::text IS NULL OR d.name > $6)
               AND ($8::text IS NULL OR d.name ILIKE $8)
             ORDER BY d.name LIMIT $7",
            &[
                &filter.tags,
                &filter.stale_before,
                &filter.platforms,
                &filter.outcomes,
                &filter.removed,
                &filter.after,
                &filter.limit,
                &pattern,
            ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| DeviceRow {
            name: r.get(0),
            platform: r.get(1),
            enabled: r.get(2),
            tags: r.get(3),
            last_outcome: r
                .get::<_, Option<&str>>(4)
                .map(|o| o.parse().unwrap_or(Outcome::InternalError)),
            last_result_at: r.get(5),
            last_good_backup_at: r.get(6),
            removed_at: r.get(7),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::name_pattern;

    #[test]
    fn a_name_pattern_matches_inside_names_and_takes_wildcards_literally() {
        assert_eq!(name_pattern("edge-sw").as_deref(), Some("%edge-sw%"));
        assert_eq!(name_pattern("  core ").as_deref(), Some("%core%"));
        assert_eq!(name_pattern(r"50%_a\b").as_deref(), Some(r"%50\%\_a\\b%"));
        assert_eq!(name_pattern(""), None);
        assert_eq!(name_pattern("   "), None);
    }
}
