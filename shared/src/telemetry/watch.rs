//! The health watch of a running role: every interval, a cheap `SELECT 1` on a database
//! connection of its own, then the role's gauges set from its readiness, and a log line
//! whenever the reasons it is not ready change.
//!
//! The check does not borrow from the role's pool: a pool whose connections all wait on a
//! lock would look like a database down, and a database down would go unseen while the
//! pool's connections are busy. A blackholed server is caught by the check's timeout, so
//! `/readyz` says so within one interval plus one timeout.

use super::readiness::Readiness;
use crate::db;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How the watch checks the database.
#[derive(Debug, Clone)]
pub struct DatabaseCheck {
    pub url: String,
    pub interval: Duration,
    pub timeout: Duration,
}

/// Watches until `shutdown`.
pub fn spawn(
    readiness: Arc<Readiness>,
    check: DatabaseCheck,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut client = None;
        let mut was: Vec<&'static str> = Vec::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(check.interval) => {}
            }
            let up = probe(&mut client, &check).await;
            readiness.set_database(up);
            let reasons = readiness.export();
            let now: Vec<&'static str> = reasons.iter().map(|(label, _)| *label).collect();
            if now != was {
                let why: Vec<&str> = reasons.iter().map(|(_, why)| why.as_str()).collect();
                if now.is_empty() {
                    tracing::info!("ready again");
                } else {
                    tracing::warn!(reasons = %why.join("; "), "not ready");
                }
                was = now;
            }
        }
    })
}

/// One `SELECT 1`, connecting first when the last connection is gone; any failure or a
/// timeout drops the connection, so the next check starts afresh.
async fn probe(client: &mut Option<tokio_postgres::Client>, check: &DatabaseCheck) -> bool {
    let attempt = async {
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            *client = Some(db::connect(&check.url).await?);
        }
        if let Some(c) = client.as_ref() {
            c.simple_query("SELECT 1").await?;
        }
        Ok::<(), crate::Error>(())
    };
    match tokio::time::timeout(check.timeout, attempt).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "database check failed");
            *client = None;
            false
        }
        Err(_) => {
            tracing::debug!(
                timeout_ms = check.timeout.as_millis() as u64,
                "database check timed out"
            );
            *client = None;
            false
        }
    }
}
