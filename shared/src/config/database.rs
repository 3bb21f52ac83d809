//! The `[database]` section: where Postgres is, how the pool waits for it, and how long a
//! role waits for an answer before it gives a connection up.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `postgres://user[:password]@host:port/dbname`; several hosts as
    /// `postgres://h1:p1,h2:p2/dbname`, tried in order.
    pub url: String,
    pub pool_size: usize,
    /// How long a caller waits for a pooled connection before failing.
    pub pool_timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// Roles only: the server cancels a statement that runs longer (`statement_timeout`);
    /// 0 leaves the server's own setting.
    pub statement_timeout_ms: u64,
    /// Roles only: a connection whose server sends nothing for this long while a request
    /// waits for its answer is closed, and the request fails as a lost connection (which
    /// every role retries). Above `statement_timeout_ms`, so that a slow statement is the
    /// server's to cancel.
    pub response_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: "postgres://postgres@127.0.0.1:5432/netraven".into(),
            pool_size: 16,
            pool_timeout_ms: 10_000,
            connect_timeout_ms: 5_000,
            statement_timeout_ms: 20_000,
            response_timeout_ms: 30_000,
        }
    }
}
