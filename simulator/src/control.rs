//! Optional HTTP control endpoint (JSON): `GET /devices`, `GET /attempts`, and `GET /truth`
//! (every device's [`crate::DeviceReport`]: fault, attempts, commands, secrets received and
//! whether one reached a changed host key).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{Fleet, SimError};

/// The routes, for embedding in another axum app.
pub fn router(fleet: Arc<Fleet>) -> Router {
    Router::new()
        .route(
            "/devices",
            get(|State(f): State<Arc<Fleet>>| async move { Json(f.devices()) }),
        )
        .route(
            "/attempts",
            get(|State(f): State<Arc<Fleet>>| async move { Json(f.all_attempts()) }),
        )
        .route(
            "/truth",
            get(|State(f): State<Arc<Fleet>>| async move { Json(f.reports()) }),
        )
        .with_state(fleet)
}

/// Serves [`router`] on `addr` until `shutdown` is cancelled.
pub async fn serve_control(
    fleet: Arc<Fleet>,
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> Result<(), SimError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Control { addr, source })?;
    serve_control_on(fleet, listener, shutdown).await
}

/// [`serve_control`] on a listener the caller bound (port 0 in tests).
pub async fn serve_control_on(
    fleet: Arc<Fleet>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), SimError> {
    let addr = listener.local_addr().map_err(|source| SimError::Control {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    axum::serve(listener, router(fleet))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(|source| SimError::Control { addr, source })
}
