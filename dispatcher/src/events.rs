//! Events on the topic exchange `<ns>.events`: job state changes, so clients wait without
//! polling, and configuration changes, so they learn what changed on which device. Each
//! carries its CloudEvents attributes in headers, `source` naming the role that sent it.

use crate::job_rows::JobCounts;
use netraven_shared::broker::{Names, Outgoing, Publisher};
use netraven_shared::messages::{
    self, events, CloudEvent, ConfigChange, ConfigChangedEvent, EventRole, TaskResult,
};
use netraven_shared::telemetry::metrics;
use uuid::Uuid;

/// Publishes one job event, sent by `role`. An event that cannot be published is logged,
/// not fatal: the job row in Postgres stays the source of truth. The same event published
/// again keeps its CloudEvents id.
pub async fn publish(
    publisher: &Publisher,
    names: &Names,
    role: EventRole,
    job_id: Uuid,
    counts: &JobCounts,
    key: &str,
) {
    let event = counts.event(job_id, key);
    if counts.status.is_final() {
        metrics::get()
            .jobs_total
            .with_label_values(&[counts.job_type_label(), counts.status.as_str()])
            .inc();
    }
    let attributes = event.cloud_event(CloudEvent::source(&names.namespace, role));
    let sent = match Outgoing::json(&names.events_exchange(), key, &event) {
        Ok(msg) => {
            let msg = msg.cloud_event(&attributes).not_mandatory();
            publisher.publish(msg).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        tracing::warn!(job.id = %job_id, event = key, error = %e, "job event not published");
    }
}

/// Publishes `config.changed` for a recorded result whose configuration changed; nothing
/// for any other result. Like job events, one that cannot be published is logged: the
/// version in Postgres stays the source of truth.
pub async fn config_changed(publisher: &Publisher, names: &Names, result: &TaskResult) {
    let source = CloudEvent::source(&names.namespace, EventRole::Aggregator);
    let (Some(config), Some(new_sha256)) = (&result.config, &result.config_sha256) else {
        return;
    };
    let (ConfigChange::Changed, Some(old_sha256)) = (config.change, &config.previous_sha256) else {
        return;
    };
    let event = ConfigChangedEvent {
        version: messages::VERSION,
        event: events::CONFIG_CHANGED.into(),
        job_id: result.job_id,
        device_id: result.device_id,
        device_name: result.device_name.clone(),
        config_version: config.version,
        old_sha256: old_sha256.clone(),
        new_sha256: new_sha256.clone(),
        lines_added: config.lines_added,
        lines_removed: config.lines_removed,
        at: result.finished_at,
    };
    let attributes = event.cloud_event(source);
    let sent = match Outgoing::json(&names.events_exchange(), events::CONFIG_CHANGED, &event) {
        Ok(msg) => {
            let msg = msg.cloud_event(&attributes).not_mandatory();
            publisher.publish(msg).await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        tracing::warn!(job.id = %result.job_id, device.id = result.device_id,
            error = %e, "config.changed event not published");
    }
}
