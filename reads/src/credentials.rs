//! `netraven credential list`: how every credential fared — its success rate over a recent
//! window beside its lifetime rate, counts, last use — with a mark on the ones that just
//! broke.
//!
//! Rates count the devices' verdicts only (`SUCCESS`, and `REJECTED` or `ENABLE_REFUSED`
//! against), as the lifetime counters do: an attempt the device never judged (a timeout, a connection
//! lost mid-login) says nothing about the secret.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Judged attempts a window (and the history before it) needs before a drop is marked:
/// fewer say too little to call a credential broken.
pub const DROP_MIN_ATTEMPTS: i64 = 5;
/// How far (in success-rate points, 0.2 = 20 %) the recent rate must fall under the rate
/// before the window to be marked.
pub const DROP_POINTS: f64 = 0.2;
/// The recent window when none is given: a day, the usual backup period.
pub const DEFAULT_WINDOW: std::time::Duration = std::time::Duration::from_secs(86_400);

/// One credential's counters (never its secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CredentialStats {
    pub id: i64,
    pub name: String,
    pub username: String,
    /// How it logs in: `password`, `key (ssh-ed25519 SHA256:...)`, or the key then the
    /// password (`key (...) + password`).
    pub login: String,
    /// The fleet-wide login caps: at most this many at once, and started in any one
    /// second, over every worker (`null`: no cap).
    pub max_concurrent_logins: Option<i32>,
    pub max_logins_per_second: Option<i32>,
    pub priority: i32,
    pub enabled: bool,
    pub tags: Vec<String>,
    /// Lifetime: successes and rejections since the credential was imported.
    pub success_count: i64,
    pub failure_count: i64,
    pub attempts: i64,
    /// Lifetime successes / attempts; `null` before the first attempt.
    pub success_rate: Option<f64>,
    /// The same over the recent window.
    pub recent: Recent,
    /// The recent rate fell at least 20 points under the rate before the window, each
    /// over at least 5 judged attempts: the secret was probably changed on devices, or the
    /// AAA server behind them is failing.
    pub dropped: bool,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    /// Devices on which this credential is the one that last worked (tried first).
    pub affinity_devices: i64,
}

/// A credential's judged attempts within the window.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Recent {
    pub window_secs: u64,
    pub successes: i64,
    pub failures: i64,
    pub attempts: i64,
    /// `null` without an attempt in the window.
    pub success_rate: Option<f64>,
}

pub async fn list(
    client: &deadpool_postgres::Client,
    window: std::time::Duration,
) -> Result<Vec<CredentialStats>> {
    let since = since(window)?;
    let rows = client
        .query(
            // One index range (credential_attempts_by_credential) per credential.
            "SELECT c.id, c.name, c.username, c.priority, c.enabled, c.success_count,
                    c.sealed_secret IS NOT NULL AS has_password, c.key_fingerprint,
                    c.sealed_enable IS NOT NULL AS has_enable,
                    c.max_concurrent_logins, c.max_logins_per_second,
                    c.failure_count, c.success_rate, c.last_used_at, c.last_success_at,
                    c.last_failure_at, w.ok AS recent_ok, w.rejected AS recent_rejected,
                    ARRAY(SELECT t.name FROM credential_tags ct JOIN tags t ON t.id = ct.tag_id
                          WHERE ct.credential_id = c.id ORDER BY t.name) AS tags,
                    (SELECT count(*) FROM device_credential_affinity a
                     WHERE a.credential_id = c.id) AS affinity_devices
             FROM credentials c
             CROSS JOIN LATERAL (
                 SELECT count(*) FILTER (WHERE a.outcome = 'SUCCESS') AS ok,
                        count(*) FILTER (WHERE a.outcome IN ('REJECTED', 'ENABLE_REFUSED')) AS rejected
                 FROM credential_attempts a
                 WHERE a.credential_id = c.id AND a.attempted_at >= $1
             ) w
             ORDER BY c.priority, c.id",
            &[&since],
        )
        .await
        .context("cannot list credentials")?;
    Ok(rows
        .iter()
        .map(|r| {
            let (ok, failed): (i64, i64) = (r.get("success_count"), r.get("failure_count"));
            let recent = Recent::new(window, r.get("recent_ok"), r.get("recent_rejected"));
            CredentialStats {
                id: r.get("id"),
                name: r.get("name"),
                username: r.get("username"),
                login: login_methods(
                    r.get("has_password"),
                    r.get("key_fingerprint"),
                    r.get("has_enable"),
                ),
                max_concurrent_logins: r.get("max_concurrent_logins"),
                max_logins_per_second: r.get("max_logins_per_second"),
                priority: r.get("priority"),
                enabled: r.get("enabled"),
                tags: r.get("tags"),
                success_count: ok,
                failure_count: failed,
                attempts: ok + failed,
                success_rate: r.get("success_rate"),
                dropped: dropped(&recent, ok, failed),
                recent,
                last_used_at: r.get("last_used_at"),
                last_success_at: r.get("last_success_at"),
                last_failure_at: r.get("last_failure_at"),
                affinity_devices: r.get("affinity_devices"),
            }
        })
        .collect())
}

/// How a credential logs in, for display: its key's public fingerprint (never the key),
/// `password` (never the password), or both, in the order a worker tries them; and
/// `+ enable secret` when it has its own.
pub fn login_methods(
    has_password: bool,
    key_fingerprint: Option<&str>,
    has_enable: bool,
) -> String {
    let login = match (key_fingerprint, has_password) {
        (Some(key), true) => format!("key ({key}) + password"),
        (Some(key), false) => format!("key ({key})"),
        (None, _) => "password".to_string(),
    };
    if has_enable {
        format!("{login} + enable secret")
    } else {
        login
    }
}

/// The start of a window that ends now.
pub fn since(window: std::time::Duration) -> Result<DateTime<Utc>> {
    chrono::Duration::from_std(window)
        .ok()
        .and_then(|w| Utc::now().checked_sub_signed(w))
        .with_context(|| format!("a window of {window:?} reaches before any date"))
}

impl Recent {
    pub fn new(window: std::time::Duration, successes: i64, failures: i64) -> Recent {
        let attempts = successes + failures;
        Recent {
            window_secs: window.as_secs(),
            successes,
            failures,
            attempts,
            success_rate: rate(successes, attempts),
        }
    }
}

fn rate(successes: i64, attempts: i64) -> Option<f64> {
    (attempts > 0).then(|| successes as f64 / attempts as f64)
}

/// Whether the recent rate fell far under the rate before the window. The lifetime
/// counters include the window's attempts (both are written in one transaction), so the
/// history before it is their difference: compared with the lifetime rate itself, a
/// credential used mostly within the window could never stand out.
pub fn dropped(recent: &Recent, lifetime_ok: i64, lifetime_failed: i64) -> bool {
    let before_ok = (lifetime_ok - recent.successes).max(0);
    let before = before_ok + (lifetime_failed - recent.failures).max(0);
    match (recent.success_rate, rate(before_ok, before)) {
        (Some(now), Some(then)) => {
            recent.attempts >= DROP_MIN_ATTEMPTS
                && before >= DROP_MIN_ATTEMPTS
                && now + DROP_POINTS <= then
        }
        _ => false,
    }
}
