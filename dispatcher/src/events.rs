//! Job events on the topic exchange `<ns>.events`, so clients wait without polling.

use crate::job_rows::JobCounts;
use netraven_shared::broker::{Names, Outgoing, Publisher};
use netraven_shared::telemetry::metrics;
use uuid::Uuid;

/// Publishes one job event. An event that cannot be published is logged, not fatal: the
/// job row in Postgres stays the source of truth.
pub async fn publish(
    publisher: &Publisher,
    names: &Names,
    job_id: Uuid,
    counts: &JobCounts,
    key: &str,
) {
    let event = counts.event(job_id, key);
    if counts.status.is_final() {
        metrics::get()
            .jobs_total
            .with_label_values(&[counts.status.as_str()])
            .inc();
    }
    let sent = match Outgoing::json(&names.events_exchange(), key, &event) {
        Ok(msg) => publisher.publish(msg.not_mandatory()).await,
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        tracing::warn!(job.id = %job_id, event = key, error = %e, "job event not published");
    }
}
