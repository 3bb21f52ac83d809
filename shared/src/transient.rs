//! The one rule, per service, for "will this error go away by itself?".
//!
//! Every retry in the fleet asks it: the backoff ([`crate::retry`]), the dispatcher's
//! choice between requeueing and dead-lettering a request, the worker's writes. A
//! transient error is the infrastructure's (a connection lost, a server restarting or out
//! of resources, a transaction that lost a race); a permanent one is the statement's or
//! the message's (a constraint, a missing table, a refused permission), and retrying it
//! would only repeat it.

use std::error::Error as _;

/// Whether an error may go away if the same thing is tried again later.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

/// Postgres: a lost or refused connection, a server shutting down or starting
/// (`57P0x`), out of resources (`53xxx`), a serialization failure (`40001`), a deadlock
/// (`40P01`), a statement cancelled (`57014`: `statement_timeout`, or an operator's
/// `pg_cancel_backend`), or a server that takes no writes (`25006`: a standby after a
/// failover, or `default_transaction_read_only` during maintenance; the pool then looks
/// for a writable host). An error the server raised about the statement is permanent,
/// and so is one of ours with no server behind it (a value that does not convert).
impl Transient for tokio_postgres::Error {
    fn is_transient(&self) -> bool {
        match self.code() {
            Some(code) => {
                let c = code.code();
                c.starts_with("08") // connection exception
                    || c.starts_with("53") // insufficient resources
                    || c.starts_with("57P") // admin shutdown, crash shutdown, cannot connect now
                    || c == "40001" // serialization failure
                    || c == "40P01" // deadlock detected
                    || c == "57014" // query canceled (statement_timeout)
                    || c == "25006" // read-only SQL transaction
            }
            // No SQLSTATE: the connection closed, or an I/O error or timeout on the way
            // (a silent server, a host passed over for being read-only).
            None => self.is_closed() || self.source().is_none_or(|s| s.is::<std::io::Error>()),
        }
    }
}

/// The pool: no connection in time, or the server's own rule for the connection attempt.
/// A closed pool (shutting down) or a misconfigured one is permanent.
impl Transient for deadpool_postgres::PoolError {
    fn is_transient(&self) -> bool {
        use deadpool_postgres::PoolError;
        match self {
            PoolError::Backend(e) => e.is_transient(),
            PoolError::Timeout(_) => true,
            PoolError::Closed | PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => {
                false
            }
        }
    }
}

/// RabbitMQ: what lapin itself would recover from (I/O, a closed channel or connection,
/// a broker-side protocol error, a missed heartbeat). An authentication failure, a parser
/// error or an unsupported protocol will not change by waiting.
impl Transient for lapin::Error {
    fn is_transient(&self) -> bool {
        self.can_be_recovered()
    }
}

impl Transient for crate::Error {
    fn is_transient(&self) -> bool {
        use crate::Error;
        match self {
            Error::Db(e) => e.is_transient(),
            Error::Pool(e) => e.is_transient(),
            Error::DbTimeout { .. } => true,
            Error::Broker(e) => e.is_transient(),
            Error::BrokerTimeout { .. } | Error::NotConfirmed { .. } | Error::ShuttingDown => true,
            Error::BrokerTls { .. } | Error::TopologyMissing { .. } => false,
            Error::Setting { .. }
            | Error::ConfigLoad(_)
            | Error::ConfigFileMissing(_)
            | Error::ConfigShow(_)
            | Error::DatabaseUrl(_)
            | Error::Key(_)
            | Error::Unseal(_)
            | Error::UnknownKey(_)
            | Error::Io { .. }
            | Error::Tls { .. }
            | Error::TlsFile { .. }
            | Error::PoolBuild(_)
            | Error::Migrate(_)
            | Error::Encode(_)
            | Error::Telemetry { .. } => false,
        }
    }
}
