//! Listing: each dead letter described by ids and names only.

use super::headers::{dead_at, replayed, source_of};
use super::replay::source_queue;
use super::session::{Action, Session};
use anyhow::Result;
use chrono::{DateTime, Utc};
use lapin::message::Delivery;
use netraven_shared::broker::{self, Names, FIRST_DEATH_REASON_HEADER, REASON_HEADER, USER_HEADER};
use netraven_shared::config::AmqpSettings;
use netraven_shared::messages::{DeviceTask, JobRequest, TaskResult, TaskResults};
use serde::Serialize;
use utoipa::ToSchema;

/// One dead letter as `dead list` shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeadLetter {
    /// The queue it was dead-lettered from (`<ns>.tasks.device`, `<ns>.tasks.interactive`,
    /// …), `null` if unknown.
    pub source: Option<String>,
    /// Why: our reason (`not a valid job request: …`) or the broker's (`delivery_limit`).
    pub reason: String,
    /// When it died, when known.
    pub dead_at: Option<DateTime<Utc>>,
    pub age_secs: Option<i64>,
    /// What it is, without any secret: ids and names only.
    pub summary: String,
    pub bytes: usize,
    /// Times it was replayed before.
    pub replayed: u32,
    /// Who published it, as the broker checked (its AMQP `user_id`), when it had one.
    pub published_by: Option<String>,
}

/// Which dead letters to show: those from one source queue (all when `None`), from the
/// `offset`-th on, at most `limit`, in queue order.
#[derive(Debug, Clone)]
pub struct Filter {
    /// `tasks`, `interactive`, `requests`, `results` or a queue name ([`source_queue`]).
    pub source: Option<String>,
    pub offset: usize,
    pub limit: usize,
}

/// A page of dead letters, and how many match the filter in all.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Listing {
    pub queue: String,
    /// Dead letters matching the filter, shown or not.
    pub total: usize,
    pub offset: usize,
    pub dead_letters: Vec<DeadLetter>,
}

/// Lists the dead letters `filter` picks without losing or reordering any; `client` names
/// the connection (`cli-dead`, `api-dead`).
pub async fn list(settings: &AmqpSettings, client: &str, filter: &Filter) -> Result<Listing> {
    let names = Names::new(&settings.namespace);
    let wanted = filter.source.as_deref().map(|s| source_queue(&names, s));
    let session = Session::open(settings, client).await?;
    let queue = names.dead_queue();
    let mut shown = Vec::new();
    let mut total = 0;
    session
        .rotate(&queue, |d| {
            let from = source_of(&d.properties);
            if wanted.is_none() || wanted == from {
                if total >= filter.offset && shown.len() < filter.limit {
                    shown.push(describe(&names, d));
                }
                total += 1;
            }
            Action::Keep
        })
        .await?;
    session.close().await;
    Ok(Listing {
        queue,
        total,
        offset: filter.offset,
        dead_letters: shown,
    })
}

/// One dead letter, described without its body.
pub fn describe(names: &Names, d: &Delivery) -> DeadLetter {
    let props = &d.properties;
    let source = source_of(props);
    let reason = broker::header(props, REASON_HEADER)
        .or_else(|| broker::header(props, FIRST_DEATH_REASON_HEADER))
        .unwrap_or_else(|| "unknown".into());
    let dead_at = dead_at(props);
    DeadLetter {
        summary: summary(names, source.as_deref(), &d.data),
        source,
        reason,
        dead_at,
        age_secs: dead_at.map(|t| (Utc::now() - t).num_seconds().max(0)),
        bytes: d.data.len(),
        replayed: replayed(props),
        published_by: broker::header(props, USER_HEADER)
            .or_else(|| props.user_id().as_ref().map(|u| u.as_str().to_string())),
    }
}

/// Ids and names only: never a body, never a (sealed) secret, never a command.
pub(super) fn summary(names: &Names, source: Option<&str>, body: &[u8]) -> String {
    let from = source.unwrap_or_default();
    if names.lane_of(from).is_some() {
        if let Ok(t) = DeviceTask::decode(body) {
            return format!("device task: job {} device {}", t.job_id, t.device.name);
        }
    } else if from == names.submit_queue() {
        if let Ok(r) = JobRequest::decode(body) {
            return format!("job request {} ({})", r.request_id, r.job_type);
        }
    } else if from == names.results_queue() {
        if let Ok(r) = TaskResult::decode(body) {
            return format!(
                "task result: job {} device {} {}",
                r.job_id, r.device_name, r.outcome
            );
        }
        if let Ok(b) = TaskResults::decode(body) {
            let jobs: std::collections::BTreeSet<_> = b.results.iter().map(|r| r.job_id).collect();
            return format!(
                "task results: {} devices of {} job(s)",
                b.results.len(),
                jobs.len()
            );
        }
    }
    format!("{} bytes that do not decode", body.len())
}
