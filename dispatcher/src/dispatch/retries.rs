//! Publishing the retries the aggregator scheduled (`task_retries`, migration V18).
//!
//! Every dispatcher polls; each due retry is taken by one of them (`FOR UPDATE SKIP
//! LOCKED`, then deleted in the same transaction), its device resolved afresh from the
//! job's stored request (credentials, affinity and pins as they are now) and its task, of
//! the next try, signed and published with confirms before the transaction commits: a
//! publish that fails rolls the retry back to be taken again. A retry of a job that is
//! final (finished, past its deadline) is dropped; one of a job cancelled since (its
//! retries are made due at the cancel) ends the device with its last try; one whose device no longer
//! resolves (deleted, disabled, no credential left) ends the device with its last try.

use super::plan::JobPlan;
use super::publish::publish_tasks;
use super::resolve::{self, ResolvedDevice};
use super::role::Dispatcher;
use crate::aggregate::periodic::Periodic;
use crate::error::Result;
use crate::job_rows;
use chrono::{DateTime, Utc};
use netraven_shared::domain::Lane;
use netraven_shared::messages::{events as keys, JobRequest, Targets};
use netraven_shared::telemetry::metrics;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Retries taken per poll at most (the rest wait for the next poll).
const TAKE_LIMIT: i64 = 5_000;

/// The due retries, taken once each across dispatchers, with their job.
const TAKE_SQL: &str = "
WITH due AS (
    SELECT job_id, device_id FROM task_retries
    WHERE due_at <= now() ORDER BY due_at LIMIT $1
    FOR UPDATE SKIP LOCKED
), taken AS (
    DELETE FROM task_retries r USING due
    WHERE r.job_id = due.job_id AND r.device_id = due.device_id
    RETURNING r.job_id, r.device_id, r.try
)
SELECT t.job_id, t.device_id, t.try, j.status IN ('PENDING', 'RUNNING') AS open, j.request,
       j.deadline_at, j.cancel_requested_at IS NOT NULL AS cancelled, j.lane
FROM taken t JOIN jobs j ON j.id = t.job_id
ORDER BY t.job_id, t.device_id";

/// One job's due retries.
struct Due {
    open: bool,
    /// Cancelled and not yet final: its retries end with their last try.
    cancelled: bool,
    /// The lane its first tasks took: its retries take it too.
    lane: Lane,
    request: serde_json::Value,
    deadline: DateTime<Utc>,
    /// Device id and the try its task is.
    devices: Vec<(i64, u32)>,
}

/// Polls every `every` until `shutdown`. A failed poll is logged once and tried again at
/// the next: its retries were rolled back and are still due.
pub(super) async fn run(dispatcher: Arc<Dispatcher>, every: Duration, shutdown: CancellationToken) {
    let mut clock = Periodic::every(every);
    let mut failing = false;
    while clock.tick(&shutdown).await {
        match dispatcher.publish_due_retries().await {
            Ok(_) => {
                if failing {
                    tracing::info!("due retries published again");
                }
                failing = false;
            }
            Err(e) => {
                metrics::get()
                    .retries_taken_total
                    .with_label_values(&["failed"])
                    .inc();
                if !failing {
                    tracing::warn!(error = %e, "publishing due retries failed; trying again at each poll");
                }
                failing = true;
            }
        }
    }
}

impl Dispatcher {
    /// Takes the due retries and publishes their tasks, in one transaction. Returns how
    /// many tasks were published.
    async fn publish_due_retries(&self) -> Result<usize> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let rows = tx.query(TAKE_SQL, &[&TAKE_LIMIT]).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut jobs: BTreeMap<Uuid, Due> = BTreeMap::new();
        for r in &rows {
            let job = jobs.entry(r.get("job_id")).or_insert_with(|| Due {
                open: r.get("open"),
                cancelled: r.get("cancelled"),
                lane: r
                    .get::<_, Option<&str>>("lane")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(Lane::Bulk),
                request: r.get("request"),
                deadline: r.get("deadline_at"),
                devices: Vec::new(),
            });
            let try_number: i32 = r.get("try");
            job.devices
                .push((r.get("device_id"), u32::try_from(try_number).unwrap_or(2)));
        }
        let (mut published, mut dropped, mut finished) = (0, 0, Vec::new());
        for (job_id, due) in jobs {
            if !due.open {
                dropped += due.devices.len();
                continue;
            }
            let (sent, ended) = if due.cancelled {
                let ids: Vec<i64> = due.devices.iter().map(|(id, _)| *id).collect();
                let why = "the job was cancelled before this retry";
                let ended = job_rows::end_with_last_try(&tx, job_id, &ids, why).await?;
                (0, usize::try_from(ended).unwrap_or(0))
            } else {
                self.publish_job_retries(&tx, job_id, &due).await?
            };
            published += sent;
            dropped += ended;
            if ended > 0 {
                if let Some(done) = job_rows::finalize_if_complete(&tx, job_id).await? {
                    finished.push((job_id, done));
                }
            }
        }
        tx.commit().await?;
        let m = &metrics::get().retries_taken_total;
        m.with_label_values(&["published"]).inc_by(published as u64);
        m.with_label_values(&["dropped"]).inc_by(dropped as u64);
        for (job_id, counts) in finished {
            self.announce(job_id, &counts, keys::COMPLETED).await;
        }
        if published > 0 {
            tracing::info!(tasks = published, dropped, "due retries published");
        }
        Ok(published)
    }

    /// Publishes one job's due retries; returns the tasks published and the devices
    /// ended with their last try instead.
    async fn publish_job_retries(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        job_id: Uuid,
        due: &Due,
    ) -> Result<(usize, usize)> {
        let ids: Vec<i64> = due.devices.iter().map(|(id, _)| *id).collect();
        let request: JobRequest = match serde_json::from_value(due.request.clone()) {
            Ok(r) => r,
            Err(e) => {
                let why = format!("the job's stored request does not read back ({e})");
                let ended = job_rows::end_with_last_try(tx, job_id, &ids, &why).await?;
                return Ok((0, usize::try_from(ended).unwrap_or(0)));
            }
        };
        let mut plan = match JobPlan::new(
            job_id,
            &request,
            &self.settings,
            &self.deadline_fit,
            Utc::now(),
        ) {
            Ok(plan) => plan,
            Err(invalid) => {
                let why = format!("the job's request no longer plans ({invalid})");
                let ended = job_rows::end_with_last_try(tx, job_id, &ids, &why).await?;
                return Ok((0, usize::try_from(ended).unwrap_or(0)));
            }
        };
        // The job's own deadline, not one counted from now.
        plan.tasks.job_deadline = due.deadline;
        let targets = Targets {
            device_ids: ids.clone(),
            ..Targets::default()
        };
        let resolution = resolve::resolve(tx, &targets, plan.max_credentials).await?;
        let tries: BTreeMap<i64, u32> = due.devices.iter().copied().collect();
        let mut runnable: Vec<ResolvedDevice> = Vec::with_capacity(resolution.devices.len());
        for mut d in resolution.devices {
            if plan.tasks.needs_credentials() && d.credentials.is_empty() {
                continue;
            }
            d.try_number = tries.get(&d.device.id).copied();
            runnable.push(d);
        }
        let gone: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !runnable.iter().any(|d| d.device.id == *id))
            .collect();
        let ended = job_rows::end_with_last_try(
            tx,
            job_id,
            &gone,
            "the device is gone, disabled or has no credential now",
        )
        .await?;
        if runnable.is_empty() {
            return Ok((0, usize::try_from(ended).unwrap_or(0)));
        }
        let refs: Vec<&ResolvedDevice> = runnable.iter().collect();
        let sent = publish_tasks(
            &self.publisher,
            &self.names,
            &self.signer,
            &plan.tasks,
            due.lane,
            &refs,
            0,
        )
        .await?;
        Ok((sent, usize::try_from(ended).unwrap_or(0)))
    }
}
