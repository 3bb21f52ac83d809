//! Launching a planned job: its devices recorded as its members, then resolved a page at
//! a time, each page's devices without credentials recorded and its tasks published, then
//! the job marked running (or finished at once). A job cancelled meanwhile stops between
//! pages: the rest of its devices are recorded `CANCELLED`.
//!
//! All of it on the one pool connection the job's dispatch holds: a dispatcher handles
//! `dispatcher.prefetch` requests at once, each holding at most one connection, so a pool
//! as large as the prefetch never makes a request wait for a connection another request
//! of the same dispatcher holds while waiting itself.

use super::role::Dispatcher;
use crate::dispatch::lane::LaneChoice;
use crate::dispatch::plan::JobPlan;
use crate::dispatch::publish::{publish_tasks, CHUNK, FIRST_CHUNK};
use crate::dispatch::resolve::{self, ResolvedDevice};
use crate::error::Result;
use crate::job_rows::{self, Level};
use deadpool_postgres::Client;
use netraven_shared::domain::{JobStatus, Lane};
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
    /// `again`: the request was dispatched before (its dispatcher died mid-way), so some
    /// of its tasks may be out already.
    pub(super) async fn launch(
        &self,
        client: &Client,
        plan: &JobPlan,
        request: &JobRequest,
        again: bool,
    ) -> Result<JobStatus> {
        let job_id = plan.tasks.job_id;
        let started = std::time::Instant::now();
        let Some(Found {
            devices: total,
            unresolved,
            published,
            missing_names,
        }) = self.stream_tasks(client, plan, request, again).await?
        else {
            // The sweeper ended the job (past its deadline) while it was being dispatched.
            let view = job_rows::get(client, job_id).await?;
            return Ok(view.map_or(JobStatus::FailedUnexpected, |v| v.counts.status));
        };
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
        self.announce(job_id, &running, keys::RUNNING).await;
        // Results may all be in already (or every device lacked credentials).
        match job_rows::finalize_if_complete(client, job_id).await? {
            Some(done) => {
                self.announce(job_id, &done, keys::COMPLETED).await;
                Ok(done.status)
            }
            None => Ok(JobStatus::Running),
        }
    }

    /// Records the job's members, then resolves them a page at a time and publishes each
    /// page's tasks, the first page small: workers start on a large job while the rest of
    /// it is still resolving. Results that come in meanwhile wait for the job to be
    /// running before it can finish (`job_rows::finalize_if_complete`). The members are
    /// recorded before any task goes out, so that the sweeper knows them whatever happens
    /// to this dispatcher. `None` when the job is no longer pending.
    ///
    /// Nothing grows with the job: one page of devices and their tasks is in hand at a
    /// time, and membership is rows appended once.
    async fn stream_tasks(
        &self,
        client: &Client,
        plan: &JobPlan,
        request: &JobRequest,
        again: bool,
    ) -> Result<Option<Found>> {
        let tasks = &plan.tasks;
        let mut found = Found::default();
        job_rows::set_retry_limits(
            client,
            tasks.job_id,
            plan.max_retries,
            plan.retry_backoff_ms,
            tasks.device_deadline_ms,
        )
        .await?;
        let Some(members) = job_rows::add_members(client, tasks.job_id, &request.targets).await?
        else {
            return Ok(None);
        };
        let lane = self
            .choose_lane(client, tasks.job_id, request, members)
            .await?;
        found.missing_names = job_rows::missing_targets(client, &request.targets).await?;
        let mut stream = resolve::Stream::credentials(client, plan.max_credentials).await?;
        let (mut after, mut size) = (i64::MIN, FIRST_CHUNK);
        loop {
            // A cancelled job sends no more tasks: its members not sent yet are recorded
            // CANCELLED here, and it ends once the tasks already out are recorded. Not on
            // a second dispatch: which tasks the first one sent is not known, and a device
            // being worked on must not be recorded as never sent. Every task goes out
            // again instead, and workers find the job cancelled at their claims: they
            // record CANCELLED without contacting anything, or the result already in.
            if !again && job_rows::cancel_requested(client, tasks.job_id).await? {
                let unsent = job_rows::record_unsent(client, tasks.job_id, after).await?;
                let unsent = usize::try_from(unsent).unwrap_or_default();
                found.devices += unsent;
                tracing::info!(
                    unsent,
                    published = found.published,
                    "job cancelled; dispatch stopped"
                );
                job_rows::log(
                    client,
                    tasks.job_id,
                    None,
                    Level::Info,
                    &format!("job cancelled: {unsent} devices never sent"),
                    json!({ "unsent": unsent, "published": found.published }),
                )
                .await?;
                break;
            }
            let page = stream.page(client, tasks.job_id, after, size).await?;
            let Some(last) = page.last else { break };
            after = last;
            size = CHUNK;
            let (runnable, unresolved): (Vec<&ResolvedDevice>, Vec<&ResolvedDevice>) = page
                .devices
                .iter()
                .partition(|d| !tasks.needs_credentials() || !d.credentials.is_empty());
            let unresolved: Vec<&TaskDevice> = unresolved.iter().map(|d| &d.device).collect();
            job_rows::record_unresolved(client, tasks.job_id, &unresolved).await?;
            found.devices += page.devices.len();
            found.unresolved += unresolved.len();
            if !runnable.is_empty() {
                found.published += publish_tasks(
                    &self.publisher,
                    &self.names,
                    &self.signer,
                    tasks,
                    lane,
                    &runnable,
                    found.published,
                )
                .await?;
            }
        }
        Ok(Some(found))
    }

    /// The lane of a job of `members` devices ([`LaneChoice`]), recorded on its row; a
    /// high-priority job sent to the bulk lane for its size gets a job log line saying so.
    async fn choose_lane(
        &self,
        client: &Client,
        job_id: uuid::Uuid,
        request: &JobRequest,
        members: i64,
    ) -> Result<Lane> {
        let devices = u64::try_from(members).unwrap_or_default();
        let choice = LaneChoice::of(request.priority, devices, &self.settings);
        job_rows::set_lane(client, job_id, choice.lane).await?;
        if choice.demoted {
            let cap = self.settings.max_high_priority_devices;
            tracing::info!(
                devices,
                max_high_priority_devices = cap,
                "high-priority job over the cap runs in the bulk lane"
            );
            job_rows::log(
                client,
                job_id,
                None,
                Level::Warn,
                &format!(
                    "priority high: {devices} devices is over dispatcher.max_high_priority_devices ({cap}); the job runs in the bulk lane"
                ),
                json!({ "devices": devices, "max_high_priority_devices": cap, "lane": choice.lane }),
            )
            .await?;
        }
        metrics::get()
            .jobs_launched_total
            .with_label_values(&[choice.lane.as_str()])
            .inc();
        tracing::debug!(lane = %choice.lane, devices, "task lane chosen");
        Ok(choice.lane)
    }
}
