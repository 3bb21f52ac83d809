//! The api role: the fleet over HTTP. Stateless: every replica reads Postgres and sends
//! job requests and cancels to the dispatchers over RabbitMQ, so any number may run.
//!
//! | module | owns |
//! |---|---|
//! | [`role`] | the role as a process: connections, the router, serving until shutdown |
//! | [`state`] | what every handler shares: the pool, the gateway, the settings |
//! | [`auth`] | API tokens (made, listed, revoked, checked) and their scopes |
//! | [`problem`] | every error as RFC 9457 problem details, axum's own rejections included |
//! | [`gateway`] | job requests and cancels sent to the dispatchers for a token's submitter |
//! | [`http_metrics`] | request counts and durations by route template and status |
//! | [`rest`] | the REST API under `/api` and its OpenAPI document |
//! | [`tls`] | native HTTPS: a listener that yields only completed TLS handshakes |
//! | [`console`] | the web console under `/console`: pages, sessions, live progress |

pub mod auth;
pub mod console;
pub mod gateway;
pub mod http_metrics;
pub mod problem;
pub mod rest;
pub mod role;
pub mod state;
pub mod tls;

pub use role::run;

/// What can stop the role from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Shared(#[from] netraven_shared::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("api TLS: {0}")]
    Tls(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
