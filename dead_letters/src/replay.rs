//! Replay: dead letters sent back where they came from, with confirms.

use super::headers::{as_user, replayed, source_of, without, DEATH_HEADERS, REPLAYED_HEADER};
use super::session::{Action, Session};
use anyhow::{bail, Result};
use lapin::message::Delivery;
use lapin::types::{AMQPValue, LongString};
use netraven_shared::broker::{
    task_key, Names, Outgoing, REASON_HEADER, RESULT_KEY, SOURCE_HEADER, SUBMITTER_HEADER,
    SUBMIT_KEY,
};
use netraven_shared::config::AmqpSettings;
use serde::Serialize;
use utoipa::ToSchema;

/// A replay: what went back, and what stayed.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Replayed {
    pub replayed: usize,
    /// Replays the broker did not confirm (the dead letter stays).
    pub failed: usize,
    pub kept: usize,
    /// Per source queue, how many went back.
    pub by_source: std::collections::BTreeMap<String, usize>,
}

/// Where a dead letter from `source` is sent back to: exchange and routing key.
pub fn destination(names: &Names, source: &str) -> Option<(String, &'static str)> {
    if let Some(lane) = names.lane_of(source) {
        Some((names.tasks_exchange(), task_key(lane)))
    } else if source == names.submit_queue() {
        Some((names.jobs_exchange(), SUBMIT_KEY))
    } else if source == names.results_queue() {
        Some((names.results_exchange(), RESULT_KEY))
    } else {
        None
    }
}

/// The queue a `--source` argument names: `tasks` (the bulk lane), `interactive` (the
/// interactive lane's tasks), `requests` (or `jobs`), `results`, or a full queue name.
pub fn source_queue(names: &Names, arg: &str) -> String {
    match arg {
        "tasks" => names.tasks_queue(),
        "interactive" => names.interactive_tasks_queue(),
        "requests" | "jobs" => names.submit_queue(),
        "results" => names.results_queue(),
        other => other.to_string(),
    }
}

/// What to replay, and for whom.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// Only dead letters from this source ([`source_queue`]); all when `None`.
    pub source: Option<String>,
    pub limit: usize,
    /// The submitter a replayed job request is sent for, in `x-netraven-submitter`: the
    /// api role's caller (the dispatcher believes it from a gateway only). `None`: the
    /// request is the replaying broker user's own.
    pub on_behalf: Option<String>,
}

/// Sends up to `limit` dead letters (from `source` only, when given) back to the exchange
/// and routing key they were first published to. The dead copy is acked only after the
/// broker confirmed the replay; an unconfirmed one stays in the dead queue. `client`
/// names the connection.
pub async fn replay(settings: &AmqpSettings, client: &str, what: &Replay) -> Result<Replayed> {
    let names = Names::new(&settings.namespace);
    let limit = what.limit;
    let wanted = what.source.as_deref().map(|s| source_queue(&names, s));
    if let Some(w) = &wanted {
        if destination(&names, w).is_none() {
            bail!("cannot replay to {w}: name tasks, requests, results or one of their queues");
        }
    }
    let session = Session::open(settings, client).await?;
    let mut chosen = 0;
    let mut report = Replayed::default();
    let outcomes = session
        .rotate(&names.dead_queue(), |d| {
            let Some(from) = source_of(&d.properties) else {
                return Action::Keep;
            };
            let matches = wanted.as_ref().is_none_or(|w| *w == from);
            match destination(&names, &from) {
                Some((exchange, key)) if matches && chosen < limit => {
                    chosen += 1;
                    // A job request is submitted again by this user; nothing else names one.
                    let request = from == names.submit_queue();
                    let user = request.then_some(session.user.as_str());
                    let on_behalf = what.on_behalf.as_deref().filter(|_| request);
                    let copy = replay_copy(d, exchange, key, user, on_behalf);
                    Action::Replay(Box::new(copy), from)
                }
                _ => Action::Keep,
            }
        })
        .await?;
    session.close().await;
    for (from, ok) in outcomes {
        if ok {
            report.replayed += 1;
            *report.by_source.entry(from).or_default() += 1;
        } else {
            report.failed += 1;
        }
    }
    report.kept = session
        .seen
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(report.replayed + report.failed);
    Ok(report)
}

/// The message to publish for a replay: the same body and properties, its death forgotten,
/// its replay counted, published as `user` for `on_behalf` (see the module's notes).
pub(super) fn replay_copy(
    d: &Delivery,
    exchange: String,
    key: &str,
    user: Option<&str>,
    on_behalf: Option<&str>,
) -> Outgoing {
    let mut drop: Vec<&str> = DEATH_HEADERS.to_vec();
    drop.extend([REASON_HEADER, SOURCE_HEADER, SUBMITTER_HEADER]);
    let props = without(&d.properties, &drop);
    let mut headers = props.headers().clone().unwrap_or_default();
    headers.insert(
        REPLAYED_HEADER.into(),
        AMQPValue::LongUInt(replayed(&d.properties) + 1),
    );
    if let Some(submitter) = on_behalf {
        headers.insert(
            SUBMITTER_HEADER.into(),
            AMQPValue::LongString(LongString::from(submitter)),
        );
    }
    Outgoing {
        exchange,
        routing_key: key.to_string(),
        body: d.data.clone(),
        properties: as_user(&props.with_headers(headers), user),
        mandatory: true,
    }
}
