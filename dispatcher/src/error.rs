//! The dispatcher crate's error type, and the one place that says what an error means for
//! the message being handled.

use netraven_shared::domain::JobStatus;

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Shared(#[from] netraven_shared::Error),
    #[error("database: {}", netraven_shared::db::describe(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("resolving credentials failed: {0}")]
    Resolution(String),
    #[error("publishing tasks failed: {0}")]
    Publish(String),
}

/// What to do with the delivery whose handling failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Give it back to the broker: the failure is transient (broker or database down).
    Requeue,
    /// The message itself is at fault: dead-letter it with the error as its reason.
    DeadLetter,
}

impl DispatchError {
    /// The final status a job gets when this error stops its dispatch.
    pub fn job_status(&self) -> JobStatus {
        match self {
            DispatchError::Resolution(_) => JobStatus::FailedCredentialResolution,
            DispatchError::Publish(_) | DispatchError::Broker(_) => {
                JobStatus::FailedDispatcherError
            }
            _ => JobStatus::FailedUnexpected,
        }
    }

    /// Transient infrastructure failures are requeued (the broker's delivery limit bounds
    /// the retries); anything else is the message's fault.
    pub fn disposition(&self) -> Disposition {
        let transient = match self {
            DispatchError::Db(e) => is_transient(e),
            DispatchError::Pool(_) | DispatchError::Broker(_) => true,
            DispatchError::Shared(e) => match e {
                netraven_shared::Error::Db(e) => is_transient(e),
                netraven_shared::Error::Pool(_)
                | netraven_shared::Error::Broker(_)
                | netraven_shared::Error::BrokerTimeout { .. }
                | netraven_shared::Error::NotConfirmed { .. }
                | netraven_shared::Error::ShuttingDown => true,
                _ => false,
            },
            DispatchError::Resolution(_) | DispatchError::Publish(_) => false,
        };
        if transient {
            Disposition::Requeue
        } else {
            Disposition::DeadLetter
        }
    }
}

/// Whether a database error may go away by itself: the connection failed, the server is
/// shutting down or out of resources, or the transaction lost a race. An error the server
/// raised about the statement (a constraint, a missing table) will not.
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(code) => {
            let c = code.code();
            c.starts_with("08") // connection exception
                || c.starts_with("53") // insufficient resources
                || c.starts_with("57P") // operator intervention: shutdown, cannot connect now
                || c == "40001" // serialization failure
                || c == "40P01" // deadlock detected
        }
    }
}

pub type Result<T, E = DispatchError> = std::result::Result<T, E>;
