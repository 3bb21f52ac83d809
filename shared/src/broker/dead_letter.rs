//! Our dead letters: a copy of a refused message, carrying why and where from.
//!
//! The copy's headers must fit one AMQP frame (`frame_max`, 128 KiB here): RabbitMQ closes
//! the connection of a client that sends a larger content header, and lapin does not
//! check. So the reason is clipped, and the original headers are kept only while they
//! stay small: a refused message padded with large headers, or a decoder's reason
//! quoting a huge field name, is dead-lettered like any other and takes no connection down.

use super::message::{json_properties, Outgoing, REASON_HEADER, SOURCE_HEADER, USER_HEADER};
use super::names::Names;
use crate::text::MAX_REASON_BYTES;
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
    let mut headers = bounded_headers(original.headers().as_ref());
    let reason = crate::text::clip(reason, MAX_REASON_BYTES);
    headers.insert(
        REASON_HEADER.into(),
        AMQPValue::LongString(reason.as_ref().into()),
    );
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

/// The most of the original headers a dead letter keeps, by their encoded size.
pub const MAX_KEPT_HEADER_BYTES: usize = 16 * 1024;

/// The header that names the original headers left out, when some were.
pub const DROPPED_HEADER: &str = "x-netraven-dropped-headers";

/// The original headers, in order, while their encoded size stays within
/// [`MAX_KEPT_HEADER_BYTES`]; the others are named (not copied) in [`DROPPED_HEADER`].
fn bounded_headers(original: Option<&FieldTable>) -> FieldTable {
    let mut kept = FieldTable::default();
    let Some(original) = original else {
        return kept;
    };
    let mut size = 0;
    let mut dropped = Vec::new();
    for (k, v) in original.inner() {
        let len = entry_len(k.as_str(), v);
        if size + len <= MAX_KEPT_HEADER_BYTES {
            size += len;
            kept.insert(k.clone(), v.clone());
        } else {
            dropped.push(format!("{} ({len} bytes)", k.as_str()));
        }
    }
    if !dropped.is_empty() {
        let named = crate::text::clip(&dropped.join(", "), MAX_REASON_BYTES).into_owned();
        kept.insert(DROPPED_HEADER.into(), AMQPValue::LongString(named.into()));
    }
    kept
}

/// A table's entries' size on the wire.
fn table_len(t: &FieldTable) -> usize {
    t.inner()
        .iter()
        .map(|(k, v)| entry_len(k.as_str(), v))
        .sum()
}

/// One table entry's size on the wire: its name (a short string) and its value.
fn entry_len(name: &str, v: &AMQPValue) -> usize {
    1 + name.len() + encoded_len(v)
}

/// A field value's size on the wire (its type byte included), as AMQP 0-9-1 encodes it.
fn encoded_len(v: &AMQPValue) -> usize {
    1 + match v {
        AMQPValue::LongString(s) => 4 + s.as_bytes().len(),
        AMQPValue::ShortString(s) => 1 + s.as_str().len(),
        AMQPValue::ByteArray(b) => 4 + b.as_slice().len(),
        AMQPValue::FieldTable(t) => 4 + table_len(t),
        AMQPValue::FieldArray(a) => 4 + a.as_slice().iter().map(encoded_len).sum::<usize>(),
        AMQPValue::DecimalValue(_) => 5,
        // Booleans and numbers: at most 8 bytes; void: none.
        _ => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::ShortString;

    fn names() -> Names {
        Names::new("t")
    }

    #[test]
    fn a_huge_reason_and_padded_headers_stay_within_one_frame() {
        let mut headers = FieldTable::default();
        headers.insert(
            "x-netraven-signature".into(),
            AMQPValue::LongString("ed25519 k1 c2ln".into()),
        );
        headers.insert(
            "x-pad".into(),
            AMQPValue::LongString("p".repeat(130_000).into()),
        );
        let original = BasicProperties::default()
            .with_headers(headers)
            .with_correlation_id(ShortString::from("c-1"));
        let huge = format!(
            "not a valid job request: unknown field `{}`",
            "A".repeat(900_000)
        );
        let dead = dead_letter(&names(), "t.jobs.submit", b"{}", &original, &huge);
        let kept = dead.properties.headers().clone().unwrap_or_default();
        let total = table_len(&kept);
        assert!(total < 8 * 1024, "{total} bytes of headers");
        // The small original header is kept, the padding named, the reason clipped.
        assert!(kept.inner().contains_key("x-netraven-signature"));
        assert!(!kept.inner().contains_key("x-pad"));
        let read = |name: &str| super::super::header(&dead.properties, name).unwrap_or_default();
        assert!(
            read(DROPPED_HEADER).starts_with("x-pad (130"),
            "{}",
            read(DROPPED_HEADER)
        );
        let reason = read(REASON_HEADER);
        assert!(reason.ends_with("bytes cut)"), "{reason}");
        assert!(reason.len() <= MAX_REASON_BYTES, "{} bytes", reason.len());
        assert_eq!(
            dead.properties
                .correlation_id()
                .as_ref()
                .map(|c| c.as_str()),
            Some("c-1")
        );
    }

    #[test]
    fn ordinary_headers_are_kept_whole() {
        let mut headers = FieldTable::default();
        headers.insert(
            "x-netraven-proof".into(),
            AMQPValue::LongString("3 abc".into()),
        );
        headers.insert(
            "traceparent".into(),
            AMQPValue::LongString("00-ab-cd-01".into()),
        );
        let original = BasicProperties::default().with_headers(headers);
        let dead = dead_letter(&names(), "q", b"{}", &original, "why");
        let kept = dead.properties.headers().clone().unwrap_or_default();
        assert!(kept.inner().contains_key("x-netraven-proof"));
        assert!(kept.inner().contains_key("traceparent"));
        assert!(!kept.inner().contains_key(DROPPED_HEADER));
    }
}
