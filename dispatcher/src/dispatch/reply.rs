//! What a request's client hears: the job it got, or why the request was refused (and the
//! refused request itself, or a malformed cancel, goes to the dead-letter queue for people).

use super::new_job::Dispatched;
use super::role::Dispatcher;
use lapin::message::Delivery;
use netraven_shared::broker;
use netraven_shared::messages::{self, JobReply, JobRequest};
use netraven_shared::telemetry::metrics;
use uuid::Uuid;

impl Dispatcher {
    /// Dead-letters a malformed request with its reason and tells the client why.
    pub(super) async fn refuse(&self, delivery: &Delivery, reason: &str) {
        tracing::warn!(%reason, "job request refused");
        metrics::get()
            .job_requests_total
            .with_label_values(&["malformed"])
            .inc();
        self.dead_letter(delivery, reason).await;
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

    /// Sends a malformed message from the submit queue to the dead-letter queue with its
    /// reason, for people.
    pub(super) async fn dead_letter(&self, delivery: &Delivery, reason: &str) {
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
    }

    /// Tells the client which job its request made (or found) and how dispatch ended.
    pub(super) async fn reply(
        &self,
        delivery: &Delivery,
        request: &JobRequest,
        job_id: Uuid,
        dispatched: Dispatched,
    ) {
        let reply = JobReply {
            version: messages::VERSION,
            accepted: true,
            request_id: Some(request.request_id.clone()),
            job_id: Some(job_id),
            status: Some(dispatched.status),
            error: dispatched.failure,
        };
        broker::reply(&self.publisher, &delivery.properties, &reply).await;
    }
}
