//! The dispatcher role: takes job requests from `<ns>.jobs.submit`, refuses malformed ones
//! with a reason, and turns good ones into jobs and device tasks.

use crate::error::{DispatchError, Disposition, Result};
use crate::events;
use crate::jobs::{self, Created, JobCounts, Level};
use crate::permissions::{Asked, Permissions, Submitter};
use crate::publish::{publish_tasks, TaskPlan, CHUNK, FIRST_CHUNK};
use crate::resolve::{self, ResolvedDevice};
use chrono::Utc;
use deadpool_postgres::Pool;
use lapin::message::Delivery;
use netraven_shared::broker::link::Subscription;
use netraven_shared::broker::{self, Names, Publisher, Settle};
use netraven_shared::config::{DispatcherSettings, Settings};
use netraven_shared::domain::{JobStatus, JobType};
use netraven_shared::messages::{self, events as keys, JobReply, JobRequest, TaskDevice};
use netraven_shared::role;
use netraven_shared::signing::{Issuer, Purpose, Signer, SigningKeys};
use netraven_shared::telemetry::metrics;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use uuid::Uuid;

/// Longest accepted per-device deadline (one hour) and job deadline (seven days).
const MAX_DEVICE_DEADLINE_MS: u64 = 3_600_000;
const MAX_JOB_DEADLINE_MS: u64 = 7 * 24 * 3_600_000;
const MAX_CREDENTIALS_PER_DEVICE: u32 = 32;
/// Longest accepted per-phase timeout override (ten minutes).
const MAX_PHASE_TIMEOUT_MS: u64 = 600_000;

/// Everything one request needs.
pub struct Dispatcher {
    pool: Pool,
    publisher: Publisher,
    names: Names,
    /// Signs every device task: workers act on nothing else.
    signer: Signer,
    settings: DispatcherSettings,
    permissions: Permissions,
}

/// How dispatch ended for a new job: its status, and why it failed when it ended at the
/// dispatcher (for the reply).
type Dispatched = (JobStatus, Option<String>);

/// Runs the dispatcher until `shutdown`: consumes requests, finishes those in hand, exits.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> Result<()> {
    let signer = task_signer(&settings)?;
    let Some(role::Connected {
        pool,
        link,
        names,
        readiness,
    }) = role::connect(
        &settings,
        "dispatcher",
        &settings.dispatcher.metrics_addr,
        None,
        &shutdown,
    )
    .await?
    else {
        return Ok(());
    };
    let Some(mut requests) = Subscription::new(
        link.clone(),
        &names,
        &names.submit_queue(),
        settings.dispatcher.prefetch,
    )
    .await
    else {
        return Ok(());
    };
    readiness.set_broker(true);
    let dispatcher = Arc::new(Dispatcher {
        pool,
        publisher: Publisher::on(link.clone(), settings.amqp.publish_window).await?,
        names,
        signer,
        permissions: Permissions::new(&settings.dispatcher),
        settings: settings.dispatcher.clone(),
    });
    tracing::info!(queue = %dispatcher.names.submit_queue(), "dispatcher consuming job requests");

    let tracker = TaskTracker::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            next = requests.next() => match next {
                Some(delivery) => {
                    let d = dispatcher.clone();
                    tracker.spawn(async move { d.handle(delivery).await });
                }
                None => break,
            }
        }
    }
    tracker.close();
    tracker.wait().await;
    requests.close("dispatcher stopping").await;
    link.close("dispatcher stopping").await;
    tracing::info!("dispatcher stopped");
    Ok(())
}

/// The dispatcher's task signer; without a dispatcher signing key it must not start.
pub fn task_signer(settings: &Settings) -> Result<Signer> {
    let keys = SigningKeys::required(&settings.signing, Issuer::Dispatcher)?;
    Ok(keys.signer(Purpose::DeviceTask, &settings.amqp.namespace)?)
}

impl Dispatcher {
    /// Handles one delivery and settles it: ack once its effects are committed, requeue on
    /// a transient failure, dead-letter when the message itself is at fault.
    async fn handle(&self, delivery: Delivery) {
        let settled = match self.process(&delivery).await {
            Ok(()) => broker::settle(&delivery.acker, Settle::Ack).await,
            Err(e) => match e.disposition() {
                Disposition::Requeue => {
                    tracing::warn!(error = %e, "request deferred; the broker will deliver it again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    broker::settle(&delivery.acker, Settle::Requeue).await
                }
                Disposition::DeadLetter => {
                    self.refuse(&delivery, &e.to_string()).await;
                    broker::settle(&delivery.acker, Settle::Ack).await
                }
            },
        };
        if let Err(e) = settled {
            tracing::warn!(error = %e, "request not settled; the broker will deliver it again");
        }
    }

    /// Dead-letters a malformed request with its reason and tells the client why.
    async fn refuse(&self, delivery: &Delivery, reason: &str) {
        tracing::warn!(%reason, "job request refused");
        metrics::get()
            .job_requests_total
            .with_label_values(&["malformed"])
            .inc();
        let queue = self.names.submit_queue();
        let dead = broker::dead_letter(
            &self.names,
            &queue,
            &delivery.data,
            &delivery.properties,
            reason,
        );
        match self.publisher.publish(dead).await {
            Ok(()) => metrics::get()
                .dead_lettered_total
                .with_label_values(&[&queue])
                .inc(),
            Err(e) => tracing::error!(error = %e, "malformed request could not be dead-lettered"),
        }
        let reply = JobReply {
            version: messages::VERSION,
            accepted: false,
            request_id: None,
            job_id: None,
            status: None,
            error: Some(reason.to_string()),
        };
        broker::reply(&self.publisher, &delivery.properties, &reply).await;
    }

    async fn process(&self, delivery: &Delivery) -> Result<()> {
        let request = match JobRequest::decode(&delivery.data) {
            Ok(r) => r,
            Err(reason) => {
                self.refuse(delivery, &reason).await;
                return Ok(());
            }
        };
        let job_deadline_ms = request
            .limits
            .job_deadline_ms
            .filter(|ms| (1_000..=MAX_JOB_DEADLINE_MS).contains(ms))
            .unwrap_or(self.settings.default_job_deadline_ms);
        let deadline = Utc::now() + chrono::Duration::milliseconds(job_deadline_ms as i64);
        // RabbitMQ refuses a publish whose user_id is not the connection's user, so this is
        // who published the request (or nobody vouches for it).
        let submitter =
            Submitter::from_user_id(delivery.properties.user_id().as_ref().map(|u| u.as_str()));
        let client = self.pool.get().await?;
        let created = jobs::create(&client, &request, submitter.recorded(), deadline).await?;
        let job_id = match created {
            Created::New(id) => id,
            // A redelivered request whose job never left PENDING: the dispatcher handling
            // it died mid-way. Dispatch again; workers and the aggregator ignore repeats.
            // Only the same request from the same submitter: another one that reused the
            // request_id must not run under that job.
            Created::Existing {
                id,
                status: JobStatus::Pending,
                same: true,
            } if delivery.redelivered => id,
            Created::Existing { id, status, .. } => {
                metrics::get()
                    .job_requests_total
                    .with_label_values(&["duplicate"])
                    .inc();
                tracing::info!(job.id = %id, request.id = %request.request_id, "duplicate request; job exists");
                self.reply(delivery, &request, id, (status, None)).await;
                return Ok(());
            }
        };
        drop(client);
        metrics::get()
            .job_requests_total
            .with_label_values(&["accepted"])
            .inc();
        let span = tracing::info_span!("job", job.id = %job_id, request.id = %request.request_id,
            submitter = %submitter);
        let dispatched = self
            .dispatch(job_id, &request, &submitter)
            .instrument(span)
            .await?;
        self.reply(delivery, &request, job_id, dispatched).await;
        Ok(())
    }

    async fn reply(
        &self,
        delivery: &Delivery,
        request: &JobRequest,
        job_id: Uuid,
        (status, error): Dispatched,
    ) {
        let reply = JobReply {
            version: messages::VERSION,
            accepted: true,
            request_id: Some(request.request_id.clone()),
            job_id: Some(job_id),
            status: Some(status),
            error,
        };
        broker::reply(&self.publisher, &delivery.properties, &reply).await;
    }

    /// Checks, resolves, publishes and starts a new job; any failure gives the job its
    /// final status here. Returns the job's status when dispatch ends, with the reason when
    /// the job failed here.
    async fn dispatch(
        &self,
        job_id: Uuid,
        request: &JobRequest,
        submitter: &Submitter,
    ) -> Result<Dispatched> {
        let client = self.pool.get().await?;
        let created = JobCounts {
            request_id: request.request_id.clone(),
            status: JobStatus::Pending,
            total_devices: 0,
            completed_devices: 0,
            succeeded_devices: 0,
            no_credential_devices: 0,
            error: None,
        };
        events::publish(
            &self.publisher,
            &self.names,
            job_id,
            &created,
            keys::CREATED,
        )
        .await;

        let plan = match self.plan(job_id, request) {
            Ok(plan) => plan,
            Err(reason) => {
                jobs::log(
                    &client,
                    job_id,
                    None,
                    Level::Error,
                    "invalid request",
                    json!({ "reason": reason }),
                )
                .await?;
                let status = self
                    .end(
                        &client,
                        job_id,
                        JobStatus::FailedInvalidRequest,
                        Some(&reason),
                    )
                    .await?;
                return Ok((status, Some(reason)));
            }
        };
        let asked = Asked {
            job_type: plan.job_type,
            commands: &request.commands,
            // The policy the job will run with: the operator's default counts too.
            host_key_policy: Some(plan.host_key_policy),
            submitted_by: request.submitted_by.as_deref(),
        };
        let checked = self.permissions.check(submitter, &asked);
        if let Err(reason) = checked {
            tracing::warn!(job.id = %job_id, %submitter, %reason, "job request not permitted");
            metrics::get()
                .job_requests_total
                .with_label_values(&["not_permitted"])
                .inc();
            jobs::log(
                &client,
                job_id,
                None,
                Level::Error,
                "request not permitted",
                json!({ "reason": reason, "submitter": submitter.recorded() }),
            )
            .await?;
            let status = self
                .end(
                    &client,
                    job_id,
                    JobStatus::FailedNotPermitted,
                    Some(&reason),
                )
                .await?;
            return Ok((status, Some(reason)));
        }
        if plan.host_key_policy.strength() < self.settings.default_host_key_policy.strength() {
            let (policy, default) = (plan.host_key_policy, self.settings.default_host_key_policy);
            tracing::warn!(job.id = %job_id, %submitter, host_key_policy = %policy,
                default_host_key_policy = %default, "job weakens host-key checking");
            jobs::log(
                &client,
                job_id,
                None,
                Level::Warn,
                &format!("host-key checking weakened to {policy} (default {default})"),
                json!({ "host_key_policy": policy, "default_host_key_policy": default,
                        "submitter": submitter.recorded() }),
            )
            .await?;
        }
        match self.resolve_and_publish(&client, &plan, request).await {
            Ok(status) => Ok((status, None)),
            Err(e)
                if e.disposition() == Disposition::Requeue
                    && !matches!(e, DispatchError::Broker(_)) =>
            {
                Err(e)
            }
            Err(e) => {
                let status = e.job_status();
                tracing::error!(error = %e, status = %status, "job failed at the dispatcher");
                // Best effort: the job log may be what failed.
                if let Err(log_error) = jobs::log(
                    &client,
                    job_id,
                    None,
                    Level::Error,
                    "dispatch failed",
                    json!({ "error": e.to_string() }),
                )
                .await
                {
                    tracing::warn!(error = %log_error, "job log not written");
                }
                let reason = e.to_string();
                let status = self.end(&client, job_id, status, Some(&reason)).await?;
                Ok((status, Some(reason)))
            }
        }
    }

    /// Checks what the schema cannot: the job type and the ranges of the limits.
    fn plan(&self, job_id: Uuid, request: &JobRequest) -> Result<TaskPlan, String> {
        let job_type: JobType = request.job_type.parse()?;
        match (job_type, request.commands.is_empty()) {
            (JobType::Command, true) => {
                return Err("job type command needs at least one command".into())
            }
            (JobType::ConfigBackup | JobType::Reachability, false) => {
                return Err(format!("job type {job_type} takes no commands"))
            }
            _ => {}
        }
        let limits = &request.limits;
        let device_deadline_ms = limits
            .device_deadline_ms
            .unwrap_or(self.settings.default_device_deadline_ms);
        if !(1_000..=MAX_DEVICE_DEADLINE_MS).contains(&device_deadline_ms) {
            return Err(format!(
                "limits.device_deadline_ms must be 1000 to {MAX_DEVICE_DEADLINE_MS}"
            ));
        }
        if let Some(ms) = limits.job_deadline_ms {
            if !(1_000..=MAX_JOB_DEADLINE_MS).contains(&ms) {
                return Err(format!(
                    "limits.job_deadline_ms must be 1000 to {MAX_JOB_DEADLINE_MS}"
                ));
            }
        }
        if let Some(n) = limits.max_credentials_per_device {
            if !(1..=MAX_CREDENTIALS_PER_DEVICE).contains(&n) {
                return Err(format!(
                    "limits.max_credentials_per_device must be 1 to {MAX_CREDENTIALS_PER_DEVICE}"
                ));
            }
        }
        for (name, value) in limits.timeouts().named() {
            if let Some(ms) = value {
                if !(100..=MAX_PHASE_TIMEOUT_MS).contains(&ms) {
                    return Err(format!(
                        "limits.{name} must be 100 to {MAX_PHASE_TIMEOUT_MS}"
                    ));
                }
            }
        }
        let job_deadline_ms = limits
            .job_deadline_ms
            .unwrap_or(self.settings.default_job_deadline_ms);
        Ok(TaskPlan {
            job_id,
            job_type,
            commands: request.commands.clone(),
            device_deadline_ms,
            timeouts: limits.timeouts(),
            host_key_policy: limits
                .host_key_policy
                .unwrap_or(self.settings.default_host_key_policy),
            job_deadline: Utc::now() + chrono::Duration::milliseconds(job_deadline_ms as i64),
        })
    }

    async fn resolve_and_publish(
        &self,
        client: &deadpool_postgres::Client,
        plan: &TaskPlan,
        request: &JobRequest,
    ) -> Result<JobStatus> {
        let job_id = plan.job_id;
        let started = std::time::Instant::now();
        let Found {
            devices: total,
            unresolved,
            published,
            missing_names,
        } = self.stream_tasks(client, plan, request).await?;
        if total == 0 {
            jobs::log(
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
        jobs::log(
            client,
            job_id,
            None,
            Level::Info,
            &format!("resolved credentials for {resolved} of {total} devices ({coverage:.1}%)"),
            json!({ "devices": total, "resolved": resolved, "unresolved": unresolved,
                    "coverage_pct": coverage, "missing_targets": missing_names }),
        )
        .await?;

        let Some(running) = jobs::mark_running(client, job_id, published).await? else {
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
        match jobs::finalize_if_complete(client, job_id).await? {
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
    /// before it can finish (`jobs::finalize_if_complete`).
    ///
    /// Each chunk's devices are recorded with the job before its tasks go out, on a
    /// connection of their own (the stream's is busy with its rows), so that the sweeper
    /// knows them whatever happens to this dispatcher.
    async fn stream_tasks(
        &self,
        client: &deadpool_postgres::Client,
        plan: &TaskPlan,
        request: &JobRequest,
    ) -> Result<Found> {
        let job_id = plan.job_id;
        let mut found = Found::default();
        let max = request
            .limits
            .max_credentials_per_device
            .unwrap_or(self.settings.max_credentials_per_device) as usize;
        // Reachability needs no credential; every other job type does.
        let needs_credentials = plan.job_type != JobType::Reachability;
        jobs::reset_resolution(client, job_id).await?;
        let recorder = self.pool.get().await?;
        let mut stream = resolve::Stream::open(client, &request.targets, max).await?;
        let mut size = FIRST_CHUNK;
        loop {
            let chunk = stream.next_chunk(size).await?;
            if chunk.is_empty() {
                break;
            }
            size = CHUNK;
            let (runnable, unresolved): (Vec<&ResolvedDevice>, Vec<&ResolvedDevice>) = chunk
                .iter()
                .partition(|d| !needs_credentials || !d.credentials.is_empty());
            let unresolved: Vec<&TaskDevice> = unresolved.iter().map(|d| &d.device).collect();
            let ids: Vec<i64> = chunk.iter().map(|d| d.device.id).collect();
            jobs::record_resolved(&recorder, job_id, &ids, &unresolved).await?;
            found.devices += chunk.len();
            found.unresolved += unresolved.len();
            if !runnable.is_empty() {
                found.published += publish_tasks(
                    &self.publisher,
                    &self.names,
                    &self.signer,
                    plan,
                    &runnable,
                    found.published,
                )
                .await?;
            }
        }
        found.missing_names = stream.missing_names();
        Ok(found)
    }

    /// Gives the job a final status at the dispatcher and announces it.
    async fn end(
        &self,
        client: &deadpool_postgres::Client,
        job_id: Uuid,
        status: JobStatus,
        reason: Option<&str>,
    ) -> Result<JobStatus> {
        if let Some(done) = jobs::finish(client, job_id, status, reason).await? {
            tracing::info!(status = %done.status, "job finished at the dispatcher");
            events::publish(&self.publisher, &self.names, job_id, &done, keys::COMPLETED).await;
        }
        Ok(status)
    }
}

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
