//! Launching a planned job: its targets resolved chunk by chunk, each chunk's devices
//! recorded and their tasks published, then the job marked running (or finished at once).

use super::role::Dispatcher;
use crate::dispatch::plan::JobPlan;
use crate::dispatch::publish::{publish_tasks, CHUNK, FIRST_CHUNK};
use crate::dispatch::resolve::{self, ResolvedDevice};
use crate::error::Result;
use crate::events;
use crate::job_rows::{self, Level};
use deadpool_postgres::Client;
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{events as keys, JobRequest, TaskDevice};
use netraven_shared::telemetry::metrics;
use serde_json::json;

/// What a job's resolution found and published.
#[derive(Default)]
struct Found {
    devices: usize,
    /// Devices no credential matches: they get a `NO_CREDENTIALS` result, no task.
    unresolved: usize,
    /// Tasks the broker confirmed.
    published: usize,
    /// Named targets that do not exist or are disabled.
    missing_names: Vec<String>,
}

impl Dispatcher {
    /// Resolves and publishes the job's tasks and starts it. Returns the job's status
    /// then: running, or final when no device matched or every result is in already.
    pub(super) async fn launch(
        &self,
        client: &Client,
        plan: &JobPlan,
        request: &JobRequest,
    ) -> Result<JobStatus> {
        let job_id = plan.tasks.job_id;
        let started = std::time::Instant::now();
        let Found {
            devices: total,
            unresolved,
            published,
            missing_names,
        } = self.stream_tasks(client, plan, request).await?;
        if total == 0 {
            job_rows::log(
                client,
                job_id,
                None,
                Level::Warn,
                "targets match no device",
                json!({ "targets": request.targets, "missing": missing_names }),
            )
            .await?;
            return self
                .end(
                    client,
                    job_id,
                    JobStatus::CompletedNoDevices,
                    Some("the targets match no device"),
                )
                .await;
        }
        let resolved = total - unresolved;
        let m = &metrics::get().devices_resolved_total;
        m.with_label_values(&["resolved"]).inc_by(resolved as u64);
        m.with_label_values(&["unresolved"])
            .inc_by(unresolved as u64);
        let coverage = 100.0 * resolved as f64 / total as f64;
        tracing::info!(
            devices = total,
            resolved,
            published,
            coverage_pct = coverage,
            duration_ms = started.elapsed().as_millis() as u64,
            "targets resolved and tasks published"
        );
        // After the tasks, as the totals are known only now. A failure here ends the job
        // as any dispatcher failure does (the devices already sent still run, their
        // results recorded exactly once); a transient one sends the request back, and the
        // tasks published again are repeats that workers and the aggregator record once.
        job_rows::log(
            client,
            job_id,
            None,
            Level::Info,
            &format!("resolved credentials for {resolved} of {total} devices ({coverage:.1}%)"),
            json!({ "devices": total, "resolved": resolved, "unresolved": unresolved,
                    "coverage_pct": coverage, "missing_targets": missing_names }),
        )
        .await?;

        let Some(running) = job_rows::mark_running(client, job_id, published).await? else {
            return Ok(JobStatus::Running);
        };
        events::publish(
            &self.publisher,
            &self.names,
            job_id,
            &running,
            keys::RUNNING,
        )
        .await;
        // Results may all be in already (or every device lacked credentials).
        match job_rows::finalize_if_complete(client, job_id).await? {
            Some(done) => {
                events::publish(&self.publisher, &self.names, job_id, &done, keys::COMPLETED).await;
                Ok(done.status)
            }
            None => Ok(JobStatus::Running),
        }
    }

    /// Resolves the job's devices as Postgres returns them and publishes their tasks chunk
    /// by chunk, the first chunk small: workers start on a large job while the rest of it
    /// is still resolving. Results that come in meanwhile wait for the job to be running
    /// before it can finish (`job_rows::finalize_if_complete`).
    ///
    /// Each chunk's devices are recorded with the job before its tasks go out, on a
    /// connection of their own (the stream's is busy with its rows), so that the sweeper
    /// knows them whatever happens to this dispatcher.
    async fn stream_tasks(
        &self,
        client: &Client,
        plan: &JobPlan,
        request: &JobRequest,
    ) -> Result<Found> {
        let tasks = &plan.tasks;
        let mut found = Found::default();
        let again = job_rows::dispatched_before(client, tasks.job_id).await?;
        let recorder = self.pool.get().await?;
        let mut stream =
            resolve::Stream::open(client, &request.targets, plan.max_credentials).await?;
        let mut size = FIRST_CHUNK;
        loop {
            let chunk = stream.next_chunk(size).await?;
            if chunk.is_empty() {
                break;
            }
            size = CHUNK;
            let (runnable, unresolved): (Vec<&ResolvedDevice>, Vec<&ResolvedDevice>) = chunk
                .iter()
                .partition(|d| !tasks.needs_credentials() || !d.credentials.is_empty());
            let unresolved: Vec<&TaskDevice> = unresolved.iter().map(|d| &d.device).collect();
            let ids: Vec<i64> = chunk.iter().map(|d| d.device.id).collect();
            job_rows::record_resolved(&recorder, tasks.job_id, &ids, &unresolved, again).await?;
            found.devices += chunk.len();
            found.unresolved += unresolved.len();
            if !runnable.is_empty() {
                found.published += publish_tasks(
                    &self.publisher,
                    &self.names,
                    &self.signer,
                    tasks,
                    &runnable,
                    found.published,
                )
                .await?;
            }
        }
        found.missing_names = stream.missing_names();
        Ok(found)
    }
}
