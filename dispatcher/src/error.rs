//! The dispatcher crate's error type, and the one place that says what an error means for
//! the message being handled and for the job it stops.

use netraven_shared::domain::JobStatus;
use netraven_shared::Transient;

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Shared(#[from] netraven_shared::Error),
    #[error("database: {}", netraven_shared::db::describe(.0))]
    Db(#[from] tokio_postgres::Error),
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The query resolving a job's devices and credentials failed.
    #[error("resolving credentials failed: {}", netraven_shared::db::describe(.0))]
    Resolution(#[source] tokio_postgres::Error),
    /// A device row whose port is no TCP port.
    #[error("resolving credentials failed: device port {port} out of range")]
    DevicePort { device_id: i64, port: i32 },
    /// The publisher could not publish at all (no channel could be had).
    #[error("publishing tasks failed: {confirmed} of {total} tasks published, {} not: {source}",
        .total - .confirmed)]
    Publish {
        confirmed: usize,
        total: usize,
        source: netraven_shared::Error,
    },
    /// Tasks the broker nacked, could not route or never confirmed, after every retry;
    /// `reason` is the broker's (or the channel's) word for the first of them.
    #[error("publishing tasks failed: {confirmed} of {total} tasks published, {} not: {reason}",
        .total - .confirmed)]
    Unconfirmed {
        confirmed: usize,
        total: usize,
        reason: String,
    },
}

/// What to do with the delivery whose handling failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Give it back to the broker: the failure is transient (broker or database down).
    Requeue,
    /// The message itself is at fault: dead-letter it with the error as its reason.
    DeadLetter,
}

/// The shared rule per service; what resolution and publishing report is about this job's
/// data or its tasks, which trying again will not change.
impl Transient for DispatchError {
    fn is_transient(&self) -> bool {
        match self {
            DispatchError::Shared(e) => e.is_transient(),
            DispatchError::Db(e) => e.is_transient(),
            DispatchError::Pool(e) => e.is_transient(),
            DispatchError::Resolution(_)
            | DispatchError::DevicePort { .. }
            | DispatchError::Publish { .. }
            | DispatchError::Unconfirmed { .. } => false,
        }
    }
}

impl DispatchError {
    /// The final status a job gets when this error stops its dispatch.
    pub fn job_status(&self) -> JobStatus {
        match self {
            DispatchError::Resolution(_) | DispatchError::DevicePort { .. } => {
                JobStatus::FailedCredentialResolution
            }
            DispatchError::Publish { .. } | DispatchError::Unconfirmed { .. } => {
                JobStatus::FailedDispatcherError
            }
            DispatchError::Shared(_) | DispatchError::Db(_) | DispatchError::Pool(_) => {
                JobStatus::FailedUnexpected
            }
        }
    }

    /// Transient infrastructure failures are requeued (the broker's delivery limit bounds
    /// the retries); anything else is the message's fault.
    pub fn disposition(&self) -> Disposition {
        if self.is_transient() {
            Disposition::Requeue
        } else {
            Disposition::DeadLetter
        }
    }
}

pub type Result<T, E = DispatchError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use deadpool_postgres::{PoolError, TimeoutType};

    fn unconfirmed() -> DispatchError {
        DispatchError::Unconfirmed {
            confirmed: 3,
            total: 5,
            reason: "the broker refused the message (nack)".into(),
        }
    }

    #[test]
    fn infrastructure_that_may_come_back_requeues() {
        for e in [
            DispatchError::Pool(PoolError::Timeout(TimeoutType::Wait)),
            DispatchError::Shared(netraven_shared::Error::ShuttingDown),
            DispatchError::Shared(netraven_shared::Error::BrokerTimeout {
                during: "publishing",
                after: std::time::Duration::from_secs(5),
            }),
        ] {
            assert_eq!(e.disposition(), Disposition::Requeue, "{e}");
        }
    }

    #[test]
    fn what_waiting_will_not_change_dead_letters_and_fails_the_job() {
        let port = DispatchError::DevicePort {
            device_id: 7,
            port: 70_000,
        };
        let closed = DispatchError::Pool(PoolError::Closed);
        let config = DispatchError::Shared(netraven_shared::Error::setting("amqp.url", "bad"));
        for (e, status) in [
            (port, JobStatus::FailedCredentialResolution),
            (unconfirmed(), JobStatus::FailedDispatcherError),
            (closed, JobStatus::FailedUnexpected),
            (config, JobStatus::FailedUnexpected),
        ] {
            assert_eq!(e.disposition(), Disposition::DeadLetter, "{e}");
            assert_eq!(e.job_status(), status, "{e}");
        }
    }

    #[test]
    fn a_publish_failure_says_how_many_tasks_went_out() {
        assert_eq!(
            unconfirmed().to_string(),
            "publishing tasks failed: 3 of 5 tasks published, 2 not: \
             the broker refused the message (nack)"
        );
        let e = DispatchError::DevicePort {
            device_id: 7,
            port: 70_000,
        };
        assert_eq!(
            e.to_string(),
            "resolving credentials failed: device port 70000 out of range"
        );
    }
}
