//! The aggregator's ingest rate: results recorded exactly once, in batches.

use super::scratch::Scratch;
use super::Figure;
use anyhow::Result;
use chrono::Utc;
use netraven_dispatcher::aggregate::ingest;
use netraven_shared::domain::Outcome;
use netraven_shared::messages::{self, TaskResult};
use std::time::Instant;

/// Records `count` results for one job of `count` devices through [`ingest`], in batches
/// of `batch` (the aggregator's batch size), and measures results per second.
pub async fn measure(scratch: &Scratch, count: i64, batch: usize) -> Result<Figure> {
    let (_, took) = finished_job(scratch, count, batch).await?;
    Ok(Figure::rate(
        "results_ingested_per_second",
        count as usize,
        took,
        "results/s",
        format!("{count} results in batches of {batch}, one job"),
    ))
}

/// One job of `count` devices (`dev-000000`, …; one in ten `AUTH_FAILED`), its results
/// recorded as the aggregator records them until it finishes: its id, and how long the
/// recording took.
pub async fn finished_job(
    scratch: &Scratch,
    count: i64,
    batch: usize,
) -> Result<(uuid::Uuid, std::time::Duration)> {
    let client = scratch.pool.get().await?;
    let job_id = uuid::Uuid::now_v7();
    client
        .execute(
            "INSERT INTO jobs (id, request_id, job_type, request, status, total_devices, deadline_at, started_at)
             VALUES ($1, $2, 'config_backup', '{}', 'RUNNING', $3, now() + interval '1 hour', now())",
            &[&job_id, &format!("bench-{job_id}"), &(count as i32)],
        )
        .await?;
    let results: Vec<TaskResult> = (0..count)
        .map(|i| TaskResult {
            version: messages::RESULT_VERSION,
            job_id,
            device_id: i,
            device_name: format!("dev-{i:06}"),
            outcome: if i % 10 == 8 {
                Outcome::AuthFailed
            } else {
                Outcome::Success
            },
            reason: "configuration stored (20480 bytes, sha256 0123456789ab)".into(),
            credential_id: Some(1 + i % 3),
            attempts: 1 + (i % 3) as u32,
            duration_ms: 40,
            config_sha256: Some(format!("{i:064x}")),
            config: None,
            worker: "bench:1".into(),
            finished_at: Utc::now(),
            try_number: None,
        })
        .collect();
    let started = Instant::now();
    let mut finished = 0;
    for chunk in results.chunks(batch.max(1)) {
        finished += ingest(&scratch.pool, chunk).await?.finished.len();
    }
    let took = started.elapsed();
    anyhow::ensure!(finished == 1, "the job should finish exactly once");
    Ok((job_id, took))
}
