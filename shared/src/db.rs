//! The Postgres pool, every other Postgres connection, and the schema migrations.
//!
//! Every connection goes through [`Target`]: `database.url` with libpq's TLS parameters
//! (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`) taken out and turned into a rustls
//! configuration, because tokio-postgres itself knows only disable/prefer/require.
//! A pool's connections are opened by [`crate::db_connect`]: several hosts, the first
//! writable one, and sockets that notice a database which stopped answering.

use crate::config::DatabaseSettings;
use crate::db_connect::{Liveness, WatchedConnect};
use crate::libpq::{split_tls, SslMode};
use crate::tls::{self, Check};
use crate::{Error, Result};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::str::FromStr;
use std::time::Duration;
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::NoTls;
use tokio_postgres_rustls::MakeRustlsConnect;

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
            // A constraint's detail may quote the whole row ("Failing row contains (…)"):
            // a device's configuration, a job's request. It is left out, as errors are
            // logged and stored; the message names the constraint.
            if let Some(detail) = db.detail().filter(|d| !d.starts_with("Failing row")) {
                text.push_str(&format!(" ({detail})"));
            }
            text
        }
        None => {
            let text = match std::error::Error::source(e) {
                Some(source) => format!("{e}: {source}"),
                None => e.to_string(),
            };
            if ["TLS", "fatal alert", "certificate"]
                .iter()
                .any(|w| text.contains(w))
            {
                format!("{text} (database.url: check sslmode, sslrootcert, sslcert and sslkey)")
            } else {
                text
            }
        }
    }
}

/// Where and how to connect: tokio-postgres' configuration and the TLS it needs.
#[derive(Clone)]
pub struct Target {
    pub config: tokio_postgres::Config,
    tls: Option<MakeRustlsConnect>,
}

impl Target {
    /// Parses `url` (a `postgres://` URL, libpq's TLS parameters included) and reads the
    /// TLS files it names. Errors name `database.url` and the parameter.
    pub fn new(url: &str) -> Result<Target> {
        let bad = |e: String| Error::setting("database.url", e);
        let (url, params) = split_tls(url).map_err(bad)?;
        params.validate().map_err(bad)?;
        let mut config = tokio_postgres::Config::from_str(&url).map_err(Error::DatabaseUrl)?;
        // `sslmode=require` in a form the split did not take out (a percent-encoded name,
        // say) is read by tokio-postgres itself: never weaken it to `prefer`.
        let mode = if config.get_ssl_mode() == PgSslMode::Require {
            params.mode.max(SslMode::Require)
        } else {
            params.mode
        };
        let check = match mode {
            SslMode::Disable => {
                config.ssl_mode(PgSslMode::Disable);
                return Ok(Target { config, tls: None });
            }
            SslMode::Prefer => {
                config.ssl_mode(PgSslMode::Prefer);
                Check::EncryptOnly
            }
            SslMode::Require => {
                config.ssl_mode(PgSslMode::Require);
                Check::EncryptOnly
            }
            SslMode::VerifyCa => {
                config.ssl_mode(PgSslMode::Require);
                Check::Ca
            }
            SslMode::VerifyFull => {
                config.ssl_mode(PgSslMode::Require);
                Check::CaAndName
            }
        };
        let files = tls::Files {
            ca: tls::named("database.url sslrootcert", &params.root_cert),
            cert: tls::named("database.url sslcert", &params.cert),
            key: tls::named("database.url sslkey", &params.key),
        };
        let client = tls::client_config(files, check)?;
        Ok(Target {
            config,
            tls: Some(MakeRustlsConnect::new(client)),
        })
    }

    /// Opens one connection outside any pool; its connection task is spawned.
    pub async fn connect(&self) -> Result<tokio_postgres::Client> {
        let client = match &self.tls {
            Some(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "postgres connection closed");
                    }
                });
                client
            }
            None => {
                let (client, connection) = self.config.connect(NoTls).await?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "postgres connection closed");
                    }
                });
                client
            }
        };
        Ok(client)
    }

    /// The pool's manager: its connections opened by [`WatchedConnect`] (several hosts,
    /// watched sockets), `writable_only` passing over read-only hosts.
    ///
    /// Recycling stays `Fast` (no round trip per checkout): a connection that stopped
    /// answering is closed by its watch or by TCP keepalives, and a closed one is never
    /// handed out. `Verified` would add a round trip to every checkout, and while a
    /// database is blackholed it would wait out a timeout for each idle connection in
    /// turn. A session never turns read-only while it lives (a standby's sessions end
    /// when it is promoted, `ALTER DATABASE … default_transaction_read_only` reaches new
    /// sessions only), so checking new connections is enough.
    fn manager(self, liveness: Liveness, writable_only: bool) -> Manager {
        let config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let connect = WatchedConnect {
            tls: self.tls,
            liveness,
            writable_only,
        };
        Manager::from_connect(self.config, connect, config)
    }
}

/// What a pool is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// A command, a test or a benchmark: waits as long as its statements take.
    Command,
    /// A role: statements bounded by `statement_timeout_ms`, silence by
    /// `response_timeout_ms`, and only writable sessions.
    Role,
}

/// A bounded pool whose callers give up after `pool_timeout_ms` instead of waiting forever.
/// For commands: statements are not timed out (an import may take minutes), and a session
/// is read-only or not as `target_session_attrs` says.
pub fn pool(settings: &DatabaseSettings) -> Result<Pool> {
    build(settings, "netraven", None, Use::Command)
}

/// A role's pool, whose connections start with `options` (the server's `-c name=value`
/// command line options, as libpq's `options`): session settings at no extra round trip.
/// They show as `application` in `pg_stat_activity` unless `database.url` names one.
///
/// A role's statements run under `statement_timeout_ms`, a connection silent for
/// `response_timeout_ms` while a request waits is dropped, and only hosts whose sessions
/// can write are used: a role has nothing to do on a read-only one.
pub fn pool_with_options(
    settings: &DatabaseSettings,
    application: &str,
    options: Option<&str>,
) -> Result<Pool> {
    build(settings, application, options, Use::Role)
}

fn build(
    settings: &DatabaseSettings,
    application: &str,
    options: Option<&str>,
    usage: Use,
) -> Result<Pool> {
    let mut target = Target::new(&settings.url)?;
    let pg = &mut target.config;
    let mut session = options.unwrap_or_default().to_string();
    if usage == Use::Role {
        // Every statement is planned with its parameters. A generic plan cached while a
        // table was small stays cached as it grows: the workers' batch statements join an
        // `unnest` of ids to tables a job fills (claims, configurations), and a plan made
        // on the job's first batches seq-scanned the whole table for every later batch
        // (a 50,000-device job: 3,000 pages read per batch of 75, 18 ms, where the index
        // takes 0.4 ms). Planning again costs ~0.2–0.4 ms a statement, a batch's, not a
        // device's.
        session = format!("{session} -c plan_cache_mode=force_custom_plan");
    }
    if usage == Use::Role && settings.statement_timeout_ms > 0 {
        session = format!(
            "{session} -c statement_timeout={}",
            settings.statement_timeout_ms
        );
    }
    let session = session.trim();
    if !session.is_empty() {
        pg.options(session);
    }
    pg.connect_timeout(Duration::from_millis(settings.connect_timeout_ms));
    if pg.get_application_name().is_none() {
        pg.application_name(application);
    }
    let liveness = liveness(pg, settings, usage);
    let manager = target.manager(liveness, usage == Use::Role);
    let wait = Duration::from_millis(settings.pool_timeout_ms);
    Pool::builder(manager)
        .max_size(settings.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(wait))
        .create_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)))
        .recycle_timeout(Some(wait))
        .build()
        .map_err(Error::from)
}

/// The URL's libpq keepalive parameters where it gives them (tokio-postgres' defaults
/// otherwise: 2 h idle), ours where it does not: a peer gone while its connection idles
/// is found within 10 s + 3 × 5 s. A command's pool waits for answers as long as a
/// statement takes (a day), a role's for `response_timeout_ms`.
fn liveness(pg: &tokio_postgres::Config, settings: &DatabaseSettings, usage: Use) -> Liveness {
    const LIBPQ_DEFAULT_IDLE: Duration = Duration::from_secs(2 * 60 * 60);
    let idle = pg.get_keepalives_idle();
    Liveness {
        response_timeout: match usage {
            Use::Role => Duration::from_millis(settings.response_timeout_ms),
            Use::Command => Duration::from_secs(24 * 60 * 60),
        },
        keepalive_idle: if idle == LIBPQ_DEFAULT_IDLE {
            Duration::from_secs(10)
        } else {
            idle
        },
        keepalive_interval: pg
            .get_keepalives_interval()
            .unwrap_or(Duration::from_secs(5)),
        keepalive_retries: pg.get_keepalives_retries().unwrap_or(3),
    }
}

/// Connects outside the pool (migrations, admin work, LISTEN), with the TLS `url` asks for.
pub async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    Target::new(url)?.connect().await
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
    let report = report?;
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
    let mut delays = crate::retry::Backoff::RECONNECT.delays();
    loop {
        let attempt = async {
            let client = pool.get().await?;
            client.simple_query("SELECT 1").await?;
            Ok::<_, Error>(())
        };
        let delay = delays.next_delay();
        match attempt.await {
            Ok(()) => return true,
            Err(e) => tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64,
                "cannot reach Postgres"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(delay) => {}
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_is_never_weakened_whatever_its_spelling() {
        for url in [
            "postgres://db/n?sslmode=require",
            "postgres://db/n?ssl%6dode=require",
        ] {
            let t = Target::new(url).expect(url);
            assert_eq!(t.config.get_ssl_mode(), PgSslMode::Require, "{url}");
            assert!(t.tls.is_some(), "{url}");
        }
        let plain = Target::new("postgres://db/n?sslmode=disable").expect("disable");
        assert_eq!(plain.config.get_ssl_mode(), PgSslMode::Disable);
    }

    #[test]
    fn unusable_tls_parameters_are_refused_without_echoing_the_url() {
        for (query, says) in [
            ("sslmode=allow", "sslmode=\"allow\""),
            ("sslmode=verify-ca", "needs sslrootcert"),
            (
                "sslmode=require&sslcert=/etc/hostname",
                "sslcert is set without sslkey",
            ),
            (
                "sslrootcert=/nonexistent.crt",
                "sslrootcert: /nonexistent.crt does not exist",
            ),
            (
                "sslmode=disable&sslrootcert=/etc/hostname",
                "would be ignored",
            ),
            ("sslrootcert=", "sslrootcert is empty"),
        ] {
            let url = format!("postgres://app:hunter2@db/netraven?{query}");
            let err = Target::new(&url).err().expect(query).to_string();
            assert!(err.starts_with("configuration: database.url: "), "{err}");
            assert!(err.contains(says), "{query}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
