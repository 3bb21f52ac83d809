//! Replies to a client's request on its `reply_to` queue, best effort; and the client's
//! side: its private reply queue.

use super::message::{json_properties, Outgoing};
use super::publisher::Publisher;
use lapin::options::{BasicConsumeOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Consumer};
use serde::Serialize;

/// Publishes `value` to the client's `reply_to` queue, if the request named one. Replies
/// are best effort: a client that went away loses nothing of ours.
pub async fn reply<T: Serialize>(publisher: &Publisher, request: &BasicProperties, value: &T) {
    let Some(reply_to) = request.reply_to() else {
        return;
    };
    let mut props = json_properties();
    if let Some(c) = request.correlation_id() {
        props = props.with_correlation_id(c.clone());
    }
    let msg = match Outgoing::json("", reply_to.as_str(), value) {
        Ok(m) => m.with_properties(props).not_mandatory(),
        Err(e) => {
            tracing::warn!(error = %e, "reply not encoded");
            return;
        }
    };
    if let Err(e) = publisher.publish(msg).await {
        tracing::warn!(error = %e, reply_to = reply_to.as_str(), "reply not sent");
    }
}

/// A client's private reply queue on `channel`: server-named (`amq.gen-…`, which the
/// broker accounts of `netraven broker setup` may configure and read), exclusive to this
/// connection and deleted with it, consumed without acks (a reply lost with the client
/// is nobody's loss). Returns its name, for `reply_to`, and the consumer.
pub async fn reply_queue(channel: &Channel) -> lapin::Result<(String, Consumer)> {
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?
        .name()
        .as_str()
        .to_string();
    let consumer = channel
        .basic_consume(
            queue.clone().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok((queue, consumer))
}
