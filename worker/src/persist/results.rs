//! The results of a batch of finished devices, written in one transaction: attempts, job
//! log lines, configuration snapshots, credential affinities and counters.
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

use super::claims;
use super::configs::store_configs;
use super::connection::{execute, retrying};
use crate::error::WorkerError;
use crate::report::{AttemptOutcome, DeviceReport};
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use netraven_shared::messages::{ConfigVersion, TaskResult};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

/// One finished device to record: its result (job, device, worker), its report, and the
/// token of the claim it was worked under ([`super::claims`]).
pub type Claimed<'a> = (&'a TaskResult, &'a DeviceReport, Uuid);

/// One finished device as recorded: its result and its report.
type Recorded<'a> = (&'a TaskResult, &'a DeviceReport);

/// Per-credential deltas of one batch.
#[derive(Default)]
struct Delta {
    successes: i64,
    failures: i64,
    last_used: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
    last_failure: Option<DateTime<Utc>>,
}

/// What recording a batch answers: the claim tokens of the devices it recorded, and what
/// each stored configuration did to its device's history, by claim token.
#[derive(Debug, Default)]
pub struct Written {
    pub held: HashSet<Uuid>,
    pub configs: HashMap<Uuid, ConfigVersion>,
}

/// Records a batch of finished devices in one transaction, durable before it returns,
/// and answers the claim tokens of the devices it recorded. A device whose claim another
/// worker took over while this one was away is left out: its new holder records it.
/// Recording is idempotent per device, so a batch written again changes nothing twice.
pub async fn record_results(pool: &Pool, batch: &[Claimed<'_>]) -> Result<Written, WorkerError> {
    if batch.is_empty() {
        return Ok(Written::default());
    }
    retrying("recording device results", || record_once(pool, batch)).await
}

/// Writes the batch; if a claim turns out taken over (rare: this worker was away past its
/// broker connection), the transaction is rolled back and the batch written again
/// without the devices this worker no longer holds.
async fn record_once(pool: &Pool, claimed: &[Claimed<'_>]) -> Result<Written, WorkerError> {
    let mut claimed = claimed.to_vec();
    loop {
        match write(pool, &claimed).await? {
            Ok(written) => return Ok(written),
            Err(held) => {
                tracing::warn!(
                    lost = claimed.len() - held.len(),
                    "claims taken over by another worker; writing the batch without them"
                );
                claimed.retain(|(_, _, t)| held.contains(t));
                if claimed.is_empty() {
                    return Ok(Written::default());
                }
            }
        }
    }
}

/// One transaction over the batch: what it wrote, committed; or, rolled back, the claim
/// tokens of the batch still held when some are not.
async fn write(
    pool: &Pool,
    claimed: &[Claimed<'_>],
) -> Result<Result<Written, HashSet<Uuid>>, WorkerError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // Durable before the tasks are acked (the session default is off: SESSION_OPTIONS).
    tx.batch_execute("SET LOCAL synchronous_commit = on")
        .await?;
    let batch: Vec<Recorded<'_>> = claimed.iter().map(|(r, report, _)| (*r, *report)).collect();
    let mut job_ids = Vec::new();
    let mut device_ids = Vec::new();
    let mut credential_ids = Vec::new();
    let mut seq: Vec<i16> = Vec::new();
    let mut outcomes = Vec::new();
    let mut durations = Vec::new();
    let mut ats = Vec::new();
    let mut deltas: BTreeMap<i64, Delta> = BTreeMap::new();
    let mut affinity: BTreeMap<i64, (i64, DateTime<Utc>)> = BTreeMap::new();
    for (result, report) in &batch {
        for (n, a) in report.attempts.iter().enumerate() {
            job_ids.push(result.job_id);
            device_ids.push(result.device_id);
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
                    affinity.insert(result.device_id, (a.credential_id, a.at));
                }
                // A refused enable secret is the device's verdict on the credential too.
                AttemptOutcome::Rejected | AttemptOutcome::EnableRefused => {
                    d.failures += 1;
                    d.last_failure = d.last_failure.max(Some(a.at));
                }
                // The device never judged the secret (timeout, connection lost): recorded
                // and counted as a use, but it says nothing about the credential.
                AttemptOutcome::Error => {}
            }
        }
    }
    if !job_ids.is_empty() {
        execute(
            &tx,
            "INSERT INTO credential_attempts (job_id, device_id, credential_id, attempt, outcome, duration_ms, attempted_at)
             SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::smallint[], $5::text[], $6::int[], $7::timestamptz[])",
            &[&job_ids, &device_ids, &credential_ids, &seq, &outcomes, &durations, &ats],
        )
        .await?;
    }
    write_logs(&tx, &batch).await?;
    let versions = store_configs(&tx, &batch).await?;
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
    // The claim keeps the result a redelivery reports again: with its version, for the
    // devices that have one.
    let mut configs = HashMap::new();
    let mut stated = Vec::with_capacity(claimed.len());
    for (result, _, token) in claimed {
        match versions.get(&(result.job_id, result.device_id)) {
            Some(v) => {
                configs.insert(*token, v.clone());
                let mut result = (*result).clone();
                result.config = Some(v.clone());
                stated.push((Cow::Owned(result), *token));
            }
            None => stated.push((Cow::Borrowed(*result), *token)),
        }
    }
    let held = claims::store_results(&tx, &stated).await?;
    if held.len() < claimed.len() {
        tx.rollback().await?;
        return Ok(Err(held));
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
    tx.commit().await?;
    Ok(Ok(Written { held, configs }))
}

/// One job log line per device: what happened, in words, with the attempt trail as data.
async fn write_logs(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &[Recorded<'_>],
) -> Result<(), WorkerError> {
    use netraven_shared::domain::Outcome;
    let mut jobs = Vec::with_capacity(batch.len());
    let mut devices = Vec::with_capacity(batch.len());
    let mut levels = Vec::with_capacity(batch.len());
    let mut messages = Vec::with_capacity(batch.len());
    let mut data = Vec::with_capacity(batch.len());
    for (result, r) in batch {
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
        jobs.push(result.job_id);
        devices.push(result.device_id);
        levels.push(match r.outcome {
            Outcome::Success => "INFO",
            Outcome::InternalError => "ERROR",
            _ => "WARN",
        });
        messages.push(if trail.is_empty() {
            format!("{}: {} — {}", result.device_name, r.outcome, r.reason)
        } else {
            format!(
                "{}: {} — {} ({})",
                result.device_name,
                r.outcome,
                r.reason,
                trail.join(", ")
            )
        });
        data.push(serde_json::json!({
            "outcome": r.outcome,
            "duration_ms": result.duration_ms,
            "worker": result.worker,
            "config_sha256": result.config_sha256,
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
