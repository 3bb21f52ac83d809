//! The dead-letter queue `<ns>.dead` for `netraven dead list`/`dead replay` and the api
//! role's `/api/dead-letters`: what sits in it, and sending it back where it came from.
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
//! Copies go out as the caller's broker user: RabbitMQ refuses a publish whose `user_id`
//! is another user's. So a dead letter's `user_id` moves into the `x-netraven-user-id`
//! header (kept for the record), and a replayed job request carries the caller's own
//! `user_id`: its submitter of record, and whose `dispatcher.submitters` permissions apply.
//! Its old `x-netraven-submitter` header is always dropped (the replayer, not whoever
//! published it, may be a trusted gateway); the api role names its token's submitter in a
//! new one ([`Replay::on_behalf`]).
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
pub use list::{describe, list, DeadLetter, Filter, Listing};
pub use replay::{destination, replay, source_queue, Replay, Replayed};
