//! Group commit: finished devices are written in batches — attempts, credential counters
//! and affinities in one transaction — then their results are published and only then
//! their tasks acked.
//!
//! Successes and failures count the device's verdicts only: an attempt the device never
//! judged (an authentication timeout, a connection lost mid-login) is recorded in
//! `credential_attempts` as `ERROR` and moves `last_used_at`, but is neither, so a slow or
//! flaky device does not make a good credential look bad.
//!
//! Counters are updated with relative `UPDATE`s (`count = count + delta`), one row per
//! credential per batch, in credential-id order: correct with any number of workers, and a
//! hot credential shared by thousands of devices costs one row update per batch, not one
//! per device.

use crate::device::{AttemptOutcome, DeviceReport};
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use lapin::Acker;
use netraven_shared::broker::{self, Names, Outgoing, Publisher, Settle, RESULT_KEY};
use netraven_shared::db::describe;
use netraven_shared::messages::{self, TaskResult, TaskResults};
use netraven_shared::signing::Signer;
use netraven_shared::telemetry::metrics;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Session settings of the worker's database connections. A worker's writes before its
/// batch commit (host-key pins, command outputs) do not wait for their own WAL flush:
/// the batch commit, which is synchronous and comes before any ack, flushes the WAL up
/// to itself, and so every write that preceded it. A crash before that commit loses
/// only what the redelivered task writes again.
///
/// Its statements carry whole batches as arrays, and a custom plan would embed those as
/// constants — a batch's configurations, megabytes, copied into every plan (measured:
/// 1.9 ms of planning per batch). They run with the generic plan instead.
pub const SESSION_OPTIONS: &str = "-c synchronous_commit=off -c plan_cache_mode=force_generic_plan";

/// Devices written in one transaction, and reported in one results message, at most.
const MAX_BATCH: usize = messages::MAX_RESULTS_PER_BATCH;

/// A finished device waiting to be written, published and acked.
pub struct Finished {
    pub job_id: Uuid,
    pub device_id: i64,
    pub report: DeviceReport,
    pub result: TaskResult,
    pub acker: Acker,
}

/// Per-credential deltas of one batch.
#[derive(Default)]
struct Delta {
    successes: i64,
    failures: i64,
    last_used: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
    last_failure: Option<DateTime<Utc>>,
}

/// Devices this worker took and has not handed to the flusher yet. While none is, no
/// more finished devices can come, so the flusher writes what it holds at once instead of
/// waiting out its interval: the last devices of a job, or a lone device, are recorded
/// without the group-commit delay.
#[derive(Clone, Default)]
pub struct Working(Arc<AtomicUsize>);

/// One device being worked on; it stops counting when dropped.
pub struct WorkingOn(Arc<AtomicUsize>);

impl Working {
    pub fn start(&self) -> WorkingOn {
        self.0.fetch_add(1, Ordering::AcqRel);
        WorkingOn(self.0.clone())
    }

    fn any(&self) -> bool {
        self.0.load(Ordering::Acquire) > 0
    }
}

impl Drop for WorkingOn {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs until every sender is dropped and the queue is drained.
pub async fn run(
    mut rx: mpsc::Receiver<Finished>,
    working: Working,
    pool: Pool,
    publisher: Publisher,
    names: Names,
    signer: Signer,
    interval: Duration,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let Some(first) = rx.recv().await else { return };
        batch.push(first);
        let until = tokio::time::Instant::now() + interval;
        while batch.len() < MAX_BATCH {
            let next = if working.any() {
                tokio::time::timeout_at(until, rx.recv()).await
            } else {
                // Nothing in the works: take only what is queued already.
                Ok(rx.try_recv().ok())
            };
            match next {
                Ok(Some(f)) => batch.push(f),
                Ok(None) | Err(_) => break,
            }
        }
        flush(
            &pool,
            &publisher,
            &names,
            &signer,
            std::mem::take(&mut batch),
        )
        .await;
    }
}

async fn flush(
    pool: &Pool,
    publisher: &Publisher,
    names: &Names,
    signer: &Signer,
    batch: Vec<Finished>,
) {
    let mut delay = Duration::from_millis(100);
    for attempt in 1.. {
        match write(pool, &batch).await {
            Ok(()) => {
                let lag = &metrics::get().flush_lag_seconds;
                let now = Utc::now();
                for f in &batch {
                    let ms = (now - f.result.finished_at).num_milliseconds().max(0);
                    lag.observe(ms as f64 / 1000.0);
                }
                break;
            }
            Err(e) if attempt < 8 => {
                tracing::warn!(error = %e, devices = batch.len(), retry_in_ms = delay.as_millis() as u64,
                    "device results not written; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                tracing::error!(error = %e, devices = batch.len(),
                    "device results not written; returning the tasks to the queue");
                let ackers: Vec<&lapin::Acker> = batch.iter().map(|f| &f.acker).collect();
                broker::settle_all(&ackers, Settle::Requeue).await;
                return;
            }
        }
    }
    // One message for the whole batch: the broker's work per device is the task alone.
    let results = TaskResults {
        version: messages::VERSION,
        results: batch.iter().map(|f| f.result.clone()).collect(),
    };
    let started = std::time::Instant::now();
    let confirmed = match Outgoing::json(&names.results_exchange(), RESULT_KEY, &results) {
        Err(e) => {
            tracing::error!(error = %e, devices = batch.len(), "results not encoded; returning the tasks to the queue");
            false
        }
        Ok(m) => {
            let properties = m
                .properties
                .clone()
                .with_type(messages::RESULTS_BATCH_TYPE.into());
            // Signed: the aggregator believes no result a worker did not sign.
            match publisher
                .publish(m.with_properties(properties).signed(signer))
                .await
            {
                Ok(()) => true,
                Err(netraven_shared::Error::ShuttingDown) => {
                    // Only at shutdown with the broker away: the tasks stay unacked, and
                    // the broker delivers them again once this connection is gone.
                    tracing::error!(
                        devices = batch.len(),
                        "results not published; tasks left unacked"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, devices = batch.len(), "results not confirmed; returning the tasks to the queue");
                    false
                }
            }
        }
    };
    let n = batch.len();
    let (ok, failed) = if confirmed { (n, 0) } else { (0, n) };
    metrics::confirms("results", started, ok, failed);
    // Not confirmed: the tasks go back and are done again (recording is idempotent).
    let how = if confirmed {
        Settle::Ack
    } else {
        Settle::Requeue
    };
    let ackers: Vec<&lapin::Acker> = batch.iter().map(|f| &f.acker).collect();
    let settled = broker::settle_all(&ackers, how).await;
    for (f, e) in batch
        .iter()
        .zip(settled)
        .filter_map(|(f, s)| s.err().map(|e| (f, e)))
    {
        tracing::warn!(job.id = %f.job_id, device.id = f.device_id, error = %e, "task not settled");
    }
}

/// One job log line per device: what happened, in words, with the attempt trail as data.
async fn write_logs(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &[Finished],
) -> Result<(), String> {
    use netraven_shared::domain::Outcome;
    let mut jobs = Vec::with_capacity(batch.len());
    let mut devices = Vec::with_capacity(batch.len());
    let mut levels = Vec::with_capacity(batch.len());
    let mut messages = Vec::with_capacity(batch.len());
    let mut data = Vec::with_capacity(batch.len());
    for f in batch {
        let r = &f.report;
        let trail: Vec<String> = r
            .attempts
            .iter()
            .map(|a| {
                format!(
                    "{} {}",
                    a.credential_name,
                    a.outcome.as_str().to_lowercase()
                )
            })
            .collect();
        jobs.push(f.job_id);
        devices.push(f.device_id);
        levels.push(match r.outcome {
            Outcome::Success => "INFO",
            Outcome::InternalError => "ERROR",
            _ => "WARN",
        });
        messages.push(if trail.is_empty() {
            format!("{}: {} — {}", f.result.device_name, r.outcome, r.reason)
        } else {
            format!(
                "{}: {} — {} ({})",
                f.result.device_name,
                r.outcome,
                r.reason,
                trail.join(", ")
            )
        });
        data.push(serde_json::json!({
            "outcome": r.outcome,
            "duration_ms": f.result.duration_ms,
            "worker": f.result.worker,
            "config_sha256": f.result.config_sha256,
            "attempts": r.attempts.iter().map(|a| serde_json::json!({
                "credential": a.credential_name,
                "outcome": a.outcome.as_str(),
                "duration_ms": a.duration_ms,
            })).collect::<Vec<_>>(),
        }));
    }
    execute(
        tx,
        "INSERT INTO job_logs (job_id, device_id, level, message, data)
         SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::jsonb[])",
        &[&jobs, &devices, &levels, &messages, &data],
    )
    .await?;
    Ok(())
}

/// Runs one of the batch's statements, prepared once per connection: parsed and planned
/// once, and executed with the generic plan (`SESSION_OPTIONS`).
pub(crate) async fn execute(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, String> {
    let statement = tx.prepare_cached(sql).await.map_err(|e| describe(&e))?;
    tx.execute(&statement, params)
        .await
        .map_err(|e| describe(&e))
}

async fn write(pool: &Pool, batch: &[Finished]) -> Result<(), String> {
    let mut job_ids = Vec::new();
    let mut device_ids = Vec::new();
    let mut credential_ids = Vec::new();
    let mut seq: Vec<i16> = Vec::new();
    let mut outcomes = Vec::new();
    let mut durations = Vec::new();
    let mut ats = Vec::new();
    let mut deltas: BTreeMap<i64, Delta> = BTreeMap::new();
    let mut affinity: BTreeMap<i64, (i64, DateTime<Utc>)> = BTreeMap::new();
    for f in batch {
        for (n, a) in f.report.attempts.iter().enumerate() {
            job_ids.push(f.job_id);
            device_ids.push(f.device_id);
            credential_ids.push(a.credential_id);
            seq.push(i16::try_from(n + 1).unwrap_or(i16::MAX));
            outcomes.push(a.outcome.as_str());
            durations.push(a.duration_ms);
            ats.push(a.at);
            let d = deltas.entry(a.credential_id).or_default();
            d.last_used = d.last_used.max(Some(a.at));
            match a.outcome {
                AttemptOutcome::Success => {
                    d.successes += 1;
                    d.last_success = d.last_success.max(Some(a.at));
                    affinity.insert(f.device_id, (a.credential_id, a.at));
                }
                AttemptOutcome::Rejected => {
                    d.failures += 1;
                    d.last_failure = d.last_failure.max(Some(a.at));
                }
                // The device never judged the secret (timeout, connection lost): recorded
                // and counted as a use, but it says nothing about the credential.
                AttemptOutcome::Error => {}
            }
        }
    }
    let mut client = pool.get().await.map_err(|e| e.to_string())?;
    let tx = client.transaction().await.map_err(|e| describe(&e))?;
    // Durable before the tasks are acked (the session default is off: SESSION_OPTIONS).
    tx.batch_execute("SET LOCAL synchronous_commit = on")
        .await
        .map_err(|e| describe(&e))?;
    if !job_ids.is_empty() {
        execute(
            &tx,
            "INSERT INTO credential_attempts (job_id, device_id, credential_id, attempt, outcome, duration_ms, attempted_at)
             SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::smallint[], $5::text[], $6::int[], $7::timestamptz[])",
            &[&job_ids, &device_ids, &credential_ids, &seq, &outcomes, &durations, &ats],
        )
        .await?;
    }
    write_logs(&tx, batch).await?;
    crate::store::store_configs(&tx, batch).await?;
    if !affinity.is_empty() {
        let devices: Vec<i64> = affinity.keys().copied().collect();
        let creds: Vec<i64> = affinity.values().map(|v| v.0).collect();
        let when: Vec<DateTime<Utc>> = affinity.values().map(|v| v.1).collect();
        execute(
            &tx,
            // Only for devices and credentials still there, locked against deletion until
            // the batch commits (migration V3: a deletion waits, then its trigger finds
            // the row).
            "WITH live_devices AS (
                 SELECT id FROM devices WHERE id = ANY($1) ORDER BY id FOR KEY SHARE
             ), live_credentials AS (
                 SELECT id FROM credentials WHERE id = ANY($2) ORDER BY id FOR KEY SHARE
             )
             INSERT INTO device_credential_affinity (device_id, credential_id, succeeded_at)
             SELECT t.d, t.c, t.w FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) AS t(d, c, w)
             WHERE t.d IN (SELECT id FROM live_devices)
               AND t.c IN (SELECT id FROM live_credentials)
             ON CONFLICT (device_id) DO UPDATE
             SET credential_id = EXCLUDED.credential_id, succeeded_at = EXCLUDED.succeeded_at
             WHERE device_credential_affinity.succeeded_at <= EXCLUDED.succeeded_at",
            &[&devices, &creds, &when],
        )
        .await?;
    }
    // Last: every worker updates the same few credential rows, and a row lock is held from
    // the UPDATE to the commit. Taken after the bulk writes, it is held for one statement.
    if !deltas.is_empty() {
        let ids: Vec<i64> = deltas.keys().copied().collect();
        let s: Vec<i64> = deltas.values().map(|d| d.successes).collect();
        let fl: Vec<i64> = deltas.values().map(|d| d.failures).collect();
        let used: Vec<Option<DateTime<Utc>>> = deltas.values().map(|d| d.last_used).collect();
        let ok: Vec<Option<DateTime<Utc>>> = deltas.values().map(|d| d.last_success).collect();
        let bad: Vec<Option<DateTime<Utc>>> = deltas.values().map(|d| d.last_failure).collect();
        execute(
            &tx,
            "UPDATE credentials c SET
                 success_count = c.success_count + d.s,
                 failure_count = c.failure_count + d.f,
                 success_rate = (c.success_count + d.s)::float8
                                / NULLIF(c.success_count + d.s + c.failure_count + d.f, 0),
                 last_used_at = GREATEST(c.last_used_at, d.used),
                 last_success_at = GREATEST(c.last_success_at, d.ok),
                 last_failure_at = GREATEST(c.last_failure_at, d.bad)
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[])
                  AS d(id, s, f, used, ok, bad)
             WHERE c.id = d.id",
            &[&ids, &s, &fl, &used, &ok, &bad],
        )
        .await?;
    }
    tx.commit().await.map_err(|e| describe(&e))
}
