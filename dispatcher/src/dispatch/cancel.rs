//! A cancel from `<ns>.jobs.submit` (AMQP `type` `cancel`): decoded, checked against who
//! sent it, recorded on the job row, announced (`job.cancelling`) and answered on
//! `reply_to`. The job then stops: the dispatcher sends no more of its tasks
//! (`launch`), workers skip the devices they have not started, and it ends `CANCELLED`.

use super::role::Dispatcher;
use crate::dispatch::permissions::Submitter;
use crate::error::Result;
use crate::job_rows::{self, Level, Recorded};
use lapin::message::Delivery;
use netraven_shared::broker;
use netraven_shared::domain::JobStatus;
use netraven_shared::messages::{self, events as keys, CancelAnswer, CancelReply, JobCancel};
use netraven_shared::telemetry::metrics;
use serde_json::json;
use tracing::Instrument;
use uuid::Uuid;

/// The answer to one cancel, before it is sent.
struct Answer {
    answer: CancelAnswer,
    job_id: Option<Uuid>,
    status: Option<JobStatus>,
    error: Option<String>,
}

impl Dispatcher {
    /// Handles one cancel; `Err` only for a transient failure (the request is tried again).
    pub(super) async fn cancel(&self, delivery: &Delivery) -> Result<()> {
        let cancel = match JobCancel::decode(&delivery.data) {
            Ok(c) => c,
            Err(reason) => {
                tracing::warn!(%reason, "job cancel refused");
                self.dead_letter(delivery, &reason).await;
                let answer = Answer {
                    answer: CancelAnswer::Invalid,
                    job_id: None,
                    status: None,
                    error: Some(reason),
                };
                self.answer_cancel(delivery, answer).await;
                return Ok(());
            }
        };
        let who = match self.submitter(delivery) {
            Ok(who) => who,
            Err(reason) => {
                tracing::warn!(%reason, "job cancel refused");
                self.dead_letter(delivery, &reason).await;
                let answer = Answer {
                    answer: CancelAnswer::NotPermitted,
                    job_id: Some(cancel.job_id),
                    status: None,
                    error: Some(reason),
                };
                self.answer_cancel(delivery, answer).await;
                return Ok(());
            }
        };
        let span = tracing::info_span!("cancel", job.id = %cancel.job_id, canceller = %who);
        async {
            let answer = self.record_cancel(&cancel, &who).await?;
            tracing::info!(answer = answer.answer.as_str(), "job cancel answered");
            self.answer_cancel(delivery, answer).await;
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn record_cancel(&self, cancel: &JobCancel, who: &Submitter) -> Result<Answer> {
        let job_id = cancel.job_id;
        let answer = |answer, status, error: Option<String>| Answer {
            answer,
            job_id: Some(job_id),
            status,
            error,
        };
        let no_such_job = || {
            answer(
                CancelAnswer::NoSuchJob,
                None,
                Some(format!("no job {job_id}")),
            )
        };
        let client = self.pool.get().await?;
        let Some(target) = job_rows::cancel_target(&client, job_id).await? else {
            return Ok(no_such_job());
        };
        if let Err(reason) = self
            .permissions
            .may_cancel(who, target.submitted_by.as_deref())
        {
            tracing::warn!(%reason, "job cancel not permitted");
            return Ok(answer(CancelAnswer::NotPermitted, None, Some(reason)));
        }
        // may_cancel refuses anonymous cancellers: there is always a user to record.
        let by = who.recorded().unwrap_or_default();
        let reason = cancel.reason.as_deref();
        Ok(
            match job_rows::request_cancel(&client, job_id, by, reason).await? {
                None => no_such_job(),
                Some(Recorded::Now(counts)) => {
                    job_rows::log(
                        &client,
                        job_id,
                        None,
                        Level::Warn,
                        &format!("job cancelled by {by}"),
                        json!({ "cancelled_by": by, "reason": reason }),
                    )
                    .await?;
                    self.announce(job_id, &counts, keys::CANCELLING).await;
                    answer(CancelAnswer::Cancelled, Some(counts.status), None)
                }
                // Asked again while the job winds down: the first cancel stands.
                Some(Recorded::Before(status)) => {
                    answer(CancelAnswer::Cancelled, Some(status), None)
                }
                Some(Recorded::Final(status)) => answer(
                    CancelAnswer::AlreadyFinal,
                    Some(status),
                    Some(format!("the job has its final status {status} already")),
                ),
            },
        )
    }

    async fn answer_cancel(&self, delivery: &Delivery, a: Answer) {
        metrics::get()
            .job_cancels_total
            .with_label_values(&[a.answer.as_str()])
            .inc();
        let reply = CancelReply {
            version: messages::VERSION,
            answer: a.answer,
            job_id: a.job_id,
            status: a.status,
            error: a.error,
        };
        broker::reply(&self.publisher, &delivery.properties, &reply).await;
    }
}
