//! Our dead letters: a copy of a refused message, carrying why and where from.

use super::message::{json_properties, Outgoing, REASON_HEADER, SOURCE_HEADER, USER_HEADER};
use super::names::Names;
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;

/// A copy of `body` for the dead-letter exchange, carrying why and where from.
pub fn dead_letter(
    names: &Names,
    source_queue: &str,
    body: &[u8],
    original: &BasicProperties,
    reason: &str,
) -> Outgoing {
    let mut headers = original.headers().clone().unwrap_or_default();
    headers.insert(REASON_HEADER.into(), AMQPValue::LongString(reason.into()));
    headers.insert(
        SOURCE_HEADER.into(),
        AMQPValue::LongString(source_queue.into()),
    );
    // Only the broker's word on who published: a header of that name set by the publisher
    // is not kept.
    let mut kept = FieldTable::default();
    for (k, v) in headers.inner() {
        if k.as_str() != USER_HEADER {
            kept.insert(k.clone(), v.clone());
        }
    }
    headers = kept;
    if let Some(user) = original.user_id() {
        headers.insert(
            USER_HEADER.into(),
            AMQPValue::LongString(user.as_str().into()),
        );
    }
    // When it died, for `netraven dead list` (the broker's own dead letters carry x-death).
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let mut properties = json_properties().with_headers(headers).with_timestamp(now);
    if let Some(c) = original.correlation_id() {
        properties = properties.with_correlation_id(c.clone());
    }
    Outgoing {
        exchange: names.dead_exchange(),
        routing_key: source_queue.to_string(),
        body: body.to_vec(),
        properties,
        mandatory: true,
    }
}
