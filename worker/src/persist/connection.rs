//! How the worker talks to Postgres: its session settings, its prepared statements and
//! the one retry policy of its writes.

use crate::error::WorkerError;
use netraven_shared::retry::Backoff;
use std::future::Future;

/// Session settings of the worker's database connections. A worker's writes before its
/// batch commit (host-key pins, command outputs) do not wait for their own WAL flush:
/// the batch commit, which is synchronous and comes before any ack, flushes the WAL up
/// to itself, and so every write that preceded it. A crash before that commit loses
/// only what the redelivered task writes again.
///
/// Its statements carry whole batches as arrays, and a custom plan would embed those as
/// constants — a batch's configurations, megabytes, copied into every plan (measured:
/// 1.9 ms of planning per batch). They run with the generic plan instead.
///
/// A transaction left open by a worker that stopped mid-way (SIGSTOP, a frozen VM)
/// would hold its rows locked — the device claims other workers need to take over its
/// tasks — for as long as it stays stopped: Postgres ends such a session after 30 s.
/// No transaction of the worker waits on anything but Postgres itself.
pub const SESSION_OPTIONS: &str = "-c synchronous_commit=off -c plan_cache_mode=force_generic_plan -c idle_in_transaction_session_timeout=30000";

/// Runs `op` again while the database is unreachable or restarting (the fleet's one
/// transient rule), so a Postgres restart does not turn healthy devices into
/// INTERNAL_ERROR; returns the first permanent error. What bounds the wait is the
/// caller's: a device's deadline, a pin nobody waits for any more, the results' patience.
/// Every write of the worker is idempotent, so a try whose outcome was unknown changes
/// nothing twice.
pub(super) async fn retrying<T, F, Fut>(what: &str, op: F) -> Result<T, WorkerError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, WorkerError>>,
{
    Backoff::DATABASE_WRITE.retry(what, op).await
}

/// Runs one of a transaction's statements, prepared once per connection: parsed and
/// planned once, and executed with the generic plan ([`SESSION_OPTIONS`]).
pub(super) async fn execute(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, WorkerError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&statement, params).await?)
}

/// Why Postgres refused a write, for a device's reason and the log: the server's message
/// and SQLSTATE, without its DETAIL, which may quote the refused row (a configuration
/// with its secrets, megabytes of it).
pub fn refusal(e: &WorkerError) -> String {
    match e {
        WorkerError::Db(db) => match db.as_db_error() {
            Some(d) => format!("{} (SQLSTATE {})", d.message(), d.code().code()),
            None => e.to_string(),
        },
        _ => e.to_string(),
    }
}
