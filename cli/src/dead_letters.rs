//! `netraven dead list` and `netraven dead replay`: what sits in the dead-letter queue
//! `<ns>.dead`, and sending it back where it came from.
//!
//! Reading a quorum queue is never a harmless peek: a message taken with `basic.get` and
//! returned with `nack(requeue)` counts as a delivery, and the dead queue has the
//! topology's delivery limit but no dead-letter exchange of its own, so a dead letter
//! could be dropped after `amqp.delivery_limit` listings. Both commands therefore
//! *rotate*: each message is taken, a copy is published (confirmed) to the tail of the
//! same queue through the default exchange (so the aggregator's `<ns>.dead.tasks` copy is
//! not repeated), and only then the original is acked. Going once round the whole queue
//! leaves its order as it was. A crash between the confirm and the ack leaves one
//! duplicate dead letter, never a lost one.
//!
//! Copies go out as this command's broker user: RabbitMQ refuses a publish whose `user_id`
//! is another user's. So a dead letter's `user_id` moves into the `x-netraven-user-id`
//! header (kept for the record), and a replayed job request carries the operator's own
//! `user_id`: its submitter of record, and whose `dispatcher.submitters` permissions apply.
//!
//! Nothing secret is printed: a device task shows its job id and device name only (its
//! credentials are sealed, but are not shown either), a job request its request id and
//! job type, a task result its job, device and outcome, and anything that does not decode
//! only its size.

use crate::views::Style;
use anyhow::{bail, Context, Result};
use chrono::{DateTime, TimeZone, Utc};
use comfy_table::Cell;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};
use netraven_shared::broker::{
    self, Names, Outgoing, Publisher, FIRST_DEATH_QUEUE_HEADER, FIRST_DEATH_REASON_HEADER,
    REASON_HEADER, RESULT_KEY, SOURCE_HEADER, SUBMIT_KEY, TASK_KEY, USER_HEADER,
};
use netraven_shared::config::AmqpSettings;
use netraven_shared::messages::{DeviceTask, JobRequest, TaskResult, TaskResults};
use serde::Serialize;

/// Header counting how many times a message was replayed from the dead queue.
pub const REPLAYED_HEADER: &str = "x-netraven-replayed";

/// Headers that describe a past death; a replayed message starts its life afresh (a
/// quorum queue must not see it as already delivered `delivery_limit` times).
const DEATH_HEADERS: [&str; 8] = [
    "x-death",
    FIRST_DEATH_QUEUE_HEADER,
    FIRST_DEATH_REASON_HEADER,
    "x-first-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
    "x-last-death-exchange",
    "x-delivery-count",
];

/// One dead letter as `dead list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// The queue it was dead-lettered from (`<ns>.tasks.device`, …), `null` if unknown.
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

/// `dead list`: the first `limit` dead letters, and how many there are in all.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub queue: String,
    pub total: usize,
    pub dead_letters: Vec<DeadLetter>,
}

/// `dead replay`: what went back, and what stayed.
#[derive(Debug, Clone, Default, Serialize)]
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
    if source == names.tasks_queue() {
        Some((names.tasks_exchange(), TASK_KEY))
    } else if source == names.submit_queue() {
        Some((names.jobs_exchange(), SUBMIT_KEY))
    } else if source == names.results_queue() {
        Some((names.results_exchange(), RESULT_KEY))
    } else {
        None
    }
}

/// The queue a `--source` argument names: `tasks`, `requests` (or `jobs`), `results`, or
/// a full queue name.
pub fn source_queue(names: &Names, arg: &str) -> String {
    match arg {
        "tasks" => names.tasks_queue(),
        "requests" | "jobs" => names.submit_queue(),
        "results" => names.results_queue(),
        other => other.to_string(),
    }
}

/// Lists up to `limit` dead letters without losing or reordering any.
pub async fn list(settings: &AmqpSettings, limit: usize) -> Result<Listing> {
    let names = Names::new(&settings.namespace);
    let session = Session::open(settings).await?;
    let queue = names.dead_queue();
    let mut shown = Vec::new();
    let mut total = 0;
    session
        .rotate(&queue, |d| {
            total += 1;
            if shown.len() < limit {
                shown.push(describe(&names, d));
            }
            Action::Keep
        })
        .await?;
    session.close().await;
    Ok(Listing {
        queue,
        total,
        dead_letters: shown,
    })
}

/// Sends up to `limit` dead letters (from `source` only, when given) back to the exchange
/// and routing key they were first published to. The dead copy is acked only after the
/// broker confirmed the replay; an unconfirmed one stays in the dead queue.
pub async fn replay(
    settings: &AmqpSettings,
    source: Option<&str>,
    limit: usize,
) -> Result<Replayed> {
    let names = Names::new(&settings.namespace);
    let wanted = source.map(|s| source_queue(&names, s));
    if let Some(w) = &wanted {
        if destination(&names, w).is_none() {
            bail!("cannot replay to {w}: name tasks, requests, results or one of their queues");
        }
    }
    let session = Session::open(settings).await?;
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
                    let user = (from == names.submit_queue()).then_some(session.user.as_str());
                    Action::Replay(Box::new(replay_copy(d, exchange, key, user)), from)
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
        .get()
        .saturating_sub(report.replayed + report.failed);
    Ok(report)
}

/// What to do with one dead letter in a rotation.
enum Action {
    /// Back to the tail of the dead queue.
    Keep,
    /// Publish this instead (and remember its source); the dead copy is acked after the
    /// confirm, or kept when the broker refuses.
    Replay(Box<Outgoing>, String),
}

struct Session {
    connection: lapin::Connection,
    /// Where messages are taken from; copies go out through the publisher.
    channel: Channel,
    publisher: Publisher,
    seen: std::cell::Cell<usize>,
    /// This command's broker user, which replayed job requests carry as `user_id`.
    user: String,
}

impl Session {
    async fn open(settings: &AmqpSettings) -> Result<Session> {
        let connection = broker::connect(settings, "cli-dead")
            .await
            .with_context(|| {
                format!(
                    "cannot reach RabbitMQ at {}",
                    netraven_shared::config::mask_url(&settings.url)
                )
            })?;
        // The topology is not declared here: a command run with other queue arguments
        // (delivery limit, expiry) than the roles' would close the channel.
        let publisher = Publisher::new(&connection, 1).await?;
        let channel = connection.create_channel().await?;
        Ok(Session {
            connection,
            channel,
            publisher,
            seen: std::cell::Cell::new(0),
            user: broker::user(settings)?,
        })
    }

    fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Goes once round `queue`: every message present at the start is taken and either
    /// re-queued at the tail or replayed. Returns the replays with whether each was confirmed.
    async fn rotate(
        &self,
        queue: &str,
        mut decide: impl FnMut(&Delivery) -> Action,
    ) -> Result<Vec<(String, bool)>> {
        let mut replays = Vec::new();
        let mut remaining: Option<u32> = None;
        loop {
            if remaining == Some(0) {
                break;
            }
            let got = self
                .channel()
                .basic_get(queue.into(), BasicGetOptions { no_ack: false })
                .await
                .with_context(|| format!("cannot read {queue}"))?;
            let Some(got) = got else { break };
            // Messages dead-lettered after we started wait for the next run.
            let left = remaining.get_or_insert(got.message_count + 1);
            *left -= 1;
            self.seen.set(self.seen.get() + 1);
            let d = got.delivery;
            match decide(&d) {
                Action::Keep => self.requeue(queue, &d).await?,
                Action::Replay(msg, from) => match self.publisher.publish(*msg).await {
                    Ok(()) => {
                        d.acker
                            .ack(BasicAckOptions::default())
                            .await
                            .context("replayed, but the dead copy was not acked")?;
                        replays.push((from, true));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "replay not confirmed; the dead letter stays");
                        self.requeue(queue, &d).await?;
                        replays.push((from, false));
                    }
                },
            }
        }
        Ok(replays)
    }

    /// A confirmed copy at the tail of `queue`, then the ack of the original.
    async fn requeue(&self, queue: &str, d: &Delivery) -> Result<()> {
        let copy = Outgoing {
            exchange: String::new(),
            routing_key: queue.to_string(),
            body: d.data.clone(),
            properties: as_user(&without(&d.properties, &["x-delivery-count"]), None),
            mandatory: true,
        };
        self.publisher.publish(copy).await.with_context(|| {
            format!(
                "cannot put a dead letter back on {queue}; it was not acked and stays where it was"
            )
        })?;
        d.acker
            .ack(BasicAckOptions::default())
            .await
            .context("dead letter copied, but the original was not acked")?;
        Ok(())
    }

    async fn close(&self) {
        let _ = self.channel().close(200, "done".into()).await;
        let _ = self.connection.close(200, "done".into()).await;
    }
}

/// `props` without the named headers.
fn without(props: &BasicProperties, drop: &[&str]) -> BasicProperties {
    let mut headers = FieldTable::default();
    if let Some(h) = props.headers() {
        for (k, v) in h.inner() {
            if !drop.contains(&k.as_str()) {
                headers.insert(k.clone(), v.clone());
            }
        }
    }
    props.clone().with_headers(headers)
}

/// `props` with `user_id` set to `user` (or none), the original one kept in the
/// `x-netraven-user-id` header unless that already holds one.
fn as_user(props: &BasicProperties, user: Option<&str>) -> BasicProperties {
    let mut headers = props.headers().clone().unwrap_or_default();
    if let Some(original) = props.user_id() {
        if !headers.inner().contains_key(USER_HEADER) {
            headers.insert(
                USER_HEADER.into(),
                AMQPValue::LongString(original.as_str().into()),
            );
        }
    }
    let mut out = BasicProperties::default().with_headers(headers);
    macro_rules! keep {
        ($($get:ident => $with:ident),+) => {
            $(if let Some(v) = props.$get() { out = out.$with(v.clone()); })+
        };
    }
    keep!(content_type => with_content_type, content_encoding => with_content_encoding,
        delivery_mode => with_delivery_mode, priority => with_priority,
        correlation_id => with_correlation_id, reply_to => with_reply_to,
        expiration => with_expiration, message_id => with_message_id,
        timestamp => with_timestamp, kind => with_type, app_id => with_app_id,
        cluster_id => with_cluster_id);
    if let Some(u) = user {
        out = out.with_user_id(u.into());
    }
    out
}

/// The message to publish for a replay: the same body and properties, its death forgotten,
/// its replay counted, published as `user` (see the module's notes).
fn replay_copy(d: &Delivery, exchange: String, key: &str, user: Option<&str>) -> Outgoing {
    let mut drop: Vec<&str> = DEATH_HEADERS.to_vec();
    drop.extend([REASON_HEADER, SOURCE_HEADER]);
    let props = without(&d.properties, &drop);
    let mut headers = props.headers().clone().unwrap_or_default();
    headers.insert(
        REPLAYED_HEADER.into(),
        AMQPValue::LongUInt(replayed(&d.properties) + 1),
    );
    Outgoing {
        exchange,
        routing_key: key.to_string(),
        body: d.data.clone(),
        properties: as_user(&props.with_headers(headers), user),
        mandatory: true,
    }
}

fn source_of(props: &BasicProperties) -> Option<String> {
    broker::header(props, SOURCE_HEADER).or_else(|| broker::header(props, FIRST_DEATH_QUEUE_HEADER))
}

fn replayed(props: &BasicProperties) -> u32 {
    let value = props
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(REPLAYED_HEADER).cloned());
    match value {
        Some(AMQPValue::LongUInt(n)) => n,
        Some(AMQPValue::LongInt(n)) => u32::try_from(n).unwrap_or(0),
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(n).unwrap_or(0),
        _ => 0,
    }
}

/// When it died: our dead letters carry a timestamp; the broker's carry `x-death[0].time`.
fn dead_at(props: &BasicProperties) -> Option<DateTime<Utc>> {
    let broker_time = || {
        let headers = props.headers().as_ref()?;
        let AMQPValue::FieldArray(deaths) = headers.inner().get("x-death")? else {
            return None;
        };
        let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
            return None;
        };
        match first.inner().get("time")? {
            AMQPValue::Timestamp(t) => Some(*t),
            _ => None,
        }
    };
    let secs = props.timestamp().or_else(broker_time)?;
    Utc.timestamp_opt(i64::try_from(secs).ok()?, 0).single()
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
fn summary(names: &Names, source: Option<&str>, body: &[u8]) -> String {
    let from = source.unwrap_or_default();
    if from == names.tasks_queue() {
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

/// `dead list` as a table.
pub fn render_list(listing: &Listing, style: Style) -> String {
    if listing.total == 0 {
        return format!("{} is empty\n", listing.queue);
    }
    let mut table = style.table(["source", "by", "reason", "age", "replayed", "what"]);
    for d in &listing.dead_letters {
        table.add_row(vec![
            Cell::new(d.source.as_deref().unwrap_or("?")),
            Cell::new(d.published_by.as_deref().unwrap_or("-")),
            Cell::new(&d.reason),
            Cell::new(d.age_secs.map_or("?".into(), age)),
            Cell::new(d.replayed),
            Cell::new(&d.summary),
        ]);
    }
    format!(
        "{table}\n{} of {} dead letters in {}\n",
        listing.dead_letters.len(),
        listing.total,
        listing.queue
    )
}

/// `dead replay` in words.
pub fn render_replayed(r: &Replayed, _style: Style) -> String {
    let mut out = format!(
        "replayed {}, {} not confirmed (kept), {} kept\n",
        r.replayed, r.failed, r.kept
    );
    for (source, n) in &r.by_source {
        out.push_str(&format!("  {n} back to where {source} gets them\n"));
    }
    out
}

fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7_200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3_600),
        s => format!("{}d", s / 86_400),
    }
}
