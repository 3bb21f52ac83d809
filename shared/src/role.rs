//! What every long-running role does before it works: serve its health and metrics, wait
//! for Postgres and RabbitMQ (retrying with capped backoff), hold the connections, and
//! keep checking the database and its own progress for `/readyz` (`[health]`).

use crate::broker::{Link, Names};
use crate::config::Settings;
use crate::telemetry::{self, metrics, watch, Progress, Readiness};
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
    /// Marked database-ready here; the role marks the broker ready once it consumes, and
    /// reports what it takes and gets done to its [`Readiness::progress`].
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
    let readiness = Readiness::for_role(role, progress_of(settings, role));
    metrics::build_info(role);
    telemetry::serve(metrics_addr, readiness.clone(), shutdown.clone()).await?;
    // Each role names itself to Postgres: pg_stat_activity says who holds what.
    let pool = db::pool_with_options(&settings.database, &format!("netraven-{role}"), db_options)?;
    if !db::wait_until_up(&pool, shutdown).await {
        return Ok(None);
    }
    readiness.set_database(true);
    let h = &settings.health;
    watch::spawn(
        readiness.clone(),
        watch::DatabaseCheck {
            url: settings.database.url.clone(),
            interval: h.database_check_interval(),
            timeout: h.database_check_timeout(),
        },
        shutdown.clone(),
    );
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

/// How `role`'s progress is judged: its stall limit from `[health]`. The dispatcher also
/// progresses whenever the broker confirms one of its tasks, so a large job that takes
/// minutes to publish is not a stall while its tasks go out.
fn progress_of(settings: &Settings, role: &str) -> Progress {
    let progress = Progress::new(settings.health.stall_after(role));
    if role == "dispatcher" {
        progress.also_counting(|| {
            metrics::get()
                .tasks_published_total
                .with_label_values(&["confirmed"])
                .get()
        })
    } else {
        progress
    }
}
