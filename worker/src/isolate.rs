//! One device Postgres refuses stays one: a batch whose statement fails for good is split
//! in halves until the device that fails it is found, the others are recorded (and then
//! published and acked as usual), and the refused device is recorded on its own as a
//! failure saying why, or dead-lettered if even that is refused.
//!
//! Only a permanent error splits ([`netraven_shared::Transient`]): a data error such as
//! a value the column refuses, a constraint, a trigger. A transient one (the connection
//! lost, the server restarting) is the database's, not any device's, and the batch goes
//! back to the queue as before. A batch is never requeued for a permanent error: done
//! again, it would fail again, logging into every device of it once more each time.
//!
//! With one bad device among n, the split costs about 2·log2(n) statements (18 for a
//! full batch of 512), each of a smaller part.

use crate::results::Finished;
use netraven_shared::broker::{self, Settle};
use netraven_shared::domain::Outcome;
use netraven_shared::text::one_line;
use std::future::Future;

/// How one try to record a part went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Recorded,
    /// The database's trouble: worth trying again later, on any worker.
    Transient(String),
    /// The statement's: it fails again however often it is tried.
    Permanent(String),
}

/// Where the items of a split batch ended.
#[derive(Debug)]
pub struct Apart<T> {
    pub recorded: Vec<T>,
    /// Parts that met a transient error while being split.
    pub requeue: Vec<T>,
    /// Items that fail alone, each with its reason.
    pub refused: Vec<(T, String)>,
}

/// Splits `items` (whose write as a whole failed permanently) in halves, each written on
/// its own, until every item is recorded, refused alone, or met a transient error.
/// `write` takes a part and gives it back with how its write went.
pub async fn split<T, F, Fut>(items: Vec<T>, mut write: F) -> Apart<T>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = (Vec<T>, Written)>,
{
    let mut apart = Apart {
        recorded: Vec::new(),
        requeue: Vec::new(),
        refused: Vec::new(),
    };
    let mut parts = halves(items);
    while let Some(part) = parts.pop() {
        let (part, written) = write(part).await;
        match written {
            Written::Recorded => apart.recorded.extend(part),
            Written::Transient(_) => apart.requeue.extend(part),
            Written::Permanent(reason) if part.len() == 1 => {
                apart
                    .refused
                    .extend(part.into_iter().map(|t| (t, reason.clone())));
            }
            Written::Permanent(_) => parts.extend(halves(part)),
        }
    }
    apart
}

/// Two halves, the first pushed last so that it is tried first.
fn halves<T>(mut items: Vec<T>) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items];
    }
    let second = items.split_off(items.len() / 2);
    vec![second, items]
}

/// The device as a failure whose output could not be stored: its configuration dropped,
/// its outcome `INTERNAL_ERROR` and the database's reason given (one line, escaped).
/// Its login attempts stay: they happened, and the credential counters count them.
pub fn as_unstorable(mut f: Finished, why: &str) -> Finished {
    let reason = one_line(&format!("output could not be stored: {why}")).into_owned();
    f.report.outcome = Outcome::InternalError;
    f.report.reason = reason.clone();
    f.report.config = None;
    f.report.output_turn = None;
    f.result.outcome = Outcome::InternalError;
    f.result.reason = reason;
    f.result.credential_id = None;
    f.result.config_sha256 = None;
    f
}

/// Gives up on a device whose result cannot be recorded at all: its task is rejected
/// without requeue, so the broker moves it to the dead-letter queue and the aggregator
/// records the device `DEAD_LETTERED`. Never requeued: it would fail the same way.
pub async fn dead_letter(f: &Finished, why: &str) {
    tracing::error!(job.id = %f.result.job_id, device.id = f.result.device_id,
        device.name = %one_line(&f.result.device_name), reason = %one_line(why),
        "device result cannot be recorded even as a failure; dead-lettering its task");
    let rejected = tokio::time::timeout(
        broker::BROKER_ANSWER_TIMEOUT,
        f.acker.nack(lapin::options::BasicNackOptions {
            multiple: false,
            requeue: false,
        }),
    )
    .await;
    match rejected {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "dead-lettered task not settled"),
        Err(_) => tracing::warn!("dead-lettered task not settled: the broker did not answer"),
    }
}

/// Returns devices to the queue after a transient error.
pub async fn requeue(batch: &[Finished], why: &str) {
    if batch.is_empty() {
        return;
    }
    tracing::error!(error = %one_line(why), devices = batch.len(),
        "device results not written; returning the tasks to the queue");
    let ackers: Vec<&lapin::Acker> = batch.iter().map(|f| &f.acker).collect();
    broker::settle_all(&ackers, Settle::Requeue).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A write that refuses every part holding one of `bad`, and counts its statements.
    async fn run(n: u32, bad: &[u32], transient: Option<u32>) -> (Apart<u32>, u32) {
        let statements = Cell::new(0);
        let apart = split((0..n).collect(), |part: Vec<u32>| {
            statements.set(statements.get() + 1);
            let written = if transient.is_some_and(|t| part.contains(&t)) {
                Written::Transient("connection lost".into())
            } else if part.iter().any(|i| bad.contains(i)) {
                Written::Permanent(format!("refused {part:?}"))
            } else {
                Written::Recorded
            };
            async move { (part, written) }
        })
        .await;
        (apart, statements.get())
    }

    #[tokio::test]
    async fn one_bad_item_of_512_is_found_and_the_others_recorded() {
        let (mut apart, statements) = run(512, &[300], None).await;
        apart.recorded.sort_unstable();
        assert_eq!(apart.recorded.len(), 511);
        assert!(!apart.recorded.contains(&300));
        assert_eq!(apart.refused, vec![(300, "refused [300]".to_string())]);
        assert!(apart.requeue.is_empty());
        assert!(statements <= 2 * 9, "{statements} statements");
    }

    #[tokio::test]
    async fn several_bad_items_are_each_refused_alone() {
        let (apart, _) = run(100, &[0, 1, 99], None).await;
        let mut refused: Vec<u32> = apart.refused.iter().map(|r| r.0).collect();
        refused.sort_unstable();
        assert_eq!(refused, vec![0, 1, 99]);
        assert_eq!(apart.recorded.len(), 97);
    }

    #[tokio::test]
    async fn a_transient_error_while_splitting_requeues_that_part_only() {
        let (apart, _) = run(64, &[5], Some(40)).await;
        assert!(apart.requeue.contains(&40));
        assert!(apart.requeue.len() < 64 && !apart.requeue.contains(&5));
        assert_eq!(apart.refused.len(), 1);
        assert_eq!(
            apart.recorded.len() + apart.requeue.len() + apart.refused.len(),
            64,
            "every item ends somewhere, once"
        );
    }

    #[tokio::test]
    async fn a_lone_item_is_tried_once() {
        let (apart, statements) = run(1, &[0], None).await;
        assert_eq!(apart.refused.len(), 1);
        assert_eq!(statements, 1);
    }
}
