//! RabbitMQ: connection, topology (durable exchanges, quorum queues, dead letters) and
//! confirmed publishing.
//!
//! | module | owns |
//! |---|---|
//! | `names` | exchange and queue names under a namespace, routing keys |
//! | `connect` | opening one connection (plain or TLS), the broker's time limits, who we are |
//! | `topology` | declaring, checking and deleting exchanges and queues; consuming |
//! | `message` | message properties and headers, signing and checking them |
//! | `reply` | replies on a request's `reply_to` queue |
//! | `dead_letter` | our dead letters: why and where from |
//! | `settle` | acking and requeueing deliveries |
//! | [`link`] | a role's connection, re-established by us when lost; subscribing |
//! | [`publisher`] | confirmed publishing in a window, and what was not confirmed |
//!
//! Every name carries the configured namespace: `<ns>.jobs`, `<ns>.tasks`, `<ns>.results`,
//! `<ns>.events`, `<ns>.dead`. With `amqp.declare_topology` (the default, for one broker
//! user) every role declares the whole topology at start (declaring is idempotent), so
//! roles can start in any order. With an account per role, `netraven broker setup`
//! declares it and roles only check, passively, that the queue they consume exists:
//! declaring needs the configure permission, which also allows deleting.

mod connect;
mod dead_letter;
mod message;
mod names;
mod reply;
mod settle;
mod topology;

pub mod link;
pub mod publisher;

pub use crate::signing::{PROOF_HEADER, SIGNATURE_HEADER};
pub use connect::{connect, hostname, user, BROKER_ANSWER_TIMEOUT};
pub use dead_letter::{dead_letter, DROPPED_HEADER};
pub use link::{connect_with_retry, Link};
pub use message::{
    cloud_event, header, json_properties, sign_all, verify, Outgoing, FIRST_DEATH_QUEUE_HEADER,
    FIRST_DEATH_REASON_HEADER, REASON_HEADER, SOURCE_HEADER, SUBMITTER_HEADER, USER_HEADER,
};
pub use names::{task_key, Names, INTERACTIVE_TASK_KEY, RESULT_KEY, SUBMIT_KEY, TASK_KEY};
pub use publisher::{PublishReport, Publisher, CONFIRM_TIMEOUT};
pub use reply::{reply, reply_queue};
pub use settle::{settle, settle_all, Settle};
pub use topology::{
    consume, declare_topology, delete_topology, ensure_topology, exchanges, queues,
    restore_unconsumed, QueueSpec, Scope,
};
