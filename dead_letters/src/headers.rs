//! The dead letters' AMQP headers: what a death leaves, who published, how often replayed.

use chrono::{DateTime, TimeZone, Utc};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use netraven_shared::broker::{
    self, FIRST_DEATH_QUEUE_HEADER, FIRST_DEATH_REASON_HEADER, SOURCE_HEADER, USER_HEADER,
};

/// Header counting how many times a message was replayed from the dead queue.
pub const REPLAYED_HEADER: &str = "x-netraven-replayed";

/// Headers that describe a past death; a replayed message starts its life afresh (a
/// quorum queue must not see it as already delivered `delivery_limit` times).
pub(super) const DEATH_HEADERS: [&str; 8] = [
    "x-death",
    FIRST_DEATH_QUEUE_HEADER,
    FIRST_DEATH_REASON_HEADER,
    "x-first-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
    "x-last-death-exchange",
    "x-delivery-count",
];

/// `props` without the named headers.
pub(super) fn without(props: &BasicProperties, drop: &[&str]) -> BasicProperties {
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
pub(super) fn as_user(props: &BasicProperties, user: Option<&str>) -> BasicProperties {
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

pub(super) fn source_of(props: &BasicProperties) -> Option<String> {
    broker::header(props, SOURCE_HEADER).or_else(|| broker::header(props, FIRST_DEATH_QUEUE_HEADER))
}

pub(super) fn replayed(props: &BasicProperties) -> u32 {
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
pub(super) fn dead_at(props: &BasicProperties) -> Option<DateTime<Utc>> {
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
