//! `netraven device credentials NAME`: the credentials a job would try on one device, in
//! order, and why every other credential is left out.
//!
//! The order comes from the dispatcher's own resolution
//! ([`netraven_dispatcher::dispatch::resolve::Stream::explain`]), never from a copy of
//! it, so this view and a job cannot disagree; it reads the credentials' names and tags
//! in the same snapshot (one repeatable-read transaction).
//!
//! The per-device counts go through the device's results (`job_results_by_device`) to
//! their attempts (`credential_attempts_by_job`): a few index probes per job the device
//! was in, however large the fleet. They cover the attempts still kept
//! (`aggregator.retention_days`).

use super::credentials::{rate_of, since, window_label};
use super::{number, shown, text, Style};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use comfy_table::Color;
use netraven_dispatcher::dispatch::plan::MAX_CREDENTIALS_PER_DEVICE;
use netraven_dispatcher::dispatch::resolve::Stream;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;

#[derive(Debug, Clone, Serialize)]
pub struct DeviceCredentials {
    pub device: String,
    /// A disabled device is in no job: `tried` is what it would get if enabled.
    pub enabled: bool,
    pub tags: Vec<String>,
    /// The most credentials a job tries on a device.
    pub cap: usize,
    /// Where the cap comes from: `dispatcher.max_credentials_per_device` or `--max`.
    pub cap_from: &'static str,
    pub window_secs: u64,
    /// The credentials a job would try, first to last.
    pub tried: Vec<Entry>,
    /// Every other credential, with why it is left out.
    pub left_out: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// 1 for the first tried; `null` for a credential left out.
    pub position: Option<usize>,
    pub name: String,
    pub username: String,
    /// How it logs in: `password`, `key (ssh-ed25519 SHA256:...)`, or both.
    pub login: String,
    pub priority: i32,
    pub enabled: bool,
    pub tags: Vec<String>,
    /// It last logged in to this device: tried first.
    pub affinity: bool,
    /// Why it is where it is: `affinity`, `priority` (tried), or `beyond_cap`,
    /// `no_shared_tag`, `disabled` (left out).
    pub reason: &'static str,
    /// The reason in words.
    pub why: String,
    /// Its logins on this device, recent and over every attempt kept.
    pub on_device: OnDevice,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct OnDevice {
    pub recent_successes: i64,
    pub recent_failures: i64,
    pub successes: i64,
    pub failures: i64,
    pub last_success_at: Option<DateTime<Utc>>,
}

/// A credential as listed, before it is placed.
struct Row {
    id: i64,
    name: String,
    username: String,
    login: String,
    priority: i32,
    enabled: bool,
    tags: Vec<String>,
    tag_ids: Vec<i64>,
}

pub async fn explain(
    client: &mut deadpool_postgres::Client,
    name: &str,
    cap: usize,
    cap_from: &'static str,
    window: std::time::Duration,
) -> Result<DeviceCredentials> {
    let since = since(window)?;
    let tx = client
        .build_transaction()
        .isolation_level(deadpool_postgres::tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .context("cannot read the credentials")?;
    let mut stream = Stream::credentials(&tx, cap)
        .await
        .context("cannot load the credentials as the dispatcher does")?;
    let e = stream
        .explain(&tx, name)
        .await
        .context("cannot resolve the device")?
        .with_context(|| format!("no device named {name:?} (netraven device list shows them)"))?;
    let device_id = e.resolved.device.id;
    let device_tags: Vec<String> = tx
        .query_one(
            "SELECT ARRAY(SELECT t.name FROM tags t WHERE t.id = ANY($1) ORDER BY t.name)",
            &[&e.tag_ids],
        )
        .await
        .context("cannot read the device's tags")?
        .get(0);
    let rows: Vec<Row> = tx
        .query(
            "SELECT c.id, c.name, c.username, c.priority, c.enabled,
                    c.sealed_secret IS NOT NULL AS has_password, c.key_fingerprint,
                    c.sealed_enable IS NOT NULL AS has_enable,
                    ARRAY(SELECT t.name FROM credential_tags ct JOIN tags t ON t.id = ct.tag_id
                          WHERE ct.credential_id = c.id ORDER BY t.name) AS tags,
                    ARRAY(SELECT ct.tag_id FROM credential_tags ct
                          WHERE ct.credential_id = c.id) AS tag_ids
             FROM credentials c ORDER BY c.priority, c.id",
            &[],
        )
        .await
        .context("cannot list the credentials")?
        .iter()
        .map(|r| Row {
            id: r.get("id"),
            name: r.get("name"),
            username: r.get("username"),
            login: super::credentials::login_methods(
                r.get("has_password"),
                r.get("key_fingerprint"),
                r.get("has_enable"),
            ),
            priority: r.get("priority"),
            enabled: r.get("enabled"),
            tags: r.get("tags"),
            tag_ids: r.get("tag_ids"),
        })
        .collect();
    let on_device = on_device(&tx, device_id, since).await?;
    tx.commit().await?;

    let by_id: HashMap<i64, &Row> = rows.iter().map(|r| (r.id, r)).collect();
    let tried_len = e.resolved.credentials.len();
    let device_tag_ids: HashSet<i64> = e.tag_ids.iter().copied().collect();
    let entry = |r: &Row, position: Option<usize>, reason: &'static str, why: String| Entry {
        position,
        name: r.name.clone(),
        username: r.username.clone(),
        login: r.login.clone(),
        priority: r.priority,
        enabled: r.enabled,
        tags: r.tags.clone(),
        affinity: e.affinity == Some(r.id),
        reason,
        why,
        on_device: on_device.get(&r.id).cloned().unwrap_or_default(),
    };
    let mut tried = Vec::with_capacity(tried_len);
    let mut left_out = Vec::new();
    let mut placed = HashSet::new();
    for (i, c) in e.matching.iter().enumerate() {
        let Some(r) = by_id.get(&c.id) else { continue };
        placed.insert(c.id);
        if i < tried_len {
            let (reason, why) = if e.affinity == Some(c.id) {
                ("affinity", "last logged in to this device".to_string())
            } else {
                ("priority", format!("priority {}", r.priority))
            };
            tried.push(entry(r, Some(i + 1), reason, why));
        } else {
            let why = if i < MAX_CREDENTIALS_PER_DEVICE as usize {
                format!("beyond the cap of {cap} (--max {} shows it)", i + 1)
            } else {
                format!(
                    "beyond the cap of {cap} (a job tries {MAX_CREDENTIALS_PER_DEVICE} at most)"
                )
            };
            left_out.push(entry(r, None, "beyond_cap", why));
        }
    }
    let device_tags_text = tag_list(&device_tags);
    for r in rows.iter().filter(|r| !placed.contains(&r.id)) {
        let shares = r.tag_ids.iter().any(|t| device_tag_ids.contains(t));
        let (reason, why) = if !r.enabled {
            (
                "disabled",
                format!("disabled (netraven credential enable {})", shown(&r.name)),
            )
        } else if !shares {
            let theirs = tag_list(&r.tags);
            (
                "no_shared_tag",
                format!(
                    "no shared tag: the device has {device_tags_text}; the credential {theirs}"
                ),
            )
        } else {
            // Only if resolution learns a rule this view does not know of.
            (
                "other",
                "not matched by the dispatcher's resolution".to_string(),
            )
        };
        left_out.push(entry(r, None, reason, why));
    }
    Ok(DeviceCredentials {
        device: e.resolved.device.name,
        enabled: e.enabled,
        tags: device_tags,
        cap,
        cap_from,
        window_secs: window.as_secs(),
        tried,
        left_out,
    })
}

/// Each credential's judged logins on the device: since `since`, and over every attempt
/// still kept.
async fn on_device(
    tx: &deadpool_postgres::Transaction<'_>,
    device_id: i64,
    since: DateTime<Utc>,
) -> Result<HashMap<i64, OnDevice>> {
    let rows = tx
        .query(
            "SELECT a.credential_id,
                    count(*) FILTER (WHERE a.outcome = 'SUCCESS' AND a.attempted_at >= $2) AS recent_ok,
                    count(*) FILTER (WHERE a.outcome IN ('REJECTED', 'ENABLE_REFUSED') AND a.attempted_at >= $2) AS recent_rejected,
                    count(*) FILTER (WHERE a.outcome = 'SUCCESS') AS ok,
                    count(*) FILTER (WHERE a.outcome IN ('REJECTED', 'ENABLE_REFUSED')) AS rejected,
                    max(a.attempted_at) FILTER (WHERE a.outcome = 'SUCCESS') AS last_success_at
             FROM job_results r
             JOIN credential_attempts a ON a.job_id = r.job_id AND a.device_id = r.device_id
             WHERE r.device_id = $1
             GROUP BY a.credential_id",
            &[&device_id, &since],
        )
        .await
        .context("cannot count the device's logins")?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get("credential_id"),
                OnDevice {
                    recent_successes: r.get("recent_ok"),
                    recent_failures: r.get("recent_rejected"),
                    successes: r.get("ok"),
                    failures: r.get("rejected"),
                    last_success_at: r.get("last_success_at"),
                },
            )
        })
        .collect())
}

/// Tags in a reason: the first few, then how many more (`--json` lists them all).
fn tag_list(tags: &[String]) -> String {
    const SHOWN: usize = 6;
    match tags.len() {
        0 => "none".into(),
        n if n <= SHOWN => tags.join(", "),
        n => format!("{}, and {} more", tags[..SHOWN].join(", "), n - SHOWN),
    }
}

fn logins(ok: i64, failed: i64) -> String {
    let n = ok + failed;
    rate_of((n > 0).then(|| ok as f64 / n as f64), n)
}

pub fn render(d: &DeviceCredentials, style: Style) -> String {
    let mut out = String::new();
    let window = window_label(d.window_secs);
    let tags = if d.tags.is_empty() {
        "no tags".to_string()
    } else {
        format!("tags {}", d.tags.join(", "))
    };
    let _ = writeln!(
        out,
        "{} ({}): a job tries {} credential{}, cap {} ({})",
        shown(&d.device),
        shown(&tags),
        d.tried.len(),
        if d.tried.len() == 1 { "" } else { "s" },
        d.cap,
        d.cap_from
    );
    if !d.enabled {
        let _ = writeln!(
            out,
            "{}",
            style.paint(
                "the device is disabled: no job runs on it; if enabled, it would get these",
                Some(Color::Yellow)
            )
        );
    }
    if d.tried.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            style.paint(
                "no credential would be tried: a job records NO_CREDENTIALS for it",
                Some(Color::Yellow)
            )
        );
    } else {
        let mut table = style.table([
            "#".to_string(),
            "CREDENTIAL".into(),
            "USERNAME".into(),
            "LOGIN".into(),
            "PRIORITY".into(),
            "WHY HERE".into(),
            format!("HERE, LAST {window}"),
            "HERE, ALL KEPT".into(),
        ]);
        for e in &d.tried {
            table.add_row(vec![
                number(e.position.unwrap_or_default()),
                text(&e.name),
                text(&e.username),
                text(&e.login),
                number(e.priority),
                text(&e.why),
                number(logins(
                    e.on_device.recent_successes,
                    e.on_device.recent_failures,
                )),
                number(logins(e.on_device.successes, e.on_device.failures)),
            ]);
        }
        let _ = writeln!(out, "{table}");
    }
    if !d.left_out.is_empty() {
        let mut table = style.table(["LEFT OUT", "USERNAME", "PRIORITY", "WHY", "HERE, ALL KEPT"]);
        for e in &d.left_out {
            let mut name = e.name.clone();
            if e.affinity {
                name.push_str(" (last logged in here)");
            }
            table.add_row(vec![
                text(&name),
                text(&e.username),
                number(e.priority),
                text(&e.why),
                number(logins(e.on_device.successes, e.on_device.failures)),
            ]);
        }
        let _ = writeln!(out, "{table}");
    }
    out.push_str(
        "Order: the credential that last logged in to the device, then priority, then id. \
         HERE: logins on this device the device accepted, of those it judged.\n",
    );
    out
}
