//! Results Postgres refuses as data, found without giving up their neighbours.
//!
//! A batch is recorded in one statement, so one result Postgres will not take (a NUL byte
//! in a text field, a timestamp out of its range, a value a constraint rejects) fails the
//! whole batch, every time it is tried. Such an error is the data's, not the database's:
//! the batch is split in halves, each recorded on its own, until every result is either
//! recorded or refused on its own. `k` bad results among `n` cost about `2·k·log2(n)`
//! transactions; a batch without one costs one, as before.
//!
//! Errors that are not about the data (a connection lost, a lock timeout, a missing table)
//! stop the search where it is; the caller retries, and the search goes on from there.

use super::ingest::{ingest, Ingested};
use crate::error::DispatchError;
use chrono::Utc;
use netraven_shared::domain::Outcome;
use netraven_shared::messages::{self, TaskResult};
use netraven_shared::telemetry::Progress;
use std::ops::Range;

/// Whether Postgres refused the statement for the values it carried: a data exception
/// (SQLSTATE class 22: a NUL byte, an invalid encoding, a value out of range), an integrity
/// constraint (23), or a program limit such as an index row too large (54); or a value
/// the client could not even send (a conversion error, no server involved). Retrying
/// such a statement only repeats it.
pub(super) fn refused_as_data(e: &DispatchError) -> bool {
    use std::error::Error as _;
    let db = match e {
        DispatchError::Db(e) => e,
        DispatchError::Pool(deadpool_postgres::PoolError::Backend(e)) => e,
        _ => return false,
    };
    match db.code() {
        Some(code) => matches!(&code.code()[..2], "22" | "23" | "54"),
        // No SQLSTATE and not a connection's failure: a value that did not convert.
        None => !db.is_closed() && db.source().is_some_and(|s| !s.is::<std::io::Error>()),
    }
}

/// One result Postgres would not record, by its place in the batch.
#[derive(Debug)]
pub(super) struct Refused {
    pub(super) index: usize,
    pub(super) reason: String,
}

/// A batch being recorded: what is left to try, what was recorded, what was refused.
#[derive(Debug)]
pub(super) struct Sorting {
    todo: Vec<Range<usize>>,
    pub(super) ingested: Ingested,
    pub(super) refused: Vec<Refused>,
}

impl Sorting {
    pub(super) fn new(len: usize) -> Sorting {
        Sorting {
            // One range, the whole batch (a stack of ranges, not a list of indices).
            todo: std::iter::once(0..len).filter(|r| !r.is_empty()).collect(),
            ingested: Ingested::default(),
            refused: Vec::new(),
        }
    }

    /// Records what is left of `results`, splitting around refused ones. On an error that
    /// is not the data's, returns it with the rest still to do: call again to go on.
    pub(super) async fn run(
        &mut self,
        pool: &deadpool_postgres::Pool,
        results: &[TaskResult],
        progress: &Progress,
    ) -> Result<(), DispatchError> {
        while let Some(range) = self.todo.last().cloned() {
            match ingest(pool, &results[range.clone()]).await {
                Ok(done) => {
                    self.todo.pop();
                    progress.touch();
                    self.ingested.recorded += done.recorded;
                    self.ingested.duplicates += done.duplicates;
                    self.ingested.retried += done.retried;
                    self.ingested.finished.extend(done.finished);
                    self.ingested
                        .changed
                        .extend(done.changed.into_iter().map(|i| range.start + i));
                }
                Err(e) if refused_as_data(&e) => {
                    self.todo.pop();
                    // Something was learnt and the queue moves on: progress, not a stall.
                    progress.touch();
                    if range.len() == 1 {
                        self.refused.push(Refused {
                            index: range.start,
                            reason: e.to_string(),
                        });
                    } else {
                        let mid = range.start + range.len() / 2;
                        // The first half is tried first: a stack, so it goes on last.
                        self.todo.push(mid..range.end);
                        self.todo.push(range.start..mid);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// What stands for a result that could not be recorded: the device ends `DEAD_LETTERED`
/// with the reason, so its job finishes now rather than at its deadline. Only the ids
/// come from the refused result, and its name with control characters taken out, so the
/// stand-in itself carries nothing Postgres could refuse.
pub(super) fn stand_in(refused: &TaskResult, why: &str) -> TaskResult {
    let name: String = refused
        .device_name
        .chars()
        .filter(|c| !c.is_control())
        .take(255)
        .collect();
    let why: String = why.chars().filter(|c| !c.is_control()).collect();
    TaskResult {
        version: messages::RESULT_VERSION,
        job_id: refused.job_id,
        device_id: refused.device_id,
        device_name: name,
        outcome: Outcome::DeadLettered,
        reason: format!(
            "the aggregator could not record this device's result ({why}); \
             the results message is in the dead-letter queue"
        ),
        credential_id: None,
        attempts: refused.attempts,
        duration_ms: refused.duration_ms,
        config_sha256: None,
        config: None,
        worker: "aggregator".into(),
        finished_at: Utc::now(),
        try_number: refused.try_number,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stand_in_keeps_the_ids_and_drops_what_postgres_could_refuse() {
        let refused = TaskResult {
            version: messages::RESULT_VERSION,
            job_id: uuid::Uuid::nil(),
            device_id: 7,
            device_name: "r1\0\u{1b}[2J".into(),
            outcome: Outcome::Success,
            reason: "bad\0reason".into(),
            credential_id: Some(3),
            attempts: 2,
            duration_ms: 40,
            config_sha256: Some("\0".into()),
            config: None,
            worker: "w\0".into(),
            finished_at: Utc::now(),
            try_number: None,
        };
        let s = stand_in(&refused, "invalid byte sequence");
        assert_eq!((s.job_id, s.device_id), (refused.job_id, 7));
        assert_eq!(s.device_name, "r1[2J");
        assert_eq!(s.outcome, Outcome::DeadLettered);
        assert!(s.reason.contains("invalid byte sequence"), "{}", s.reason);
        assert_eq!(s.credential_id, None);
        assert_eq!(s.config_sha256, None);
        assert_eq!(s.worker, "aggregator");
    }

    #[test]
    fn only_errors_about_the_data_are_refusals() {
        let timeout = DispatchError::Pool(deadpool_postgres::PoolError::Timeout(
            deadpool_postgres::TimeoutType::Wait,
        ));
        assert!(!refused_as_data(&timeout));
        let closed = DispatchError::Pool(deadpool_postgres::PoolError::Closed);
        assert!(!refused_as_data(&closed));
    }
}
