//! The dispatcher crate's error type, and the one place that says what an error means for
//! the message being handled.

use netraven_shared::domain::JobStatus;

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Shared(#[from] netraven_shared::Error),
    #[error("database: {0}")]
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
        match self {
            DispatchError::Db(_) | DispatchError::Pool(_) | DispatchError::Broker(_) => {
                Disposition::Requeue
            }
            DispatchError::Shared(e) => match e {
                netraven_shared::Error::Db(_)
                | netraven_shared::Error::Pool(_)
                | netraven_shared::Error::Broker(_)
                | netraven_shared::Error::NotConfirmed { .. } => Disposition::Requeue,
                _ => Disposition::DeadLetter,
            },
            DispatchError::Resolution(_) | DispatchError::Publish(_) => Disposition::DeadLetter,
        }
    }
}

pub type Result<T, E = DispatchError> = std::result::Result<T, E>;
