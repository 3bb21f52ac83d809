//! One delivery from `<ns>.jobs.submit`: a job request decoded, given its job row (or
//! found a duplicate), dispatched, and settled by what came of it; or a cancel (`cancel`).

use super::new_job::Dispatched;
use super::role::Dispatcher;
use crate::dispatch::permissions::Submitter;
use crate::dispatch::plan;
use crate::error::{Disposition, Result};
use crate::job_rows::{self, Created};
use chrono::Utc;
use lapin::message::Delivery;
use netraven_shared::broker::{self, Settle};
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{JobRequest, CANCEL_TYPE};
use netraven_shared::retry::Backoff;
use netraven_shared::telemetry::metrics;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// How long a request whose handling fails transiently (the database away, read-only
/// after a failover, silent) is tried again in place, with backoff, before it goes back
/// to the queue. Every return to the queue counts against `amqp.delivery_limit`: returned
/// at once, a request met a five-try limit within seconds of an outage and was
/// dead-lettered. Held in place, it waits out outages of this length; past it, the
/// request goes back (so that another dispatcher may take it) well inside the broker's
/// consumer timeout.
const RETRY_IN_PLACE: Duration = Duration::from_secs(300);

impl Dispatcher {
    /// Handles one delivery and settles it: ack once its effects are committed, try again
    /// in place and then requeue on a transient failure, dead-letter when the message
    /// itself is at fault.
    pub(super) async fn handle(&self, delivery: Delivery) {
        let started = Instant::now();
        let mut delays = Backoff::RECONNECT.delays();
        // A try after a transient failure is a redelivery as far as the job row goes: the
        // job it created (still PENDING) is this request's, to dispatch again.
        let mut again = delivery.redelivered;
        let processed = loop {
            match self.process(&delivery, again).await {
                Err(e)
                    if e.disposition() == Disposition::Requeue
                        && started.elapsed() < RETRY_IN_PLACE =>
                {
                    tracing::warn!(error = %e, "request deferred; trying it again");
                    again = true;
                    if delays.wait(&self.stopping).await {
                        break Err(e);
                    }
                }
                other => break other,
            }
        };
        let settled = match processed {
            Ok(()) => broker::settle(&delivery.acker, Settle::Ack).await,
            Err(e) => match e.disposition() {
                Disposition::Requeue => {
                    tracing::warn!(error = %e, "request deferred; the broker will deliver it again");
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

    /// Who sent `delivery`: [`Submitter::from_message`] with the configured gateways.
    pub(super) fn submitter(&self, delivery: &Delivery) -> std::result::Result<Submitter, String> {
        let props = &delivery.properties;
        Submitter::from_message(
            props.user_id().as_ref().map(|u| u.as_str()),
            broker::header(props, broker::SUBMITTER_HEADER).as_deref(),
            &self.settings.gateways,
        )
    }

    /// `again`: an earlier try at this request may have created its job.
    async fn process(&self, delivery: &Delivery, again: bool) -> Result<()> {
        // A cancel shares the queue, told apart by its AMQP type: the submitters' broker
        // permissions (publish to `<ns>.jobs`) cover it as they cover requests.
        if delivery.properties.kind().as_ref().map(|k| k.as_str()) == Some(CANCEL_TYPE) {
            return self.cancel(delivery).await;
        }
        let request = match JobRequest::decode(&delivery.data) {
            Ok(r) => r,
            Err(reason) => {
                self.refuse(delivery, &reason).await;
                return Ok(());
            }
        };
        let deadline = plan::job_deadline(&request.limits, &self.settings, Utc::now());
        // RabbitMQ refuses a publish whose user_id is not the connection's user, so this is
        // who published the request (or nobody vouches for it), or whom a trusted gateway
        // sent it for.
        let submitter = match self.submitter(delivery) {
            Ok(s) => s,
            Err(reason) => {
                self.refuse(delivery, &reason).await;
                return Ok(());
            }
        };
        // The one connection this request holds from here to its end: every step runs on it,
        // so that a dispatcher whose pool is as large as its prefetch never waits on its own
        // pool (a request holding one connection while it asks for another would).
        let client = self.pool.get().await?;
        let created = job_rows::create(&client, &request, submitter.recorded(), deadline).await?;
        let (job_id, deadline, again) = match created {
            Created::New(id) => (id, deadline, false),
            // A redelivered request whose job never left PENDING: the dispatcher handling
            // it died mid-way. Dispatch again; workers and the aggregator ignore repeats.
            // Only the same request from the same submitter: another one that reused the
            // request_id must not run under that job.
            Created::Existing {
                id,
                status: JobStatus::Pending,
                same: true,
                deadline,
            } if again => (id, deadline, true),
            Created::Existing { id, status, .. } => {
                metrics::get()
                    .job_requests_total
                    .with_label_values(&["duplicate"])
                    .inc();
                tracing::info!(job.id = %id, request.id = %request.request_id, "duplicate request; job exists");
                let found = Dispatched::status_only(status);
                self.reply(delivery, &request, id, found).await;
                return Ok(());
            }
        };
        metrics::get()
            .job_requests_total
            .with_label_values(&["accepted"])
            .inc();
        let span = tracing::info_span!("job", job.id = %job_id, request.id = %request.request_id,
            submitter = %submitter);
        let dispatched = self
            .dispatch(&client, job_id, &request, &submitter, deadline, again)
            .instrument(span)
            .await?;
        self.reply(delivery, &request, job_id, dispatched).await;
        Ok(())
    }
}
