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

mod headers;
mod list;
mod replay;
mod session;

pub use headers::REPLAYED_HEADER;
pub use list::{describe, list, render_list, DeadLetter, Listing};
pub use replay::{destination, render_replayed, replay, source_queue, Replayed};
