//! The api role as a process: waits for Postgres, opens its broker connection, serves the
//! REST API and the console beside `/healthz` and `/readyz` on `api.listen_addr` (HTTPS when
//! `api.tls_cert_file` is set), and `/metrics` with the probes on `api.metrics_addr`, as
//! every role does, until shutdown; then finishes the requests in hand.

use crate::gateway::Gateway;
use crate::state::AppState;
use crate::tls::TlsListener;
use crate::{console, http_metrics, problem, rest, Error, Result};
use axum::Router;
use netraven_shared::config::Settings;
use netraven_shared::db;
use netraven_shared::retry::Backoff;
use netraven_shared::telemetry::{self, metrics, watch, Progress, Readiness};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs the api role until `shutdown`.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> Result<()> {
    let serving = start(settings, shutdown).await?;
    tracing::info!(addr = %serving.addr, "api serving");
    serving.served.await.unwrap_or(Ok(()))
}

/// A started api role.
pub struct Serving {
    /// Where the REST API and the console answer (port 0 in the settings picks one).
    pub addr: SocketAddr,
    /// Where `/metrics` answers, unless `api.metrics_addr` is empty.
    pub metrics_addr: Option<SocketAddr>,
    /// Ends after `shutdown`, once the requests in hand are answered.
    pub served: tokio::task::JoinHandle<Result<()>>,
}

/// Binds both addresses, then serves on tasks of their own.
pub async fn start(settings: Settings, shutdown: CancellationToken) -> Result<Serving> {
    let readiness = Readiness::for_role("api", Progress::new(Duration::MAX));
    metrics::build_info("api");
    let pool = db::pool_with_options(&settings.database, "netraven-api", None)?;
    watch::spawn(
        readiness.clone(),
        watch::DatabaseCheck {
            url: settings.database.url.clone(),
            interval: settings.health.database_check_interval(),
            timeout: settings.health.database_check_timeout(),
        },
        shutdown.clone(),
    );
    let gateway = Gateway::new(
        &settings.amqp,
        settings.api.reply_timeout(),
        readiness.clone(),
    )
    .map_err(|e| Error::Tls(e.to_string()))?;
    let state = Arc::new(AppState {
        pool,
        gateway,
        settings: settings.api.clone(),
        schedule_spread: chrono::Duration::milliseconds(
            i64::try_from(settings.dispatcher.schedule_spread_ms).unwrap_or(i64::MAX),
        ),
        dead_letters: tokio::sync::Mutex::new(()),
        live_streams: std::sync::Mutex::default(),
    });
    // The broker is opened beside serving: /healthz answers at once, /readyz once it is up.
    let s = state.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut delays = Backoff::RECONNECT.delays();
        while let Err(e) = s.gateway.connect().await {
            tracing::warn!(error = %e, "api cannot reach RabbitMQ yet; trying again");
            if delays.wait(&stop).await {
                return;
            }
        }
    });
    let metrics_addr = telemetry::serve(
        &settings.api.metrics_addr,
        readiness.clone(),
        shutdown.clone(),
    )
    .await
    .map_err(Error::Shared)?;
    let app = router(state.clone(), readiness);
    let addr = &settings.api.listen_addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen {
            addr: addr.clone(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| Error::Listen {
        addr: addr.clone(),
        source,
    })?;
    let tls = match (&settings.api.tls_cert_file, &settings.api.tls_key_file) {
        (Some(cert), Some(key)) => Some(Arc::new(
            netraven_shared::tls::server_config(
                ("api.tls_cert_file", cert),
                ("api.tls_key_file", key),
            )
            .map_err(Error::Shared)?,
        )),
        _ => None,
    };
    let served = tokio::spawn(async move {
        let result = match tls {
            Some(config) => {
                let listener = TlsListener::new(listener, config, local, shutdown.clone());
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown.cancelled_owned())
                    .await
            }
            None => {
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown.cancelled_owned())
                    .await
            }
        };
        state.gateway.close().await;
        tracing::info!("api stopped");
        result.map_err(|source| Error::Listen {
            addr: local.to_string(),
            source,
        })
    });
    Ok(Serving {
        addr: local,
        metrics_addr,
        served,
    })
}

/// The router of `api.listen_addr`: the REST API, the console and the probes (the metrics
/// are on `api.metrics_addr`), request metrics on every route.
pub fn router(state: Arc<AppState>, readiness: Arc<Readiness>) -> Router {
    Router::new()
        .merge(rest::router())
        .merge(console::router())
        .fallback(problem::no_route)
        .with_state(state)
        .merge(telemetry::probe_routes(readiness))
        .layer(axum::middleware::from_fn(http_metrics::record))
}
