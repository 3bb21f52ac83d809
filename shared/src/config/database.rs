//! The `[database]` section: where Postgres is and how the pool waits for it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `postgres://user[:password]@host:port/dbname`
    pub url: String,
    pub pool_size: usize,
    /// How long a caller waits for a pooled connection before failing.
    pub pool_timeout_ms: u64,
    pub connect_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: "postgres://postgres@127.0.0.1:5432/netraven".into(),
            pool_size: 16,
            pool_timeout_ms: 10_000,
            connect_timeout_ms: 5_000,
        }
    }
}
