//! What every long-running role does before it works: serve its health and metrics, wait
//! for Postgres and RabbitMQ (retrying with capped backoff), and hold the connections.

use crate::broker::{Link, Names};
use crate::config::Settings;
use crate::telemetry::{self, Readiness};
use crate::{db, Result};
use deadpool_postgres::Pool;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A role's connections, ready to use.
pub struct Connected {
    pub pool: Pool,
    /// The broker connection, re-established when lost.
    pub link: Arc<Link>,
    pub names: Names,
    /// Marked database-ready here; the role marks the broker ready once it consumes.
    pub readiness: Arc<Readiness>,
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `metrics_addr`, then connects to
/// Postgres and RabbitMQ, waiting for them as long as it takes. `None` when `shutdown`
/// came first. `db_options` are session settings for every database connection.
pub async fn connect(
    settings: &Settings,
    role: &str,
    metrics_addr: &str,
    db_options: Option<&str>,
    shutdown: &CancellationToken,
) -> Result<Option<Connected>> {
    let readiness = Readiness::new();
    telemetry::serve(metrics_addr, readiness.clone(), shutdown.clone()).await?;
    // Each role names itself to Postgres: pg_stat_activity says who holds what.
    let pool = db::pool_with_options(&settings.database, &format!("netraven-{role}"), db_options)?;
    if !db::wait_until_up(&pool, shutdown).await {
        return Ok(None);
    }
    readiness.set_database(true);
    let Some(link) = Link::open(&settings.amqp, role, shutdown, Some(readiness.clone())).await
    else {
        return Ok(None);
    };
    Ok(Some(Connected {
        pool,
        link,
        names: Names::new(&settings.amqp.namespace),
        readiness,
    }))
}
