//! One new job's way from an accepted request to running: the plan, the permission check,
//! the launch, and, when any of them fails, the job's final status at the dispatcher.

use super::role::Dispatcher;
use crate::dispatch::permissions::{Asked, Submitter};
use crate::dispatch::plan::JobPlan;
use crate::error::{Disposition, Result};
use crate::job_rows::{self, JobCounts, Level};
use chrono::Utc;
use deadpool_postgres::Client;
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{events as keys, JobRequest};
use netraven_shared::telemetry::metrics;
use serde_json::json;
use uuid::Uuid;

/// How dispatch ended for a job, as its client's reply says.
pub(super) struct Dispatched {
    pub(super) status: JobStatus,
    /// Why the job failed, when it ended at the dispatcher.
    pub(super) failure: Option<String>,
}

impl Dispatched {
    /// A job at `status` that did not fail at this dispatch (or a duplicate's job).
    pub(super) fn status_only(status: JobStatus) -> Dispatched {
        Dispatched {
            status,
            failure: None,
        }
    }

    fn failed(status: JobStatus, reason: String) -> Dispatched {
        Dispatched {
            status,
            failure: Some(reason),
        }
    }
}

impl Dispatcher {
    /// Checks, resolves, publishes and starts a new job; any failure gives the job its
    /// final status here. Returns the job's status when dispatch ends, with the reason when
    /// the job failed here. Runs on `client`, the one connection the request holds.
    /// `deadline` is the job row's: its tasks carry it, also when a redelivered request
    /// dispatches the job again later (`again`).
    pub(super) async fn dispatch(
        &self,
        client: &Client,
        job_id: Uuid,
        request: &JobRequest,
        submitter: &Submitter,
        deadline: chrono::DateTime<Utc>,
        again: bool,
    ) -> Result<Dispatched> {
        let created = JobCounts::pending(&request.request_id, &request.job_type);
        self.announce(job_id, &created, keys::CREATED).await;

        let mut plan = match JobPlan::new(
            job_id,
            request,
            &self.settings,
            &self.deadline_fit,
            Utc::now(),
        ) {
            Ok(plan) => plan,
            Err(invalid) => {
                let reason = invalid.to_string();
                let data = json!({ "reason": reason });
                return self
                    .refuse_job(
                        client,
                        job_id,
                        "invalid request",
                        data,
                        JobStatus::FailedInvalidRequest,
                        reason,
                    )
                    .await;
            }
        };
        // The job row's deadline, not one counted from now: a request dispatched again
        // (its dispatcher died mid-way) must not give its tasks a later one than the sweeper's.
        plan.tasks.job_deadline = deadline;
        if let Some(reason) = self
            .not_permitted(client, &plan, request, submitter)
            .await?
        {
            let data = json!({ "reason": reason, "submitter": submitter.recorded() });
            return self
                .refuse_job(
                    client,
                    job_id,
                    "request not permitted",
                    data,
                    JobStatus::FailedNotPermitted,
                    reason,
                )
                .await;
        }
        match self.launch(client, &plan, request, again).await {
            Ok(status) => Ok(Dispatched::status_only(status)),
            // A transient failure sends the request back to be dispatched again: the tasks
            // already out are repeats that workers and the aggregator record once.
            Err(e) if e.disposition() == Disposition::Requeue => Err(e),
            Err(e) => {
                let status = e.job_status();
                tracing::error!(error = %e, status = %status, "job failed at the dispatcher");
                // Best effort: the job log may be what failed.
                let data = json!({ "error": e.to_string() });
                let logged =
                    job_rows::log(client, job_id, None, Level::Error, "dispatch failed", data);
                if let Err(log_error) = logged.await {
                    tracing::warn!(error = %log_error, "job log not written");
                }
                let reason = e.to_string();
                let status = self.end(client, job_id, status, Some(&reason)).await?;
                Ok(Dispatched::failed(status, reason))
            }
        }
    }

    /// Why the submitter may not run the plan, if they may not; logs a permitted job that
    /// weakens host-key checking below the operator's default.
    async fn not_permitted(
        &self,
        client: &Client,
        plan: &JobPlan,
        request: &JobRequest,
        submitter: &Submitter,
    ) -> Result<Option<String>> {
        let tasks = &plan.tasks;
        let asked = Asked {
            job_type: tasks.job_type,
            commands: &request.commands,
            // The policy the job will run with: the operator's default counts too.
            host_key_policy: Some(tasks.host_key_policy),
            submitted_by: request.submitted_by.as_deref(),
        };
        if let Err(reason) = self.permissions.check(submitter, &asked) {
            tracing::warn!(job.id = %tasks.job_id, %submitter, %reason, "job request not permitted");
            metrics::get()
                .job_requests_total
                .with_label_values(&["not_permitted"])
                .inc();
            return Ok(Some(reason));
        }
        let (policy, default) = (tasks.host_key_policy, self.settings.default_host_key_policy);
        if policy.strength() < default.strength() {
            tracing::warn!(job.id = %tasks.job_id, %submitter, host_key_policy = %policy,
                default_host_key_policy = %default, "job weakens host-key checking");
            job_rows::log(
                client,
                tasks.job_id,
                None,
                Level::Warn,
                &format!("host-key checking weakened to {policy} (default {default})"),
                json!({ "host_key_policy": policy, "default_host_key_policy": default,
                        "submitter": submitter.recorded() }),
            )
            .await?;
        }
        Ok(None)
    }

    /// Ends a job the dispatcher will not run, logging `message` with `data` first.
    async fn refuse_job(
        &self,
        client: &Client,
        job_id: Uuid,
        message: &str,
        data: serde_json::Value,
        status: JobStatus,
        reason: String,
    ) -> Result<Dispatched> {
        job_rows::log(client, job_id, None, Level::Error, message, data).await?;
        let status = self.end(client, job_id, status, Some(&reason)).await?;
        Ok(Dispatched::failed(status, reason))
    }

    /// Gives the job a final status at the dispatcher and announces it.
    pub(super) async fn end(
        &self,
        client: &Client,
        job_id: Uuid,
        status: JobStatus,
        reason: Option<&str>,
    ) -> Result<JobStatus> {
        if let Some(done) = job_rows::finish(client, job_id, status, reason).await? {
            tracing::info!(status = %done.status, "job finished at the dispatcher");
            self.announce(job_id, &done, keys::COMPLETED).await;
        }
        Ok(status)
    }
}
