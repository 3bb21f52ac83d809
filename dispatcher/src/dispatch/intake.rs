//! One delivery from `<ns>.jobs.submit`: decoded, given its job row (or found a
//! duplicate), dispatched, and settled by what came of it.

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
use netraven_shared::messages::JobRequest;
use netraven_shared::telemetry::metrics;
use std::time::Duration;
use tracing::Instrument;

/// How long a request whose handling failed transiently is held before it goes back to the
/// queue: the broker redelivers at once, and a database that is down would otherwise see
/// the same request in a tight loop. Requeues are bounded by the broker's delivery limit.
const REQUEUE_PAUSE: Duration = Duration::from_millis(500);

impl Dispatcher {
    /// Handles one delivery and settles it: ack once its effects are committed, requeue on
    /// a transient failure, dead-letter when the message itself is at fault.
    pub(super) async fn handle(&self, delivery: Delivery) {
        let settled = match self.process(&delivery).await {
            Ok(()) => broker::settle(&delivery.acker, Settle::Ack).await,
            Err(e) => match e.disposition() {
                Disposition::Requeue => {
                    tracing::warn!(error = %e, "request deferred; the broker will deliver it again");
                    tokio::time::sleep(REQUEUE_PAUSE).await;
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

    async fn process(&self, delivery: &Delivery) -> Result<()> {
        let request = match JobRequest::decode(&delivery.data) {
            Ok(r) => r,
            Err(reason) => {
                self.refuse(delivery, &reason).await;
                return Ok(());
            }
        };
        let deadline = plan::job_deadline(&request.limits, &self.settings, Utc::now());
        // RabbitMQ refuses a publish whose user_id is not the connection's user, so this is
        // who published the request (or nobody vouches for it).
        let submitter =
            Submitter::from_user_id(delivery.properties.user_id().as_ref().map(|u| u.as_str()));
        // The one connection this request holds from here to its end: every step runs on it,
        // so that a dispatcher whose pool is as large as its prefetch never waits on its own
        // pool (a request holding one connection while it asks for another would).
        let client = self.pool.get().await?;
        let created = job_rows::create(&client, &request, submitter.recorded(), deadline).await?;
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
            .dispatch(&client, job_id, &request, &submitter)
            .instrument(span)
            .await?;
        self.reply(delivery, &request, job_id, dispatched).await;
        Ok(())
    }
}
