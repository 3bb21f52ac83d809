//! Retries of transient failures, as the aggregator decides them: a device that ends
//! `TIMEOUT` or `UNREACHABLE` with tries left, whose retry still fits before its job's
//! deadline, gets its try recorded in `device_tries` and a `task_retries` row that a
//! dispatcher publishes when due (`dispatch::retries`) — in the batch's transaction, and
//! instead of its final result.

use crate::error::Result;
use chrono::{DateTime, Utc};
use netraven_shared::domain::Outcome;
use netraven_shared::messages::TaskResult;
use netraven_shared::retry::Backoff;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// What a job allows its devices' retries, as its row says (`jobs.max_retries`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RetryLimits {
    pub(super) max_retries: u32,
    pub(super) backoff_ms: u64,
    pub(super) device_deadline_ms: u64,
    pub(super) job_deadline: DateTime<Utc>,
    /// The job is pending or running and not cancelled: a final or cancelled job schedules
    /// nothing, and a transient failure of its device is final.
    pub(super) open: bool,
}

/// The jobs' limits read with their row lock.
pub(super) const LOCK_SQL: &str = "
SELECT id, status IN ('PENDING', 'RUNNING') AND cancel_requested_at IS NULL, max_retries, retry_backoff_ms, device_deadline_ms,
       deadline_at
FROM jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE";

impl RetryLimits {
    pub(super) fn from_row(row: &tokio_postgres::Row) -> (Uuid, RetryLimits) {
        let max: i32 = row.get(2);
        let backoff: i64 = row.get(3);
        let device: i64 = row.get(4);
        (
            row.get(0),
            RetryLimits {
                open: row.get(1),
                max_retries: u32::try_from(max).unwrap_or(0),
                backoff_ms: u64::try_from(backoff).unwrap_or(0),
                device_deadline_ms: u64::try_from(device).unwrap_or(0),
                job_deadline: row.get(5),
            },
        )
    }

    /// The wait before the retry that follows try `try_number`: the backoff doubled per
    /// try, with the fleet's jitter ([`Backoff`]).
    pub(super) fn delay(&self, try_number: u32) -> Duration {
        let base = Duration::from_millis(self.backoff_ms.max(1));
        Backoff::new(base, base.saturating_mul(1 << 10)).nth_delay(try_number)
    }
}

/// Whether a device is tried again: when its try `try_number` ended in a transient
/// failure, the job has tries left and is still open, and the retry — due `delay` from
/// `now`, then given the whole device deadline — ends before the job's deadline. Returns
/// when the retry is due.
pub(super) fn retry_due(
    outcome: Outcome,
    try_number: u32,
    limits: &RetryLimits,
    delay: Duration,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if !matches!(outcome, Outcome::Timeout | Outcome::Unreachable) || !limits.open {
        return None;
    }
    if try_number > limits.max_retries {
        return None;
    }
    let due = now + chrono::Duration::from_std(delay).ok()?;
    let device = chrono::Duration::milliseconds(i64::try_from(limits.device_deadline_ms).ok()?);
    (due + device <= limits.job_deadline).then_some(due)
}

/// Records the tries of `retried` (index in `results`, when due) and schedules their
/// retries, in the batch's transaction. A try already recorded (a redelivery, a late copy
/// of an earlier try) or of a device with a final result changes nothing. Returns how many
/// were scheduled now.
pub(super) async fn schedule(
    tx: &deadpool_postgres::Transaction<'_>,
    results: &[TaskResult],
    retried: &[(usize, DateTime<Utc>)],
) -> Result<u64> {
    if retried.is_empty() {
        return Ok(0);
    }
    let pick = |f: &dyn Fn(&TaskResult) -> String| -> Vec<String> {
        retried.iter().map(|(i, _)| f(&results[*i])).collect()
    };
    let jobs: Vec<Uuid> = retried.iter().map(|(i, _)| results[*i].job_id).collect();
    let devices: Vec<i64> = retried.iter().map(|(i, _)| results[*i].device_id).collect();
    let tries: Vec<i32> = retried
        .iter()
        .map(|(i, _)| i32::try_from(results[*i].try_number()).unwrap_or(i32::MAX))
        .collect();
    let durations: Vec<i64> = retried
        .iter()
        .map(|(i, _)| i64::try_from(results[*i].duration_ms).unwrap_or(i64::MAX))
        .collect();
    let finished: Vec<DateTime<Utc>> = retried
        .iter()
        .map(|(i, _)| results[*i].finished_at)
        .collect();
    let due: Vec<DateTime<Utc>> = retried.iter().map(|(_, d)| *d).collect();
    let statement = tx.prepare_cached(SCHEDULE_SQL).await?;
    let rows = tx
        .query(
            &statement,
            &[
                &jobs,
                &devices,
                &tries,
                &pick(&|r| r.outcome.as_str().to_string()),
                &pick(&|r| r.reason.clone()),
                &pick(&|r| r.worker.clone()),
                &durations,
                &finished,
                &due,
            ],
        )
        .await?;
    let mut by_outcome: HashMap<String, u64> = HashMap::new();
    for row in &rows {
        *by_outcome.entry(row.get(0)).or_default() += 1;
    }
    let counter = &netraven_shared::telemetry::metrics::get().retries_scheduled_total;
    for (outcome, n) in &by_outcome {
        counter.with_label_values(&[outcome]).inc_by(*n);
    }
    Ok(rows.len() as u64)
}

/// The tries recorded and the retries scheduled, in one statement; returns the outcome
/// of each try recorded now.
const SCHEDULE_SQL: &str = "
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::int[], $4::text[], $5::text[],
                         $6::text[], $7::bigint[], $8::timestamptz[], $9::timestamptz[])
        AS t(job_id, device_id, try, outcome, reason, worker, duration_ms, finished_at, due_at)
),
tried AS (
    INSERT INTO device_tries (job_id, device_id, try, outcome, reason, worker, duration_ms,
                              finished_at)
    SELECT i.job_id, i.device_id, i.try, i.outcome, i.reason, i.worker, i.duration_ms,
           i.finished_at
    FROM input i
    WHERE NOT EXISTS (SELECT 1 FROM job_results r
                      WHERE r.job_id = i.job_id AND r.device_id = i.device_id)
      AND NOT EXISTS (SELECT 1 FROM device_tries t
                      WHERE t.job_id = i.job_id AND t.device_id = i.device_id AND t.try > i.try)
    ON CONFLICT (job_id, device_id, try) DO NOTHING
    RETURNING job_id, device_id, try, outcome
),
scheduled AS (
    INSERT INTO task_retries (job_id, device_id, try, due_at)
    SELECT DISTINCT ON (t.job_id, t.device_id) t.job_id, t.device_id, t.try + 1, i.due_at
    FROM tried t JOIN input i USING (job_id, device_id, try)
    ORDER BY t.job_id, t.device_id, t.try DESC
    ON CONFLICT (job_id, device_id) DO UPDATE SET try = EXCLUDED.try, due_at = EXCLUDED.due_at
    WHERE task_retries.try < EXCLUDED.try
)
SELECT outcome FROM tried";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    /// Two retries of 200 ms, devices of 1 s, a job that ends 10 s from now.
    fn limits() -> RetryLimits {
        RetryLimits {
            max_retries: 2,
            backoff_ms: 200,
            device_deadline_ms: 1_000,
            job_deadline: now() + chrono::Duration::seconds(10),
            open: true,
        }
    }

    const WAIT: Duration = Duration::from_millis(300);

    #[test]
    fn only_timeouts_and_unreachables_are_retried() {
        for outcome in Outcome::ALL.iter() {
            let due = retry_due(*outcome, 1, &limits(), WAIT, now());
            let transient = matches!(outcome, Outcome::Timeout | Outcome::Unreachable);
            assert_eq!(due.is_some(), transient, "{outcome}");
            if transient {
                assert_eq!(due, Some(now() + chrono::Duration::milliseconds(300)));
            }
        }
    }

    #[test]
    fn a_device_is_tried_at_most_max_retries_plus_one_times() {
        let l = limits();
        assert!(retry_due(Outcome::Timeout, 1, &l, WAIT, now()).is_some());
        assert!(retry_due(Outcome::Timeout, 2, &l, WAIT, now()).is_some());
        assert!(retry_due(Outcome::Timeout, 3, &l, WAIT, now()).is_none());
        let none = RetryLimits {
            max_retries: 0,
            ..l
        };
        assert!(retry_due(Outcome::Unreachable, 1, &none, WAIT, now()).is_none());
    }

    #[test]
    fn a_retry_must_fit_before_the_job_deadline_and_the_job_be_open() {
        let l = limits();
        // Due in 9 s, plus the device's 1 s: ends exactly at the deadline, fits.
        assert!(retry_due(Outcome::Timeout, 1, &l, Duration::from_secs(9), now()).is_some());
        let late = Duration::from_millis(9_001);
        assert!(retry_due(Outcome::Timeout, 1, &l, late, now()).is_none());
        let closed = RetryLimits { open: false, ..l };
        assert!(retry_due(Outcome::Timeout, 1, &closed, WAIT, now()).is_none());
    }

    #[test]
    fn the_delay_doubles_per_try_with_jitter() {
        let l = limits();
        for (n, floor) in [(1u32, 200u64), (2, 400), (3, 800)] {
            let d = l.delay(n);
            let floor = Duration::from_millis(floor);
            assert!(d >= floor && d < floor * 2, "try {n}: {d:?}");
        }
    }
}
