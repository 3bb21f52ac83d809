//! Logging, the Prometheus registry and the `/metrics`, `/healthz` and `/readyz` server.
//!
//! `/healthz` says the process answers; `/readyz` says whether the role can do its work
//! ([`Readiness`]: broker and database reachable, publishing not blocked, work in hand
//! moving, per [`Progress`]); [`watch`] keeps the database check and the gauges current.

use crate::config::LogSettings;
use crate::{Error, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

pub mod metrics;
mod progress;
mod readiness;
pub mod watch;

pub use progress::{Held, Progress, Stall};
pub use readiness::Readiness;

/// Starts logging to stderr, in colour only when stderr is a terminal and `NO_COLOR` is
/// unset. `RUST_LOG`, when set, wins over `log.level`.
pub fn init_logging(settings: &LogSettings) {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    init_logging_with_ansi(settings, std::io::stderr().is_terminal() && !no_color);
}

/// Starts logging to stderr, with ANSI colour codes only when `ansi`: stderr is often a
/// log file (a role under systemd or `netraven demo`), and codes there are noise.
pub fn init_logging_with_ansi(settings: &LogSettings, ansi: bool) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // lapin logs every returned message in full, body included; we report them ourselves.
        .add_directive(quiet("lapin::returned_messages=off"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        // A log line that cannot be written (stderr's reader went away) is dropped. By
        // default the subscriber reports it with `eprintln!`, to the same closed stderr,
        // which panics in whatever task was logging: the shutdown task, for one.
        .log_internal_errors(false);
    let _ = if settings.format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.compact().try_init()
    };
}

fn quiet(directive: &str) -> tracing_subscriber::filter::Directive {
    directive
        .parse()
        .unwrap_or_else(|e| panic!("fixed log directive {directive:?}: {e}"))
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `addr` until `shutdown`. Returns the
/// bound address (useful with port 0). An empty `addr` serves nothing.
pub async fn serve(
    addr: &str,
    readiness: Arc<Readiness>,
    shutdown: CancellationToken,
) -> Result<Option<SocketAddr>> {
    if addr.is_empty() {
        return Ok(None);
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Telemetry {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| Error::Telemetry {
        addr: addr.to_string(),
        source,
    })?;
    let app = health_routes(readiness);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    tracing::info!(addr = %local, "serving /metrics, /healthz and /readyz");
    Ok(Some(local))
}

/// `/metrics`, `/healthz` and `/readyz` as a router of their own: what [`serve`] serves.
pub fn health_routes<S>(readiness: Arc<Readiness>) -> Router<S> {
    probes()
        .route("/metrics", get(render_metrics))
        .with_state(readiness)
}

/// `/healthz` and `/readyz` alone, for a port that serves people as well as probes (the
/// api role's): its metrics stay on its metrics port, off the port an ingress exposes.
pub fn probe_routes<S>(readiness: Arc<Readiness>) -> Router<S> {
    probes().with_state(readiness)
}

fn probes() -> Router<Arc<Readiness>> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
}

async fn ready(State(r): State<Arc<Readiness>>) -> (StatusCode, String) {
    let why: Vec<String> = r.export().into_iter().map(|(_, why)| why).collect();
    if why.is_empty() {
        (StatusCode::OK, "ready\n".into())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", why.join("; ")),
        )
    }
}

/// The exposition, with the role's health gauges as they are at this scrape.
async fn render_metrics(State(r): State<Arc<Readiness>>) -> (StatusCode, String) {
    r.export();
    match metrics::render() {
        Ok(text) => (StatusCode::OK, text),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}
