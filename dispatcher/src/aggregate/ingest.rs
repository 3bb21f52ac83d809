//! Recording a batch of results: one transaction, one insert, one counter update per job.
//! A transient failure with tries left is not a result yet: [`super::retries`] records
//! the try and schedules the retry instead.

use super::retries::{self, RetryLimits};
use crate::error::Result;
use crate::job_rows::{self, JobCounts};
use chrono::{DateTime, Utc};
use netraven_shared::messages::{ConfigChange, TaskResult};
use netraven_shared::telemetry::metrics;
use std::collections::HashMap;
use uuid::Uuid;

/// What a batch changed.
#[derive(Debug, Default)]
pub struct Ingested {
    /// Results recorded for the first time.
    pub recorded: u64,
    /// Results already recorded (redeliveries, duplicates): changed nothing.
    pub duplicates: u64,
    /// Tries recorded and retried: their devices have no final result yet.
    pub retried: u64,
    /// Jobs this batch finished, with their final counts.
    pub finished: Vec<(Uuid, JobCounts)>,
    /// Indexes in the batch of the results recorded now whose configuration changed.
    pub changed: Vec<usize>,
}

const INSERT_SQL: &str = "
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                         $6::bigint[], $7::int[], $8::bigint[], $9::text[], $10::text[],
                         $11::timestamptz[], $12::text[], $13::int[], $14::int[])
        AS t(job_id, device_id, device_name, outcome, reason, credential_id, attempts,
             duration_ms, config_sha256, worker, finished_at, config_change, config_version,
             tries)
),
inserted AS (
    INSERT INTO job_results (job_id, device_id, device_name, outcome, reason, credential_id,
                             attempts, duration_ms, config_sha256, worker, finished_at,
                             config_change, config_version, tries)
    SELECT i.* FROM input i JOIN jobs j ON j.id = i.job_id
    -- A late copy of a try that was retried is not the device's result.
    WHERE NOT EXISTS (SELECT 1 FROM device_tries t
                      WHERE t.job_id = i.job_id AND t.device_id = i.device_id
                        AND t.try >= i.tries)
    ON CONFLICT (job_id, device_id) DO NOTHING
    RETURNING job_id, device_id, outcome, config_change
),
counted AS (
    SELECT job_id, count(*) AS n, count(*) FILTER (WHERE outcome = 'SUCCESS') AS ok
    FROM inserted GROUP BY job_id
),
updated AS (
    UPDATE jobs j
    SET completed_devices = j.completed_devices + c.n,
        succeeded_devices = j.succeeded_devices + c.ok
    FROM counted c WHERE j.id = c.job_id
    RETURNING j.id, c.n
)
-- The jobs counted (device NULL), then the devices recorded now with a new version.
SELECT id, n, NULL::bigint AS device_id, NULL::text AS config_change FROM updated
UNION ALL
SELECT job_id, 0, device_id, config_change FROM inserted
WHERE config_change IN ('NEW', 'CHANGED')";

/// Records `results` exactly once each (the primary key on job and device makes a repeat a
/// no-op), or their tries and retries, and finishes every job the batch completes, all in
/// one transaction.
pub async fn ingest(pool: &deadpool_postgres::Pool, all: &[TaskResult]) -> Result<Ingested> {
    let mut ingested = Ingested::default();
    if all.is_empty() {
        return Ok(ingested);
    }
    let mut job_ids: Vec<Uuid> = all.iter().map(|r| r.job_id).collect();
    job_ids.sort_unstable();
    job_ids.dedup();

    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Lock the batch's jobs in one order, so concurrent aggregators never deadlock.
    // Prepared once per connection: a batch's arrays are not parsed and planned again.
    let lock = tx.prepare_cached(retries::LOCK_SQL).await?;
    let limits: HashMap<Uuid, RetryLimits> = tx
        .query(&lock, &[&job_ids])
        .await?
        .iter()
        .map(RetryLimits::from_row)
        .collect();
    // Each result is a retried try or a final result; `index` maps the finals back.
    let now = Utc::now();
    let (mut retried, mut index) = (Vec::new(), Vec::with_capacity(all.len()));
    for (i, r) in all.iter().enumerate() {
        let due = limits.get(&r.job_id).and_then(|l| {
            let n = r.try_number();
            retries::retry_due(r.outcome, n, l, l.delay(n), now)
        });
        match due {
            Some(due) => retried.push((i, due)),
            None => index.push(i),
        }
    }
    ingested.retried = retries::schedule(&tx, all, &retried).await?;
    let finals: Vec<TaskResult>;
    let results: &[TaskResult] = if retried.is_empty() {
        all
    } else {
        finals = index.iter().map(|&i| all[i].clone()).collect();
        &finals
    };
    let insert = tx.prepare_cached(INSERT_SQL).await?;
    let col = |f: fn(&TaskResult) -> String| results.iter().map(f).collect::<Vec<_>>();
    let ids: Vec<Uuid> = results.iter().map(|r| r.job_id).collect();
    let device_ids: Vec<i64> = results.iter().map(|r| r.device_id).collect();
    let credential_ids: Vec<Option<i64>> = results.iter().map(|r| r.credential_id).collect();
    let attempts: Vec<i32> = results
        .iter()
        .map(|r| i32::try_from(r.attempts).unwrap_or(i32::MAX))
        .collect();
    let durations: Vec<i64> = results
        .iter()
        .map(|r| i64::try_from(r.duration_ms).unwrap_or(i64::MAX))
        .collect();
    let hashes: Vec<Option<String>> = results.iter().map(|r| r.config_sha256.clone()).collect();
    let finished_at: Vec<DateTime<Utc>> = results.iter().map(|r| r.finished_at).collect();
    let changes: Vec<Option<&str>> = results
        .iter()
        .map(|r| r.config.as_ref().map(|c| c.change.as_str()))
        .collect();
    let versions: Vec<Option<i32>> = results
        .iter()
        .map(|r| {
            r.config
                .as_ref()
                .map(|c| i32::try_from(c.version).unwrap_or(i32::MAX))
        })
        .collect();
    let tries: Vec<i32> = results
        .iter()
        .map(|r| i32::try_from(r.try_number()).unwrap_or(i32::MAX))
        .collect();
    let rows = tx
        .query(
            &insert,
            &[
                &ids,
                &device_ids,
                &col(|r| r.device_name.clone()),
                &col(|r| r.outcome.as_str().to_string()),
                &col(|r| r.reason.clone()),
                &credential_ids,
                &attempts,
                &durations,
                &hashes,
                &col(|r| r.worker.clone()),
                &finished_at,
                &changes,
                &versions,
                &tries,
            ],
        )
        .await?;
    let (jobs, devices): (Vec<_>, Vec<_>) = rows
        .iter()
        .partition(|r| r.get::<_, Option<i64>>(2).is_none());
    ingested.recorded = jobs.iter().map(|r| r.get::<_, i64>(1) as u64).sum();
    ingested.duplicates = all.len() as u64 - ingested.recorded - ingested.retried;
    let mut new_versions = 0;
    let mut place: HashMap<(Uuid, i64), usize> = HashMap::new();
    for row in devices {
        let (job_id, device_id) = (row.get::<_, Uuid>(0), row.get::<_, i64>(2));
        if row.get::<_, Option<&str>>(3) == Some(ConfigChange::New.as_str()) {
            new_versions += 1;
            continue;
        }
        if place.is_empty() {
            place = results
                .iter()
                .enumerate()
                .map(|(i, r)| ((r.job_id, r.device_id), i))
                .collect();
        }
        // An index in `all`, which the caller knows.
        ingested
            .changed
            .extend(place.get(&(job_id, device_id)).map(|&i| {
                if retried.is_empty() {
                    i
                } else {
                    index[i]
                }
            }));
    }
    for job_id in jobs.iter().map(|r| r.get::<_, Uuid>(0)) {
        if let Some(done) = job_rows::finalize_if_complete(&tx, job_id).await? {
            ingested.finished.push((job_id, done));
        }
    }
    tx.commit().await?;
    let m = &metrics::get().results_recorded_total;
    m.with_label_values(&["recorded"]).inc_by(ingested.recorded);
    m.with_label_values(&["duplicate"])
        .inc_by(ingested.duplicates);
    let versions = &metrics::get().config_changes_total;
    versions.with_label_values(&["new"]).inc_by(new_versions);
    versions
        .with_label_values(&["changed"])
        .inc_by(ingested.changed.len() as u64);
    Ok(ingested)
}
