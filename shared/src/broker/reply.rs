//! Replies to a client's request on its `reply_to` queue, best effort.

use super::message::{json_properties, Outgoing};
use super::publisher::Publisher;
use lapin::BasicProperties;
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
