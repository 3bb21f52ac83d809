//! The Postgres pool and the schema migrations.

use crate::config::DatabaseSettings;
use crate::{Error, Result};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::NoTls;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Serialises concurrent `migrate` runs (several replicas starting at once).
const MIGRATION_LOCK: i64 = 0x6e65_7472_6176_656e; // "netraven"

/// A database error in full: tokio-postgres' own `Display` says only "db error".
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{}: {}", db.severity(), db.message());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" ({detail})"));
            }
            text
        }
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

/// A bounded pool whose callers give up after `pool_timeout_ms` instead of waiting forever.
pub fn pool(settings: &DatabaseSettings) -> Result<Pool> {
    pool_with_options(settings, "netraven", None)
}

/// A pool whose connections start with `options` (the server's `-c name=value` command
/// line options, as libpq's `options`): session settings at no extra round trip. They
/// show as `application` in `pg_stat_activity` unless `database.url` names one.
pub fn pool_with_options(
    settings: &DatabaseSettings,
    application: &str,
    options: Option<&str>,
) -> Result<Pool> {
    let mut pg = tokio_postgres::Config::from_str(&settings.url)
        .map_err(|e| Error::Config(format!("database.url: {e}")))?;
    if let Some(options) = options {
        pg.options(options);
    }
    pg.connect_timeout(Duration::from_millis(settings.connect_timeout_ms));
    if pg.get_application_name().is_none() {
        pg.application_name(application);
    }
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let wait = Duration::from_millis(settings.pool_timeout_ms);
    Pool::builder(manager)
        .max_size(settings.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(wait))
        .create_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)))
        .recycle_timeout(Some(wait))
        .build()
        .map_err(|e| Error::Pool(e.to_string()))
}

/// Connects outside the pool (migrations, admin work, LISTEN).
pub async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "postgres connection closed");
        }
    });
    Ok(client)
}

/// Applies every pending migration; running it again is a no-op. Returns the versions
/// applied by this call.
pub async fn migrate(url: &str) -> Result<Vec<String>> {
    let mut client = connect(url).await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let report = embedded::migrations::runner()
        .set_abort_divergent(true)
        .run_async(&mut client)
        .await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    let report = report.map_err(|e| Error::Migrate(e.to_string()))?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| format!("V{}__{}", m.version(), m.name()))
        .collect())
}

/// The names of every migration this build carries, in order.
pub fn migration_names() -> Vec<String> {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| format!("V{}__{}", m.version(), m.name()))
        .collect()
}

/// Waits until the database answers, retrying with capped backoff; `false` if `shutdown`
/// fired first.
pub async fn wait_until_up(pool: &Pool, shutdown: &tokio_util::sync::CancellationToken) -> bool {
    let mut delay = Duration::from_millis(200);
    loop {
        let attempt = async {
            let client = pool.get().await?;
            client.simple_query("SELECT 1").await?;
            Ok::<_, Error>(())
        };
        match attempt.await {
            Ok(()) => return true,
            Err(e) => tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64,
                "cannot reach Postgres"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// A fingerprint of every migration this build carries (names and checksums): test
/// templates and caches keyed by it are rebuilt whenever a migration changes.
pub fn migrations_fingerprint() -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for m in embedded::migrations::runner().get_migrations() {
        m.version().hash(&mut h);
        m.name().hash(&mut h);
        m.checksum().hash(&mut h);
    }
    format!("{:016x}", h.finish())
}
