//! Job log lines: what happened to a job, for `netraven job show` and for people.

use crate::error::Result;
use deadpool_postgres::GenericClient;
use serde_json::Value;
use uuid::Uuid;

/// Severity of a job log line.
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// Appends a job log line. Callers never put a secret into `message` or `data`.
pub async fn log<C: GenericClient>(
    db: &C,
    job_id: Uuid,
    device_id: Option<i64>,
    level: Level,
    message: &str,
    data: Value,
) -> Result<()> {
    db.execute(
        "INSERT INTO job_logs (job_id, device_id, level, message, data) VALUES ($1, $2, $3, $4, $5)",
        &[&job_id, &device_id, &level.as_str(), &message, &data],
    )
    .await?;
    Ok(())
}
