//! The worker role: consumes device tasks from both lanes, each with its own bounded
//! prefetch — up to `max_in_flight` bulk devices and `interactive_in_flight` interactive
//! ones at once, so a small job starts while every bulk slot waits on a slow device — and
//! on shutdown stops taking tasks, lets in-flight devices finish within the grace period,
//! returns the rest to their queue and flushes.

use crate::budget::DeviceBudget;
use crate::context::WorkerContext;
use crate::error::WorkerError;
use crate::persist::Claim;
use crate::report::DeviceReport;
use crate::results::{self, Finished};
use crate::{device, persist, platform, ssh};
use chrono::Utc;
use lapin::message::Delivery;
use netraven_shared::broker::link::Subscription;
use netraven_shared::broker::{self, Names, Publisher, Settle};
use netraven_shared::config::Settings;
use netraven_shared::domain::{Lane, Outcome};
use netraven_shared::messages::{self, DeviceTask, TaskResult};
use netraven_shared::role;
use netraven_shared::signing::{
    Issuer, Purpose, Rejection, SigningKeys, TrustedKeys, REFUSED_TASK,
};
use netraven_shared::telemetry::metrics;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// How long a task whose device could not be claimed (Postgres away) is held before it
/// goes back to the queue, so that a database outage does not spin it through the broker.
const CLAIM_RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Runs a worker until `shutdown`. Fails at start when the sealing key or the profiles
/// cannot be loaded: a worker that cannot open secrets must not take tasks.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> Result<(), WorkerError> {
    let keys = crate::keys::Keys::load(&settings.secrets)?;
    let ns = &settings.amqp.namespace;
    let results_signer = SigningKeys::required(&settings.signing, Issuer::Worker)?
        .signer(Purpose::TaskResults, ns)?;
    let tasks_verifier =
        TrustedKeys::from_settings(&settings.signing)?.verifier(Purpose::DeviceTask, ns)?;
    for queue in netraven_shared::broker::Names::new(ns).task_queues() {
        Rejection::export_zero(&queue);
    }
    let profiles = platform::Profiles::load(settings.worker.profiles_dir.as_deref())?;
    let Some(role::Connected {
        pool,
        link,
        names,
        readiness,
    }) = role::connect(
        &settings,
        "worker",
        &settings.worker.metrics_addr,
        Some(persist::SESSION_OPTIONS),
        &shutdown,
    )
    .await?
    else {
        return Ok(());
    };
    let w = &settings.worker;
    let Some(mut bulk) =
        Subscription::new(link.clone(), &names, &names.tasks_queue(), w.max_in_flight).await
    else {
        return Ok(());
    };
    let Some(mut interactive) = Subscription::new(
        link.clone(),
        &names,
        &names.interactive_tasks_queue(),
        w.interactive_in_flight,
    )
    .await
    else {
        bulk.close("worker stopping").await;
        return Ok(());
    };
    readiness.set_broker(true);
    let ctx = Arc::new(WorkerContext {
        pins: persist::Pinner::start(pool.clone()),
        claims: persist::Claimer::start(pool.clone()),
        pool: pool.clone(),
        keys,
        client_keys: crate::client_keys::ClientKeys::default(),
        tasks: tasks_verifier,
        logins: crate::login_limits::LoginLimits::new(
            w.max_concurrent_logins_per_credential as usize,
            w.max_logins_per_second_per_credential,
            Some((pool.clone(), broker::hostname())),
        ),
        profiles,
        timeouts: ssh::SshTimeouts {
            connect: Duration::from_millis(w.connect_timeout_ms),
            handshake: Duration::from_millis(w.handshake_timeout_ms),
            auth: Duration::from_millis(w.auth_timeout_ms),
            command_idle: Duration::from_millis(w.command_idle_timeout_ms),
        },
        output: ssh::OutputBudget::new(
            w.max_output_bytes,
            w.output_allowance_bytes,
            w.large_outputs as usize,
        ),
        settings: w.clone(),
        jumps: crate::jump::JumpPool::new(),
        name: broker::hostname(),
    });
    let key_reports = crate::key_reports::start(ctx.clone());
    let slots = usize::from(w.max_in_flight) + usize::from(w.interactive_in_flight);
    let (tx, rx) = mpsc::channel::<Finished>(slots * 2);
    let working = results::Working::default();
    let flushing = tokio::spawn(results::run(
        rx,
        working.clone(),
        pool,
        Publisher::on(link.clone(), settings.amqp.publish_window).await?,
        names.clone(),
        results_signer,
        Duration::from_millis(w.flush_interval_ms),
    ));
    let dead_letters = Arc::new(Publisher::on(link.clone(), 16).await?);
    tracing::info!(queue = %names.tasks_queue(), max_in_flight = w.max_in_flight,
        interactive_queue = %names.interactive_tasks_queue(),
        interactive_in_flight = w.interactive_in_flight, worker = %ctx.name,
        "worker consuming device tasks");

    let hard_stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    loop {
        // Each lane's prefetch is its slots: neither can take the other's.
        let (lane, next) = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = bulk.next() => (Lane::Bulk, next),
            next = interactive.next() => (Lane::Interactive, next),
        };
        let Some(delivery) = next else { break };
        let (ctx, tx, stop, names, dl) = (
            ctx.clone(),
            tx.clone(),
            hard_stop.clone(),
            names.clone(),
            dead_letters.clone(),
        );
        let on = working.start();
        // In hand until its device is done or the task is refused or returned: none done
        // for `health.worker_stall_after_ms` makes the worker stalled.
        let held = readiness.progress().hold();
        tracker.spawn(async move {
            handle(&ctx, lane, delivery, on, tx, stop, &names, &dl).await;
            drop(held);
        });
    }

    // Stop taking tasks on both lanes; prefetched tasks never started go back when the
    // channels close.
    tokio::join!(bulk.cancel(), interactive.cancel());
    tracker.close();
    let grace = Duration::from_millis(w.shutdown_grace_ms);
    tracing::info!(
        in_flight = tracker.len(),
        grace_ms = grace.as_millis() as u64,
        "draining in-flight devices"
    );
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            in_flight = tracker.len(),
            "grace period over; returning unfinished devices to the queue"
        );
        hard_stop.cancel();
        tracker.wait().await;
    }
    drop(tx);
    if let Err(e) = flushing.await {
        tracing::error!(error = %e, "recording results ended abnormally");
    }
    tokio::join!(
        bulk.close("worker stopping"),
        interactive.close("worker stopping")
    );
    link.close("worker stopping").await;
    key_reports.stop().await;
    tracing::info!("worker stopped");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    ctx: &WorkerContext,
    lane: Lane,
    delivery: Delivery,
    working_on: results::WorkingOn,
    flush: mpsc::Sender<Finished>,
    hard_stop: CancellationToken,
    names: &Names,
    dead_letters: &Publisher,
) {
    // Nothing in a task is believed, nor a secret opened for it, before its signature is.
    if let Err(rejected) = broker::verify(&ctx.tasks, &delivery.data, &delivery.properties) {
        metrics::get()
            .messages_rejected_total
            .with_label_values(&[&names.lane_queue(lane), rejected.label()])
            .inc();
        let reason = format!("{REFUSED_TASK}: {rejected}");
        return dead_letter(names, lane, dead_letters, &delivery, &reason).await;
    }
    let task = match DeviceTask::decode(&delivery.data) {
        Ok(t) => t,
        Err(reason) => return dead_letter(names, lane, dead_letters, &delivery, &reason).await,
    };
    if let Some(published) = delivery.properties.timestamp() {
        let waited = Utc::now()
            .timestamp()
            .saturating_sub(*published as i64)
            .max(0);
        metrics::get()
            .task_queue_wait_seconds
            .with_label_values(&[lane.as_str()])
            .observe(waited as f64);
    }
    let budget = DeviceBudget::of(&task, &ctx.timeouts, Utc::now());
    let span = tracing::info_span!("device", task.lane = %lane, job.id = %task.job_id, device.id = task.device.id, device.name = %task.device.name);
    async {
        let Some((token, cancelled_by)) = claim(ctx, &task, &budget, &delivery, &flush).await
        else {
            return;
        };
        let m = metrics::get();
        let report = if let Some(by) = cancelled_by {
            DeviceReport {
                outcome: Outcome::Cancelled,
                reason: format!("job cancelled by {by} before this device started"),
                credential_id: None,
                attempts: Vec::new(),
                config: None,
                duration: Duration::ZERO,
                output_turn: None,
            }
        } else if Utc::now() >= task.job_deadline {
            DeviceReport {
                outcome: Outcome::Lost,
                reason: "the job deadline passed before a worker took the task".into(),
                credential_id: None,
                attempts: Vec::new(),
                config: None,
                duration: Duration::ZERO,
                output_turn: None,
            }
        } else {
            m.devices_in_flight.inc();
            let worked = tokio::select! {
                r = device::run(ctx, &task, &budget) => Some(r),
                _ = hard_stop.cancelled() => None,
            };
            m.devices_in_flight.dec();
            match worked {
                Some(r) => r,
                None => {
                    let _ = broker::settle(&delivery.acker, Settle::Requeue).await;
                    tracing::info!("device returned to the queue at shutdown");
                    return;
                }
            }
        };
        m.tasks_total
            .with_label_values(&[lane.as_str(), report.outcome.as_str()])
            .inc();
        m.device_duration_seconds
            .with_label_values(&[report.outcome.as_str()])
            .observe(report.duration.as_secs_f64());
        for a in &report.attempts {
            m.credential_attempts_total
                .with_label_values(&[&a.credential_name, a.outcome.as_str()])
                .inc();
        }
        tracing::info!(outcome = %report.outcome, reason = %report.reason,
            attempts = report.attempts.len(), duration_ms = report.duration.as_millis() as u64, "device done");
        let result = TaskResult {
            version: messages::RESULT_VERSION,
            job_id: task.job_id,
            device_id: task.device.id,
            device_name: task.device.name.clone(),
            outcome: report.outcome,
            reason: report.reason.clone(),
            credential_id: report.credential_id,
            attempts: u32::try_from(report.attempts.len()).unwrap_or(u32::MAX),
            duration_ms: u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
            config_sha256: report.config.as_ref().map(|c| c.sha256.clone()),
            config: None,
            worker: ctx.name.clone(),
            finished_at: Utc::now(),
            try_number: task.try_number,
        };
        let finished = Finished {
            report,
            result,
            acker: delivery.acker,
            claim: Some(token),
        };
        // Done with before the hand-over: the results batcher then knows whether more can come.
        drop(working_on);
        if flush.send(finished).await.is_err() {
            tracing::error!("results batcher gone; the task will be redelivered");
        }
    }
    .instrument(span)
    .await;
}

/// Claims the task's device for this delivery (`persist::claims`): its token, with who
/// cancelled the job if it was (the device is then recorded `CANCELLED`, not contacted).
/// `None` when this delivery is not to contact the device, and has been dealt with:
/// another copy of the task holds it (acked), the device is recorded already (its stored
/// result is reported again), or the claim could not be taken in time (returned to the
/// queue).
async fn claim(
    ctx: &WorkerContext,
    task: &DeviceTask,
    budget: &DeviceBudget,
    delivery: &Delivery,
    flush: &mpsc::Sender<Finished>,
) -> Option<(uuid::Uuid, Option<String>)> {
    let claimed = tokio::time::timeout(
        budget.deadline,
        ctx.claims.claim(
            task.job_id,
            task.device.id,
            delivery.redelivered,
            task.try_number(),
        ),
    )
    .await;
    let why = match claimed {
        Ok(Ok(Claim::Mine(token))) => return Some((token, None)),
        Ok(Ok(Claim::Cancelled(token, by))) => {
            tracing::info!(cancelled_by = %by, "job cancelled; skipping the device");
            return Some((token, Some(by)));
        }
        Ok(Ok(Claim::HeldElsewhere)) => {
            tracing::info!("another copy of this task holds the device; leaving it alone");
            metrics::get()
                .duplicate_tasks_total
                .with_label_values(&["in_flight"])
                .inc();
            if let Err(e) = broker::settle(&delivery.acker, Settle::Ack).await {
                tracing::warn!(error = %e, "duplicate task not settled");
            }
            return None;
        }
        Ok(Ok(Claim::Superseded)) => {
            tracing::info!("a later try of this device holds it; leaving it alone");
            metrics::get()
                .duplicate_tasks_total
                .with_label_values(&["superseded"])
                .inc();
            if let Err(e) = broker::settle(&delivery.acker, Settle::Ack).await {
                tracing::warn!(error = %e, "superseded task not settled");
            }
            return None;
        }
        Ok(Ok(Claim::Done(result))) => {
            tracing::info!("device recorded already; reporting its result again");
            metrics::get()
                .duplicate_tasks_total
                .with_label_values(&["recorded"])
                .inc();
            let finished = Finished {
                report: DeviceReport::reported_before(&result),
                result: *result,
                acker: delivery.acker.clone(),
                claim: None,
            };
            if flush.send(finished).await.is_err() {
                tracing::error!("results batcher gone; the task will be redelivered");
            }
            return None;
        }
        Ok(Ok(Claim::Unreadable(why))) => why,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!(
            "no claim within the device deadline of {} ms",
            budget.deadline.as_millis()
        ),
    };
    tracing::warn!(error = %why, "device not claimed; returning the task to the queue");
    tokio::time::sleep(CLAIM_RETRY_PAUSE).await;
    if let Err(e) = broker::settle(&delivery.acker, Settle::Requeue).await {
        tracing::warn!(error = %e, "unclaimed task not settled");
    }
    None
}

/// Sends a task this worker will not act on to the dead-letter exchange with `reason`, and
/// acks it; if the dead letter is not confirmed, the task goes back to the queue instead.
async fn dead_letter(
    names: &Names,
    lane: Lane,
    dead_letters: &Publisher,
    delivery: &Delivery,
    reason: &str,
) {
    let queue = names.lane_queue(lane);
    tracing::warn!(%reason, "device task dead-lettered");
    let dead = broker::dead_letter(names, &queue, &delivery.data, &delivery.properties, reason);
    let settled = match dead_letters.publish(dead).await {
        Ok(()) => {
            metrics::get()
                .dead_lettered_total
                .with_label_values(&[&queue])
                .inc();
            broker::settle(&delivery.acker, Settle::Ack).await
        }
        Err(_) => broker::settle(&delivery.acker, Settle::Requeue).await,
    };
    if let Err(e) = settled {
        tracing::warn!(error = %e, "refused task not settled");
    }
}
